# The scaling run: 1, 2 and 4 processes of the Tornado app sharing one port
# (SO_REUSEPORT, so the kernel spreads wrk's connections) and one Redis,
# shape (b). Nothing is pinned here: the processes, wrk and Redis share the
# machine's cores, which is the point of the run.
from __future__ import annotations

import statistics
import sys
from pathlib import Path
from typing import Any

from servers import APPS, SHAPES, Server, cookie_headers, free_port, start_all
from wrk import Wrk

PROCESSES = (1, 2, 4)


def run(
    wrk_path: str, *, redis_url: str, prefix: str, logs: Path, seconds: float, rounds: int, pool: int
) -> list[dict[str, Any]]:
    wrk = Wrk(wrk_path, cpu=None)
    rows = []
    try:
        for count in PROCESSES:
            port = free_port()
            argv = [
                sys.executable,
                str(APPS / "tornado_hello.py"),
                "--port",
                str(port),
                "--sessions",
                "redis",
                "--redis-url",
                redis_url,
                "--prefix",
                prefix,
                "--reuse-port",
            ]
            servers = [Server(argv, port, cpu=None) for _ in range(count)]
            try:
                start_all(servers, logs)
                cookies = cookie_headers([servers[0].login() for _ in range(pool)], "b")
                wrk.run(port, SHAPES["b"], min(seconds, 0.3), cookies)
                samples = [wrk.run(port, SHAPES["b"], seconds, cookies) for _ in range(rounds)]
            finally:
                for server in servers:
                    server.stop()
            rows.append(
                {
                    "processes": count,
                    "rps": statistics.median(m.rps for m in samples),
                    "p50_us": statistics.median(m.p50_us for m in samples),
                    "p99_us": statistics.median(m.p99_us for m in samples),
                    "errors": sum(m.errors for m in samples),
                }
            )
    finally:
        wrk.close()
    for row in rows:
        row["speedup"] = row["rps"] / rows[0]["rps"]
    return rows
