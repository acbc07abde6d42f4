# Synchronous facades over the three Redis transports, for the store
# conformance suite and test_redis_transports.py.
#
# Each transport runs in its own framework's loop on a background thread
# (an asyncio loop for Tornado, the reactor for Twisted, trio.run for trio),
# and every facade method is a blocking call into that loop, safe from any
# number of threads at once. A facade works on a key prefix of its own in
# the test database, so it starts empty, and it deletes its keys on exit.
from __future__ import annotations

import asyncio
import functools
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from store_facades import Refused, conflict_of, service_unavailable, user_kwargs

from sansio_session._store import StoredRecord
from sansio_session.redis import DEFAULT_TIMEOUT, Backoff, parse_redis_url

_ROOT = Path(__file__).resolve().parents[2]
for _driver in ("tornado", "twisted", "trio"):
    # The driver packages may not be installed in this environment.
    _where = str(_ROOT / "integrations" / _driver)
    if _where not in sys.path:
        sys.path.append(_where)

__all__ = [
    "REDIS_FACADES",
    "REDIS_URL",
    "RedisFacade",
    "require_redis",
    "tornado_facade",
    "trio_facade",
    "twisted_facade",
]

#: The Redis database the tests use; keys go under prefixes of their own.
REDIS_URL = os.environ.get("SANSIO_SESSION_TEST_REDIS", "redis://127.0.0.1:6379/9")


@functools.cache
def _redis_problem() -> str | None:
    url = parse_redis_url(REDIS_URL)
    try:
        with socket.create_connection((url.host, url.port), timeout=3):
            return None
    except OSError as exc:
        return f"Redis at {url} unreachable: {exc}"


def require_redis() -> None:
    """Skip (fail under CI=true) when the test Redis server is unreachable."""
    problem = _redis_problem()
    if problem is not None:
        service_unavailable(problem)


class RedisFacade:
    """The store protocol, made synchronous, over one transport's RedisStore.

    ``run(fn, *args)`` runs ``fn(*args)`` in the transport's loop (a
    coroutine function, or for Twisted a function returning a Deferred)
    and returns its result, for tests that need the loop's own concurrency.
    """

    advance: Callable[[float], None] | None = None
    long_ids = True

    def __init__(self, store: Any, call: Callable[..., Any], prefix: str) -> None:
        self.store = store
        self.prefix = prefix
        self.clock: Callable[[], float] = time.time
        self._call = call

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._call(fn, *args)

    def get(self, sid: str) -> StoredRecord | None:
        result: StoredRecord | None = self._call(self.store.get, sid)
        return result

    def set(self, sid: str, record: str, ttl: int, *, user: str | None = None) -> None:
        self._call(functools.partial(self.store.set, **user_kwargs(user)), sid, record, ttl)

    def replace(
        self, sid: str, record: str, ttl: int, expected: str, *, user: str | None = None
    ) -> Refused | None:
        replace = functools.partial(self.store.replace, **user_kwargs(user))
        return conflict_of(self._call(replace, sid, record, ttl, expected))

    def touch(self, sid: str, ttl: int, *, user: str | None = None) -> None:
        self._call(functools.partial(self.store.touch, **user_kwargs(user)), sid, ttl)

    def destroy(self, sid: str, *, user: str | None = None) -> None:
        self._call(functools.partial(self.store.destroy, **user_kwargs(user)), sid)

    def sessions_of(self, user: str) -> list[str]:
        return list(self._call(self.store.sessions_of, user))

    def destroy_all(self, user: str) -> int:
        return int(self._call(self.store.destroy_all, user))

    def all(self) -> dict[str, str]:
        return dict(self._call(self.store.all))

    def length(self) -> int:
        return int(self._call(self.store.length))

    def clear(self) -> None:
        self._call(self.store.clear)


def _prefix(prefix: str | None) -> str:
    return prefix or f"sansio-test:{uuid.uuid4().hex[:12]}:"


