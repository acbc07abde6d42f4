# The store protocol, documented once.
#
# A store keeps session records under session ids. The core never calls a
# store: it emits Load / Save / Touch / Destroy actions and a driver turns
# each one into exactly one call below, then reports the result back to the
# machine. Every method may return its result directly (a synchronous store)
# or an awaitable / Deferred resolving to it (an asynchronous store); which
# kinds a driver accepts is up to the driver.
#
# Records are opaque text to a store: the JSON that the core writes, in
# express-session's layout, so that a Node app sharing the store reads it.
# A store that keeps its own expiry (a TTL, an expiry column) reports it back
# from get() through StoredRecord, because a touch moves that expiry without
# rewriting the record (connect-redis's EXPIRE), so the record's own
# cookie.expires may lag behind. A store that returns plain text leaves the
# record's cookie.expires as the only expiry.
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Store", "StoredRecord", "Conflict", "BROWSER_SESSION_TTL"]

#: Seconds a store keeps a session whose cookie has no expiry (a browser-session
#: cookie). One day, as connect-redis does.
BROWSER_SESSION_TTL = 86400


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as a store returns it, with the expiry the store itself keeps.

    ``expires_at`` is POSIX seconds, or None when the store keeps no expiry of
    its own for this record.
    """

    text: str
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Conflict:
    """What ``replace()`` returns when the stored record is not the expected one.

    ``current`` is the record the store holds now (as ``get()`` would return
    it), or None when the session is gone (destroyed by another request).
    """

    current: StoredRecord | str | None


@runtime_checkable
class Store(Protocol):
    """What the drivers call. Each method is one store operation.

    ``get(sid)`` returns the record (``str`` or :class:`StoredRecord`) or
    None when the store has no live record for ``sid``. ``set(sid, record,
    ttl)`` upserts the record text and makes it expire ``ttl`` seconds from
    now. ``touch(sid, ttl)`` only moves the expiry of an existing record to
    ``ttl`` seconds from now; it never rewrites the stored data (nor brings
    back a record that is gone). ``destroy(sid)`` removes the record; removing an absent one
    is not an error. A failure is raised (or the awaitable fails); the
    driver turns it into a :class:`~sansio_session.StoreError`.

    Optional, for parallel requests that must not lose each other's
    changes: ``replace(sid, record, ttl, expected)`` stores the record only if
    the store still holds exactly the text ``expected`` (the record this
    request loaded or last saved), atomically, and otherwise changes nothing
    and returns a :class:`Conflict`; on success it returns None. Drivers
    call it for a Save whose ``expected`` is set, when the store has it.

    Optional, for "log out everywhere": a store that keeps a per-user index
    has ``sessions_of(user) -> list[str]`` (the ids of the user's live
    sessions) and ``destroy_all(user) -> int`` (destroys them, returns how
    many), and its ``set``, ``replace``, ``touch`` and ``destroy`` take a
    keyword ``user=`` (drivers pass it, for a session bound with
    Session.bind, only to stores that have ``sessions_of``).

    Optional methods, never called by the machine: ``all()`` (a mapping of
    id to record text), ``length()`` and ``clear()``.

    A synchronous store that blocks (a socket, a file) sets the class
    attribute ``blocking = True`` so that drivers run it off their event
    loop; an in-memory one sets ``blocking = False`` and is called inline.
    """

    def get(self, sid: str) -> Any: ...

    def set(self, sid: str, record: str, ttl: int) -> Any: ...

    def touch(self, sid: str, ttl: int) -> Any: ...

    def destroy(self, sid: str) -> Any: ...
