# What the Twisted driver tests serve and store: the reactor thread, a
# client-side Server handle and raw-socket helpers, small resources, and
# stores with odd behaviour.
#
# One reactor runs per process, so the global reactor runs in a daemon thread
# (started here unless another suite has started it already) and each test
# serves its own Site on port 0. Stores are called on the reactor thread or
# in the reactor's thread pool, so they talk to the test through threading
# primitives.
#
# Twisted Web's Request and Resource methods carry no type hints yet:
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import asyncio
import http.client
import io
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task, threads
from twisted.web import resource, server
from twisted.web.server import NOT_DONE_YET

from sansio_session import MemoryStore, SessionOptions
from sansio_session_twisted import session_of

SECRET = "a-test-secret-that-is-long-enough"
OPTIONS = SessionOptions(secret=SECRET)


def reactor_thread() -> Any:
    from twisted.internet import reactor as default_reactor

    reactor: Any = default_reactor  # Any: mypy sees no interfaces without a zope plugin
    if not reactor.running:
        thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True)
        thread.start()
        threads.blockingCallFromThread(reactor, lambda: None)  # it is running now
    return reactor


def on_reactor(fn: Callable[..., Any], *args: Any) -> Any:
    return threads.blockingCallFromThread(reactor_thread(), fn, *args)


class Server:
    def __init__(self, root: Any) -> None:
        self.port = on_reactor(
            lambda: reactor_thread().listenTCP(0, server.Site(root), interface="127.0.0.1")
        )
        self.cookie: str | None = None

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One exchange, keeping the session cookie like a browser."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port.getHost().port, timeout=30)
        sent = dict(headers or {})
        if self.cookie is not None:
            sent["Cookie"] = self.cookie
        conn.request(method, path, headers=sent)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        got = {k.lower(): v for k, v in response.getheaders()}
        if "set-cookie" in got:
            self.cookie = got["set-cookie"].split(";", 1)[0]
        return response.status, got, body

    def close(self) -> None:
        on_reactor(self.port.stopListening)


def send_raw(site: Server, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", site.port.getHost().port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
    return sock


def arrived(sock: socket.socket) -> bytes:
    """What the client has received so far, without waiting for more."""
    chunks = []
    sock.setblocking(False)
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    sock.settimeout(30)
    return b"".join(chunks)


def until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def two_turns() -> defer.Deferred[None]:
    # Two reactor turns, with at least one round of socket writes between:
    # whatever the server had written by now has reached the client (on
    # loopback, a send lands in the peer's buffer before it returns).
    reactor = reactor_thread()

    def second() -> defer.Deferred[None]:
        return task.deferLater(reactor, 0, lambda: None)

    return task.deferLater(reactor, 0, second).addCallback(lambda _: None)


class _Canned:
    # Enough of a socket for http.client.HTTPResponse to parse bytes.

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str, *args: Any) -> io.BytesIO:
        return io.BytesIO(self.data)


def parse_response(data: bytes) -> http.client.HTTPResponse:
    """A whole HTTP/1.1 response, received as bytes, parsed."""
    response = http.client.HTTPResponse(_Canned(data))  # type: ignore[arg-type]
    response.begin()
    return response


# -- resources --------------------------------------------------------------


class Counter(resource.Resource):
    """GET only: counts views in the session, returns bytes."""

    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        session = session_of(request)
        assert session is not None
        session["views"] = session.get("views", 0) + 1
        return b"views=%d" % session["views"]


class Streamed(resource.Resource):
    """Writes a part now and the rest later: NOT_DONE_YET, chunked, or with
    a Content-Length when `length` is set."""

    isLeaf = True

    def __init__(self, length: bool = False) -> None:
        super().__init__()
        self.length = length

    def render_GET(self, request: server.Request) -> object:
        session = session_of(request)
        assert session is not None
        session["streamed"] = True
        if self.length:
            request.setHeader(b"content-length", b"11")
        request.write(b"hello ")

        def rest() -> None:
            request.write(b"world")
            request.finish()

        reactor_thread().callLater(0, rest)
        return NOT_DONE_YET


