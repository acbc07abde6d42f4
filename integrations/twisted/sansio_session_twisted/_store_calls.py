# How one store call runs on the reactor.
#
# The machine turns each store action into exactly one store call
# (sansio_session.sync.run_action is that mapping); what differs from store
# to store is how to wait for the call without blocking the reactor:
#
#   - `blocking = False` (MemoryStore, RedisStore): call it inline. The result
#     is a value or a Deferred.
#   - `blocking = True` (SQLite, PostgreSQL), or no `blocking` attribute at
#     all: call it in the reactor's thread pool. We read a missing attribute
#     as True, as LoggedStore does: a blocking call in a thread is slow, a
#     blocking call on the reactor stalls every client.
#   - coroutine methods (asyncio stores): only under the asyncio reactor, in
#     an asyncio Task (Deferred.fromFuture(ensure_future(...))). Deferred.
#     fromCoroutine would drive the coroutine without a Task, which asyncio
#     clients refuse, and on any other reactor the Task would never run, so
#     we refuse such a store when the resource is built, and fail (never hang)
#     on an awaitable we only discover when a call returns one.
#
# Every call is bounded by options.store_timeout (Deferred.addTimeout). A
# call that times out in a thread runs on there; its late result is dropped.
#
# Twisted's Failure carries no type hints yet:
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, threads
from twisted.logger import Logger
from twisted.python.failure import Failure

from sansio_session import Action, ConfigError, Destroy, Load, Save, SessionMachine, Touch
from sansio_session.sync import is_plain_result, run_action

__all__ = ["StoreCalls"]

_log = Logger(namespace="sansio_session_twisted")
_METHODS = ("get", "set", "replace", "touch", "destroy")
_CALLED = {Load: "get", Save: "set", Touch: "touch", Destroy: "destroy"}  # for the log


def _inline(fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
    # Not maybeDeferred: it would run a coroutine with Deferred.fromCoroutine,
    # outside any asyncio Task, which is what asyncio clients refuse.
    try:
        result = fn(*args)
    except Exception:
        return defer.fail()
    return result if isinstance(result, defer.Deferred) else defer.succeed(result)


def _is_asyncio(reactor: Any) -> bool:
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    return isinstance(reactor, AsyncioSelectorReactor)


class StoreCalls:
    """Runs a store's calls on one reactor and reports them to the machine."""

    def __init__(self, store: Any, timeout: float | None, reactor: Any) -> None:
        self._store = store
        self._timeout = timeout
        self._reactor = reactor
        self._asyncio = _is_asyncio(reactor)
        coroutines = any(inspect.iscoroutinefunction(getattr(store, name, None)) for name in _METHODS)
        if coroutines and not self._asyncio:
            raise ConfigError(
                f"store: {type(store).__name__} has coroutine methods, which need Twisted's asyncio "
                f"reactor (install twisted.internet.asyncioreactor first); this reactor is "
                f"{type(reactor).__name__}"
            )
        self._threaded = not coroutines and bool(getattr(store, "blocking", True))

    def run(self, action: Action) -> defer.Deferred[Any]:
        """Make the store call for ``action``; a Deferred of its result."""
        return self._call(run_action, self._store, action)

    def call(self, name: str, *args: Any) -> defer.Deferred[Any]:
        """Call the store's own method ``name`` (``sessions_of``, ``destroy_all``, ...) the same way."""
        return self._call(getattr(self._store, name), *args)

    def _call(self, fn: Callable[..., Any], *args: Any) -> defer.Deferred[Any]:
        if self._threaded:
            pool = self._reactor.getThreadPool()
            d = threads.deferToThreadPool(self._reactor, pool, fn, *args)
        else:
            d = _inline(fn, *args)
        d.addCallback(self._awaited)
        if self._timeout is not None and not d.called:
            d.addTimeout(self._timeout, self._reactor)
        return d

    def _awaited(self, result: Any) -> Any:
        if isinstance(result, defer.Deferred) or not inspect.isawaitable(result):
            return result
        if self._asyncio:
            return defer.Deferred.fromFuture(asyncio.ensure_future(result))
        close = getattr(result, "close", None)
        if close is not None:
            close()  # a coroutine never awaited would only warn later
        raise TypeError(
            f"the store returned {type(result).__name__}, an asyncio awaitable, which needs "
            f"Twisted's asyncio reactor; this reactor is {type(self._reactor).__name__}"
        )

    def settle(self, machine: SessionMachine, action: Action) -> defer.Deferred[None] | None:
        """Run ``action`` and tell the machine how it went.

        None when the store answered at once (an in-memory store: no
        Deferred at all on the request's path), else a Deferred that fires
        once the machine knows. Raises, or fails with, the machine's
        StoreError when the store call fails (the machine's phase then says
        whether that is a 500 or not).
        """
        if self._threaded:
            return self._later(machine, action, self.run(action))
        following: Action | None = action
        while following is not None:
            action = following
            try:
                result = run_action(self._store, action)
            except Exception:
                raise self._failed(machine, action, Failure()) from None
            if not is_plain_result(result):
                d = result if isinstance(result, defer.Deferred) else defer.succeed(result)
                d.addCallback(self._awaited)
                if self._timeout is not None and not d.called:
                    d.addTimeout(self._timeout, self._reactor)
                return self._later(machine, action, d)
            # A compare-and-set save that met a newer record gives back the
            # merged save to run next (the machine bounds how many).
            following = machine.store_done(action, result)
        return None

    def _later(self, machine: SessionMachine, action: Action, d: defer.Deferred[Any]) -> defer.Deferred[None]:
        def done(result: Any) -> defer.Deferred[None] | None:
            following = machine.store_done(action, result)
            return None if following is None else self.report(machine, following)

        def failed(failure: Failure) -> None:
            raise self._failed(machine, action, failure)

        return d.addCallbacks(done, failed)

    def _failed(self, machine: SessionMachine, action: Action, failure: Failure) -> Exception:
        error = machine.store_failed(action, failure.value)
        _log.failure(
            "session store {op} failed, session {session}",
            failure=failure,
            op=_CALLED.get(type(action), type(action).__name__),
            session=machine.describe_id(),
        )
        return error

    def report(self, machine: SessionMachine, action: Action) -> defer.Deferred[None]:
        """settle(), always as a Deferred."""
        try:
            pending = self.settle(machine, action)
        except Exception:
            return defer.fail()
        return defer.succeed(None) if pending is None else pending

    def execute(self, machine: SessionMachine, action: Action | None) -> defer.Deferred[None]:
        """The machine's executor: what session.save() and the rest return."""
        if action is None:
            return defer.succeed(None)
        return self.report(machine, action)
