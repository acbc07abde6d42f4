# SessionMixin: Tornado's RequestHandler lifecycle, translated into machine calls.
#
# Where each step hooks in (tornado 6.4 to 6.6):
#
#   prepare()   begin() and, when the cookie names a session, the load.
#   flush()     the cookie decision, set_cookie(), just before Tornado writes
#               the header block. flush() is the only method that writes it
#               (finish() calls it too), and send_error() has cleared any
#               header set earlier, so this is the one safe moment.
#   finish()    the store commit, then Tornado's own finish(). A commit that
#               does not complete inline runs in a task and finish() returns
#               a Future for the whole, since Tornado's own callers
#               (redirect(), send_error(), the auto-finish, Finish) ignore
#               what finish() returns: an `async def finish` would never run.
#
# So a buffered response is committed before any byte of it goes out (and a
# failed commit can still become a 500), and a streamed one, whose headers
# went out at an earlier flush(), is committed before its final bytes.
#
# While a commit is pending the response is decided: finish() returns the
# same Future, write() refuses, send_error() does nothing, exactly as Tornado
# behaves once a response is finished. Without this an exception raised after
# a bare `self.finish()` would replace the pending response with a 500.
from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable
from typing import Any, ClassVar

from tornado.concurrent import Future, chain_future
from tornado.httputil import HTTPServerRequest
from tornado.iostream import SSLIOStream
from tornado.web import Application, HTTPError, RequestHandler

from sansio_session import (
    MAX_COOKIE_HEADER,
    ConfigError,
    Executor,
    Phase,
    Session,
    SessionMachine,
    SessionOptions,
    StoreError,
    UsageError,
)

from ._executor import DONE, call_store, intent_executor, log, run_store_action

__all__ = ["SessionMixin"]


