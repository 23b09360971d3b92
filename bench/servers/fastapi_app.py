"""Row B: a plain FastAPI endpoint with a pydantic body model doing the same work.

The body is the same BlackBox ``ToolWebHookPayload`` the webhook row (T1) gets; the endpoint
validates it with a pydantic model, adds the two arguments and returns the sum.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel


class AddArguments(BaseModel):
    a: int
    b: int


class ToolWebHookPayload(BaseModel):
    type: str
    status: str | None = None
    callId: str | None = None
    agentId: str | None = None
    orgId: str | None = None
    toolName: str
    arguments: AddArguments
    callAdditionalData: dict[str, Any] = {}
    agentAdditionalData: dict[str, Any] = {}


app = FastAPI()


@app.post("/tools/add")
async def add(payload: ToolWebHookPayload) -> int:
    return payload.arguments.a + payload.arguments.b
