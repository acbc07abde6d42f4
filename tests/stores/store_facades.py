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

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

import pytest

from sansio_session._store import Conflict, StoredRecord

__all__ = [
    "POSTGRES_URL",
    "ManualClock",
    "Refused",
    "StoreFacade",
    "SyncStoreFacade",
    "conflict_of",
    "rec",
    "service_unavailable",
    "text_of",
    "user_kwargs",
    "wait",
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

    def set(self, sid: str, record: str, ttl: int, *, user: str | None = None) -> None: ...

    def replace(
        self, sid: str, record: str, ttl: int, expected: str, *, user: str | None = None
    ) -> Refused | None: ...

    def touch(self, sid: str, ttl: int) -> None: ...

    def destroy(self, sid: str, *, user: str | None = None) -> None: ...

    def sessions_of(self, user: str) -> list[str]: ...

    def destroy_all(self, user: str) -> int: ...

    def all(self) -> dict[str, str]: ...

    def length(self) -> int: ...

    def clear(self) -> None: ...


COOKIE = {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"}


def rec(**data: object) -> str:
    """A record as the core writes it: compact JSON with a cookie."""
    return json.dumps({"cookie": COOKIE, **data}, separators=(",", ":"))


def text_of(facade: StoreFacade, sid: str) -> str | None:
    got = facade.get(sid)
    return None if got is None else got.text


def wait(facade: StoreFacade, seconds: float) -> None:
    """Let ``seconds`` pass for the store: move its clock, or sleep."""
    if facade.advance is not None:
        facade.advance(seconds)
    else:
        time.sleep(seconds)


def user_kwargs(user: str | None) -> dict[str, str]:
    # As the drivers call a store: user= only for a bound session.
    return {} if user is None else {"user": user}


@dataclass(frozen=True)
class Refused:
    """A replace() that stored nothing: the Conflict's record, as get() gives it."""

    current: StoredRecord | None


def conflict_of(result: Any) -> Refused | None:
    """A store's replace() result, checked; a Conflict's text record made a StoredRecord."""
    if result is None:
        return None
    assert isinstance(result, Conflict), f"replace() returned {type(result).__name__}"
    current = result.current
    if isinstance(current, str):
        return Refused(StoredRecord(current))
    assert current is None or isinstance(current, StoredRecord)
    return Refused(current)


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

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.store, name)
        if self._lock is None:
            return method(*args, **kwargs)
        with self._lock:
            return method(*args, **kwargs)

    def get(self, sid: str) -> StoredRecord | None:
        got = self._call("get", sid)
        if got is None or isinstance(got, StoredRecord):
            return got
        assert isinstance(got, str), f"get() returned {type(got).__name__}"
        return StoredRecord(got)

    def set(self, sid: str, record: str, ttl: int, *, user: str | None = None) -> None:
        assert self._call("set", sid, record, ttl, **user_kwargs(user)) is None

    def replace(
        self, sid: str, record: str, ttl: int, expected: str, *, user: str | None = None
    ) -> Refused | None:
        return conflict_of(self._call("replace", sid, record, ttl, expected, **user_kwargs(user)))

    def touch(self, sid: str, ttl: int) -> None:
        assert self._call("touch", sid, ttl) is None

    def destroy(self, sid: str, *, user: str | None = None) -> None:
        assert self._call("destroy", sid, **user_kwargs(user)) is None

    def sessions_of(self, user: str) -> list[str]:
        sids = self._call("sessions_of", user)
        assert isinstance(sids, list)
        return sids

    def destroy_all(self, user: str) -> int:
        count = self._call("destroy_all", user)
        assert isinstance(count, int)
        return count

    def all(self) -> dict[str, str]:
        return dict(self._call("all"))

    def length(self) -> int:
        return int(self._call("length"))

    def clear(self) -> None:
        self._call("clear")
