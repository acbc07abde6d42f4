# SessionMixin against a real Tornado server: every way a response can end,
# sync and async handlers, on each kind of store, and the order of the commit
# against the bytes on the wire.
from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from tornado.web import Finish, HTTPError
from tornado_session_testing import (
    STORE_KINDS,
    AsyncStore,
    InlineStore,
    RecordingStore,
    aio,
    complete_response,
    read_until,
    received_now,
    serving,
)

from sansio_session import Session, UsageError
from sansio_session_tornado import SessionMixin


def _session(handler: SessionMixin) -> Session:
    session = handler.session
    assert session is not None
    return session


def _bump(handler: SessionMixin) -> int:
    session = _session(handler)
    n: int = session.get("n", 0) + 1
    session["n"] = n
    return n


def _end(handler: SessionMixin, how: str, n: int) -> None:
    # A header set before an error page: send_error() clears it, and the
    # session cookie must survive that.
    handler.set_header("X-Early", "1")
    if how == "return":
        handler.write(f"n={n}")
    elif how == "finish-then-raise":
        handler.finish(f"n={n}")
        raise RuntimeError("raised after finish()")
    elif how == "redirect":
        handler.redirect("/dump")
    elif how == "http-error":
        raise HTTPError(403)
    elif how == "finish-exception":
        raise Finish(f"n={n}")
    elif how == "send-error":
        handler.send_error(409)
    else:
        raise AssertionError(how)


class AsyncEnding(SessionMixin):
    async def get(self, how: str) -> None:
        n = _bump(self)
        if how == "finish-awaited":
            self.set_header("X-Early", "1")
            await self.finish(f"n={n}")
            # The response has gone out, so the save is over.
            store: RecordingStore = self.settings["session_store"]
            self.settings["after_finish"].append(store.op_names())
            return
        _end(self, how, n)

    head = get


class SyncEnding(SessionMixin):
    def get(self, how: str) -> None:
        _end(self, how, _bump(self))

    head = get


class Dump(SessionMixin):
    def get(self) -> None:
        session = self.session
        self.write({"data": None if session is None else session.to_dict()})


class GetOnly(Dump):
    # Another method is refused with a 405 before prepare() runs.
    SUPPORTED_METHODS = ("GET",)


class Stream(SessionMixin):
    async def get(self) -> None:
        n = _bump(self)
        self.write(f"first n={n};")
        await self.flush()
        _session(self)["after"] = "flush"  # made after the headers went out: still saved
        self.write("last")


class LateChange(SessionMixin):
    async def get(self) -> None:
        self.write("early;")
        await self.flush()
        _session(self)["late"] = 1


class LateRegenerate(SessionMixin):
    async def get(self) -> None:
        self.write("early;")
        await self.flush()
        try:
            await _session(self).regenerate()
        except UsageError:
            self.write("refused")


class Prepared(SessionMixin):
    user = "nobody"

    async def prepare(self) -> None:
        await super().prepare()
        self.user = _session(self).get("user", "nobody")

    def get(self) -> None:
        self.write(self.user)

    def post(self) -> None:
        _session(self)["user"] = self.get_argument("user")


class Untouched(SessionMixin):
    session_autoload = False

    def get(self) -> None:
        try:
            _ = self.session
        except UsageError:
            self.write("not loaded")


class Lazy(SessionMixin):
    session_autoload = False

    async def get(self) -> None:
        session = await self.load_session()
        assert session is not None
        session["lazy"] = True
        self.write("loaded")


class AfterFinish(SessionMixin):
    # No cookie, and the session first asked for once the response is over.
    def get(self) -> None:
        self.write("done")

    def on_finish(self) -> None:
        session = _session(self)
        outcome: list[str] = self.settings["after_finish"]
        try:
            session["late"] = 1
        except UsageError:
            outcome.append("refused")
        else:
            outcome.append("taken")


ROUTES: list[Any] = [
    (r"/after-finish", AfterFinish),
    (r"/end/(.*)", AsyncEnding),
    (r"/sync/(.*)", SyncEnding),
    (r"/dump", Dump),
    (r"/get-only", GetOnly),
    (r"/stream", Stream),
    (r"/late", LateChange),
    (r"/late-regenerate", LateRegenerate),
    (r"/prepared", Prepared),
    (r"/untouched", Untouched),
    (r"/lazy", Lazy),
]

