# The Redis session store as a Twisted Protocol: Deferreds, on any reactor.
#
# Everything Redis-specific is in sansio_session.redis; this file only moves
# bytes. One connection carries every call: a call writes its commands at
# once (the transport keeps writes in order) and gets a Deferred that
# dataReceived fires, replies matched in order by the RedisProtocol. No
# asyncio reactor is involved. A call that takes longer than `timeout`
# fails with StoreError and drops the connection, since a server that does
# not answer one call will not answer the ones queued behind it either.
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from twisted.internet import defer, endpoints, protocol, ssl, task
from twisted.python.failure import Failure

from sansio_session import ConfigError, Conflict, StoredRecord, StoreError
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
Deferred = defer.Deferred


class _Connection(protocol.Protocol):
    def __init__(self) -> None:
        self.protocol = RedisProtocol()
        self.on_lost: list[Callable[[_Connection], None]] = []
        self._aborted = False

    def request(self, commands: Sequence[Command]) -> Deferred[list[Any]]:
        reply: Deferred[list[Any]] = Deferred()
        try:
            data = self.protocol.send(commands, reply)
        except StoreError as exc:
            return defer.fail(exc)
        transport: Any = self.transport
        transport.write(data)
        return reply

    def dataReceived(self, data: bytes) -> None:
        for reply, outcome in self.protocol.receive(data):
            _resolve(reply, outcome)  # type: ignore[arg-type]
        if self.protocol.broken:
            self.abort("redis sent bytes that are not RESP")

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self._fail("redis connection lost")

    def abort(self, why: str) -> None:
        self._fail(why)
        transport: Any = self.transport
        if not self._aborted and transport is not None:
            self._aborted = True
            transport.abortConnection()

    def _fail(self, why: str) -> None:
        for reply, error in self.protocol.lost(why):
            _resolve(reply, error)  # type: ignore[arg-type]
        callbacks, self.on_lost = self.on_lost, []
        for callback in callbacks:
            callback(self)


class _Call:
    """One call: its result, its timer, and the connection it went out on."""

    def __init__(self, reactor: Any, timeout: float) -> None:
        self.result: Deferred[Any] = Deferred()
        self._conn: _Connection | None = None
        self._timer = reactor.callLater(timeout, self._expire)

    def send(self, conn: _Connection, commands: Sequence[Command]) -> None:
        if not self.result.called:  # else it timed out while connecting
            self._conn = conn
            conn.request(commands).addBoth(self.settle)

    def settle(self, outcome: Any) -> None:
        if self._timer.active():
            self._timer.cancel()
        _resolve(self.result, outcome)

    def _expire(self) -> None:
        # Drop the connection too: nothing should wait behind a dead one.
        _resolve(self.result, StoreError("redis call timed out"))
        if self._conn is not None:
            self._conn.abort("redis call timed out")


