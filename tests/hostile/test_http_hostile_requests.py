# Hostile requests beyond the Cookie header, against every driver's
# reference app: a spoofed X-Forwarded-Proto, huge and reserved query keys,
# values that are not ASCII, odd targets and methods, and the headers that
# keep shared caches from handing one user's cookie to another.
#
# As in test_http_hostile.py, each test reads a victim session back after
# its attack and checks every answer for tracebacks and echoes.
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from hostile_checks import (
    MARKER,
    SHORT_REASON,
    Victim,
    assert_clean,
    assert_intact,
    assert_response_clean,
    known_driver_bug,
    make_victim,
    send_raw,
)
from http_stores import StoreBackend
from refapp_client import AppClient, Response, StartApp

pytestmark = pytest.mark.http

MINUTE: dict[str, Any] = {"cookie": {"max_age": 60}}


@pytest.fixture
def app(refapp: StartApp) -> AppClient:
    return refapp(MINUTE)


@pytest.fixture
def victim(app: AppClient) -> Victim:
    return make_victim(app)


def _query(pairs: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs.items())


# -- X-Forwarded-Proto ----------------------------------------------------------------

SPOOFS: dict[str, list[tuple[str, str | bytes]]] = {
    "https": [("X-Forwarded-Proto", "https")],
    "upper-case": [("X-Forwarded-Proto", "HTTPS")],
    "list": [("X-Forwarded-Proto", "https, https")],
    "two-lines": [("X-Forwarded-Proto", "https"), ("X-Forwarded-Proto", "https")],
    "padded": [("X-Forwarded-Proto", " https\t")],
    "8KiB": [("X-Forwarded-Proto", "https," * 1365)],
    "non-utf8": [("X-Forwarded-Proto", b"https\xff\xfe")],
    "other-headers": [
        ("Forwarded", "for=1.2.3.4;proto=https"),
        ("X-Forwarded-Ssl", "on"),
        ("X-Forwarded-Scheme", "https"),
        ("X-Url-Scheme", "https"),
        ("Front-End-Https", "on"),
    ],
}


@pytest.mark.parametrize("spoof", list(SPOOFS.values()), ids=list(SPOOFS))
@pytest.mark.parametrize("proxy", [None, False], ids=["proxy-null", "proxy-false"])
def test_x_forwarded_proto_grants_nothing_without_proxy(
    refapp: StartApp, proxy: bool | None, spoof: list[tuple[str, str | bytes]]
) -> None:
    # With secure and same_site "auto" the cookie shows what the app decided:
    # Secure and SameSite=None on a secure request, neither and Lax otherwise.
    # (That a Secure cookie is then never sent is the HTTP suite's.)
    auto = refapp({"proxy": proxy, "cookie": {"secure": "auto", "same_site": "auto", "max_age": 60}})
    response = auto.get("/", headers=spoof)
    assert_response_clean(response)
    assert response.status == 200
    assert [op for op, _ in response.ops] == ["set"]
    cookie = response.cookie
    assert cookie is not None
    assert not cookie.has("Secure")
    assert cookie.get("SameSite") == "Lax"
    victim = make_victim(auto)
    assert_intact(auto, victim)


@pytest.mark.parametrize("value", [b"\xff", b"https\x00", b"\x1b[31mhttps", b"h" * 8192, b"", b","])
def test_garbage_forwarded_proto_behind_a_trusted_proxy_is_no_error(refapp: StartApp, value: bytes) -> None:
    app = refapp({"proxy": True, "cookie": {"secure": True, "max_age": 60}})
    made = app.post("/session?user=alice", headers=[("X-Forwarded-Proto", "https")])
    assert made.cookie is not None
    victim = Victim(made.sent_sid, made.cookie.pair, {"user": "alice"})
    response, ops = send_raw(app, [b"X-Forwarded-Proto: " + value + MARKER.encode()], target="/")
    assert_clean(response.status, response.headers, response.body)
    assert response.status in (200, 400)
    assert not response.header(b"set-cookie")  # none of these says https
    assert [op for op, _ in ops] == (["set"] if response.status == 200 else [])
    assert_intact(app, victim)


