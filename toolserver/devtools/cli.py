"""The ``toolserver`` command.

``serve`` runs the server; ``stdio`` serves the same tools to one desktop MCP client over stdio;
``tools`` lists what would be served; ``call`` runs one tool through the executor without a
server; ``export`` prints agent and MCP-client configuration; ``new plugin`` scaffolds a plugin
and ``check`` reviews every plugin's tools; ``chat`` talks to a BlackBox agent; ``calls`` prints
the call log.

The command line is click's (already installed with uvicorn), which gives ``--version``, help
pages with defaults, and shell completion without code of our own. Conventions, as in uvicorn's
and FastAPI's commands: flags override ``TOOLSERVER_*`` variables (``serve`` passes them on as
those variables, so that every uvicorn worker reads the same configuration); results go to
stdout and everything else to stderr; exit status 0 is success, 1 a tool or check that failed,
2 a usage error or a server that cannot start (a bad setting, a plugin that fails, a taken
port), each said in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from toolserver import __version__
from toolserver.core.errors import PluginError
from toolserver.settings import ConfigError, Settings, load_settings, url_problem, variable_name

__all__ = ["cli", "main"]

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100, "show_default": True}


def _setting(*names: str, field: str, help: str, **options: Any) -> Any:
    """An option for setting ``field``: its help names the variable, its default is the
    setting's, and the command sees a value only when the option was given (:func:`_given`),
    so that the environment and ``.env`` still apply otherwise."""
    default = Settings.model_fields[field].get_default(call_default_factory=True)
    return click.option(
        *names,
        default=default,
        show_default=default is not None,
        help=f"{help} ({variable_name(field)})",
        **options,
    )


def _given(**values: Any) -> dict[str, Any]:
    """The values of the options that were given on the command line."""
    ctx = click.get_current_context()
    return {
        name: value
        for name, value in values.items()
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    }


def _examples(*lines: str) -> str:
    """A help page's epilog: the examples as written (``\\b`` keeps click from rewrapping)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _plugins_dir_option(fn: Any) -> Any:
    return _setting(
        "--plugins-dir",
        field="plugins_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Directory of local plugins",
    )(fn)


def _log_format_option(fn: Any) -> Any:
    return _setting(
        "--log-format",
        field="log_format",
        type=click.Choice(["auto", "json", "console"]),
        help="JSON lines, lines for people, or console at a terminal and JSON elsewhere",
    )(fn)


def _base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    problem = url_problem(value) if value is not None else None
    if problem:
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


def _settings(plugins_dir: Path | None = None, log_format: str | None = None) -> Settings:
    """The settings, with the options that were given on top."""
    return load_settings(**_given(plugins_dir=plugins_dir, log_format=log_format))


def _server(settings: Settings) -> Any:
    """The :class:`ToolServer` of ``settings`` (its plugins loaded, not started), with logging
    at warning level (a command's output is its result) and unknown variables warned about."""
    from toolserver.devtools.envcheck import warn_unknown_variables
    from toolserver.observability.logs import configure_logging
    from toolserver.runtime import ToolServer

    configure_logging(fmt=settings.log_format, level="warning", secrets=settings.secret_values())
    server = ToolServer(settings)
    warn_unknown_variables(server.plugins)
    return server


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


class _Failed(click.ClickException):
    """A command that cannot do what was asked: ``error: <message>``, exit status 2."""

    exit_code = 2


@click.group(
    context_settings=_CONTEXT,
    epilog=_examples(
        "toolserver serve --reload",
        "toolserver call get_order_status order_number=10517",
        "toolserver export mcp --client claude-desktop",
        "toolserver new plugin weather",
    ),
)
@click.version_option(
    __version__, "--version", "-V", prog_name="toolserver", message="%(prog)s %(version)s"
)
def cli() -> None:
    """Serve plugin tools to AI agents over MCP, BlackBox webhooks and the BlackBox WebSocket.

    Every setting is also a TOOLSERVER_* variable (or a line in .env); flags win.
    """


