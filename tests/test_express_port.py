# express-session's own tests (test/session.js in expressjs/session), the
# part the core can express: one test per `it(...)`, its title in the
# docstring. This file has the top of describe('session()'), the response,
# missing, badly signed, expired and cookie-less sessions;
# test_express_port_options.py the options, test_express_port_session.py
# req.session and its methods, test_express_port_cookie.py the cookie.
#
# express's tests run with its deprecated defaults (resave and
# saveUninitialized true), `secret: 'keyboard cat'` and `cookie: { maxAge:
# 60000 }` unless a test gives its own cookie; helpers.express() does the
# same, and leaves SameSite off as express does. Where the core differs on
# purpose the test asserts the difference and its docstring says so.
#
# Not ported, because they are about the HTTP response rather than the
# session decisions (the drivers' own tests cover them): "should do nothing
# if req.session exists", "should get secret from req.secret", "should handle
# multiple res.end calls", "should handle res.end(null) calls", "should not
# save with bogus req.sessionID" (a handler cannot replace the id here), and
# the cookieParser() block (there is no cookie-parser fallback, on purpose).
from __future__ import annotations

from typing import Any

import pytest
from helpers import NOW, Client, RecordingStore, TextStore, attributes, drive, express, sid_of, streamed

import sansio_session
from sansio_session import ConfigError, SessionOptions, StoreError


def counter() -> Any:
    count = [0]

    def handler(session: Any) -> str:
        if not session.get("num"):
            count[0] += 1
            session["num"] = count[0]
        return f"session {session['num']}"

    return handler


def test_should_export_constructors() -> None:
    """should export constructors"""
    assert isinstance(sansio_session.Session, type)
    assert isinstance(sansio_session.MemoryStore, type)
    assert sansio_session.Store is not None


def test_should_error_without_secret() -> None:
    """should error without secret

    Deliberate difference: refused once, at start-up, not on every request.
    """
    with pytest.raises(ConfigError, match="secret"):
        SessionOptions.from_mapping({})


def test_should_create_a_new_session() -> None:
    """should create a new session"""
    out = drive(express(), None, lambda s: (s.update(active=True), "session active")[1])
    assert out.value == "session active"
    assert out.set_cookie is not None and out.set_cookie.startswith("connect.sid=")
    assert len(out.store) == 1


def test_should_load_session_from_cookie_sid() -> None:
    """should load session from cookie sid"""
    client = Client(express())
    handler = counter()
    first = client.request(handler)
    assert first.set_cookie is not None and first.value == "session 1"
    assert client.request(handler).value == "session 1"


def test_should_pass_session_fetch_error() -> None:
    """should pass session fetch error"""
    client = Client(express())
    first = client.request(lambda s: "hello, world")
    assert first.set_cookie is not None and first.value == "hello, world"
    client.store.fail = {"get"}
    with pytest.raises(StoreError):  # the driver answers 500
        client.request(lambda s: "hello, world")


def test_should_treat_enoent_session_fetch_error_as_not_found() -> None:
    """should treat ENOENT session fetch error as not found

    A store reports "not found" as None.
    """
    store = TextStore()
    client = Client(express(), store)
    handler = counter()
    assert client.request(handler).value == "session 1"
    store.data.clear()
    assert client.request(handler).value == "session 2"


def test_should_create_multiple_sessions() -> None:
    """should create multiple sessions"""
    store = RecordingStore()
    opts = express()
    handler = counter()
    first = drive(opts, None, handler, store)
    second = drive(opts, None, handler, store)
    assert (first.value, second.value) == ("session 1", "session 2")
    assert len(store.all()) == 2


def test_should_handle_empty_req_url() -> None:
    """should handle empty req.url"""
    out = drive(express(), None, None, path="")
    assert out.set_cookie is not None


def test_should_handle_reserved_properties_in_storage() -> None:
    """should handle reserved properties in storage"""
    client = Client(express())
    first = client.request(lambda s: (s.update(num=1), "session saved")[1])
    sid = sid_of(first.set_cookie)
    text = client.store.all()[sid]
    client.store.set(sid, text[:-1] + ',"save":"nope"}', 60)
    assert client.request(lambda s: (s.update(num=s.get("num")), "session saved")[1]).value == "session saved"


def test_should_only_have_session_data_enumerable_and_cookie() -> None:
    """should only have session data enumerable (and cookie)

    Deliberate difference: the cookie lives beside the data (session.cookie),
    not among its keys.
    """
    out = drive(express(), None, lambda s: (s.update(test1=1, test2="b"), sorted(s))[1])
    assert out.value == ["test1", "test2"]


def test_should_update_cookie_expiration_when_slow_write() -> None:
    """should update cookie expiration when slow write"""
    store = RecordingStore()
    opts = express(rolling=True)
    first = streamed(
        opts, None, lambda s: s.update(user="bob"), lambda s: None, store=store, end_at=NOW + 0.2
    )
    assert first.set_cookie is not None
    later = NOW + 1.4
    again = streamed(
        opts, first.cookie, lambda s: None, lambda s: None, store=store, now=later, end_at=later + 0.2
    )
    assert again.set_cookie is not None
    assert attributes(again.set_cookie)["expires"] != attributes(first.set_cookie)["expires"]


