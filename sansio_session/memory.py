# MemoryStore: the embedded default store.
#
# Records are kept as the JSON text the core wrote, so what a caller gets
# back is always a fresh copy: a handler's unsaved changes can never leak into
# the store, and nothing the store hands out aliases what it holds. Expiry is
# checked against a clock that is passed in (the core never reads one itself;
# the default here is time.time for real use, tests pass their own).
#
# Unlike express-session's MemoryStore, which "leaks by design", expired
# entries are pruned: on every read of them, and by an amortised sweep that
# runs once every `sweep_every` writes, so a flood of one-off sessions cannot
# grow the dict without bound.
from __future__ import annotations

import time
from collections.abc import Callable

from ._store import Conflict, StoredRecord

__all__ = ["MemoryStore"]


class MemoryStore:
    """A synchronous, in-process store.

    ``clock`` returns POSIX seconds (default :func:`time.time`). Every method
    also takes an optional ``now`` that overrides the clock for that call.
    """

    blocking = False

    def __init__(self, *, clock: Callable[[], float] = time.time, sweep_every: int = 1000) -> None:
        self._clock = clock
        self._records: dict[str, tuple[str, float]] = {}
        self._sweep_every = sweep_every
        self._writes = 0
        #: user id -> the ids of the sessions bound to it (Session.bind).
        self._users: dict[str, set[str]] = {}

    def get(self, sid: str, *, now: float | None = None) -> StoredRecord | None:
        entry = self._records.get(sid)
        if entry is None:
            return None
        text, expires_at = entry
        if expires_at <= (self._clock() if now is None else now):
            self._records.pop(sid, None)
            return None
        return StoredRecord(text, expires_at)

    def set(
        self, sid: str, record: str, ttl: int, *, user: str | None = None, now: float | None = None
    ) -> None:
        if not isinstance(record, str):
            raise TypeError("a record is JSON text (str)")
        now = self._clock() if now is None else now
        if user is not None and ttl > 0:
            self._users.setdefault(user, set()).add(sid)
        if ttl <= 0:
            self._records.pop(sid, None)
            return
        self._records[sid] = (record, now + ttl)
        self._writes += 1
        if self._writes >= self._sweep_every:
            self.prune(now=now)

    def replace(
        self,
        sid: str,
        record: str,
        ttl: int,
        expected: str,
        *,
        user: str | None = None,
        now: float | None = None,
    ) -> Conflict | None:
        """Store ``record`` only if the live record is still ``expected``."""
        now = self._clock() if now is None else now
        entry = self._records.get(sid)
        if entry is None or entry[1] <= now:
            return Conflict(None)
        if entry[0] != expected:
            return Conflict(StoredRecord(entry[0], entry[1]))
        if user is None:
            self.set(sid, record, ttl, now=now)
        else:
            self.set(sid, record, ttl, user=user, now=now)
        return None

    def touch(self, sid: str, ttl: int, *, user: str | None = None, now: float | None = None) -> None:
        # Only the expiry moves; the stored data is kept as it is (a parallel
        # request may have saved newer data than the record this one holds).
        now = self._clock() if now is None else now
        entry = self._records.get(sid)
        if entry is None or entry[1] <= now:
            return
        if ttl <= 0:
            self._records.pop(sid, None)
            return
        self._records[sid] = (entry[0], now + ttl)

    def destroy(self, sid: str, *, user: str | None = None) -> None:
        self._records.pop(sid, None)
        if user is not None:
            self._users.get(user, set()).discard(sid)

    def sessions_of(self, user: str, *, now: float | None = None) -> list[str]:
        """The ids of the live sessions bound to ``user``."""
        now = self._clock() if now is None else now
        sids = self._users.get(user)
        if not sids:
            return []
        live = [sid for sid in sorted(sids) if self.get(sid, now=now) is not None]
        # Forget the ones that expired or were destroyed meanwhile.
        if live:
            self._users[user] = set(live)
        else:
            self._users.pop(user, None)
        return live

    def destroy_all(self, user: str, *, now: float | None = None) -> int:
        """Destroy every session bound to ``user``; return how many there were."""
        live = self.sessions_of(user, now=now)
        for sid in live:
            self._records.pop(sid, None)
        self._users.pop(user, None)
        return len(live)

    def all(self, *, now: float | None = None) -> dict[str, str]:
        self.prune(now=now)
        return {sid: text for sid, (text, _) in list(self._records.items())}

    def length(self, *, now: float | None = None) -> int:
        self.prune(now=now)
        return len(self._records)

    def clear(self) -> None:
        self._records.clear()
        self._users.clear()

    def close(self) -> None:
        """Nothing to release; here so every store can be closed alike."""

    def prune(self, *, now: float | None = None) -> int:
        """Drop every expired record; return how many were dropped."""
        now = self._clock() if now is None else now
        # list(): safe even if another thread writes meanwhile.
        dead = [sid for sid, (_, expires_at) in list(self._records.items()) if expires_at <= now]
        for sid in dead:
            self._records.pop(sid, None)
        self._writes = 0
        return len(dead)
