# System calls per request, counted with strace.
#
# We attach `strace -f -c` to a running server, send it a fixed number of
# requests one after the other on one keep-alive connection (so that no two
# requests share an epoll wakeup and the count per request is the same every
# time), detach, and divide the summary by that number. The difference
# between a server with sessions and the bare one is what the session layer
# costs in system calls; socket writes are counted apart, since a response
# split into two writes is the classic way to add one.
from __future__ import annotations

import signal
import socket
import subprocess
import time
from dataclasses import dataclass

WRITES = frozenset({"write", "writev", "send", "sendto", "sendmsg", "sendmmsg"})


@dataclass(frozen=True)
class Count:
    per_request: dict[str, float]

    @property
    def total(self) -> float:
        return sum(self.per_request.values())

    @property
    def writes(self) -> float:
        return sum(n for name, n in self.per_request.items() if name in WRITES)

    def minus(self, other: Count) -> dict[str, float]:
        names = set(self.per_request) | set(other.per_request)
        diff = {name: self.per_request.get(name, 0.0) - other.per_request.get(name, 0.0) for name in names}
        return {name: round(n, 2) for name, n in sorted(diff.items()) if abs(n) >= 0.05}


def requests(port: int, path: str, cookie: str, number: int) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        buffer = b""
        for _ in range(number):
            sock.sendall(request)
            while True:
                head, sep, rest = buffer.partition(b"\r\n\r\n")
                if sep:
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if len(rest) >= length:
                        buffer = rest[length:]
                        break
                data = sock.recv(65536)
                if not data:
                    raise RuntimeError("the server closed the connection")
                buffer += data


def _parse(summary: str) -> dict[str, int]:
    calls: dict[str, int] = {}
    for line in summary.splitlines():
        fields = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(fields) >= 5 and fields[0].replace(".", "", 1).isdigit() and fields[-1] != "total":
            calls[fields[-1]] = int(fields[3])
    return calls


def count(strace: str, pid: int, *, port: int, path: str, cookie: str, number: int) -> Count:
    """System calls per request of ``number`` requests to ``path``."""
    requests(port, path, cookie, 50)  # warm: connections, caches, lazy imports
    tracer = subprocess.Popen(
        [strace, "-f", "-c", "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert tracer.stderr is not None
    try:
        # strace says "Process N attached" once per thread; the first will do,
        # a little wait catches the rest.
        tracer.stderr.readline()
        time.sleep(0.3)
        requests(port, path, cookie, number)
    finally:
        tracer.send_signal(signal.SIGTERM)  # detaches and prints the summary
        _, summary = tracer.communicate(timeout=30)
    return Count({name: n / number for name, n in _parse(summary).items()})