# -- query keys -----------------------------------------------------------------------

RESERVED = [
    "id",
    "cookie",
    "req",
    "touch",
    "resetMaxAge",
    "save",
    "reload",
    "destroy",
    "regenerate",
    "__proto__",
]


@pytest.mark.parametrize("key", RESERVED)
def test_reserved_query_keys_are_refused_and_change_nothing(app: AppClient, victim: Victim, key: str) -> None:
    for query in (
        f"{key}={MARKER}",
        f"a=1&{key}=x",
        "".join(f"%{byte:02X}" for byte in key.encode()) + "=x&b=2",
        f"{key}&c=3",
    ):
        response = app.post(f"/session?{query}", cookie=victim.cookie)
        assert response.status == 400, (query, response.status)
        assert response.content_type.startswith("text/plain")
        assert len(response.body) <= SHORT_REASON
        assert MARKER.encode() not in response.body
        assert [op for op, _ in response.ops if op == "set"] == []
    assert_intact(app, victim)


def test_javascript_property_names_are_plain_data(app: AppClient, victim: Victim) -> None:
    # Keys that mean something to a JavaScript object (a Node app may share
    # the store) are stored and read back as plain strings, and change nothing.
    names = ["constructor", "prototype", "hasOwnProperty", "toString", "valueOf", "__defineGetter__",
             "__proto__[x]", "constructor.prototype", "views"]  # fmt: skip
    data = {name: f"{MARKER}-{i}" for i, name in enumerate(names)}
    sid, cookie = app.new_session(**data)
    read = app.get("/session", cookie=cookie)
    assert (read.json()["id"], read.json()["data"]) == (sid, data)
    page = app.get("/", cookie=cookie)  # "views" was a string: counting starts again
    assert page.status == 200 and "views: 1" in page.text
    assert_intact(app, victim)


@pytest.mark.parametrize(
    "data",
    [
        {"k" * 8000: "v"},
        {"k": MARKER + "v" * 8000},
        {f"k{i}": f"v{i}" for i in range(1000)},
    ],
    ids=["8KB-key", "8KB-value", "1000-keys"],
)
def test_huge_query_keys_and_values_are_stored_intact(
    app: AppClient, victim: Victim, data: dict[str, str]
) -> None:
    sid, cookie = app.new_session(**data)
    read = app.get("/session", cookie=cookie)
    assert read.status == 200
    assert (read.json()["id"], read.json()["data"]) == (sid, data)
    assert_intact(app, victim)


def test_a_key_repeated_a_thousand_times_keeps_its_last_value(app: AppClient, victim: Victim) -> None:
    query = "&".join(f"k={i}" for i in range(1000))
    response = app.post(f"/session?{query}")
    assert response.status == 200
    assert response.json()["data"] == {"k": "999"}
    assert_intact(app, victim)


# -- values that are not ASCII ---------------------------------------------------------

NON_ASCII = {
    "clé": "Zoë",
    "cjk": "日本語のセッション",
    "astral": "\U0001f600\U0001f510\U0001d518",
    "separators": "a\u2028b\u2029c",
    "bidi": "\u202eabc\u202c",
    "bom": "\ufeffx",
    "combining": "e\u0301",
    "nul-and-controls": "a\x00b\x01\x1f\x7f",
    "markup": "\"'<script>&amp;\\",
    "ключ": "значение",
}


@pytest.mark.every_store
def test_non_ascii_keys_and_values_round_trip_intact(refapp: StartApp, store_backend: StoreBackend) -> None:
    app = refapp(MINUTE)
    response = app.post("/session?" + _query(NON_ASCII))
    assert_response_clean(response)
    assert response.status == 200
    assert response.json()["data"] == NON_ASCII
    sid, cookie = response.sent_sid, response.cookie
    assert cookie is not None
    read = app.get("/session", cookie=cookie.pair)
    assert (read.json()["id"], read.json()["data"]) == (sid, NON_ASCII)
    if store_backend.shared:  # and the record in the store holds them as they are
        text = store_backend.read(sid)
        assert text is not None
        stored = json.loads(text)
        assert {key: stored[key] for key in NON_ASCII} == NON_ASCII


