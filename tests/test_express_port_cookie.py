# express-session's test/session.js, continued: req.session.cookie and
# synchronous stores. One test per `it(...)`, its title in the docstring; see
# test_express_port.py.
#
# Not ported: "should preserve cookies set before writeHead is called" and
# "... set in writeHead" (the driver appends our header to the response's).
from __future__ import annotations

from typing import Any

import pytest
from helpers import (
    EXPRESS_SECRET,
    NOW,
    Client,
    Outcome,
    RecordingStore,
    TextStore,
    attributes,
    drive,
    express,
    streamed,
)

from sansio_session import ConfigError, SessionOptions, http_date


def bob(session: Any) -> None:
    session["user"] = "bob"


def count(session: Any) -> str:
    session["count"] = session.get("count", 0) + 1
    return str(session["count"])


def sets(out: Outcome) -> int:
    return out.ops.count("set")


# describe('.cookie')


def test_cookie_should_serialize_as_parameters() -> None:
    """.cookie .*: should serialize as parameters"""

    def handler(session: Any) -> None:
        session.cookie.http_only = False
        session.cookie.secure = True

    out = drive(express(proxy=True), None, handler, forwarded_proto="https")
    assert out.set_cookie is not None
    assert "httponly" not in attributes(out.set_cookie) and "secure" in attributes(out.set_cookie)


def test_cookie_should_default_to_a_browser_session_length_cookie() -> None:
    """.cookie .*: should default to a browser-session length cookie"""
    out = drive(express(cookie={"path": "/admin"}), path="/admin")
    assert "expires" not in attributes(out.set_cookie or "")


def test_cookie_should_set_cookie_only_once_for_browser_session_cookies() -> None:
    """.cookie .*: should Set-Cookie only once for browser-session cookies"""
    client = Client(express(cookie={"path": "/admin"}))
    assert client.request(path="/admin/foo").set_cookie is not None
    assert client.request(path="/admin").set_cookie is None


def test_cookie_should_override_defaults() -> None:
    """.cookie .*: should override defaults"""
    opts = express(
        cookie={"http_only": False, "max_age": 5, "path": "/admin", "priority": "high", "secure": True}
    )
    out = drive(opts, None, lambda s: setattr(s.cookie, "secure", False), path="/admin")
    found = attributes(out.set_cookie or "")
    assert "expires" in found and "httponly" not in found and "secure" not in found
    assert (found["path"], found["priority"]) == ("/admin", "High")


def test_cookie_should_forward_errors_setting_cookie() -> None:
    """.cookie .*: should forward errors setting cookie

    Deliberate difference: a bad cookie option is refused at start-up.
    """
    with pytest.raises(ConfigError, match=r"cookie\.max_age"):
        SessionOptions.from_mapping({"secret": EXPRESS_SECRET, "cookie": {"max_age": float("nan")}})


def test_original_max_age_should_equal_original_max_age() -> None:
    """.cookie .originalMaxAge: should equal original maxAge (exactly: the clock is read once)"""
    assert drive(express(cookie={"max_age": 2}), None, lambda s: s.cookie.original_max_age).value == 2


def test_original_max_age_should_equal_original_max_age_for_all_requests() -> None:
    """.cookie .originalMaxAge: should equal original maxAge for all requests"""
    client = Client(express(cookie={"max_age": 2}))
    assert client.request(lambda s: s.cookie.original_max_age).value == 2
    assert client.request(lambda s: s.cookie.original_max_age, after=0.1).value == 2


def test_original_max_age_should_equal_original_max_age_for_all_requests_smart_store() -> None:
    """.cookie .originalMaxAge: should equal original maxAge for all requests (a store of plain text)"""
    client = Client(express(cookie={"max_age": 2}), TextStore())
    assert client.request(lambda s: s.cookie.original_max_age).value == 2
    assert client.request(lambda s: s.cookie.original_max_age, after=0.1).value == 2


def test_secure_should_set_cookie_when_secure() -> None:
    """.cookie .secure: should set cookie when secure"""
    assert drive(express(cookie={"secure": True}), tls=True).set_cookie is not None


def test_secure_should_not_set_cookie_when_insecure() -> None:
    """.cookie .secure: should not set-cookie when insecure"""
    assert drive(express(cookie={"secure": True})).set_cookie is None


