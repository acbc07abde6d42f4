"""A soak of the memory store: minutes of new sessions, and the app's memory.

    python bench/soak.py [--driver tornado] [--minutes 3] [--clients 8]
                         [--max-age 2] [--every 10] [--tolerance 0.15]

It starts a driver's reference app on the memory store with a short cookie
``max_age`` (so every session expires seconds after it is made) and has
``--clients`` threads make new sessions as fast as the app serves them
(``GET /`` without a cookie: each request stores one), for ``--minutes``.
Every ``--every`` seconds it prints the app's resident memory (VmRSS from
/proc/PID/status) beside the sessions made so far.

The memory store prunes expired entries when it reads them and in a sweep
every 1000 writes, so the number of live sessions, and with it the memory,
levels off once the first ones expire; a store that kept them would grow
with every request (try ``--max-age 3600`` to see that). The run ends with a
verdict: flat when the highest sample of the second half is within
``--tolerance`` of the highest of the first half (the first sample, taken
before the store filled, is left out). It exits 1 otherwise.

Linux only (/proc). On demand, not in CI: it takes minutes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent


def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_app(driver: str, max_age: int) -> tuple[subprocess.Popen[str], int]:
    config = {"secret": secrets.token_urlsafe(32), "cookie": {"max_age": max_age}}
    # No --store-log: the log would keep an entry for every request.
    command = [
        sys.executable,
        "-m",
        f"sansio_session_{driver}",
        "--port",
        "0",
        "--config",
        json.dumps(config),
    ]
    app = subprocess.Popen(command, cwd=_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert app.stdout is not None
    line = app.stdout.readline()
    if not line.startswith("listening on http://"):
        app.kill()
        raise SystemExit(f"the {driver} app did not start: {line!r}")
    return app, int(line.rsplit(":", 1)[1])


class Clients:
    """Threads making new sessions until stopped; counts what they made."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.made = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._stop.is_set():
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                ok = response.status == 200 and response.getheader("Set-Cookie") is not None
            except (OSError, http.client.HTTPException):
                conn.close()
                ok = False
            with self._lock:
                if ok:
                    self.made += 1
                else:
                    self.errors += 1
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver", default="tornado", choices=["tornado", "twisted", "trio"])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-age", type=int, default=2, help="cookie max_age, seconds")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--tolerance", type=float, default=0.15)
    args = parser.parse_args()

    app, port = start_app(args.driver, args.max_age)
    clients = Clients(port, args.clients)
    samples: list[tuple[float, int, int]] = []
    print(f"{args.driver} app, pid {app.pid}, memory store, max_age {args.max_age} s, {args.clients} clients")
    print(f"{'seconds':>8} {'sessions':>10} {'RSS KiB':>10}")
    began = time.monotonic()
    try:
        clients.start()
        while True:
            elapsed = time.monotonic() - began
            samples.append((elapsed, clients.made, rss_kib(app.pid)))
            print(f"{elapsed:8.0f} {clients.made:10d} {samples[-1][2]:10d}", flush=True)
            if elapsed >= args.minutes * 60:
                break
            time.sleep(min(args.every, max(0.0, args.minutes * 60 - elapsed)))
    finally:
        clients.stop()
        app.terminate()
        app.wait(10)

    settled = [rss for _, _, rss in samples[1:]]
    if len(settled) < 4:
        raise SystemExit("too few samples for a verdict: run longer or sample more often")
    half = len(settled) // 2
    first, second = max(settled[:half]), max(settled[half:])
    growth = second / first - 1
    print(f"{clients.made} sessions, {clients.errors} failed requests")
    print(f"highest RSS: first half {first} KiB, second half {second} KiB ({growth:+.1%})")
    flat = growth <= args.tolerance
    print("flat" if flat else f"growing: more than {args.tolerance:.0%}")
    sys.exit(0 if flat else 1)


if __name__ == "__main__":
    main()