class Boom(resource.Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        session = session_of(request)
        assert session is not None
        session["before"] = "boom"
        raise ValueError("a detail that must not reach the client")


class Redirect(resource.Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> object:
        session = session_of(request)
        assert session is not None
        session["went"] = "away"
        request.redirect(b"/elsewhere")
        request.finish()  # no write at all: the headers go out in finish()
        return NOT_DONE_YET


class Optional(resource.Resource):
    """Says whether there is a session at all."""

    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        return b"none" if session_of(request) is None else b"some"


def directory(**children: Any) -> resource.Resource:
    """A plain Resource with these children (the keyword is the path segment)."""
    root = resource.Resource()
    for name, child in children.items():
        # Any: without a zope plugin mypy cannot see that a Resource is an IResource.
        root.putChild(name.encode(), child)
    return root


def tree() -> resource.Resource:
    gzipped = resource.EncodingResourceWrapper(Counter(), [server.GzipEncoderFactory()])
    branch = directory(count=Counter(), stream=Streamed())
    return directory(a=branch, boom=Boom(), redirect=Redirect(), gzip=gzipped)


# -- stores -----------------------------------------------------------------


class ThreadStore(MemoryStore):
    """A store that says it blocks; remembers which threads called it."""

    blocking = True

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()

    def get(self, sid: str, **kwargs: Any) -> Any:
        self.threads.add(threading.current_thread().name)
        return super().get(sid, **kwargs)

    def set(self, sid: str, record: str, ttl: int, **kwargs: Any) -> None:
        self.threads.add(threading.current_thread().name)
        super().set(sid, record, ttl, **kwargs)


class BrokenStore(MemoryStore):
    """Fails loads ("get") or saves ("set") with an error that holds a secret."""

    def __init__(self, fail: str) -> None:
        super().__init__()
        self.fail = fail

    def _check(self, op: str) -> None:
        if self.fail == op:
            raise RuntimeError("connection to db password=hunter2 refused")

    def get(self, sid: str, **kwargs: Any) -> Any:
        self._check("get")
        return super().get(sid, **kwargs)

    def set(self, sid: str, record: str, ttl: int, **kwargs: Any) -> None:
        self._check("set")
        super().set(sid, record, ttl, **kwargs)

    def replace(self, sid: str, record: str, ttl: int, expected: str, **kwargs: Any) -> Any:
        self._check("set")  # the save of a loaded session
        return super().replace(sid, record, ttl, expected, **kwargs)


class RacedStore(MemoryStore):
    """Another request saves the session just before this one's first replace()."""

    def __init__(self) -> None:
        super().__init__()
        self.replaces = 0

    def replace(self, sid: str, record: str, ttl: int, expected: str, **kwargs: Any) -> Any:
        self.replaces += 1
        if self.replaces == 1:
            theirs = json.loads(expected)
            theirs["theirs"] = "kept"
            super().set(sid, json.dumps(theirs), ttl)
        return super().replace(sid, record, ttl, expected, **kwargs)


class HeldStore:
    """Returns Deferreds; set() answers only when the test says so."""

    blocking = False

    def __init__(self) -> None:
        self.data = MemoryStore()
        self.set_called = threading.Event()
        self.pending: list[defer.Deferred[None]] = []

    def get(self, sid: str) -> defer.Deferred[Any]:
        return defer.succeed(self.data.get(sid))

    def set(self, sid: str, record: str, ttl: int) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        d.addCallback(lambda _: self.data.set(sid, record, ttl))
        self.pending.append(d)
        self.set_called.set()
        return d

    def touch(self, sid: str, ttl: int) -> defer.Deferred[None]:
        self.data.touch(sid, ttl)
        return defer.succeed(None)

    def destroy(self, sid: str) -> defer.Deferred[None]:
        self.data.destroy(sid)
        return defer.succeed(None)


class HangingStore(MemoryStore):
    """get() never answers: a Deferred that only a cancel ends."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelled = threading.Event()

    def get(self, sid: str, *, now: float | None = None) -> Any:
        return defer.Deferred(lambda _: self.cancelled.set())


class AsyncStore:
    """An asyncio store: coroutine methods that need an asyncio Task."""

    blocking = False

    def __init__(self) -> None:
        self.data = MemoryStore()

    async def get(self, sid: str) -> Any:
        await asyncio.sleep(0.001)  # needs a running asyncio loop
        return self.data.get(sid)

    async def set(self, sid: str, record: str, ttl: int) -> None:
        await asyncio.sleep(0.001)  # needs a running asyncio loop
        self.data.set(sid, record, ttl)

    async def touch(self, sid: str, ttl: int) -> None:
        await asyncio.sleep(0.001)  # needs a running asyncio loop
        self.data.touch(sid, ttl)

    async def destroy(self, sid: str) -> None:
        await asyncio.sleep(0.001)  # needs a running asyncio loop
        self.data.destroy(sid)
