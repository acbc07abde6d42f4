# What the embeddable server hands a handler, and what it takes back.
#
# Header names are lower case (h11 gives them so) and every header is
# decoded as ISO-8859-1, which maps each byte to one character and back, so
# nothing is lost: `value.encode("latin-1")` is the bytes as sent.
from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

__all__ = ["Request", "Response", "Handler", "request_path"]


def request_path(target: str) -> str:
    """The path of a request target: before the query, without a scheme and host."""
    if not target.startswith("/") and "://" in target:
        # The absolute form (RFC 9112, section 3.2.2), seen from proxies.
        after = target.partition("://")[2]
        target = "/" + after.partition("/")[2] if "/" in after else "/"
    return target.partition("?")[0].partition("#")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One request, read whole: its body is at most the server's body limit.

    ``target`` is the request target as sent; ``path`` is its path and
    ``query`` its query string, both still percent-encoded. ``tls`` says
    the connection is TLS.
    """

    method: str
    target: str
    path: str
    query: str
    http_version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    tls: bool = False

    def header(self, name: str) -> str | None:
        """The first value of the header ``name`` (any casing), or None."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """Every value of the header ``name`` (any casing), in order."""
        name = name.lower()
        return [value for key, value in self.headers if key == name]

    def query_pairs(self) -> list[tuple[str, str]]:
        """The query string decoded into (name, value) pairs, in order."""
        return parse_qsl(self.query, keep_blank_values=True)


@dataclass(frozen=True, slots=True)
class Response:
    """A response. ``body`` is bytes (sent with a Content-Length) or an async
    iterable of bytes (streamed: chunked, unless the headers give a
    Content-Length). ``headers`` are (name, value) pairs.
    """

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes | AsyncIterable[bytes] = b""


#: A handler of the embeddable server.
Handler = Callable[[Request], Awaitable[Response]]