@pytest.mark.parametrize("escape", ["%FF", "%C0%AE", "%ED%A0%80", "%", "%zz", "%E2%82"])
def test_invalid_percent_escapes_are_no_error(app: AppClient, victim: Victim, escape: str) -> None:
    response = app.post(f"/session?k={escape}&{escape}=v")
    assert_response_clean(response)
    assert response.status in (200, 400)
    if response.status == 200:
        # Whatever the app made of them, the session holds exactly that.
        view = response.json()
        cookie = response.cookie
        assert cookie is not None
        assert app.get("/session", cookie=cookie.pair).json()["data"] == view["data"]
    assert_intact(app, victim)


# -- targets and methods -------------------------------------------------------------------

TARGETS = [
    ("GET", "/%00"),
    ("GET", "/session%00"),
    ("GET", "/session/..%2f..%2fetc%2fpasswd"),
    ("GET", "/" + "a" * 8000),
    ("GET", "http://evil.example/session"),
    ("POST", "/session/%2e%2e/destroy"),
    ("POST", "/session/destroy/.."),
    ("POST", "/session/cookie?max_age=" + "9" * 100),
    ("POST", "/session/cookie?max_age=-1"),
    ("POST", "/session/cookie?max_age=%D9%A3"),  # an Arabic-Indic digit
    ("TRACE", "/session"),
    ("PROPFIND", "/session"),
    ("DELETE", "/session"),
    ("OPTIONS", "*"),
]


@pytest.mark.parametrize(("method", "target"), TARGETS, ids=[f"{m} {t[:32]}" for m, t in TARGETS])
def test_odd_targets_and_methods_are_answered_plainly(
    app: AppClient, victim: Victim, method: str, target: str
) -> None:
    # TRACE in particular must not echo the request (cross-site tracing).
    lines = [b"Cookie: " + victim.cookie.encode() + b"; x=" + MARKER.encode(), b"X-Evil: " + MARKER.encode()]
    response, ops = send_raw(app, lines, method=method, target=target)
    assert_clean(response.status, response.headers, response.body)
    assert response.status in (200, 400, 404, 405, 501), response.raw[:300]
    assert all(sid == victim.sid for _, sid in ops), ops
    assert_intact(app, victim)


# -- shared caches --------------------------------------------------------------------------

CACHE_BUGS: dict[str, str] = {}


def _tokens(response: Response, name: str) -> set[str]:
    values = [v for k, v in response.headers if k.lower() == name.lower()]
    return {token.strip().lower() for value in values for token in value.split(",")}


def test_session_responses_are_kept_out_of_shared_caches(
    request: pytest.FixtureRequest, refapp: StartApp
) -> None:
    # Flask CVE-2023-30861: a shared cache stored a response that refreshed
    # the session cookie and served it, cookie and all, to other users.
    known_driver_bug(request, CACHE_BUGS)
    app = refapp({"rolling": True, **MINUTE})
    made = app.get("/")
    assert made.cookie is not None
    assert "private" in _tokens(made, "Cache-Control")
    assert "cookie" in _tokens(made, "Vary")
    refreshed = app.get("/session", cookie=made.cookie.pair)  # rolling: the cookie is sent again
    assert refreshed.cookie is not None
    assert "private" in _tokens(refreshed, "Cache-Control")
    assert "cookie" in _tokens(refreshed, "Vary")
    plain = refapp(MINUTE)
    victim = make_victim(plain)
    read = plain.get("/session", cookie=victim.cookie)  # no cookie sent, but the page is the victim's
    assert read.cookie is None
    assert "cookie" in _tokens(read, "Vary")
