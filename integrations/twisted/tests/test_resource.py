# SessionResource over real HTTP on loopback: the test thread is the client
# (http.client for whole exchanges, a raw socket where a test looks at what
# has arrived while the store is still busy), the reactor serves in its own
# thread (twisted_site.py).
#
# Twisted Web's Request and Resource methods carry no type hints yet:
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import gc
import gzip
import json
import socket
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from klein import Klein
from twisted.internet import defer
from twisted.logger import LogEvent, globalLogPublisher
from twisted.web import resource, server
from twisted.web.server import NOT_DONE_YET
from twisted_site import (
    OPTIONS,
    SECRET,
    AsyncStore,
    BrokenStore,
    Counter,
    HangingStore,
    HeldStore,
    Optional,
    RacedStore,
    Server,
    Streamed,
    ThreadStore,
    arrived,
    directory,
    on_reactor,
    parse_response,
    reactor_thread,
    send_raw,
    tree,
    two_turns,
    until_closed,
)

from sansio_session import ConfigError, MemoryStore, SessionOptions, UsageError
from sansio_session.refapp import LoggedStore, StoreLog
from sansio_session_twisted import SessionResource, session_of

Serve = Callable[[Any], Server]


@pytest.fixture(autouse=True)
def twisted_log() -> Iterator[list[LogEvent]]:
    """Every Twisted log event of the test; no Deferred may fail unhandled."""
    events: list[LogEvent] = []

    observe: Any = events.append  # any callable will do as an observer
    globalLogPublisher.addObserver(observe)
    yield events
    gc.collect()  # unhandled Deferred failures are logged when collected
    on_reactor(lambda: None)
    globalLogPublisher.removeObserver(observe)
    unhandled = [e for e in events if "Unhandled error" in str(e.get("log_format", ""))]
    assert not unhandled


@pytest.fixture
def serve() -> Iterator[Callable[[Any], Server]]:
    servers: list[Server] = []

    def start(root: Any) -> Server:
        servers.append(Server(root))
        return servers[-1]

    yield start
    for one in servers:
        one.close()


def test_a_bytes_child_keeps_its_session_across_requests(serve: Serve) -> None:
    site = serve(SessionResource(tree(), OPTIONS, MemoryStore()))
    status, headers, body = site.request("GET", "/a/count")
    assert (status, body) == (200, b"views=1")
    assert "HttpOnly" in headers["set-cookie"]
    status, headers, body = site.request("GET", "/a/count")
    assert (status, body) == (200, b"views=2")
    assert "set-cookie" not in headers  # an existing session: no new cookie


def test_session_responses_stay_out_of_shared_caches(serve: Serve) -> None:
    site = serve(SessionResource(tree(), OPTIONS, MemoryStore()))
    _, headers, _ = site.request("GET", "/a/count")
    assert (headers["cache-control"], headers["vary"]) == ("private", "Cookie")  # it sets the cookie
    _, headers, _ = site.request("GET", "/a/count")
    assert "cache-control" not in headers
    assert headers["vary"] == "Cookie"  # it shows this session's data


def test_a_not_done_yet_child_gets_its_cookie_and_its_save(serve: Serve) -> None:
    store = MemoryStore()
    site = serve(SessionResource(tree(), OPTIONS, store))
    status, headers, body = site.request("GET", "/a/stream")
    assert (status, body) == (200, b"hello world")
    assert headers["transfer-encoding"] == "chunked"
    assert "set-cookie" in headers
    (record,) = store.all().values()
    assert json.loads(record)["streamed"] is True


def test_the_tree_is_the_wrapped_one(serve: Serve) -> None:
    root = tree()
    wrapper = SessionResource(root, OPTIONS, MemoryStore())
    wrapper.putChild(b"late", Counter())
    assert isinstance(root.children[b"late"], Counter)
    assert wrapper.isLeaf is False
    assert SessionResource(Counter(), OPTIONS, MemoryStore()).isLeaf is True
    site = serve(wrapper)
    assert site.request("GET", "/late")[::2] == (200, b"views=1")
    assert site.request("GET", "/a/count")[::2] == (200, b"views=2")
    assert site.request("GET", "/a/nothing")[0] == 404


