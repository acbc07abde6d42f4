# Sessions for the tests of your own handlers.
#
# A test of a handler that needs a logged-in user should not have to go
# through the login form first. create_session() stores a session with the
# data the test chooses and returns the Cookie header that names it;
# read_session() reads back, through the store, what a response's cookie
# names, so a test can check what its request left there.
#
# Neither writes a record by hand. create_session() is one whole request
# through a SessionMachine, as a driver runs it (begin with no cookie, put
# the data in, commit, decide the cookie), so what it stores and signs is
# what the app itself would store and sign: the same record layout, the same
# expiry, the same store key under hash_ids. read_session() is the first half
# of a request (begin with the cookie, load); it stops there, with no
# commit, so reading never saves, touches or destroys anything.
#
# Like sync.py, this module calls a store, which the rest of the core never
# does, and `now` defaults to time.time(): the app under test reads the real
# clock, and a session created at another time would look expired or young
# to it. A test that runs the app on a fixed clock passes the same `now`.
from __future__ import annotations

import inspect
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ._actions import Action, Load
from ._cookie import find_cookie
from ._errors import UsageError
from ._machine import SessionMachine
from ._options import SessionOptions
from ._store import Store
from .sync import run_action

__all__ = ["TestSession", "create_session", "read_session", "acreate_session", "aread_session"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TestSession:
    """A stored session and the cookie that names it, signed with the first secret."""

    # pytest would otherwise try to collect this class from any test module
    # that imports it.
    __test__ = False

    #: The session id (in the store under this id, or its hash with hash_ids).
    id: str
    #: The cookie's name and its value as it goes on the wire (URL-encoded).
    cookie_pair: tuple[str, str]
    #: ``name=value``: the ``Cookie`` header a test client sends.
    cookie_header: str
    #: The whole ``Set-Cookie`` header the app would have sent, with its
    #: attributes, for a client with a cookie jar.
    set_cookie: str


def create_session(
    store: Store,
    options: SessionOptions,
    data: Mapping[str, Any] | None = None,
    *,
    now: float | None = None,
    sid: str | None = None,
) -> TestSession:
    """Store a new session holding ``data`` and return its cookie.

    ``store`` is a synchronous store (use :func:`acreate_session` for one
    whose methods return awaitables). ``now`` is POSIX seconds (default: the
    current time); ``sid`` chooses the id instead of ``options.genid``, and
    must pass ``options.valid_id``. An empty ``data`` stores an empty
    session. A failed store call raises :class:`~sansio_session.StoreError`.
    """
    at = time.time() if now is None else now
    machine, save = _start_creating(options, data, at, sid)
    _run(machine, store, save, "acreate_session")
    return _created(machine, at)


async def acreate_session(
    store: Store,
    options: SessionOptions,
    data: Mapping[str, Any] | None = None,
    *,
    now: float | None = None,
    sid: str | None = None,
) -> TestSession:
    """:func:`create_session` for a store whose methods return awaitables.

    It awaits what the store returns (a coroutine, a Deferred under
    ``Deferred.fromCoroutine``), so it runs in the test's own event loop;
    a synchronous store is called directly.
    """
    at = time.time() if now is None else now
    machine, save = _start_creating(options, data, at, sid)
    await _arun(machine, store, save)
    return _created(machine, at)


def read_session(
    store: Store,
    options: SessionOptions,
    headers: str | Iterable[str],
    *,
    now: float | None = None,
) -> dict[str, Any] | None:
    """The data of the session a cookie names, as the store holds it, or None.

    ``headers`` is a response's ``Set-Cookie`` header or a request's
    ``Cookie`` header, or a list of either (for several ``Set-Cookie``
    headers the last one that names the session cookie counts, as in a
    browser). None when no header names the cookie, when it is the expiring
    cookie of a logout, when its signature does not verify, or when the
    store has no live session under its id. Nothing in the store changes.
    """
    machine, load = _start_reading(options, headers, time.time() if now is None else now)
    if load is None:
        return None
    _run(machine, store, load, "aread_session")
    return _data_of(machine)


async def aread_session(
    store: Store,
    options: SessionOptions,
    headers: str | Iterable[str],
    *,
    now: float | None = None,
) -> dict[str, Any] | None:
    """:func:`read_session` for a store whose methods return awaitables."""
    machine, load = _start_reading(options, headers, time.time() if now is None else now)
    if load is None:
        return None
    await _arun(machine, store, load)
    return _data_of(machine)


# -- the two requests --------------------------------------------------------


def _start_creating(
    options: SessionOptions, data: Mapping[str, Any] | None, now: float, sid: str | None
) -> tuple[SessionMachine, Action]:
    changes: dict[str, Any] = {}
    if sid is not None:
        if not isinstance(sid, str) or not options.valid_id(sid):
            raise UsageError(f"create_session(): the id {sid!r} does not pass options.valid_id")
        changes["genid"] = lambda: sid
    if not data:
        # Without this an empty new session is neither stored nor sent.
        changes["save_uninitialized"] = True
    machine = SessionMachine(replace(options, **changes) if changes else options)
    # A Secure cookie is sent only on a secure request: make this one secure
    # when the cookie must be.
    machine.begin(None, now=now, tls=options.cookie.secure is True, path=options.cookie.path)
    session = machine.session
    assert session is not None  # a new session: no cookie was given
    session.update(data or {})
    save = machine.commit(now)
    if save is None:
        raise UsageError("create_session(): these options store no session (is cookie.max_age 0?)")
    return machine, save


def _created(machine: SessionMachine, now: float) -> TestSession:
    decision = machine.set_cookie(now)
    assert decision is not None  # stored, on a request as secure as the cookie needs
    header = decision.value.split(";", 1)[0]
    name, _, value = header.partition("=")
    return TestSession(
        id=machine.sid, cookie_pair=(name, value), cookie_header=header, set_cookie=decision.value
    )


def _start_reading(
    options: SessionOptions, headers: str | Iterable[str], now: float
) -> tuple[SessionMachine, Load | None]:
    if isinstance(headers, str):
        chosen: str | None = headers
    else:
        # Each Set-Cookie header replaces what an earlier one set.
        chosen = None
        for header in headers:
            if find_cookie(header, options.name) is not None:
                chosen = header
    machine = SessionMachine(options)
    # The begin() of any driver: a Set-Cookie header reads as a Cookie
    # header whose first pair is the cookie (the attributes that follow are
    # pairs of other names, or no pairs at all).
    load = machine.begin(chosen or None, now=now, path=options.cookie.path)
    return machine, load


def _data_of(machine: SessionMachine) -> dict[str, Any] | None:
    session = machine.session
    if session is None or session.is_new:
        return None  # the store had no live session under the id
    return session.to_dict()


# -- one store call, reported to the machine ---------------------------------


# As in sync.py, the machine may answer a report with the next action (the
# merged save after a compare-and-set conflict); we run until it asks for
# nothing more.


def _run(machine: SessionMachine, store: Store, action: Action | None, async_twin: str) -> None:
    while action is not None:
        try:
            result = run_action(store, action)
        except Exception as exc:
            raise machine.store_failed(action, exc) from exc
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()  # a coroutine never awaited would only warn later
            raise UsageError(f"{type(store).__name__} returns awaitables: use {async_twin}()")
        action = machine.store_done(action, result)


async def _arun(machine: SessionMachine, store: Store, action: Action | None) -> None:
    while action is not None:
        try:
            result = run_action(store, action)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            raise machine.store_failed(action, exc) from exc
        action = machine.store_done(action, result)
