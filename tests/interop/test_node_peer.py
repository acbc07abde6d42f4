# The Node peer checked on its own, over real HTTP and the real Redis: it
# must behave as express-session + connect-redis do (spec sections 5, 7 and
# 13) before the interop tests can lean on it. We use Redis db 9 and delete
# every key our sessions made; the prefix stays connect-redis's "sess:".
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import hiredis
import pytest
from node_peer import NODE_DIR, ensure_node_modules, node_app

pytestmark = [pytest.mark.services, pytest.mark.http]

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 9
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
SECRETS = ["current secret", "older secret"]
MAX_AGE_MS = 60_000
COOKIE_NAME = "connect.sid"


# Just enough of a Redis client to look at what the peer stored, and to
# delete the keys of every session id in `made` afterwards.
class _Redis:
    def __init__(self) -> None:
        self._sock = socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=5)
        self._reader = hiredis.Reader(encoding="utf-8")
        self.made: set[str] = set()
        self.command("SELECT", str(REDIS_DB))

    def command(self, *args: str) -> object:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._sock.sendall(b"".join(parts))
        while (reply := self._reader.gets()) is False:
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("Redis closed the connection")
            self._reader.feed(data)
        if isinstance(reply, hiredis.ReplyError):
            raise reply
        return reply

    def record(self, sid: str) -> str | None:
        reply = self.command("GET", f"sess:{sid}")
        assert reply is None or isinstance(reply, str)
        return reply

    def ttl(self, sid: str) -> int:
        reply = self.command("TTL", f"sess:{sid}")
        assert isinstance(reply, int)
        return reply

    def clean_up(self) -> None:
        if self.made:
            self.command("DEL", *(f"sess:{sid}" for sid in self.made))
        self._sock.close()


def _sign(sid: str, secret: str) -> str:
    # cookie-signature: id "." base64(HMAC-SHA256), "=" padding removed.
    mac = hmac.new(secret.encode(), sid.encode(), hashlib.sha256).digest()
    return f"{sid}.{base64.b64encode(mac).decode().rstrip('=')}"


def _cookie_value(sid: str, secret: str) -> str:
    # encodeURIComponent's set of characters left alone.
    return urllib.parse.quote(f"s:{_sign(sid, secret)}", safe="-_.!~*'()")


# Keeps the session cookie between requests, as a browser would, and tells
# _Redis about every session id it is given.
class _Browser:
    def __init__(self, base_url: str, redis: _Redis) -> None:
        parts = urllib.parse.urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None
        self._address = (parts.hostname, parts.port)
        self._redis = redis
        self.cookie: str | None = None  # the cookie value, still URL-encoded
        self.set_cookies: list[str] = []  # every Set-Cookie of the last response

    def request(self, method: str, target: str) -> tuple[int, str, str]:
        conn = http.client.HTTPConnection(*self._address, timeout=10)
        try:
            headers = {} if self.cookie is None else {"Cookie": f"{COOKIE_NAME}={self.cookie}"}
            conn.request(method, target, headers=headers)
            response = conn.getresponse()
            body = response.read().decode()
        finally:
            conn.close()
        self.set_cookies = response.headers.get_all("Set-Cookie") or []
        for header in self.set_cookies:
            name, _, rest = header.partition("=")
            if name == COOKIE_NAME:
                self.cookie = rest.split(";", 1)[0]
                self._redis.made.add(self.sid())
        return response.status, response.getheader("Content-Type", ""), body

    def view(self, method: str = "GET", target: str = "/session") -> dict[str, object]:
        status, content_type, body = self.request(method, target)
        assert (status, content_type) == (200, "application/json; charset=utf-8")
        view = json.loads(body)
        assert isinstance(view, dict)
        return view

    def sid(self) -> str:
        assert self.cookie is not None
        value = urllib.parse.unquote(self.cookie)
        assert value.startswith("s:")
        return value[2:].rpartition(".")[0]


def _connect() -> _Redis:
    try:
        return _Redis()
    except OSError as exc:
        reason = f"Redis at {REDIS_HOST}:{REDIS_PORT} unreachable: {exc}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def redis() -> Iterator[_Redis]:
    client = _connect()
    yield client
    client.clean_up()


