# The features beyond express-session, over HTTP, through every driver's
# reference app: parallel requests of one session that lose nothing, a
# logout that a slower parallel write cannot undo, idle and absolute
# timeouts, the touch throttle, regenerate that keeps the data, log out
# everywhere, keyed store ids, the store-failure policy and cache safety.
#
# The timeouts are real seconds (the apps read the real clock), so those
# tests sleep: they use timeouts of a second or less and make their requests
# well short of them or past them, never asserting how long anything took.
from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from holding_proxy import HoldingProxy
from http_stores import StoreBackend
from refapp_client import AppClient, Response, StartApp, posix
from store_peek import forget_users, mentions, server_address, through

pytestmark = pytest.mark.http

MINUTE: dict[str, Any] = {"cookie": {"max_age": 60}}
EMPTY_VIEW = {"id": None, "data": {}, "cookie": {"max_age": None, "original_max_age": None, "expires": None}}
PARALLEL = 50

# What a driver or store does not do yet, by (test, driver, store kind);
# "*" matches any. Each is a strict xfail: it fails loudly once fixed.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


@pytest.fixture(autouse=True)
def _known_bugs(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    params = {} if callspec is None else callspec.params
    driver, store = params.get("driver", ""), params.get("store_kind", "")
    for (test, bug_driver, bug_store), reason in KNOWN_BUGS.items():
        if test == request.node.originalname and bug_driver in ("*", driver) and bug_store in ("*", store):
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def view_of(app: AppClient, cookie: str | None) -> dict[str, Any]:
    response = app.get("/session", cookie=cookie)
    assert response.status == 200, response
    result: dict[str, Any] = response.json()
    return result


def header_values(response: Response, name: str) -> list[str]:
    return [value for key, value in response.headers if key.lower() == name.lower()]


def varies_by_cookie(response: Response) -> bool:
    fields = [f.strip().lower() for value in header_values(response, "Vary") for f in value.split(",")]
    return "cookie" in fields or "*" in fields


# -- parallel requests ---------------------------------------------------------


@pytest.mark.every_store
def test_fifty_parallel_writers_on_one_session_lose_no_key(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session(start="1")
    start = threading.Barrier(PARALLEL)
    answers: list[tuple[int, bytes] | str] = [""] * PARALLEL

    def write(i: int) -> None:
        start.wait()
        try:
            status, _, body, _ = app.raw("POST", f"/session?k{i}=v", cookie, ())
            answers[i] = (status, body if status != 200 else b"")
        except OSError as exc:
            answers[i] = repr(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = {f"k{i}": answer for i, answer in enumerate(answers) if answer != (200, b"")}
    assert not failed, f"{len(failed)} of {PARALLEL} failed: {failed}"
    ops = app.drain()
    assert {op for op, _ in ops} <= {"get", "set", "touch"}, ops
    assert {op_sid for _, op_sid in ops} == {sid}
    assert sum(op == "get" for op, _ in ops) == PARALLEL
    assert sum(op == "set" for op, _ in ops) >= PARALLEL
    view = view_of(app, cookie)
    assert view["id"] == sid
    assert view["data"] == {"start": "1", **{f"k{i}": "v" for i in range(PARALLEL)}}


# -- a logout racing a slow write -------------------------------------------------


@pytest.fixture
def networked(store_backend: StoreBackend) -> StoreBackend:
    if store_backend.kind not in ("redis", "postgres"):
        pytest.skip(f"the {store_backend.kind} store has no connection to slow down")
    return store_backend


@pytest.mark.shared_stores
def test_a_logout_racing_a_slow_write_leaves_the_session_destroyed(
    refapp: StartApp, networked: StoreBackend
) -> None:
    # Two apps on one store and secret: the writer's app reaches the store
    # through a proxy that holds back its save until the logout is done.
    direct = refapp(MINUTE)
    with HoldingProxy(server_address(networked), b'{"cookie":') as proxy:
        slow = refapp(MINUTE, store_url=through(networked, proxy.port))
        sid, cookie = direct.new_session(start="1")
        proxy.arm()
        written: list[tuple[int, list[str]]] = []

        def write() -> None:
            status, _, _, set_cookies = slow.raw("POST", "/session?late=1", cookie, ())
            written.append((status, set_cookies))

        writer = threading.Thread(target=write)
        writer.start()
        try:
            assert proxy.wait_held(10), "the writer's save never reached the store"
            logout = direct.post("/session/destroy", cookie=cookie)
        finally:
            proxy.release()
            writer.join(30)
    assert logout.status == 200 and logout.json() == {"id": None}
    assert logout.ops == [("get", sid), ("destroy", sid)]
    [(status, set_cookies)] = written
    assert status == 200
    assert not [c for c in set_cookies if c.startswith("connect.sid=")], set_cookies
    assert slow.drain() == [("get", sid), ("set", sid)]
    after = direct.get("/session", cookie=cookie)
    assert after.ops == [("get", sid)]
    view = after.json()
    assert view["id"] != sid and view["data"] == {}
    assert networked.read(sid) is None


# -- timeouts and the touch throttle -----------------------------------------------


@pytest.mark.every_store
def test_idle_timeout_ends_an_unused_session_and_slides_a_used_one(
    refapp: StartApp, store_backend: StoreBackend
) -> None:
    app = refapp({"idle_timeout": 1})
    idle, idle_cookie = app.new_session(who="idle")
    used, used_cookie = app.new_session(who="used")
    time.sleep(0.6)
    touched = app.get("/session", cookie=used_cookie)
    assert touched.ops == [("get", used), ("touch", used)]
    time.sleep(0.6)
    # Past the first expiry of both; only the one used in between is alive.
    survivor = app.get("/session", cookie=used_cookie)
    assert survivor.ops == [("get", used), ("touch", used)]
    assert survivor.json()["id"] == used and survivor.json()["data"] == {"who": "used"}
    gone = app.get("/session", cookie=idle_cookie)
    assert gone.ops == [("get", idle)]
    assert gone.json()["id"] != idle and gone.json()["data"] == {}
    if store_backend.kind == "redis":
        # The store's TTL came from the same idle_timeout: Redis dropped it.
        assert store_backend.read(idle) is None


def test_absolute_timeout_ends_a_session_however_active(refapp: StartApp) -> None:
    app = refapp({"idle_timeout": 60, "absolute_timeout": 1})
    before = time.time()
    first = app.post("/session?step=0")
    created_by = time.time()
    sid = first.sent_sid
    assert first.cookie is not None and first.cookie.expires is not None
    # Expires is the creation plus 1 s (whole seconds, rounded down), not 60 s.
    assert before <= posix(first.cookie.expires) <= created_by + 1
    time.sleep(0.5)
    again = app.post("/session?step=1", cookie=first.cookie.pair)
    assert again.ops == [("get", sid), ("set", sid)]
    assert again.sent_sid == sid and again.json()["data"] == {"step": "1"}
    assert again.cookie is not None and again.cookie.expires is not None
    assert posix(again.cookie.expires) <= created_by + 1  # not extended by the activity
    time.sleep(max(0.0, created_by + 1.3 - time.time()))
    gone = app.get("/session", cookie=first.cookie.pair)
    assert gone.ops == [("get", sid)]
    assert gone.json()["id"] != sid and gone.json()["data"] == {}


@pytest.mark.every_store
def test_touch_after_skips_refreshes_until_that_long_has_passed(refapp: StartApp) -> None:
    app = refapp({**MINUTE, "touch_after": 0.5})
    sid, cookie = app.new_session()
    assert app.get("/session", cookie=cookie).ops == [("get", sid)]
    time.sleep(0.6)
    assert app.get("/session", cookie=cookie).ops == [("get", sid), ("touch", sid)]
    assert app.get("/session", cookie=cookie).ops == [("get", sid)]
    page = app.get("/", cookie=cookie)  # a change is saved, throttle or not
    assert page.ops == [("get", sid), ("set", sid)]


# -- regenerate keeping the data --------------------------------------------------


@pytest.mark.every_store
def test_regenerate_keep_data_moves_the_data_to_a_new_id(
    refapp: StartApp, store_backend: StoreBackend
) -> None:
    app = refapp(MINUTE)
    old, cookie = app.new_session(cart="3 apples", step="checkout")
    response = app.post("/session/regenerate?keep_data=1", cookie=cookie)
    assert response.status == 200
    view = response.json()
    new = response.sent_sid
    assert view["id"] == new != old
    assert view["data"] == {"cart": "3 apples", "step": "checkout"}
    assert response.ops == [("get", old), ("destroy", old), ("set", new)]
    assert response.cookie is not None
    assert view_of(app, response.cookie.pair)["data"] == {"cart": "3 apples", "step": "checkout"}
    stale = app.get("/session", cookie=cookie)
    assert stale.ops == [("get", old)]
    assert stale.json()["id"] not in (old, new) and stale.json()["data"] == {}
    if store_backend.shared:
        assert store_backend.read(old) is None


# -- log out everywhere ------------------------------------------------------------


@pytest.fixture
def users(store_backend: StoreBackend) -> Iterator[list[str]]:
    """Fresh user ids for one test; their Redis index keys go afterwards."""
    made = [f"user-{secrets.token_hex(6)}" for _ in range(2)]
    yield made
    forget_users(store_backend, made)


@pytest.mark.every_store
def test_logout_everywhere_destroys_exactly_the_users_sessions(
    refapp: StartApp, store_backend: StoreBackend, users: list[str]
) -> None:
    app = refapp(MINUTE)
    alice, bob = users
    sessions = {name: app.new_session() for name in ("a1", "a2", "b1")}
    for name, (sid, cookie) in sessions.items():
        user = alice if name.startswith("a") else bob
        bound = app.post(f"/session/bind?user={user}", cookie=cookie)
        assert bound.status == 200 and bound.json()["id"] == sid
        assert bound.ops == [("get", sid), ("set", sid)]
    a1, a2, b1 = (sessions[name][0] for name in ("a1", "a2", "b1"))
    listed = app.get(f"/users/{alice}/sessions")
    assert listed.status == 200 and sorted(listed.json()["sessions"]) == sorted([a1, a2])
    assert app.get(f"/users/{bob}/sessions").json() == {"sessions": [b1]}
    logout = app.post(f"/users/{alice}/logout-everywhere")
    assert (logout.status, logout.json()) == (200, {"destroyed": 2})
    assert app.get(f"/users/{alice}/sessions").json() == {"sessions": []}
    assert app.get(f"/users/{bob}/sessions").json() == {"sessions": [b1]}
    for name in ("a1", "a2"):
        sid, cookie = sessions[name]
        view = view_of(app, cookie)
        assert view["id"] != sid and view["data"] == {}
        if store_backend.shared:
            assert store_backend.read(sid) is None
    survivor = view_of(app, sessions["b1"][1])
    assert (survivor["id"], survivor["data"]) == (b1, {"views": 1})


# -- keyed store ids ---------------------------------------------------------------


@pytest.mark.every_store
def test_hash_ids_keeps_the_raw_id_out_of_the_store(
    refapp: StartApp, store_backend: StoreBackend, users: list[str]
) -> None:
    app = refapp({**MINUTE, "hash_ids": True})
    first = app.get("/")
    sid = first.sent_sid
    [(op, key)] = first.ops
    assert op == "set" and key != sid and sid not in key
    assert first.cookie is not None
    again = app.get("/", cookie=first.cookie.pair)
    assert "views: 2" in again.text
    assert again.ops == [("get", key), ("set", key)]
    assert again.sent_sid == sid
    # A bound session: the per-user index holds the hashed key too.
    bound = app.post(f"/session/bind?user={users[0]}", cookie=first.cookie.pair)
    assert bound.ops == [("get", key), ("set", key)]
    assert view_of(app, first.cookie.pair)["data"] == {"views": 2}
    if store_backend.shared:
        assert store_backend.read(key) is not None
        assert mentions(store_backend, sid) == []


# -- the store-failure policy ------------------------------------------------------


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A port nothing listens on (bound, never listening, so it stays ours)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize("policy", ["fail", "continue"])
def test_a_store_that_cannot_be_reached(refapp: StartApp, closed_port: int, policy: str) -> None:
    app = refapp({**MINUTE, "on_store_failure": policy}, store_url=f"redis://127.0.0.1:{closed_port}/0")
    sid = secrets.token_urlsafe(24)
    loaded = app.get("/session", cookie=app.cookie_for(sid))
    saved = app.get("/")
    assert loaded.ops == [("get", sid)]
    assert [op for op, _ in saved.ops] == ["set"]
    for response in (loaded, saved):
        assert response.cookie is None
        if policy == "fail":
            assert response.status == 500 and response.content_type.startswith("text/plain")
        else:
            assert response.status == 200
    if policy == "continue":
        assert loaded.json() == EMPTY_VIEW
        assert "views: 1" in saved.text


# -- cache safety --------------------------------------------------------------------


def test_a_response_that_read_the_session_varies_by_cookie(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.get("/session")
    assert response.cookie is None
    assert varies_by_cookie(response), response.headers


def test_a_response_that_sets_the_cookie_is_private(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.get("/")
    assert response.cookie is not None
    assert header_values(response, "Cache-Control") == ["private"], response.headers
    assert varies_by_cookie(response), response.headers


def test_a_response_that_ignores_the_session_is_left_cacheable(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    _, cookie = app.new_session()
    for sent in (None, cookie):
        response = app.get("/noop", cookie=sent)
        assert (response.status, response.text) == (200, "ok")
        assert not varies_by_cookie(response), response.headers
        assert header_values(response, "Cache-Control") == [], response.headers
