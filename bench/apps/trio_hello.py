# trio + h11's hello-world, bare or with sessions (see appargs.py), as one
# of two servers:
#
#   --server h11     the minimal h11 loop anyone would write (one write per
#                    response), with the session lines of Sessions, the
#                    driver's API for h11 loops of your own;
#   --server serve   the driver's embeddable server, sansio_session_trio.serve(),
#                    bare or around with_sessions().
from __future__ import annotations

import argparse
import signal
import socket
import sys
from contextlib import AsyncExitStack
from functools import partial
from typing import Any

import h11
import trio
from appargs import BODY, AppArgs, handle, options, parse, ready, wants_session

from sansio_session import StoreError

HEADERS = [("content-type", "text/plain"), ("content-length", str(len(BODY)))]


async def respond(
    stream: trio.SocketStream, conn: h11.Connection, request: h11.Request, sessions: Any
) -> None:
    status, headers, body = 200, list(HEADERS), BODY
    if sessions is not None:
        try:
            cycle = await sessions.begin_h11(request, tls=False)
            path = request.target.decode("latin-1")
            handle(path, cycle.session if wants_session(path) else None)
            await cycle.commit()
            headers += cycle.cookie_headers()
        except StoreError as exc:
            body = exc.reason.encode()
            status, headers = 500, [("content-type", "text/plain"), ("content-length", str(len(body)))]
    response = h11.Response(status_code=status, headers=headers)
    # One write for the whole response, as anyone would: two would cost a syscall.
    await stream.send_all(
        conn.send(response) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
    )


async def serve_h11(stream: trio.SocketStream, sessions: Any) -> None:
    conn = h11.Connection(h11.SERVER)
    request: h11.Request | None = None
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                await respond(stream, conn, request, sessions)
                if conn.our_state is not h11.DONE:
                    return
                conn.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return
    except (trio.BrokenResourceError, h11.RemoteProtocolError):
        return
    finally:
        await stream.aclose()


def serve_handler(sessions: bool, store: Any) -> Any:
    from sansio_session_trio import Request, Response, with_sessions

    async def bare(request: Request) -> Response:
        return Response(200, HEADERS[:1], BODY)

    if not sessions:
        return bare

    async def with_session(request: Request, cycle: Any) -> Response:
        handle(request.path, cycle.session if wants_session(request.path) else None)
        return Response(200, HEADERS[:1], BODY)

    return with_sessions(with_session, options(), store)


async def listeners(args: AppArgs) -> list[trio.SocketListener]:
    if not args.reuse_port:
        return await trio.open_tcp_listeners(args.port, host="127.0.0.1")
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    await sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    return [trio.SocketListener(sock)]


async def main(args: AppArgs, server: str) -> None:
    async with AsyncExitStack() as stack:
        store: Any = None
        if args.sessions == "memory":
            from sansio_session import MemoryStore

            store = MemoryStore()
        elif args.sessions == "redis":
            from sansio_session_trio.redis import RedisStore

            store = await stack.enter_async_context(RedisStore(args.redis_url, prefix=args.prefix))
        if server == "h11":
            sessions = None
            if store is not None:
                from sansio_session_trio import Sessions

                sessions = Sessions(options(), store)
            on_connection: Any = partial(serve_h11, sessions=sessions)
        else:
            from sansio_session_trio import serve_connection

            on_connection = partial(serve_connection, handler=serve_handler(store is not None, store))
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(trio.serve_listeners, on_connection, await listeners(args))
                ready()
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break


if __name__ == "__main__":
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--server", choices=("h11", "serve"), default="h11")
    known, rest = extra.parse_known_args()
    trio.run(main, parse(rest), known.server)
    sys.exit(0)
