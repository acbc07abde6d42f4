# One store call on trio, whatever kind of store it is.
#
# The core emits an action; sansio_session.sync.run_action makes the one
# store call it stands for. What we add is where that call runs:
#
# - a store that says `blocking = False` (the in-memory store, and async
#   stores, whose methods only start a coroutine) is called right here, on
#   the event loop thread;
# - a store whose `get` is a coroutine function is called here too;
# - any other store is synchronous and may block (a socket, a file), so it
#   runs in a worker thread through trio.to_thread.
#
# Whatever comes back is awaited when it is awaitable. Every call, thread
# and await included, is bounded by options.store_timeout.
from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from sansio_session import Action, Store
from sansio_session.sync import is_plain_result, run_action

__all__ = ["call_store", "call_store_method", "runs_inline", "awaited", "NOT_STARTED"]

#: Stands for "the store call has not been made yet".
NOT_STARTED: Any = object()


def runs_inline(store: Store) -> bool:
    """Whether the store's calls are made on the event loop thread."""
    blocking = getattr(store, "blocking", None)
    if blocking is not None:
        return not blocking
    return inspect.iscoroutinefunction(store.get)


async def call_store(store: Store, action: Action, timeout: float | None) -> Any:
    """Run the store call for ``action`` and return its result.

    Raises trio.TooSlowError after ``timeout`` seconds (None: no bound), and
    whatever the store raises.
    """
    return await _bounded(store, partial(run_action, store, action), timeout)


async def call_store_method(store: Store, name: str, *args: Any, timeout: float | None) -> Any:
    """Any other store call (``sessions_of``, ``destroy_all``), run the same way."""
    return await _bounded(store, partial(getattr(store, name), *args), timeout)


async def _bounded(store: Store, call: Callable[[], Any], timeout: float | None) -> Any:
    deadline = math.inf if timeout is None else timeout
    if runs_inline(store):
        result = call()
        if is_plain_result(result) or not inspect.isawaitable(result):
            # An in-memory call is over before it returns: no deadline to
            # keep, and no cancel scope to pay for on every request.
            return result
        return await awaited(result, timeout)
    with trio.fail_after(deadline):
        # XX On a timeout we stop waiting, but the thread runs on to the
        # end of its call: a save that times out may still land later.
        # The store's own timeout (SQLite's busy timeout, PostgreSQL's
        # statement timeout) is what bounds the thread itself.
        result = await trio.to_thread.run_sync(call, abandon_on_cancel=True)
        if inspect.isawaitable(result):
            result = await result
    return result


async def awaited(result: Any, timeout: float | None) -> Any:
    """Await an inline call's awaitable result, within ``timeout``."""
    with trio.fail_after(math.inf if timeout is None else timeout):
        return await result
