# The Redis session store on Tornado's own sockets (IOStream over asyncio).
#
# Everything Redis-specific is in sansio_session.redis; this file only moves
# bytes. One connection carries every call: a call writes its commands at
# once (IOStream keeps writes in order, so no lock is needed) and waits on a
# future that the connection's read loop resolves, replies matched in order
# by the RedisProtocol. A call that takes longer than `timeout` fails with
# StoreError and drops the connection, since a server that does not answer
# one call will not answer the ones queued behind it either.
from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any, TypeVar

from tornado.iostream import IOStream, StreamClosedError
from tornado.tcpclient import TCPClient

from sansio_session import Conflict, StoredRecord, StoreError
from sansio_session.redis import (
    DEFAULT_PREFIX,
    DEFAULT_TIMEOUT,
    Backoff,
    Op,
    RedisCommands,
    RedisProtocol,
    RedisURL,
    Walk,
    check_timeout,
    parse_redis_url,
)

__all__ = ["RedisStore"]

T = TypeVar("T")


class _Connection:
    def __init__(self, stream: IOStream) -> None:
        self.stream = stream
        self.protocol = RedisProtocol()
        self.reader: asyncio.Future[None] | None = None

    def send(self, op: Op[Any], reply: asyncio.Future[list[Any]]) -> None:
        try:
            self.stream.write(self.protocol.send(op.commands, reply))
        except StreamClosedError:
            # The read loop has not seen the close yet; fail like it would.
            for token, error in self.protocol.lost("redis connection lost"):
                _resolve(token, error)


