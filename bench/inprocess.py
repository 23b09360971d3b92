"""A webhook call's own cost, without the network: the ASGI app driven in-process.

    .venv/bin/python bench/inprocess.py [--calls 20000] [--profile] [--env NAME=VALUE ...]

Builds the app as ``toolserver serve`` does (bench plugins, an API key, JSON logs to a file),
runs its lifespan, and sends row T1's request straight to the ASGI callable, 32 at a time on
uvloop. Prints µs of CPU per call; ``--profile`` prints cProfile's top functions. A diagnostic
for finding where a call's time goes (a microbenchmark: compare runs of it, never with a row).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
BODY = (
    b'{"type":"ToolWebHookPayload","status":"Running","callId":"bench","agentId":"a",'
    b'"orgId":"o","toolName":"add","arguments":{"a":2,"b":3},"callAdditionalData":{},'
    b'"agentAdditionalData":{}}'
)
KEY = "bench_0123456789abcdef"


def scope() -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/tools/add", "raw_path": b"/tools/add", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5555), "server": ("127.0.0.1", 8000),
        "headers": [
            (b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
            (b"x-api-key", KEY.encode()), (b"content-length", str(len(BODY)).encode()),
        ],
    }  # fmt: skip


async def one(app, sent: list) -> None:
    async def receive():
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope(), receive, send)


async def lifespan(app):
    queue: asyncio.Queue = asyncio.Queue()
    await queue.put({"type": "lifespan.startup"})
    done = asyncio.Event()
    replies: list = []

    async def receive():
        return await queue.get()

    async def send(message):
        replies.append(message)
        done.set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await done.wait()
    assert replies[0]["type"] == "lifespan.startup.complete", replies
    return queue, task


def _threads() -> dict[str, int]:
    """utime + stime (clock ticks) of each thread of this process."""
    out = {}
    for task in Path("/proc/self/task").iterdir():
        stat = (task / "stat").read_text()
        name = (task / "comm").read_text().strip()
        fields = stat[stat.rindex(")") + 2 :].split()
        out[f"{name}/{task.name}"] = int(fields[11]) + int(fields[12])
    return out


async def main(args) -> None:
    from toolserver.app import create_app

    app = create_app()
    queue, task = await lifespan(app)
    sent: list = []
    await one(app, sent)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"5", sent
    for _ in range(2000):
        await one(app, [])
    profiler = cProfile.Profile() if args.profile else None
    before = _threads()
    started = time.process_time()
    if profiler:
        profiler.enable()
    for _ in range(args.calls // 32):
        await asyncio.gather(*(one(app, []) for _ in range(32)))
    if profiler:
        profiler.disable()
    spent = time.process_time() - started
    calls = args.calls // 32 * 32
    after = _threads()
    print(f"{spent / calls * 1e6:.1f} µs CPU per call (process time, all threads)")
    for name, ticks in sorted(after.items()):
        used = ticks - before.get(name, 0)
        if used:
            print(f"  {name:32} {used / 100 / calls * 1e6:6.1f} µs per call")
    await queue.put({"type": "lifespan.shutdown"})
    await task
    import glob, sqlite3

    for db in glob.glob(os.path.join(os.environ["TOOLSERVER_DATA_DIR"], "*.db")):
        try:
            rows = sqlite3.connect(db).execute("SELECT count(*) FROM toolserver_calls").fetchone()[0]
            print(f"  {os.path.basename(db)}: {rows} call log rows")
        except sqlite3.Error:
            pass
    if profiler:
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--env", action="append", default=[])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="toolserver-inprocess-"))
    os.environ.update(
        {
            "TOOLSERVER_PLUGINS_DIR": str(BENCH / "plugins"),
            "TOOLSERVER_DATA_DIR": str(work / "data"),
            "TOOLSERVER_LOG_FORMAT": "json",
            "TOOLSERVER_API_KEYS": KEY,
        }
    )
    os.environ.update(dict(item.split("=", 1) for item in args.env))
    sys.stderr = open(work / "server.log", "w")  # a regular file, as in the bench
    import uvloop

    uvloop.run(main(args))
