# Test helpers for the trio driver: an h11 client over any trio stream, a
# server on in-memory streams, a stream that records what the server sends,
# and stores that record what the session layer asks of them.
#
# Tests that wait on timeouts run on trio's MockClock with autojump, on
# memory streams, so a 30-second timeout passes in no real time and nothing
# depends on how fast the machine is.
from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import h11
import trio
import trio.testing

from sansio_session import MemoryStore, SessionOptions, StoredRecord
from sansio_session_trio import Handler, Limits, serve_connection

SECRET = "a test secret that is long enough, 32+"

Events = list[tuple[str, Any]]


def counter_genid() -> Callable[[], str]:
    numbers = itertools.count(1)
    return lambda: f"{next(numbers):032d}"


def options(**overrides: Any) -> SessionOptions:
    return SessionOptions(secret=SECRET, genid=counter_genid(), valid_id=lambda sid: True, **overrides)


def run(fn: Callable[[], Awaitable[None]], *, autojump: bool = False) -> None:
    """trio.run, on a MockClock that skips idle time when ``autojump``."""
    clock = trio.testing.MockClock(autojump_threshold=0) if autojump else None
    trio.run(fn, clock=clock)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    @property
    def cookie(self) -> str | None:
        """The name=value part of the Set-Cookie header, to send back."""
        value = self.header("set-cookie")
        return None if value is None else value.split(";", 1)[0]


class Client:
    """An HTTP/1.1 client on one trio stream, built on h11."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def send(
        self, method: str, target: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> None:
        all_headers = [("host", "test"), *headers]
        if body:
            all_headers.append(("content-length", str(len(body))))
        data = self.conn.send(h11.Request(method=method, target=target, headers=all_headers))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)

    async def reply(self) -> Reply:
        head: h11.Response | None = None
        body = b""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(bytes(await self.stream.receive_some()))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
                    self.conn.start_next_cycle()
                headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers]
                return Reply(head.status_code, headers, body)
            else:
                raise AssertionError(f"unexpected {event!r}")

    async def request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
    ) -> Reply:
        await self.send(method, target, headers, body)
        return await self.reply()


async def read_to_end(stream: trio.abc.ReceiveStream) -> bytes:
    """Everything the peer sends until it closes."""
    data = b""
    while chunk := await stream.receive_some():
        data += chunk
    return data


class RecordingStream(trio.abc.HalfCloseableStream):
    """The server's end of a connection, noting each write as ("sent", bytes)."""

    def __init__(self, inner: trio.abc.HalfCloseableStream, events: Events) -> None:
        self.inner = inner
        self.events = events

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.events.append(("sent", bytes(data)))
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def in_memory(
    handler: Handler, *, limits: Limits | None = None, events: Events | None = None
) -> AsyncIterator[Callable[[], trio.abc.HalfCloseableStream]]:
    """Serve ``handler``; each call of the function yielded opens a connection."""
    async with trio.open_nursery() as nursery:

        def connect() -> trio.abc.HalfCloseableStream:
            client, server = trio.testing.memory_stream_pair()
            end: trio.abc.Stream = server if events is None else RecordingStream(server, events)
            nursery.start_soon(lambda: serve_connection(end, handler, limits=limits or Limits()))
            return client

        yield connect
        nursery.cancel_scope.cancel()


class EventStore:
    """A store on a MemoryStore that notes each call, as (op, sid), once it is done.

    It has the four methods of the store protocol and nothing else.
    """

    blocking = False

    def __init__(self, events: Events | None = None) -> None:
        self.memory = MemoryStore()
        self.events: Events = [] if events is None else events

    def get(self, sid: str) -> StoredRecord | None:
        record = self.memory.get(sid)
        self.events.append(("get", sid))
        return record

    def set(self, sid: str, record: str, ttl: int) -> None:
        self.memory.set(sid, record, ttl)
        self.events.append(("set", sid))

    def touch(self, sid: str, ttl: int) -> None:
        self.memory.touch(sid, ttl)
        self.events.append(("touch", sid))

    def destroy(self, sid: str) -> None:
        self.memory.destroy(sid)
        self.events.append(("destroy", sid))
