"""Sessions for an h11 server of your own, on trio.

Make one :class:`Sessions` at start-up. For each request, ``begin_h11()``
loads the session; when the response is ready, ``commit()`` does the store
work and ``cookie_headers()`` gives the headers to append to the
``h11.Response``. For a buffered body, commit first: the save is over before
any byte leaves, so a failed save can still be a 500. This is a complete
server, the session lines marked::

    import h11
    import trio
    from sansio_session import MemoryStore, SessionOptions, StoreError
    from sansio_session_trio import Sessions

    sessions = Sessions(SessionOptions(secret="change me"), MemoryStore())

    async def respond(stream, conn, request):
        try:
            cycle = await sessions.begin_h11(request, tls=False)  # session: load
            session = cycle.session  # None outside cookie.path
            views = 0 if session is None else session.get("views", 0) + 1
            if session is not None:
                session["views"] = views
            body = f"views: {views}\\n".encode()
            await cycle.commit()  # session: save, before any byte
            status, headers = 200, cycle.cookie_headers()  # session: cookie
        except StoreError as exc:
            status, body, headers = 500, exc.reason.encode(), []
        headers.append(("content-length", str(len(body))))
        for event in (h11.Response(status_code=status, headers=headers),
                      h11.Data(data=body), h11.EndOfMessage()):
            await stream.send_all(conn.send(event))

    async def serve_one(stream):
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                await respond(stream, conn, request)
                if conn.our_state is not h11.DONE:
                    return
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return

    # trio.run(trio.serve_tcp, serve_one, 8000)

For a streamed body, the order changes: append ``cycle.cookie_headers()`` to
the Response and send it, send the Data events, then ``await
cycle.commit()`` and only then send EndOfMessage. If that commit raises,
close the connection instead of ending the message, so the client sees an
incomplete response rather than a complete one whose session was lost.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import h11

from sansio_session import Action, Phase, Session, SessionMachine, SessionOptions, Store, StoreError
from sansio_session.sync import is_plain_result, run_action

from ._http import request_path
from ._store_calls import NOT_STARTED, awaited, call_store, call_store_method, runs_inline

__all__ = ["Sessions", "RequestSession"]


def _headers(request: h11.Request, proxy: bool | None) -> tuple[str | None, str | None]:
    # The Cookie header and, only when a proxy is trusted, X-Forwarded-Proto,
    # in one pass over the headers.
    cookies: list[bytes] = []
    protos: list[bytes] = []
    for key, value in request.headers:
        if key == b"cookie":
            cookies.append(value)
        elif proxy and key == b"x-forwarded-proto":
            protos.append(value)
    return (
        b"; ".join(cookies).decode("latin-1") if cookies else None,
        b", ".join(protos).decode("latin-1") if protos else None,
    )


class Sessions:
    """The session layer for trio: options, a store and a clock, made once.

    The store may be synchronous (called inline when it says
    ``blocking = False``, else in a worker thread) or asynchronous (awaited).
    ``clock`` returns POSIX seconds.
    """

    def __init__(
        self, options: SessionOptions, store: Store, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.options = options
        self.store = store
        self.clock = clock
        self._inline = runs_inline(store)

    def _execute(self, machine: SessionMachine, action: Action | None) -> Coroutine[Any, Any, None]:
        return _intent(self, machine, action)

    async def sessions_of(self, user: str) -> list[str]:
        """The ids of ``user``'s live sessions (Session.bind), from the store."""
        timeout = self.options.store_timeout
        return list(await call_store_method(self.store, "sessions_of", user, timeout=timeout))

    async def logout_everywhere(self, user: str) -> int:
        """Destroy every session bound to ``user``; return how many there were."""
        timeout = self.options.store_timeout
        return int(await call_store_method(self.store, "destroy_all", user, timeout=timeout))

    async def begin(
        self,
        cookie: str | None,
        *,
        path: str = "/",
        tls: bool = False,
        secure: bool | None = None,
        forwarded_proto: str | None = None,
    ) -> RequestSession:
        """Start one request from its Cookie header and load its session.

        Raises StoreError when the load fails (answer 500 with its
        ``reason``), unless ``on_store_failure`` is ``"continue"``.
        """
        start = (cookie, path, tls, secure, forwarded_proto)
        cycle = RequestSession(self, start)
        if self.options.can_defer(cookie):
            # Nothing to load and nothing to store unless it is used: the
            # session begins on first use, or never.
            return cycle
        load = cycle._begin()
        if load is not None:
            pending = cycle._settle(load)
            if pending is not None:
                await pending
        return cycle

    async def begin_h11(
        self, request: h11.Request, *, tls: bool, secure: bool | None = None
    ) -> RequestSession:
        """:meth:`begin` for an ``h11.Request``; ``tls`` says the connection is TLS."""
        # A user agent sends one Cookie header (RFC 6265, section 5.4), but
        # HTTP/2 may split it in several (RFC 9113, section 8.2.3) and a
        # gateway may pass them on: joined with "; " they are one again.
        cookie, forwarded_proto = _headers(request, self.options.proxy)
        return await self.begin(
            cookie,
            path=request_path(request.target.decode("latin-1")),
            tls=tls,
            secure=secure,
            forwarded_proto=forwarded_proto,
        )


