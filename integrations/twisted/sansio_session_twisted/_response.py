# The end of a response, where the session's last two steps go.
#
# Resources write a response with request.write() and end it with
# request.finish(), and so does Twisted itself: the bytes a resource returns
# (Request.render), the HEAD it fakes with GET, the 405 page, the 500 of
# processingFailed, a redirect. Twisted has no hook "before the headers" or
# "before the end", so we put our own write and finish on the one request
# object, and leave everything else as it is:
#
#   - A write that completes the response (it reaches the declared
#     Content-Length, or the response has no body: HEAD, 204, 304) is kept
#     until finish(). That is how Twisted sends returned bytes, its own error
#     pages and most small responses, so for all of them nothing leaves before
#     the commit is done. They are buffered responses: commit, then the cookie,
#     then the headers, and a failed commit can still become a 500.
#   - Any other first write sends the headers and the body goes on after it
#     (chunked, or until the connection closes): a streamed response. The
#     cookie is decided there, and finish() runs the commit before Twisted
#     writes the final bytes (the terminating chunk).
#
# We hold that one write (a reference to the caller's bytes), never what came
# before it, so a slow store cannot make a response pin more memory than its
# last write: the denial of service that made expressjs/session#461 refuse to
# hold headers back.
#
# Twisted Web's Request and Resource methods carry no type hints yet:
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import NO_BODY_CODES
from twisted.web.server import Request

from sansio_session import Phase, SessionMachine, StoreError, UsageError

from ._store_calls import StoreCalls

__all__ = ["Response"]

_log = Logger(namespace="sansio_session_twisted")


class Response:
    """One request's write and finish, with the session's end put in them."""

    def __init__(self, request: Request, machine: SessionMachine, calls: StoreCalls, clock: Any) -> None:
        self._request = request
        self._machine = machine
        self._calls = calls
        self._clock = clock
        self._write: Callable[[bytes], None] = request.write
        self._finish: Callable[[], object] = request.finish
        self._held: list[bytes] | None = None
        self._cookie_decided = False
        self._finishing = False
        request.write = self.write  # type: ignore[method-assign]
        request.finish = self.finish  # type: ignore[method-assign]

    def _bodiless(self) -> bool:
        request = self._request
        return request.method == b"HEAD" or request.code in NO_BODY_CODES

    def _completes(self, data: bytes) -> bool:
        if self._bodiless():
            return True
        length = self._request.responseHeaders.getRawHeaders(b"content-length")
        if length is None:
            return False
        try:
            return self._request.sentLength + len(data) >= int(length[-1])
        except ValueError:
            return False

    def write(self, data: bytes) -> None:
        if self._held is not None:
            # After the completing write there is nothing a bodiless response
            # can send; bytes past Content-Length are a resource's bug, which
            # we pass on in order, as Twisted would.
            if not self._bodiless():
                self._held.append(data)
            return
        if self._finishing:
            if self._bodiless():
                return  # Twisted drops these as well
            raise RuntimeError("Request.write called after Request.finish was called.")
        if self._completes(data):
            self._held = [data]
            return
        self._decide_cookie()
        self._write(data)

    def finish(self) -> None:
        if self._finishing:
            return  # finish() again while the commit is out: the first one ends it
        self._finishing = True
        machine = self._machine
        if machine.phase is Phase.ERROR:
            self._end()
            return
        try:
            action = machine.commit(self._clock.seconds())
        except UsageError:
            # The handler misused its session (say, left an intent running);
            # the response still has to go out.
            _log.failure("session not committed")
            self._end()
            return
        try:
            pending = None if action is None else self._calls.settle(machine, action)
        except StoreError:
            self._committed(Failure())
            return
        if pending is None:
            self._committed(None)
        else:
            pending.addBoth(self._committed)

    def _committed(self, outcome: object) -> None:
        if getattr(self._request, "_disconnected", False):
            # The client has gone (Twisted's own flag, which connectionLost
            # sets): there is nobody to send the rest to.
            self._release()
            return
        request = self._request
        if (
            isinstance(outcome, Failure)
            and self._machine.phase is Phase.FAILED
            and not request.startedWriting
        ):
            error = outcome.value
            assert isinstance(error, StoreError)
            self._replace_with_error(error.reason)
        self._decide_cookie()
        self._end()

    def headers_went_out(self) -> None:
        """The headers were sent before this response was set up: decide now
        (there is no cookie to add any more), as a streamed response would."""
        self._decide_cookie()

    def _decide_cookie(self) -> None:
        if self._cookie_decided:
            return
        self._cookie_decided = True
        if self._machine.phase is Phase.ERROR:
            return
        try:
            decision = self._machine.set_cookie(self._clock.seconds())
        except UsageError:
            _log.failure("session cookie not decided")
            return
        request = self._request
        if decision is not None:
            # Request.write sets every Set-Cookie from request.cookies when it
            # sends the headers, so ours goes there, beside addCookie()'s.
            request.cookies.append(decision.value.encode("utf-8"))
        headers = request.responseHeaders
        for name, value in self._machine.cache_headers(
            cookie_set=decision is not None, has_cache_control=headers.hasHeader(b"cache-control")
        ):
            headers.addRawHeader(name, value)  # a second Vary line adds to the first

    def _end(self) -> None:
        held, self._held = self._held, None
        if held is not None or not self._request.startedWriting:
            # Twisted's finish() would send the headers with write(b""), which
            # is ours now; we send them here instead.
            self._write(b"".join(held or ()))
        self._release()
        self._finish()

    def _release(self) -> None:
        # Give the request its own write and finish back: our bound methods
        # on it are a reference cycle (request -> Response -> request) that
        # would leave every request to the garbage collector.
        own = vars(self._request)
        own.pop("write", None)
        own.pop("finish", None)

    def _replace_with_error(self, reason: str) -> None:
        request = self._request
        body = reason.encode("utf-8")
        request.setResponseCode(500)
        request.responseHeaders.setRawHeaders(b"content-type", [b"text/plain; charset=utf-8"])
        request.responseHeaders.setRawHeaders(b"content-length", [b"%d" % len(body)])
        self._held = [body]

    def fail(self, reason: str) -> bool:
        """Answer 500 with ``reason`` if nothing was sent yet; False if too late."""
        if self._request.startedWriting or self._finishing:
            return False
        self._replace_with_error(reason)
        self.finish()
        return True