ENDINGS = {
    "return": 200,
    "finish-awaited": 200,
    "finish-then-raise": 200,
    "redirect": 302,
    "http-error": 403,
    "finish-exception": 200,
    "send-error": 409,
}
CASES = [(how, "/end/") for how in ENDINGS] + [(how, "/sync/") for how in ENDINGS if how != "finish-awaited"]


def _data(body: bytes) -> Any:
    return json.loads(body)["data"]


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize(("how", "prefix"), CASES)
@aio
async def test_each_way_of_ending_saves_and_sends_the_cookie(how: str, prefix: str, kind: str) -> None:
    store = STORE_KINDS[kind]()
    after_finish: list[list[str]] = []
    async with serving(ROUTES, store, after_finish=after_finish) as client:
        first = await client.fetch(prefix + how)
        assert first.code == ENDINGS[how]
        assert first.headers.get("X-Early") == ("1" if first.code in (200, 302) else None)
        assert len(first.headers.get_list("Set-Cookie")) == 1
        if first.code == 200:
            assert first.body == b"n=1"
        if how == "redirect":
            assert first.headers["Location"] == "/dump"
        second = await client.fetch(prefix + how)
        assert second.code == ENDINGS[how]
        assert "Set-Cookie" not in second.headers  # an unchanged id: express sends no cookie
        assert _data((await client.fetch("/dump")).body) == {"n": 2}
    if how == "finish-awaited":
        assert after_finish == [["set"], ["set", "get", "set"]]


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize("prefix", ["/end/", "/sync/"])
@aio
async def test_head_sends_the_cookie_and_no_body(prefix: str, kind: str) -> None:
    async with serving(ROUTES, STORE_KINDS[kind]()) as client:
        response = await client.fetch(prefix + "return", "HEAD")
        assert response.code == 200
        assert response.body == b""
        assert client.cookie is not None
        assert _data((await client.fetch("/dump")).body) == {"n": 1}


@pytest.mark.parametrize("kind", STORE_KINDS)
@aio
async def test_a_streamed_response_has_the_cookie_first_and_saves_later_changes(kind: str) -> None:
    async with serving(ROUTES, STORE_KINDS[kind]()) as client:
        response = await client.fetch("/stream")
        assert response.code == 200
        assert response.headers.get("Transfer-Encoding") == "chunked"
        assert response.body == b"first n=1;last"
        assert client.cookie is not None
        assert _data((await client.fetch("/dump")).body) == {"n": 1, "after": "flush"}


@aio
async def test_no_cookie_is_added_once_the_headers_are_out() -> None:
    store = InlineStore()
    async with serving(ROUTES, store) as client:
        response = await client.fetch("/late")
        assert response.code == 200
        assert response.body == b"early;"
        assert "Set-Cookie" not in response.headers
        # Its cookie never went out, so saving it would make an orphan.
        assert store.op_names() == []


@aio
async def test_a_session_first_used_after_the_end_is_read_only() -> None:
    # Not begun for a request without a cookie until asked for: asked for
    # after the commit point, it refuses a change it could never save.
    store = InlineStore()
    after_finish: list[str] = []
    async with serving(ROUTES, store, after_finish=after_finish) as client:
        response = await client.fetch("/after-finish")
        assert (response.code, response.body) == (200, b"done")
        assert "Set-Cookie" not in response.headers
    assert after_finish == ["refused"]
    assert store.op_names() == []


@aio
async def test_regenerate_after_the_headers_are_out_is_refused() -> None:
    store = InlineStore()
    async with serving(ROUTES, store) as client:
        await client.fetch("/end/return")
        response = await client.fetch("/late-regenerate")
        assert response.body == b"early;refused"
        assert "Set-Cookie" not in response.headers
        assert store.op_names() == ["set", "get"]


