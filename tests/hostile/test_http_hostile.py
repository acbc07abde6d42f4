# Hostile Cookie headers over real sockets, against every driver's reference
# app: malformed and oversized headers sent as raw bytes, forged signatures,
# ids the client chose, and ids crafted to hurt a store.
#
# Each test makes a victim session first and, after its attack, reads it
# back (hostile_checks.assert_intact), and every answer is checked for
# tracebacks, echoes of the attack and long error bodies (assert_clean).
# The companion file test_http_hostile_requests.py does the same for the
# rest of the request: X-Forwarded-Proto, query keys, targets, caching.
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hostile_checks import (
    MARKER,
    Victim,
    assert_clean,
    assert_intact,
    assert_response_clean,
    known_driver_bug,
    make_victim,
    send_raw,
)
from refapp_client import SECRET, AppClient, Response, StartApp, mac, signed_value

pytestmark = pytest.mark.http

MINUTE = {"cookie": {"max_age": 60}}
M = MARKER.encode()


@pytest.fixture
def app(refapp: StartApp) -> AppClient:
    return refapp(MINUTE)


@pytest.fixture
def victim(app: AppClient) -> Victim:
    return make_victim(app)


def _tampered(value: bytes) -> bytes:
    return value[:-1] + (b"A" if value[-1:] != b"A" else b"B")


def _cookies(count: int) -> bytes:
    # About 11 bytes each: a thousand of them fit under a 16 KiB limit.
    return M + b"=1; " + b"; ".join(b"c%d=v%d" % (i, i) for i in range(count - 1))


Lines = Callable[[bytes], list[bytes]]

# (lines from our good cookie value, whether the victim's session loads,
# whether the request is valid HTTP, so that the server must take it).
# RFC 9110 section 5.5: a field value with NUL, CR or LF is invalid and
# other controls are not field-vchars, so for those a 400 is an answer too.
C = b"Cookie: "
OURS = b"Cookie: connect.sid="
HEADERS: list[tuple[str, Lines, bool, bool]] = [
    ("8KiB-value-beside-ours", lambda g: [OURS + g + b"; big=" + M + b"x" * 8192], True, True),
    ("8KiB-value-before-ours", lambda g: [C + b"big=" + M + b"x" * 8192 + b"; connect.sid=" + g], True, True),
    ("8KiB-value-of-ours", lambda g: [OURS + M + b"x" * 8192], False, True),
    ("8KiB-name", lambda g: [C + M + b"n" * 8192 + b"=1; connect.sid=" + g], True, True),
    ("1000-cookies-then-ours", lambda g: [C + _cookies(1000) + b"; connect.sid=" + g], True, True),
    ("ours-then-1000-cookies", lambda g: [OURS + g + b"; " + _cookies(1000)], True, True),
    ("100-forged-of-ours-first", lambda g: [C + b"; ".join([b"connect.sid=" + _tampered(g)] * 100)
                                            + b"; connect.sid=" + g], False, True),
    ("100-cookie-lines-then-ours", lambda g: [C + b"c%d=%s" % (i, M) for i in range(100)] + [OURS + g],
     True, True),
    ("ours-then-100-cookie-lines", lambda g: [OURS + g] + [C + b"c%d=%s" % (i, M) for i in range(100)],
     True, True),
    ("nul-beside-ours", lambda g: [OURS + g + b"; x=a\x00" + M], True, False),
    ("nul-in-ours", lambda g: [OURS + g[:12] + b"\x00" + g[12:]], False, False),
    ("controls-beside-ours", lambda g: [OURS + g + b"; x=\x01\x08\x1b\x7f" + M], True, False),
    ("controls-in-ours", lambda g: [OURS + g[:12] + b"\x1b[2J" + g[12:]], False, False),
    ("bare-cr-beside-ours", lambda g: [OURS + g + b"; x=\r" + M], True, False),
    ("bare-lf-beside-ours", lambda g: [OURS + g + b"; x=\n" + M + b"=1"], True, False),
    ("non-utf8-beside-ours", lambda g: [C + b"x=\xff\xfe\xc0\x80" + M + b"; connect.sid=" + g], True, True),
    ("non-utf8-in-ours", lambda g: [OURS + g + b"\xff"], False, True),
    ("overlong-dot-in-ours", lambda g: [OURS + g.replace(b".", b"\xc0\xae", 1)], False, True),
    ("latin1-name-lookalike", lambda g: [C + b"connect\xb7sid=" + g], False, True),
    ("nameless-pair-of-ours", lambda g: [C + b"=connect.sid=" + g], False, True),  # Werkzeug's CVE
    ("nameless-pair-then-ours", lambda g: [C + b"=connect.sid=" + _tampered(g) + b"; connect.sid=" + g],
     True, True),
    ("empty-cookie-lines", lambda g: [b"Cookie:", C + b";;", OURS + g], True, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "loads", "valid_http"), [h[1:] for h in HEADERS], ids=[h[0] for h in HEADERS]
)
def test_malformed_and_oversized_cookie_headers(
    app: AppClient, victim: Victim, lines: Lines, loads: bool, valid_http: bool
) -> None:
    response, ops = send_raw(app, lines(victim.cookie.partition("=")[2].encode()))
    assert_clean(response.status, response.headers, response.body)
    assert response.status in ({200} if valid_http else {200, 400}), response.raw[:300]
    if response.status == 200:
        assert ops == ([("get", victim.sid), ("touch", victim.sid)] if loads else [])
        view = json.loads(response.body)
        assert (view["id"] == victim.sid) is loads
        assert view["data"] == (victim.data if loads else {})
    else:
        assert ops == []
    assert_intact(app, victim)


