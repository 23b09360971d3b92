"""The ``toolserver`` command.

``serve`` runs the server; ``tools`` lists what it would serve; ``call`` runs one tool through
the executor without a server; ``export blackbox`` prints the agent config blocks. Flags override
``TOOLSERVER_*`` variables; for ``serve`` they are passed on as those variables so that every
uvicorn worker process reads the same configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import anyio

from toolserver.config import ConfigError, Settings, load_settings
from toolserver.core.context import ToolContext
from toolserver.core.errors import PluginError, ToolFailure

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        plugins_dir=getattr(args, "plugins_dir", None),
        log_format=getattr(args, "log_format", None),
    )


def _server(args: argparse.Namespace, *, quiet_logs: bool = True) -> Any:
    from toolserver.logs import configure_logging
    from toolserver.runtime import ToolServer

    settings = _settings(args)
    configure_logging(
        fmt=settings.log_format,
        level="warning" if quiet_logs else settings.log_level,
        secrets=settings.secret_values(),
    )
    return ToolServer(settings)


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
    uvicorn.run(
        "toolserver.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        log_config=None,
        access_log=settings.access_log,
        timeout_graceful_shutdown=None,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
    )
    return 0


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
    from toolserver.export import blackbox_config

    server = _server(args)
    try:
        config = blackbox_config(
            server,
            args.base_url,
            show_secrets=args.show_secrets,
            transport=args.transport,
            endpoint=args.endpoint,
            retry_count=args.retry_count,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(config, indent=2, ensure_ascii=False))
    return 0


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
    serve.add_argument("--workers", type=int, default=None, help="uvicorn worker processes")
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
    blackbox.set_defaults(func=cmd_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, PluginError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
