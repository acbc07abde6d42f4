"""The whole-stack benchmark: every driver against its bare framework, the
peers against theirs, the core against its floor, the Redis store against
redis-py, a scaling run and a system-call count, in one run.

    python bench/run.py            the full run (about twelve minutes)
    python bench/run.py --quick    the same figures, fewer and shorter (under two minutes)

It prints one table, says which targets of the performance issue are met,
and writes every figure to bench/results/<timestamp>.json (bench/plot.py
draws them). docs/performance.rst describes the method.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import report
import scaling
import syscalls
from prereqs import debian_tool, say
from servers import (
    SHAPES,
    Framework,
    Server,
    clean_redis,
    cookie_headers,
    frameworks,
    free_port,
    redis_reason,
    start_all,
)
from wrk import Wrk

BENCH = Path(__file__).resolve().parent
REDIS_URL = "redis://127.0.0.1:6379/9"
# Sessions per server: more than wrk's connections, so that no two requests
# in flight name the same session (see wrk.py).
POOL = 64


def plan(quick: bool) -> dict[str, Any]:
    if quick:
        return {
            "seconds": 0.4,
            "rounds": 3,
            "warmup": 0.15,
            "strace_requests": 300,
            "core_number": 4000,
            "core_rounds": 3,
            "redis_pairs": 400,
            "redis_rounds": 2,
            "scale_seconds": 0.6,
            "scale_rounds": 1,
        }
    return {
        "seconds": 2.0,
        "rounds": 5,
        "warmup": 0.5,
        "strace_requests": 1000,
        "core_number": 20000,
        "core_rounds": 7,
        "redis_pairs": 1000,
        "redis_rounds": 5,
        "scale_seconds": 2.0,
        "scale_rounds": 3,
    }


class Matrix:
    """Every (framework, variant) server, its sessions' cookies and its rounds."""

    def __init__(self, fws: list[Framework], prefix: str, logs: Path) -> None:
        self.fws = fws
        self.servers: dict[tuple[str, str], Server] = {}
        for fw in fws:
            for variant in fw.variants:
                port = free_port()
                self.servers[fw.key, variant] = Server(fw.command(variant, port, REDIS_URL, prefix), port)
        self.cookies: dict[tuple[str, str], list[str]] = {}
        try:
            start_all(list(self.servers.values()), logs)
            for (key, variant), server in self.servers.items():
                if variant != "bare":
                    self.cookies[key, variant] = [server.login() for _ in range(POOL)]
        except BaseException:
            self.stop()
            raise
        for fw in fws:
            # The bare server gets the same Cookie headers as the first
            # session variant: the framework's own parse costs both alike.
            self.cookies[fw.key, "bare"] = self.cookies[fw.key, fw.variants[1]]
        self.samples: dict[tuple[str, str, str], list[dict[str, float]]] = {}

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def one(self, wrk: Wrk, key: str, variant: str, shape: str, seconds: float) -> dict[str, float]:
        server = self.servers[key, variant]
        before = server.cpu_seconds()
        measured = wrk.run(
            server.port, SHAPES[shape], seconds, cookie_headers(self.cookies[key, variant], shape)
        )
        cpu = server.cpu_seconds() - before
        sample = {**measured.as_json(), "cpu_us": cpu / max(measured.requests, 1) * 1e6}
        if measured.errors:
            say(f"  {key} {variant} ({shape}): {measured.errors} errors")
        if server.process is not None and server.process.poll() is not None:
            raise RuntimeError(f"{key} {variant} ended: {server.log.read_text()[-2000:]}")
        return sample

    def run(self, wrk: Wrk, seconds: float, rounds: int, warmup: float) -> None:
        for fw in self.fws:
            for variant in fw.variants:
                for shape in SHAPES:
                    self.one(wrk, fw.key, variant, shape, warmup)
        for number in range(rounds):
            say(f"round {number + 1}/{rounds}")
            for fw in self.fws:
                for shape in SHAPES:
                    # bare and with-sessions back to back, in an order that
                    # turns each round so no variant always goes first.
                    turn = number % len(fw.variants)
                    for variant in fw.variants[turn:] + fw.variants[:turn]:
                        sample = self.one(wrk, fw.key, variant, shape, seconds)
                        self.samples.setdefault((fw.key, variant, shape), []).append(sample)


