"""Prometheus metrics at ``GET /metrics``, fed by the executor rather than by each surface.

Every call on every surface ends in the executor, which hands each finished call to its
observers (:class:`~toolserver.core.executor.CallRecord`); counting there means a new surface is
measured without a line of its own. Exposed (text format, ``prometheus-client``):

=============================================  =========  =====================================
metric                                         type       labels
=============================================  =========  =====================================
``toolserver_tool_calls_total``                counter    tool, surface, outcome, error_kind
``toolserver_tool_call_duration_seconds``      histogram  tool, surface
``toolserver_tool_calls_in_flight``            gauge
``toolserver_open_sessions``                   gauge      kind (``mcp_sse``, ``websocket``)
``toolserver_ready``                           gauge      (0 while starting or draining)
``toolserver_circuit_state``                   gauge      circuit, state (1 for the current one)
``toolserver_build_info``                      gauge      version
``toolserver_call_webhooks_total``             counter    webhook, outcome
``toolserver_call_webhook_duration_seconds``   histogram  webhook
``toolserver_result_hook_runs_total``          counter    hook, outcome
=============================================  =========  =====================================

A call webhook (``start``, ``result``, ``transfer``) ends in an ``outcome`` such as
``accepted``, ``rejected``, ``accepted_by_default``, ``stored``, ``duplicate``, ``transfer``,
``declined``, ``no_route``, ``failed``, or the error of a refusal (``wrong_payload_type``,
``rejected`` for a rate limit, ...); a result hook's run is ``ok``, ``failed`` or
``interrupted``.

``outcome`` is ``ok``, ``fallback`` (the tool's fallback answered for a failure), ``error`` or
``cancelled``; ``error_kind`` is the failure's kind (``tool_error``, ``timeout``, ``unavailable``,
``rejected``, ...) or empty. A circuit's state (``closed``, ``open``, ``half_open``) is the last
one this process saw; an open circuit is the designed degraded mode, so ``/readyz`` stays ready. Calls to tools that do not exist are
counted under ``tool="(unknown)"`` so a caller cannot grow the label set without bound.

Each process keeps its own numbers (Prometheus adds them up across replicas); run one worker per
container to scrape each process, or scrape whichever worker answers with ``--workers``.

``/metrics`` needs no API key (scrapers rarely send one); set ``TOOLSERVER_METRICS_TOKEN`` to
require ``Authorization: Bearer <token>``, or ``TOOLSERVER_METRICS_ENABLED=false`` to turn it off.
"""

from __future__ import annotations

import bisect
import hmac
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from toolserver import __version__
from toolserver.core.circuits import CLOSED, HALF_OPEN, OPEN
from toolserver.core.executor import CallRecord
from toolserver.core.lifecycle import LifecycleRecord
from toolserver.http.auth import unauthorized_body

if TYPE_CHECKING:
    from toolserver.runtime import ToolServer

__all__ = ["METRICS_PATH", "Metrics"]

METRICS_PATH = "/metrics"
UNKNOWN_TOOL = "(unknown)"
# Voice turns are budgeted in seconds: resolve well below one second, and up to a minute.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _LiveCollector(Collector):
    """Values read when scraped: sessions the surfaces hold, readiness."""

    def __init__(self, server: ToolServer) -> None:
        self.server = server

    def collect(self) -> Iterator[GaugeMetricFamily]:
        sessions = GaugeMetricFamily(
            "toolserver_open_sessions",
            "Long-lived client sessions open now (MCP SSE streams, BlackBox WebSocket sessions).",
            labels=["kind"],
        )
        for kind, count in sorted(self.server.open_sessions.items()):
            try:
                sessions.add_metric([kind], float(count()))
            except Exception:  # a surface's counter must not break the scrape
                continue
        yield sessions
        ready = self.server.started and not self.server.shutdown.draining
        yield GaugeMetricFamily(
            "toolserver_ready", "1 when started and not shutting down.", value=float(ready)
        )
        circuits = GaugeMetricFamily(
            "toolserver_circuit_state",
            "Circuit breakers: 1 for each circuit's current state (closed, open, half_open).",
            labels=["circuit", "state"],
        )
        for name, current in sorted(self.server.stores.circuits.states.items()):
            for state in (CLOSED, OPEN, HALF_OPEN):
                circuits.add_metric([name, state], float(state == current))
        yield circuits


class _Series:
    """One label set's numbers: calls, and the duration histogram of its tool and surface."""

    __slots__ = ("labels", "count", "created", "duration")

    def __init__(self, labels: list[str], duration: _Durations) -> None:
        self.labels = labels
        self.count = 0
        self.created = time.time()
        self.duration = duration


class _Durations:
    __slots__ = ("labels", "buckets", "sum", "created")

    def __init__(self, labels: list[str]) -> None:
        self.labels = labels
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)  # the last is +Inf
        self.sum = 0.0
        self.created = time.time()


