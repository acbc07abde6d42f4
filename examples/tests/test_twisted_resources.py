# Testing Twisted Web resources that use sessions, with Twisted's own test
# doubles: a real Site and HTTPChannel over a StringTransport, on a
# MemoryReactorClock, so no reactor runs and no socket is opened.
#
# The test logs a user in by storing a session for them (no login form), sends
# its cookie, and reads back through the store what a request changed.
#
# Twisted Web's Request and Resource methods carry no type hints yet:
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import json
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web import resource, server
from twisted.web.http_headers import Headers

from sansio_session import MemoryStore, SessionOptions
from sansio_session.testing import create_session, read_session
from sansio_session_twisted import SessionResource, session_of

OPTIONS = SessionOptions(secret="a test secret, long enough for no warning")


class Profile(resource.Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        session = session_of(request)
        if session is None or "user" not in session:
            request.setResponseCode(401)
            return b""
        return json.dumps({"user": session["user"], "theme": session.get("theme", "light")}).encode()


class Theme(resource.Resource):
    isLeaf = True

    def render_POST(self, request: server.Request) -> bytes:
        session = session_of(request)
        if session is None or "user" not in session:
            request.setResponseCode(401)
            return b""
        session["theme"] = request.args[b"theme"][0].decode()
        return b"ok"


class Logout(resource.Resource):
    isLeaf = True

    def render_POST(self, request: server.Request) -> bytes:
        session = session_of(request)
        if session is not None:
            session.destroy()  # a Deferred, already done on a MemoryStore
        return b"bye"


def site(store: MemoryStore) -> server.Site:
    root = resource.Resource()
    # Any: without a zope plugin mypy cannot see that a Resource is an IResource.
    children: dict[bytes, Any] = {b"profile": Profile(), b"theme": Theme(), b"logout": Logout()}
    for path, child in children.items():
        root.putChild(path, child)
    reactor = MemoryReactorClock()
    return server.Site(SessionResource(root, OPTIONS, store, reactor=reactor), reactor=reactor)


def request(
    site: server.Site, method: bytes, path: bytes, cookie: str | None = None, form: bytes = b""
) -> tuple[int, Headers, bytes]:
    """One HTTP/1.1 exchange with ``site``, over an in-memory transport."""
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 54321))
    transport = StringTransport()
    channel.makeConnection(transport)
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: test", b"Connection: close"]
    if cookie is not None:
        lines.append(b"Cookie: " + cookie.encode())
    if form:
        lines += [b"Content-Type: application/x-www-form-urlencoded", b"Content-Length: %d" % len(form)]
    channel.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n" + form)
    head, _, body = transport.value().partition(b"\r\n\r\n")
    status, *fields = head.split(b"\r\n")
    headers = Headers()
    for field in fields:
        name, _, value = field.partition(b": ")
        headers.addRawHeader(name, value)
    return int(status.split()[1]), headers, body


def test_a_logged_in_user_sees_their_profile() -> None:
    store = MemoryStore()
    alice = create_session(store, OPTIONS, {"user": "alice"})
    status, _, body = request(site(store), b"GET", b"/profile", alice.cookie_header)
    assert (status, json.loads(body)) == (200, {"user": "alice", "theme": "light"})


def test_without_the_cookie_there_is_no_user() -> None:
    assert request(site(MemoryStore()), b"GET", b"/profile")[0] == 401


def test_a_change_is_saved() -> None:
    store = MemoryStore()
    alice = create_session(store, OPTIONS, {"user": "alice"})
    status, _, _ = request(site(store), b"POST", b"/theme", alice.cookie_header, b"theme=dark")
    assert status == 200
    assert read_session(store, OPTIONS, alice.cookie_header) == {"user": "alice", "theme": "dark"}


def test_logging_out_ends_the_session() -> None:
    store = MemoryStore()
    alice = create_session(store, OPTIONS, {"user": "alice"})
    status, headers, _ = request(site(store), b"POST", b"/logout", alice.cookie_header)
    set_cookie = [value.decode() for value in headers.getRawHeaders(b"set-cookie", [])]
    assert status == 200 and set_cookie  # the expiring cookie
    assert read_session(store, OPTIONS, set_cookie) is None
    assert read_session(store, OPTIONS, alice.cookie_header) is None
