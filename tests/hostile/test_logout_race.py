# A logout undone by a parallel request, raced for real and in a fixed order.
#
# Two app processes share one Redis server of the test's own: the logout
# goes through one, the parallel request through the other, whose Redis
# traffic passes a TcpProxy. The proxy lets the parallel request's load
# through and then holds whatever its app sends next (the end-of-request
# touch) until the logout is done, so the touch always lands after the
# destroy, the order in which it could bring a session back.
from __future__ import annotations

import threading
from typing import Any

import pytest
from hostile_checks import make_victim
from redis_servers import OwnRedis, raw
from refapp_client import Response, StartApp
from tcp_proxy import TcpProxy

pytestmark = [pytest.mark.http, pytest.mark.services, pytest.mark.own_store]

CONFIG: dict[str, Any] = {"cookie": {"max_age": 300}}


def test_a_logout_is_not_undone_by_a_parallel_read(refapp: StartApp) -> None:
    with OwnRedis() as redis, TcpProxy(("127.0.0.1", redis.port)) as proxy:
        parallel_app = refapp(CONFIG, store_url=f"redis://{proxy.address}/0")
        logout_app = refapp(CONFIG, store_url=redis.url())
        victim = make_victim(logout_app)
        loaded = [("get", victim.sid), ("touch", victim.sid)]
        assert parallel_app.get("/session", cookie=victim.cookie).ops == loaded  # connected, and shared

        proxy.hold_after_reply()
        outcome: list[Response] = []
        thread = threading.Thread(
            target=lambda: outcome.append(parallel_app.get("/session", cookie=victim.cookie))
        )
        thread.start()
        try:
            assert proxy.holding.wait(15), "the parallel request never loaded its session"
            logout = logout_app.post("/session/destroy", cookie=victim.cookie)
            assert logout.ops == [("get", victim.sid), ("destroy", victim.sid)]
            assert logout.cookie is not None and logout.cookie.is_expiring
        finally:
            proxy.release()
            thread.join(30)
        (parallel,) = outcome
        # It loaded before the logout, so it saw the session, and touched it after.
        assert parallel.status == 200
        assert (parallel.json()["id"], parallel.json()["data"]) == (victim.sid, victim.data)
        assert parallel.ops == loaded

        assert raw(redis.url(), "EXISTS", "sess:" + victim.sid) == 0
        for app in (logout_app, parallel_app):
            after = app.get("/session", cookie=victim.cookie)
            assert after.ops == [("get", victim.sid)]
            assert after.json()["id"] != victim.sid
