# The embeddable server, without sessions: framing, limits, timeouts,
# errors and shutdown. Real loopback sockets where the kernel matters
# (keep-alive, pipelining, refusals with unread data, shutdown); memory
# streams on a MockClock where time does (timeouts) or where we watch what
# the server writes, in order.
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import h11
import pytest
import trio
from trio_helpers import Client, Events, in_memory, read_to_end, run

from sansio_session_trio import Handler, Limits, Request, Response, serve, serve_connection


async def echo(request: Request) -> Response:
    body = f"{request.method} {request.target} {len(request.body)}".encode()
    return Response(200, [("content-type", "text/plain")], body)


@asynccontextmanager
async def on_loopback(handler: Handler, limits: Limits | None = None) -> AsyncIterator[int]:
    async with trio.open_nursery() as nursery:
        start = partial(serve, handler, 0, host="127.0.0.1", limits=limits or Limits())
        listeners = await nursery.start(start)
        yield listeners[0].socket.getsockname()[1]
        nursery.cancel_scope.cancel()


def test_keep_alive_serves_many_requests_on_one_connection() -> None:
    async def main() -> None:
        async with on_loopback(echo) as port:
            client = Client(await trio.open_tcp_stream("127.0.0.1", port))
            for n in range(25):
                reply = await client.request("POST", f"/n/{n}", body=b"x" * n)
                assert (reply.status, reply.body) == (200, f"POST /n/{n} {n}".encode())
            assert client.conn.our_state is h11.IDLE  # still open, ready for more

    run(main)


def test_pipelined_requests_are_answered_in_order() -> None:
    async def main() -> None:
        async with on_loopback(echo) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(
                b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
                b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nxyz"
                b"GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            )
            data = await read_to_end(stream)
        assert data.count(b"HTTP/1.1 200 OK") == 3
        assert data.index(b"GET /a 0") < data.index(b"POST /b 3") < data.index(b"GET /c 0")

    run(main)


def test_a_malformed_request_gets_400_and_the_connection_closes() -> None:
    async def main() -> None:
        async with on_loopback(echo) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\nbad header line\r\n\r\n")
            data = await read_to_end(stream)
        assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
        assert b"connection: close" in data
        assert data.endswith(b"malformed request")

    run(main)


@pytest.mark.parametrize("size", [2_000, 300_000])
def test_an_oversized_header_block_gets_431_not_a_silent_close(size: int) -> None:
    # 2 kB arrives in one read; 300 kB is still arriving when we refuse it.
    async def main() -> None:
        async with on_loopback(echo, Limits(max_header_bytes=1024)) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stream.send_all, head)
                data = await read_to_end(stream)
        assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
        assert data.endswith(b"request header block too large")

    run(main)


