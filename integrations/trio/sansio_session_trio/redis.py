# The Redis session store on trio streams.
#
# Everything Redis-specific is in sansio_session.redis; this file only moves
# bytes. One connection carries every call: a call writes its commands under
# the connection's send lock (so the bytes go out in the order the
# RedisProtocol expects replies) and waits on an event that the
# connection's reader task sets, replies matched in order. The reader tasks
# live in the store's own nursery, hence `async with RedisStore(...)`.
#
# A call that takes longer than `timeout` fails with StoreError and drops the
# connection, since a server that does not answer one call will not answer
# the ones queued behind it either. A call cancelled from outside only
# abandons its reply, unless the cancel cut a write short: then the stream
# is unusable. Either way a dropped connection is forgotten *before* its
# stream is closed, because an await in a cancelled scope raises at once and
# would skip whatever came after it.
from __future__ import annotations

import ssl
import time
from typing import Any, TypeVar

import trio

from sansio_session import Conflict, StoredRecord, StoreError
from sansio_session.redis import (
    DEFAULT_PREFIX,
    DEFAULT_TIMEOUT,
    Backoff,
    Command,
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


class _Reply:
    __slots__ = ("event", "outcome")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.outcome: list[Any] | StoreError = []


class _Connection:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.protocol = RedisProtocol()
        self.send_lock = trio.Lock()
        self.scope = trio.CancelScope()


class RedisStore:
    """An asynchronous Redis store for trio: ``async with RedisStore(...) as store``.

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
        self._connect_lock = trio.Lock()
        self._nursery: trio.Nursery | None = None
        self._nursery_manager: Any = None

    async def __aenter__(self) -> RedisStore:
        self._nursery_manager = trio.open_nursery()
        self._nursery = await self._nursery_manager.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        await self.close()
        manager, self._nursery_manager = self._nursery_manager, None
        result: bool | None = await manager.__aexit__(*exc_info)
        return result

    async def start(self) -> None:
        """Connect now; raises StoreError if the server cannot be reached."""
        with trio.move_on_after(self._timeout):
            await self._connection()
            return
        raise StoreError("redis: timed out connecting")

    async def close(self) -> None:
        # Dropping the connection stops its reader, so the nursery can exit;
        # cancelling the nursery itself would also cancel the caller's block.
        self._nursery = None
        if self._conn is not None:
            self._drop(self._conn, "redis store closed")

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
        conn = None
        with trio.move_on_after(self._timeout):
            conn = self._conn or await self._connection()
            return op.parse(await self._request(conn, op.commands), time.time())
        if conn is not None:
            self._drop(conn, "redis call timed out")
        raise StoreError("redis call timed out")

    async def _request(self, conn: _Connection, commands: tuple[Command, ...]) -> list[Any]:
        reply = _Reply()
        lock = conn.send_lock
        try:
            # Uncontended, as it nearly always is, the lock is taken without
            # a trip through the scheduler (send_all checkpoints anyway).
            lock.acquire_nowait()
        except trio.WouldBlock:
            await lock.acquire()
        try:
            data = conn.protocol.send(commands, reply)
            try:
                await conn.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._drop(conn, "redis connection lost")
            except BaseException:
                self._drop(conn, "redis write interrupted")
                raise
        finally:
            lock.release()
        await reply.event.wait()
        if isinstance(reply.outcome, StoreError):
            raise reply.outcome
        return reply.outcome

    async def _connection(self) -> _Connection:
        # One attempt at a time: the others wait on the lock, then find the
        # connection made (or make the next attempt, after the backoff).
        async with self._connect_lock:
            if self._conn is not None:
                return self._conn
            await trio.sleep(self._backoff.wait(trio.current_time()))
            try:
                self._conn = await self._connect()
            except BaseException:
                self._backoff.failed(trio.current_time())
                raise
            self._backoff.succeeded()
            return self._conn

    async def _connect(self) -> _Connection:
        closed = StoreError("redis store not open: use `async with RedisStore(...)`")
        nursery = self._nursery
        if nursery is None:
            raise closed
        url = self._url
        try:
            stream: trio.abc.Stream = await trio.open_tcp_stream(url.host, url.port)
            if self._ssl is not None:
                stream = trio.SSLStream(stream, self._ssl, server_hostname=url.host)
                await stream.do_handshake()
        except (OSError, trio.BrokenResourceError) as exc:
            raise StoreError(f"redis: cannot connect to {url}: {exc}") from None
        if self._nursery is not nursery:  # closed while we connected
            await trio.aclose_forcefully(stream)
            raise closed
        conn = _Connection(stream)
        nursery.start_soon(self._read, conn)
        if self._hello is not None:
            try:
                self._hello.parse(await self._request(conn, self._hello.commands), time.time())
            except BaseException:
                self._drop(conn, "redis: connection setup failed")
                raise
        return conn

    async def _read(self, conn: _Connection) -> None:
        with conn.scope:
            try:
                while not conn.protocol.broken:
                    data = await conn.stream.receive_some(65536)
                    if not data:
                        break
                    for reply, outcome in conn.protocol.receive(data):
                        _resolve(reply, outcome)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass  # dropped below, like a clean close or broken framing
            finally:
                self._drop(conn, "redis connection lost")
                await trio.aclose_forcefully(conn.stream)

    def _drop(self, conn: _Connection, why: str) -> None:
        if self._conn is conn:
            self._conn = None
        for reply, error in conn.protocol.lost(why):
            _resolve(reply, error)
        conn.scope.cancel()


def _resolve(reply: Any, outcome: list[Any] | StoreError) -> None:
    reply.outcome = outcome
    reply.event.set()