# describe('when response ended')


def hit(session: Any) -> str:
    session["hit"] = True
    return "session saved"


def test_should_have_saved_session() -> None:
    """should have saved session"""
    out = drive(express(), None, hit)
    assert out.value == "session saved"
    assert out.ops == ["set"]


def test_should_have_saved_session_even_with_empty_response() -> None:
    """should have saved session even with empty response (a buffered response)"""
    out = drive(express(), None, lambda s: s.update(hit=True))
    assert out.ops == ["set"]


def test_should_have_saved_session_even_with_multi_write() -> None:
    """should have saved session even with multi-write (a streamed response)"""
    out = streamed(express(), None, hit, lambda s: None)
    assert out.ops == ["set"]
    assert out.set_cookie is not None


def test_should_have_saved_session_even_with_non_chunked_response() -> None:
    """should have saved session even with non-chunked response (Content-Length: buffered)"""
    out = drive(express(), None, hit)
    assert out.ops == ["set"]


def test_should_have_saved_session_with_updated_cookie_expiration() -> None:
    """should have saved session with updated cookie expiration"""
    client = Client(express())
    first = client.request(lambda s: (s.update(user="bob"), s.id)[1])
    sid = first.value
    assert first.record(sid)["cookie"]["expires"] == "1970-01-01T00:17:40.000Z"
    assert attributes(first.set_cookie or "")["expires"] == "Thu, 01 Jan 1970 00:17:40 GMT"
    again = client.request(lambda s: (s.update(user="bob"), s.id)[1], after=1.2)
    assert again.value == sid
    assert again.record(sid)["cookie"]["expires"] == "1970-01-01T00:17:41.200Z"


# describe('when sid not in store')


def test_when_sid_not_in_store_should_create_a_new_session() -> None:
    """when sid not in store: should create a new session"""
    client = Client(express())
    handler = counter()
    assert client.request(handler).value == "session 1"
    client.store.clear()
    assert client.request(handler).value == "session 2"


def test_when_sid_not_in_store_should_have_a_new_sid() -> None:
    """when sid not in store: should have a new sid"""
    client = Client(express())
    handler = counter()
    first = client.request(handler)
    client.store.clear()
    again = client.request(handler)
    assert again.set_cookie is not None
    assert sid_of(again.set_cookie) != sid_of(first.set_cookie)


# describe('when sid not properly signed')


def created_or_read(session: Any) -> str:
    new = "active" not in session
    session["active"] = True
    return "session " + ("created" if new else "read")


def test_when_sid_not_properly_signed_should_generate_new_session() -> None:
    """when sid not properly signed: should generate new session"""
    opts = express(name="sessid")
    store = RecordingStore()
    first = drive(opts, None, created_or_read, store)
    assert first.set_cookie is not None and first.set_cookie.startswith("sessid=")
    val = sid_of(first.set_cookie)
    again = drive(opts, "sessid=" + val, created_or_read, store)
    assert again.value == "session created"
    assert sid_of(again.set_cookie) != val


def test_when_sid_not_properly_signed_should_not_attempt_fetch_from_store() -> None:
    """when sid not properly signed: should not attempt fetch from store"""
    opts = express(name="sessid")
    store = RecordingStore()
    first = drive(opts, None, created_or_read, store)
    assert first.cookie is not None
    dot = first.cookie.index(".")
    tampered = first.cookie[: dot - 3] + first.cookie[dot:]  # express: .replace(/...\./, '.')
    again = drive(opts, tampered, created_or_read, store)
    assert again.value == "session created"
    assert again.ops == ["set"]
    assert again.set_cookie is not None


# describe('when session expired in store'). Store lifetimes are whole
# seconds, so express's maxAge of 5 ms and wait of 20 ms become 1 s and 1.02 s.


def test_when_session_expired_in_store_should_create_a_new_session() -> None:
    """when session expired in store: should create a new session"""
    client = Client(express(cookie={"max_age": 1}))
    handler = counter()
    assert client.request(handler).value == "session 1"
    again = client.request(handler, after=1.02)
    assert again.set_cookie is not None and again.value == "session 2"


def test_when_session_expired_in_store_should_have_a_new_sid() -> None:
    """when session expired in store: should have a new sid"""
    client = Client(express(cookie={"max_age": 1}))
    handler = counter()
    first = client.request(handler)
    again = client.request(handler, after=1.02)
    assert sid_of(again.set_cookie) != sid_of(first.set_cookie)


def test_when_session_expired_in_store_should_not_exist_in_store() -> None:
    """when session expired in store: should not exist in store"""
    store = RecordingStore()
    drive(express(cookie={"max_age": 1}), None, counter(), store)
    assert store.all(now=NOW + 1.01) == {}


# describe('when session without cookie property in store')


def test_should_pass_error_from_inflate() -> None:
    """when session without cookie property in store: should pass error from inflate

    Deliberate difference: a record without a cookie object is no session
    (reported through on_event), never a 500.
    """
    client = Client(express())
    first = client.request(counter())
    sid = sid_of(first.set_cookie)
    client.store.set(sid, '{"foo":"bar"}', 60)
    again = client.request(counter())
    assert again.value == "session 1"
    assert "corrupt_record" in again.event_names
    assert sid_of(again.set_cookie) != sid