@cli.command(
    epilog=_examples(
        "toolserver serve",
        "toolserver serve --reload --log-level debug",
        "toolserver serve --host 0.0.0.0 --port 9000 --workers 2",
    )
)
@_setting("--host", field="host", help="Address to listen on")
@_setting(
    "--port", field="port", type=click.IntRange(0, 65535), help="Port to listen on; 0: any free"
)
@_plugins_dir_option
@_log_format_option
@_setting(
    "--log-level",
    field="log_level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="The lowest level logged",
)
@_setting("--workers", field="workers", type=click.IntRange(min=1), help="Worker processes")
@click.option(
    "--reload",
    is_flag=True,
    help="Restart when a file in the plugins directory changes (development; one worker).",
)
def serve(
    host: str,
    port: int,
    plugins_dir: Path,
    log_format: str,
    log_level: str,
    workers: int,
    reload: bool,
) -> int:
    """Run the server: MCP on /mcp and /sse, webhooks on /tools/{name}, docs on /docs.

    Once it listens it prints where everything is, where the API key is kept, and a curl command
    to try (a JSON log event, server.urls, with JSON logs).
    """
    from toolserver.devtools.serving import serve as run

    given = _given(
        host=host,
        port=port,
        plugins_dir=plugins_dir,
        log_format=log_format,
        log_level=log_level,
        workers=workers,
    )
    if reload and given.get("workers", 1) > 1:
        raise click.UsageError("--reload runs one worker; leave out --workers")
    for field, value in given.items():
        os.environ[variable_name(field)] = str(value)
    settings = load_settings()  # fail here, with the variable's name, before anything starts
    return run(settings, reload=reload, workers=given.get("workers"))


@cli.command(
    epilog=_examples(
        "toolserver stdio",
        "toolserver stdio --directory ~/my-tools",
        "npx @modelcontextprotocol/inspector .venv/bin/toolserver stdio",
    )
)
@click.option(
    "--directory",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Work in this directory: .env, plugins/ and .toolserver/ are found there. "
    "[default: the working directory]",
)
@_plugins_dir_option
def stdio(directory: Path | None, plugins_dir: Path | None) -> int:
    """Serve the tools to one MCP client over stdin/stdout (Claude Desktop, Cursor).

    The client starts this command itself: `toolserver export mcp` prints the entry for its
    configuration. Logs go to stderr; no port is opened and no API key is needed.
    """
    import anyio

    from toolserver.devtools.envcheck import warn_unknown_variables
    from toolserver.observability.logs import configure_logging
    from toolserver.runtime import ToolServer
    from toolserver.surfaces.mcp.stdio import serve_stdio

    if directory is not None:
        os.chdir(directory)
    settings = _settings(plugins_dir)
    configure_logging(
        fmt=settings.log_format, level=settings.log_level, secrets=settings.secret_values()
    )
    server = ToolServer(settings)
    warn_unknown_variables(server.plugins)
    try:
        anyio.run(serve_stdio, server)
    except Exception as exc:
        from toolserver.devtools.failures import failing_plugin

        if isinstance(exc, PluginError) or failing_plugin(exc, server.plugins) is None:
            raise
        raise _Failed(_startup_failure(exc, server.plugins)) from None
    return 0


@cli.command(epilog=_examples("toolserver tools", "toolserver tools --json | jq '.[].name'"))
@_plugins_dir_option
@_log_format_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def tools(plugins_dir: Path | None, log_format: str | None, as_json: bool) -> int:
    """List the tools the server would serve, with their parameters (? marks optional ones)."""
    from toolserver.core.schema import tool_schema

    server = _server(_settings(plugins_dir, log_format))
    rows = []
    for tool in server.registry:
        schema = tool_schema(tool)
        params = ", ".join(
            name + ("" if name in schema.input_schema.get("required", []) else "?")
            for name in schema.input_schema.get("properties", {})
        )
        rows.append((tool.name, tool.plugin, params, schema.description.split("\n", 1)[0]))
    if as_json:
        keys = ("name", "plugin", "parameters", "description")
        _print_json([dict(zip(keys, row)) for row in rows])
        return 0
    headers = ("TOOL", "PLUGIN", "PARAMETERS", "DESCRIPTION")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(3)]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:3])), row[3])
    return 0


