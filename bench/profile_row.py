"""Where a request's time goes: one bench row under load, sampled with py-spy, summarised.

    .venv/bin/python bench/profile_row.py T1 [--seconds 20] [--gil] [--py-spy PATH]

Starts the row's server as ``bench/run.py`` does (pinned to core 0, same settings), drives it
with the row's wrk script from core 1, and records the server with ``py-spy record --format raw``
(collapsed stacks) while it is saturated. Prints the functions with the most samples inclusive
and exclusive, and a coarse split by package (structlog, starlette middleware, pydantic, the
MCP SDK, anyio, the HTTP protocol, ...). Raw stacks, and a speedscope file for a viewer, stay in
``bench/.work/profile-<row>/``. py-spy is not a project dependency: install it with
``uv tool install py-spy`` (or ``pip install py-spy``).
"""

from __future__ import annotations

import argparse
import collections
import re
import secrets
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import run as bench  # bench/run.py, importable because this file sits next to it

ROWS = {
    # key: (kind, app or None, env, lua)
    "A": ("uvicorn", "bench.servers.bare:app", {}, "webhook.lua"),
    "B": ("uvicorn", "bench.servers.fastapi_app:app", {}, "webhook.lua"),
    "R1": ("uvicorn", "bench.servers.reference:app", {"BENCH_REF": "streamable"}, "mcp_2026.lua"),
    "R2": ("uvicorn", "bench.servers.reference:app", {"BENCH_REF": "stateless"}, "mcp_2025.lua"),
    "T1": ("toolserver", None, {}, "webhook.lua"),
    "T2": ("toolserver", None, {}, "mcp_2026.lua"),
    "T3": ("toolserver", None, {}, "mcp_2025.lua"),
}

# Coarse buckets, matched against a frame's file as py-spy prints it ("name (pkg/mod.py:12)"); a
# sample goes to the bucket of its innermost frame that has one (so the time ``logging`` spends in
# ``json`` counts as json encoding, and a socket write asyncio does for h11 as the event loop).
BUCKETS = (
    ("structlog / logging", re.compile(r"\((structlog|logging)/|\(toolserver/logs\.py")),
    ("json encoding", re.compile(r"\(json/")),
    ("pydantic", re.compile(r"\((pydantic|pydantic_core|pydantic_settings)/")),
    ("prometheus metrics", re.compile(r"\((prometheus_client/|toolserver/metrics\.py)")),
    ("mcp SDK", re.compile(r"\((mcp|mcp_types)/")),
    ("sse-starlette", re.compile(r"\(sse_starlette/")),
    ("starlette / fastapi", re.compile(r"\((starlette|fastapi)/")),
    ("anyio", re.compile(r"\(anyio/")),
    ("uvicorn + h11 (HTTP)", re.compile(r"\((uvicorn|h11|httptools)/")),
    ("toolserver", re.compile(r"\((toolserver|bench)/")),
    ("asyncio event loop", re.compile(r"\(asyncio/")),
)


def parse_raw(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _short(frame: str) -> str:
    # "function (/long/path/site-packages/pkg/mod.py:123)" -> "function (pkg/mod.py:123)"
    frame = re.sub(r"\(.*?site-packages/", "(", frame)
    frame = re.sub(r"\(/work/[^)]*?/(toolserver|bench)/", r"(\1/", frame)
    return re.sub(r"\(.*?/lib/python3\.\d+/", "(stdlib/", frame)


def _no_line(frame: str) -> str:
    return re.sub(r":\d+\)$", ")", frame)


def children(stacks: list[tuple[list[str], int]], pattern: str, top: int) -> str:
    """What the frames matching ``pattern`` spend their samples on: their callees, inclusive."""
    total = sum(c for _, c in stacks) or 1
    rx = re.compile(pattern)
    inside = 0
    callees: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        names = [_no_line(_short(f)) for f in frames]
        hits = [i for i, name in enumerate(names) if rx.search(name)]
        if not hits:
            continue
        inside += count
        i = hits[0]  # the outermost match
        callees[names[i + 1] if i + 1 < len(names) else "(self)"] += count
    out = [f"{100 * inside / total:5.1f}%  of all samples are under /{pattern}/; its callees:"]
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in callees.most_common(top)]
    return "\n".join(out)


