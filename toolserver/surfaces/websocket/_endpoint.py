"""Which BlackBox endpoint a session talks to, with which credential, from arguments or settings.

BlackBox offers two session endpoints: ``webCall``, authorised by a web-integration token, and
``dev``, authorised by an API key and naming the agent. Choosing between them, refusing a
configuration that cannot work before any connection is tried, and keeping the credential out of
everything that is logged are one decision, made here once for the session and for
:meth:`BlackBoxSession.from_settings`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import SecretStr

from toolserver.settings import Settings
from toolserver.surfaces.websocket import protocol as protocol
from toolserver.surfaces.websocket.errors import SessionConfigError
from toolserver.surfaces.websocket.protocol import Mode
from toolserver.surfaces.websocket.retry import RetryPolicy

__all__ = ["Endpoint", "settings_options"]


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """A session endpoint: ``url`` carries the credential, so only ``redacted_url`` is shown."""

    mode: Mode
    url: str
    agent_id: str | None
    secrets: tuple[str, ...]

    @classmethod
    def choose(
        cls,
        base_url: str,
        *,
        token: str | None,
        api_key: str | None,
        agent_id: str | None,
    ) -> Endpoint:
        """The token's ``webCall`` endpoint when there is a token, else the API key's ``dev`` one.

        Raises :class:`SessionConfigError` when there is no credential, the dev endpoint has no
        agent id, or ``base_url`` is not an http(s) or ws(s) URL.
        """
        mode: Mode
        if token:
            mode, credential = "webCall", token
        elif api_key:
            mode, credential = "dev", api_key
            if not agent_id:
                raise SessionConfigError(
                    "the dev endpoint (API key) needs an agent id: set "
                    "TOOLSERVER_BLACKBOX_AGENT_ID or pass agentId"
                )
        else:
            raise SessionConfigError(
                "no BlackBox credentials: set TOOLSERVER_BLACKBOX_TOKEN (web integration) or "
                "TOOLSERVER_BLACKBOX_API_KEY (dev endpoint)"
            )
        try:
            url = protocol.endpoint_url(base_url, mode, credential)
        except ValueError as exc:
            raise SessionConfigError(str(exc)) from None
        return cls(
            mode=mode,
            url=url,
            agent_id=agent_id if mode == "dev" else None,
            secrets=tuple(s for s in (token, api_key) if s),
        )

    @property
    def redacted_url(self) -> str:
        return protocol.redact_url(self.url)

    def scrub(self, text: str) -> str:
        """``text`` with the credentials replaced, for logs and error messages."""
        for secret in self.secrets:
            text = text.replace(secret, protocol.REDACTED)
        return text


def settings_options(
    settings: Settings, *, base_url: str | None = None, agent_id: str | None = None
) -> dict[str, Any]:
    """The session arguments the ``TOOLSERVER_BLACKBOX_*`` settings give.

    The endpoint follows the credentials: an explicit ``agent_id`` with an API key configured
    means the dev endpoint; otherwise the web-integration token when one is set, else the API key
    with the configured agent id.
    """
    token = _secret(settings.blackbox_token)
    api_key = _secret(settings.blackbox_api_key)
    if agent_id and api_key:
        token = None
    elif token:
        api_key = None
    return {
        "base_url": base_url or settings.blackbox_url,
        "token": token,
        "api_key": api_key,
        "agent_id": agent_id or settings.blackbox_agent_id,
        "retry": RetryPolicy(
            attempts=settings.blackbox_connect_attempts,
            initial_delay=settings.blackbox_connect_backoff,
            max_delay=settings.blackbox_connect_backoff_max,
        ),
        "open_timeout": settings.blackbox_open_timeout,
        "ping_interval": settings.blackbox_ping_interval,
        "close_timeout": settings.blackbox_close_timeout,
    }


def _secret(value: SecretStr | None) -> str | None:
    return (value.get_secret_value() or None) if value is not None else None
