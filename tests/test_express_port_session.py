# express-session's test/session.js, continued: the secret and unset
# options, req.session and its methods. One test per `it(...)`, its title in
# the docstring; see test_express_port.py.
#
# Not ported: the "res.end patch" block (response plumbing); "should not be
# set if store is disconnected" and "should be set when store reconnects"
# (stores emit no connect/disconnect here: a failing store is a StoreError);
# "should not override an overridden `reload` in case of errors" (about
# JavaScript callbacks).
from __future__ import annotations

import secrets
from typing import Any

import pytest
from helpers import EXPRESS_SECRET, Client, Outcome, RecordingStore, drive, express, sid_of

from sansio_session import ConfigError, SessionOptions, StoreError


def bob(session: Any) -> None:
    session["user"] = "bob"


def count(session: Any) -> str:
    session["count"] = session.get("count", 0) + 1
    return str(session["count"])


def sets(out: Outcome) -> int:
    return out.ops.count("set")


# describe('secret option')


def test_secret_should_reject_empty_arrays() -> None:
    """secret option: should reject empty arrays"""
    with pytest.raises(ConfigError, match="secret"):
        SessionOptions(secret=[])


def get_or_set_user(session: Any) -> str:
    if not session.get("user"):
        session["user"] = "bob"
        return "set"
    return f'get:"{session["user"]}"'


def test_secret_should_sign_and_unsign_with_a_string() -> None:
    """secret option: should sign and unsign with a string"""
    client = Client(express(secret="awesome cat"))
    assert client.request(get_or_set_user).value == "set"
    assert client.request(get_or_set_user).value == 'get:"bob"'


def test_secret_should_sign_and_unsign_with_a_buffer() -> None:
    """secret option: should sign and unsign with a Buffer

    Deliberate difference: a secret is text (bytes are refused); 32 random
    bytes as hex work the same.
    """
    with pytest.raises(ConfigError, match="secret"):
        SessionOptions(secret=secrets.token_bytes(32))  # type: ignore[arg-type]
    client = Client(express(secret=secrets.token_hex(32)))
    assert client.request(get_or_set_user).value == "set"
    assert client.request(get_or_set_user).value == 'get:"bob"'


def test_secret_array_should_sign_cookies() -> None:
    """secret option when an array: should sign cookies"""
    out = drive(express(secret=["keyboard cat", "nyan cat"]), None, [bob, lambda s: s["user"]])
    assert out.value == "bob" and out.set_cookie is not None


def test_secret_array_should_sign_cookies_with_first_element() -> None:
    """secret option when an array: should sign cookies with first element"""
    store = RecordingStore()
    first = drive(express(secret=["keyboard cat", "nyan cat"]), None, bob, store)
    out = drive(express(secret="nyan cat"), first.cookie, lambda s: str(s.get("user")), store)
    assert out.value == "None"  # express: 'undefined'


def test_secret_array_should_read_cookies_using_all_elements() -> None:
    """secret option when an array: should read cookies using all elements"""
    store = RecordingStore()
    first = drive(express(secret="nyan cat"), None, bob, store)
    out = drive(express(secret=["keyboard cat", "nyan cat"]), first.cookie, lambda s: s.get("user"), store)
    assert out.value == "bob"


# describe('unset option')


def test_unset_should_reject_unknown_values() -> None:
    """unset option: should reject unknown values"""
    with pytest.raises(ConfigError, match=r"unset.*must"):
        SessionOptions(secret=EXPRESS_SECRET, unset="bogus!")  # type: ignore[arg-type]


def count_then_unset(session: Any) -> None:
    if count(session) == "2":
        session.unset()


def test_unset_should_default_to_keep() -> None:
    """unset option: should default to keep"""
    client = Client(express())
    client.request(count_then_unset)
    assert len(client.store.all()) == 1
    client.request(count_then_unset)
    assert len(client.store.all()) == 1


def test_unset_should_allow_destroy_on_req_session_null() -> None:
    """unset option: should allow destroy on req.session = null"""
    client = Client(express(unset="destroy"))
    client.request(count_then_unset)
    assert len(client.store.all()) == 1
    client.request(count_then_unset)
    assert len(client.store.all()) == 0


def test_unset_should_not_set_cookie_if_initial_session_destroyed() -> None:
    """unset option: should not set cookie if initial session destroyed

    Deliberate difference: a session that was never stored is not destroyed
    in the store (express calls store.destroy anyway).
    """
    out = drive(express(unset="destroy"), None, lambda s: s.unset())
    assert (out.set_cookie, out.ops, out.store) == (None, [], {})


def test_unset_should_pass_session_destroy_error() -> None:
    """unset option: should pass session destroy error (a StoreError: a 500)"""
    client = Client(express(unset="destroy"))
    client.request(count)
    client.store.fail = {"destroy"}
    with pytest.raises(StoreError):
        client.request(lambda s: s.unset())


# describe('req.session')