def max_age_steps(session: Any) -> str:
    n = session["count"] = session.get("count", -1) + 1
    if n == 2:
        session.cookie.max_age = 5
    elif n == 3:
        session.cookie.max_age = 3_000_000
    return str(n)


def expires_after_steps(steps: int) -> tuple[str, str, float]:
    client = Client(express(cookie={"max_age": 2}))
    client.request(max_age_steps)  # express's before(): count 0
    for _ in range(steps - 1):
        client.request(max_age_steps, after=1)
    out = client.request(max_age_steps, after=1)
    return out.value, attributes(out.set_cookie or "")["expires"], client.now


def test_max_age_should_set_cookie_expires_relative_to_max_age() -> None:
    """.cookie .maxAge: should set cookie expires relative to maxAge"""
    value, expires, now = expires_after_steps(1)
    assert (value, expires) == ("1", http_date(now + 2))


def test_max_age_should_modify_cookie_expires_when_changed() -> None:
    """.cookie .maxAge: should modify cookie expires when changed"""
    value, expires, now = expires_after_steps(2)
    assert (value, expires) == ("2", http_date(now + 5))


def test_max_age_should_modify_cookie_expires_when_changed_to_large_value() -> None:
    """.cookie .maxAge: should modify cookie expires when changed to large value"""
    value, expires, now = expires_after_steps(3)
    assert (value, expires) == ("3", http_date(now + 3_000_000))


def test_expires_given_a_date_should_set_absolute() -> None:
    """.cookie .expires when given a Date: should set absolute (as a max age reaching the epoch)"""
    out = drive(express(), None, lambda s: setattr(s.cookie, "max_age", -NOW))
    assert attributes(out.set_cookie or "")["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_expires_null_should_be_a_browser_session_cookie() -> None:
    """.cookie .expires when null: should be a browser-session cookie"""
    out = drive(express(), None, lambda s: setattr(s.cookie, "max_age", None))
    assert out.set_cookie is not None and "expires" not in attributes(out.set_cookie)


def test_expires_null_should_not_reset_cookie() -> None:
    """.cookie .expires when null: should not reset cookie"""
    client = Client(express())
    assert "expires" not in attributes(
        client.request(lambda s: setattr(s.cookie, "max_age", None)).set_cookie or ""
    )
    assert client.request(lambda s: setattr(s.cookie, "max_age", None)).set_cookie is None


def test_expires_null_should_not_reset_cookie_when_modified() -> None:
    """.cookie .expires when null: should not reset cookie when modified"""

    def handler(session: Any) -> None:
        session.cookie.max_age = None
        session["hit"] = session.get("hit", 0) + 1

    client = Client(express())
    assert client.request(handler).set_cookie is not None
    assert client.request(handler).set_cookie is None


def partitioned(**config: Any) -> bool:
    out = drive(express(cookie={"max_age": 60, **config}))
    return "partitioned" in attributes(out.set_cookie or "")


def test_partitioned_by_default_should_not_set_partitioned_attribute() -> None:
    """.cookie .partitioned by default: should not set partitioned attribute"""
    assert not partitioned()


def test_partitioned_when_false_should_not_set_partitioned_attribute() -> None:
    """.cookie .partitioned when "false": should not set partitioned attribute"""
    assert not partitioned(partitioned=False)


def test_partitioned_when_true_should_set_partitioned_attribute() -> None:
    """.cookie .partitioned when "true": should set partitioned attribute"""
    assert partitioned(partitioned=True)


# describe('synchronous store')


def test_synchronous_store_should_respond_correctly_on_save() -> None:
    """synchronous store: should respond correctly on save"""
    assert drive(express(), None, lambda s: "hits: " + count(s)).value == "hits: 1"


def test_synchronous_store_should_respond_correctly_on_destroy() -> None:
    """synchronous store: should respond correctly on destroy

    A streamed response; deliberate difference: the unset session's cookie
    is expired with the headers.
    """
    store = RecordingStore()
    opts = express(unset="destroy")
    first = drive(opts, None, count, store)

    def handler(session: Any) -> str:
        hits = count(session)
        session.unset()
        return "destroyed\nhits: " + hits

    out = streamed(opts, first.cookie, handler, lambda s: None, store=store)
    assert out.value == "destroyed\nhits: 2"
    assert out.ops == ["get", "destroy"]
    assert store.all() == {}