def summarise(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(c for _, c in stacks) or 1
    inclusive: collections.Counter[str] = collections.Counter()
    exclusive: collections.Counter[str] = collections.Counter()
    buckets: collections.Counter[str] = collections.Counter()
    for frames, count in stacks:
        names = [_no_line(_short(f)) for f in frames]
        for name in set(names):
            inclusive[name] += count
        exclusive[names[-1]] += count
        # the innermost frame that belongs to a bucket decides where the sample goes
        for frame in reversed(frames):
            bucket = next((b for b, rx in BUCKETS if rx.search(frame)), None)
            if bucket:
                buckets[bucket] += count
                break
        else:
            buckets["other"] += count
    out = [f"{total} samples\n", "By package (innermost frame that belongs to one):"]
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in buckets.most_common()]
    out += ["", f"Inclusive (on the stack), top {top}:"]
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in inclusive.most_common(top)]
    out += ["", f"Exclusive (innermost frame), top {top}:"]
    out += [f"  {100 * c / total:5.1f}%  {name}" for name, c in exclusive.most_common(top)]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description="Profile one bench row with py-spy.")
    parser.add_argument("row", choices=sorted(ROWS))
    parser.add_argument("--seconds", type=int, default=20, help="seconds of sampling under load")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--py-spy", default=shutil.which("py-spy") or str(Path.home() / ".local/bin/py-spy"))
    parser.add_argument(
        "--gil", action="store_true",
        help="only samples of the thread holding the GIL: where the process's CPU goes",
    )  # fmt: skip
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="a setting for the server (compare a feature on and off)",
    )  # fmt: skip
    parser.add_argument("--summarise", type=Path, help="only summarise an existing raw file")
    parser.add_argument(
        "--children", action="append", default=[], metavar="REGEX",
        help="with --summarise: break down the frames matching REGEX by callee (repeatable)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.summarise:
        stacks = parse_raw(args.summarise)
        if not args.children:
            print(summarise(stacks, args.top))
        for pattern in args.children:
            print(children(stacks, pattern, args.top))
        return 0
    if not Path(args.py_spy).exists():
        sys.exit("error: py-spy not found; install it with `uv tool install py-spy`")
    if bench.MULTI_CORE:
        bench.os.sched_setaffinity(0, {bench.LOAD_CORE})
    out = bench.WORK / f"profile-{args.row}"
    shutil.rmtree(out, ignore_errors=True)
    (out / "logs").mkdir(parents=True)
    kind, app, env, lua = ROWS[args.row]
    servers = bench.Servers(out / "logs")
    try:
        if kind == "uvicorn":
            server = servers.uvicorn(args.row, app, env)
            server.wait_ready("/")
        else:
            key = "bench_" + secrets.token_hex(12)
            server = servers.toolserver(
                args.row, plugins_dir=bench.BENCH / "plugins", data_dir=out / "data", api_key=key,
                extra_env=dict(item.split("=", 1) for item in args.env),
            )  # fmt: skip
            server.wait_ready("/healthz")
        row = bench.HttpRow(args.row, args.row, lua, server)
        problem = bench.verified(bench.wrk(row, 2, 32))
        if problem:
            sys.exit(f"error: {problem}")
        load = threading.Thread(target=bench.wrk, args=(row, args.seconds + 6, 32), daemon=True)
        load.start()
        threading.Event().wait(2)
        raw = out / "stacks.txt"
        record = [args.py_spy, "record", "--pid", str(server.process.pid), "--rate", str(args.rate),
                  "--duration", str(args.seconds), "--format", "raw", "--output", str(raw)]  # fmt: skip
        if args.gil:
            record.append("--gil")
        subprocess.run(bench.pinned(bench.LOAD_CORE) + record, check=True, capture_output=True)
        load.join()
        summary = summarise(parse_raw(raw), args.top)
        (out / "summary.txt").write_text(summary + "\n")
        print(summary)
        print(f"\nraw stacks: {raw.relative_to(bench.ROOT)}")
    finally:
        servers.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
