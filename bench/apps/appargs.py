# What every benchmark app shares: its command line, its routes and the
# session options, so that the frameworks differ only in themselves.
#
#     python bench/apps/<framework>_hello.py --port P --sessions none|memory|redis
#                                            [--redis-url URL] [--prefix P] [--reuse-port]
#
# Every app answers the same four paths with the same 12-byte text/plain body:
#
#   /login    with sessions: puts two keys in the session, so the runner gets
#             a cookie that names a stored session (shapes b and c);
#   /ignore   shape (a): the handler never looks at the session;
#   /read     shape (b): the handler reads one key;
#   /write    shape (c): the handler writes one key, a new value every time
#             (a value that did not change would not be saved).
#
# With --sessions none all four are the bare framework's hello-world. An app
# prints "ready" on stdout once it listens, which is what the runner waits
# for (with --reuse-port several processes share one port, so a connect
# would not tell which of them is up).
from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BODY = b"hello, world"
SECRET = "a benchmark secret that is long enough to sign"
MAX_AGE = 3600
PATHS = ("/login", "/ignore", "/read", "/write")


@dataclass(frozen=True)
class AppArgs:
    port: int
    sessions: str
    redis_url: str
    prefix: str
    reuse_port: bool


def parse(argv: Sequence[str] | None = None) -> AppArgs:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", choices=("none", "memory", "redis"), default="none")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--prefix", default="bench:")
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args(argv)
    return AppArgs(args.port, args.sessions, args.redis_url, args.prefix, args.reuse_port)


def ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()


def options() -> Any:
    """Our SessionOptions: express-session's defaults, with a one-hour cookie."""
    from sansio_session import CookieOptions, SessionOptions

    return SessionOptions(secret=SECRET, cookie=CookieOptions(max_age=MAX_AGE))


_counter = itertools.count()


def handle(path: str, session: Any) -> None:
    """What each route does to a dict-like session (None: bare, or no session)."""
    if session is None:
        return
    if path == "/login":
        session["user"] = "someone@example.com"
        session["views"] = 1
    elif path == "/read":
        session.get("user")
    elif path == "/write":
        session["n"] = next(_counter)


def wants_session(path: str) -> bool:
    """Shape (a)'s handler never touches the session, not even to get it."""
    return path != "/ignore"
