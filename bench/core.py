"""The core's cost per request, beside the floor, in the same run.

    python bench/core.py [--rounds 7] [--number 20000]
    python bench/core.py --instructions [--number 500]   (under valgrind)

Shapes (issue 2 section 8): (a) no cookie, the handler ignores the session;
(b) a valid cookie, the handler reads; (c) a valid cookie, the handler writes
one key. All on MemoryStore, driven the way a driver drives the machine.

The floor is the work no session layer can avoid for (b): the split-based
Cookie parse, the stdlib HMAC verify, and the JSON decode of the record and
encode of the data, with nothing around them. Times are CPU time
(process_time), so other load on the machine matters less. Each figure is
the median of several rounds, the shapes and the floor interleaved in every
round.
"""

from __future__ import annotations

import argparse
import hmac
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from binascii import b2a_base64
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sansio_session import CookieOptions, MemoryStore, SessionMachine, SessionOptions
from sansio_session.sync import run_action

SECRET = "a benchmark secret that is long enough to sign"
NOW = 1_800_000_000.0
OTHER_COOKIES = "_ga=GA1.2.1234567890.1234567890; theme=dark"


def make_world() -> tuple[SessionOptions, MemoryStore, str]:
    options = SessionOptions(secret=SECRET, cookie=CookieOptions(max_age=3600))
    store = MemoryStore(clock=lambda: NOW)
    machine = SessionMachine(options)
    machine.begin(None, now=NOW)
    session = machine.session
    assert session is not None
    session["views"] = 1
    session["user"] = "someone@example.com"
    action = machine.commit(NOW)
    assert action is not None
    store.set(action.sid, action.record, action.ttl)  # type: ignore[attr-defined]
    machine.store_done(action)
    decision = machine.set_cookie(NOW)
    assert decision is not None
    cookie = OTHER_COOKIES + "; " + decision.value.split(";", 1)[0]
    return options, store, cookie


def request(
    options: SessionOptions, store: MemoryStore, cookie: str | None, handler: Callable[..., None]
) -> None:
    machine = SessionMachine(options)
    load = machine.begin(cookie, now=NOW)
    if load is not None:
        machine.store_done(load, store.get(load.sid))
    handler(machine)
    action = machine.commit(NOW)
    if action is not None:
        run_action(store, action)
        machine.store_done(action)
    machine.set_cookie(NOW)


# The handlers get the machine: shape (a)'s never asks for the session.
def ignore(machine: SessionMachine) -> None:
    pass


def read(machine: SessionMachine) -> None:
    machine.session["views"]  # type: ignore[index]


_views = itertools.count(2)


def write(machine: SessionMachine) -> None:
    # A new value every time, as the HTTP apps write: an unchanged one would
    # not be saved.
    machine.session["views"] = next(_views)  # type: ignore[index]


def make_floor(store: MemoryStore, cookie: str) -> Callable[[], None]:
    secret = SECRET.encode()
    sid = cookie.rsplit("s%3A", 1)[1].split(".", 1)[0]
    text = store.get(sid).text  # type: ignore[union-attr]

    def floor() -> None:
        # The header parse: split on ";", find our name.
        value = None
        for pair in cookie.split(";"):
            name, _, raw = pair.partition("=")
            if name.strip() == "connect.sid":
                value = raw.strip()
                break
        assert value is not None
        signed = value.replace("%3A", ":").replace("%2F", "/").replace("%2B", "+")[2:]
        sid, mac = signed.rsplit(".", 1)
        # The HMAC verify.
        expected = b2a_base64(hmac.digest(secret, sid.encode(), "sha256"))[:-2]
        hmac.compare_digest(expected, mac.encode())
        # The JSON work: decode the record, encode the data back.
        data = json.loads(text)
        data.pop("cookie")
        json.dumps(data, separators=(",", ":"))

    return floor


def per_call_us(fn: Callable[[], None], number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        fn()
    return (time.process_time() - start) / number * 1e6


def _shapes(options: SessionOptions, store: MemoryStore, cookie: str) -> dict[str, Callable[[], None]]:
    return {
        "floor": make_floor(store, cookie),
        "(a) no cookie, ignores": lambda: request(options, store, OTHER_COOKIES, ignore),
        "(b) cookie, reads": lambda: request(options, store, cookie, read),
        "(c) cookie, writes one key": lambda: request(options, store, cookie, write),
    }


def _instructions(shape: str, number: int) -> int:
    # Instructions executed by the whole process for `number` requests of one
    # shape, counted by valgrind: the same on a quiet and on a busy machine.
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "callgrind.out")
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        command += [sys.executable, __file__, "--run-shape", shape, "--number", str(number)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        match = re.search(r"Collected : (\d+)", done.stderr)
        assert match is not None, done.stderr[-500:]
        return int(match.group(1))


def count_instructions(number: int) -> None:
    """Instructions per request, start-up cancelled out: (I(3n) - I(n)) / 2n."""
    if shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind (Debian package valgrind)")
    per_request = {}
    for shape in _shapes(*make_world()):
        low, high = _instructions(shape, number), _instructions(shape, 3 * number)
        per_request[shape] = (high - low) / (2 * number)
    print(f"{'shape':30} {'instructions':>13} {'x floor':>8}")
    for shape, value in per_request.items():
        print(f"{shape:30} {value:13,.0f} {value / per_request['floor']:8.2f}")
    print(f"python {sys.version.split()[0]}, valgrind callgrind, ({3 * number} - {number}) requests")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under valgrind instead of timing"
    )
    parser.add_argument("--run-shape", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_shape is not None:
        run = _shapes(*make_world())[args.run_shape]
        for _ in range(args.number):
            run()
        return
    if args.instructions:
        count_instructions(min(args.number, 1000))
        return

    shapes = _shapes(*make_world())
    samples: dict[str, list[float]] = {name: [] for name in shapes}
    for fn in shapes.values():  # warm up
        per_call_us(fn, args.number // 10)
    for _ in range(args.rounds):
        for name, fn in shapes.items():
            samples[name].append(per_call_us(fn, args.number))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"{'shape':30} {'µs/request':>11} {'x floor':>8}")
    for name, value in medians.items():
        print(f"{name:30} {value:11.2f} {value / medians['floor']:8.2f}")
    print(f"python {sys.version.split()[0]}, {args.rounds} rounds x {args.number} requests, median")


if __name__ == "__main__":
    main()
