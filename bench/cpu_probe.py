"""Per-thread CPU and context switches of one row's server under load (a diagnostic, not a row).

    .venv/bin/python bench/cpu_probe.py T1 [--seconds 10] [--env NAME=VALUE ...]

Starts the row's server as ``bench/run.py`` does, warms it, drives it with wrk for ``--seconds``
and prints, per thread of the server process: user and system CPU per request (µs) and voluntary
and involuntary context switches per request. ``--env`` passes settings to the server (to compare
a feature on and off in one sitting).
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

import run as bench  # bench/run.py
from profile_row import ROWS

TICK = 100  # clock ticks per second (os.sysconf("SC_CLK_TCK"))


def threads(pid: int) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
            status = (task / "status").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        utime, stime = int(fields[11]), int(fields[12])
        vol = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
        invol = int(status.split("nonvoluntary_ctxt_switches:")[1].split()[0])
        key = f"{name}/{task.name}"
        out[key] = (utime, stime, vol, invol)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("row", choices=sorted(ROWS))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--lua", help="another request script (a path) for the row's server")
    args = parser.parse_args()
    if bench.MULTI_CORE:
        bench.os.sched_setaffinity(0, {bench.LOAD_CORE})
    out = bench.WORK / f"probe-{args.row}"
    bench.shutil.rmtree(out, ignore_errors=True)
    (out / "logs").mkdir(parents=True)
    kind, app, env, lua = ROWS[args.row]
    lua = args.lua or lua
    extra = dict(item.split("=", 1) for item in args.env)
    servers = bench.Servers(out / "logs")
    try:
        if kind == "uvicorn":
            server = servers.uvicorn(args.row, app, {**env, **extra})
            server.wait_ready("/")
        else:
            key = "bench_" + secrets.token_hex(12)
            server = servers.toolserver(
                args.row, plugins_dir=bench.BENCH / "plugins", data_dir=out / "data", api_key=key,
                extra_env=extra,
            )  # fmt: skip
            server.wait_ready("/healthz")
        row = bench.HttpRow(args.row, args.row, lua, server)
        problem = bench.verified(bench.wrk(row, 3, 32))
        if problem:
            sys.exit(f"error: {problem}")
        before = threads(server.process.pid)
        result = bench.wrk(row, args.seconds, 32)
        after = threads(server.process.pid)
        n = result["requests"]
        print(f"{args.row} {extra or ''}: {result['rps']:,.0f} req/s p50 {result['p50_ms']} ms "
              f"p99 {result['p99_ms']} ms ({n} requests)")  # fmt: skip
        total = [0, 0, 0, 0]
        for name, a in sorted(after.items()):
            b = before.get(name, (0, 0, 0, 0))
            d = [x - y for x, y in zip(a, b)]
            total = [t + x for t, x in zip(total, d)]
            if any(d):
                print(f"  {name:28} user {d[0] / TICK / n * 1e6:6.1f} µs  sys {d[1] / TICK / n * 1e6:6.1f} µs"
                      f"  vcsw {d[2] / n:5.2f}  icsw {d[3] / n:5.2f}")  # fmt: skip
        print(f"  {'total':28} user {total[0] / TICK / n * 1e6:6.1f} µs  sys {total[1] / TICK / n * 1e6:6.1f} µs"
              f"  vcsw {total[2] / n:5.2f}  icsw {total[3] / n:5.2f}")  # fmt: skip
    finally:
        servers.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
