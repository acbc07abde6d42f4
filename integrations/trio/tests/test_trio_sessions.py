# Sessions on trio: with_sessions() on the embeddable server, each kind of
# store, failures and timeouts, and Sessions inside a hand-written h11 loop.
from __future__ import annotations

import json
import re
import textwrap
import threading
from collections.abc import AsyncIterator
from typing import Any

import h11
import pytest
import trio
import trio.testing
from trio_helpers import Client, Events, EventStore, in_memory, options, run

import sansio_session_trio
from sansio_session import MemoryStore, StoredRecord
from sansio_session_trio import Request, RequestSession, Response, Sessions, with_sessions

FIRST_ID = f"{1:032d}"


async def counter(request: Request, cycle: RequestSession) -> Response:
    session = cycle.session
    assert session is not None
    if request.path == "/regenerate":
        await session.regenerate()
        session = cycle.session
        assert session is not None
    session["n"] = session.get("n", 0) + 1
    body = f"{session.id} {session['n']}".encode()
    if request.path == "/stream":

        async def chunks() -> AsyncIterator[bytes]:
            yield body[:5]
            yield body[5:]

        return Response(200, [], chunks())
    return Response(200, [], body)


class AsyncStore:
    """A trio-native store: every method is a coroutine."""

    def __init__(self, events: Events | None = None) -> None:
        self.memory = EventStore(events)
        self.hang = False

    async def _pause(self) -> None:
        await trio.sleep(0)
        if self.hang:
            await trio.sleep_forever()

    async def get(self, sid: str) -> StoredRecord | None:
        await self._pause()
        return self.memory.get(sid)

    async def set(self, sid: str, record: str, ttl: int) -> None:
        await self._pause()
        self.memory.set(sid, record, ttl)

    async def touch(self, sid: str, ttl: int) -> None:
        await self._pause()
        self.memory.touch(sid, ttl)

    async def destroy(self, sid: str) -> None:
        await self._pause()
        self.memory.destroy(sid)


class ThreadStore(EventStore):
    """A store that says it blocks; it notes the thread of every call."""

    blocking = True

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.release = threading.Event()
        self.release.set()

    def get(self, sid: str) -> StoredRecord | None:
        self.threads.add(threading.get_ident())
        self.release.wait()
        return super().get(sid)

    def set(self, sid: str, record: str, ttl: int) -> None:
        self.threads.add(threading.get_ident())
        self.release.wait()
        super().set(sid, record, ttl)


class FailingStore(EventStore):
    def __init__(self, failing: str) -> None:
        super().__init__()
        self.failing = failing

    def _maybe_fail(self, op: str) -> None:
        if self.failing == op:
            raise OSError("connection refused by 10.0.0.7")

    def get(self, sid: str) -> StoredRecord | None:
        self._maybe_fail("get")
        return super().get(sid)

    def set(self, sid: str, record: str, ttl: int) -> None:
        self._maybe_fail("set")
        super().set(sid, record, ttl)

    def destroy(self, sid: str) -> None:
        self._maybe_fail("destroy")
        super().destroy(sid)


async def three_visits(client: Client, path: str = "/") -> list[bytes]:
    first = await client.request("GET", path)
    assert first.cookie is not None
    later = [await client.request("GET", path, [("cookie", first.cookie)]) for _ in range(2)]
    return [first.body] + [reply.body for reply in later]


@pytest.mark.parametrize("kind", ["memory", "async", "thread"])
def test_the_next_request_sees_the_saved_session(kind: str) -> None:
    store: Any = {"memory": EventStore, "async": AsyncStore, "thread": ThreadStore}[kind]()

    async def main() -> None:
        async with in_memory(with_sessions(counter, options(), store)) as connect:
            bodies = await three_visits(Client(connect()))
        assert bodies == [f"{FIRST_ID} {n}".encode() for n in (1, 2, 3)]

    run(main)
    if isinstance(store, ThreadStore):
        assert threading.get_ident() not in store.threads  # off the event loop thread


def test_an_in_memory_store_is_called_on_the_event_loop_thread() -> None:
    seen: set[int] = set()

    class Inline(EventStore):
        def get(self, sid: str) -> StoredRecord | None:
            seen.add(threading.get_ident())
            return super().get(sid)

    async def main() -> None:
        async with in_memory(with_sessions(counter, options(), Inline())) as connect:
            await three_visits(Client(connect()))

    run(main)
    assert seen == {threading.get_ident()}


def test_a_streamed_body_sends_the_cookie_with_the_headers_and_commits_before_the_end() -> None:
    events: Events = []

    async def main() -> None:
        handler = with_sessions(counter, options(), EventStore(events))
        async with in_memory(handler, events=events) as connect:
            reply = await Client(connect()).request("GET", "/stream")
        assert reply.body == f"{FIRST_ID} 1".encode()

    run(main)
    head, *rest = events
    assert head[0] == "sent" and b"\r\nset-cookie: connect.sid=s%3A" + FIRST_ID.encode() in head[1]
    assert b"\r\nTransfer-Encoding: chunked\r\n" in head[1]
    assert [name for name, _ in rest] == ["sent", "sent", "set", "sent"]
    assert rest[-1] == ("sent", b"0\r\n\r\n")  # EndOfMessage, after the commit


