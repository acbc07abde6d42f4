# What the store conformance suite talks to: one synchronous facade per kind
# of store, so that the same test cases run against every store whatever its
# colour (a blocking store, an async one behind its driver's transport).
#
# A facade factory is a no-argument context manager that yields a facade on
# a store of its own, empty on entry, and removes whatever it created on exit
# (a temporary file, a table, its Redis keys). When the service it needs is
# unreachable, the factory calls service_unavailable() with the reason.
#
# A facade must be safe to call from many threads at once: the suite runs 50
# threads against one facade.
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, Protocol

import pytest

from sansio_session._store import StoredRecord

__all__ = [
    "POSTGRES_URL",
    "ManualClock",
    "StoreFacade",
    "SyncStoreFacade",
    "service_unavailable",
]

#: The PostgreSQL server the tests use; its database must be one the tests may
#: create and drop tables in.
POSTGRES_URL = os.environ.get("SANSIO_SESSION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test for want of a service, except under CI=true, where it fails."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: services must be available)", pytrace=False)
    pytest.skip(reason)


class StoreFacade(Protocol):
    """The store protocol, made synchronous, plus what the suite must know."""

    #: Moves the store's clock forward by that many seconds, or None when the
    #: store keeps real time (the suite then waits instead, at most once).
    advance: Callable[[float], None] | None
    #: The clock the store measures expiry by (time.time for real time).
    clock: Callable[[], float]
    #: False when the store refuses ids above a size limit of its own with
    #: StoreError (PostgreSQL's btree caps an index entry near 2.7 KB).
    long_ids: bool

    def get(self, sid: str) -> StoredRecord | None: ...

    def set(self, sid: str, record: str, ttl: int) -> None: ...

    def touch(self, sid: str, record: str, ttl: int) -> None: ...

    def destroy(self, sid: str) -> None: ...

    def all(self) -> dict[str, str]: ...

    def length(self) -> int: ...

    def clear(self) -> None: ...


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SyncStoreFacade:
    """A facade over a synchronous store (memory, SQLite, PostgreSQL).

    ``serialise`` puts every call under one lock, for a store that is only
    ever called from one thread (MemoryStore is called inline on an event
    loop, never from worker threads).
    """

    def __init__(
        self,
        store: Any,
        clock: ManualClock,
        *,
        long_ids: bool = True,
        serialise: bool = False,
    ) -> None:
        self.store = store
        self.clock: Callable[[], float] = clock
        self.advance: Callable[[float], None] | None = clock.advance
        self.long_ids = long_ids
        self._lock = threading.Lock() if serialise else None

    def _call(self, name: str, *args: Any) -> Any:
        method = getattr(self.store, name)
        if self._lock is None:
            return method(*args)
        with self._lock:
            return method(*args)

    def get(self, sid: str) -> StoredRecord | None:
        got = self._call("get", sid)
        if got is None or isinstance(got, StoredRecord):
            return got
        assert isinstance(got, str), f"get() returned {type(got).__name__}"
        return StoredRecord(got)

    def set(self, sid: str, record: str, ttl: int) -> None:
        assert self._call("set", sid, record, ttl) is None

    def touch(self, sid: str, record: str, ttl: int) -> None:
        assert self._call("touch", sid, record, ttl) is None

    def destroy(self, sid: str) -> None:
        assert self._call("destroy", sid) is None

    def all(self) -> dict[str, str]:
        return dict(self._call("all"))

    def length(self) -> int:
        return int(self._call("length"))

    def clear(self) -> None:
        self._call("clear")
