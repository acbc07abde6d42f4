# Running the machine's store actions on Tornado's IOLoop.
#
# Three kinds of store, told apart by the store protocol's `blocking`
# attribute and by what a call returns:
#
#   - an in-memory store (blocking = False, plain results) is called inline:
#     the call is over before we return, so a request on it never yields to
#     the loop for its session;
#   - an asyncio store (blocking = False, methods return awaitables, such as
#     sansio_session_tornado.redis.RedisStore) is awaited on the loop;
#   - any other store (blocking = True, or a store that does not say) is run
#     on the loop's default thread pool, so that a socket or a file never
#     stalls the other requests.
#
# Every call that does not complete inline is bounded by the options'
# store_timeout. A thread cannot be stopped, so a blocking call that times out
# runs on to its end in its thread; its result is dropped.
#
# Each outcome goes back to the machine (store_done / store_failed). When the
# machine counts a failure as fatal (phase FAILED) we raise its StoreError;
# when it lets the request go on (on_store_failure="continue") we only log.
# Every StoreError is logged here, where it happens, once.
from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from sansio_session import Action, Executor, Phase, SessionMachine, StoreError
from sansio_session.sync import is_plain_result, run_action

__all__ = ["log", "run_store_action", "intent_executor", "call_store"]

log = logging.getLogger("sansio_session_tornado")


def _inline(store: Any) -> bool:
    return getattr(store, "blocking", True) is False


def run_store_action(
    machine: SessionMachine, store: Any, action: Action, timeout: float | None
) -> Awaitable[None] | None:
    """Make the store call for ``action`` and report it to the machine.

    Returns None when the call completed at once, else an awaitable that
    completes once the machine has the outcome. Raises StoreError (now, or
    from the awaitable) when the machine says the request has failed.
    """
    if not _inline(store):
        # Started only when awaited, as a coroutine store's call would be.
        return _complete(machine, store, action, lambda: _in_thread(store, action), timeout)
    next_action: Action | None = action
    while next_action is not None:
        action = next_action
        try:
            result = run_action(store, action)
        except Exception as exc:
            _failed(machine, action, exc)
            return None
        if not is_plain_result(result) and inspect.isawaitable(result):
            return _complete(machine, store, action, _given(result), timeout)
        # A compare-and-set save that met a newer record: the merged save.
        next_action = _done(machine, action, result)
    return None


async def _complete(
    machine: SessionMachine,
    store: Any,
    action: Action,
    start: Callable[[], Awaitable[Any]],
    timeout: float | None,
) -> None:
    try:
        result = await asyncio.wait_for(_resolve(start()), timeout)
    except asyncio.TimeoutError:
        _failed(machine, action, TimeoutError(f"no answer within {timeout} s"))
        return
    except Exception as exc:
        _failed(machine, action, exc)
        return
    next_action = _done(machine, action, result)
    if next_action is not None:
        pending = run_store_action(machine, store, next_action, timeout)
        if pending is not None:
            await pending


def _given(awaitable: Awaitable[Any]) -> Callable[[], Awaitable[Any]]:
    return lambda: awaitable


def _in_thread(store: Any, action: Action) -> Awaitable[Any]:
    return asyncio.get_running_loop().run_in_executor(None, run_action, store, action)


async def _resolve(pending: Awaitable[Any]) -> Any:
    result = await pending
    # A store that does not say blocking = False but is asynchronous all the
    # same hands back a coroutine from its thread; await it here, on the loop.
    if inspect.isawaitable(result):
        result = await result
    return result


def _done(machine: SessionMachine, action: Action, result: Any) -> Action | None:
    try:
        return machine.store_done(action, result)
    except StoreError as error:
        # A result the machine cannot use (reload of a session that is gone).
        log.error("%s", error)
        raise


def _failed(machine: SessionMachine, action: Action, exc: BaseException) -> None:
    error = machine.store_failed(action, exc)
    if machine.phase is Phase.FAILED:
        log.error("%s", error, exc_info=exc)
        raise error
    log.warning("%s; going on without it (on_store_failure is continue)", error)


async def call_store(store: Any, name: str, *args: Any, timeout: float | None = None) -> Any:
    """Any other store call (sessions_of, destroy_all), run like the session's own."""
    method = getattr(store, name)
    if _inline(store):
        result = method(*args)
    else:
        result = asyncio.get_running_loop().run_in_executor(None, method, *args)
    return await asyncio.wait_for(_resolve(result), timeout) if inspect.isawaitable(result) else result


class _Done:
    # An awaitable that is already complete, for intents that needed no store
    # call: it needs no running loop and warns of nothing if never awaited.
    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


DONE = _Done()


def intent_executor(store: Any, timeout: float | None) -> Executor:
    """The executor behind regenerate(), destroy(), reload() and save()."""

    def execute(machine: SessionMachine, action: Action | None) -> Awaitable[None]:
        pending = None if action is None else run_store_action(machine, store, action, timeout)
        return DONE if pending is None else pending

    return execute
