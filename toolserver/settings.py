"""Server configuration: every setting from ``TOOLSERVER_*`` environment variables or ``.env``.

CLI flags override the environment. Values are validated at start, and a bad one is reported by
its variable name (:func:`load_settings`). Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

__all__ = ["ENV_PREFIX", "ConfigError", "Settings", "load_settings", "url_problem", "variable_name"]

ENV_PREFIX = "TOOLSERVER_"
"""Every setting's variable starts with this; a plugin's with ``TOOLSERVER_PLUGIN_<NAME>_``."""

CommaList = Annotated[list[str], NoDecode]


_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0,
    "d": 86400.0, "day": 86400.0,
}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$", re.IGNORECASE)
_UNIT_NAMES = {1.0: "second", 60.0: "minute", 3600.0: "hour", 86400.0: "day"}


@dataclasses.dataclass(frozen=True, slots=True)
class Rate:
    """``limit`` calls per ``period`` seconds, written ``"5/minute"``, ``"100/h"``, ``"10/30s"``."""

    limit: int
    period: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.match(text)
        unit = _unit(match.group(3)) if match else None
        if match is None or unit is None:
            raise ValueError(
                f"{text!r} is not a rate: write calls/period, e.g. '5/minute', '100/hour', "
                "'10/30s' (units: second, minute, hour, day)"
            )
        count = float(match.group(2)) if match.group(2) else 1.0
        limit, period = int(match.group(1)), count * unit
        if limit < 1 or period <= 0:
            raise ValueError(f"{text!r}: the number of calls and the period must be positive")
        return cls(limit, period)

    def __str__(self) -> str:
        name = _UNIT_NAMES.get(self.period)
        return f"{self.limit} per {name}" if name else f"{self.limit} per {self.period:g} seconds"


def _unit(word: str) -> float | None:
    word = word.lower()
    if word not in _UNITS and len(word) > 2 and word.endswith("s"):
        word = word[:-1]  # plural: minutes, hrs (but "ms" is no unit here)
    return _UNITS.get(word)


class ConfigError(Exception):
    """A setting with a bad value; the message names the variable and the problem."""


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of the server. The README's configuration reference lists them all."""

    model_config = SettingsConfigDict(
        env_prefix="TOOLSERVER_", env_file=".env", extra="ignore", validate_default=True
    )

    # Serving
    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on.")
    public_url: str | None = Field(
        None,
        description="The http(s) URL agents reach this server at: `export` builds its URLs on it "
        "when no `--base-url` is given, and MCP accepts its host name.",
    )

    # Plugins
    plugins_dir: Path | None = Field(Path("plugins"), description="Directory of local plugins.")
    plugins: CommaList = Field(
        default_factory=list, description="Plugins to load, comma-separated; empty loads all."
    )
    entry_points: bool = Field(
        True, description="Also load plugins of installed distributions (`toolserver.plugins`)."
    )
    data_dir: Path = Field(
        Path(".toolserver"), description="Where the embedded database and generated key live."
    )

    # Calls
    tool_timeout: float = Field(10.0, gt=0, description="Seconds a tool may run unless it says.")
    max_body_bytes: int = Field(1_048_576, gt=0, description="Largest request body accepted.")
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a client gets to send a request's headers."
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        description="Open connections per process; past it the slowest is closed (default: "
        "what the file-descriptor limit leaves room for).",
    )
    sync_tool_threads: int = Field(40, gt=0, description="Worker threads for sync tools.")
    idempotency_ttl: float = Field(
        3600.0, gt=0, description="Seconds a side-effecting call's result is kept for retries."
    )

    # Auth
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Accepted API keys, comma-separated (rotation)."
    )
    auth_header: str = Field("X-Api-Key", description="Header that carries the API key.")
    auth_disabled: bool = Field(False, description="Serve without auth (warns at start).")
    signing_secret: SecretStr | None = Field(
        None, description="When set, webhooks must carry a valid `x-blackbox-signature`."
    )

    # Call webhooks: BlackBox's start, result and transfer webhooks (plugin call hooks)
    start_budget: float = Field(
        8.0,
        gt=0,
        le=60,
        description="Seconds the start hooks get; BlackBox's start webhook timeout (10 s in the "
        "create-agent example) must leave room for the answer to arrive.",
    )
    start_on_failure: Literal["accept", "reject"] = Field(
        "accept",
        description="The start answer when a start hook is slow or fails and none rejected.",
    )
    start_reject_message: str = Field(
        "The call cannot be taken right now.",
        min_length=1,
        description="The `reasonMessage` when `TOOLSERVER_START_ON_FAILURE=reject` refuses a call.",
    )
    transfer_budget: float = Field(
        1.5,
        gt=0,
        le=30,
        description="Seconds the transfer hooks get; BlackBox's HTTP transfer aims at 2 s.",
    )
    call_state_ttl: float = Field(
        10800.0,
        gt=0,
        description="Seconds a call's state is kept (it is dropped when the result arrives).",
    )
    result_hook_timeout: float = Field(
        60.0, gt=0, description="Seconds one run of a result hook may take before it is retried."
    )
    result_lease: float = Field(
        15.0,
        ge=1,
        description="Seconds a running result hook's claim lasts unless renewed; a job of a "
        "process that died is taken over after it.",
    )
    result_retry_max_delay: float = Field(
        300.0, ge=1, description="Longest wait between two runs of a failing result hook."
    )

    # MCP
    allowed_hosts: CommaList = Field(
        default_factory=list,
        description="Host names MCP accepts besides localhost, comma-separated (`*` for any).",
    )
    allowed_origins: CommaList = Field(
        default_factory=list, description="Browser origins MCP accepts, comma-separated."
    )
    mcp_endpoints: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Extra MCP endpoints as JSON: {"crm": ["crm"]} serves /crm/sse and /crm/mcp.',
    )
    sse_ping_interval: float = Field(15.0, gt=0, description="Seconds between SSE keep-alives.")
    mcp_fast_path: bool = Field(
        True,
        description="Answer plain `tools/call`, `tools/list` and `ping` POSTs to `/mcp` without "
        "the MCP SDK's per-request machinery (same answers); `false` sends all to the SDK.",
    )

    # Logging
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="`json` for production, `console` for a terminal, `auto` picks."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="The lowest level logged: `debug`, `info`, `warning` or `error`."
    )
    access_log: bool = Field(False, description="Log every HTTP request (uvicorn access log).")

    # BlackBox WebSocket
    blackbox_url: str = Field(
        "https://blackbox.dasha.ai",
        description="BlackBox base URL for WebSocket sessions; `ws`/`wss` follow its scheme.",
    )
    blackbox_api_key: SecretStr | None = Field(
        None, description="BlackBox API key: sessions use the dev endpoint (`/api/v1/ws/dev`)."
    )
    blackbox_token: SecretStr | None = Field(
        None, description="Web-integration token: sessions use the `webCall` endpoint."
    )
    blackbox_agent_id: str | None = Field(
        None, description="The agent a dev-endpoint session talks to (`devRequest.agentId`)."
    )
    blackbox_connect_attempts: int = Field(
        5, ge=1, le=50, description="Connection attempts per session before it is reported failed."
    )
    blackbox_connect_backoff: float = Field(
        0.5, ge=0, description="Seconds before the first reconnect; doubles each time, jittered."
    )
    blackbox_connect_backoff_max: float = Field(
        10.0, ge=0, description="Longest wait between two connection attempts."
    )
    blackbox_open_timeout: float = Field(
        10.0, gt=0, description="Seconds a WebSocket handshake with BlackBox may take."
    )
    blackbox_ping_interval: float = Field(
        20.0, gt=0, description="Seconds between heartbeats that keep an idle session alive."
    )
    blackbox_close_timeout: float = Field(
        10.0, gt=0, description="Seconds BlackBox gets to close a conversation after `terminate`."
    )
    blackbox_max_sessions: int = Field(
        100, ge=1, description="WebSocket sessions the HTTP API keeps open at once."
    )

    # Production
    redis_url: SecretStr | None = Field(
        None,
        description="Redis URL (`redis://host:6379/0`): idempotency records and rate-limit "
        "counters are then shared by every worker and replica. Unset: kept in the process.",
    )
    redis_prefix: str = Field(
        "toolserver:", description="Prefix of every Redis key, so deployments can share a Redis."
    )
    workers: int = Field(1, ge=1, description="Worker processes of `toolserver serve`.")
    store: Literal["auto", "memory", "sqlite", "redis"] = Field(
        "auto",
        description="Where state shared between calls lives (idempotency records, rate-limit "
        "counters, MCP SSE sessions): `memory` (one process), `sqlite` (the workers of one "
        "host, through the data directory), `redis` (replicas, `TOOLSERVER_REDIS_URL`); `auto` "
        "picks redis when a URL is set, else sqlite with several workers, else memory.",
    )
    shutdown_grace: float = Field(
        30.0,
        ge=0,
        description="Seconds in-flight calls get to finish after SIGTERM before they are cancelled.",
    )
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at `/metrics`.")
    metrics_token: SecretStr | None = Field(
        None, description="When set, `/metrics` requires `Authorization: Bearer <token>`."
    )
    database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL URL (`postgresql://user:pass@host:5432/db`): the call log is kept "
        "there, shared by every replica. Unset: in SQLite in the data directory.",
    )
    call_log_enabled: bool = Field(
        True, description="Record every call (arguments and results masked) for `/calls`."
    )
    call_log_retention_days: float = Field(
        7.0, gt=0, description="Days a call log entry is kept."
    )
    call_log_max_rows: int = Field(
        100_000, ge=100, description="Entries the call log keeps at most; the oldest go first."
    )
    rate_limits: dict[str, str] = Field(
        default_factory=dict,
        description='Calls per window, per tool and API key, as JSON: `{"*": "100/minute", '
        '"book_appointment": "5/minute"}` (`*`: every tool not named).',
    )
    key_rate_limit: str | None = Field(
        None, description="Calls per window, per API key, all tools together (`600/minute`)."
    )
    concurrency_limits: dict[str, int] = Field(
        default_factory=dict,
        description='Calls of a tool running at once, whoever makes them, as JSON: `{"*": 20, '
        '"book_appointment": 2}`.',
    )
    key_concurrency_limit: int | None = Field(
        None, ge=1, description="Calls one API key may have running at once."
    )

    _split_lists = field_validator(
        "plugins", "allowed_hosts", "allowed_origins", "api_keys", mode="before"
    )(_split)

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: Any) -> Any:
        """An absolute http(s) URL, or unset: exports and the MCP host check build on it, and a
        value without a scheme would silently give URLs no client can use."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        problem = url_problem(str(value))
        if problem:
            raise ValueError(problem)
        return str(value).strip().rstrip("/")

    @field_validator("blackbox_url")
    @classmethod
    def _blackbox_scheme(cls, value: str) -> str:
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("http", "https", "ws", "wss") or not rest.strip("/"):
            raise ValueError("must be an http(s):// or ws(s):// URL")
        return value.rstrip("/")

    @field_validator(
        "redis_url",
        "database_url",
        "metrics_token",
        "key_rate_limit",
        "key_concurrency_limit",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rate_limits")
    @classmethod
    def _rates(cls, value: dict[str, str]) -> dict[str, str]:
        for rate in value.values():
            Rate.parse(rate)
        return value

    @field_validator("key_rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            Rate.parse(value)
        return value

    @field_validator("concurrency_limits")
    @classmethod
    def _caps(cls, value: dict[str, int]) -> dict[str, int]:
        if any(cap < 1 for cap in value.values()):
            raise ValueError("every cap must be at least 1")
        return value

    @field_validator("store")
    @classmethod
    def _store_needs_redis(cls, value: str, info: ValidationInfo) -> str:
        if value == "redis" and info.data.get("redis_url") is None:
            raise ValueError("redis needs TOOLSERVER_REDIS_URL")
        return value

    def resolved_store(self) -> str:
        """The store ``auto`` stands for: redis, sqlite (several workers) or memory."""
        if self.store != "auto":
            return self.store
        if self.redis_url is not None:
            return "redis"
        return "sqlite" if self.workers > 1 else "memory"

    @field_validator("log_format", "log_level", "start_on_failure", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor."""
        values = [key.get_secret_value() for key in self.api_keys]
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return [v for v in values if v]