class RequestSession:
    """One request's session: ``session``, then ``commit()`` and ``cookie_headers()``."""

    __slots__ = ("_machine", "_sessions", "_start", "_headers_out", "_committed")

    def __init__(
        self, sessions: Sessions, start: tuple[str | None, str, bool, bool | None, str | None]
    ) -> None:
        self._sessions = sessions
        self._start = start
        self._machine: SessionMachine | None = None
        # What the response did while the session was not begun yet.
        self._headers_out = False
        self._committed = False

    def _begin(self) -> Action | None:
        cookie, path, tls, secure, forwarded_proto = self._start
        # The executor is the Sessions' own: one of ours would make a cycle
        # (machine -> executor -> us -> machine) for the garbage collector.
        machine = self._machine = SessionMachine(self._sessions.options, executor=self._sessions._execute)
        return machine.begin(
            cookie,
            now=self._sessions.clock(),
            tls=tls,
            secure=secure,
            forwarded_proto=forwarded_proto,
            path=path,
        )

    @property
    def machine(self) -> SessionMachine:
        """The request's SessionMachine, for code that drives it directly."""
        machine = self._machine
        if machine is None:
            # A deferred session's first use. Without a cookie there is
            # nothing to load; what the response did meanwhile, the machine
            # is told, so it never stores a session whose cookie did not go
            # out, nor takes a change after the commit it could not save.
            self._begin()
            machine = self._machine
            assert machine is not None
            now = self._sessions.clock()
            if self._headers_out:
                machine.set_cookie(now)
            if self._committed:
                machine.commit(now)
        return machine

    @property
    def session(self) -> Session | None:
        """The session now (read it again after ``regenerate()`` or ``destroy()``)."""
        return self.machine.session

    async def commit(self) -> None:
        """Do the end-of-request store work (save, touch or destroy), if any.

        Raises StoreError when it fails; a buffered response is then a 500.
        """
        if self._machine is None and not self._committed:
            self._committed = True  # a deferred session never used: nothing to do
            return
        action = self.machine.commit(self._sessions.clock())
        if action is not None:
            pending = self._settle(action)
            if pending is not None:
                await pending

    def cookie_headers(self, headers: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
        """The headers to add to the response: a Set-Cookie (or none), and the
        cache headers that keep shared caches from mixing sessions up. Pass
        the response's own ``headers`` so that a Cache-Control of its own is
        kept. Call it once, as the headers are written."""
        if self._machine is None and not self._headers_out:
            self._headers_out = True  # a deferred session never used: no cookie, no Vary
            return []
        machine = self.machine
        decision = machine.set_cookie(self._sessions.clock())
        added = [] if decision is None else [("set-cookie", decision.value)]
        own_cache_control = any(name.lower() == "cache-control" for name, _ in headers)
        for name, value in machine.cache_headers(
            cookie_set=decision is not None, has_cache_control=own_cache_control
        ):
            added.append((name.lower(), value))
        return added

    def _settle(self, action: Action) -> Coroutine[Any, Any, None] | None:
        # A load or a commit: the machine says whether a failure ends the
        # request (FAILED) or lets it go on (on_store_failure="continue").
        # An in-memory store is called right here, without a coroutine: None
        # then says it is over; else the rest is a coroutine to await.
        if not self._sessions._inline:
            return self._settle_later(action)
        machine = self.machine
        store = self._sessions.store
        following: Action | None = action
        while following is not None:
            action = following
            try:
                result = run_action(store, action)
            except Exception as exc:
                failure = machine.store_failed(action, exc)
                if machine.phase is Phase.FAILED:
                    raise failure from exc
                return None
            if not is_plain_result(result) and inspect.isawaitable(result):
                return self._settle_later(action, result)
            # A compare-and-set save that met a newer record: the merged save.
            following = machine.store_done(action, result)
        return None

    async def _settle_later(self, action: Action, started: Any = NOT_STARTED) -> None:
        machine = self.machine
        failure = await _run(self._sessions, machine, action, started)
        if failure is not None and machine.phase is Phase.FAILED:
            raise failure


async def _run(
    sessions: Sessions, machine: SessionMachine, action: Action, started: Any = NOT_STARTED
) -> StoreError | None:
    store = sessions.store
    timeout = sessions.options.store_timeout
    # A compare-and-set save that met a newer record gives back the
    # merged save to run next: go on until the machine asks for nothing.
    next_action: Action | None = action
    while next_action is not None:
        try:
            if started is NOT_STARTED:
                result = await call_store(store, next_action, timeout)
            else:
                # The inline call's awaitable result.
                result = await awaited(started, timeout)
                started = NOT_STARTED
        except Exception as exc:
            return machine.store_failed(next_action, exc)
        next_action = machine.store_done(next_action, result)
    return None


async def _intent(sessions: Sessions, machine: SessionMachine, action: Action | None) -> None:
    # What the session's intents (save, regenerate, ...) return.
    if action is not None:
        failure = await _run(sessions, machine, action)
        if failure is not None:
            raise failure
