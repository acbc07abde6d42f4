"""Whole-stack instructions per request, under valgrind: each driver bare and
with sessions on the memory store, in the three traffic shapes.

    python bench/instructions.py [--requests 500] [--frameworks tornado,twisted,trio,trio-serve]

Each server runs under callgrind and is sent a warm-up, then a fixed number
of requests of one shape, one after another on one keep-alive connection
(the client is syscalls.requests); callgrind_control dumps the counters
around each batch. Instructions do not move with the other load on the
machine the way requests per second and CPU time do, so this is the
steady companion of bench/run.py's timed figures on a shared machine: the
same ratio, 1 - bare / with sessions, taken from instructions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import syscalls
from prereqs import debian_tool
from servers import OTHER_COOKIES, SHAPES, Server, frameworks, free_port

BENCH = Path(__file__).resolve().parent
WARMUP = 100
# What the bare server is sent for (b) and (c): a cookie of the right shape
# (a bare server never checks its signature).
_SOME_SESSION = "connect.sid=s%3AyWCn7rs-xsX_fqZpgLHXFxc2ObxC2Jpm.ysk80tWJB62a62E4XDmayJSc9H6ZFqoIloqb6ZsazT8"


def _dump(server: Server) -> None:
    # callgrind_control asks the running program for a dump; valgrind sees
    # the request only when the program runs, so it is woken with requests
    # (the odd extra one lands in the batch that follows, a rounding error).
    control = subprocess.Popen(
        ["callgrind_control", "--dump", str(server.pid)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while control.poll() is None:
        with contextlib.suppress(OSError):
            syscalls.requests(server.port, SHAPES["a"], OTHER_COOKIES, 1)
        time.sleep(0.05)


def _counts(folder: Path, pid: int) -> list[int]:
    # One file per dump, callgrind.<pid>.1, .2, ...; the last, at exit, has no number.
    def order(path: Path) -> int:
        tail = path.name.rsplit(".", 1)[1]
        return int(tail) if tail.isdigit() else 1 << 30

    found = []
    for path in sorted(folder.glob(f"callgrind.{pid}*"), key=order):
        match = re.search(r"^summary: (\d+)", path.read_text(errors="replace"), re.M)
        found.append(int(match.group(1)) if match else 0)
    return found


def measure(key: str, variant: str, requests: int, folder: Path) -> dict[str, float]:
    """Instructions per request of one server, for each shape."""
    fw = next(f for f in frameworks(with_serve=True) if f.key == key)
    port = free_port()
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={folder}/callgrind.%p",
        *fw.command(variant, port, "", ""),
    ]
    server = Server(argv, port, cpu=None)
    server.start(folder)
    try:
        server.wait_ready(timeout=180)
        session = _SOME_SESSION if variant == "bare" else server.login()
        for shape in SHAPES:
            cookie = OTHER_COOKIES if shape == "a" else OTHER_COOKIES + "; " + session
            syscalls.requests(port, SHAPES[shape], cookie, WARMUP)
            _dump(server)
            syscalls.requests(port, SHAPES[shape], cookie, requests)
            _dump(server)
    finally:
        server.stop()
    counts = _counts(folder, server.pid)
    # The dumps: warm-up (a), (a), warm-up (b), (b), warm-up (c), (c), exit.
    return {shape: counts[2 * i + 1] / requests for i, shape in enumerate(SHAPES)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500, help="requests per shape (default 500)")
    parser.add_argument("--frameworks", default="tornado,twisted,trio,trio-serve")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    if debian_tool("valgrind", "valgrind") is None:
        sys.exit("bench/instructions.py needs valgrind")
    rows: list[dict[str, Any]] = []
    print(f"instructions per request under callgrind, {args.requests} requests per shape\n")
    print(f"{'framework':12} shape   {'bare':>10} {'sessions':>10} {'added':>9}  ratio")
    with tempfile.TemporaryDirectory() as tmp:
        for key in args.frameworks.split(","):
            bare = measure(key, "bare", args.requests, Path(tmp))
            mine = measure(key, "memory", args.requests, Path(tmp))
            for shape in SHAPES:
                ratio = 1 - bare[shape] / mine[shape]
                rows.append(
                    {
                        "framework": key,
                        "shape": shape,
                        "bare": bare[shape],
                        "memory": mine[shape],
                        "ratio": ratio,
                    }
                )
                print(
                    f"{key:12} ({shape})   {bare[shape] / 1000:9.1f}K {mine[shape] / 1000:9.1f}K "
                    f"{(mine[shape] - bare[shape]) / 1000:+8.1f}K  {ratio * 100:5.1f}%",
                    flush=True,
                )
    print(f"\npython {sys.version.split()[0]}, valgrind callgrind")
    if args.out is not None:
        args.out.write_text(json.dumps({"requests": args.requests, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