def variable_name(field: str) -> str:
    """The environment variable of a setting: ``port`` is ``TOOLSERVER_PORT``."""
    return ENV_PREFIX + field.upper()


def url_problem(url: str) -> str | None:
    """Why ``url`` is not an absolute http(s) URL a client can use, or None when it is."""
    from urllib.parse import urlsplit

    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        if "://" not in text:
            return f"{text!r} has no scheme: write it with one, e.g. 'https://{text.strip('/')}'"
        return f"{text!r} is not an http:// or https:// URL"
    if not parts.hostname:
        return f"{text!r} names no host"
    if parts.query or parts.fragment:
        return f"{text!r} must not have a query or a fragment"
    return None


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (and ``.env``) with ``overrides`` on top; report bad values clearly."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_input=False, include_url=False):
            field = str(err["loc"][0]) if err["loc"] else "?"
            lines.append(f"TOOLSERVER_{field.upper()}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    except SettingsError as exc:  # a dict/list value (TOOLSERVER_MCP_ENDPOINTS) that is not JSON
        match = re.search(r'field "(\w+)"', str(exc))
        field = match.group(1) if match else "?"
        raise ConfigError(
            f"invalid configuration:\n  TOOLSERVER_{field.upper()}: cannot be parsed "
            "(the value must be JSON)"
        ) from None