# A head over the server's limit must be answered, 431 (RFC 6585 section 5),
# not dropped: a client that sees a bare close retries, or shows nothing.
@pytest.mark.parametrize(
    ("lines", "bugs"),
    [
        pytest.param(
            lambda g: [OURS + g + b"; big=" + M + b"x" * 65536],
            {},
            id="one-64KiB-line",
        ),
        pytest.param(
            lambda g: [OURS + g] + [C + b"big=" + M + b"x" * 8192] * 8,
            {},
            id="eight-8KiB-lines",
        ),
    ],
)
def test_a_cookie_header_over_the_limit_is_a_431(
    request: pytest.FixtureRequest, app: AppClient, victim: Victim, lines: Lines, bugs: dict[str, str]
) -> None:
    known_driver_bug(request, bugs)
    response, ops = send_raw(app, lines(victim.cookie.partition("=")[2].encode()))
    assert_clean(response.status, response.headers, response.body)
    assert response.status == 431, response.raw[:300]
    assert ops == []
    assert_intact(app, victim)


# -- signatures -------------------------------------------------------------------


def _quoted(text: str) -> str:
    return quote(text, safe="")


def _hexmac(sid: str) -> str:
    return hmac.new(SECRET.encode(), sid.encode(), hashlib.sha256).hexdigest()


