# Testing handlers of the trio + h11 server that use sessions, with trio's
# own test tools: the server runs on one end of trio.testing's in-memory
# stream pair and an h11 client talks to it on the other, so no socket is
# opened.
#
# The test logs a user in by storing a session for them (no login form), sends
# its cookie, and reads back through the store what a request changed.
from __future__ import annotations

import json
from collections.abc import Sequence

import h11
import trio
import trio.testing

from sansio_session import MemoryStore, SessionOptions
from sansio_session.testing import create_session, read_session
from sansio_session_trio import Request, RequestSession, Response, serve_connection, with_sessions

OPTIONS = SessionOptions(secret="a test secret, long enough for no warning")
JSON = [("content-type", "application/json")]


async def app(request: Request, cycle: RequestSession) -> Response:
    session = cycle.session
    if session is None or "user" not in session:
        return Response(401)
    if request.method == "POST" and request.path == "/theme":
        session["theme"] = request.body.decode()
    body = {"user": session["user"], "theme": session.get("theme", "light")}
    return Response(200, JSON, json.dumps(body).encode())


async def exchange(
    store: MemoryStore, method: str, target: str, headers: Sequence[tuple[str, str]] = (), body: bytes = b""
) -> tuple[h11.Response, bytes]:
    """One request to ``app`` on ``store``, over an in-memory stream pair."""
    client_end, server_end = trio.testing.memory_stream_pair()
    client = h11.Connection(h11.CLIENT)
    headers = [("host", "test"), ("connection", "close"), ("content-length", str(len(body))), *headers]
    sent = (
        h11.Request(method=method, target=target, headers=headers),
        h11.Data(data=body),
        h11.EndOfMessage(),
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_connection, server_end, with_sessions(app, OPTIONS, store))
        await client_end.send_all(b"".join(client.send(event) or b"" for event in sent))
        head, received = None, b""
        while not isinstance(got := client.next_event(), h11.EndOfMessage):
            if got is h11.NEED_DATA:
                client.receive_data(bytes(await client_end.receive_some()))
            elif isinstance(got, h11.Response):
                head = got
            elif isinstance(got, h11.Data):
                received += got.data
        await client_end.aclose()
    assert head is not None
    return head, received


def test_a_logged_in_user_sees_their_profile() -> None:
    async def main() -> None:
        store = MemoryStore()
        alice = create_session(store, OPTIONS, {"user": "alice"})
        head, body = await exchange(store, "GET", "/profile", [("cookie", alice.cookie_header)])
        assert (head.status_code, json.loads(body)) == (200, {"user": "alice", "theme": "light"})

    trio.run(main)


def test_without_the_cookie_there_is_no_user() -> None:
    async def main() -> None:
        head, _ = await exchange(MemoryStore(), "GET", "/profile")
        assert head.status_code == 401

    trio.run(main)


def test_a_change_is_saved() -> None:
    async def main() -> None:
        store = MemoryStore()
        alice = create_session(store, OPTIONS, {"user": "alice"})
        head, _ = await exchange(store, "POST", "/theme", [("cookie", alice.cookie_header)], b"dark")
        assert head.status_code == 200
        assert read_session(store, OPTIONS, alice.cookie_header) == {"user": "alice", "theme": "dark"}

    trio.run(main)