@cli.command(
    epilog=_examples(
        "toolserver call get_order_status order_number=10517",
        "toolserver call list_recent_orders customer_id=CUS-1001 limit=2",
        "toolserver call find_free_slots service=tune-up 'date=2026-12-01'",
        'toolserver call get_order_status \'{"order_number": "10517"}\'',
        "toolserver call create_lead name=Ada tags:='[\"bike\"]' --call-id call_1",
    )
)
@click.argument("name")
@click.argument("arguments", nargs=-1)
@click.option("--call-id", help="A BlackBox callId: a side-effecting tool runs once per call id.")
@_plugins_dir_option
@_log_format_option
def call(
    name: str,
    arguments: tuple[str, ...],
    call_id: str | None,
    plugins_dir: Path | None,
    log_format: str | None,
) -> int:
    """Run one tool through the executor and print its result as JSON.

    ARGUMENTS are name=value words (a string; numbers and booleans are converted as the tool's
    parameters say), name:=JSON for lists, objects and null, or one JSON object. Only the plugin
    that defines the tool is started. Exit status 1 when the tool fails (its error is printed).
    """
    import anyio

    from toolserver.core.context import ToolContext
    from toolserver.core.errors import ToolFailure
    from toolserver.devtools.arguments import ArgumentsError, parse_call_arguments
    from toolserver.observability.calllog import open_call_log
    from toolserver.runtime import ToolServer

    try:
        values = parse_call_arguments(arguments)
    except ArgumentsError as exc:
        raise _Failed(str(exc)) from None
    server = _server(_settings(plugins_dir, log_format))
    tool = server.registry.get(name)
    # Only the tool's own plugin starts: another plugin's failing startup is not this call's
    # business. An unknown tool is answered by the executor without starting anything.
    owner = [p for p in server.plugins if tool is not None and p.name == tool.plugin]
    runner = ToolServer(server.settings, plugins=owner) if owner else server

    # The call is recorded in the call log like any other (surface ``cli``), when it is on.
    call_log = open_call_log(runner.settings)
    if call_log is not None:
        runner.executor.observers.append(call_log.observe)

    async def run() -> int:
        if owner:
            try:
                await runner.start()
            except PluginError:
                raise
            except Exception as exc:
                raise _Failed(_startup_failure(exc, owner)) from None
        try:
            context = ToolContext(surface="cli", call_id=call_id, idempotency_scope=call_id)
            try:
                result = await runner.executor.call(name, values, context)
            finally:
                await anyio.sleep(0)  # its log line and its record come on the loop's next turn
        except ToolFailure as failure:
            _print_json(failure.to_body())
            return 1
        finally:
            if owner:
                await runner.stop()
            if call_log is not None:
                call_log.stop()  # writes the entry
        _print_json(result.value)
        return 0

    return anyio.run(run)


def _startup_failure(exc: BaseException, plugins: Sequence[Any]) -> str:
    from toolserver.devtools.failures import failing_plugin, startup_failure

    return startup_failure(failing_plugin(exc, plugins), exc)


@cli.command(
    epilog=_examples(
        "export TOOLSERVER_BLACKBOX_TOKEN=...",
        "toolserver chat",
        "toolserver chat --agent-id agent_123 --call-type webCall --endpoint +15550100",
    )
)
@click.option("--url", help="BlackBox base URL (TOOLSERVER_BLACKBOX_URL).")
@click.option("--agent-id", help="Agent for the dev endpoint (TOOLSERVER_BLACKBOX_AGENT_ID).")
@click.option(
    "--call-type", type=click.Choice(["chat", "webCall", "onPhone"]), default="chat",
    help="The session's callType.",
)  # fmt: skip
@click.option("--additional-data", help="The call's additionalData, a JSON object.")
@click.option("--endpoint", help="The caller's phone number or SIP URI.")
@_plugins_dir_option
@_log_format_option
def chat(
    url: str | None,
    agent_id: str | None,
    call_type: str,
    additional_data: str | None,
    endpoint: str | None,
    plugins_dir: Path | None,
    log_format: str | None,
) -> int:
    """Talk to a BlackBox agent in the terminal while its WebSocket tools run here.

    Lines you type go to the agent; its text comes back on stdout, tool activity on stderr.
    Exit status 0 when the conversation ends, 1 when the session failed, 2 for a configuration
    error.
    """
    import anyio

    from toolserver.devtools.chat import run_chat
    from toolserver.surfaces.websocket import BlackBoxSession, SessionConfigError

    try:
        additional = json.loads(additional_data) if additional_data else {}
    except json.JSONDecodeError as exc:
        raise _Failed(f"--additional-data is not valid JSON: {exc}") from None
    if not isinstance(additional, dict):
        raise _Failed("--additional-data must be a JSON object")
    server = _server(_settings(plugins_dir, log_format))
    try:
        session = BlackBoxSession.from_settings(
            server.executor,
            server.settings,
            base_url=url,
            agent_id=agent_id,
            call_type=call_type,
            additional_data=additional,
            endpoint=endpoint,
        )
    except SessionConfigError as exc:
        raise _Failed(str(exc)) from None
    return anyio.run(run_chat, server, session)