@aio
async def test_a_prepare_override_that_calls_the_parent_has_the_session() -> None:
    async with serving(ROUTES, AsyncStore()) as client:
        assert (await client.fetch("/prepared")).body == b"nobody"
        await client.fetch("/prepared?user=alice", "POST")
        assert (await client.fetch("/prepared")).body == b"alice"


@aio
async def test_session_autoload_false_makes_no_store_call() -> None:
    store = InlineStore()
    async with serving(ROUTES, store) as client:
        await client.fetch("/end/return")
        response = await client.fetch("/untouched")
        assert response.body == b"not loaded"
        assert "Set-Cookie" not in response.headers
        assert store.op_names() == ["set"]


@aio
async def test_load_session_loads_lazily_from_an_async_store() -> None:
    store = AsyncStore()
    async with serving(ROUTES, store) as client:
        await client.fetch("/end/return")
        assert (await client.fetch("/lazy")).body == b"loaded"
        assert store.op_names() == ["set", "get", "set"]
        assert _data((await client.fetch("/dump")).body) == {"n": 1, "lazy": True}


@aio
async def test_a_405_finishes_without_a_session() -> None:
    store = InlineStore()
    async with serving(ROUTES, store) as client:
        await client.fetch("/end/return")
        response = await client.fetch("/get-only", "POST")
        assert response.code == 405
        assert "Set-Cookie" not in response.headers
        assert store.op_names() == ["set"]


@aio
async def test_an_xsrf_failure_finishes_without_a_session() -> None:
    store = InlineStore()
    async with serving(ROUTES, store, xsrf_cookies=True) as client:
        await client.fetch("/end/return")
        response = await client.fetch("/prepared?user=mallory", "POST")
        assert response.code == 403
        assert "Set-Cookie" not in response.headers
        assert store.op_names() == ["set"]


@pytest.mark.parametrize("path", ["/end/return", "/stream"])
@aio
async def test_the_commit_ends_before_the_client_has_the_last_byte(path: str) -> None:
    store = AsyncStore()
    release = store.hold("set")
    async with serving(ROUTES, store) as client:
        with socket.create_connection(("127.0.0.1", client.port)) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            await store.entered["set"].wait()
            # The server is inside the store's set() now.
            early = received_now(sock)
            if path == "/stream":
                # The headers and the first chunk went out with the flush...
                assert early.startswith(b"HTTP/1.1 200 OK\r\n")
                assert b"Set-Cookie: connect.sid=s%3A" in early
                assert early.endswith(b"first n=1;\r\n")
            else:
                # ...a buffered response has not started at all.
                assert early == b""
            assert not complete_response(early)
            release.set()
            data = await read_until(sock, early, complete_response)
    assert complete_response(data)
    assert b"Set-Cookie: connect.sid=s%3A" in data
    assert store.op_names() == ["set"]


@aio
async def test_deferred_finishes_keep_a_connection_alive() -> None:
    async with serving(ROUTES, AsyncStore()) as client:
        with socket.create_connection(("127.0.0.1", client.port)) as sock:
            sock.setblocking(False)
            cookie = b""
            for n in (1, 2, 3):
                request = b"GET /end/return HTTP/1.1\r\nHost: test\r\n" + cookie + b"\r\n"
                await asyncio.get_running_loop().sock_sendall(sock, request)
                data = await read_until(sock, b"", complete_response)
                assert data.endswith(f"\r\n\r\nn={n}".encode())
                if n == 1:
                    value = data.split(b"Set-Cookie: ", 1)[1].split(b";", 1)[0]
                    cookie = b"Cookie: " + value + b"\r\n"


@aio
async def test_a_request_leaves_no_garbage_cycle() -> None:
    # Everything a request made is freed as soon as Tornado lets go of it,
    # not left for the cyclic garbage collector.
    import gc

    from sansio_session import SessionMachine

    async with serving(ROUTES, InlineStore()) as client:
        await client.fetch("/end/return")  # a session to come back with
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(5):
                assert (await client.fetch("/end/return")).code == 200
            gc.collect()
            ours = (Session, SessionMachine, SessionMixin)
            left = [type(o).__name__ for o in gc.garbage if isinstance(o, ours)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert left == []