@contextmanager
def _cleaning(facade: RedisFacade, clean: bool) -> Iterator[RedisFacade]:
    try:
        yield facade
    finally:
        if clean:
            facade.clear()


@contextmanager
def tornado_facade(
    url: str | None = None,
    *,
    prefix: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    backoff: Backoff | None = None,
    clean: bool = True,
    **options: Any,
) -> Iterator[RedisFacade]:
    """A facade on the Tornado transport, its asyncio loop on a thread."""
    from sansio_session_tornado.redis import RedisStore

    if url is None:
        require_redis()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="tornado-redis", daemon=True)
    thread.start()

    def call(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        async def run() -> Any:
            return await fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), loop).result()

    prefix = _prefix(prefix)
    store = RedisStore(url or REDIS_URL, prefix=prefix, timeout=timeout, backoff=backoff, **options)
    try:
        with _cleaning(RedisFacade(store, call, prefix), clean) as facade:
            yield facade
    finally:
        call(store.close)
        call(_finish_tasks)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


async def _finish_tasks() -> None:
    # What asyncio.run does before closing its loop: end the tasks left
    # over (a reader noticing its closed stream a loop pass later).
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@functools.cache
def _reactor_thread() -> Any:
    # A reactor runs once per process, so one thread serves every facade.
    from twisted.internet import reactor as installed

    reactor: Any = installed
    thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True)
    thread.start()
    return reactor


@contextmanager
def twisted_facade(
    url: str | None = None,
    *,
    prefix: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    backoff: Backoff | None = None,
    clean: bool = True,
    **options: Any,
) -> Iterator[RedisFacade]:
    """A facade on the Twisted transport, on the global reactor's thread."""
    from twisted.internet import threads

    from sansio_session_twisted.redis import RedisStore

    if url is None:
        require_redis()
    reactor = _reactor_thread()

    def call(fn: Callable[..., Any], *args: Any) -> Any:
        return threads.blockingCallFromThread(reactor, fn, *args)

    prefix = _prefix(prefix)
    store = RedisStore(url or REDIS_URL, prefix=prefix, timeout=timeout, backoff=backoff, **options)
    try:
        with _cleaning(RedisFacade(store, call, prefix), clean) as facade:
            yield facade
    finally:
        call(store.close)


@contextmanager
def trio_facade(
    url: str | None = None,
    *,
    prefix: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    backoff: Backoff | None = None,
    clean: bool = True,
    **options: Any,
) -> Iterator[RedisFacade]:
    """A facade on the trio transport, trio.run on a thread of its own."""
    import trio
    import trio.from_thread

    from sansio_session_trio.redis import RedisStore

    if url is None:
        require_redis()
    prefix = _prefix(prefix)
    store = RedisStore(url or REDIS_URL, prefix=prefix, timeout=timeout, backoff=backoff, **options)
    ready = threading.Event()
    token: list[trio.lowlevel.TrioToken] = []
    stop: list[trio.Event] = []

    async def main() -> None:
        try:
            async with store:
                token.append(trio.lowlevel.current_trio_token())
                stop.append(trio.Event())
                ready.set()
                await stop[0].wait()
        finally:
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), name="trio-redis", daemon=True)
    thread.start()
    ready.wait()

    def call(fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return trio.from_thread.run(fn, *args, trio_token=token[0])

    try:
        with _cleaning(RedisFacade(store, call, prefix), clean) as facade:
            yield facade
    finally:
        trio.from_thread.run_sync(stop[0].set, trio_token=token[0])
        thread.join()


#: The conformance suite's factories: no arguments, an empty store each time.
REDIS_FACADES: dict[str, Callable[[], AbstractContextManager[RedisFacade]]] = {
    "redis-tornado": tornado_facade,
    "redis-twisted": twisted_facade,
    "redis-trio": trio_facade,
}