@cli.group(context_settings=_CONTEXT)
def export() -> None:
    """Print configuration for an agent platform or an MCP client."""


@export.command(
    epilog=_examples(
        "toolserver export blackbox --base-url https://tools.example.com",
        "TOOLSERVER_PUBLIC_URL=https://tools.example.com toolserver export blackbox",
        "toolserver export blackbox --transport StreamableHTTP --show-secrets",
        "toolserver export blackbox --http-method find_customer=GET",
    )
)
@click.option(
    "--base-url",
    callback=_base_url,
    help="Where BlackBox reaches this server: scheme and host (TOOLSERVER_PUBLIC_URL).",
)
@click.option("--show-secrets", is_flag=True, help="Print the real API key, not a placeholder.")
@click.option(
    "--transport",
    type=click.Choice(["SSE", "StreamableHTTP"]),
    default="SSE",
    help="The MCP transport of the mcpConnections entry.",
)
@click.option("--endpoint", help="Describe a subset endpoint of TOOLSERVER_MCP_ENDPOINTS.")
@click.option(
    "--retry-count",
    type=click.IntRange(0, 5),
    default=2,
    help="How often BlackBox retries a failed webhook (0 to 5).",
)
@click.option(
    "--http-method",
    "http_method",
    multiple=True,
    metavar="[TOOL=]METHOD",
    help="How BlackBox calls a tool webhook: POST (default) or GET with query parameters "
    "(customSettings); repeat per tool, e.g. --http-method find_customer=GET.",
)
@_plugins_dir_option
@_log_format_option
def blackbox(
    base_url: str | None,
    show_secrets: bool,
    transport: str,
    endpoint: str | None,
    retry_count: int,
    http_method: tuple[str, ...],
    plugins_dir: Path | None,
    log_format: str | None,
) -> int:
    """config.tools[] and config.mcpConnections[] for a BlackBox agent, as JSON."""
    from toolserver.devtools.export import blackbox_config

    settings = _settings(plugins_dir, log_format)
    base = base_url or settings.public_url
    if not base:
        raise click.UsageError(
            "no base URL: pass --base-url https://tools.example.com or set TOOLSERVER_PUBLIC_URL"
        )
    server = _server(settings)
    try:
        config = blackbox_config(
            server,
            base,
            show_secrets=show_secrets,
            transport=transport,  # type: ignore[arg-type]
            endpoint=endpoint,
            retry_count=retry_count,
            http_methods=_http_methods(http_method),
        )
    except ValueError as exc:
        raise _Failed(str(exc)) from None
    _print_json(config)
    return 0


def _http_methods(values: Sequence[str]) -> dict[str, Any]:
    """``--http-method GET`` (every tool) and ``--http-method find_customer=GET`` (one tool)."""
    methods: dict[str, Any] = {}
    for value in values:
        tool, _, method = value.rpartition("=")
        method = method.strip().upper()
        if method not in ("GET", "POST"):
            raise ValueError(f"--http-method {value!r}: the method must be GET or POST")
        methods[tool.strip() or "*"] = method
    return methods


@export.command(
    "mcp",
    epilog=_examples(
        "toolserver export mcp --client claude-desktop",
        "toolserver export mcp --client cursor > .cursor/mcp.json",
        "toolserver export mcp --client inspector > inspector.json",
        "npx @modelcontextprotocol/inspector --config inspector.json --server toolserver",
        "toolserver export mcp --client cursor --transport http --base-url https://tools.example.com",
    ),
)
@click.option(
    "--client",
    type=click.Choice(["claude-desktop", "cursor", "inspector"]),
    required=True,
    help="The client whose configuration file this is for.",
)
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    help="stdio: the client starts `toolserver stdio` itself; http: it reaches a running "
    "server's /mcp (cursor, inspector).",
)
@click.option(
    "--base-url",
    callback=_base_url,
    help="With --transport http: where the client reaches the server (TOOLSERVER_PUBLIC_URL, "
    "else this machine's TOOLSERVER_HOST and TOOLSERVER_PORT).",
)
@click.option("--name", default="toolserver", help="The server's name in the client.")
@click.option("--show-secrets", is_flag=True, help="With --transport http: the real API key.")
@_plugins_dir_option
def export_mcp(
    client: str,
    transport: str,
    base_url: str | None,
    name: str,
    show_secrets: bool,
    plugins_dir: Path | None,
) -> int:
    """The mcpServers entry for Claude Desktop, Cursor or the MCP Inspector, as JSON.

    Over stdio the entry starts this installation's `toolserver stdio` in the working directory,
    so it finds the same .env and plugins as here.
    """
    from toolserver.devtools.export import mcp_client_config
    from toolserver.devtools.summary import local_base_url

    settings = _settings(plugins_dir)
    server = _server(settings)  # the plugins must load before a client is pointed at them
    base = base_url or settings.public_url or local_base_url(settings.host, settings.port)
    try:
        config = mcp_client_config(
            server,
            client,
            transport=transport,  # type: ignore[arg-type]
            base_url=base,
            name=name,
            plugins_dir=_given(plugins_dir=plugins_dir).get("plugins_dir"),
            show_secrets=show_secrets,
        )
    except ValueError as exc:
        raise _Failed(str(exc)) from None
    _print_json(config)
    return 0