@pytest.fixture(scope="module")
def peer_url() -> Iterator[str]:
    _connect().clean_up()  # skip here, not as a peer error, without Redis
    with node_app(REDIS_URL, SECRETS, max_age_ms=MAX_AGE_MS) as url:
        yield url


@pytest.fixture
def browser(peer_url: str, redis: _Redis) -> _Browser:
    return _Browser(peer_url, redis)


def _http_date(iso: str) -> str:
    return format_datetime(datetime.fromisoformat(iso.replace("Z", "+00:00")), usegmt=True)


def test_first_visit_stores_the_session_as_connect_redis_does(browser: _Browser, redis: _Redis) -> None:
    status, content_type, body = browser.request("GET", "/")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert "views: 1" in body

    [set_cookie] = browser.set_cookies
    sid = browser.sid()
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", sid)
    assert browser.cookie == _cookie_value(sid, SECRETS[0])

    raw = redis.record(sid)
    assert raw is not None
    record = json.loads(raw)
    assert list(record) == ["cookie", "views"]
    assert record["views"] == 1
    cookie = record["cookie"]
    assert list(cookie) == ["originalMaxAge", "expires", "httpOnly", "path", "sameSite"]
    # express-session's Cookie reads the clock twice, so it can be 1 ms short.
    assert cookie["originalMaxAge"] in (MAX_AGE_MS, MAX_AGE_MS - 1)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", cookie["expires"])
    assert cookie | {"originalMaxAge": 0, "expires": ""} == {
        "originalMaxAge": 0, "expires": "", "httpOnly": True, "path": "/", "sameSite": "lax",
    }  # fmt: skip
    assert 0 < redis.ttl(sid) <= MAX_AGE_MS // 1000

    # The cookie sent carries the expiry that was stored.
    assert set_cookie == (
        f"{COOKIE_NAME}={browser.cookie}; Path=/; Expires={_http_date(cookie['expires'])}; "
        "HttpOnly; SameSite=Lax"
    )


def test_session_view_shows_the_stored_session(browser: _Browser, redis: _Redis) -> None:
    browser.request("GET", "/")
    browser.request("GET", "/")
    view = browser.view()
    raw = redis.record(browser.sid())
    assert raw is not None
    stored_cookie = json.loads(raw)["cookie"]

    cookie = view["cookie"]
    assert isinstance(cookie, dict)
    max_age = cookie.pop("max_age")
    assert isinstance(max_age, int) and 0 < max_age <= MAX_AGE_MS // 1000
    assert view == {
        "id": browser.sid(),
        "data": {"views": 2},
        "cookie": {"original_max_age": 60, "expires": _http_date(stored_cookie["expires"])},
    }
    # An unmodified session with a cookie that has an expiry: no Set-Cookie.
    assert browser.set_cookies == []


def test_post_session_sets_keys_in_query_order(browser: _Browser, redis: _Redis) -> None:
    view = browser.view("POST", "/session?b=2&a=x+y&b=3&empty=")
    assert view["data"] == {"b": "3", "a": "x y", "empty": ""}
    raw = redis.record(browser.sid())
    assert raw is not None
    assert list(json.loads(raw)) == ["cookie", "b", "a", "empty"]


@pytest.mark.parametrize("key", ["id", "cookie", "save", "regenerate", "__proto__"])
def test_post_session_refuses_reserved_keys(browser: _Browser, redis: _Redis, key: str) -> None:
    browser.view("POST", "/session?a=1")
    before = redis.record(browser.sid())

    status, content_type, _ = browser.request("POST", f"/session?b=2&{key}=x")
    assert (status, content_type) == (400, "text/plain; charset=utf-8")
    assert redis.record(browser.sid()) == before
    assert browser.view()["data"] == {"a": "1"}


def test_regenerate_moves_the_session_to_a_new_empty_one(browser: _Browser, redis: _Redis) -> None:
    browser.view("POST", "/session?a=1")
    old = browser.sid()

    view = browser.view("POST", "/session/regenerate")
    new = browser.sid()
    assert new != old
    assert view["id"] == new
    assert view["data"] == {}
    assert redis.record(old) is None
    raw = redis.record(new)
    assert raw is not None
    assert list(json.loads(raw)) == ["cookie"]


