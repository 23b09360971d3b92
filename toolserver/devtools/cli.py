"""The ``toolserver`` command.

``serve`` runs the server; ``tools`` lists what it would serve; ``call`` runs one tool through
the executor without a server; ``export blackbox`` prints the agent config blocks; ``new plugin``
scaffolds a plugin and ``check`` reviews every plugin's tools. Flags override
``TOOLSERVER_*`` variables; for ``serve`` they are passed on as those variables so that every
uvicorn worker process reads the same configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

import anyio

from toolserver.core.context import ToolContext
from toolserver.core.errors import PluginError, ToolFailure
from toolserver.settings import ConfigError, Settings, load_settings

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]

# Event streams get this long after the grace period to end before uvicorn cuts them.
_STREAM_CLOSE_MARGIN = 3.0


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        plugins_dir=getattr(args, "plugins_dir", None),
        log_format=getattr(args, "log_format", None),
    )


def _server(args: argparse.Namespace, *, quiet_logs: bool = True) -> Any:
    from toolserver.observability.logs import configure_logging
    from toolserver.runtime import ToolServer

    settings = _settings(args)
    configure_logging(
        fmt=settings.log_format,
        level="warning" if quiet_logs else settings.log_level,
        secrets=settings.secret_values(),
    )
    return ToolServer(settings)


def _http_protocol() -> Any:
    if not _installed("httptools"):
        return "h11"
    from toolserver.http.connections import GuardedHttpToolsProtocol

    return GuardedHttpToolsProtocol


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    overrides = {
        "TOOLSERVER_HOST": args.host,
        "TOOLSERVER_PORT": args.port,
        "TOOLSERVER_PLUGINS_DIR": args.plugins_dir,
        "TOOLSERVER_LOG_FORMAT": args.log_format,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = str(value)
    settings = load_settings()  # fail here, with the variable's name, before uvicorn starts
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the
    # previous handler: make that a clean exit (status 0), as a container stop expects.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stopped)
    uvicorn.run(
        "toolserver.app:create_app",  # a factory: every worker process builds its own app
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers or settings.workers,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=settings.shutdown_grace + _STREAM_CLOSE_MARGIN,
        loop="uvloop" if _installed("uvloop") else "asyncio",
        # httptools with a header timeout and a connection cap (toolserver.http.connections).
        http=_http_protocol(),
        # The app applies X-Forwarded-* from FORWARDED_ALLOW_IPS itself, and only to requests
        # that carry them (toolserver.http.asgi), rather than uvicorn wrapping every request.
        proxy_headers=False,
    )
    return 0


def _installed(module: str) -> bool:
    """Whether an optional speed-up (uvloop, httptools: dependencies, but not on every
    platform) can be imported."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _stopped(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def cmd_tools(args: argparse.Namespace) -> int:
    from toolserver.core.schema import tool_schema

    server = _server(args)
    rows = []
    for tool in server.registry:
        schema = tool_schema(tool)
        params = ", ".join(
            name + ("" if name in schema.input_schema.get("required", []) else "?")
            for name in schema.input_schema.get("properties", {})
        )
        rows.append((tool.name, tool.plugin, params, schema.description.split("\n", 1)[0]))
    if args.json:
        print(json.dumps([dict(zip(("name", "plugin", "parameters", "description"), r)) for r in rows], indent=2))
        return 0
    headers = ("TOOL", "PLUGIN", "PARAMETERS", "DESCRIPTION")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(3)]
    for row in [headers, *rows]:
        print("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row[:3])), row[3])
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    try:
        arguments = json.loads(args.arguments) if args.arguments else {}
    except json.JSONDecodeError as exc:
        print(f"error: the arguments are not valid JSON: {exc}", file=sys.stderr)
        return 2
    server = _server(args)

    async def run() -> int:
        await server.start()
        try:
            context = ToolContext(surface="cli", call_id=args.call_id, idempotency_scope=args.call_id)
            result = await server.executor.call(args.name, arguments, context)
        except ToolFailure as failure:
            print(json.dumps(failure.to_body(), indent=2, ensure_ascii=False))
            return 1
        finally:
            await server.stop()
        print(json.dumps(result.value, indent=2, ensure_ascii=False))
        return 0

    return anyio.run(run)


def cmd_export(args: argparse.Namespace) -> int:
    from toolserver.devtools.export import blackbox_config

    server = _server(args)
    try:
        config = blackbox_config(
            server,
            args.base_url,
            show_secrets=args.show_secrets,
            transport=args.transport,
            endpoint=args.endpoint,
            retry_count=args.retry_count,
            http_methods=_http_methods(args.http_method or []),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(config, indent=2, ensure_ascii=False))
    return 0


def _http_methods(values: list[str]) -> dict[str, Any]:
    """``--http-method GET`` (every tool) and ``--http-method find_customer=GET`` (one tool)."""
    methods: dict[str, Any] = {}
    for value in values:
        tool, _, method = value.rpartition("=")
        method = method.strip().upper()
        if method not in ("GET", "POST"):
            raise ValueError(f"--http-method {value!r}: the method must be GET or POST")
        methods[tool.strip() or "*"] = method
    return methods


def cmd_chat(args: argparse.Namespace) -> int:
    """Talk to a BlackBox agent from the terminal while its WebSocket tools run here.

    Lines read from stdin are sent as chat text; the agent's text is printed to stdout and tool
    activity to stderr, so stdout stays a clean transcript. The command ends when the
    conversation ends, or terminates it when stdin closes.
    """
    from toolserver.surfaces.websocket import BlackBoxSession, SessionConfigError

    try:
        additional = json.loads(args.additional_data) if args.additional_data else {}
    except json.JSONDecodeError as exc:
        print(f"error: --additional-data is not valid JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(additional, dict):
        print("error: --additional-data must be a JSON object", file=sys.stderr)
        return 2
    server = _server(args)
    try:
        session = BlackBoxSession.from_settings(
            server.executor,
            server.settings,
            base_url=args.url,
            agent_id=args.agent_id,
            call_type=args.call_type,
            additional_data=additional,
            endpoint=args.endpoint,
        )
    except SessionConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def run() -> int:
        await server.start()
        try:
            async with anyio.create_task_group() as group:
                await group.start(session.run)
                if session.opened_at is None:
                    print(f"error: {session.error}", file=sys.stderr)
                    return 1
                print(
                    f"Connected to {session.url} (session {session.id}). Type to talk; "
                    "end with Ctrl-D.",
                    file=sys.stderr,
                    flush=True,
                )
                group.start_soon(_print_events, session)
                await _talk(session)
                if not session.done:
                    await session.terminate()
        finally:
            await server.stop()
        if session.state != "closed":
            print(f"error: the session failed: {session.error}", file=sys.stderr)
            return 1
        return 0

    return anyio.run(run)


async def _talk(session: Any) -> None:
    """Send each stdin line as chat text until stdin closes or the conversation ends."""
    import threading

    import anyio.from_thread
    import anyio.lowlevel

    from toolserver.surfaces.websocket import SessionClosedError

    send, lines = anyio.create_memory_object_stream[str](16)
    token = anyio.lowlevel.current_token()

    def pump() -> None:  # a daemon thread: a blocked read must not keep the process alive
        try:
            for line in sys.stdin:
                anyio.from_thread.run(send.send, line, token=token)
        except Exception:
            pass
        finally:
            try:
                anyio.from_thread.run_sync(send.close, token=token)
            except Exception:
                pass

    threading.Thread(target=pump, name="toolserver-chat-stdin", daemon=True).start()
    async with anyio.create_task_group() as group:

        async def stop_when_ended() -> None:
            await session.wait()
            group.cancel_scope.cancel()

        group.start_soon(stop_when_ended)
        async with lines:
            async for line in lines:
                text = line.rstrip("\r\n")
                if not text.strip():
                    continue
                try:
                    await session.send_text(text)
                except SessionClosedError:
                    break
        group.cancel_scope.cancel()


async def _print_events(session: Any) -> None:
    """Agent text to stdout; tool activity and BlackBox's errors to stderr."""
    async for event in session.events():
        data = event.data
        if event.kind == "text" and data.get("source") in ("assistant", None) and data["text"]:
            print(data["text"], flush=True)
        elif event.kind == "tool_request":
            arguments = json.dumps(data["arguments"], ensure_ascii=False)
            print(f"[tool] {data['tool']} {arguments}", file=sys.stderr, flush=True)
        elif event.kind == "tool_response":
            result = data["result"]
            if data["outcome"] == "ok":
                status = "ok"
            elif isinstance(result, dict) and isinstance(result.get("error"), dict):
                status = f"{data['errorKind']}: {result['error'].get('message')}"
            else:
                status = data["outcome"]
            print(
                f"[tool] {data['tool']} -> {status} ({data['durationMs']:g} ms)",
                file=sys.stderr,
                flush=True,
            )
        elif event.kind == "error":
            print(f"[blackbox] error: {data['message']}", file=sys.stderr, flush=True)
        elif event.kind == "closed":
            ending = data["error"] or "conversation ended"
            print(f"[session] {data['state']}: {ending}", file=sys.stderr, flush=True)


def cmd_new(args: argparse.Namespace) -> int:
    """Scaffold a plugin (``new plugin NAME``) and say how to test, check and serve it."""
    from pathlib import Path

    from toolserver.devtools.scaffold import ScaffoldError, new_plugin

    settings = _settings(args)
    plugins_dir = Path(args.plugins_dir) if args.plugins_dir else settings.plugins_dir
    if plugins_dir is None:
        print("error: no plugins directory: pass --plugins-dir", file=sys.stderr)
        return 2
    try:
        created = new_plugin(args.name, plugins_dir)
    except ScaffoldError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = [
        (created.module, f"the plugin: settings, startup/shutdown hooks, tool {created.tool}"),
        (created.test, "its tests"),
    ]
    width = max(len(str(path)) for path, _ in rows)
    print(f"Created plugin {created.name!r} in {created.directory}:")
    for path, what in rows:
        print(f"  {str(path).ljust(width)}  {what}")
    dir_flag = f" --plugins-dir {plugins_dir}" if args.plugins_dir else ""
    steps = [
        (f"pytest {created.directory}", "run its tests"),
        (f"toolserver check{dir_flag}", "review its tools for models and strict clients"),
        (f"toolserver serve{dir_flag}", f"serve it: /tools, /mcp and /sse list {created.tool}"),
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


def cmd_check(args: argparse.Namespace) -> int:
    """Load every configured plugin and report what would hurt a model or a strict client.

    Exits 1 when there is an error (or, with ``--strict``, a warning), so CI can run it; a
    plugin that cannot even be loaded exits 2, as every command does.
    """
    from toolserver.core.discovery import discover_plugins
    from toolserver.devtools.check import check_plugins, format_findings
    from toolserver.observability.logs import configure_logging

    settings = _settings(args)
    configure_logging(fmt=settings.log_format, level="warning", secrets=settings.secret_values())
    plugins = discover_plugins(
        settings.plugins_dir,
        enabled=settings.plugins or None,
        entry_points=settings.entry_points,
    )
    findings = check_plugins(plugins)
    if args.json:
        print(json.dumps([f.as_dict() for f in findings], indent=2, ensure_ascii=False))
    else:
        print(format_findings(plugins, findings))
    failing = {"error", "warning"} if args.strict else {"error"}
    return 1 if any(f.severity in failing for f in findings) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toolserver", description="Serve plugin tools to AI agents over MCP, webhooks and the WebSocket."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--plugins-dir", help="directory of plugins (TOOLSERVER_PLUGINS_DIR)")
        p.add_argument(
            "--log-format", choices=["auto", "json", "console"], help="TOOLSERVER_LOG_FORMAT"
        )

    serve = sub.add_parser("serve", help="run the server")
    common(serve)
    serve.add_argument("--host", help="address to listen on (TOOLSERVER_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (TOOLSERVER_PORT)")
    serve.add_argument(
        "--workers", type=int, default=None, help="worker processes (TOOLSERVER_WORKERS)"
    )
    serve.set_defaults(func=cmd_serve)

    tools = sub.add_parser("tools", help="list the tools the server would serve")
    common(tools)
    tools.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tools.set_defaults(func=cmd_tools)

    call = sub.add_parser("call", help="run one tool through the executor and print its result")
    common(call)
    call.add_argument("name", help="the tool's name")
    call.add_argument("arguments", nargs="?", default="{}", help="the arguments as a JSON object")
    call.add_argument("--call-id", help="a BlackBox callId (de-duplicates side-effecting tools)")
    call.set_defaults(func=cmd_call)

    chat = sub.add_parser(
        "chat", help="talk to a BlackBox agent in the terminal; its WebSocket tools run here"
    )
    common(chat)
    chat.add_argument("--url", help="BlackBox base URL (TOOLSERVER_BLACKBOX_URL)")
    chat.add_argument(
        "--agent-id", help="agent for the dev endpoint (TOOLSERVER_BLACKBOX_AGENT_ID)"
    )
    chat.add_argument(
        "--call-type", choices=["chat", "webCall", "onPhone"], default="chat", help="callType"
    )
    chat.add_argument("--additional-data", help="the call's additionalData, a JSON object")
    chat.add_argument("--endpoint", help="the caller's phone number or SIP URI")
    chat.set_defaults(func=cmd_chat)

    export = sub.add_parser("export", help="print configuration for an agent platform")
    export_sub = export.add_subparsers(dest="target", required=True)
    blackbox = export_sub.add_parser(
        "blackbox", help="config.tools[] and config.mcpConnections[] for a BlackBox agent"
    )
    common(blackbox)
    blackbox.add_argument("--base-url", required=True, help="where BlackBox reaches this server")
    blackbox.add_argument("--show-secrets", action="store_true", help="print the real API key")
    blackbox.add_argument("--transport", choices=["SSE", "StreamableHTTP"], default="SSE")
    blackbox.add_argument("--endpoint", help="a subset endpoint from TOOLSERVER_MCP_ENDPOINTS")
    blackbox.add_argument("--retry-count", type=int, default=2, help="BlackBox retries (0-5)")
    blackbox.add_argument(
        "--http-method",
        action="append",
        metavar="[TOOL=]METHOD",
        help="how BlackBox calls a tool webhook: POST (default) or GET with query parameters "
        "(customSettings); repeat per tool, e.g. --http-method find_customer=GET",
    )
    blackbox.set_defaults(func=cmd_export)
    new = sub.add_parser("new", help="create something to start from")
    new_sub = new.add_subparsers(dest="kind", required=True)
    new_plugin = new_sub.add_parser(
        "plugin", help="a plugin folder: an example tool, settings, hooks and a passing test"
    )
    common(new_plugin)
    new_plugin.add_argument("name", help="the plugin's name (lower case, digits, underscores)")
    new_plugin.set_defaults(func=cmd_new)

    check = sub.add_parser(
        "check", help="review every plugin's tools for models and strict clients (CI-friendly)"
    )
    common(check)
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.set_defaults(func=cmd_check)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, PluginError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