@cli.group(context_settings=_CONTEXT)
def new() -> None:
    """Create something to start from."""


@new.command(
    "plugin",
    epilog=_examples(
        "toolserver new plugin weather", "toolserver new plugin crm --plugins-dir src/plugins"
    ),
)
@click.argument("name")
@_plugins_dir_option
def new_plugin(name: str, plugins_dir: Path | None) -> int:
    """Scaffold plugin NAME: an example tool, settings, hooks and a passing test.

    NAME is lower-case letters, digits and underscores; an existing plugin is never overwritten.
    """
    from toolserver.devtools.scaffold import ScaffoldError
    from toolserver.devtools.scaffold import new_plugin as scaffold

    settings = _settings(plugins_dir)
    given = "plugins_dir" in _given(plugins_dir=plugins_dir)
    directory = settings.plugins_dir
    if directory is None:
        raise _Failed("no plugins directory: pass --plugins-dir")
    try:
        created = scaffold(name, directory)
    except ScaffoldError as exc:
        raise _Failed(str(exc)) from None
    rows = [
        (created.module, f"the plugin: settings, startup/shutdown hooks, tool {created.tool}"),
        (created.test, "its tests"),
    ]
    width = max(len(str(path)) for path, _ in rows)
    print(f"Created plugin {created.name!r} in {created.directory}:")
    for path, what in rows:
        print(f"  {str(path).ljust(width)}  {what}")
    dir_flag = f" --plugins-dir {directory}" if given else ""
    toolserver = _runnable("toolserver")
    steps = [
        (f"{_runnable('pytest')} {created.directory}", "run its tests"),
        (f"{toolserver} check{dir_flag}", "review its tools for models and strict clients"),
        (f"{toolserver} serve{dir_flag}", f"serve it: /tools, /mcp and /sse list {created.tool}"),
    ]
    width = max(len(command) for command, _ in steps)
    print("\nNext:")
    for command, what in steps:
        print(f"  {command.ljust(width)}  {what}")
    if settings.plugins and created.name not in settings.plugins:
        print(
            f"\nnote: TOOLSERVER_PLUGINS limits the server to {', '.join(settings.plugins)}; "
            f"add {created.name} to it to serve the new plugin.",
            file=sys.stderr,
        )
    return 0


def _runnable(name: str) -> str:
    """How to run ``name`` (``toolserver``, ``pytest``) from this installation, as typed here.

    The bare name when it is on ``PATH`` and is this installation's; otherwise its path in this
    environment (``.venv/bin/pytest``), so a printed command runs as written and never reaches
    another Python's pytest, which has none of toolserver's dependencies.
    """
    from toolserver.devtools.failures import relative

    script = Path(sys.executable).parent / name
    found = shutil.which(name)
    if found and script.exists() and Path(found).resolve() == script.resolve():
        return name
    if script.exists():
        return relative(script)
    module = "pytest" if name == "pytest" else "toolserver"
    return f"{relative(sys.executable)} -m {module}"


