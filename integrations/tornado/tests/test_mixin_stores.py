# SessionMixin and its stores: where each kind of store is called, what a
# store failure or a store that never answers turns into, the intents, and
# whether a request counts as secure (proxy, xheaders, TLS).
from __future__ import annotations

import logging
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse
from tornado_session_testing import (
    LEAK,
    STORE_KINDS,
    AsyncStore,
    InlineStore,
    ThreadStore,
    aio,
    options,
    serving,
)

from sansio_session import CookieOptions, Session
from sansio_session_tornado import SessionMixin


def _session(handler: SessionMixin) -> Session:
    session = handler.session
    assert session is not None
    return session


class Count(SessionMixin):
    def get(self) -> None:
        session = self.session
        if session is None:
            self.write("no session")
            return
        session["n"] = n = session.get("n", 0) + 1
        self.write(f"n={n}")


class Intent(SessionMixin):
    async def post(self, verb: str) -> None:
        session = _session(self)
        if verb == "login":
            await session.regenerate()
            _session(self)["user"] = self.get_argument("user")
        elif verb == "logout":
            await session.destroy()
        elif verb == "save":
            session["saved"] = True
            await session.save()
        self.write({"user": None if self.session is None else self.session.get("user")})


class SyncIntent(SessionMixin):
    def post(self) -> None:
        # On an in-memory store an intent is over when it returns.
        _session(self).regenerate()
        _session(self)["user"] = "sync"


ROUTES: list[Any] = [(r"/", Count), (r"/intent/(.*)", Intent), (r"/sync-intent", SyncIntent)]


def _refused(response: HTTPResponse) -> None:
    assert response.code == 500
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.body == b"session store unavailable"
    assert "Set-Cookie" not in response.headers


@aio
async def test_a_blocking_store_runs_off_the_loop_and_the_others_on_it() -> None:
    loop_thread = threading.get_ident()
    for kind, off_loop in [("inline", False), ("async", False), ("thread", True)]:
        store = STORE_KINDS[kind]()
        async with serving(ROUTES, store) as client:
            await client.fetch("/")
            assert (await client.fetch("/")).body == b"n=2"
        assert store.op_names() == ["set", "get", "set"]
        assert all((thread != loop_thread) is off_loop for thread in store.threads), kind


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize("op", ["get", "set"])
@aio
async def test_a_store_failure_is_a_plain_500_and_the_next_request_works(
    op: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = STORE_KINDS[kind]()
    # Even in debug mode, where Tornado shows tracebacks on error pages.
    async with serving(ROUTES, store, serve_traceback=True) as client:
        await client.fetch("/")
        store.fail = {op}
        with caplog.at_level(logging.ERROR):
            response = await client.fetch("/")
        _refused(response)
        assert LEAK.encode() not in response.body
        assert [r.getMessage() for r in caplog.records if r.name == "sansio_session_tornado"] == [
            f"session store {'load' if op == 'get' else 'save'} failed: "
            f"ConnectionError('store refused: {LEAK}')"
        ]
        store.fail = set()
        assert (await client.fetch("/")).body == b"n=2"


@pytest.mark.parametrize("kind", STORE_KINDS)
@aio
async def test_a_failed_intent_left_to_tornado_is_a_plain_500(kind: str) -> None:
    store = STORE_KINDS[kind]()
    async with serving(ROUTES, store, serve_traceback=True) as client:
        await client.fetch("/")
        store.fail = {"set"}
        _refused(await client.fetch("/intent/save", "POST"))


@aio
async def test_on_store_failure_continue_goes_on_without_a_session() -> None:
    store = AsyncStore()
    async with serving(ROUTES, store, session_options=options(on_store_failure="continue")) as client:
        await client.fetch("/")
        store.fail = {"get"}
        response = await client.fetch("/")
        assert response.body == b"no session"
        assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("kind", ["async", "thread"])
@aio
async def test_a_store_that_does_not_answer_times_out(kind: str) -> None:
    store = STORE_KINDS[kind]()
    async with serving(ROUTES, store, session_options=options(store_timeout=0.05)) as client:
        await client.fetch("/")
        if isinstance(store, AsyncStore):
            release = store.hold("get")
        else:
            assert isinstance(store, ThreadStore)
            store.hold = {"get"}
        try:
            _refused(await client.fetch("/"))
        finally:
            if isinstance(store, AsyncStore):
                release.set()
            else:
                store.release.set()
        assert (await client.fetch("/")).body == b"n=2"


@pytest.mark.parametrize("kind", STORE_KINDS)
@aio
async def test_regenerate_and_destroy_from_a_handler(kind: str) -> None:
    store = STORE_KINDS[kind]()
    async with serving(ROUTES, store) as client:
        await client.fetch("/")
        before = client.cookie
        assert (await client.fetch("/intent/login?user=alice", "POST")).body == b'{"user": "alice"}'
        assert client.cookie not in (None, before)
        assert store.memory.length() == 1
        response = await client.fetch("/intent/logout", "POST")
        assert response.body == b'{"user": null}'
        assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in response.headers["Set-Cookie"]
        assert store.memory.length() == 0


@aio
async def test_intents_in_a_sync_handler_on_an_in_memory_store() -> None:
    store = InlineStore()
    async with serving(ROUTES, store) as client:
        await client.fetch("/")
        await client.fetch("/sync-intent", "POST")
        assert store.op_names() == ["set", "get", "destroy", "set"]
        assert [record for record in store.memory.all().values() if '"user":"sync"' in record]


SECURE = options(cookie=CookieOptions(secure=True))


@pytest.mark.parametrize(
    ("proxy", "xheaders", "forwarded", "sent"),
    [
        (True, False, "https", True),  # proxy=True trusts X-Forwarded-Proto...
        (True, False, None, False),
        (True, False, "http", False),
        (None, True, "https", True),  # ...proxy=None leaves it to Tornado's xheaders
        (None, False, "https", False),
        (False, True, "https", False),  # ...proxy=False trusts no header
    ],
)
@aio
async def test_secure_cookies_follow_proxy_and_xheaders(
    proxy: bool | None, xheaders: bool, forwarded: str | None, sent: bool
) -> None:
    headers = {} if forwarded is None else {"X-Forwarded-Proto": forwarded}
    session_options = options(cookie=CookieOptions(secure=True), proxy=proxy)
    async with serving(
        ROUTES, InlineStore(), session_options=session_options, server={"xheaders": xheaders}
    ) as client:
        response = await client.fetch("/", headers=headers)
        assert response.code == 200
        cookie = response.headers.get("Set-Cookie")
        assert (cookie is not None and "; Secure" in cookie) is sent


@aio
async def test_a_tls_connection_is_secure_whatever_proxy_says(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a test certificate: {made.stderr[-200:]!r}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    session_options = options(cookie=CookieOptions(secure=True), proxy=False)
    async with serving(
        ROUTES,
        InlineStore(),
        session_options=session_options,
        server={"ssl_options": context},
        scheme="https",
    ) as client:
        response = await client.fetch("/", ca_certs=str(cert))
        assert response.code == 200
        assert "; Secure" in response.headers["Set-Cookie"]
