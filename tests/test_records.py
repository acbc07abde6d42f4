# Stored records: express-session's layout both ways, expiry, records we
# cannot trust, and the fingerprint behind "modified".
from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import NOW, Client, TextStore, drive, make_id, options, signed_cookie

from sansio_session import CookieOptions, SerializationError, SessionOptions, StoredRecord

SID = make_id(900)  # the stored session's id
NEW = make_id(1)  # the first id the counter makes, for a session started afresh
# The record of issue 2, as express-session and connect-redis wrote it.
EXPRESS_RECORD = (
    '{"cookie":{"originalMaxAge":60000,"expires":"2026-12-03T19:23:03.506Z","httpOnly":true,"path":"/"},'
    '"views":1}'
)
WRITTEN_AT = 1796325723.506


def iso_in(seconds: float) -> str:
    """cookie.expires for NOW + seconds, as toJSON writes it."""
    import time

    ms = round((NOW + seconds) * 1000)
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % (ms % 1000)


def record(data: dict[str, Any] | None = None, **cookie: Any) -> str:
    stored = {"originalMaxAge": 60000, "expires": iso_in(30), "httpOnly": True, "path": "/"}
    stored.update(cookie)
    return json.dumps({"cookie": stored, **(data or {"views": 1})})


def load(text: Any, handler: Any = None, opts: SessionOptions | None = None, now: float = NOW) -> Any:
    """One request whose cookie names SID, stored as ``text``."""
    return drive(opts or options(), signed_cookie(SID), handler, TextStore({SID: text}), now=now)


def views(session: Any) -> None:
    session["views"] = session.get("views", 0) + 1


# -- express-session's layout ------------------------------------------------------


def test_express_record_reads_and_writes_back_with_the_same_layout() -> None:
    now = WRITTEN_AT + 10
    out = load(EXPRESS_RECORD, [views, dict], now=now)
    assert out.value == {"views": 2}
    assert out.ops == ["get", "set"]
    # Same keys in the same order; no sameSite added: a loaded session keeps
    # the attributes it was stored with.
    assert out.actions[1].record == (
        '{"cookie":{"originalMaxAge":60000,"expires":"2026-12-03T19:23:13.506Z","httpOnly":true,"path":"/"},'
        '"views":2}'
    )
    assert out.actions[1].ttl == 60


def test_express_record_cookie_view() -> None:
    out = load(EXPRESS_RECORD, lambda s: (s.cookie.max_age, s.cookie.original_max_age), now=WRITTEN_AT + 10)
    assert out.value == (50, 60)


def test_express_record_touch_keeps_the_record_layout() -> None:
    out = load(EXPRESS_RECORD, None, now=WRITTEN_AT + 10)
    touch = out.actions[1]
    assert out.ops == ["get", "touch"]
    assert json.loads(touch.record) == json.loads(EXPRESS_RECORD.replace("19:23:03.506Z", "19:23:13.506Z"))


def test_every_cookie_attribute_is_written_in_express_order() -> None:
    opts = options(
        proxy=True,
        cookie=CookieOptions(
            max_age=60,
            domain="example.com",
            secure=True,
            same_site="strict",
            priority="high",
            partitioned=True,
        ),
    )
    out = drive(opts, None, views, forwarded_proto="https")
    assert list(json.loads(out.store[make_id(1)])["cookie"]) == [
        "originalMaxAge",
        "partitioned",
        "priority",
        "expires",
        "secure",
        "httpOnly",
        "domain",
        "path",
        "sameSite",
    ]


def test_record_with_every_attribute_loads_them() -> None:
    text = record(partitioned=True, priority="High", secure=True, domain="example.com", sameSite="Strict")
    out = drive(
        options(proxy=True), signed_cookie(SID), views, TextStore({SID: text}), forwarded_proto="https"
    )
    assert out.set_cookie is not None
    assert out.set_cookie.endswith(
        "; Domain=example.com; Path=/; Expires=Thu, 01 Jan 1970 00:17:40 GMT; HttpOnly; Secure; Partitioned; "
        "Priority=High; SameSite=Strict"
    )


@pytest.mark.parametrize(
    ("stored", "attribute"), [(True, "SameSite=Strict"), (False, None), ("none", "SameSite=None")]
)
def test_same_site_as_the_cookie_package_reads_it(stored: Any, attribute: str | None) -> None:
    store = TextStore({SID: record(sameSite=stored, secure=True)})
    out = drive(options(proxy=True), signed_cookie(SID), views, store, forwarded_proto="https")
    assert out.set_cookie is not None
    if attribute is None:
        assert "SameSite" not in out.set_cookie
    else:
        assert out.set_cookie.endswith(attribute)


