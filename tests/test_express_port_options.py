# express-session's test/session.js, continued: the proxy, cookie, genid,
# key, name, rolling, resave and saveUninitialized options. One test per
# `it(...)`, its title in the docstring; see test_express_port.py.
from __future__ import annotations

from typing import Any

import pytest
from helpers import (
    EXPRESS_SECRET,
    Client,
    Outcome,
    RecordingStore,
    attributes,
    drive,
    express,
    make_id,
    sid_of,
)

import sansio_session
from sansio_session import ConfigError, Load, SessionOptions, StoreError

# describe('proxy option')


def proxy_true() -> SessionOptions:
    return express(proxy=True, cookie={"secure": True, "max_age": 60})


def test_proxy_enabled_should_trust_x_forwarded_proto_when_string() -> None:
    """proxy option when enabled: should trust X-Forwarded-Proto when string"""
    assert drive(proxy_true(), forwarded_proto="https").set_cookie is not None


def test_proxy_enabled_should_trust_x_forwarded_proto_when_comma_separated_list() -> None:
    """proxy option when enabled: should trust X-Forwarded-Proto when comma-separated list"""
    assert drive(proxy_true(), forwarded_proto="https,http").set_cookie is not None


def test_proxy_enabled_should_work_when_no_header() -> None:
    """proxy option when enabled: should work when no header"""
    assert drive(proxy_true()).set_cookie is None


def test_proxy_disabled_should_not_trust_x_forwarded_proto() -> None:
    """proxy option when disabled: should not trust X-Forwarded-Proto"""
    opts = express(proxy=False, cookie={"secure": True})
    assert drive(opts, forwarded_proto="https").set_cookie is None


def test_proxy_disabled_should_ignore_req_secure() -> None:
    """proxy option when disabled: should ignore req.secure"""
    opts = express(proxy=False, cookie={"secure": True})
    assert drive(opts, forwarded_proto="https", secure=True).set_cookie is None


def test_proxy_unspecified_should_not_trust_x_forwarded_proto() -> None:
    """proxy option when unspecified: should not trust X-Forwarded-Proto"""
    opts = express(cookie={"secure": True})
    assert drive(opts, forwarded_proto="https").set_cookie is None


def test_proxy_unspecified_should_use_req_secure() -> None:
    """proxy option when unspecified: should use req.secure"""
    opts = express(cookie={"secure": True})
    assert drive(opts, forwarded_proto="https", secure=True).set_cookie is not None


# describe('cookie option')


def foo_bar() -> SessionOptions:
    return express(cookie={"path": "/foo/bar"})


def test_path_should_not_set_cookie_for_root_request() -> None:
    """cookie option when "path" set to "/foo/bar": should not set cookie for "/" request"""
    assert drive(foo_bar(), path="/").set_cookie is None


def test_path_should_not_set_cookie_for_http_foo_bar_request() -> None:
    """cookie option when "path" set to "/foo/bar": should not set cookie for "http://foo/bar" request

    The Host header plays no part: the path is "/".
    """
    assert drive(foo_bar(), path="/").set_cookie is None


def test_path_should_set_cookie_for_foo_bar_request() -> None:
    """cookie option when "path" set to "/foo/bar": should set cookie for "/foo/bar" request"""
    assert drive(foo_bar(), path="/foo/bar/baz").set_cookie is not None


def test_path_should_set_cookie_for_foo_bar_baz_request() -> None:
    """cookie option when "path" set to "/foo/bar": should set cookie for "/foo/bar/baz" request"""
    assert drive(foo_bar(), path="/foo/bar/baz").set_cookie is not None


def test_path_mounted_should_set_cookie_for_foo_bar_request() -> None:
    """when mounted at "/foo": should set cookie for "/foo/bar" request

    The driver passes the request's original path, as express-session reads req.originalUrl.
    """
    assert drive(foo_bar(), path="/foo/bar").set_cookie is not None


def test_path_mounted_should_not_set_cookie_for_foo_foo_bar_request() -> None:
    """when mounted at "/foo": should not set cookie for "/foo/foo/bar" request"""
    assert drive(foo_bar(), path="/foo/foo/bar").set_cookie is None


def secure_flag(out: Any) -> bool:
    assert out.set_cookie is not None
    return "secure" in attributes(out.set_cookie)


def test_secure_auto_proxy_true_should_set_secure_when_x_forwarded_proto_is_https() -> None:
    """when "secure" set to "auto" and "proxy" is "true": should set secure when X-Forwarded-Proto is https"""
    opts = express(proxy=True, cookie={"secure": "auto"})
    assert secure_flag(drive(opts, forwarded_proto="https"))


