# Whole requests through the core, with no I/O: a fixed clock, counter ids
# and an in-memory store, so that most tests read as "this request in, these
# actions and this Set-Cookie out".
#
#     out = drive(options(), None, lambda s: s.update(views=1))
#     assert out.ops == ["set"] and out.set_cookie is not None
#
# drive() takes the steps of sansio_session.sync.run_request (the core's own
# synchronous runner) with its sync_executor; streamed() does the same for a
# response whose headers go out before the commit; Client keeps the cookie
# between requests, as a browser would. For the machine-level tests (phases,
# failures in the middle), make a SessionMachine yourself; DeferredExecutor
# leaves an intent's action out for the test to report.
from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from sansio_session import (
    Action,
    CookieOptions,
    SessionMachine,
    SessionOptions,
    SetCookie,
    StoredRecord,
    sign,
)
from sansio_session.memory import MemoryStore
from sansio_session.sync import run_action, sync_executor

__all__ = [
    "SECRET",
    "NOW",
    "EXPRESS_SECRET",
    "Clock",
    "Client",
    "DeferredExecutor",
    "Outcome",
    "RecordingStore",
    "TextStore",
    "attributes",
    "cookie_pair",
    "counter_genid",
    "drive",
    "express",
    "make_id",
    "options",
    "sid_of",
    "signed_cookie",
    "streamed",
]

#: A secret long enough not to draw the short-secret warning.
SECRET = "keyboard cat, but thirty-two chars or more"
NOW = 1000.0

# Handler steps take the session (or None); Any keeps the tests' lambdas short.
Handler = Callable[[Any], Any]
Event = tuple[str, dict[str, Any]]


def make_id(n: int) -> str:
    """The n-th counter id: 32 characters of the default id alphabet."""
    return f"id{n:030d}"


def counter_genid(start: int = 1) -> Callable[[], str]:
    """A genid that returns make_id(start), make_id(start + 1), ..."""
    numbers = itertools.count(start)
    return lambda: make_id(next(numbers))


def options(**overrides: Any) -> SessionOptions:
    """SessionOptions with the test secret and a counter genid.

    ``cookie`` may be a dict of CookieOptions keywords, as in --config.
    """
    values: dict[str, Any] = {"secret": SECRET, "genid": counter_genid()}
    values.update(overrides)
    cookie = values.pop("cookie", None)
    if isinstance(cookie, dict):
        cookie = CookieOptions(**cookie)
    if cookie is not None:
        values["cookie"] = cookie
    return SessionOptions(**values)


def signed_cookie(sid: str, secret: str = SECRET, name: str = "connect.sid") -> str:
    """A Cookie header carrying ``sid``, signed as express-session signs it."""
    return name + "=" + quote("s:" + sign(sid, secret), safe="-_.!~*'()")


def cookie_pair(set_cookie: str) -> str:
    """The ``name=value`` a browser sends back for a Set-Cookie value."""
    return set_cookie.split(";", 1)[0]


