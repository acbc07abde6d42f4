# Load against every driver's reference app: many new visitors at once get
# distinct ids, and a flood of requests that put nothing in their session
# stores nothing (Django CVE-2015-5963 filled its store that way).
from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from hostile_checks import assert_intact, make_victim
from refapp_client import ID_SHAPE, AppClient, SetCookie, StartApp, signed_value

pytestmark = pytest.mark.http

MINUTE: dict[str, Any] = {"cookie": {"max_age": 60}}
VISITORS = 200
FLOOD = 2000

T = TypeVar("T")


def _all_at_once(count: int, visit: Callable[[int], T]) -> list[T]:
    """Run ``visit(i)`` on ``count`` threads that start together."""
    start = threading.Barrier(count)

    def run(i: int) -> T:
        start.wait(30)
        return visit(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def _request(
    app: AppClient, method: str, target: str, cookie: str | None = None
) -> tuple[int, list[str], bytes]:
    conn = http.client.HTTPConnection(app.host, app.port, timeout=60)
    try:
        conn.request(method, target, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.headers.get_all("Set-Cookie") or [], response.read()
    finally:
        conn.close()


def test_concurrent_new_visitors_get_distinct_ids(refapp: StartApp) -> None:
    app = refapp(MINUTE)

    def visit(_: int) -> str:
        status, cookies, _body = _request(app, "GET", "/")
        assert status == 200
        (cookie,) = (SetCookie.parse(c) for c in cookies)
        assert cookie.sid is not None and ID_SHAPE.match(cookie.sid), cookie.raw
        return cookie.sid

    ids = _all_at_once(VISITORS, visit)
    assert len(set(ids)) == VISITORS
    ops = app.drain()
    assert sorted(ops) == sorted(("set", sid) for sid in ids)

    # Each of them holds its own session, and only its own.
    def read(i: int) -> tuple[int, bytes]:
        status, _, body = _request(app, "GET", "/", f"connect.sid={signed_value(ids[i], app.secret)}")
        return status, body

    assert all(status == 200 and b"views: 2" in body for status, body in _all_at_once(VISITORS, read))
    assert sorted(ops) == sorted(op for op in app.drain() if op[0] == "set")


# Routes that look at the session (or not at all) without putting anything in it.
QUIET = [("GET", "/session"), ("GET", "/noop"), ("GET", "/nowhere"), ("HEAD", "/session"),
         ("POST", "/session"), ("POST", "/session/touch"), ("POST", "/session/cookie?max_age=5")]  # fmt: skip


@pytest.mark.parametrize("cookie", [None, "forged"], ids=["no-cookie", "forged-cookie"])
def test_a_flood_of_cookieless_requests_writes_nothing(refapp: StartApp, cookie: str | None) -> None:
    app = refapp(MINUTE)  # save_uninitialized is false by default
    victim = make_victim(app)
    forged = victim.cookie[:-1] + ("A" if victim.cookie[-1] != "A" else "B")
    header = {} if cookie is None else {"Cookie": forged}
    lanes = 8
    seen: list[tuple[int, bool]] = []

    def lane(i: int) -> list[tuple[int, bool]]:
        # One kept-alive connection per lane, as a flooding client would use.
        conn = http.client.HTTPConnection(app.host, app.port, timeout=60)
        results = []
        try:
            for n in range(i, FLOOD, lanes):
                method, target = QUIET[n % len(QUIET)]
                conn.request(method, target, headers=header)
                response = conn.getresponse()
                response.read()
                results.append((response.status, bool(response.headers.get_all("Set-Cookie"))))
        finally:
            conn.close()
        return results

    for results in _all_at_once(lanes, lane):
        seen.extend(results)
    assert len(seen) == FLOOD
    assert {status for status, _ in seen} <= {200, 404}
    assert not any(set_cookie for _, set_cookie in seen)
    assert app.drain() == []  # not one store call: no write, and no read of a forged id
    assert_intact(app, victim)
