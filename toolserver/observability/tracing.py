"""OpenTelemetry spans: one per tool call (and, as they come, per lifecycle webhook).

Configured only by the standard ``OTEL_*`` environment variables, and off when none asks for
traces: :func:`tracing_from_environment` returns None, and the OpenTelemetry SDK is never
imported. It is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
is set, or ``OTEL_TRACES_EXPORTER`` names ``otlp`` (or ``console``); ``OTEL_SDK_DISABLED=true``
and ``OTEL_TRACES_EXPORTER=none`` turn it off. The exporter is OTLP over HTTP (protobuf), and
reads its own variables (headers, timeout, compression); ``OTEL_SERVICE_NAME`` defaults to
``toolserver``, and ``OTEL_RESOURCE_ATTRIBUTES`` and the sampler variables apply as usual.

Each span is made from the executor's :class:`~toolserver.core.executor.CallRecord` when the
call ends, with the call's real start and end times: ``execute_tool <tool>``, with the
attributes

==============================  ===============================================================
``toolserver.call_id``          BlackBox's ``callId`` (or the surface's request id)
``toolserver.tool``             the tool (``toolserver.hook`` for a lifecycle webhook)
``toolserver.surface``          ``webhook``, ``mcp``, ``websocket``, ``console``, ...
``toolserver.outcome``          ``ok``, ``fallback``, ``error``, ``cancelled``
``toolserver.error_kind``       the failure's kind, when there is one
``gen_ai.operation.name``,      OpenTelemetry's GenAI conventions for a tool execution
``gen_ai.tool.name``,
``gen_ai.tool.call.id``
==============================  ===============================================================

and an error status for failed calls. Spans are exported in batches by the SDK's own thread.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from toolserver.core.executor import CallRecord

__all__ = ["Tracing", "tracing_enabled", "tracing_from_environment"]

_NS = 1_000_000_000


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    named = env.get("OTEL_TRACES_EXPORTER", "").split(",")
    exporters = {e.strip().lower() for e in named if e.strip()}
    if "none" in exporters:
        return False
    if exporters & {"otlp", "console"}:
        return True
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def tracing_from_environment(environ: Mapping[str, str] | None = None) -> Tracing | None:
    """A :class:`Tracing` configured from the ``OTEL_*`` variables, or None when they ask for
    no traces (nothing of OpenTelemetry's SDK is imported then)."""
    if not tracing_enabled(environ):
        return None
    return Tracing(environ)


class Tracing:
    """A tracer provider of its own (not the process-global one, so that two servers in one
    process, as tests build them, do not share it) and the executor observer that makes spans.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
        from opentelemetry.trace import SpanKind, Status, StatusCode

        from toolserver import __version__

        env = os.environ if environ is None else environ
        attributes = {"service.version": __version__}
        if not env.get("OTEL_SERVICE_NAME"):  # Resource.create reads it (and the attributes)
            attributes["service.name"] = "toolserver"
        self.provider = TracerProvider(resource=Resource.create(attributes))
        exporters = {
            e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()
        } or {"otlp"}
        if "console" in exporters:
            self.provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        if "otlp" in exporters:
            # Reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("toolserver", __version__)
        self._kind = SpanKind.INTERNAL
        self._status = Status
        self._error_code = StatusCode.ERROR

    def observe(self, record: CallRecord) -> None:
        """One span for one finished call (an executor observer)."""
        context = record.context
        call_id = context.call_id if context is not None else None
        attributes: dict[str, Any] = {
            "toolserver.tool": record.tool,
            "toolserver.surface": record.surface,
            "toolserver.outcome": record.outcome,
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": record.tool,
        }
        if call_id is not None:
            attributes["toolserver.call_id"] = call_id
            attributes["gen_ai.tool.call.id"] = call_id
        if record.error_kind is not None:
            attributes["toolserver.error_kind"] = record.error_kind
        if context is not None and context.agent_id is not None:
            attributes["toolserver.agent_id"] = context.agent_id
        start = int(record.started_at * _NS)
        span = self.tracer.start_span(
            f"execute_tool {record.tool}", kind=self._kind, attributes=attributes, start_time=start
        )
        if record.outcome in ("error", "fallback"):
            span.set_status(self._status(self._error_code, record.error_kind))
        span.end(end_time=start + int(record.duration * _NS))

    def shutdown(self) -> None:
        """Export what is left and stop the exporter's thread."""
        self.provider.shutdown()