@pytest.mark.parametrize("path", ["/", "/stream-with-length"])
def test_the_commit_finishes_before_the_client_has_the_last_byte(path: str) -> None:
    received = bytearray()
    at_commit: list[int] = []

    class WatchingStore(AsyncStore):
        async def set(self, sid: str, record: str, ttl: int) -> None:
            # Let every task run as far as it can: whatever the server had
            # sent by now, the client has read.
            await trio.testing.wait_all_tasks_blocked()
            await super().set(sid, record, ttl)
            at_commit.append(len(received))

    async def handler(request: Request, cycle: RequestSession) -> Response:
        assert cycle.session is not None
        cycle.session["k"] = "v"
        if request.path == "/":
            return Response(200, [], b"0123456789")

        async def chunks() -> AsyncIterator[bytes]:
            yield b"01234"
            yield b"56789"

        return Response(200, [("content-length", "10")], chunks())

    async def main() -> None:
        async with in_memory(with_sessions(handler, options(), WatchingStore())) as connect:
            stream = connect()
            head = f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            await stream.send_all(head.encode())
            while chunk := await stream.receive_some():
                received.extend(chunk)

    run(main)
    assert received.endswith(b"0123456789")
    assert at_commit and at_commit[0] < len(received)
    if path == "/":
        assert at_commit == [0]  # buffered: the save is over before the first byte


@pytest.mark.parametrize("failing", ["get", "set", "destroy"])
def test_a_store_failure_is_a_500_with_a_short_reason(failing: str) -> None:
    store = FailingStore(failing="")

    async def main() -> None:
        async with in_memory(with_sessions(counter, options(), store)) as connect:
            client = Client(connect())
            first = await client.request("GET", "/")
            assert first.cookie is not None
            store.failing = failing
            path = "/regenerate" if failing == "destroy" else "/"
            reply = await client.request("GET", path, [("cookie", first.cookie)])
        assert (reply.status, reply.body) == (500, b"session store unavailable")
        assert reply.header("content-type") == "text/plain; charset=utf-8"
        assert reply.header("set-cookie") is None

    run(main)


def test_a_failed_commit_of_a_streamed_body_cuts_the_response_short() -> None:
    async def main() -> None:
        async with in_memory(with_sessions(counter, options(), FailingStore("set"))) as connect:
            client = Client(connect())
            with pytest.raises(h11.RemoteProtocolError):  # no final chunk, then EOF
                await client.request("GET", "/stream")

    run(main)


def test_on_store_failure_continue_goes_on_without_a_session() -> None:
    async def handler(request: Request, cycle: RequestSession) -> Response:
        return Response(200, [], b"none" if cycle.session is None else b"some")

    async def main() -> None:
        store = FailingStore("get")
        cookie = "connect.sid=s%3A" + FIRST_ID
        async with in_memory(with_sessions(counter, options(), MemoryStore())) as connect:
            signed = (await Client(connect()).request("GET", "/")).cookie
        assert signed is not None and signed.startswith(cookie)
        handler_ = with_sessions(handler, options(on_store_failure="continue"), store)
        async with in_memory(handler_) as connect:
            reply = await Client(connect()).request("GET", "/", [("cookie", signed)])
        assert (reply.status, reply.body, reply.cookie) == (200, b"none", None)

    run(main)


def test_parallel_requests_keep_each_others_changes() -> None:
    # The slow request's save meets the fast one's newer record: the machine
    # gives back a merged save, and the driver runs it too.
    store = MemoryStore()
    gate = trio.Event()

    async def handler(request: Request, cycle: RequestSession) -> Response:
        assert cycle.session is not None
        if request.path == "/slow":
            await gate.wait()
        cycle.session[request.path.strip("/")] = "set"
        return Response(200, [], b"ok")

    async def main() -> None:
        async with in_memory(with_sessions(handler, options(), store)) as connect:
            cookie = (await Client(connect()).request("GET", "/first")).cookie
            assert cookie is not None
            async with trio.open_nursery() as nursery:
                nursery.start_soon(Client(connect()).request, "GET", "/slow", [("cookie", cookie)])
                await trio.testing.wait_all_tasks_blocked()
                assert (await Client(connect()).request("GET", "/fast", [("cookie", cookie)])).status == 200
                gate.set()

    run(main)
    record = store.get(FIRST_ID)
    assert record is not None
    data = json.loads(record.text)
    keys = ("first", "fast", "slow")
    assert {key: data.get(key) for key in keys} == dict.fromkeys(keys, "set")


@pytest.mark.parametrize("kind", ["async", "thread"])
def test_a_store_call_that_outlasts_store_timeout_is_a_failure(kind: str) -> None:
    store: AsyncStore | ThreadStore = AsyncStore() if kind == "async" else ThreadStore()

    async def main() -> None:
        async with in_memory(with_sessions(counter, options(store_timeout=3), store)) as connect:
            client = Client(connect())
            if isinstance(store, AsyncStore):
                store.hang = True
            else:
                store.release.clear()
            reply = await client.request("GET", "/")
        assert (reply.status, reply.body) == (500, b"session store unavailable")

    try:
        run(main, autojump=True)
    finally:
        if isinstance(store, ThreadStore):
            store.release.set()  # let the abandoned thread finish