class RedisStore:
    """An asynchronous Redis store for Tornado; every method is a coroutine.

    ``url`` is ``redis://[user:password@]host[:port][/db]`` or ``rediss://``
    (TLS with ``ssl_context``, by default the system's trusted CAs). Each
    call, connecting included, fails with StoreError after ``timeout``
    seconds. ``prefix`` is the key prefix (``sess:``, as connect-redis),
    ``user_prefix`` that of the per-user session indexes (by default derived
    from ``prefix``: ``sessu:``), ``client_name`` the name that CLIENT LIST shows, and ``backoff`` paces
    reconnection attempts (by default from 50 ms, doubling, up to 1 s).
    """

    blocking = False

    def __init__(
        self,
        url: str | RedisURL = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = DEFAULT_PREFIX,
        user_prefix: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        client_name: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._url = url if isinstance(url, RedisURL) else parse_redis_url(url)
        self._commands = RedisCommands(prefix, user_prefix)
        self._timeout = check_timeout(timeout)
        self._hello = self._url.hello(client_name)
        self._ssl = (ssl_context or ssl.create_default_context()) if self._url.tls else None
        self._backoff = backoff or Backoff()
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        self._closed = False

    async def start(self) -> None:
        """Connect now; raises StoreError if the server cannot be reached."""
        self._closed = False
        await self._connection()

    async def close(self) -> None:
        """Fail what is in flight, close the connection and refuse new calls."""
        self._closed = True
        attempt = self._connecting
        if attempt is not None:
            attempt.cancel()
            await asyncio.wait([attempt])
        conn, self._conn = self._conn, None
        if conn is not None:
            self._drop(conn, "redis store closed")
            if conn.reader is not None:
                await conn.reader

    async def __aenter__(self) -> RedisStore:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def get(self, sid: str) -> StoredRecord | None:
        return await self._call(self._commands.get(sid))

    async def set(self, sid: str, record: str, ttl: int, *, user: str | None = None) -> None:
        await self._call(self._commands.set(sid, record, ttl, user=user))

    async def replace(
        self, sid: str, record: str, ttl: int, expected: str, *, user: str | None = None
    ) -> Conflict | None:
        """Store ``record`` only if the session still holds ``expected`` (one EVAL)."""
        return await self._call(self._commands.replace(sid, record, ttl, expected, user=user))

    async def touch(self, sid: str, ttl: int, *, user: str | None = None) -> None:
        await self._call(self._commands.touch(sid, ttl, user=user))

    async def destroy(self, sid: str, *, user: str | None = None) -> None:
        await self._call(self._commands.destroy(sid, user=user))

    async def sessions_of(self, user: str) -> list[str]:
        """The ids of the live sessions bound to ``user``, sorted."""
        return await self._call(self._commands.sessions_of(user))

    async def destroy_all(self, user: str) -> int:
        """Destroy every session bound to ``user``; how many there were."""
        return await self._call(self._commands.destroy_all(user))

    async def all(self) -> dict[str, str]:
        return await self._walk(self._commands.all())

    async def length(self) -> int:
        return await self._walk(self._commands.length())

    async def clear(self) -> None:
        await self._walk(self._commands.clear())

    async def _walk(self, walk: Walk[T]) -> T:
        while (op := walk.next_op()) is not None:
            walk.feed(await self._call(op))
        return walk.result

    async def _call(self, op: Op[T]) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        conn = self._conn or await self._connection()
        reply: asyncio.Future[list[Any]] = loop.create_future()
        conn.send(op, reply)
        timer = loop.call_at(deadline, self._drop, conn, "redis call timed out")
        try:
            replies = await reply
        finally:
            timer.cancel()
        return op.parse(replies, time.time())

    async def _connection(self) -> _Connection:
        if self._closed:
            raise StoreError("redis store closed")
        if self._conn is not None:
            return self._conn
        # One attempt at a time, shared by every call that waits for it; a
        # waiter that times out must not cancel it for the others.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._connect())
            self._connecting.add_done_callback(self._connected)
        try:
            return await asyncio.wait_for(asyncio.shield(self._connecting), self._timeout)
        except asyncio.TimeoutError:
            raise StoreError(f"redis: timed out connecting to {self._url}") from None

    def _connected(self, attempt: asyncio.Future[_Connection]) -> None:
        self._connecting = None
        if not attempt.cancelled() and attempt.exception() is not None:
            self._backoff.failed(time.monotonic())

    async def _connect(self) -> _Connection:
        await asyncio.sleep(self._backoff.wait(time.monotonic()))
        url = self._url
        try:
            stream = await TCPClient().connect(
                url.host, url.port, ssl_options=self._ssl, timeout=self._timeout
            )
        except (OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            raise StoreError(f"redis: cannot connect to {url}: {exc}") from None
        stream.set_nodelay(True)
        conn = _Connection(stream)
        conn.reader = asyncio.ensure_future(self._read(conn))
        try:
            if self._hello is not None:
                hello: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
                conn.send(self._hello, hello)
                self._hello.parse(await asyncio.wait_for(hello, self._timeout), time.time())
            if self._closed:
                raise StoreError("redis store closed")
        except asyncio.TimeoutError:
            self._drop(conn, "redis: connection setup timed out")
            raise StoreError(f"redis: {url} did not answer the connection setup") from None
        except BaseException:
            self._drop(conn, "redis: connection setup failed")
            raise
        self._conn = conn
        self._backoff.succeeded()
        return conn

    async def _read(self, conn: _Connection) -> None:
        try:
            while not conn.protocol.broken:
                data = await conn.stream.read_bytes(65536, partial=True)
                for reply, outcome in conn.protocol.receive(data):
                    _resolve(reply, outcome)
        except StreamClosedError:
            pass  # closed by either side: dropped below, like broken framing
        finally:
            self._drop(conn, "redis connection lost")

    def _drop(self, conn: _Connection, why: str) -> None:
        if self._conn is conn:
            self._conn = None
        for reply, error in conn.protocol.lost(why):
            _resolve(reply, error)
        conn.stream.close()


def _resolve(reply: Any, outcome: list[Any] | StoreError) -> None:
    if reply.done():
        return
    if isinstance(outcome, StoreError):
        reply.set_exception(outcome)
    else:
        reply.set_result(outcome)
