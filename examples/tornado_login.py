# Log in and out of a Tornado app with server-side sessions.
#
#     python examples/tornado_login.py [--port 8000]
#
#     GET  /         who is logged in (JSON)
#     POST /login    user=...&password=...  (form fields)
#     POST /logout
#
# Logging in regenerates the session: the visitor gets a new id, so an id an
# attacker planted in their browser before the login is worth nothing after
# it (session fixation). Logging out destroys the session in the store and
# expires the cookie. The cookie is SameSite=Lax by default, which keeps
# other sites from posting to /logout with it; a real app would add Tornado's
# xsrf_cookies too.
from __future__ import annotations

import argparse
import asyncio
import hmac
import os
import secrets
import signal

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, HTTPError, RequestHandler

from sansio_session import MemoryStore, Session, SessionOptions
from sansio_session_tornado import SessionMixin

# A toy user table; a real app keeps password hashes, never passwords.
USERS = {"alice": "wonderland", "bob": "builder"}


class Base(SessionMixin, RequestHandler):
    def the_session(self) -> Session:
        session = self.session
        if session is None:
            raise HTTPError(500, "no session")
        return session


class Home(Base):
    def get(self) -> None:
        self.write({"user": self.the_session().get("user")})


class Login(Base):
    async def post(self) -> None:
        user = self.get_body_argument("user")
        password = self.get_body_argument("password")
        expected = USERS.get(user)
        if expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
            raise HTTPError(403, "wrong user or password")
        # A new id for the new privilege level; keep_data=True would carry
        # over what the visitor had (a cart, say).
        await self.the_session().regenerate()
        self.the_session()["user"] = user
        self.write({"user": user})


class Logout(Base):
    async def post(self) -> None:
        await self.the_session().destroy()
        self.write({"user": None})


def make_app(secret: str) -> Application:
    return Application(
        [(r"/", Home), (r"/login", Login), (r"/logout", Logout)],
        session_options=SessionOptions(secret=secret),
        session_store=MemoryStore(),
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description="Log in and out with server-side sessions.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    # A fresh secret per start is enough for a memory store, whose sessions
    # end with the process anyway.
    app = make_app(os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32))
    sockets = bind_sockets(args.port, args.host)
    server = HTTPServer(app)
    server.add_sockets(sockets)
    print(f"listening on http://{args.host}:{sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(main())