class RedisStore:
    """An asynchronous Redis store for Twisted; every method returns a Deferred.

    ``url`` is ``redis://[user:password@]host[:port][/db]`` or ``rediss://``
    (TLS with ``tls_options``, by default ``optionsForClientTLS(host)``).
    Each call, connecting included, fails with StoreError after ``timeout``
    seconds. ``prefix`` is the key prefix (``sess:``, as connect-redis),
    ``user_prefix`` that of the per-user session indexes (by default derived
    from ``prefix``: ``sessu:``), ``client_name`` the name that CLIENT LIST shows, and ``backoff`` paces
    reconnection attempts (by default from 50 ms, doubling, up to 1 s).
    ``reactor`` defaults to the global one; any reactor will do.
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
        tls_options: Any = None,
        backoff: Backoff | None = None,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self._reactor: Any = reactor
        self._url = url if isinstance(url, RedisURL) else parse_redis_url(url)
        self._commands = RedisCommands(prefix, user_prefix)
        self._timeout = check_timeout(timeout)
        self._hello = self._url.hello(client_name)
        endpoint: Any = endpoints.HostnameEndpoint(
            reactor, self._url.host, self._url.port, timeout=self._timeout
        )
        if self._url.tls:
            try:
                options = tls_options or ssl.optionsForClientTLS(self._url.host)
            except (ImportError, NotImplementedError):
                raise ConfigError("rediss:// on Twisted needs pyOpenSSL: install twisted[tls]") from None
            endpoint = endpoints.wrapClientTLS(options, endpoint)
        self._endpoint = endpoint
        self._backoff = backoff or Backoff()
        self._conn: _Connection | None = None
        self._waiting: list[Deferred[_Connection]] = []
        self._closed = False

    def start(self) -> Deferred[None]:
        """Connect now; fails with StoreError if the server cannot be reached."""
        self._closed = False
        call = _Call(self._reactor, self._timeout)
        self._connection().addBoth(call.settle)
        return call.result.addCallback(lambda _: None)

    def close(self) -> Deferred[None]:
        self._closed = True
        if self._conn is not None:
            self._conn.abort("redis store closed")
        return defer.succeed(None)

    def get(self, sid: str) -> Deferred[StoredRecord | None]:
        return self._call(self._commands.get(sid))

    def set(self, sid: str, record: str, ttl: int, *, user: str | None = None) -> Deferred[None]:
        return self._call(self._commands.set(sid, record, ttl, user=user))

    def replace(
        self, sid: str, record: str, ttl: int, expected: str, *, user: str | None = None
    ) -> Deferred[Conflict | None]:
        """Store ``record`` only if the session still holds ``expected`` (one EVAL)."""
        return self._call(self._commands.replace(sid, record, ttl, expected, user=user))

    def touch(self, sid: str, ttl: int, *, user: str | None = None) -> Deferred[None]:
        return self._call(self._commands.touch(sid, ttl, user=user))

    def destroy(self, sid: str, *, user: str | None = None) -> Deferred[None]:
        return self._call(self._commands.destroy(sid, user=user))

    def sessions_of(self, user: str) -> Deferred[list[str]]:
        """The ids of the live sessions bound to ``user``, sorted."""
        return self._call(self._commands.sessions_of(user))

    def destroy_all(self, user: str) -> Deferred[int]:
        """Destroy every session bound to ``user``; how many there were."""
        return self._call(self._commands.destroy_all(user))

    def all(self) -> Deferred[dict[str, str]]:
        return self._walk(self._commands.all())

    def length(self) -> Deferred[int]:
        return self._walk(self._commands.length())

    def clear(self) -> Deferred[None]:
        return self._walk(self._commands.clear())

    @defer.inlineCallbacks
    def _walk(self, walk: Walk[T]) -> Any:
        while (op := walk.next_op()) is not None:
            walk.feed((yield self._call(op)))
        return walk.result

    def _call(self, op: Op[T]) -> Deferred[T]:
        call = _Call(self._reactor, self._timeout)
        if self._conn is not None:
            call.send(self._conn, op.commands)
        else:
            self._connection().addCallbacks(lambda conn: call.send(conn, op.commands), call.settle)
        return call.result.addCallback(lambda replies: op.parse(replies, time.time()))

    def _connection(self) -> Deferred[_Connection]:
        if self._closed:
            return defer.fail(StoreError("redis store closed"))
        if self._conn is not None:
            return defer.succeed(self._conn)
        # One attempt at a time, shared by every call that waits for it.
        waiter: Deferred[_Connection] = Deferred()
        self._waiting.append(waiter)
        if len(self._waiting) == 1:
            delay = self._backoff.wait(time.monotonic())
            attempt = task.deferLater(self._reactor, delay, lambda: None)
            attempt.addCallback(lambda _: defer.ensureDeferred(self._connect()))
            attempt.addBoth(self._connected)
        return waiter

    def _connected(self, outcome: Any) -> None:
        # outcome: the _Connection, or a Failure.
        if not isinstance(outcome, Failure):
            self._backoff.succeeded()
        else:
            self._backoff.failed(time.monotonic())
            if not isinstance(outcome.value, StoreError):
                outcome = StoreError(f"redis: cannot connect to {self._url}")
        waiters, self._waiting = self._waiting, []
        for waiter in waiters:
            _resolve(waiter, outcome)

    async def _connect(self) -> _Connection:
        factory = protocol.Factory.forProtocol(_Connection)
        try:
            conn: _Connection = await self._endpoint.connect(factory)
        except Exception as exc:  # the endpoint's errors vary by reactor and TLS
            raise StoreError(f"redis: cannot connect to {self._url}: {exc}") from None
        conn.on_lost.append(self._lost)
        try:
            if self._hello is not None:
                call = _Call(self._reactor, self._timeout)
                call.send(conn, self._hello.commands)
                self._hello.parse(await call.result, time.time())
            if self._closed:
                raise StoreError("redis store closed")
        except BaseException:
            conn.abort("redis: connection setup failed")
            raise
        self._conn = conn
        return conn

    def _lost(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None


def _resolve(deferred: Deferred[Any], outcome: Any) -> None:
    if deferred.called:
        return
    if isinstance(outcome, (Failure, BaseException)):
        deferred.errback(outcome)
    else:
        deferred.callback(outcome)