@cli.command(
    epilog=_examples("toolserver check", "toolserver check --strict --json > findings.json")
)
@_plugins_dir_option
@_log_format_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def check(plugins_dir: Path | None, log_format: str | None, as_json: bool, strict: bool) -> int:
    """Review every plugin's tools for what would hurt a model or a strict client.

    Exit status 1 when there is an error (with --strict: or a warning), 2 when a plugin cannot
    be loaded, so CI can run it.
    """
    from toolserver.core.discovery import discover_plugins
    from toolserver.devtools.check import check_plugins, format_findings
    from toolserver.devtools.envcheck import warn_unknown_variables
    from toolserver.observability.logs import configure_logging

    settings = _settings(plugins_dir, log_format)
    configure_logging(fmt=settings.log_format, level="warning", secrets=settings.secret_values())
    plugins = discover_plugins(
        settings.plugins_dir,
        enabled=settings.plugins or None,
        entry_points=settings.entry_points,
    )
    warn_unknown_variables(plugins)
    findings = check_plugins(plugins)
    if as_json:
        _print_json([f.as_dict() for f in findings])
    else:
        print(format_findings(plugins, findings))
    failing = {"error", "warning"} if strict else {"error"}
    return 1 if any(f.severity in failing for f in findings) else 0


@cli.command(
    epilog=_examples(
        "toolserver calls",
        "toolserver calls --tool find_customer --outcome error --since 2026-01-02T00:00:00Z",
        "toolserver calls call_123",
    )
)
@click.argument("call_id", required=False)
@click.option("--tool", help="Only this tool.")
@click.option("--surface", help="Only this surface (webhook, mcp, websocket, console).")
@click.option("--outcome", help="Only this outcome (ok, error, fallback, cancelled).")
@click.option("--since", help="From this time (ISO 8601 or epoch seconds).")
@click.option("--until", help="Up to this time.")
@click.option("--limit", type=click.IntRange(1, 500), default=50, help="How many.")
@click.option("--verbose", "-v", is_flag=True, help="Print arguments and answers.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
@_plugins_dir_option
@_log_format_option
def calls(
    call_id: str | None,
    tool: str | None,
    surface: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    verbose: bool,
    as_json: bool,
    plugins_dir: Path | None,
    log_format: str | None,
) -> int:
    """Print the call log: recent calls as a table, or one BlackBox callId's timeline.

    Reads the store the server writes (TOOLSERVER_DATABASE_URL, else calls.db in the data
    directory) directly, so it works while the server runs and after it stopped. Exit status 1
    when a callId has no calls.
    """
    from toolserver.observability.calllog import open_store
    from toolserver.observability.calllog.api import InvalidQuery, parse_query

    settings = _settings(plugins_dir, log_format)
    store = open_store(settings)
    filters = {
        "tool": tool, "surface": surface, "outcome": outcome,
        "since": since, "until": until, "limit": str(limit),
    }  # fmt: skip
    try:
        query = parse_query({k: v for k, v in filters.items() if v is not None})
        if call_id:
            entries = store.timeline(call_id)
        else:
            entries, _ = store.query(query)
            entries.reverse()  # oldest first, as a terminal reads
    except InvalidQuery as exc:
        raise _Failed(str(exc)) from None
    except Exception as exc:
        print(f"error: the call log cannot be read: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if as_json:
        _print_json([entry.as_json() for entry in entries])
        return 0
    if not entries:
        print("no calls recorded" + (f" for callId {call_id}" if call_id else ""))
        return 1 if call_id else 0
    for entry in entries:
        shown = entry.as_json()
        error = f" {entry.error_kind}" if entry.error_kind else ""
        print(
            f"{shown['time']}  {entry.surface:<9} {entry.name:<24} {entry.call_id or '-':<20} "
            f"{entry.outcome}{error}  {entry.duration_ms:.1f} ms"
        )
        if call_id or verbose:
            print(f"    arguments {json.dumps(shown['arguments'], ensure_ascii=False)}")
            print(f"    answer    {json.dumps(shown['result'], ensure_ascii=False)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status. Errors are one line on stderr."""
    from toolserver.devtools.failures import plugin_failure
    from toolserver.devtools.failures import report_error as _error

    try:
        try:
            status = cli.main(
                args=list(argv) if argv is not None else None,
                prog_name="toolserver",
                standalone_mode=False,
            )
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
            status = 2
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "toolserver"
            _error(f"{exc.format_message()} (see '{where} --help')")
            status = 2
        except click.ClickException as exc:
            _error(exc.format_message())
            status = exc.exit_code
        except click.exceptions.Abort:
            status = 130
        except ConfigError as exc:
            _error(str(exc))
            status = 2
        except PluginError as exc:
            _error(plugin_failure(exc))
            status = 2
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader has gone (`toolserver tools --json | head`): stop quietly with status 1, as
        # click does for a pipe that breaks while a command writes. stdout is pointed at
        # /dev/null so that the interpreter's exit does not try the dead pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return status if isinstance(status, int) else 0
