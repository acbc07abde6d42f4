# One measurement: wrk against one server, for a given time, on its own CPU.
#
# wrk only takes whole seconds, and its main thread sleeps for all of them;
# but SIGINT ends that sleep and wrk reports what it has. So we start it with
# a duration to spare and interrupt it when our own time is up, which gives
# fractional durations for the quick mode. A small Lua script prints the
# figures as one JSON line at the end, latency percentiles included.
#
# Each request carries the next of a pool of Cookie headers, in turn: with
# one session per pool entry, the requests in flight at one moment (one per
# connection) name different sessions, as different users' requests do. Had
# they all named one session, shape (c)'s writes would be parallel writes
# to one record, which the store's compare-and-set turns into retries.
from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

_SCRIPT = r"""
local requests, count, turn = {}, 0, 0

init = function(args)
  for line in io.lines(args[2]) do
    count = count + 1
    requests[count] = wrk.format("GET", args[1], {["Cookie"] = line})
  end
end

request = function()
  turn = turn % count + 1
  return requests[turn]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\n{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_us: float
    p99_us: float
    requests: int
    errors: int

    def as_json(self) -> dict[str, float | int]:
        return asdict(self)


class Wrk:
    """wrk with fixed threads and connections, pinned to ``cpu`` (None: anywhere)."""

    def __init__(self, binary: str, *, threads: int = 1, connections: int = 16, cpu: int | None = 0) -> None:
        self.binary = binary
        self.threads = threads
        self.connections = connections
        self.cpu = cpu
        with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-wrk-", delete=False) as handle:
            handle.write(_SCRIPT)
        self.script = Path(handle.name)

    def close(self) -> None:
        self.script.unlink(missing_ok=True)

    def run(self, port: int, path: str, seconds: float, cookies: list[str]) -> Measurement:
        """``cookies``: the Cookie headers to send in turn, one a request."""
        with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="bench-cookies-") as pool:
            pool.write("".join(cookie + "\n" for cookie in cookies))
            pool.flush()
            return self._run(port, path, seconds, pool.name)

    def _run(self, port: int, path: str, seconds: float, pool: str) -> Measurement:
        url = f"http://127.0.0.1:{port}"
        argv = [
            self.binary,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{int(seconds) + 5}s",
            "--timeout",
            "5s",
            "-s",
            str(self.script),
            url,
            "--",
            path,
            pool,
        ]
        if self.cpu is not None:
            argv = ["taskset", "-c", str(self.cpu), *argv]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(seconds)
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"wrk gave no report for {url}{path}: {err.strip() or out.strip()}")
        report = json.loads(lines[-1])
        seconds_run = report["duration_us"] / 1e6
        return Measurement(
            rps=report["requests"] / seconds_run if seconds_run else 0.0,
            p50_us=float(report["p50_us"]),
            p99_us=float(report["p99_us"]),
            requests=report["requests"],
            errors=report["errors"],
        )