def test_browser_session_record() -> None:
    out = load(record(originalMaxAge=None, expires=None), views)
    assert out.ops == ["get", "set"]
    assert out.actions[1].ttl == 86400
    assert out.set_cookie is None  # sent once, when it was made


def test_stored_data_keys_named_like_methods_are_plain_data() -> None:
    out = load(record({"save": "nope", "id": "x", "regenerate": 1}), dict)
    assert out.value == {"save": "nope", "id": "x", "regenerate": 1}


def test_nested_cookie_key_in_data_is_data() -> None:
    out = load(record({"user": {"cookie": 1}}), lambda s: s["user"].update(cookie=2))
    assert out.ops == ["get", "set"]
    assert json.loads(out.store[SID])["user"] == {"cookie": 2}


def test_top_level_cookie_key_is_refused() -> None:
    with pytest.raises(KeyError):
        drive(options(), None, lambda s: s.__setitem__("cookie", 1))


# -- expiry ---------------------------------------------------------------------------


def test_expired_record_kept_by_the_store_is_no_session() -> None:
    out = load(record(expires=iso_in(-1)), dict)
    assert out.value == {}
    assert "expired" in out.event_names
    assert out.ops == ["get"]


def test_record_expiring_exactly_now_is_expired() -> None:
    assert load(record(expires=iso_in(0)), dict).value == {}


def test_store_expiry_overrides_a_lagging_record_expiry() -> None:
    # After touches the record's own expires lags; the store's expiry is the real one.
    lagging = StoredRecord(record(expires=iso_in(-100)), expires_at=NOW + 40)
    out = load(lagging, lambda s: (dict(s), s.cookie.max_age))
    assert out.value == ({"views": 1}, 40)


def test_store_expiry_in_the_past_is_expired() -> None:
    out = load(StoredRecord(record(), expires_at=NOW - 1), dict)
    assert out.value == {}
    assert "expired" in out.event_names


def test_store_expiry_does_not_make_a_browser_session_cookie_expire() -> None:
    text = record(originalMaxAge=None, expires=None)
    out = load(StoredRecord(text, expires_at=NOW + 5), lambda s: (dict(s), s.cookie.expires))
    assert out.value == ({"views": 1}, None)


# -- records we cannot trust ----------------------------------------------------------------

CORRUPT = {
    "not-json": "{",
    "empty": "",
    "array": "[1]",
    "null": "null",
    "string": '"text"',
    "number": "5",
    "no-cookie": '{"views":1}',
    "cookie-string": '{"cookie":"x","views":1}',
    "cookie-array": '{"cookie":[],"views":1}',
    "cookie-null": '{"cookie":null,"views":1}',
    "expires-garbage": record(expires="yesterday"),
    "expires-number": record(expires=5),
    "expires-object": record(expires={}),
    "expires-no-zone": record(expires="2030-01-01T00:00:00"),
    "expires-month-13": record(expires="2030-13-01T00:00:00.000Z"),
    "expires-hour-24": record(expires="2030-01-01T24:00:00.000Z"),
    "expires-long": record(expires="2030-01-01T00:00:00.000Z" + " " * 40),
    "max-age-string": record(originalMaxAge="60000"),
    "max-age-bool": record(originalMaxAge=True),
    "max-age-nan": '{"cookie":{"originalMaxAge":NaN,"expires":null}}',
    "max-age-huge": record(originalMaxAge=1e300),
    "same-site-unknown": record(sameSite="bogus"),
    "priority-unknown": record(priority="urgent"),
    "path-not-string": record(path=5),
    "path-semicolon": record(path="/; Secure"),
    "domain-control": record(domain="example.com\r\nX: y"),
    "too-deep": record({"a": json.loads("[" * 40 + "]" * 40)}),
    "deep-beyond-the-parser": '{"cookie":{},"a":' + "[" * 100_000 + "]" * 100_000 + "}",
    "bytes": record().encode(),
    "dict": {"cookie": {}},
}


@pytest.mark.parametrize("text", list(CORRUPT.values()), ids=list(CORRUPT))
def test_corrupt_record_is_no_session(text: Any) -> None:
    out = load(text, [views, lambda s: (dict(s), s.id)])
    assert out.value == ({"views": 1}, NEW)  # a new session, with a new id
    assert "corrupt_record" in out.event_names
    (detail,) = [d for name, d in out.events if name == "corrupt_record"]
    assert detail["reason"]
    assert out.ops == ["get", "set"]
    assert out.set_cookie is not None


def test_nesting_up_to_the_bound_is_fine() -> None:
    nested = json.loads("[" * 30 + "]" * 30)
    out = load(record({"a": nested}), dict)
    assert out.value == {"a": nested}


