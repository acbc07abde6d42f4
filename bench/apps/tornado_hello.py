# Tornado's hello-world, bare or with SessionMixin (see appargs.py).
from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

from appargs import BODY, AppArgs, handle, parse, ready, wants_session
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler


class Bare(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.write(BODY)


def session_handler() -> type[RequestHandler]:
    from sansio_session_tornado import SessionMixin

    class WithSessions(SessionMixin, RequestHandler):
        def get(self) -> None:
            path = self.request.path
            handle(path, self.session if wants_session(path) else None)
            self.set_header("Content-Type", "text/plain")
            self.write(BODY)

    return WithSessions


@contextlib.asynccontextmanager
async def open_store(args: AppArgs) -> AsyncIterator[Any]:
    if args.sessions == "memory":
        from sansio_session import MemoryStore

        yield MemoryStore()
    else:
        from sansio_session_tornado.redis import RedisStore

        async with RedisStore(args.redis_url, prefix=args.prefix) as store:
            yield store


async def main(args: AppArgs) -> None:
    async with contextlib.AsyncExitStack() as stack:
        if args.sessions == "none":
            application = Application([(r".*", Bare)])
        else:
            from appargs import options

            store = await stack.enter_async_context(open_store(args))
            application = Application(
                [(r".*", session_handler())], session_options=options(), session_store=store
            )
        server = HTTPServer(application)
        server.add_sockets(bind_sockets(args.port, "127.0.0.1", reuse_port=args.reuse_port))
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        ready()
        await stop.wait()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main(parse()))
