# The embeddable server: trio.serve_tcp, one h11.Connection per connection.
#
# Theory of operation. A connection is a loop of request cycles. Each cycle
# waits for the first bytes of a request (at most `idle_timeout`), reads the
# whole request, head and body, within `read_timeout` of that, calls the
# handler, writes its response, and starts the next cycle if h11 says both
# sides may go on. h11 keeps the bytes of pipelined requests in its buffer,
# so those need no wait at all.
#
# What can go wrong, and what we answer:
#
# - bytes that are not HTTP/1.1: 400, from h11's RemoteProtocolError;
# - a header block over `max_header_bytes`: 431 (h11's own status hint for
#   its max_incomplete_event_size);
# - a body over `max_body_bytes`: 413, before reading it when the
#   Content-Length says so;
# - a request that takes longer than `read_timeout` to arrive: 408;
# - a handler that raises (or returns something else than a Response): 500
#   with a fixed text, and the traceback goes to the log, never to the
#   client. Once the headers are out, all we can do is cut the response
#   short by closing the connection, which the client sees as an error;
# - a client that does not read what we send for `send_timeout`: we close.
#
# Refusals close the connection. Before closing we read for a moment what
# the client may still be sending: closing a socket with unread data makes
# the kernel answer RST, which can destroy our answer before it is read.
#
# Shutting down is cancellation: cancel the scope around serve() and every
# listener and connection closes. Nothing here outlives that scope.
from __future__ import annotations

import logging
from collections.abc import AsyncIterable
from contextlib import suppress
from dataclasses import dataclass
from http import HTTPStatus
from typing import NoReturn

import h11
import trio

from ._http import Handler, Request, Response, request_path

__all__ = ["Limits", "serve", "serve_connection"]

log = logging.getLogger("sansio_session_trio")

_RECEIVE_SIZE = 65536
_LINGER_SECONDS = 2.0
_LINGER_BYTES = 1 << 20
_PHRASES = {status.value: status.phrase.encode() for status in HTTPStatus}
_REFUSALS = {
    400: "malformed request",
    408: "request timeout",
    413: "request body too large",
    431: "request header block too large",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """The server's bounds. Sizes are bytes and times seconds.

    ``idle_timeout`` is how long a connection may wait for its next request,
    ``read_timeout`` how long a request may take to arrive once its first
    bytes have, and ``send_timeout`` how long one write to the client may
    wait for the client to read.
    """

    max_header_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024
    idle_timeout: float = 60.0
    read_timeout: float = 30.0
    send_timeout: float = 30.0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"Limits.{name} must be a positive number, not {value!r}")


