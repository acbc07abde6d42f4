# Starlette's hello-world under uvicorn, bare or with Starlette's own
# SessionMiddleware (a signed cookie that holds the whole session; see
# appargs.py). uvicorn runs its pure-Python h11 protocol on the stock asyncio
# loop, the same footing as our drivers: no uvloop, no httptools.
from __future__ import annotations

import socket

import uvicorn
from appargs import BODY, MAX_AGE, SECRET, handle, parse, wants_session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def make_app(sessions: bool) -> Starlette:
    async def hello(request: Request) -> Response:
        if sessions:
            path = request.url.path
            handle(path, request.session if wants_session(path) else None)
        return Response(BODY, media_type="text/plain")

    routes = [Route(path, hello) for path in ("/login", "/ignore", "/read", "/write")]
    middleware = [Middleware(SessionMiddleware, secret_key=SECRET, max_age=MAX_AGE)] if sessions else []
    return Starlette(routes=routes, middleware=middleware)


class Server(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        print("ready", flush=True)


if __name__ == "__main__":
    args = parse()
    if args.sessions == "redis":
        raise SystemExit("Starlette's SessionMiddleware keeps the session in its cookie; no redis")
    config = uvicorn.Config(
        make_app(args.sessions != "none"),
        host="127.0.0.1",
        port=args.port,
        http="h11",
        loop="asyncio",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    Server(config).run()
