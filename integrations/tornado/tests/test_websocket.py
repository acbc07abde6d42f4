# SessionWebSocketMixin: the session is saved before the upgrade, so the 101
# response carries the cookie.
from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.httputil import HTTPHeaders
from tornado.websocket import WebSocketClientConnection, websocket_connect
from tornado_session_testing import STORE_KINDS, Client, InlineStore, aio, serving

from sansio_session_tornado import SessionMixin, SessionWebSocketMixin


class Visits(SessionWebSocketMixin):
    async def get(self, *args: Any, **kwargs: Any) -> None:
        session = self.session
        assert session is not None
        session["visits"] = session.get("visits", 0) + 1
        await super().get(*args, **kwargs)

    def open(self, *args: str, **kwargs: str) -> None:
        session = self.session
        assert session is not None
        self.write_message(json.dumps(session.to_dict()))


class Page(SessionMixin):
    def get(self) -> None:
        session = self.session
        assert session is not None
        self.write({"visits": session.get("visits")})


ROUTES: list[Any] = [(r"/ws", Visits), (r"/page", Page)]


async def _connect(client: Client) -> tuple[WebSocketClientConnection, HTTPHeaders]:
    headers = {} if client.cookie is None else {"Cookie": client.cookie}
    request = HTTPRequest(f"ws://127.0.0.1:{client.port}/ws", headers=headers)
    connection = await websocket_connect(request)
    assert connection.headers is not None
    for header in connection.headers.get_list("Set-Cookie"):
        client.cookie = header.split(";", 1)[0]
    return connection, connection.headers


@pytest.mark.parametrize("kind", STORE_KINDS)
@aio
async def test_the_handshake_carries_the_cookie_of_a_saved_session(kind: str) -> None:
    async with serving(ROUTES, STORE_KINDS[kind]()) as client:
        first, handshake = await _connect(client)
        assert handshake.get_list("Set-Cookie")[0].startswith("connect.sid=s%3A")
        assert json.loads(await first.read_message() or "") == {"visits": 1}
        first.close()
        second, handshake = await _connect(client)
        assert "Set-Cookie" not in handshake
        assert json.loads(await second.read_message() or "") == {"visits": 2}
        second.close()
        # The same session, over plain HTTP.
        assert (await client.fetch("/page")).body == b'{"visits": 2}'


@aio
async def test_a_failed_save_refuses_the_upgrade() -> None:
    store = InlineStore()
    store.fail = {"set"}
    async with serving(ROUTES, store) as client:
        with pytest.raises(HTTPClientError) as refused:
            await _connect(client)
        assert refused.value.code == 500
        assert store.op_names() == ["set"]
