# The session cookie on the wire: its attributes and their order, Expires,
# the signature (checked against our own HMAC, not the core's), the secure
# and proxy rules, and the cookie.path prefix rule.
from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from refapp_client import IMF_FIXDATE, SECRET, StartApp, mac, posix, signed_value

pytestmark = pytest.mark.http

MINUTE: dict[str, Any] = {"cookie": {"max_age": 60}}


def test_our_signer_matches_express_session(refapp: StartApp) -> None:
    # The vectors of cookie-signature 1.0.7, so the checks below mean something.
    assert (
        mac("aBcDeFgHiJkLmNoPqRsTuVwXyZ012345", "keyboard cat")
        == "1RZrSrg/sB4NsSlb5Ba8YWrIEPTOLjyMKYbgM5ZGwZo"
    )
    assert (
        signed_value("apple", "keyboard cat")
        == "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"
    )
    app = refapp(MINUTE)
    response = app.get("/")
    cookie = response.cookie
    assert cookie is not None
    assert cookie.value == signed_value(response.sent_sid, SECRET)


def test_default_attributes(refapp: StartApp) -> None:
    app = refapp()
    response = app.get("/")
    assert response.cookie is not None
    assert (
        response.cookie.raw
        == f"connect.sid={signed_value(response.sent_sid)}; Path=/; HttpOnly; SameSite=Lax"
    )


def test_every_attribute_in_express_order(refapp: StartApp) -> None:
    app = refapp(
        {
            "proxy": True,
            "cookie": {
                "domain": "example.com",
                "path": "/",
                "max_age": 60,
                "http_only": True,
                "secure": True,
                "partitioned": True,
                "priority": "high",
                "same_site": "strict",
            },
        }
    )
    before = time.time()
    response = app.get("/", headers=[("X-Forwarded-Proto", "https")])
    after = time.time()
    cookie = response.cookie
    assert cookie is not None, response.headers
    expires = cookie.get("Expires")
    assert expires is not None and IMF_FIXDATE.match(expires), cookie.raw
    assert cookie.raw == (
        f"connect.sid={signed_value(response.sent_sid)}; Domain=example.com; Path=/; Expires={expires}; "
        "HttpOnly; Secure; Partitioned; Priority=High; SameSite=Strict"
    )
    assert_expires_in(cookie.expires, 60, before, after)


def assert_expires_in(expires: datetime | None, seconds: float, before: float, after: float) -> None:
    assert expires is not None
    # Expires has whole seconds: the app's "now" lies between before and after.
    assert int(before + seconds) <= posix(expires) <= after + seconds, (expires, before, after)


ATTRIBUTE_ROWS: list[tuple[dict[str, Any], list[str], dict[str, str]]] = [
    ({"http_only": False}, ["Path", "SameSite"], {}),
    ({"same_site": None}, ["Path", "HttpOnly"], {}),
    ({"same_site": "strict"}, ["Path", "HttpOnly", "SameSite"], {"SameSite": "Strict"}),
    ({"same_site": "lax"}, ["Path", "HttpOnly", "SameSite"], {"SameSite": "Lax"}),
    ({"priority": "low"}, ["Path", "HttpOnly", "Priority", "SameSite"], {"Priority": "Low"}),
    ({"priority": "medium"}, ["Path", "HttpOnly", "Priority", "SameSite"], {"Priority": "Medium"}),
    ({"priority": "high"}, ["Path", "HttpOnly", "Priority", "SameSite"], {"Priority": "High"}),
    ({"partitioned": True}, ["Path", "HttpOnly", "Partitioned", "SameSite"], {}),
    ({"domain": "example.org"}, ["Domain", "Path", "HttpOnly", "SameSite"], {"Domain": "example.org"}),
    ({"max_age": 5}, ["Path", "Expires", "HttpOnly", "SameSite"], {}),
    ({"path": "/sess"}, ["Path", "HttpOnly", "SameSite"], {"Path": "/sess"}),
]