def attributes(set_cookie: str) -> dict[str, str]:
    """A Set-Cookie's attributes by lower-case name (flags map to "")."""
    found: dict[str, str] = {}
    for part in set_cookie.split("; ")[1:]:
        name, _, value = part.partition("=")
        found[name.lower()] = value
    return found


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingStore(MemoryStore):
    """A MemoryStore on a hand-moved clock that logs each call by op name.

    Ops named in ``fail`` raise instead of running.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        super().__init__(clock=self.clock)
        self.calls: list[tuple[str, str]] = []
        self.fail: set[str] = set()

    def _call(self, op: str, sid: str) -> None:
        self.calls.append((op, sid))
        if op in self.fail:
            raise ConnectionError(f"{op} failed (test)")

    def get(self, sid: str, *, now: float | None = None) -> StoredRecord | None:
        self._call("get", sid)
        return super().get(sid, now=now)

    def set(self, sid: str, record: str, ttl: int, *, now: float | None = None) -> None:
        self._call("set", sid)
        super().set(sid, record, ttl, now=now)

    def touch(self, sid: str, ttl: int, *, now: float | None = None) -> None:
        self._call("touch", sid)
        super().touch(sid, ttl, now=now)

    def destroy(self, sid: str) -> None:
        self._call("destroy", sid)
        super().destroy(sid)


class TextStore:
    """A store of plain record texts that keeps no expiry of its own, as a
    store returning ``str`` from get() does."""

    blocking = False

    def __init__(self, records: dict[str, str] | None = None) -> None:
        self.data: dict[str, str] = dict(records or {})
        self.calls: list[tuple[str, str]] = []

    def get(self, sid: str) -> str | None:
        self.calls.append(("get", sid))
        return self.data.get(sid)

    def set(self, sid: str, record: str, ttl: int) -> None:
        self.calls.append(("set", sid))
        self.data[sid] = record

    def touch(self, sid: str, ttl: int) -> None:
        self.calls.append(("touch", sid))

    def destroy(self, sid: str) -> None:
        self.calls.append(("destroy", sid))
        self.data.pop(sid, None)


_OP_NAMES = {"Load": "get", "Save": "set", "Touch": "touch", "Destroy": "destroy"}


@dataclass
class Outcome:
    """What one driven request did."""

    value: Any
    set_cookie: str | None
    actions: list[Action]
    store: dict[str, str]
    events: list[Event] = field(default_factory=list)
    machine: SessionMachine | None = None

    @property
    def ops(self) -> list[str]:
        """The store ops in order, by the store's method names."""
        return [_OP_NAMES[type(a).__name__] for a in self.actions]

    @property
    def cookie(self) -> str | None:
        """The Cookie header to send next, or None when no cookie was set."""
        return None if self.set_cookie is None else cookie_pair(self.set_cookie)

    @property
    def event_names(self) -> list[str]:
        return [name for name, _ in self.events]

    def record(self, sid: str) -> dict[str, Any]:
        """The stored record of ``sid``, parsed."""
        parsed: dict[str, Any] = json.loads(self.store[sid])
        return parsed


def _run_handler(machine: SessionMachine, handler_ops: Handler | Sequence[Handler] | None) -> Any:
    # Each step gets the session as it is when the step runs (express's
    # req.session): after regenerate() that is the new one, after destroy() None.
    if handler_ops is None:
        return None
    steps = [handler_ops] if callable(handler_ops) else list(handler_ops)
    value = None
    for step in steps:
        value = step(machine.session)
    return value


class _Run:
    # One request's machine, store and logs, for drive() and streamed().
    def __init__(self, options: SessionOptions, store: Any, now: float) -> None:
        self.store = RecordingStore() if store is None else store
        if isinstance(self.store, RecordingStore):
            self.store.clock.now = now
        self.events: list[Event] = []
        self.actions: list[Action] = []
        self.machine = SessionMachine(
            _with_events(options, self.events), executor=sync_executor(self.store, self.actions)
        )

    def report(self, action: Action | None) -> None:
        """Run a Load or commit action and report it, as a driver does."""
        if action is None:
            return
        self.actions.append(action)
        try:
            result = run_action(self.store, action)
        except Exception as exc:
            raise self.machine.store_failed(action, exc) from exc
        self.machine.store_done(action, result)

    def outcome(self, value: Any, decision: SetCookie | None) -> Outcome:
        store = self.store
        contents = store.all() if isinstance(store, MemoryStore) else dict(getattr(store, "data", {}))
        set_cookie = None if decision is None else decision.value
        return Outcome(value, set_cookie, self.actions, contents, self.events, self.machine)


def _with_events(opts: SessionOptions, events: list[Event]) -> SessionOptions:
    """The same options with an on_event hook that appends to ``events``."""
    previous = opts.on_event

    def record(name: str, detail: dict[str, Any]) -> None:
        events.append((name, detail))
        if previous is not None:
            previous(name, detail)

    return dataclasses.replace(opts, on_event=record)