def test_secure_auto_proxy_false_should_not_set_secure_when_x_forwarded_proto_is_https() -> None:
    """when "secure" set to "auto" and "proxy" is "false":
    should not set secure when X-Forwarded-Proto is https"""
    opts = express(proxy=False, cookie={"secure": "auto"})
    assert not secure_flag(drive(opts, forwarded_proto="https"))


def test_secure_auto_proxy_undefined_should_set_secure_if_req_secure_true() -> None:
    """when "secure" set to "auto" and "proxy" is undefined: should set secure if req.secure = true"""
    assert secure_flag(drive(express(cookie={"secure": "auto"}), secure=True))


def test_secure_auto_proxy_undefined_should_not_set_secure_if_req_secure_false() -> None:
    """when "secure" set to "auto" and "proxy" is undefined: should not set secure if req.secure = false"""
    assert not secure_flag(drive(express(cookie={"secure": "auto"}), secure=False))


# describe('genid option')


def test_genid_should_reject_non_function_values() -> None:
    """genid option: should reject non-function values"""
    with pytest.raises(ConfigError, match=r"genid.*must"):
        SessionOptions(secret=EXPRESS_SECRET, genid="bogus!")  # type: ignore[arg-type]


def test_genid_should_provide_default_generator() -> None:
    """genid option: should provide default generator"""
    out = drive(SessionOptions(secret=EXPRESS_SECRET, save_uninitialized=True))
    assert sansio_session.is_default_shaped_id(sid_of(out.set_cookie))


def cookie_value(genid: Any) -> str:
    out = drive(express(genid=genid))
    assert out.cookie is not None
    return out.cookie.split("=", 1)[1]


def test_genid_should_allow_custom_function() -> None:
    """genid option: should allow custom function"""
    assert cookie_value(lambda: "apple") == "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"


def test_genid_should_encode_unsafe_chars() -> None:
    """genid option: should encode unsafe chars"""
    assert cookie_value(lambda: "%") == "s%3A%25.kzQ6x52kKVdF35Qh62AWk4ZekS28K5XYCXKa%2FOTZ01g"


def test_genid_should_provide_req_argument() -> None:
    """genid option: should provide req argument

    Deliberate difference: genid takes no request (ids carry no request
    data); the vector for the id "/foo" still holds.
    """
    assert cookie_value(lambda: "/foo") == "s%3A%2Ffoo.paEKBtAHbV5s1IB8B2zPnzAgYmmnRPIqObW4VRYj%2FMQ"


# describe('key option'), describe('name option')


def test_key_should_default_to_connect_sid() -> None:
    """key option: should default to "connect.sid\""""
    assert (drive(express()).set_cookie or "").startswith("connect.sid=")


def test_key_should_allow_overriding() -> None:
    """key option: should allow overriding

    Deliberate difference: one name per option; the alias `key` is refused.
    """
    with pytest.raises(ConfigError, match="key: unknown option"):
        SessionOptions.from_mapping({"secret": EXPRESS_SECRET, "key": "session_id"})


def test_name_should_default_to_connect_sid() -> None:
    """name option: should default to "connect.sid\""""
    assert SessionOptions(secret=EXPRESS_SECRET).name == "connect.sid"
    assert (drive(express()).set_cookie or "").startswith("connect.sid=")


def test_name_should_set_the_cookie_name() -> None:
    """name option: should set the cookie name"""
    out = drive(express(name="session_id"))
    assert (out.set_cookie or "").startswith("session_id=")
    assert drive(express(name="session_id"), out.cookie).actions[0] == Load(sid=make_id(1))


def bob(session: Any) -> None:
    session["user"] = "bob"


def count(session: Any) -> str:
    session["count"] = session.get("count", 0) + 1
    return str(session["count"])


def sets(out: Outcome) -> int:
    return out.ops.count("set")


# describe('rolling option')


def test_rolling_should_default_to_false() -> None:
    """rolling option: should default to false"""
    client = Client(express())
    assert client.request(bob).set_cookie is not None
    assert client.request(bob).set_cookie is None


def test_rolling_should_force_cookie_on_unmodified_session() -> None:
    """rolling option: should force cookie on unmodified session"""
    client = Client(express(rolling=True))
    assert client.request(bob).set_cookie is not None
    assert client.request(bob).set_cookie is not None


def test_rolling_should_not_force_cookie_on_uninitialized_session_if_save_uninitialized_false() -> None:
    """rolling option:
    should not force cookie on uninitialized session if saveUninitialized option is set to false"""
    out = drive(express(rolling=True, save_uninitialized=False))
    assert (out.ops, out.set_cookie) == ([], None)


