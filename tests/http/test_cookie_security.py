# What the app makes of the cookies it is sent: signatures, secret rotation,
# ids of the wrong shape, duplicate and malformed Cookie headers, the secure
# and proxy rules, and the cookie.path prefix rule. A cookie that does not
# verify means "no session": no store call at all, and a new session.
from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import pytest
from refapp_client import SECRET, StartApp, mac, signed_value

pytestmark = pytest.mark.http

MINUTE: dict[str, Any] = {"cookie": {"max_age": 60}}


def _fresh_id() -> str:
    return secrets.token_urlsafe(24)


def _tamper(value: str) -> str:
    return value[:-1] + ("A" if value[-1] != "A" else "B")


# -- signatures ----------------------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda sid: _tamper(signed_value(sid)), id="mac-changed"),
        pytest.param(lambda sid: quote(f"s:{sid[:-3]}.{mac(sid, SECRET)}"), id="id-cut-before-dot"),
        pytest.param(lambda sid: signed_value(sid, "a secret this app has never heard of"), id="foreign"),
        pytest.param(lambda sid: sid, id="unsigned"),
        pytest.param(lambda sid: quote(f"s:{sid}"), id="no-mac"),
        pytest.param(lambda sid: quote(f"s:{sid}.{mac(sid, SECRET)}="), id="padded-mac"),
        pytest.param(lambda sid: quote(f"s:{sid}.{mac(sid, SECRET)[:-1]}"), id="truncated-mac"),
        pytest.param(lambda sid: quote(f"s:{sid}.{mac(sid, SECRET)}A"), id="longer-mac"),
        pytest.param(lambda sid: quote(f"s:{sid}.{mac(sid + 'x', SECRET)}"), id="mac-of-another-id"),
        pytest.param(lambda sid: quote(f"{sid}.{mac(sid, SECRET)}"), id="no-s-prefix"),
    ],
)
def test_a_cookie_that_does_not_verify_means_no_session(refapp: StartApp, forge: Any) -> None:
    app = refapp(MINUTE)
    sid, _ = app.new_session(k="v")  # a real, stored session behind the id
    cookie = f"connect.sid={forge(sid)}"
    response = app.get("/session", cookie=cookie)
    assert response.status == 200
    assert response.ops == []
    assert response.json()["id"] != sid
    written = app.get("/", cookie=cookie)
    assert written.ops == [("set", written.sent_sid)]
    assert written.sent_sid != sid


@pytest.mark.parametrize(
    "sid",
    [
        "apple",
        "",
        "x" * 31,
        "x" * 33,
        "x" * 31 + "+",
        "x" * 31 + "/",
        "x" * 31 + "=",
        "x" * 31 + ".",
        "é" * 32,
        "x" * 31 + "%",
        "x" * 4096,
    ],
    ids=["apple", "empty", "31", "33", "plus", "slash", "equals", "dot", "non-ascii", "percent", "long"],
)
def test_a_validly_signed_id_of_the_wrong_shape_never_reaches_the_store(refapp: StartApp, sid: str) -> None:
    app = refapp(MINUTE)
    response = app.get("/session", cookie=app.cookie_for(sid))
    assert response.status == 200
    assert response.ops == []
    assert response.json()["id"] != sid


def test_secret_rotation_the_first_signs_and_every_one_verifies(refapp: StartApp) -> None:
    new, old = "the new secret, long enough to sign with", SECRET
    app = refapp({"secret": [new, old], **MINUTE})
    sid, cookie = app.new_session()
    assert cookie == f"connect.sid={signed_value(sid, new)}"
    # A cookie signed with the older secret still loads, and is not re-signed
    # until a cookie is sent for another reason.
    by_old = f"connect.sid={signed_value(sid, old)}"
    response = app.get("/session", cookie=by_old)
    assert response.ops == [("get", sid), ("touch", sid)]
    assert response.cookie is None
    response = app.get("/", cookie=by_old)
    assert response.ops == [("get", sid), ("set", sid)]
    assert response.cookie is not None and response.cookie.pair == f"connect.sid={signed_value(sid, new)}"
    # A secret that is not in the list does not verify.
    by_other = f"connect.sid={signed_value(sid, 'a third secret, not in the list at all')}"
    assert app.get("/session", cookie=by_other).ops == []


