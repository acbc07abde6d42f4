# Sessions for the embeddable server's handlers.
#
# with_sessions() wraps a handler of (request, RequestSession) into a
# handler of the server. It only orders the steps; what to store and whether
# to send a cookie is the machine's to say:
#
# - before the handler: load the session;
# - a bytes body: the server writes the headers only once we return, so we
#   commit first and add the cookie after, and a failed save is still a 500;
# - a streamed body: the headers go out as soon as we return, so the cookie
#   is decided now, and the commit runs when the body's iterator ends, which
#   is after its last chunk and before the server's final bytes (see
#   _server.py: the EndOfMessage, or a held-back last byte). A failed commit
#   there raises in the server, which cuts the response short.
from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TypeAlias

from sansio_session import SessionOptions, Store, StoreError

from ._h11 import RequestSession, Sessions
from ._http import Handler, Request, Response

__all__ = ["with_sessions", "SessionHandler"]

#: A handler that gets the request's session beside the request.
SessionHandler: TypeAlias = Callable[[Request, RequestSession], Awaitable[Response]]


def with_sessions(
    handler: SessionHandler, options: SessionOptions, store: Store, *, clock: Callable[[], float] = time.time
) -> Handler:
    """Give ``handler`` a session; the result is a handler for :func:`serve`.

    A StoreError, from the load, an intent the handler did not catch, or a
    buffered response's commit, is answered 500 with its short reason.
    ``clock`` returns POSIX seconds.
    """
    sessions = Sessions(options, store, clock=clock)

    proxy = options.proxy

    async def with_session(request: Request) -> Response:
        cookies: list[str] = []
        protos: list[str] = []
        for name, value in request.headers:
            if name == "cookie":
                cookies.append(value)
            elif proxy and name == "x-forwarded-proto":
                protos.append(value)
        try:
            cycle = await sessions.begin(
                # Several Cookie headers are one, joined with "; " (see _h11.py).
                "; ".join(cookies) if cookies else None,
                path=request.path,
                tls=request.tls,
                forwarded_proto=", ".join(protos) if protos else None,
            )
            response = await handler(request, cycle)
            body = response.body
            if isinstance(body, (bytes, bytearray, memoryview)):
                await cycle.commit()
                headers = [*response.headers, *cycle.cookie_headers(response.headers)]
                return Response(response.status, headers, body)
        except StoreError as exc:
            return Response(500, [("content-type", "text/plain; charset=utf-8")], exc.reason.encode())
        headers = [*response.headers, *cycle.cookie_headers(response.headers)]
        return Response(response.status, headers, _commit_after(body, cycle))

    return with_session


async def _commit_after(body: AsyncIterable[bytes], cycle: RequestSession) -> AsyncIterator[bytes]:
    try:
        async for chunk in body:
            yield chunk
    finally:
        # A body cut short (the client left) is closed, and not committed.
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
    await cycle.commit()
