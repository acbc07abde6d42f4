# What the Tornado driver tests share: stores of each kind that record their
# calls, a real server on a free port, and a client that keeps the cookie.
from __future__ import annotations

import asyncio
import functools
import http.client
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, ParamSpec
from urllib.parse import urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application

from sansio_session import MemoryStore, SessionOptions, StoredRecord

P = ParamSpec("P")

SECRET = "tornado-driver-tests-secret-0123456789"
#: What a failing store raises: nothing of it may reach a client.
LEAK = "password=hunter2 at 10.1.2.3"


def options(**overrides: Any) -> SessionOptions:
    return SessionOptions(secret=SECRET, **overrides)


def aio(test: Callable[P, Coroutine[Any, Any, None]]) -> Callable[P, None]:
    """Run an async test function in a fresh event loop."""

    @functools.wraps(test)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


class RecordingStore:
    """A MemoryStore behind the store protocol that records each call: its op,
    its id and the thread it ran on. An op named in ``fail`` raises."""

    blocking = False

    def __init__(self) -> None:
        self.memory = MemoryStore()
        self.ops: list[tuple[str, str]] = []
        self.threads: list[int] = []
        self.fail: set[str] = set()

    def call(self, op: str, *args: Any) -> Any:
        self.ops.append((op, args[0]))
        self.threads.append(threading.get_ident())
        if op in self.fail:
            raise ConnectionError(f"store refused: {LEAK}")
        return getattr(self.memory, op)(*args)

    def op_names(self) -> list[str]:
        return [op for op, _ in self.ops]

    def get(self, sid: str) -> Any:
        return self.call("get", sid)

    def set(self, sid: str, record: str, ttl: int) -> Any:
        return self.call("set", sid, record, ttl)

    def touch(self, sid: str, ttl: int) -> Any:
        return self.call("touch", sid, ttl)

    def destroy(self, sid: str) -> Any:
        return self.call("destroy", sid)


class InlineStore(RecordingStore):
    """In memory: the driver calls it inline, on the loop."""


class ThreadStore(RecordingStore):
    """Says it blocks: the driver must call it off the loop. An op named in
    ``hold`` waits for ``release`` (a threading.Event)."""

    blocking = True

    def __init__(self) -> None:
        super().__init__()
        self.hold: set[str] = set()
        self.release = threading.Event()

    def call(self, op: str, *args: Any) -> Any:
        if op in self.hold:
            self.release.wait()
        return super().call(op, *args)


class AsyncStore(RecordingStore):
    """Coroutine methods, awaited on the loop. ``hold(op)`` makes that op
    wait (after it is entered) until the returned event is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[str, asyncio.Event] = {}
        self.entered: dict[str, asyncio.Event] = {}

    def hold(self, op: str) -> asyncio.Event:
        self.entered[op] = asyncio.Event()
        gate = self.gates[op] = asyncio.Event()
        return gate

    async def _pass(self, op: str) -> None:
        if op in self.gates:
            self.entered[op].set()
            await self.gates[op].wait()

    async def get(self, sid: str) -> StoredRecord | None:
        await self._pass("get")
        result: StoredRecord | None = self.call("get", sid)
        return result

    async def set(self, sid: str, record: str, ttl: int) -> None:
        await self._pass("set")
        self.call("set", sid, record, ttl)

    async def touch(self, sid: str, ttl: int) -> None:
        await self._pass("touch")
        self.call("touch", sid, ttl)

    async def destroy(self, sid: str) -> None:
        await self._pass("destroy")
        self.call("destroy", sid)


STORE_KINDS: dict[str, Callable[[], RecordingStore]] = {
    "inline": InlineStore,
    "thread": ThreadStore,
    "async": AsyncStore,
}


class Client:
    """An HTTP client that sends back the session cookie it was given."""

    def __init__(self, port: int, scheme: str = "http") -> None:
        self.port = port
        self.base = f"{scheme}://127.0.0.1:{port}"
        self.http = AsyncHTTPClient(force_instance=True)
        self.cookie: str | None = None

    async def fetch(
        self,
        path: str,
        method: str = "GET",
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        **request: Any,
    ) -> HTTPResponse:
        sent = dict(headers or {})
        if self.cookie is not None:
            sent.setdefault("Cookie", self.cookie)
        if method == "POST" and body is None:
            body = b""
        response = await self.http.fetch(
            self.base + path,
            method=method,
            headers=sent,
            body=body,
            raise_error=False,
            follow_redirects=False,
            **request,
        )
        for header in response.headers.get_list("Set-Cookie"):
            pair = header.split(";", 1)[0]
            self.cookie = None if pair.endswith("=") else pair
        return response

    def close(self) -> None:
        self.http.close()


@asynccontextmanager
async def serving(
    routes: list[Any],
    store: Any,
    *,
    session_options: SessionOptions | None = None,
    server: dict[str, Any] | None = None,
    scheme: str = "http",
    **settings: Any,
) -> AsyncIterator[Client]:
    """Serve ``routes`` with sessions on ``store`` at 127.0.0.1 on a free port."""
    app = Application(routes, session_options=session_options or options(), session_store=store, **settings)
    sockets = bind_sockets(0, "127.0.0.1")
    http_server = HTTPServer(app, **(server or {}))
    http_server.add_sockets(sockets)
    client = Client(sockets[0].getsockname()[1], scheme)
    try:
        yield client
    finally:
        client.close()
        http_server.stop()
        await http_server.close_all_connections()


def received_now(sock: socket.socket) -> bytes:
    """Every byte the peer has sent that is already in our socket, without waiting.

    On the loopback interface bytes are in the receiver's buffer as soon as
    the sender's send() returns, so this is what the server has sent so far.
    """
    sock.setblocking(False)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


async def read_until(sock: socket.socket, data: bytes, done: Callable[[bytes], bool]) -> bytes:
    """Read on until ``done(data)``; the socket is non-blocking."""
    loop = asyncio.get_running_loop()
    while not done(data):
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            break
        data += chunk
    return data


def complete_response(data: bytes) -> bool:
    """True once ``data`` holds a whole HTTP/1.1 response (Content-Length or chunked)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    lines = head.decode("latin-1").lower().split("\r\n")
    for line in lines:
        if line.startswith("content-length:"):
            return len(body) >= int(line.split(":", 1)[1])
    if "transfer-encoding: chunked" in lines:
        return body.endswith(b"0\r\n\r\n")
    return False


@contextmanager
def running(args: list[str], cwd: str | None = None) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start ``python *args`` (a server that prints its "listening on URL"
    line), yield the process and the URL, and stop it with SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://"), (line, process.stderr and process.stderr.read())
        yield process, line.split()[-1]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


class SyncClient:
    """A blocking HTTP client that keeps the session cookie."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookie: str | None = None

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, list[str]], bytes]:
        sent = dict(headers or {})
        if self.cookie is not None:
            sent["Cookie"] = self.cookie
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
            received: dict[str, list[str]] = {}
            for name, value in response.getheaders():
                received.setdefault(name.lower(), []).append(value)
        finally:
            connection.close()
        for header in received.get("set-cookie", []):
            pair = header.split(";", 1)[0]
            self.cookie = None if pair.endswith("=") else pair
        return response.status, received, data