def test_a_cookie_value_need_not_be_percent_encoded(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, _ = app.new_session()
    raw = f"connect.sid=s:{sid}.{mac(sid, SECRET)}"
    assert app.get("/session", cookie=raw).ops == [("get", sid), ("touch", sid)]


# -- duplicate and malformed Cookie headers ---------------------------------------


def test_of_duplicate_cookies_the_first_wins(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, good = app.new_session()
    bad = f"connect.sid={_tamper(signed_value(sid))}"
    loaded = [("get", sid), ("touch", sid)]
    assert app.get("/session", cookie=f"{good}; {bad}").ops == loaded
    assert app.get("/session", cookie=f"{bad}; {good}").ops == []
    other, other_cookie = app.new_session()
    assert app.get("/session", cookie=f"{other_cookie}; {good}").ops == [("get", other), ("touch", other)]


@pytest.mark.parametrize(
    ("lines", "loads"),
    [(["a=1", "GOOD"], True), (["GOOD", "BAD"], True), (["BAD", "GOOD"], False), (["a=1", "b=2"], False)],
    ids=["other-then-ours", "good-then-bad", "bad-then-good", "none-of-ours"],
)
def test_several_cookie_header_lines_read_as_one_header(
    refapp: StartApp, lines: list[str], loads: bool
) -> None:
    # Each header line is a list of pairs; together, in order, the first wins.
    app = refapp(MINUTE)
    sid, good = app.new_session()
    bad = f"connect.sid={_tamper(signed_value(sid))}"
    cookies: Sequence[str] = [good if x == "GOOD" else bad if x == "BAD" else x for x in lines]
    response = app.get("/session", cookie=cookies)
    assert response.status == 200
    assert response.ops == ([("get", sid), ("touch", sid)] if loads else [])


MALFORMED: dict[str, tuple[str | bytes, bool]] = {
    # name: (the Cookie header, with GOOD standing for our valid value; loads?)
    "name-only": ("connect.sid", False),
    "equals-only": ("=", False),
    "semicolons": (";;;;", False),
    "empty-value": ("connect.sid=", False),
    "empty-value-semicolon": ("connect.sid=;", False),
    "prefix-only": ("connect.sid=s%3A", False),
    "bad-percent": ("connect.sid=%ZZ%", False),
    "blank": (" \t ", False),
    "nameless": ("=GOOD", False),  # a nameless pair is never ours
    "quoted": ('connect.sid= "GOOD"', True),
    "spaces": ("  connect.sid  =  GOOD  ", True),
    "tabs": ("\tconnect.sid\t=\tGOOD\t", True),
    "garbage-first": ("garbage; ;=x; ==; a==b; connect.sid=GOOD", True),
    "other-case": ("CONNECT.SID=GOOD", False),  # names are case-sensitive
    "trailing-byte": ("connect.sid=GOODx", False),
    "latin-1-bytes-first": (b"x=\xff\xfe; connect.sid=GOOD", True),
    "bad-utf-8-value": (b"connect.sid=\xc3\xa9\xff", False),
    "long-cookie-first": ("a=" + "x" * 8000 + "; connect.sid=GOOD", True),
    "many-cookies-first": ("; ".join(f"c{i}=v{i}" for i in range(400)) + "; connect.sid=GOOD", True),
}


@pytest.mark.parametrize(("header", "loads"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_cookie_headers_are_no_error(refapp: StartApp, header: str | bytes, loads: bool) -> None:
    app = refapp(MINUTE)
    sid, good = app.new_session()
    value = good.partition("=")[2]
    sent: str | bytes = (
        header.replace(b"GOOD", value.encode())
        if isinstance(header, bytes)
        else header.replace("GOOD", value)
    )
    response = app.get("/session", cookie=sent)
    assert response.status == 200
    assert response.ops == ([("get", sid), ("touch", sid)] if loads else [])
    assert app.get("/noop").status == 200


# -- secure cookies over plain HTTP ------------------------------------------------


@pytest.mark.parametrize(
    ("proxy", "forwarded", "sent"),
    [
        (None, None, False),
        (None, "https", False),  # the reference app trusts no proxy of its own
        (False, "https", False),
        (True, None, False),
        (True, "https", True),
        (True, "https,http", True),
        (True, "HTTPS", True),
        (True, "http,https", False),
        (True, "http", False),
    ],
)
def test_a_secure_cookie_is_sent_only_on_a_secure_request(
    refapp: StartApp, proxy: bool | None, forwarded: str | None, sent: bool
) -> None:
    app = refapp({"proxy": proxy, "cookie": {"secure": True, "max_age": 60}})
    headers = [] if forwarded is None else [("X-Forwarded-Proto", forwarded)]
    response = app.get("/", headers=headers)
    assert response.status == 200
    # The session is saved either way (as express-session does).
    assert [op for op, _ in response.ops] == ["set"]
    if sent:
        assert response.sent_sid == response.ops[0][1]
        assert response.cookie is not None and response.cookie.has("Secure")
    else:
        assert response.cookie is None, response.set_cookies


@pytest.mark.parametrize(
    ("proxy", "forwarded", "secure"),
    [(True, "https", True), (True, None, False), (False, "https", False), (None, "https", False)],
)
def test_secure_auto_follows_the_request(
    refapp: StartApp, proxy: bool | None, forwarded: str | None, secure: bool
) -> None:
    app = refapp({"proxy": proxy, "cookie": {"secure": "auto", "max_age": 60}})
    headers = [] if forwarded is None else [("X-Forwarded-Proto", forwarded)]
    cookie = app.get("/", headers=headers).cookie
    assert cookie is not None
    assert cookie.has("Secure") is secure


def test_secure_auto_is_decided_when_the_session_is_made(refapp: StartApp) -> None:
    app = refapp({"proxy": True, "cookie": {"secure": "auto", "max_age": 60}})
    https = [("X-Forwarded-Proto", "https")]
    made_secure = app.get("/", headers=https)
    sid, cookie = made_secure.sent_sid, made_secure.cookie
    assert cookie is not None and cookie.has("Secure")
    # Over plain HTTP it is still saved, but its Secure cookie is not sent.
    plain = app.get("/", cookie=cookie.pair)
    assert plain.ops == [("get", sid), ("set", sid)]
    assert plain.cookie is None
    # One made over plain HTTP never becomes Secure.
    made_plain = app.get("/")
    assert made_plain.cookie is not None and not made_plain.cookie.has("Secure")
    later = app.get("/", cookie=made_plain.cookie.pair, headers=https)
    assert later.cookie is not None and not later.cookie.has("Secure")


def test_same_site_auto_is_none_on_secure_requests_and_lax_otherwise(refapp: StartApp) -> None:
    app = refapp({"proxy": True, "cookie": {"secure": "auto", "same_site": "auto", "max_age": 60}})
    secure = app.get("/", headers=[("X-Forwarded-Proto", "https")]).cookie
    assert secure is not None
    assert (secure.has("Secure"), secure.get("SameSite")) == (True, "None")
    plain = app.get("/").cookie
    assert plain is not None
    assert (plain.has("Secure"), plain.get("SameSite")) == (False, "Lax")
    # Decided at creation: a plain session seen over https stays Lax.
    later = app.get("/", cookie=plain.pair, headers=[("X-Forwarded-Proto", "https")]).cookie
    assert later is not None and later.get("SameSite") == "Lax"


# -- the cookie.path prefix rule ----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("GET", "/", None),
        ("GET", "/session", "view"),
        ("POST", "/session?a=1", "view"),
        ("POST", "/session/regenerate", "view"),
        ("POST", "/session/regenerate?keep_data=1", "view"),
        ("POST", "/session/reload", "view"),
        ("POST", "/session/save", "view"),
        ("POST", "/session/touch", "view"),
        ("POST", "/session/cookie?max_age=5", "view"),
        ("POST", "/session/destroy", "null"),
        ("POST", "/session/unset", "null"),
    ],
)
def test_outside_the_cookie_path_the_session_layer_does_nothing(
    refapp: StartApp, method: str, target: str, body: str | None
) -> None:
    app = refapp({"save_uninitialized": True, "unset": "destroy", "cookie": {"path": "/app", "max_age": 60}})
    cookie = app.cookie_for(_fresh_id())
    for sent in (None, cookie):
        response = app.request(method, target, cookie=sent)
        assert response.status == 200, response.text
        assert response.ops == []
        assert response.set_cookies == []
        if body is None:
            assert "views: 0" in response.text
        elif body == "view":
            assert response.json() == {
                "id": None,
                "data": {},
                "cookie": {"max_age": None, "original_max_age": None, "expires": None},
            }
        else:
            assert response.json() == {"id": None}


def test_the_cookie_path_is_a_plain_string_prefix(refapp: StartApp) -> None:
    app = refapp({"save_uninitialized": True, "cookie": {"path": "/sess"}})
    inside = app.get("/session")
    assert inside.status == 200
    assert inside.ops == [("set", inside.sent_sid)]
    assert inside.cookie is not None and inside.cookie.get("Path") == "/sess"
    sessions = app.get("/sessions")  # a 404, still under /sess
    assert sessions.status == 404
    assert sessions.ops == [("set", sessions.sent_sid)]
    outside = app.get("/", cookie=inside.cookie.pair)
    assert "views: 0" in outside.text
    assert (outside.ops, outside.set_cookies) == ([], [])