class _CallCounts(Collector):
    """``toolserver_tool_calls_total`` and ``toolserver_tool_call_duration_seconds``.

    A finished call adds to plain numbers (one dict lookup, two additions, a bisection); the
    metric families are built from them when scraped. Counting through prometheus-client's
    labelled children instead takes a lock per value, on every call.
    """

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str, str | None], _Series] = {}  # by raw name
        self._by_labels: dict[tuple[str, str, str, str], _Series] = {}
        self._durations: dict[tuple[str, str], _Durations] = {}

    def observe(self, record: CallRecord) -> None:
        key = (record.tool, record.surface, record.outcome, record.error_kind)
        series = self._series.get(key)
        if series is None:
            series = self._new_series(record)
        series.count += 1
        duration = series.duration
        duration.buckets[bisect.bisect_left(DURATION_BUCKETS, record.duration)] += 1
        duration.sum += record.duration

    def _new_series(self, record: CallRecord) -> _Series:
        tool = UNKNOWN_TOOL if record.error_kind == "unknown_tool" else record.tool
        labels = (tool, record.surface, record.outcome, record.error_kind or "")
        series = self._by_labels.get(labels)
        if series is None:
            durations = self._durations.get((tool, record.surface))
            if durations is None:
                durations = _Durations([tool, record.surface])
                self._durations[(tool, record.surface)] = durations
            series = self._by_labels[labels] = _Series(list(labels), durations)
        if len(self._series) > 10_000:  # unknown tool names are the caller's to choose
            self._series.clear()
        self._series[(record.tool, record.surface, record.outcome, record.error_kind)] = series
        return series

    def collect(self) -> Iterator[Any]:
        calls = CounterMetricFamily(
            "toolserver_tool_calls",
            "Tool calls finished, by tool, surface and outcome.",
            labels=["tool", "surface", "outcome", "error_kind"],
        )
        for series in list(self._by_labels.values()):
            calls.add_metric(series.labels, series.count, created=series.created)
        yield calls
        histogram = HistogramMetricFamily(
            "toolserver_tool_call_duration_seconds",
            "Time from a call reaching the executor to its result or failure.",
            labels=["tool", "surface"],
        )
        bounds = [*(floatToGoString(b) for b in DURATION_BUCKETS), "+Inf"]
        for durations in list(self._durations.values()):
            cumulative, total = [], 0
            for bound, count in zip(bounds, durations.buckets):
                total += count
                cumulative.append((bound, total))
            histogram.add_metric(durations.labels, cumulative, durations.sum)
            histogram.samples.append(
                Sample(
                    "toolserver_tool_call_duration_seconds_created",
                    dict(zip(["tool", "surface"], durations.labels)),
                    durations.created,
                )
            )
        yield histogram


class Metrics:
    """The metrics of one :class:`ToolServer`, in a registry of their own.

    A registry per server (rather than the library's global one) keeps two servers in one
    process, as tests build them, from counting into each other.
    """

    # Scrapers rarely hold an API key: /metrics checks its own token (TOOLSERVER_METRICS_TOKEN).
    public_paths = quiet_paths = frozenset({METRICS_PATH})

    def __init__(self, server: ToolServer) -> None:
        self.server = server
        token = server.settings.metrics_token
        self.token = token.get_secret_value().encode() if token else None
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = _CallCounts()
        self.registry.register(self.calls)
        in_flight = Gauge(
            "toolserver_tool_calls_in_flight",
            "Tool calls running now, on every surface.",
            registry=self.registry,
        )
        in_flight.set_function(lambda: server.executor.in_flight)
        build = Gauge(
            "toolserver_build_info", "The running version.", ["version"], registry=self.registry
        )
        build.labels(__version__).set(1)
        self.registry.register(_LiveCollector(server))
        server.executor.observers.append(self.calls.observe)
        self.webhooks = Counter(
            "toolserver_call_webhooks",
            "BlackBox call webhooks (start, result, transfer) answered, by outcome.",
            ["webhook", "outcome"],
            registry=self.registry,
        )
        self.webhook_durations = Histogram(
            "toolserver_call_webhook_duration_seconds",
            "Time from a call webhook's payload being read to its answer.",
            ["webhook"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.hook_runs = Counter(
            "toolserver_result_hook_runs",
            "Runs of result hooks from the outbox, by hook and outcome.",
            ["hook", "outcome"],
            registry=self.registry,
        )
        server.calls.observers.append(self.observe_lifecycle)

    def observe_lifecycle(self, record: LifecycleRecord) -> None:
        """Count one call webhook, or one run of a result hook (a lifecycle observer)."""
        if record.kind == "result_hook":
            self.hook_runs.labels(record.hook or "", record.outcome).inc()
            return
        self.webhooks.labels(record.kind, record.outcome).inc()
        self.webhook_durations.labels(record.kind).observe(record.duration)

    def observe(self, record: CallRecord) -> None:
        """Count one finished call (an executor observer)."""
        self.calls.observe(record)

    @property
    def routes(self) -> list[Route]:
        return [Route(METRICS_PATH, self.endpoint, methods=["GET"], include_in_schema=False)]

    async def endpoint(self, request: Request) -> Response:
        if self.token is not None and not self._authorized(request, self.token):
            return Response(
                unauthorized_body("Send the metrics token as 'Authorization: Bearer <token>'."),
                status_code=401,
                media_type="application/json",
                headers={"www-authenticate": 'Bearer realm="metrics"'},
            )
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    @staticmethod
    def _authorized(request: Request, token: bytes) -> bool:
        value = request.headers.get("authorization", "")
        presented = value[7:].strip() if value[:7].lower() == "bearer " else ""
        return hmac.compare_digest(presented.encode("latin-1", "replace"), token)