def test_rolling_should_force_cookie_and_save_uninitialized_session_if_save_uninitialized_true() -> None:
    """rolling option:
    should force cookie and save uninitialized session if saveUninitialized option is set to true"""
    out = drive(express(rolling=True, save_uninitialized=True))
    assert sets(out) == 1 and out.set_cookie is not None


def test_rolling_should_force_cookie_and_save_modified_session_even_if_save_uninitialized_false() -> None:
    """rolling option:
    should force cookie and save modified session even if saveUninitialized option is set to false"""
    out = drive(express(rolling=True, save_uninitialized=False), None, bob)
    assert sets(out) == 1 and out.set_cookie is not None


# describe('resave option')


def test_resave_should_default_to_true() -> None:
    """resave option: should default to true

    Deliberate difference: resave defaults to False here; an unmodified
    session is touched, not saved.
    """
    client = Client(express(resave=SessionOptions(secret=EXPRESS_SECRET).resave))
    assert sets(client.request(bob)) == 1
    assert client.request(bob).ops == ["get", "touch"]


def test_resave_when_true_should_force_save_on_unmodified_session() -> None:
    """resave option when true: should force save on unmodified session"""
    client = Client(express(resave=True))
    assert sets(client.request(bob)) == 1
    assert sets(client.request(bob)) == 1


def test_resave_when_false_should_prevent_save_on_unmodified_session() -> None:
    """resave option when false: should prevent save on unmodified session"""
    client = Client(express(resave=False))
    assert sets(client.request(bob)) == 1
    assert sets(client.request(bob)) == 0


def test_resave_when_false_should_still_save_modified_session() -> None:
    """resave option when false: should still save modified session"""
    client = Client(express(resave=False))

    def put(token: str | None) -> Any:
        def handler(session: Any) -> str:
            if token is not None:
                session["token"] = token
            return "token=" + (session.get("token") or "")

        return handler

    first = client.request(put("w6RHhwaA"))
    assert (first.value, sets(first)) == ("token=w6RHhwaA", 1)
    read = client.request(put(None))
    assert (read.value, sets(read)) == ("token=w6RHhwaA", 0)
    again = client.request(put("zfQ3rzM3"))
    assert (again.value, sets(again)) == ("token=zfQ3rzM3", 1)


def test_resave_when_false_should_detect_a_cookie_property_as_modified() -> None:
    """resave option when false: should detect a "cookie" property as modified"""

    def handler(session: Any) -> None:
        user = session.setdefault("user", {})
        user["name"] = "bob"
        user["cookie"] = user.get("cookie", 0) + 1

    client = Client(express(resave=False))
    assert sets(client.request(handler)) == 1
    assert sets(client.request(handler)) == 1


def test_resave_when_false_should_pass_session_touch_error() -> None:
    """resave option when false: should pass session touch error

    Deliberate difference: the commit runs before the response goes out, so
    the failure is a StoreError (a 500), not an error after the response.
    """
    client = Client(express(resave=False))
    assert client.request(lambda s: (s.update(hit=True), "session saved")[1]).value == "session saved"
    client.store.fail = {"touch"}
    with pytest.raises(StoreError):
        client.request(lambda s: s.update(hit=True))


# describe('saveUninitialized option')


def test_save_uninitialized_should_default_to_true() -> None:
    """saveUninitialized option: should default to true

    Deliberate difference: it defaults to False here.
    """
    out = drive(express(save_uninitialized=SessionOptions(secret=EXPRESS_SECRET).save_uninitialized))
    assert (out.ops, out.set_cookie) == ([], None)


def test_save_uninitialized_should_force_save_of_uninitialized_session() -> None:
    """saveUninitialized option: should force save of uninitialized session"""
    out = drive(express(save_uninitialized=True))
    assert sets(out) == 1 and out.set_cookie is not None


def test_save_uninitialized_should_prevent_save_of_uninitialized_session() -> None:
    """saveUninitialized option: should prevent save of uninitialized session"""
    out = drive(express(save_uninitialized=False))
    assert (out.ops, out.set_cookie) == ([], None)


def test_save_uninitialized_should_still_save_modified_session() -> None:
    """saveUninitialized option: should still save modified session"""
    out = drive(express(save_uninitialized=False), None, count)
    assert sets(out) == 1 and out.set_cookie is not None


def test_save_uninitialized_should_pass_session_save_error() -> None:
    """saveUninitialized option: should pass session save error (a StoreError: a 500)"""
    store = RecordingStore()
    store.fail = {"set"}
    with pytest.raises(StoreError):
        drive(express(save_uninitialized=True), None, lambda s: "session saved", store)


def test_save_uninitialized_should_prevent_uninitialized_session_from_being_touched() -> None:
    """saveUninitialized option: should prevent uninitialized session from being touched"""
    out = drive(express(save_uninitialized=False))
    assert "touch" not in out.ops
