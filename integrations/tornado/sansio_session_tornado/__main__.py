# The reference app on Tornado: python -m sansio_session_tornado [flags].
#
# The routes, flags and store log are sansio_session.refapp's, shared by every
# driver (the contract is the reference-app page of the docs); this file only
# wires them to Tornado through SessionMixin. One catch-all handler takes
# every request. GET /_store/log is answered in prepare(), before any session
# work; everything else goes through the session layer, and its response is
# buffered: finish() commits first, then the headers go out.
from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from sansio_session import ConfigError, SessionError
from sansio_session._store_url import StoreURL, open_sync_store, parse_store_url
from sansio_session.refapp import (
    App,
    AppConfig,
    AppRequest,
    AppResponse,
    LoggedStore,
    StoreLog,
    listening_line,
    parse_args,
)

from ._executor import call_store
from ._mixin import SessionMixin

PROG = "python -m sansio_session_tornado"


class ReferenceHandler(SessionMixin, RequestHandler):
    app: App
    app_request: AppRequest

    def initialize(self, app: App) -> None:
        self.app = app

    def compute_etag(self) -> None:
        # Plain responses, as in the contract: no ETag, so never a 304.
        return None

    async def prepare(self) -> None:
        request = self.request
        self.app_request = AppRequest(
            request.method or "GET", request.path, tuple(parse_qsl(request.query, keep_blank_values=True))
        )
        early = self.app.before_session(self.app_request)
        if early is not None:
            self._send(early)
            return
        await super().prepare()

    async def _route(self, *args: str) -> None:
        self._send(await self.app.handle(self.app_request, self.session_machine))

    get = head = post = put = delete = patch = options = _route

    def _send(self, response: AppResponse) -> None:
        self.set_status(response.status)
        self.set_header("Content-Type", response.content_type)
        self.finish(response.body)


def _open_store(config: AppConfig) -> Any:
    url: StoreURL = parse_store_url(config.store_url)
    timeout = config.options.store_timeout
    if url.scheme in ("redis", "rediss"):
        try:
            from .redis import RedisStore
        except ImportError as exc:
            raise ConfigError(f"a redis:// store needs sansio_session_tornado.redis: {exc}") from None
        if timeout is None:
            return RedisStore(config.store_url)
        return RedisStore(config.store_url, timeout=timeout)
    return open_sync_store(url, timeout=timeout)


async def _close(store: Any) -> None:
    close = getattr(store, "close", None)
    if close is None:
        return
    if getattr(store, "blocking", True) is False:
        result = close()
    else:
        result = await asyncio.get_running_loop().run_in_executor(None, close)
    if inspect.isawaitable(result):
        await result


async def serve(config: AppConfig) -> None:
    """Serve the reference app until SIGTERM or SIGINT, then close the store."""
    store = _open_store(config)

    async def users(name: str, *args: Any) -> Any:
        return await call_store(store, name, *args, timeout=config.options.store_timeout)

    # The log-out-everywhere routes need a store that keeps a per-user index.
    indexed = hasattr(store, "sessions_of")
    log = StoreLog() if config.store_log else None
    application = Application(
        [(r".*", ReferenceHandler, {"app": App(store_log=log, call_store=users if indexed else None)})],
        session_options=config.options,
        session_store=store if log is None else LoggedStore(store, log),
    )
    try:
        sockets = bind_sockets(config.port, config.host)
    except OSError as exc:
        await _close(store)
        problem = exc.strerror or exc
        raise SystemExit(f"error: cannot listen on {config.host}:{config.port}: {problem}") from None
    # No xheaders: the reference app trusts no proxy. Heads up to 1 MiB are
    # read, so that a Cookie header over the session layer's limit gets its
    # 431 instead of Tornado's silent close.
    server = HTTPServer(application, max_header_size=1 << 20)
    server.add_sockets(sockets)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    listening_line(config.host, sockets[0].getsockname()[1])
    try:
        await stop.wait()
    finally:
        server.stop()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), 5)
        await _close(store)


def main(argv: Sequence[str] | None = None) -> None:
    config = parse_args(argv, prog=PROG)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # A 404 or a 400 is an answer here, not a warning; 5xx are still logged.
    logging.getLogger("tornado.access").setLevel(logging.ERROR)
    try:
        asyncio.run(serve(config))
    except ConfigError as exc:
        sys.stderr.write(f"error: --store: {exc}\n")
        raise SystemExit(2) from None
    except SessionError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
