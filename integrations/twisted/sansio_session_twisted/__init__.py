# sansio-session for Twisted Web: wrap any resource tree with sessions.
#
#     root = SessionResource(my_root, SessionOptions(secret=...), MemoryStore())
#     site = server.Site(root)
#
# and in any resource below it, `session_of(request)` is the session (a
# MutableMapping), or None. We avoid Twisted's own names: request.session and
# request.getSession() are Twisted's unsigned in-memory sessions, and stay as
# they are.
#
# How it hooks in. Twisted finds a request's resource by walking
# getChildWithDefault() from the root until a leaf; we wrap each resource the
# walk returns, so the one that renders is always ours. Its render() begins
# the session (loading it from the store if the cookie names one) and then
# hands the wrapped resource to request.render(), which keeps all of
# Twisted's own handling: HEAD on a GET-only resource, 405, the checks on
# what render returned. The response's end is in _response.py: the commit
# runs before the final bytes and the cookie is decided as the headers go.
# We decide nothing ourselves; the machine does.
#
# Twisted Web's Request and Resource methods carry no type hints yet:
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import weakref
from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.error import UnsupportedMethod
from twisted.web.resource import IResource, Resource, _IEncodingResource
from twisted.web.server import NOT_DONE_YET, Request
from zope.interface import implementer  # type: ignore[import-untyped]

from sansio_session import (
    MAX_COOKIE_HEADER,
    Action,
    Phase,
    Session,
    SessionMachine,
    SessionOptions,
    StoreError,
    UsageError,
)

from ._response import Response
from ._store_calls import StoreCalls

__version__ = "0.1.0"
__all__ = ["SessionResource", "machine_of", "session_of"]

_log = Logger(namespace="sansio_session_twisted")
_ATTRIBUTE = "_sansio_session_machine"


class _Shared:
    # What every wrapper of one tree has in common.
    __slots__ = ("options", "calls", "reactor")

    def __init__(self, options: SessionOptions, calls: StoreCalls, reactor: Any) -> None:
        self.options = options
        self.calls = calls
        self.reactor = reactor