def core_cost(number: int, rounds: int) -> dict[str, float]:
    import core

    options, store, cookie = core.make_world()
    fns = {
        "floor": core.make_floor(store, cookie),
        "a": lambda: core.request(options, store, core.OTHER_COOKIES, core.ignore),
        "b": lambda: core.request(options, store, cookie, core.read),
        "c": lambda: core.request(options, store, cookie, core.write),
    }
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        core.per_call_us(fn, number // 10)
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(core.per_call_us(fn, number))
    return {name: statistics.median(values) for name, values in samples.items()}


def redis_round_trip(pairs: int, rounds: int) -> dict[str, float]:
    import redis_roundtrip

    found: dict[str, list[float]] = {name: [] for name in redis_roundtrip.CLIENTS}
    for _ in range(rounds):
        for name in redis_roundtrip.CLIENTS:
            p50 = redis_roundtrip._one(name, REDIS_URL, pairs)
            if p50 is not None:
                found[name].append(p50)
    return {name: statistics.median(values) for name, values in found.items() if values}


def syscall_check(matrix: Matrix, strace: str, number: int) -> list[dict[str, Any]]:
    rows = []
    for fw in matrix.fws:
        if not fw.ours:
            continue
        measured: dict[str, syscalls.Count] = {}
        for variant, shape in (
            ("bare", "b"),
            ("memory", "a"),
            ("memory", "b"),
            ("redis", "a"),
            ("redis", "b"),
        ):
            server = matrix.servers.get((fw.key, variant))
            if server is None:
                continue
            cookie = cookie_headers(matrix.cookies[fw.key, variant], shape)[0]
            measured[f"{variant}_{shape}"] = syscalls.count(
                strace, server.pid, port=server.port, path=SHAPES[shape], cookie=cookie, number=number
            )
        bare = measured["bare_b"]
        row: dict[str, Any] = {"framework": fw.key, "label": fw.label}
        for name, count in measured.items():
            row[name] = {"total": round(count.total, 2), "writes": round(count.writes, 2)}
            if name != "bare_b":
                row[name]["diff"] = count.minus(bare)
        rows.append(row)
    return rows


@contextlib.contextmanager
def stopping(matrix: Matrix) -> Iterator[Matrix]:
    try:
        yield matrix
    finally:
        matrix.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer, shorter measurements (under two minutes)"
    )
    parser.add_argument("--rounds", type=int, help="rounds of the HTTP matrix")
    parser.add_argument("--seconds", type=float, help="seconds per HTTP measurement")
    parser.add_argument("--out", type=Path, help="the JSON file (default: bench/results/<timestamp>.json)")
    args = parser.parse_args()
    started = time.monotonic()
    settings = plan(args.quick)
    settings.update({k: v for k, v in (("rounds", args.rounds), ("seconds", args.seconds)) if v is not None})

    wrk_path = debian_tool("wrk", "wrk")
    strace = debian_tool("strace", "strace")
    if wrk_path is None:
        raise SystemExit("error: wrk is needed (apt-get install wrk)")
    skipped: dict[str, str] = {}
    fws = []
    for fw in frameworks(with_serve=not args.quick):
        if fw.missing:
            skipped[fw.label] = fw.missing
        else:
            fws.append(fw)
    redis_missing = redis_reason(REDIS_URL)
    if redis_missing:
        skipped["Redis rows"] = redis_missing
        fws = [
            Framework(f.key, f.label, f.argv, tuple(v for v in f.variants if v != "redis"), f.ours)
            for f in fws
        ]
    for name, reason in skipped.items():
        say(f"skipped {name}: {reason}")

    run_id = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
    prefix = f"bench:{run_id}:{os.getpid()}:"
    results: dict[str, Any] = {
        "meta": {
            "mode": "quick" if args.quick else "full",
            "started": run_id,
            "python": sys.version.split()[0],
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
            "wrk": "wrk -t1 -c16 on CPU 0, each server one process on CPU 1",
            "settings": settings,
            "skipped": skipped,
        }
    }
    wrk = Wrk(wrk_path)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-logs-") as logs:
            say("starting the servers")
            with stopping(Matrix(fws, prefix, Path(logs))) as matrix:
                matrix.run(wrk, settings["seconds"], settings["rounds"], settings["warmup"])
                results["http"] = report.http_rows(matrix.fws, matrix.samples)
                if strace:
                    say("counting system calls with strace")
                    results["syscalls"] = syscall_check(matrix, strace, settings["strace_requests"])
            say("the core against its floor")
            results["core"] = core_cost(settings["core_number"], settings["core_rounds"])
            if not redis_missing:
                say("the Redis store's round trip")
                results["redis"] = redis_round_trip(settings["redis_pairs"], settings["redis_rounds"])
                say("scaling: 1, 2 and 4 Tornado processes on one Redis")
                results["scaling"] = scaling.run(
                    wrk_path,
                    redis_url=REDIS_URL,
                    prefix=prefix,
                    logs=Path(logs),
                    seconds=settings["scale_seconds"],
                    rounds=settings["scale_rounds"],
                    pool=POOL,
                )
    finally:
        wrk.close()
        if not redis_missing:
            clean_redis(REDIS_URL, prefix)
    results["targets"] = report.targets(results)
    results["meta"]["seconds"] = round(time.monotonic() - started, 1)
    out = args.out or BENCH / "results" / f"{run_id}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(report.table(results))
    print(f"\nresults: {out} ({results['meta']['seconds']} s)")


if __name__ == "__main__":
    main()