def test_corrupt_record_events_carry_no_id() -> None:
    out = load("{", None)
    for _, detail in out.events:
        assert SID not in json.dumps(detail)


# -- modification -------------------------------------------------------------------------


def test_nested_mutation_is_a_modification() -> None:
    out = load(record({"cart": {"items": [1]}}), lambda s: s["cart"]["items"].append(2))
    assert out.ops == ["get", "set"]
    assert json.loads(out.store[SID])["cart"] == {"items": [1, 2]}


def test_nested_mutation_through_get_is_a_modification() -> None:
    out = load(record({"cart": {"items": [1]}}), lambda s: s.get("cart")["items"].append(2))
    assert out.ops == ["get", "set"]


def test_nested_mutation_through_values_is_a_modification() -> None:
    out = load(record({"cart": [1]}), lambda s: next(iter(s.values())).append(2))
    assert out.ops == ["get", "set"]


@pytest.mark.parametrize(
    "handler",
    [
        lambda s: s["cart"],
        lambda s: s.get("cart"),
        lambda s: s["cart"]["items"][0],
        lambda s: list(s.items()),
        lambda s: list(s.values()),
        lambda s: list(s.keys()),
        lambda s: "cart" in s,
        len,
        lambda s: s.to_dict(),
        lambda s: s.get("missing", []),
    ],
    ids=["getitem", "get", "deep-read", "items", "values", "keys", "contains", "len", "to_dict", "default"],
)
def test_read_only_access_is_not_a_modification(handler: Any) -> None:
    out = load(record({"cart": {"items": [1]}}), handler)
    assert out.ops == ["get", "touch"]
    assert out.set_cookie is None


def test_writing_the_same_value_again_is_not_a_modification() -> None:
    out = load(
        record({"views": 1, "cart": [1]}),
        [lambda s: s.update(views=1), lambda s: s["cart"].append(0), lambda s: s["cart"].pop()],
    )
    assert out.ops == ["get", "touch"]


def test_key_order_counts_as_a_modification() -> None:
    # The fingerprint is the JSON text, as in express-session.
    out = load(record({"a": 1, "b": 2}), lambda s: (s.pop("a"), s.update(a=1)))
    assert out.ops == ["get", "set"]


def test_to_dict_is_a_deep_copy() -> None:
    out = load(record({"cart": [1]}), lambda s: s.to_dict()["cart"].append(2))
    assert out.ops == ["get", "touch"]


def test_mutation_after_save_is_saved_at_the_end() -> None:
    client = Client(options(cookie={"max_age": 60}, genid=lambda: SID))
    client.request(lambda s: s.update(cart=[1]))
    seen: list[Any] = []

    def handler(session: Any) -> None:
        session["cart"].append(2)
        session.save()
        seen.append(json.loads(client.store.all()[SID])["cart"])
        session["cart"].append(3)

    out = client.request(handler, after=1)
    assert seen == [[1, 2]]  # the store got a copy, not the list
    assert out.ops == ["get", "set", "set"]
    assert json.loads(client.store.all()[SID])["cart"] == [1, 2, 3]


# -- values that cannot be stored ------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, b"bytes", float("nan"), float("inf"), {"nested": object()}],
    ids=["object", "set", "bytes", "nan", "inf", "nested"],
)
def test_unserialisable_value_is_an_error_naming_the_key_before_any_action(value: Any) -> None:
    with pytest.raises(SerializationError, match="'when'"):
        drive(options(), None, lambda s: s.update(fine=1, when=value))


def _contains_itself() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("make", [_contains_itself, lambda: _nested(100_000)], ids=["circular", "too-deep"])
def test_a_value_json_cannot_end_is_an_error_naming_the_key(make: Any) -> None:
    value = make()
    with pytest.raises(SerializationError, match="'when'"):
        drive(options(), None, lambda s: s.update(fine=1, when=value))


def test_unserialisable_value_on_explicit_save() -> None:
    client = Client(options())
    with pytest.raises(SerializationError, match="'bad'"):
        client.request(lambda s: (s.update(bad=object()), s.save()))
    assert client.store.calls == []


def test_unserialisable_value_of_a_loaded_session_writes_nothing() -> None:
    store = TextStore({SID: record()})
    with pytest.raises(SerializationError, match="'bad'"):
        drive(options(), signed_cookie(SID), lambda s: s.update(bad={1}), store)
    assert store.calls == [("get", SID)]
    assert store.data[SID] == record()


@pytest.mark.parametrize("key", [1, None, ("a",), b"k"])
def test_non_string_keys_are_refused(key: Any) -> None:
    with pytest.raises(TypeError):
        drive(options(), None, lambda s: s.__setitem__(key, 1))