@pytest.mark.parametrize(
    ("cookie_options", "attributes", "values"),
    ATTRIBUTE_ROWS,
    ids=[",".join(f"{k}={v}" for k, v in row[0].items()) for row in ATTRIBUTE_ROWS],
)
def test_each_attribute(
    refapp: StartApp, cookie_options: dict[str, Any], attributes: list[str], values: dict[str, str]
) -> None:
    app = refapp({"save_uninitialized": True, "cookie": cookie_options})
    response = app.get("/session")  # inside any of the paths above
    cookie = response.cookie
    assert cookie is not None, response.headers
    assert cookie.attribute_names == attributes, cookie.raw
    for key, value in values.items():
        assert cookie.get(key) == value, cookie.raw
    assert not cookie.has("Max-Age")


def test_same_site_none_comes_with_secure(refapp: StartApp) -> None:
    app = refapp({"proxy": True, "save_uninitialized": True, "cookie": {"secure": True, "same_site": "none"}})
    cookie = app.get("/session", headers=[("X-Forwarded-Proto", "https")]).cookie
    assert cookie is not None
    assert cookie.attribute_names == ["Path", "HttpOnly", "Secure", "SameSite"]
    assert cookie.get("SameSite") == "None"


def test_the_cookie_name_option(refapp: StartApp) -> None:
    app = refapp({"name": "sid", **MINUTE})
    response = app.get("/")
    assert [c.name for c in response.set_cookies] == ["sid"]
    sid = response.sent_sid
    # The default name is now someone else's cookie.
    assert app.get("/session", cookie=f"connect.sid={signed_value(sid)}").ops == []
    assert app.get("/session", cookie=f"sid={signed_value(sid)}").ops == [("get", sid), ("touch", sid)]


def test_expires_is_now_plus_max_age_for_new_and_loaded_sessions(refapp: StartApp) -> None:
    app = refapp({"cookie": {"max_age": 3600}})
    before = time.time()
    first = app.get("/")
    assert first.cookie is not None
    assert_expires_in(first.cookie.expires, 3600, before, time.time())
    before = time.time()
    again = app.get("/", cookie=first.cookie.pair)
    assert again.cookie is not None
    assert_expires_in(again.cookie.expires, 3600, before, time.time())


# -- per-session max age ---------------------------------------------------------