@implementer(IResource, _IEncodingResource)
class SessionResource:
    """Sessions for ``wrapped`` and every resource found through it.

    ``store`` is any store of sansio_session: a synchronous one with
    ``blocking = False`` is called on the reactor, one with ``blocking = True``
    (or without the attribute) in the reactor's thread pool, one that returns
    Deferreds works on any reactor, and one with coroutine methods only under
    the asyncio reactor (anything else raises ConfigError here). Each store
    call is bounded by ``options.store_timeout``. ``reactor`` defaults to the
    global one.

    A failed store call answers 500 ``text/plain`` with a short reason (no
    traceback) and is logged with twisted.logger; so does a StoreError that a
    resource's render lets through (from ``await session.save()`` and the
    other intents), while nothing has been sent yet.
    """

    def __init__(
        self, wrapped: IResource | Resource, options: SessionOptions, store: Any, *, reactor: Any = None
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor
        # Any: without a zope plugin, mypy cannot see what an IResource provides.
        self._wrapped: Any = wrapped
        self._shared = _Shared(options, StoreCalls(store, options.store_timeout, reactor), reactor)

    @classmethod
    def _around(cls, wrapped: Any, shared: _Shared) -> SessionResource:
        child = cls.__new__(cls)
        child._wrapped = wrapped
        child._shared = shared
        return child

    @property
    def wrapped(self) -> Any:
        """The resource this one wraps."""
        return self._wrapped

    # -- IResource: the tree is the wrapped one -----------------------------

    @property
    def isLeaf(self) -> bool:
        return bool(self._wrapped.isLeaf)

    def getChildWithDefault(self, name: bytes, request: Request) -> SessionResource:
        child = self._wrapped.getChildWithDefault(name, request)
        if isinstance(child, SessionResource):
            return child  # a subtree with sessions of its own keeps them
        return self._around(child, self._shared)

    def putChild(self, path: bytes, child: IResource | Resource) -> None:
        self._wrapped.putChild(path, child)

    def getEncoder(self, request: Request) -> Any:
        # Request.process asks the resource it found for an encoder (gzip);
        # without this a wrapped EncodingResourceWrapper would stop encoding.
        if _IEncodingResource.providedBy(self._wrapped):
            return self._wrapped.getEncoder(request)
        return None

    def sessions_of(self, user: str) -> defer.Deferred[list[str]]:
        """The ids of ``user``'s live sessions (Session.bind), from the store."""
        return self._shared.calls.call("sessions_of", user).addCallback(list)

    def logout_everywhere(self, user: str) -> defer.Deferred[int]:
        """Destroy every session bound to ``user``; fires with how many there were."""
        return self._shared.calls.call("destroy_all", user).addCallback(int)

    def render(self, request: Request) -> object:
        shared = self._shared
        cookies = request.requestHeaders.getRawHeaders(b"cookie")
        header = None if cookies is None else b"; ".join(cookies).decode("latin-1")
        if header is not None and len(header) > MAX_COOKIE_HEADER:
            # More than the session layer reads: say so (RFC 6585 section 5).
            request.setResponseCode(431)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"request header fields too large"
        if shared.options.can_defer(header):
            # Nothing to load, nothing to store unless it is used: the
            # session begins on first use (machine_of), or never.
            setattr(request, _ATTRIBUTE, _Later(self, header))
            return self._wrapped.render(request)
        machine, load = self._begin(request, header)
        if load is None:
            return self._render_now(request, machine)
        try:
            pending = shared.calls.settle(machine, load)
        except StoreError as error:
            self._load_failed(error, request, machine)
            return NOT_DONE_YET
        if pending is None:
            return self._render_now(request, machine)
        pending.addCallbacks(
            lambda _: self._render(request, machine),
            _trap_store_error,
            errbackArgs=(self._load_failed, request, machine),
        )
        pending.addErrback(_crashed, request)
        # The wrapped resource renders through request.render(), which sends
        # its result itself; for Twisted this render has gone asynchronous.
        return NOT_DONE_YET

    def _begin(self, request: Request, header: str | None) -> tuple[SessionMachine, Action | None]:
        shared = self._shared
        machine = SessionMachine(shared.options, executor=shared.calls.execute)
        setattr(request, _ATTRIBUTE, machine)
        proto = request.getHeader(b"x-forwarded-proto") if shared.options.proxy else None
        load = machine.begin(
            header,
            now=shared.reactor.seconds(),
            tls=_TLS(request),  # asked only if the cookie's Secure depends on it
            forwarded_proto=None if proto is None else proto.decode("latin-1"),
            path=request.path.decode("latin-1"),
        )
        return machine, load

    def _begin_late(self, request: Request, header: str | None) -> SessionMachine:
        # A deferred session's first use. Without a cookie there is nothing
        # to load; what the response did meanwhile, the machine is told, so
        # it never stores a session whose cookie did not go out, nor takes a
        # change after the end that it could not save.
        machine, load = self._begin(request, header)
        assert load is None
        response = Response(request, machine, self._shared.calls, self._shared.reactor)
        if request.startedWriting:
            response.headers_went_out()
        if request.finished:
            machine.commit(self._shared.reactor.seconds())
        return machine

    def _render_now(self, request: Request, machine: SessionMachine) -> object:
        # Still inside Twisted's own request.render(): what the wrapped
        # resource returns goes back to it, handled as if we were not there.
        response = Response(request, machine, self._shared.calls, self._shared.reactor)
        try:
            return self._wrapped.render(request)
        except UnsupportedMethod:
            # Raised by the method dispatch, before any render_* ran: let
            # Twisted fake HEAD from GET, or answer 405, for the wrapped
            # resource alone (rendering us again would begin a second session).
            request.render(self._wrapped)
        except StoreError as exc:
            # An intent failed and the resource let the error through.
            if not response.fail(exc.reason):
                raise
        return NOT_DONE_YET

    def _render(self, request: Request, machine: SessionMachine) -> None:
        response = Response(request, machine, self._shared.calls, self._shared.reactor)
        try:
            request.render(self._wrapped)
        except StoreError as exc:
            # An intent failed and the resource let the error through.
            if not response.fail(exc.reason):
                request.processingFailed(Failure())
        except Exception:
            request.processingFailed(Failure())

    def _load_failed(self, error: StoreError, request: Request, machine: SessionMachine) -> None:
        if machine.phase is not Phase.FAILED:
            self._render(request, machine)  # on_store_failure="continue": go on without a session
            return
        Response(request, machine, self._shared.calls, self._shared.reactor).fail(error.reason)


def _trap_store_error(failure: Failure, then: Any, *args: Any) -> None:
    failure.trap(StoreError)
    then(failure.value, *args)


def _crashed(failure: Failure, request: Request) -> None:
    # A bug of ours, or of a resource whose render we called from a Deferred:
    # answer as Twisted would have, rather than leave the client waiting.
    _log.failure("rendering a session request failed", failure=failure)
    if not request.finished:
        request.processingFailed(failure)


class _TLS:
    # Whether the request came over TLS, for the machine to ask only if it
    # needs to know. It holds the request weakly: the request holds the
    # machine, and a cycle would leave every request to the garbage collector.
    __slots__ = ("_request",)

    def __init__(self, request: Request) -> None:
        self._request = weakref.ref(request)

    def __call__(self) -> bool:
        request = self._request()
        return request is not None and bool(request.isSecure())


class _Later:
    # A request's session, not begun yet (SessionOptions.can_defer).
    __slots__ = ("resource", "header")

    def __init__(self, resource: SessionResource, header: str | None) -> None:
        self.resource = resource
        self.header = header


def machine_of(request: Any) -> SessionMachine:
    """The session machine of a request that came through a SessionResource."""
    machine = getattr(request, _ATTRIBUTE, None)
    if isinstance(machine, _Later):
        machine = machine.resource._begin_late(request, machine.header)
    if machine is None:
        raise UsageError("this request did not come through a SessionResource")
    assert isinstance(machine, SessionMachine)
    return machine


def session_of(request: Any) -> Session | None:
    """The request's session, or None (destroyed, unset, outside cookie.path).

    Read it when you need it: regenerate() replaces the session, destroy()
    and unset() remove it. Its intents (``save()``, ``regenerate()``,
    ``destroy()``, ``reload()``) return Deferreds; ``await`` them in a
    coroutine (Deferred.fromCoroutine, ensureDeferred, inlineCallbacks).
    """
    return machine_of(request).session
