# Raw HTTP/1.1 over a socket, for requests no HTTP client would send: NUL
# and control bytes, bytes that are not UTF-8, a hundred Cookie lines, a
# header block larger than any server takes.
#
# The request goes out in small pieces, and we look for an answer between
# them: a server that refuses an oversized head answers (or closes) before it
# has read it all, and a peer that closes with our bytes still unread resets
# the connection, which would throw away an answer we had not read yet.
from __future__ import annotations

import re
import select
import socket
from dataclasses import dataclass

__all__ = ["RawResponse", "raw_request", "build_request"]

_PIECE = 4096
_TIMEOUT = 30.0


@dataclass(frozen=True)
class RawResponse:
    """What came back: the parsed answer, or None for a close without one."""

    status: int | None
    headers: list[tuple[bytes, bytes]]
    body: bytes
    #: Everything received, as received.
    raw: bytes

    def header(self, name: bytes) -> list[bytes]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def build_request(method: str, target: str, header_lines: list[bytes], *, host: str = "127.0.0.1") -> bytes:
    """A request head from raw header lines (each without its CRLF)."""
    head = [f"{method} {target} HTTP/1.1".encode(), f"Host: {host}".encode(), b"Connection: close"]
    if method == "POST":
        head.append(b"Content-Length: 0")
    return b"\r\n".join([*head, *header_lines]) + b"\r\n\r\n"


def raw_request(host: str, port: int, data: bytes) -> RawResponse:
    """Send ``data`` as it is and read until the server closes."""
    received = bytearray()
    with socket.create_connection((host, port), timeout=_TIMEOUT) as sock:
        try:
            for start in range(0, len(data), _PIECE):
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break  # an answer (or a close) before we finished: read it
                sock.sendall(data[start : start + _PIECE])
            while True:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass  # what we have is what the server sent before it reset
    return _parse(bytes(received))


def _parse(raw: bytes) -> RawResponse:
    head, sep, body = raw.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not sep or match is None:
        return RawResponse(None, [], b"", raw)
    headers = []
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        headers.append((key.strip(), value.strip()))
    return RawResponse(int(match.group(1)), headers, body, raw)