def test_per_session_max_age_is_stored_with_a_set_but_sends_no_cookie(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    response = app.post("/session/cookie?max_age=300", cookie=cookie)
    assert response.status == 200
    assert response.json()["cookie"]["max_age"] == 300
    assert response.json()["cookie"]["original_max_age"] == 300
    # A cookie-only change: stored (not touched, which would lose it), not sent.
    assert response.ops == [("get", sid), ("set", sid)]
    assert response.cookie is None
    later = app.get("/session", cookie=cookie)
    assert later.ops == [("get", sid), ("touch", sid)]
    assert later.json()["cookie"]["original_max_age"] == 300
    # The next change of the data sends it, with the session's own max age.
    before = time.time()
    changed = app.get("/", cookie=cookie)
    assert changed.sent_sid == sid
    assert changed.cookie is not None
    assert_expires_in(changed.cookie.expires, 300, before, time.time())


def test_per_session_max_age_none_makes_a_browser_session_cookie(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    response = app.post("/session/cookie?max_age=none", cookie=cookie)
    assert response.json()["cookie"] == {"max_age": None, "original_max_age": None, "expires": None}
    assert response.ops == [("get", sid), ("set", sid)]
    later = app.get("/", cookie=cookie)
    assert later.ops == [("get", sid), ("set", sid)]
    assert later.cookie is None  # a browser-session cookie is not sent again


def test_per_session_max_age_on_a_new_session(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.post("/session/cookie?max_age=5")
    assert response.json()["cookie"]["max_age"] == 5
    assert (response.ops, response.cookie) == ([], None)
    app = refapp({"save_uninitialized": True, **MINUTE})
    before = time.time()
    response = app.post("/session/cookie?max_age=5")
    assert response.ops == [("set", response.sent_sid)]
    assert response.cookie is not None
    assert_expires_in(response.cookie.expires, 5, before, time.time())


def test_per_session_max_age_zero_ends_the_session(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    response = app.post("/session/cookie?max_age=0", cookie=cookie)
    assert response.status == 200
    assert response.json()["cookie"]["max_age"] == 0
    # Stored with no time left: connect-redis's rule, a TTL <= 0 deletes.
    assert response.ops == [("get", sid), ("destroy", sid)]
    assert app.get("/session", cookie=cookie).json()["id"] != sid


@pytest.mark.parametrize(
    "target",
    [
        "/session/cookie",
        "/session/cookie?max_age=",
        "/session/cookie?max_age=-1",
        "/session/cookie?max_age=1.5",
        "/session/cookie?max_age=1e3",
        "/session/cookie?max_age=abc",
        "/session/cookie?max_age=%205",
        "/session/cookie?max_age=%EF%BC%95",  # a fullwidth digit five
        "/session/cookie?max_age=NONE",
        "/session/cookie?max_age=null",
    ],
)
def test_bad_per_session_max_age_is_a_400_that_changes_nothing(refapp: StartApp, target: str) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    response = app.post(target, cookie=cookie)
    assert response.status == 400
    assert response.content_type.startswith("text/plain")
    assert response.ops == [("get", sid), ("touch", sid)]
    assert response.cookie is None
    assert app.get("/session", cookie=cookie).json()["cookie"]["original_max_age"] == 60


def test_per_session_max_age_is_capped_at_400_days(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    _, cookie = app.new_session()
    view = app.post("/session/cookie?max_age=40000000", cookie=cookie).json()
    assert view["cookie"]["original_max_age"] == 400 * 86400


# -- the loaded session keeps its attributes -----------------------------------


@pytest.mark.shared_stores
def test_a_loaded_session_keeps_the_cookie_attributes_it_was_stored_with(refapp: StartApp) -> None:
    # Two apps on one store: the second has other cookie options.
    first = refapp({"cookie": {"max_age": 60, "priority": "high", "same_site": "strict"}})
    sid, cookie = first.new_session()
    second = refapp({"cookie": {"max_age": 7200, "priority": "low", "same_site": "lax", "http_only": False}})
    before = time.time()
    response = second.get("/", cookie=cookie)
    assert response.ops == [("get", sid), ("set", sid)]
    sent = response.cookie
    assert sent is not None
    assert sent.attribute_names == ["Path", "Expires", "HttpOnly", "Priority", "SameSite"]
    assert (sent.get("Priority"), sent.get("SameSite")) == ("High", "Strict")
    assert_expires_in(sent.expires, 60, before, time.time())
    # New sessions take the new options.
    fresh = second.get("/").cookie
    assert fresh is not None
    assert (fresh.get("Priority"), fresh.get("SameSite"), fresh.has("HttpOnly")) == ("Low", "Lax", False)


@pytest.mark.parametrize("verb", ["destroy", "unset"])
def test_the_expiring_cookie_has_the_name_path_and_domain_of_the_session_cookie(
    refapp: StartApp, verb: str
) -> None:
    app = refapp({"name": "sid", "unset": "destroy", "cookie": {"domain": "example.com", "path": "/sess"}})
    sid, cookie = app.new_session(k="v")  # POST /session, inside /sess
    response = app.post(f"/session/{verb}", cookie=cookie)
    assert response.ops == [("get", sid), ("destroy", sid)]
    expiring = response.cookie
    assert expiring is not None and expiring.is_expiring, response.set_cookies
    assert (expiring.name, expiring.get("Domain"), expiring.get("Path")) == ("sid", "example.com", "/sess")
    assert not expiring.has("Max-Age")