def test_a_secure_cookie_is_sent_behind_a_trusted_proxy_only_over_https() -> None:
    from sansio_session import CookieOptions

    async def main() -> None:
        opts = options(proxy=True, cookie=CookieOptions(secure=True))
        async with in_memory(with_sessions(counter, opts, MemoryStore())) as connect:
            client = Client(connect())
            plain = await client.request("GET", "/")
            behind = await client.request("GET", "/", [("x-forwarded-proto", "https")])
        assert plain.cookie is None
        assert behind.header("set-cookie") is not None and "Secure" in str(behind.header("set-cookie"))

    run(main)


# -- Sessions in an h11 loop of one's own ------------------------------------


async def hand_written_loop(stream: trio.abc.Stream, sessions: Sessions) -> None:
    # What a user adds to the h11 loop they already have: three lines.
    conn = h11.Connection(h11.SERVER)
    request: h11.Request | None = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(bytes(await stream.receive_some()))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            cycle = await sessions.begin_h11(request, tls=False)
            assert cycle.session is not None
            cycle.session["n"] = cycle.session.get("n", 0) + 1
            body = str(cycle.session["n"]).encode()
            await cycle.commit()
            headers = [("content-length", str(len(body))), *cycle.cookie_headers()]
            await stream.send_all(conn.send(h11.Response(status_code=200, headers=headers)))
            await stream.send_all(conn.send(h11.Data(data=body)))
            await stream.send_all(conn.send(h11.EndOfMessage()))
            conn.start_next_cycle()
        elif isinstance(event, h11.ConnectionClosed):
            return


def test_sessions_in_a_hand_written_h11_loop() -> None:
    async def main() -> None:
        client_end, server_end = trio.testing.memory_stream_pair()
        sessions = Sessions(options(), MemoryStore())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(hand_written_loop, server_end, sessions)
            client = Client(client_end)
            first = await client.request("GET", "/")
            assert first.cookie is not None
            # Two Cookie headers are one, joined with "; " (RFC 6265).
            second = await client.request("GET", "/", [("cookie", "a=1"), ("cookie", first.cookie)])
            await client_end.aclose()
        assert (first.body, second.body) == (b"1", b"2")

    run(main)


def test_the_recipe_in_the_module_docstring_runs() -> None:
    doc = sansio_session_trio._h11.__doc__
    assert doc is not None
    code = textwrap.dedent(re.search(r"::\n\n((?:    .*\n|\n)+)", doc).group(1))  # type: ignore[union-attr]
    namespace: dict[str, Any] = {}
    exec(compile(code, "<recipe>", "exec"), namespace)

    async def main() -> None:
        client_end, server_end = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(namespace["serve_one"], server_end)
            client = Client(client_end)
            first = await client.request("GET", "/")
            assert first.cookie is not None
            second = await client.request("GET", "/", [("cookie", first.cookie)])
            await client_end.aclose()
        assert (first.body, second.body) == (b"views: 1\n", b"views: 2\n")

    run(main)


@pytest.mark.parametrize("then", ["commit", "cookie_headers", "both"])
def test_a_deferred_session_first_used_late_keeps_to_what_the_response_did(then: str) -> None:
    # No cookie: the session is begun only when asked for. Asked for after
    # the headers went out it sends nothing and stores nothing; after the
    # commit it refuses a change it could never save.
    from sansio_session import UsageError

    store = EventStore()

    async def main() -> None:
        sessions = Sessions(options(), store)
        cycle = await sessions.begin(None)
        if then in ("cookie_headers", "both"):
            assert cycle.cookie_headers() == []
        if then in ("commit", "both"):
            await cycle.commit()
        session = cycle.session
        assert session is not None
        if then == "cookie_headers":
            session["late"] = 1  # taken, but its cookie can no longer go out
            await cycle.commit()
        else:
            with pytest.raises(UsageError):
                session["late"] = 1

    run(main)
    assert store.events == []


def test_a_request_leaves_no_garbage_cycle() -> None:
    # Everything a request made is freed as soon as the server lets go of
    # it, not left for the cyclic garbage collector.
    import gc

    from sansio_session import Session, SessionMachine

    left: list[str] = []

    async def main() -> None:
        async with in_memory(with_sessions(counter, options(), MemoryStore())) as connect:
            client = Client(connect())
            await client.request("GET", "/")  # a session to come back with
            gc.collect()
            gc.set_debug(gc.DEBUG_SAVEALL)
            try:
                for _ in range(5):
                    assert (await client.request("GET", "/")).status == 200
                gc.collect()
                ours = (Session, SessionMachine, RequestSession)
                left.extend(type(o).__name__ for o in gc.garbage if isinstance(o, ours))
            finally:
                gc.set_debug(0)
                gc.garbage.clear()

    run(main)
    assert left == []
