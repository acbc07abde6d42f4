# The driver's vocabulary: what the machine asks a driver to do.
#
# Each store action maps to exactly one store call (Load -> get, Save -> set,
# Touch -> touch, Destroy -> destroy); the driver reports its outcome back with
# SessionMachine.store_done(action, result) or store_failed(action, error).
# SetCookie is the cookie decision: a header to add, no store involved.
# All are frozen: a driver reads them and never needs to change one.
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Action", "Load", "Save", "Touch", "Destroy", "SetCookie"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Base class of the store actions. ``sid`` is the id to pass to the store."""

    sid: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Load(Action):
    """Call ``store.get(sid)``; report the record (or None)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Save(Action):
    """Call ``store.set(sid, record, ttl)``; ``ttl`` is in whole seconds.

    When ``expected`` is not None and the store has ``replace()``, call
    ``store.replace(sid, record, ttl, expected)`` instead: a compare-and-set
    against the record this request started from. Report its result (None,
    or a :class:`~sansio_session.Conflict`) with ``store_done()``, which then
    may return the next Save to run (the request's changes merged into the
    fresher record).
    """

    record: str
    ttl: int
    expected: str | None = None
    #: The user the session is bound to: a store that keeps a per-user index
    #: (it has ``sessions_of``) is passed it as ``user=`` to set/replace.
    user: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Touch(Action):
    """Call ``store.touch(sid, ttl)``: move the expiry only.

    ``record`` is the session's record as it stands (most stores never read
    it, so it is built only when asked for).
    """

    ttl: int
    encode: Callable[[], str] = field(repr=False, compare=False)
    #: The bound user, for stores whose per-user index expires (as for Save).
    user: str | None = None

    @property
    def record(self) -> str:
        return self.encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class Destroy(Action):
    """Call ``store.destroy(sid)`` (with ``user=`` for a bound session, as for Save)."""

    user: str | None = None


@dataclass(frozen=True, slots=True)
class SetCookie:
    """Add ``Set-Cookie: value`` to the response headers."""

    value: str

    @property
    def header(self) -> tuple[str, str]:
        return ("Set-Cookie", self.value)
