"""Where a driver's time per request goes: py-spy on a loaded server.

    python bench/hotspots.py tornado|twisted|trio|trio-serve [--shape b]
                             [--store memory] [--seconds 5] [--top 20]

The bare server and the one with sessions are each loaded with wrk (pinned
as in bench/run.py) while py-spy samples them. A server that is saturated
spends its CPU on requests, so a function's share of the samples, times the
server's CPU time per request (from the kernel's schedstat), is its
microseconds per request. We print the session layer's own functions (sansio_session and the
driver package) by time spent inside them, and the functions of the whole
stack whose time grew most from bare to with-sessions: the framework's time
that the driver's hooks cause shows up there, not under our own names.
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import syscalls
from prereqs import debian_tool
from servers import (
    ROOT,
    SHAPES,
    Framework,
    Server,
    clean_redis,
    cookie_headers,
    frameworks,
    free_port,
    start_all,
)
from wrk import Wrk

RATE = 1000
REDIS_URL = "redis://127.0.0.1:6379/9"
PREFIX = "bench:hotspots:"
# What the bare server is sent in --calls mode: a cookie of the right shape
# (its signature does not matter, a bare server never checks it).
_SOME_SESSION = "connect.sid=s%3AyWCn7rs-xsX_fqZpgLHXFxc2ObxC2Jpm.ysk80tWJB62a62E4XDmayJSc9H6ZFqoIloqb6ZsazT8"


def _short(frame: str) -> str:
    # "function (/path/to/file.py:12)" -> "path/from/root/file.py:function"
    name, _, where = frame.rpartition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for base in (
        str(ROOT) + "/integrations/tornado/",
        str(ROOT) + "/integrations/twisted/",
        str(ROOT) + "/integrations/trio/",
        str(ROOT) + "/",
    ):
        if path.startswith(base):
            path = path[len(base) :]
            break
    else:
        path = path.split("site-packages/")[-1].split("/lib/python3")[-1].lstrip("/")
    return f"{path}:{name}"


class Profile:
    def __init__(self, raw: str, requests: int, cpu_us: float) -> None:
        self.requests = requests
        self.cpu_us = cpu_us
        self.inclusive: Counter[str] = Counter()
        self.files: Counter[str] = Counter()  # self time, by the file of the innermost frame
        self.own_time: Counter[str] = Counter()  # self time, by function
        self.samples = 0
        for line in raw.splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack:
                continue
            count = int(count_text)
            frames = stack.split(";")
            self.samples += count
            for name in {_short(frame) for frame in frames}:
                self.inclusive[name] += count
            leaf = _short(frames[-1])
            self.files[leaf.rsplit(":", 1)[0]] += count
            self.own_time[leaf] += count

    def us(self, samples: int) -> float:
        # A share of the samples, times the CPU the server spent per request:
        # a sample counts a running thread, even one the kernel has put aside
        # for another process, so samples alone overstate a busy machine.
        return samples / max(self.samples, 1) * self.cpu_us


def record(pyspy: str, wrk: Wrk, server: Server, *, path: str, cookies: list[str], seconds: float) -> Profile:
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as out:
        spy = subprocess.Popen(
            [
                "taskset",
                "-c",
                "0",
                pyspy,
                "record",
                "-p",
                str(server.pid),
                "-r",
                str(RATE),
                "-f",
                "raw",
                "-F",
                "--full-filenames",
                "--nonblocking",
                "-d",
                str(int(seconds) + 1),
                "-o",
                out.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        before = server.cpu_seconds()
        measured = wrk.run(server.port, path, seconds, cookies)
        cpu_us = (server.cpu_seconds() - before) / max(measured.requests, 1) * 1e6
        spy.wait(timeout=30)
        return Profile(Path(out.name).read_text(), measured.requests, cpu_us)


def calls(
    fw: Framework, variant: str, *, shape: str, cookies: list[str], logs: Path, number: int
) -> pstats.Stats:
    """The server under cProfile for ``number`` requests, one after another."""
    port = free_port()
    argv = fw.command(variant, port, REDIS_URL, PREFIX)
    with tempfile.NamedTemporaryFile(suffix=".prof", delete=False) as out:
        path = Path(out.name)
    server = Server([argv[0], "-m", "cProfile", "-o", str(path), *argv[1:]], port)
    try:
        start_all([server], logs)
        own = cookie_headers([server.login()], shape) if variant != "bare" else cookies[:1]
        syscalls.requests(port, SHAPES[shape], own[0], number)
    finally:
        server.stop()  # SIGTERM: the app returns and cProfile writes its file
    stats = pstats.Stats(str(path))
    path.unlink()
    return stats


def print_calls(bare: pstats.Stats, mine: pstats.Stats, number: int, top: int) -> None:
    def name(key: tuple[str, int, str]) -> str:
        return f"{_short(f'{key[2]} ({key[0]}:{key[1]})')}"

    a: dict[Any, Any] = bare.stats  # type: ignore[attr-defined]
    b: dict[Any, Any] = mine.stats  # type: ignore[attr-defined]
    total_a = sum(v[1] for v in a.values()) / number
    total_b = sum(v[1] for v in b.values()) / number
    print(f"Python function calls per request: bare {total_a:.0f}, with sessions {total_b:.0f}")
    rows = []
    for key in set(a) | set(b):
        was, now = a.get(key, (0, 0, 0.0, 0.0)), b.get(key, (0, 0, 0.0, 0.0))
        rows.append(
            (
                (now[1] - was[1]) / number,
                (now[2] - was[2]) / number * 1e6,
                was[1] / number,
                now[1] / number,
                name(key),
            )
        )
    print(f"\nmost added calls per request (top {top}); own time under cProfile, which inflates it, in us:")
    for extra, own_us, was, now, label in sorted(rows, key=lambda r: -r[0])[:top]:
        print(f"  {extra:+6.1f} calls ({was:.0f} -> {now:.0f})  {own_us:+6.1f} us  {label}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("framework", choices=("tornado", "twisted", "trio", "trio-serve"))
    parser.add_argument("--shape", choices=tuple(SHAPES), default="b")
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument(
        "--calls", type=int, metavar="N", help="count calls under cProfile over N requests instead"
    )
    args = parser.parse_args()
    fw = next(f for f in frameworks(with_serve=True) if f.key == args.framework)
    if args.calls:
        with tempfile.TemporaryDirectory(prefix="bench-logs-") as logs:
            cookies = cookie_headers([_SOME_SESSION], args.shape)
            try:
                mine = calls(
                    fw, args.store, shape=args.shape, cookies=cookies, logs=Path(logs), number=args.calls
                )
                bare = calls(
                    fw, "bare", shape=args.shape, cookies=cookies, logs=Path(logs), number=args.calls
                )
            finally:
                if args.store == "redis":
                    clean_redis(REDIS_URL, PREFIX)
        print(
            f"{fw.label}, shape ({args.shape}), {args.store} store, {args.calls} requests one after another"
        )
        print_calls(bare, mine, args.calls, args.top)
        return
    pyspy = str(Path(sys.executable).parent / "py-spy")
    wrk_path = debian_tool("wrk", "wrk")
    if not Path(pyspy).exists() or wrk_path is None:
        raise SystemExit("error: needs py-spy in the venv (pip install py-spy) and wrk")
    servers = {}
    for variant in ("bare", args.store):
        port = free_port()
        servers[variant] = Server(fw.command(variant, port, REDIS_URL, PREFIX), port)
    wrk = Wrk(wrk_path)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-logs-") as logs:
            start_all(list(servers.values()), Path(logs))
            cookies = cookie_headers([servers[args.store].login() for _ in range(64)], args.shape)
            path = SHAPES[args.shape]
            for server in servers.values():
                wrk.run(server.port, path, 1.0, cookies)
            bare_spy = record(pyspy, wrk, servers["bare"], path=path, cookies=cookies, seconds=args.seconds)
            mine_spy = record(
                pyspy, wrk, servers[args.store], path=path, cookies=cookies, seconds=args.seconds
            )
    finally:
        wrk.close()
        for server in servers.values():
            server.stop()
        if args.store == "redis":
            clean_redis(REDIS_URL, PREFIX)
    print_profile(fw.label, args, bare_spy, mine_spy)


def print_profile(label: str, args: argparse.Namespace, bare: Profile, mine: Profile) -> None:
    print(f"{label}, shape ({args.shape}), {args.store} store; py-spy at {RATE} Hz, us per request")
    print(f"  bare:          {bare.us(bare.samples):7.1f} us/request over {bare.requests} requests")
    print(f"  with sessions: {mine.us(mine.samples):7.1f} us/request over {mine.requests} requests")
    ours_self = sum(c for n, c in mine.own_time.items() if n.startswith("sansio_session"))
    print(f"  self time in sansio_session and the driver: {mine.us(ours_self):.1f} us/request")
    print(f"\nour functions, inclusive (top {args.top}):")
    ours = [(n, c) for n, c in mine.inclusive.most_common() if n.startswith(("sansio_session", "bench/"))]
    for name, count in ours[: args.top]:
        print(f"  {mine.us(count):7.1f}  {name}")
    print(f"\nself time by file, most grown from bare (top {args.top}):")
    by_file = sorted(
        ((mine.us(mine.files[n]) - bare.us(bare.files.get(n, 0)), n) for n in mine.files), reverse=True
    )
    for delta, name in by_file[: args.top]:
        was, now = bare.us(bare.files.get(name, 0)), mine.us(mine.files[name])
        print(f"  {delta:+7.1f}  {name}  ({was:.1f} -> {now:.1f})")
    print(f"\nself time by function, most grown from bare (top {args.top}):")
    by_function = sorted(
        ((mine.us(mine.own_time[n]) - bare.us(bare.own_time.get(n, 0)), n) for n in mine.own_time),
        reverse=True,
    )
    for delta, name in by_function[: args.top]:
        was, now = bare.us(bare.own_time.get(name, 0)), mine.us(mine.own_time[name])
        print(f"  {delta:+7.1f}  {name}  ({was:.1f} -> {now:.1f})")
    print(f"\nthe whole stack, most grown from bare (inclusive, top {args.top}):")
    grown = sorted(
        ((mine.us(mine.inclusive[n]) - bare.us(bare.inclusive.get(n, 0)), n) for n in mine.inclusive),
        reverse=True,
    )
    for delta, name in grown[: args.top]:
        was, now = bare.us(bare.inclusive.get(name, 0)), mine.us(mine.inclusive[name])
        print(f"  {delta:+7.1f}  {name}  ({was:.1f} -> {now:.1f})")


if __name__ == "__main__":
    main()