async def serve(
    handler: Handler,
    port: int,
    *,
    host: str | None = None,
    limits: Limits = Limits(),  # frozen, so one default is safe to share
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve ``handler`` on ``host``:``port`` until cancelled.

    With ``nursery.start(serve, ...)`` you get the listeners back once they
    are bound (``port=0`` picks a free port).
    """

    async def on_connection(stream: trio.SocketStream) -> None:
        await serve_connection(stream, handler, limits=limits)

    await trio.serve_tcp(on_connection, port, host=host, task_status=task_status)
    raise AssertionError("trio.serve_tcp returned")  # pragma: no cover - it never does


async def serve_connection(
    stream: trio.abc.Stream,
    handler: Handler,
    *,
    limits: Limits = Limits(),  # frozen, so one default is safe to share
    tls: bool = False,
) -> None:
    """Serve the requests of one connection, then close ``stream``.

    Use it for streams of your own: a ``trio.SSLStream`` (pass ``tls=True``)
    or, in tests, one end of ``trio.testing.memory_stream_pair()``. It raises
    nothing but trio.Cancelled.
    """
    try:
        await _Connection(stream, handler, limits, tls).run()
    except _Abort:
        pass
    except Exception:
        # Our own bug: log it and keep the rest of the server serving.
        log.exception("connection failed")
    finally:
        with suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.aclose()


def _head(status: int, headers: list[tuple[str, str]]) -> h11.Response:
    return h11.Response(status_code=status, headers=headers, reason=_PHRASES.get(status, b""))


class _Abort(Exception):
    # The connection is unusable (the client left, or stopped reading), or a
    # response was cut short: close it without another word.
    pass


class _Refusal(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Connection:
    def __init__(self, stream: trio.abc.Stream, handler: Handler, limits: Limits, tls: bool) -> None:
        self.stream = stream
        self.handler = handler
        self.limits = limits
        self.tls = tls
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_header_bytes)
        self.head_only = False

    async def run(self) -> None:
        while await self._cycle():
            self.conn.start_next_cycle()

    async def _cycle(self) -> bool:
        # One request and its response; True when another may follow.
        self.head_only = False
        if not await self._wait_for_request():
            return False  # idle too long: close without a word
        try:
            with trio.fail_after(self.limits.read_timeout):
                request = await self._read_request()
        except trio.TooSlowError:
            await self._refuse(408)
            return False
        except _Refusal as refusal:
            await self._refuse(refusal.status)
            return False
        if request is None:
            return False
        await self._respond(request)
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    async def _wait_for_request(self) -> bool:
        data, closed = self.conn.trailing_data
        if data or closed:
            return True  # a pipelined request, or the end, is already here
        with trio.move_on_after(self.limits.idle_timeout):
            self.conn.receive_data(await self._receive())
            return True
        return False

    def _receive_size(self) -> int:
        # h11 checks max_incomplete_event_size only against a head that is
        # still incomplete, so a big head that came whole in one read would
        # get past it. While a head is arriving we read no more than the
        # limit lets h11 hold, and a head over the limit is always caught.
        if self.conn.their_state is not h11.IDLE:
            return _RECEIVE_SIZE
        return max(1, self.limits.max_header_bytes + 1 - len(self.conn.trailing_data[0]))

    async def _receive(self) -> bytes:
        try:
            data = await self.stream.receive_some(self._receive_size())
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise _Abort from exc
        return data if isinstance(data, bytes) else bytes(data)

    async def _next_event(self) -> object:
        while True:
            try:
                event = self.conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Refusal(exc.error_status_hint if exc.error_status_hint in _REFUSALS else 400) from exc
            if event is not h11.NEED_DATA:
                return event
            if self.conn.they_are_waiting_for_100_continue:
                await self._send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
            self.conn.receive_data(await self._receive())

    async def _read_request(self) -> Request | None:
        head = await self._next_event()
        if not isinstance(head, h11.Request):
            return None  # the client closed the connection between requests
        self.head_only = head.method == b"HEAD"
        limit = self.limits.max_body_bytes
        for name, value in head.headers:
            # h11 has checked that a Content-Length is a number.
            if name == b"content-length" and int(value) > limit:
                raise _Refusal(413)
        body = bytearray()
        while not isinstance(event := await self._next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > limit:
                    raise _Refusal(413)
        target = head.target.decode("latin-1")
        return Request(
            method=head.method.decode("latin-1"),
            target=target,
            path=request_path(target),
            query=target.partition("?")[2].partition("#")[0],
            http_version=head.http_version.decode("latin-1"),
            headers=tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in head.headers),
            body=bytes(body),
            tls=self.tls,
        )

    async def _respond(self, request: Request) -> None:
        try:
            response = await self.handler(request)
            if not isinstance(response, Response):
                raise TypeError(f"the handler returned {type(response).__name__}, not a Response")
            await self._write(response)
        except _Abort:
            raise
        except Exception:
            log.exception("handler failed: %s %s", request.method, request.path)
            if self.conn.our_state is not h11.SEND_RESPONSE:
                raise _Abort from None  # the headers are out: cut the response short
            await self._send_text(500, "internal server error")

    def _has_body(self, status: int) -> bool:
        return not self.head_only and status not in (204, 304)

    async def _write(self, response: Response) -> None:
        headers = list(response.headers)
        names = {name.lower() for name, _ in headers}
        body = response.body
        if isinstance(body, (bytes, bytearray, memoryview)):
            if "content-length" not in names and "transfer-encoding" not in names:
                headers.append(("content-length", str(len(body))))
            # Built before it is sent: h11 checks the headers here, and a bad
            # one is still the handler's fault, answered with a 500.
            head = _head(response.status, headers)
            # One write for the whole response: two would cost a system call.
            conn = self.conn
            data = conn.send(head)
            if body and self._has_body(response.status):
                data += conn.send(h11.Data(data=bytes(body)))
            await self._send_bytes(data + conn.send(h11.EndOfMessage()))
        else:
            head = _head(response.status, headers)
            await self._stream(head, body, hold_back="content-length" in names)

    async def _stream(self, head: h11.Response, body: AsyncIterable[bytes], *, hold_back: bool) -> None:
        # The final bytes wait until the body's iterator has ended: that is
        # where a session wrapper commits. Chunked (or close-delimited), the
        # final bytes are EndOfMessage's; with a Content-Length they are the
        # body's last byte, so we hold one byte back, never more.
        send_body = self._has_body(head.status_code)
        held = b""
        await self._send(head)
        try:
            async for chunk in body:
                if send_body and chunk:
                    data = bytes(chunk)
                    if hold_back:
                        data, held = held + data[:-1], data[-1:]
                    if data:
                        await self._send(h11.Data(data=data))
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
        if held:
            await self._send(h11.Data(data=held))
        await self._send(h11.EndOfMessage())

    async def _send(self, event: h11.Event) -> None:
        await self._send_bytes(self.conn.send(event))

    async def _send_bytes(self, data: bytes | None) -> None:
        if data:
            try:
                with trio.fail_after(self.limits.send_timeout):
                    await self.stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError) as exc:
                raise _Abort from exc

    async def _send_text(self, status: int, text: str, *, close: bool = False) -> None:
        body = text.encode()
        headers = [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body)))]
        if close:
            headers.append(("connection", "close"))
        await self._send(_head(status, headers))
        if self._has_body(status):
            await self._send(h11.Data(data=body))
        await self._send(h11.EndOfMessage())

    async def _refuse(self, status: int) -> None:
        if self.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        await self._send_text(status, _REFUSALS[status], close=True)
        await self._linger()

    async def _linger(self) -> None:
        stream = self.stream
        lost = (trio.BrokenResourceError, trio.ClosedResourceError)
        with trio.move_on_after(_LINGER_SECONDS), suppress(*lost):
            if isinstance(stream, trio.abc.HalfCloseableStream):
                await stream.send_eof()
            read = 0
            while read < _LINGER_BYTES:
                data = await stream.receive_some(_RECEIVE_SIZE)
                if not data:
                    break
                read += len(data)