def drive(
    options: SessionOptions,
    cookie_header: str | None = None,
    handler_ops: Handler | Sequence[Handler] | None = None,
    store: Any = None,
    now: float = NOW,
    *,
    tls: bool = False,
    secure: bool | None = None,
    forwarded_proto: str | None = None,
    path: str = "/",
) -> Outcome:
    """Run one whole buffered request and report what it did.

    ``handler_ops`` is the handler (it gets the session, or None), or a list
    of steps run in order, each given the session as it is then. A
    RecordingStore's clock is moved to ``now``. A store failure raises
    StoreError, as run_request does.
    ``store`` in the result is the store's live contents afterwards.
    """
    # The steps of sansio_session.sync.run_request, kept apart so that each
    # handler step sees the current session and the machine is kept.
    run = _Run(options, store, now)
    load = run.machine.begin(
        cookie_header, now=now, tls=tls, secure=secure, forwarded_proto=forwarded_proto, path=path
    )
    run.report(load)
    value = _run_handler(run.machine, handler_ops)
    run.report(run.machine.commit(now))
    return run.outcome(value, run.machine.set_cookie(now))


def streamed(
    options: SessionOptions,
    cookie_header: str | None,
    before_flush: Handler,
    after_flush: Handler,
    *,
    store: Any = None,
    now: float = NOW,
    flush_at: float | None = None,
    end_at: float | None = None,
    **begin: Any,
) -> Outcome:
    """A streamed response: it begins at ``now``, the handler runs
    ``before_flush``, the headers (and so the cookie decision) go out at
    ``flush_at``, the handler goes on with ``after_flush``, and the commit
    runs at ``end_at``, before the last bytes."""
    flush_at = now if flush_at is None else flush_at
    end_at = flush_at if end_at is None else end_at
    run = _Run(options, store, end_at)
    run.report(run.machine.begin(cookie_header, now=now, **begin))
    value = before_flush(run.machine.session)
    decision = run.machine.set_cookie(flush_at)
    after_flush(run.machine.session)
    run.report(run.machine.commit(end_at))
    return run.outcome(value, decision)


class Client:
    """Requests in a row against one store, keeping the cookie as a browser."""

    def __init__(self, opts: SessionOptions, store: Any = None, now: float = NOW) -> None:
        self.options = opts
        self.store = RecordingStore() if store is None else store
        self.now = now
        self.cookie: str | None = None

    def request(
        self, handler_ops: Handler | Sequence[Handler] | None = None, *, after: float = 0.0, **kw: Any
    ) -> Outcome:
        """One request, ``after`` seconds after the previous one."""
        self.now += after
        out = drive(self.options, self.cookie, handler_ops, self.store, self.now, **kw)
        if out.set_cookie is not None:
            expired = attributes(out.set_cookie).get("expires") == "Thu, 01 Jan 1970 00:00:00 GMT"
            self.cookie = None if expired else out.cookie
        return out


class DeferredExecutor:
    """An executor that leaves each intent's action out, as an async driver
    does while its store call runs. The test reports it (or not) itself."""

    def __init__(self) -> None:
        self.actions: list[Action | None] = []

    def __call__(self, machine: SessionMachine, action: Action | None) -> Action | None:
        self.actions.append(action)
        return action


# -- express-session's own test set-up ------------------------------------------------

EXPRESS_SECRET = "keyboard cat"


def express(**kw: Any) -> SessionOptions:
    """The options express's tests run with (createSession() in test/session.js):
    its deprecated defaults resave and saveUninitialized true, the secret
    "keyboard cat", a 60 s cookie unless ``cookie`` is given, no SameSite."""
    cookie: dict[str, Any] = {"max_age": 60, "same_site": None}
    if "cookie" in kw:
        cookie = {"same_site": None, **kw.pop("cookie")}
    values: dict[str, Any] = {
        "secret": EXPRESS_SECRET,
        "resave": True,
        "save_uninitialized": True,
        "genid": counter_genid(),
    }
    values.update(kw)
    return SessionOptions(cookie=CookieOptions(**cookie), **values)


def sid_of(set_cookie: str | None) -> str:
    """express's sid(res): the id inside a Set-Cookie value."""
    assert set_cookie is not None
    value = unquote(set_cookie.split(";", 1)[0].split("=", 1)[1])
    return value[2 : value.index(".")]