def _sha1mac(sid: str) -> str:
    digest = hmac.new(SECRET.encode(), sid.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode().rstrip("=")


FORGERIES: dict[str, Callable[[str], str]] = {
    "tampered-mac": lambda sid: signed_value(sid)[:-1] + ("A" if signed_value(sid)[-1] != "A" else "B"),
    "tampered-id": lambda sid: _quoted(f"s:{sid[:-1]}{'A' if sid[-1] != 'A' else 'B'}.{mac(sid, SECRET)}"),
    "truncated-mac": lambda sid: _quoted(f"s:{sid}.{mac(sid, SECRET)[:-1]}"),
    "truncated-to-half": lambda sid: _quoted(f"s:{sid}.{mac(sid, SECRET)[:21]}"),
    "truncated-to-the-dot": lambda sid: _quoted(f"s:{sid}."),
    "truncated-id": lambda sid: _quoted(f"s:{sid[:16]}.{mac(sid, SECRET)}"),
    "padded-mac": lambda sid: _quoted(f"s:{sid}.{mac(sid, SECRET)}="),
    "padded-mac-twice": lambda sid: _quoted(f"s:{sid}.{mac(sid, SECRET)}=="),
    "mac-and-a-space": lambda sid: _quoted(f"s:{sid}.{mac(sid, SECRET)} "),
    "mac-and-a-nul": lambda sid: _quoted(f"s:{sid}.{mac(sid, SECRET)}\x00"),
    "url-safe-alphabet": lambda sid: _quoted(
        f"s:{sid}.{mac(sid, SECRET).replace('+', '-').replace('/', '_')}x"
    ),
    "foreign-secret": lambda sid: signed_value(sid, "another application's secret, long enough too"),
    "empty-secret": lambda sid: signed_value(sid, ""),
    "hex-mac": lambda sid: _quoted(f"s:{sid}.{_hexmac(sid)}"),
    "sha1-mac": lambda sid: _quoted(f"s:{sid}.{_sha1mac(sid)}"),
    "signed-twice": lambda sid: signed_value(f"s:{sid}.{mac(sid, SECRET)}"),
    "unsigned": lambda sid: sid,
}


@pytest.mark.parametrize("forge", list(FORGERIES.values()), ids=list(FORGERIES))
def test_a_forged_signature_makes_no_store_call(
    app: AppClient, victim: Victim, forge: Callable[[str], str]
) -> None:
    cookie = f"connect.sid={forge(victim.sid)}"
    read = app.get("/session", cookie=cookie)
    assert_response_clean(read)
    assert read.status == 200
    assert read.ops == []  # no lookup at all, so no timing to learn from
    assert read.json()["id"] != victim.sid
    write = app.post("/session?user=mallory", cookie=cookie)
    assert_response_clean(write)
    assert write.status == 200
    assert write.ops == [("set", write.sent_sid)]
    assert write.sent_sid != victim.sid
    for verb in ("destroy", "regenerate", "reload", "save"):
        response = app.post(f"/session/{verb}", cookie=cookie)
        assert_response_clean(response)
        assert victim.sid not in [sid for _, sid in response.ops], verb
    assert_intact(app, victim)


# -- ids the client chose -----------------------------------------------------------

ROUTES = [
    ("GET", "/"),
    ("GET", "/session"),
    ("POST", "/session?k=v"),
    ("POST", "/session/save"),
    ("POST", "/session/touch"),
    ("POST", "/session/regenerate"),
    ("POST", "/session/regenerate?keep_data=1"),
    ("POST", "/session/reload"),
    ("POST", "/session/cookie?max_age=5"),
]
CONFIGS = {
    "defaults": MINUTE,
    "save-uninitialized": {"save_uninitialized": True, **MINUTE},
    "rolling-resave": {"rolling": True, "resave": True, **MINUTE},
}


def _unknown_id(app: AppClient, how: str) -> str:
    if how == "made-up":
        return secrets.token_urlsafe(24)
    sid, cookie = app.new_session(k="v")  # issued once, then logged out
    assert app.post("/session/destroy", cookie=cookie).ops == [("get", sid), ("destroy", sid)]
    return sid


@pytest.mark.parametrize("how", ["made-up", "destroyed"])
@pytest.mark.parametrize("config", list(CONFIGS.values()), ids=list(CONFIGS))
def test_a_validly_signed_unknown_id_is_never_adopted(
    refapp: StartApp, config: dict[str, object], how: str
) -> None:
    # Session fixation: the attacker plants a cookie of their choosing (made
    # up, or left from a session that ended) and waits for the victim to log
    # in under it. The id must be replaced, whatever the route or options.
    app = refapp(config)
    victim = make_victim(app)
    for method, target in ROUTES:
        chosen = _unknown_id(app, how)
        response = app.request(method, target, cookie=app.cookie_for(chosen))
        assert response.status in (200, 500), (method, target, response.status)  # reload: 500, no record
        _assert_not_adopted(response, chosen)
        if response.status == 200 and response.content_type.startswith("application/json"):
            assert response.json()["id"] != chosen, (method, target)
        # Still unknown afterwards: nothing was stored under it.
        _assert_not_adopted(app.get("/session", cookie=app.cookie_for(chosen)), chosen)
    assert_intact(app, victim)


def _assert_not_adopted(response: Response, chosen: str) -> None:
    assert_response_clean(response)
    assert response.ops[:1] == [("get", chosen)]
    assert ("set", chosen) not in response.ops and ("touch", chosen) not in response.ops, response.ops
    if response.cookie is not None:
        assert response.sent_sid != chosen


# -- ids crafted to hurt a store --------------------------------------------------

HOSTILE_IDS = {
    "redis-glob": "*",
    "redis-prefix-glob": "sess:*",
    "glob-32": "*" * 32,
    "crlf-redis-command": f"{MARKER}\r\nFLUSHALL\r\n",
    "resp-injection": f"{MARKER}\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    "sql-quote": f"{MARKER}' OR '1'='1",
    "sql-statement": f"{MARKER}'; DROP TABLE session; --",
    "path-traversal": "../../../../etc/passwd",
    "nul-32": "\x00" * 32,
    "nul-inside": "a" * 16 + "\x00" + "a" * 15,
    "fullwidth-32": "\uff41" * 32,
    "zero-width": "A" * 31 + "\u200b",
    "spaces-32": " " * 32,
    "percent-32": "%" * 32,
    "dots-32": "." * 32,
    "base64-32": "+/" * 16,
    "4KiB": MARKER + "x" * 4096,
}


@pytest.mark.parametrize("sid", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
def test_a_hostile_id_never_reaches_the_store_even_when_signed(
    app: AppClient, victim: Victim, sid: str
) -> None:
    cookie = app.cookie_for(sid)
    for method, target in [("GET", "/session"), ("GET", "/"), ("POST", "/session/destroy"), *ROUTES[3:]]:
        response = app.request(method, target, cookie=cookie)
        assert_response_clean(response)
        assert response.status in (200, 500), (method, target, response.status)
        assert sid not in [seen for _, seen in response.ops], (method, target, response.ops)
        if method == "GET" and target == "/session":
            assert response.ops == []
    assert_intact(app, victim)