def test_a_header_block_just_under_the_limit_is_served() -> None:
    async def main() -> None:
        async with in_memory(echo, limits=Limits(max_header_bytes=1024)) as connect:
            client = Client(connect())
            reply = await client.request("GET", "/", [("x-big", "a" * 900)])
        assert reply.status == 200

    run(main)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_the_limit_gets_413(framing: str) -> None:
    async def main() -> None:
        async with in_memory(echo, limits=Limits(max_body_bytes=100)) as connect:
            stream = connect()
            if framing == "content-length":
                # Refused from the head alone, before the body is read.
                await stream.send_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n")
            else:
                chunk = b"40\r\n" + b"x" * 64 + b"\r\n"
                await stream.send_all(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
                await stream.send_all(chunk * 2)
            data = await read_to_end(stream)
        assert data.startswith(b"HTTP/1.1 413 ")
        assert data.endswith(b"request body too large")

    run(main, autojump=True)


def test_a_body_at_the_limit_is_read_whole() -> None:
    async def main() -> None:
        async with in_memory(echo, limits=Limits(max_body_bytes=100)) as connect:
            reply = await Client(connect()).request("POST", "/", body=b"x" * 100)
        assert reply.body == b"POST / 100"

    run(main)


def test_expect_100_continue_gets_100_before_the_body() -> None:
    async def main() -> None:
        async with in_memory(echo) as connect:
            stream = connect()
            await stream.send_all(
                b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
            )
            assert await stream.receive_some() == b"HTTP/1.1 100 Continue\r\n\r\n"
            await stream.send_all(b"ok")
            data = b""
            while not data.endswith(b"POST / 2"):
                data += await stream.receive_some()

    run(main)


def test_an_idle_connection_is_closed_without_a_word() -> None:
    async def main() -> None:
        async with in_memory(echo, limits=Limits(idle_timeout=5)) as connect:
            client = Client(connect())
            assert (await client.request("GET", "/")).status == 200
            assert await read_to_end(client.stream) == b""  # the idle timeout, then EOF

    run(main, autojump=True)


def test_a_slow_client_gets_408_when_its_request_takes_too_long() -> None:
    async def main() -> None:
        async with in_memory(echo, limits=Limits(read_timeout=5, idle_timeout=60)) as connect:
            stream = connect()
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n")  # ... and never the rest
            data = await read_to_end(stream)
        assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")

    run(main, autojump=True)


def test_a_slow_body_is_bounded_by_the_read_timeout_too() -> None:
    async def main() -> None:
        async with in_memory(echo, limits=Limits(read_timeout=5)) as connect:
            stream = connect()
            await stream.send_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
            data = await read_to_end(stream)
        assert data.startswith(b"HTTP/1.1 408 ")

    run(main, autojump=True)


def test_a_client_that_stops_reading_is_dropped() -> None:
    async def endless(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            while True:
                yield b"x" * 65536

        return Response(200, [], chunks())

    async def main() -> None:
        # The lockstep pair has no buffer: a client that never reads blocks
        # every write, until the send timeout drops the connection.
        client, server = trio.testing.lockstep_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(serve_connection, server, endless, limits=Limits(send_timeout=5)))
            await client.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        # serve_connection returned: the server's end is closed.
        with pytest.raises(trio.BrokenResourceError):
            await client.send_all(b"more")

    run(main, autojump=True)


async def boom(request: Request) -> Response:
    if request.path == "/boom":
        raise RuntimeError("a secret detail")
    if request.path == "/not-a-response":
        return "hello"  # type: ignore[return-value]
    if request.path == "/bad-header":
        return Response(200, [("x-bad", "a\nb")], b"")
    return await echo(request)


@pytest.mark.parametrize("path", ["/boom", "/not-a-response", "/bad-header"])
def test_a_handler_error_is_a_500_without_a_traceback(path: str, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with in_memory(boom) as connect:
            client = Client(connect())
            reply = await client.request("GET", path)
            assert (reply.status, reply.body) == (500, b"internal server error")
            # The request was read whole, so the connection goes on.
            assert (await client.request("GET", "/after")).body == b"GET /after 0"

    with caplog.at_level(logging.ERROR, logger="sansio_session_trio"):
        run(main)
    assert f"handler failed: GET {path}" in caplog.text


def test_a_streamed_body_that_fails_midway_cuts_the_response_short(caplog: pytest.LogCaptureFixture) -> None:
    async def failing(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first"
            raise RuntimeError("a secret detail")

        return Response(200, [], chunks())

    async def main() -> None:
        async with in_memory(failing) as connect:
            client = Client(connect())
            with pytest.raises(h11.RemoteProtocolError):  # EOF before the final chunk
                await client.request("GET", "/")

    with caplog.at_level(logging.ERROR, logger="sansio_session_trio"):
        run(main)
    assert "a secret detail" in caplog.text


@pytest.mark.parametrize("content_length", [False, True])
def test_a_streamed_body_ends_only_after_its_iterator_has(content_length: bool) -> None:
    events: Events = []

    async def streamed(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"abc"
            yield b"def"
            events.append(("iterator ended", None))

        return Response(200, [("content-length", "6")] if content_length else [], chunks())

    async def main() -> None:
        async with in_memory(streamed, events=events) as connect:
            reply = await Client(connect()).request("GET", "/")
        assert reply.body == b"abcdef"

    run(main)
    sent: list[bytes | str] = [data if name == "sent" else name for name, data in events]
    ended = sent.index("iterator ended")
    if content_length:
        # The final bytes are the body's last byte, held back, and only it.
        assert sent[1:] == [b"ab", b"cde", "iterator ended", b"f"]
    else:
        assert sent[1:ended] == [b"3\r\nabc\r\n", b"3\r\ndef\r\n"]
        assert sent[ended + 1 :] == [b"0\r\n\r\n"]
    assert isinstance(sent[0], bytes) and sent[0].startswith(b"HTTP/1.1 200 OK\r\n")


def test_a_buffered_response_is_one_write() -> None:
    # Head, body and end together: a second write would cost a system call.
    events: Events = []

    async def main() -> None:
        async with in_memory(echo, events=events) as connect:
            client = Client(connect())
            for path in ("/one", "/two"):
                assert (await client.request("GET", path)).status == 200

    run(main)
    sent = [data for name, data in events if name == "sent"]
    assert len(sent) == 2
    assert all(data.startswith(b"HTTP/1.1 200 OK\r\n") for data in sent)
    assert sent[0].endswith(b"\r\n\r\nGET /one 0")


def test_head_gets_the_headers_of_get_and_no_body() -> None:
    async def main() -> None:
        async with in_memory(echo) as connect:
            client = Client(connect())
            head = await client.request("HEAD", "/x")
            after = await client.request("GET", "/after")  # the connection is still in step
        assert head.body == b""
        assert head.header("content-length") == str(len(b"HEAD /x 0"))  # what the handler made
        assert after.body == b"GET /after 0"

    run(main)


def test_cancellation_shuts_the_server_down_cleanly() -> None:
    async def never(request: Request) -> Response:
        await trio.sleep_forever()
        raise AssertionError

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(partial(serve, never, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            idle = await trio.open_tcp_stream("127.0.0.1", port)
            busy = await trio.open_tcp_stream("127.0.0.1", port)
            await busy.send_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
        # The nursery exited without an error; every connection is closed...
        assert await read_to_end(idle) == b""
        assert await read_to_end(busy) == b""
        # ...and so is the listener.
        with pytest.raises(OSError):
            await trio.open_tcp_stream("127.0.0.1", port)

    run(main)


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="read_timeout"):
        Limits(read_timeout=0)
    with pytest.raises(ValueError, match="max_body_bytes"):
        Limits(max_body_bytes=True)
