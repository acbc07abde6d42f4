# Driving whole requests against a synchronous store, with no framework.
#
# This is the smallest complete driver: it is what the tests use, and what a
# user without a framework (a WSGI app, a script) can use directly. It shows
# the whole action protocol in a few lines:
#
#     load = machine.begin(cookie, now=now)      # 1. the request's headers
#     if load: report(load, store.get(load.sid))  # 2. the load, if any
#     handler(machine.session)                    # 3. the handler
#     report(machine.commit(now))                 # 4. the store commit...
#     header = machine.set_cookie(now)            # 5. ...then the cookie
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ._actions import Action, Destroy, Load, Save, Touch
from ._machine import SessionMachine
from ._options import SessionOptions
from ._session import Session
from ._store import Conflict, StoredRecord

__all__ = ["run_action", "is_plain_result", "sync_executor", "run_request", "RequestResult"]

T = TypeVar("T")


def run_action(store: Any, action: Action) -> Any:
    """Make the one store call an action stands for; return its result."""
    kind = type(action)
    if kind is Load:
        return store.get(action.sid)
    if kind is Touch and action.user is None:  # type: ignore[attr-defined]
        return store.touch(action.sid, action.ttl)  # type: ignore[attr-defined]
    return _run_any(store, action)


def _run_any(store: Any, action: Action) -> Any:
    if isinstance(action, Load):
        return store.get(action.sid)
    if not isinstance(action, (Save, Touch, Destroy)):
        raise TypeError(f"not a store action: {action!r}")
    # A bound session's user goes to stores that keep a per-user index.
    user = action.user
    extra = {"user": user} if user is not None and hasattr(store, "sessions_of") else {}
    if isinstance(action, Save):
        if action.expected is not None and hasattr(store, "replace"):
            return store.replace(action.sid, action.record, action.ttl, action.expected, **extra)
        return store.set(action.sid, action.record, action.ttl, **extra)
    if isinstance(action, Touch):
        return store.touch(action.sid, action.ttl, **extra)
    return store.destroy(action.sid, **extra)


def is_plain_result(result: object) -> bool:
    """Whether a store call's result is a plain value rather than something
    to wait for (an awaitable, a Deferred).

    True for what synchronous stores return (None, a StoredRecord, a record's
    text, a Conflict); False means "look closer". It is the cheap test drivers
    make on every call, before inspect.isawaitable and its checks against
    the Awaitable ABC.
    """
    return result is None or type(result) in _PLAIN_RESULTS


_PLAIN_RESULTS = frozenset((StoredRecord, str, Conflict, bool, int))


def _report(machine: SessionMachine, store: Any, action: Action | None, log: list[Action] | None) -> None:
    # A compare-and-set save that met a newer record gives back the merged
    # save to run next: loop until the machine asks for nothing more.
    while action is not None:
        if log is not None:
            log.append(action)
        try:
            result = run_action(store, action)
        except Exception as exc:
            raise machine.store_failed(action, exc) from exc
        action = machine.store_done(action, result)


def sync_executor(
    store: Any, log: list[Action] | None = None
) -> Callable[[SessionMachine, Action | None], None]:
    """An executor that runs intents' actions against a synchronous store."""

    def execute(machine: SessionMachine, action: Action | None) -> None:
        _report(machine, store, action, log)

    return execute


@dataclass
class RequestResult(Generic[T]):
    """What one request did: the handler's return value, the Set-Cookie
    header value (or None), and every store action in order."""

    value: T
    set_cookie: str | None
    actions: list[Action] = field(default_factory=list)


def run_request(
    options: SessionOptions,
    store: Any,
    handler: Callable[[Session | None], T],
    *,
    cookie: str | None = None,
    now: float,
    tls: bool = False,
    secure: bool | None = None,
    forwarded_proto: str | None = None,
    path: str = "/",
) -> RequestResult[T]:
    """Run one whole buffered request: load, handler, commit, cookie.

    A store failure raises StoreError (as a driver would answer 500).
    """
    actions: list[Action] = []
    machine = SessionMachine(options, executor=sync_executor(store, actions))
    load = machine.begin(cookie, now=now, tls=tls, secure=secure, forwarded_proto=forwarded_proto, path=path)
    _report(machine, store, load, actions)
    value = handler(machine.session)
    _report(machine, store, machine.commit(now), actions)
    decision = machine.set_cookie(now)
    return RequestResult(value, None if decision is None else decision.value, actions)
