# Twisted Web's hello-world, bare or under SessionResource (see appargs.py),
# on the default (epoll) reactor. Neither variant writes an access log: it
# would cost both the same and only blur the difference.
#
# Twisted Web carries no type hints yet:
# mypy: disable-error-code="no-untyped-call,misc"
from __future__ import annotations

import socket
from typing import Any

from appargs import BODY, AppArgs, handle, options, parse, ready, wants_session
from twisted.internet import reactor as default_reactor
from twisted.web import http, resource, server

reactor: Any = default_reactor
session_of: Any = None


class Hello(resource.Resource):
    isLeaf = True

    def __init__(self, sessions: bool) -> None:
        super().__init__()
        self._sessions = sessions
        if sessions:
            # Imported once here: the bare variant never imports the driver.
            global session_of
            from sansio_session_twisted import session_of

    def render_GET(self, request: server.Request) -> bytes:
        if self._sessions:
            path = request.path.decode("latin-1")
            handle(path, session_of(request) if wants_session(path) else None)
        request.setHeader(b"content-type", b"text/plain")
        return BODY


class QuietSite(server.Site):
    def log(self, request: http.Request) -> None:
        pass


def make_store(args: AppArgs) -> Any:
    if args.sessions == "memory":
        from sansio_session import MemoryStore

        return MemoryStore()
    from sansio_session_twisted.redis import RedisStore

    store = RedisStore(args.redis_url, prefix=args.prefix)
    reactor.callWhenRunning(store.start)
    return store


def listen(args: AppArgs, site: server.Site) -> None:
    if not args.reuse_port:
        reactor.listenTCP(args.port, site, interface="127.0.0.1")
        return
    # listenTCP has no SO_REUSEPORT: bind the socket ourselves and adopt it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(128)
    sock.setblocking(False)
    reactor.adoptStreamPort(sock.fileno(), socket.AF_INET, site)
    sock.close()  # the reactor holds its own duplicate


def main(args: AppArgs) -> None:
    root: Any = Hello(args.sessions != "none")
    if args.sessions != "none":
        from sansio_session_twisted import SessionResource

        root = SessionResource(root, options(), make_store(args), reactor=reactor)
    listen(args, QuietSite(root))
    reactor.callWhenRunning(ready)
    reactor.run()


if __name__ == "__main__":
    main(parse())
