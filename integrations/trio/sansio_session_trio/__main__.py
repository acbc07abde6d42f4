# The reference app of ../shared/reference-app.md on trio and h11:
#
#     python -m sansio_session_trio [--host H] [--port P] [--store URL] [--config JSON] [--store-log]
#
# The routes and flags are sansio_session.refapp's; this file only wires them
# to the embeddable server: GET /_store/log is answered before any session
# work, every other request goes through with_sessions(), whose buffered
# responses commit before the headers are written. SIGTERM and SIGINT stop
# it cleanly.
from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from typing import Any, NoReturn

import trio

from sansio_session import ConfigError, SessionOptions, StoreError
from sansio_session._store_url import StoreURL, open_sync_store, parse_store_url
from sansio_session.refapp import (
    App,
    AppRequest,
    AppResponse,
    LoggedStore,
    StoreLog,
    listening_line,
    parse_args,
)

from ._h11 import RequestSession
from ._handler import with_sessions
from ._http import Handler, Request, Response
from ._server import serve_connection
from ._store_calls import call_store_method

PROG = "python -m sansio_session_trio"


def _fail(message: str, status: int = 2) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(status)


@asynccontextmanager
async def open_store(url: str, options: SessionOptions) -> AsyncIterator[Any]:
    """The store a --store URL names, open for as long as the block runs."""
    parsed = parse_store_url(url)
    async with AsyncExitStack() as stack:
        try:
            store = await _open(parsed, options, stack)
        except ConfigError as exc:
            _fail(f"--store: {exc}")
        except Exception as exc:
            _fail(f"--store {parsed.redacted()}: cannot open the store: {type(exc).__name__}: {exc}", 1)
        yield store


async def _open(parsed: StoreURL, options: SessionOptions, stack: AsyncExitStack) -> Any:
    if parsed.scheme in ("redis", "rediss"):
        try:
            from .redis import RedisStore
        except ImportError as exc:
            raise ConfigError(f"the trio Redis store is not available ({exc})") from exc
        timeout = options.store_timeout
        redis = RedisStore(parsed.url) if timeout is None else RedisStore(parsed.url, timeout=timeout)
        return await stack.enter_async_context(redis)
    # Opening SQLite or PostgreSQL blocks (a file, a connection): off the loop.
    store = await trio.to_thread.run_sync(lambda: open_sync_store(parsed, timeout=options.store_timeout))
    stack.callback(store.close)
    return store


def app_handler(app: App, options: SessionOptions, store: Any) -> Handler:
    """The reference app as a handler of the embeddable server."""

    async def route(request: Request, cycle: RequestSession) -> Response:
        return _response(await app.handle(_app_request(request), cycle.machine))

    with_session = with_sessions(route, options, store)

    async def handle(request: Request) -> Response:
        early = app.before_session(_app_request(request))
        if early is not None:
            return _response(early)
        return await with_session(request)

    return handle


def _user_calls(store: Any, options: SessionOptions) -> Callable[..., Awaitable[Any]] | None:
    # The log-out-everywhere routes need a store that keeps a per-user index.
    if not hasattr(store, "sessions_of"):
        return None

    async def call(name: str, *args: Any) -> Any:
        try:
            return await call_store_method(store, name, *args, timeout=options.store_timeout)
        except Exception as exc:
            raise StoreError(f"session store {name} failed: {exc!r}") from exc

    return call


def _app_request(request: Request) -> AppRequest:
    return AppRequest(request.method, request.path, tuple(request.query_pairs()))


def _response(response: AppResponse) -> Response:
    return Response(response.status, [("content-type", response.content_type)], response.body)


async def run(argv: Sequence[str] | None = None) -> None:
    """Run the reference app until SIGTERM or SIGINT."""
    config = parse_args(argv, prog=PROG)
    log = StoreLog() if config.store_log else None
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with open_store(config.store_url, config.options) as opened:
            store = opened if log is None else LoggedStore(opened, log)
            app = App(store_log=log, call_store=_user_calls(opened, config.options))
            handler = app_handler(app, config.options, store)
            try:
                listeners = await trio.open_tcp_listeners(config.port, host=config.host)
            except OSError as exc:
                _fail(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", 1)
            on_connection = partial(serve_connection, handler=handler)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.serve_listeners, on_connection, listeners)
                listening_line(config.host, listeners[0].socket.getsockname()[1])
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break


def main(argv: Sequence[str] | None = None) -> None:
    trio.run(run, argv)


if __name__ == "__main__":
    main()
