# aiohttp's hello-world, bare or with aiohttp-session on its
# EncryptedCookieStorage (the session, Fernet-encrypted, in the cookie: the
# one storage it ships that needs no other server; see appargs.py).
from __future__ import annotations

import hashlib

from aiohttp import web
from appargs import BODY, MAX_AGE, SECRET, handle, parse, wants_session


def make_app(sessions: bool) -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        if sessions and wants_session(request.path):
            from aiohttp_session import get_session

            handle(request.path, await get_session(request))
        return web.Response(body=BODY, content_type="text/plain")

    app = web.Application()
    if sessions:
        from aiohttp_session import setup
        from aiohttp_session.cookie_storage import EncryptedCookieStorage

        # 32 raw bytes: the storage makes them the Fernet key.
        setup(app, EncryptedCookieStorage(hashlib.sha256(SECRET.encode()).digest(), max_age=MAX_AGE))
    app.router.add_get("/{tail:.*}", hello)
    return app


if __name__ == "__main__":
    args = parse()
    if args.sessions == "redis":
        raise SystemExit("the benchmark runs aiohttp-session on its cookie storage; no redis")

    async def on_startup(app: web.Application) -> None:
        print("ready", flush=True)

    app = make_app(args.sessions != "none")
    app.on_startup.append(on_startup)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)
