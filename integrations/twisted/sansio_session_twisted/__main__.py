# python -m sansio_session_twisted: the reference app (../shared/reference-app.md).
#
# The routes live in sansio_session.refapp; this file only wires them to
# Twisted Web, on the default reactor:
#
#   _Root         answers GET /_store/log before any session work, and hands
#                 every other request to the SessionResource around...
#   _Routes       ...which runs App.handle() (a coroutine, awaiting the
#                 session's Deferreds) and writes its answer.
#
# Its responses are buffered: _Routes declares the Content-Length and writes
# the whole body at once, so SessionResource commits before anything is sent
# (see _response.py), and a failed commit is still a 500.
#
# Twisted Web's Request and Resource methods carry no type hints yet:
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn
from urllib.parse import unquote_to_bytes

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.python.failure import Failure
from twisted.web import resource, server

from sansio_session import ConfigError, MemoryStore, StoreError
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

from . import SessionResource, machine_of
from ._store_calls import StoreCalls

PROG = "python -m sansio_session_twisted"


def _refuse(message: str) -> NoReturn:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def _query_text(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")


def _app_request(request: server.Request) -> AppRequest:
    # parse_qsl cannot take bytes that are not ASCII, and decoding them first
    # would guess their charset: we split and percent-decode the bytes.
    _, _, query = request.uri.partition(b"?")
    pairs = [part.partition(b"=") for part in query.split(b"&") if part]
    return AppRequest(
        request.method.decode("latin-1"),
        request.path.decode("latin-1"),
        tuple((_query_text(key), _query_text(value)) for key, _, value in pairs),
    )


def _send(answer: AppResponse, request: server.Request) -> None:
    request.setResponseCode(answer.status)
    request.setHeader(b"content-type", answer.content_type.encode("latin-1"))
    request.setHeader(b"content-length", b"%d" % len(answer.body))
    request.write(answer.body)  # for HEAD, Twisted sends the headers only
    request.finish()


class _Routes(resource.Resource):
    isLeaf = True

    def __init__(self, app: App) -> None:
        super().__init__()
        self._app = app

    def render(self, request: server.Request) -> object:
        handled = defer.Deferred.fromCoroutine(self._app.handle(_app_request(request), machine_of(request)))
        handled.addCallback(_send, request)
        handled.addErrback(request.processingFailed)
        return server.NOT_DONE_YET


class _Root(resource.Resource):
    isLeaf = True

    def __init__(self, app: App, sessions: SessionResource) -> None:
        super().__init__()
        self._app = app
        self._sessions = sessions

    def render(self, request: server.Request) -> object:
        answer = self._app.before_session(_app_request(request))
        if answer is None:
            return self._sessions.render(request)
        _send(answer, request)
        return server.NOT_DONE_YET


def _open_store(config: AppConfig) -> Any:
    url = config.store_url
    timeout = config.options.store_timeout
    if url == "memory":
        return MemoryStore()
    if url.partition("://")[0].lower() in ("redis", "rediss"):
        try:
            from .redis import RedisStore
        except ImportError as exc:
            _refuse(f"--store: redis:// needs sansio_session_twisted.redis, which cannot be imported: {exc}")
        return RedisStore(url) if timeout is None else RedisStore(url, timeout=timeout)
    try:
        from sansio_session._store_url import open_sync_store
    except ImportError:
        _refuse(f"--store: only memory is available here, not {url.partition('://')[0]}://")
    try:
        return open_sync_store(url, timeout=timeout)
    except (ConfigError, StoreError) as exc:
        _refuse(f"--store: {exc}")


def _close(store: Any) -> Any:
    close = getattr(store, "close", None)
    if close is None:
        return None
    try:
        return close()  # RedisStore's is a Deferred, which shutdown waits for
    except Exception:
        return Failure()


class _Site(server.Site):
    # Twisted drops a header line over 16 KiB without a word and answers 400
    # for a head over 16 KiB; the session layer reads up to
    # MAX_COOKIE_HEADER and answers 431 beyond it, so the channel must let
    # such heads through to it (up to 1 MiB).
    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        channel = getattr(protocol, "_channel", protocol)  # the HTTP/1.1 channel inside
        channel.MAX_LENGTH = channel.totalHeadersSize = 1 << 20
        return protocol


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv, prog=PROG)
    store = _open_store(config)

    from twisted.internet import reactor as default_reactor

    # Any: without a zope plugin, mypy cannot see the reactor's interfaces.
    reactor: Any = default_reactor

    # The log-out-everywhere routes need a store that keeps a per-user index;
    # they call it directly, so the store log does not list those calls.
    users = (
        StoreCalls(store, config.options.store_timeout, reactor) if hasattr(store, "sessions_of") else None
    )
    log = StoreLog() if config.store_log else None
    app = App(store_log=log, call_store=None if users is None else users.call)
    if log is not None:
        store = LoggedStore(store, log)

    # Warnings and errors (store failures among them) go to stderr; the
    # access log is info and stays out. stdout is left alone for the
    # listening line.
    warnings: Any = LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)
    stderr: Any = textFileLogObserver(sys.stderr)
    observer: Any = FilteringLogObserver(stderr, [warnings])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)

    try:
        sessions = SessionResource(_Routes(app), config.options, store, reactor=reactor)
    except ConfigError as exc:
        _refuse(str(exc))
    site = _Site(_Root(app, sessions))
    try:
        port: Any = reactor.listenTCP(config.port, site, interface=config.host)
    except CannotListenError as exc:
        sys.stderr.write(f"error: cannot listen on {config.host}:{config.port}: {exc.socketError}\n")
        return 1
    reactor.addSystemEventTrigger("before", "shutdown", _close, store)  # LoggedStore passes close() on
    listening_line(config.host, port.getHost().port)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