@pytest.mark.parametrize("loaded", [False, True], ids=["new", "loaded"])
def test_head_and_405_are_twisted_s_own(serve: Serve, loaded: bool) -> None:
    site = serve(SessionResource(tree(), OPTIONS, MemoryStore()))
    if loaded:  # with a cookie, the resource renders after the store answers
        site.request("GET", "/a/count")
    status, headers, body = site.request("HEAD", "/a/count")
    views = 2 if loaded else 1
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(len(b"views=%d" % views))
    assert ("set-cookie" in headers) is not loaded
    status, headers, body = site.request("POST", "/a/count")
    assert status == 405
    assert "GET" in headers["allow"]
    # HEAD ran the GET handler, whose change was saved.
    assert site.request("GET", "/a/count")[::2] == (200, b"views=%d" % (views + 1))


@pytest.mark.parametrize("where", ["child", "root"])
def test_gzip_still_compresses(serve: Serve, where: str) -> None:
    if where == "child":
        wrapped: resource.Resource = tree()
        path = "/gzip"
    else:
        wrapped = resource.EncodingResourceWrapper(Counter(), [server.GzipEncoderFactory()])
        path = "/"
    site = serve(SessionResource(wrapped, OPTIONS, MemoryStore()))
    status, headers, body = site.request("GET", path, {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == b"views=1"
    assert "set-cookie" in headers


def test_an_exception_in_the_child_is_twisted_s_500(serve: Serve) -> None:
    site = serve(SessionResource(tree(), OPTIONS, MemoryStore()))
    status, _, body = site.request("GET", "/boom")
    assert status == 500
    assert b"Traceback" not in body and b"a detail" not in body
    assert site.cookie is not None  # the 500 went out through the session layer
    status, _, body = site.request("GET", "/boom")  # this one renders after a load
    assert status == 500
    assert b"Traceback" not in body and b"a detail" not in body
    assert site.request("GET", "/a/count")[::2] == (200, b"views=1")


def test_a_redirect_carries_the_cookie(serve: Serve) -> None:
    site = serve(SessionResource(tree(), OPTIONS, MemoryStore()))
    status, headers, _ = site.request("GET", "/redirect")
    assert status == 302
    assert headers["location"] == "/elsewhere"
    assert "set-cookie" in headers


@pytest.mark.parametrize("failing", ["get", "set"])
def test_a_store_failure_is_a_short_plain_500(
    serve: Serve, failing: str, twisted_log: list[LogEvent]
) -> None:
    store = BrokenStore(fail="")
    site = serve(SessionResource(tree(), OPTIONS, store))
    if failing == "get":
        site.request("GET", "/a/count")  # a cookie, so the next request loads
    store.fail = failing
    status, headers, body = site.request("GET", "/a/count")
    assert status == 500
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert body == b"session store unavailable"
    assert "set-cookie" not in headers
    logged = [e for e in twisted_log if e.get("log_namespace") == "sansio_session_twisted"]
    assert [e["op"] for e in logged] == [failing]
    assert "hunter2" in str(logged[0]["log_failure"].value)  # for the operator, not the client
    store.fail = ""
    assert site.request("GET", "/a/count")[::2] == (200, b"views=2" if failing == "get" else b"views=1")


def test_on_store_failure_continue_goes_on_without_a_session(serve: Serve) -> None:
    root = directory(count=Counter(), which=Optional())
    store = BrokenStore(fail="")
    site = serve(SessionResource(root, SessionOptions(secret=SECRET, on_store_failure="continue"), store))
    site.request("GET", "/count")  # a cookie, so the next request loads
    store.fail = "get"
    assert site.request("GET", "/which")[::2] == (200, b"none")


def test_a_save_that_meets_a_parallel_one_is_merged_and_retried(serve: Serve) -> None:
    store = RacedStore()
    site = serve(SessionResource(Counter(), OPTIONS, store))
    site.request("GET", "/")
    assert site.request("GET", "/")[::2] == (200, b"views=2")
    assert store.replaces == 2  # the merged save ran
    (record,) = store.all().values()
    assert {k: v for k, v in json.loads(record).items() if k != "cookie"} == {"views": 2, "theirs": "kept"}


def test_a_blocking_store_runs_off_the_reactor_thread(serve: Serve) -> None:
    store = ThreadStore()
    site = serve(SessionResource(Counter(), OPTIONS, store))
    assert site.request("GET", "/")[2] == b"views=1"
    assert site.request("GET", "/")[2] == b"views=2"
    reactor_name = on_reactor(lambda: threading.current_thread().name)
    assert store.threads and reactor_name not in store.threads


def test_a_store_call_is_bounded_by_store_timeout(serve: Serve) -> None:
    store = HangingStore()
    site = serve(SessionResource(Counter(), SessionOptions(secret=SECRET, store_timeout=0.2), store))
    site.request("GET", "/")  # no cookie, no get(); the set() succeeds
    status, _, body = site.request("GET", "/")
    assert (status, body) == (500, b"session store unavailable")
    assert store.cancelled.is_set()


def test_a_coroutine_store_is_refused_off_the_asyncio_reactor() -> None:
    reactor_thread()
    with pytest.raises(ConfigError, match="asyncio reactor"):
        SessionResource(Counter(), OPTIONS, AsyncStore())


def test_an_awaitable_found_late_fails_and_does_not_hang(serve: Serve) -> None:
    # LoggedStore hides the coroutine methods, so only the call shows them.
    site = serve(SessionResource(Counter(), OPTIONS, LoggedStore(AsyncStore(), StoreLog())))
    assert site.request("GET", "/")[::2] == (500, b"session store unavailable")


def test_a_coroutine_store_works_under_the_asyncio_reactor() -> None:
    script = textwrap.dedent(
        """
        import http.client, threading
        from twisted.internet import asyncioreactor
        asyncioreactor.install()
        from twisted.internet import reactor
        from twisted.web import server
        from twisted_site import OPTIONS, AsyncStore, Counter
        from sansio_session_twisted import SessionResource

        store = AsyncStore()
        port = reactor.listenTCP(0, server.Site(SessionResource(Counter(), OPTIONS, store)))
        bodies = []

        def client():
            cookie = {}
            for _ in range(2):
                conn = http.client.HTTPConnection("127.0.0.1", port.getHost().port, timeout=30)
                conn.request("GET", "/", headers=cookie)
                response = conn.getresponse()
                bodies.append(response.read().decode())
                if response.getheader("set-cookie"):
                    cookie = {"Cookie": response.getheader("set-cookie").split(";")[0]}
            reactor.callFromThread(reactor.stop)

        reactor.callWhenRunning(threading.Thread(target=client).start)
        reactor.run()
        print(" ".join(bodies), store.data.length())
        """
    )
    here = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=here, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["views=1", "views=2", "1"]


@pytest.mark.parametrize(
    "path, sent",
    [
        ("/count", None),  # returned bytes: nothing leaves before the commit
        ("/stream", b"6\r\nhello \r\n5\r\nworld\r\n"),  # chunked: all but the last chunk
        ("/length", b"\r\n\r\nhello "),  # Content-Length: all but the completing write
    ],
    ids=["bytes", "chunked", "content-length"],
)
def test_the_commit_finishes_before_the_client_has_the_last_byte(
    serve: Serve, path: str, sent: bytes | None
) -> None:
    root = directory(count=Counter(), stream=Streamed(), length=Streamed(length=True))
    store = HeldStore()
    site = serve(SessionResource(root, OPTIONS, store))
    sock = send_raw(site, path)
    assert store.set_called.wait(30)
    on_reactor(two_turns)
    early = arrived(sock)
    if sent is None:
        assert early == b""
    else:
        # The bytes before the end do flow (so the end would have too): the
        # headers with the cookie, then the body up to its end.
        assert early.startswith(b"HTTP/1.1 200 OK")
        assert b"set-cookie: connect.sid=" in early.lower()
        assert early.endswith(sent)
    assert store.data.length() == 0
    on_reactor(lambda: store.pending[0].callback(None))
    response = parse_response(early + until_closed(sock))
    assert response.status == 200
    assert response.read() == (b"views=1" if path == "/count" else b"hello world")
    assert store.data.length() == 1


class Intents(resource.Resource):
    """POST: regenerate keeping the data, then save; answers the new id."""

    isLeaf = True

    def render_POST(self, request: server.Request) -> object:
        async def run() -> None:
            session = session_of(request)
            assert session is not None
            await session.regenerate(keep_data=True)
            session = session_of(request)
            assert session is not None
            session["saved"] = "early"
            await session.save()
            request.write(session.id.encode())
            request.finish()

        defer.Deferred.fromCoroutine(run())
        return NOT_DONE_YET


def test_the_intents_return_deferreds(serve: Serve) -> None:
    root = directory(count=Counter(), regenerate=Intents())
    store = MemoryStore()
    site = serve(SessionResource(root, OPTIONS, store))
    site.request("GET", "/count")
    (old,) = store.all()
    status, _, body = site.request("POST", "/regenerate")
    assert status == 200
    assert list(store.all()) == [body.decode()] != [old]
    assert json.loads(store.all()[body.decode()])["saved"] == "early"
    assert site.request("GET", "/count")[2] == b"views=2"  # the data moved to the new id


def test_it_works_under_klein(serve: Serve) -> None:
    app = Klein()

    @app.route("/count")
    def count(request: server.Request) -> str:
        session = session_of(request)
        assert session is not None
        session["n"] = session.get("n", 0) + 1
        return f"n={session['n']}"

    @app.route("/login", methods=["POST"])
    async def login(request: server.Request) -> str:
        session = session_of(request)
        assert session is not None
        await session.regenerate(keep_data=True)
        return "ok"

    site = serve(SessionResource(app.resource(), OPTIONS, MemoryStore()))
    assert site.request("GET", "/count")[2] == b"n=1"
    first = site.cookie
    assert site.request("GET", "/count")[2] == b"n=2"
    assert site.request("POST", "/login")[::2] == (200, b"ok")
    assert site.cookie != first
    assert site.request("GET", "/count")[2] == b"n=3"


def test_session_of_needs_a_session_resource() -> None:
    with pytest.raises(UsageError, match="SessionResource"):
        session_of(object())


def test_a_client_that_leaves_during_the_commit_breaks_nothing(
    serve: Serve, twisted_log: list[LogEvent]
) -> None:
    root = directory(count=Counter())
    store = HeldStore()
    site = serve(SessionResource(root, OPTIONS, store))
    sock = send_raw(site, "/count")
    assert store.set_called.wait(30)
    # A reset, not a polite close: the server learns at once that the
    # client is gone.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    on_reactor(two_turns)
    on_reactor(lambda: store.pending.pop().callback(None))
    on_reactor(two_turns)
    assert store.data.length() == 1  # the commit itself completed
    gc.collect()  # a failure left in the dropped Deferred would be logged now
    on_reactor(lambda: None)
    assert not [e for e in twisted_log if e.get("log_failure") is not None]
    # And the server goes on serving.
    store.set_called.clear()

    def release() -> None:
        if store.set_called.wait(30):
            on_reactor(store.pending[0].callback, None)

    threading.Thread(target=release, daemon=True).start()
    status, _, body = site.request("GET", "/count")
    assert (status, body) == (200, b"views=1")


class AfterTheEnd(resource.Resource):
    """No cookie, and the session first asked for once the response is over."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.outcome: list[str] = []

    def render_GET(self, request: server.Request) -> object:
        request.write(b"done")
        request.finish()
        session = session_of(request)
        assert session is not None
        try:
            session["late"] = 1
        except UsageError:
            self.outcome.append("refused")
        else:
            self.outcome.append("taken")
        return NOT_DONE_YET


def test_a_session_first_used_after_the_end_is_read_only(serve: Serve) -> None:
    # Not begun for a request without a cookie until asked for: asked for
    # after the end, it refuses a change it could never save.
    log = StoreLog()
    page = AfterTheEnd()
    site = serve(SessionResource(page, OPTIONS, LoggedStore(MemoryStore(), log)))
    status, headers, body = site.request("GET", "/")
    assert (status, body) == (200, b"done")
    assert "set-cookie" not in {name.lower() for name in headers}
    assert page.outcome == ["refused"]
    assert log.drain() == []


class LateChange(resource.Resource):
    """No cookie; the session first changed once the headers are out."""

    isLeaf = True

    def render_GET(self, request: server.Request) -> object:
        request.write(b"early;")  # no Content-Length: the headers go now
        session = session_of(request)
        assert session is not None
        session["late"] = 1
        request.write(b"late")
        request.finish()
        return NOT_DONE_YET


def test_a_session_first_used_after_the_headers_stores_nothing(serve: Serve) -> None:
    # Its cookie can no longer go out: storing it would make an orphan.
    log = StoreLog()
    site = serve(SessionResource(LateChange(), OPTIONS, LoggedStore(MemoryStore(), log)))
    status, headers, body = site.request("GET", "/")
    assert (status, body) == (200, b"early;late")
    assert "set-cookie" not in {name.lower() for name in headers}
    assert log.drain() == []


def test_a_request_leaves_no_garbage_cycle(serve: Serve) -> None:
    # Everything a request made is freed as soon as Twisted lets go of it,
    # not left for the cyclic garbage collector.
    from sansio_session import Session, SessionMachine
    from sansio_session_twisted._response import Response

    site = serve(SessionResource(directory(count=Counter()), OPTIONS, MemoryStore()))
    site.request("GET", "/count")  # a session to come back with
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            assert site.request("GET", "/count")[0] == 200
        gc.collect()
        ours = (Session, SessionMachine, Response, server.Request)
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, ours)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []
