"""Log out everywhere through each driver's own API (issue 7, item 5)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import trio
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler
from twisted.web.resource import Resource

from sansio_session import MemoryStore, SessionOptions
from sansio_session_tornado import SessionMixin
from sansio_session_trio import Sessions
from sansio_session_twisted import SessionResource

OPTIONS = SessionOptions(secret="a long enough secret for the user index tests")


def _store() -> MemoryStore:
    store = MemoryStore()
    for sid, user in (("a" * 32, "alice"), ("b" * 32, "alice"), ("c" * 32, "bob")):
        store.set(sid, '{"cookie":{"originalMaxAge":null,"expires":null,"path":"/"}}', 60, user=user)
    return store


def test_trio_sessions_list_and_log_out_a_user() -> None:
    store = _store()
    sessions = Sessions(OPTIONS, store)
    assert trio.run(sessions.sessions_of, "alice") == ["a" * 32, "b" * 32]
    assert trio.run(sessions.logout_everywhere, "alice") == 2
    assert trio.run(sessions.sessions_of, "alice") == []
    assert store.sessions_of("bob") == ["c" * 32]


def test_twisted_resource_lists_and_logs_out_a_user() -> None:
    store = _store()
    resource = SessionResource(Resource(), OPTIONS, store)
    found: list[Any] = []
    resource.sessions_of("alice").addCallback(found.append)
    resource.logout_everywhere("alice").addCallback(found.append)
    assert found == [["a" * 32, "b" * 32], 2]
    assert store.sessions_of("alice") == [] and store.sessions_of("bob") == ["c" * 32]


class _Users(SessionMixin, RequestHandler):
    async def post(self, user: str) -> None:
        before = await self.sessions_of(user)
        destroyed = await self.logout_everywhere(user)
        self.write({"before": before, "destroyed": destroyed})


def test_tornado_handler_lists_and_logs_out_a_user() -> None:
    store = _store()

    async def main() -> Any:
        [sock] = bind_sockets(0, "127.0.0.1")
        server = HTTPServer(
            Application([(r"/users/(\w+)", _Users)], session_options=OPTIONS, session_store=store)
        )
        server.add_sockets([sock])
        try:
            url = f"http://127.0.0.1:{sock.getsockname()[1]}/users/alice"
            response = await AsyncHTTPClient().fetch(url, method="POST", body=b"")
            return response.body
        finally:
            server.stop()

    body = asyncio.run(main())
    assert body == b'{"before": ["' + b"a" * 32 + b'", "' + b"b" * 32 + b'"], "destroyed": 2}'
    assert store.sessions_of("bob") == ["c" * 32]


def test_a_store_without_an_index_is_a_clear_error() -> None:
    class Plain:
        blocking = False

        def get(self, sid: str) -> None:
            return None

    with pytest.raises(AttributeError):
        trio.run(Sessions(OPTIONS, Plain()).sessions_of, "alice")  # type: ignore[arg-type]