def test_req_session_should_persist() -> None:
    """req.session: should persist"""
    client = Client(express())
    assert client.request(lambda s: "hits: " + count(s)).value == "hits: 1"
    assert client.request(lambda s: "hits: " + count(s)).value == "hits: 2"


def test_req_session_should_only_set_cookie_when_modified() -> None:
    """req.session: should only set-cookie when modified"""
    client = Client(express())
    modify = [True]

    def handler(session: Any) -> str:
        if modify[0]:
            count(session)
        return str(session["count"])

    assert client.request(handler).value == "1"
    assert client.request(handler).value == "2"
    modify[0] = False
    unchanged = client.request(handler)
    assert (unchanged.value, unchanged.set_cookie) == ("2", None)
    modify[0] = True
    changed = client.request(handler)
    assert changed.value == "3" and changed.set_cookie is not None


def test_req_session_should_not_have_enumerable_methods() -> None:
    """req.session: should not have enumerable methods"""
    out = drive(express(), None, lambda s: (s.update(foo="foo", bar="bar"), ",".join(sorted(s)))[1])
    assert out.value == "bar,foo"  # express: 'bar,cookie,foo'; the cookie is not a key here


def test_destroy_should_destroy_the_previous_session() -> None:
    """.destroy(): should destroy the previous session"""
    out = drive(express(), None, [lambda s: s.destroy(), str])
    assert (out.value, out.set_cookie) == ("None", None)


def test_regenerate_should_destroy_replace_the_previous_session() -> None:
    """.regenerate(): should destroy/replace the previous session"""
    client = Client(express())
    ids: list[str] = []

    def regenerate(session: Any) -> None:
        ids.append(session.id)
        session.regenerate()

    handler = [regenerate, lambda s: str(s.id == ids[-1]).lower()]
    first = client.request(handler)
    assert first.set_cookie is not None
    again = client.request(handler)
    assert again.value == "false"
    assert sid_of(again.set_cookie) != sid_of(first.set_cookie)


def test_reload_should_reload_session_from_store() -> None:
    """.reload(): should reload session from store"""
    client = Client(express())
    client.request(lambda s: s.update(active=True))

    def foo(session: Any) -> str:
        session["url"] = "/foo"
        bar = drive(
            client.options, client.cookie, lambda s: (s.update(url="/bar"), "saw /bar")[1], client.store
        )
        assert bar.value == "saw /bar"
        session.reload()
        return f"saw {session['url']}"

    assert client.request(foo).value == "saw /bar"


def test_reload_should_error_is_session_missing() -> None:
    """.reload(): should error is session missing"""
    client = Client(express())
    client.request(lambda s: s.update(active=True))
    with pytest.raises(StoreError) as info:
        client.request([lambda s: client.store.clear(), lambda s: s.reload()])
    assert info.value.reason == "session not found"  # express: 'failed to load session'


def hit_and_save(session: Any) -> str:
    session["hit"] = True
    session.save()
    return "saved"


def test_save_should_save_session_to_store() -> None:
    """.save(): should save session to store"""
    store = RecordingStore()
    out = drive(express(), None, [hit_and_save, lambda s: "stored" if store.get(s.id) else "empty"], store)
    assert out.value == "stored"


def test_save_should_prevent_end_of_request_save() -> None:
    """.save(): should prevent end-of-request save"""
    client = Client(express())
    assert sets(client.request(hit_and_save)) == 1
    assert sets(client.request(hit_and_save)) == 1


def test_save_should_prevent_end_of_request_save_on_reloaded_session() -> None:
    """.save(): should prevent end-of-request save on reloaded session

    The first request does not reload: reload() of a session never stored is
    a StoreError here (express ignores the error in this test).
    """
    client = Client(express())
    handler = [lambda s: s.update(hit=True), lambda s: s.reload() if not s.is_new else None, hit_and_save]
    first = client.request([lambda s: s.update(hit=True), hit_and_save])
    assert sets(first) == 1
    assert sets(client.request(handler)) == 1


def test_save_when_save_uninitialized_false_should_prevent_end_of_request_save() -> None:
    """.save() when saveUninitialized is false: should prevent end-of-request save"""
    client = Client(express(save_uninitialized=False))
    assert sets(client.request(hit_and_save)) == 1
    assert sets(client.request(hit_and_save)) == 1


def test_touch_should_reset_session_expiration() -> None:
    """.touch(): should reset session expiration"""
    store = RecordingStore()
    client = Client(express(resave=False), store)

    def stored_expiry(sid: str) -> float:
        record = store.get(sid, now=client.now)
        assert record is not None and record.expires_at is not None
        return record.expires_at

    first = client.request([lambda s: s.update(hit=True), lambda s: s.touch(), lambda s: s.id])
    expires_at = stored_expiry(first.value)
    client.request([lambda s: s.update(hit=True), lambda s: s.touch()], after=0.1)
    assert stored_expiry(first.value) == pytest.approx(expires_at + 0.1)