def test_destroy_deletes_the_key(browser: _Browser, redis: _Redis) -> None:
    browser.view("POST", "/session?a=1")
    sid = browser.sid()

    status, _, body = browser.request("POST", "/session/destroy")
    assert (status, json.loads(body)) == (200, {"id": None})
    assert redis.record(sid) is None
    # The old cookie now names nothing: a new session, not saved.
    view = browser.view()
    assert view["id"] != sid
    assert view["data"] == {}
    assert browser.set_cookies == []


def test_reads_and_changes_a_session_written_outside_node(browser: _Browser, redis: _Redis) -> None:
    sid = secrets.token_urlsafe(24)
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=5)
    record = {
        "cookie": {
            "originalMaxAge": 300_000,
            "expires": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "httpOnly": True,
            "path": "/",
            "sameSite": "lax",
        },
        "views": 41,
        "user": "ann",
    }
    redis.made.add(sid)
    redis.command("SET", f"sess:{sid}", json.dumps(record), "EX", "300")
    # Signed with the older secret: it still verifies.
    browser.cookie = _cookie_value(sid, SECRETS[1])

    view = browser.view()
    cookie = view["cookie"]
    assert isinstance(cookie, dict)
    assert 0 < cookie.pop("max_age") <= 300
    assert view == {
        "id": sid,
        "data": {"views": 41, "user": "ann"},
        "cookie": {"original_max_age": 300, "expires": format_datetime(expires, usegmt=True)},
    }

    browser.request("GET", "/")
    # Modified, so the cookie is sent again, now signed with the first secret.
    assert browser.cookie == _cookie_value(sid, SECRETS[0])
    raw = redis.record(sid)
    assert raw is not None
    assert json.loads(raw) | {"cookie": None} == {"cookie": None, "views": 42, "user": "ann"}


def test_a_bad_signature_is_no_session(browser: _Browser, redis: _Redis) -> None:
    browser.view("POST", "/session?a=1")
    sid = browser.sid()
    browser.cookie = _cookie_value(sid, "not our secret")

    view = browser.view()
    assert view["id"] != sid
    assert view["data"] == {}


def test_browser_session_cookie(redis: _Redis) -> None:
    with node_app(REDIS_URL, SECRETS) as url:
        browser = _Browser(url, redis)
        browser.request("GET", "/")
        [set_cookie] = browser.set_cookies
        assert set_cookie == f"{COOKIE_NAME}={browser.cookie}; Path=/; HttpOnly; SameSite=Lax"
        raw = redis.record(browser.sid())
        assert raw is not None
        assert json.loads(raw)["cookie"] == {
            "originalMaxAge": None, "expires": None,
            "httpOnly": True, "path": "/", "sameSite": "lax",
        }  # fmt: skip
        # connect-redis keeps such a session for one day.
        assert MAX_AGE_MS // 1000 < redis.ttl(browser.sid()) <= 86400
        assert browser.view()["cookie"] == {
            "max_age": None, "original_max_age": None, "expires": None,
        }  # fmt: skip


def test_unknown_path_is_a_404(browser: _Browser) -> None:
    status, content_type, _ = browser.request("GET", "/nowhere")
    assert (status, content_type) == (404, "text/plain; charset=utf-8")


def test_the_peer_is_gone_after_the_block(redis: _Redis) -> None:
    with node_app(REDIS_URL, SECRETS) as url:
        address = urllib.parse.urlsplit(url)
        assert address.hostname is not None and address.port is not None
        socket.create_connection((address.hostname, address.port), timeout=5).close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((address.hostname, address.port), timeout=5)


def test_the_peer_exits_when_its_stdin_closes(redis: _Redis) -> None:
    ensure_node_modules()
    command = ["node", "app.js", "--port", "0", "--redis", REDIS_URL, "--secret", '"s"']
    with subprocess.Popen(
        command, cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            assert proc.stdout.readline().startswith("listening on http://127.0.0.1:")
            proc.stdin.close()
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