class SessionMixin(RequestHandler):
    """Server-side sessions for a RequestHandler, as ``self.session``.

    Configure them once, in the Application's settings::

        Application(routes, session_options=SessionOptions(secret=...),
                    session_store=MemoryStore())

    The session is loaded in ``prepare()`` (a subclass that overrides it
    must ``await super().prepare()``), saved before the response's last
    bytes, and its cookie is added when the headers are written. Set the
    class attribute ``session_autoload = False`` to skip the load, and call
    ``await self.load_session()`` where the session is wanted.

    A store with ``blocking = False`` and plain results (MemoryStore) is
    called inline; one whose methods return awaitables is awaited; any other
    runs on the loop's default thread pool. Await the session's
    ``regenerate()``, ``destroy()``, ``reload()`` and ``save()``; only on an
    inline store are they complete when they return, as a sync handler needs.
    A store failure answers 500 with the StoreError's short ``reason``.
    """

    #: Load the session in prepare(); False: only on ``await self.load_session()``.
    session_autoload: ClassVar[bool] = True

    _session_machine: SessionMachine | None = None
    #: No cookie of ours and nothing to store unless used: the session is
    #: begun on first use (or never).
    _session_deferred = False
    _session_store: Any = None
    _session_cookie_decided = False
    _session_committed = False
    _session_finishing: Future[None] | None = None
    _session_task: asyncio.Task[None] | None = None

    def prepare(self) -> Awaitable[None]:
        # Not a coroutine: with an in-memory store the load is over before
        # we return, and Tornado awaits only a cheap done awaitable.
        result = super().prepare()
        if result is not None:
            return self._prepare_after(result)
        if self.session_autoload and self._session_machine is None and not self._session_deferred:
            # Loaded, not looked at: a handler that never reads the session
            # keeps its response cacheable (no Vary: Cookie).
            pending = self._begin_session()
            if pending is not None:
                return pending
        return DONE

    async def _prepare_after(self, result: Awaitable[None]) -> None:
        await result
        if self.session_autoload and self._session_machine is None and not self._session_deferred:
            pending = self._begin_session()
            if pending is not None:
                await pending

    async def load_session(self) -> Session | None:
        """Load the session, once per request; return it (see ``session``)."""
        if self._session_machine is None:
            pending = self._begin_session()
            if pending is not None:
                await pending
        return self.session

    @property
    def session(self) -> Session | None:
        """The request's session; None once it is destroyed or unset, when the
        request is outside ``cookie.path``, or when a failed load was let
        through (``on_store_failure="continue"``). Raises UsageError before
        the session is loaded."""
        return self.session_machine.session

    @property
    def session_machine(self) -> SessionMachine:
        """The request's SessionMachine, for code that drives it directly."""
        machine = self._session_machine
        if machine is None:
            if not self._session_deferred:
                raise UsageError("the session is not loaded yet: await self.load_session() first")
            machine = self._begin_late()
        return machine

    async def sessions_of(self, user: str) -> list[str]:
        """The ids of ``user``'s live sessions (Session.bind), from the store."""
        return list(await self._user_call("sessions_of", user))

    async def logout_everywhere(self, user: str) -> int:
        """Destroy every session bound to ``user``; return how many there were."""
        return int(await self._user_call("destroy_all", user))

    async def _user_call(self, name: str, user: str) -> Any:
        store = self.settings.get("session_store")
        if not hasattr(store, name):
            raise ConfigError(f"the session store keeps no per-user index (it has no {name}())")
        options = self.settings["session_options"]
        return await call_store(store, name, user, timeout=options.store_timeout)

    async def commit_session(self) -> None:
        """Save the session now instead of at finish(); changes made after
        this are not saved. The cookie still goes out with the headers.
        Raises StoreError when the save fails."""
        pending = self._commit()
        if pending is not None:
            await pending

    def _begin_session(self, *, defer: bool = True) -> Awaitable[None] | None:
        options, store, executor = _configuration(self.application)
        request = self.request
        cookies = request.headers.get_list("Cookie")
        header = "; ".join(cookies) if cookies else None
        if header is not None and len(header) > MAX_COOKIE_HEADER:
            raise HTTPError(431, reason="Request Header Fields Too Large")
        if defer and options.can_defer(header):
            self._session_deferred = True
            return None
        self._session_store = store
        machine = SessionMachine(options, executor=executor)
        self._session_machine = machine
        load = machine.begin(
            header,
            now=time.time(),
            tls=_is_tls(request),
            # Tornado's own verdict: with xheaders=True it trusts the
            # proxy's X-Forwarded-Proto / X-Scheme, else only TLS counts.
            secure=request.protocol == "https",
            forwarded_proto=request.headers.get("X-Forwarded-Proto") if options.proxy else None,
            path=request.path,
        )
        return None if load is None else run_store_action(machine, store, load, options.store_timeout)

    def _begin_late(self) -> SessionMachine:
        # The first use of a deferred session. There is no cookie to load,
        # so it begins at once; what the response already did without it,
        # the machine is told now, so that it never stores a session the
        # client cannot have heard of, or takes a change it cannot save.
        self._session_deferred = False
        self._begin_session(defer=False)
        machine = self._session_machine
        assert machine is not None
        now = time.time()
        if self._headers_written:
            self._session_cookie_decided = True
            machine.set_cookie(now)  # a new, untouched session: no cookie was missed
        if self._session_committed:
            machine.commit(now)  # nothing to store; from now on it is read-only
        return machine

    def _commit(self) -> Awaitable[None] | None:
        machine = self._session_machine
        committed, self._session_committed = self._session_committed, True
        if machine is None or committed:
            return None
        action = machine.commit(time.time())
        if action is None:
            return None
        return run_store_action(machine, self._session_store, action, machine.options.store_timeout)

    # -- Tornado's output methods --------------------------------------------

    def flush(self, include_footers: bool = False) -> Future[None]:
        if not self._headers_written:
            self._add_session_cookie()
        return super().flush(include_footers)

    def _add_session_cookie(self) -> None:
        machine = self._session_machine
        if machine is None or self._session_cookie_decided or machine.phase is Phase.ERROR:
            return
        self._session_cookie_decided = True
        try:
            decision = machine.set_cookie(time.time())
        except UsageError:
            log.exception("no session cookie: the session was left in the middle of a call")
            return
        headers = self._headers
        # Straight into the header block: our values need none of the checks
        # add_header() makes on a handler's own (they never hold CR or LF).
        if decision is not None:
            headers.add("Set-Cookie", decision.value)
        for name, value in machine.cache_headers(
            cookie_set=decision is not None,
            has_cache_control=decision is not None and "Cache-Control" in headers,
        ):
            vary = headers.get("Vary") if name == "Vary" else None
            if vary is not None:
                if "cookie" not in vary.lower():
                    self.set_header("Vary", vary + ", Cookie")
            else:
                headers.add(name, value)

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        if self._session_finishing is not None:
            raise RuntimeError("Cannot write() after finish()")
        super().write(chunk)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        if self._session_finishing is not None:
            return  # the response is decided; finish() is completing it
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, StoreError) and not self._headers_written:
            # A short plain reason, never a traceback (not even with
            # serve_traceback): it is the store's trouble, not the page's.
            self._answer(error.reason)
            if not self._finished:
                self.finish()
            return
        super().send_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: BaseException | None, tb: Any) -> None:
        if isinstance(value, StoreError):
            return  # logged where the store call failed
        super().log_exception(typ, value, tb)

    def finish(self, chunk: str | bytes | dict[str, Any] | None = None) -> Future[None]:
        if self._session_finishing is not None:
            if chunk is not None:
                raise RuntimeError("finish() called twice")
            return self._session_finishing
        if self._finished or self._session_committed or self._session_machine is None:
            self._session_committed = True  # the commit point has passed (a deferred session's too)
            return super().finish(chunk)
        if chunk is not None:
            self.write(chunk)
        try:
            pending = self._commit()
        except StoreError as error:
            self._answer(error.reason)
            pending = None
        except UsageError:
            log.exception("the session was not saved")
            self._answer("internal server error")
            pending = None
        if pending is None:
            return super().finish()
        done: Future[None] = Future()
        done.add_done_callback(_retrieve)
        self._session_finishing = done
        self._session_task = asyncio.ensure_future(self._finish_after(pending, done))
        return done

    async def _finish_after(self, pending: Awaitable[None], done: Future[None]) -> None:
        try:
            await pending
        except StoreError as error:
            self._answer(error.reason)
        except Exception:
            log.exception("the session commit broke off")
            self._answer("internal server error")
        try:
            sent = super().finish()
        except Exception as exc:
            # What a plain finish() raising would get from Tornado: logged and
            # answered with a 500.
            self._session_finishing = None
            self.log_exception(*sys.exc_info())
            self.send_error(500, exc_info=sys.exc_info())
            done.set_exception(exc)
            return
        chain_future(sent, done)

    def _answer(self, text: str) -> None:
        # Replace the response with a plain 500, if it has not gone out yet.
        if self._headers_written:
            log.error("the response had already started; it stays as it was")
            return
        self.clear()
        self.set_status(500)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        super().write(text)


_CONFIGURATION = "_sansio_session_configuration"


def _configuration(application: Application) -> tuple[SessionOptions, Any, Executor]:
    # The settings, checked once per Application (and the intents' executor
    # made once), not on every request.
    found: tuple[SessionOptions, Any, Executor] | None = getattr(application, _CONFIGURATION, None)
    settings = application.settings
    if (
        found is not None
        and found[0] is settings.get("session_options")
        and found[1] is settings.get("session_store")
    ):
        return found
    options = settings.get("session_options")
    if not isinstance(options, SessionOptions):
        raise ConfigError("the Application needs the setting session_options=SessionOptions(...)")
    if "session_store" not in settings:
        raise ConfigError("the Application needs the setting session_store=<a session store>")
    store = settings["session_store"]
    found = (options, store, intent_executor(store, options.store_timeout))
    setattr(application, _CONFIGURATION, found)
    return found


def _is_tls(request: HTTPServerRequest) -> bool:
    return isinstance(getattr(request.connection, "stream", None), SSLIOStream)


def _retrieve(future: Future[None]) -> None:
    # As Tornado's own write futures do: a client that went away before the
    # end is no error for whoever did not await finish().
    if not future.cancelled():
        future.exception()
