# What the core remembers between requests to stay cheap, and that it can
# never serve a wrong answer from there: verified cookie values
# (SessionOptions.verified_ids), decoded records, the last second's dates;
# and the cheap paths beside the general ones.
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from helpers import NOW, TextStore, drive, make_id, options, signed_cookie
from hypothesis import event, given, settings
from hypothesis import strategies as st

from sansio_session import SessionMachine, SessionOptions, http_date
from sansio_session._cookie import encode_value
from sansio_session._machine import VERIFIED_IDS
from sansio_session._record import _iso

SID = make_id(900)


def record(data: dict[str, Any]) -> str:
    cookie = {"originalMaxAge": 60000, "expires": "2099-01-01T00:00:00.000Z", "httpOnly": True, "path": "/"}
    return json.dumps({"cookie": cookie, **data}, separators=(",", ":"))


def counting_valid_id(calls: list[str]) -> Any:
    def valid_id(sid: str) -> bool:
        calls.append(sid)
        return sid.startswith("id")

    return valid_id


def begin(opts: SessionOptions, header: str) -> Any:
    return SessionMachine(opts).begin(header, now=NOW)


def test_a_returning_cookie_is_verified_once() -> None:
    calls: list[str] = []
    opts = options(valid_id=counting_valid_id(calls))
    for _ in range(3):
        load = begin(opts, signed_cookie(SID))
        assert load is not None and load.sid == SID
    assert calls == [SID]


def test_a_forged_cookie_never_enters_and_is_refused_every_time() -> None:
    opts = options()
    good = signed_cookie(SID)
    assert begin(opts, good) is not None
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    store = TextStore({SID: record({"views": 1})})
    for _ in range(3):
        outcome = drive(opts, forged, store=store)
        assert [name for name, _ in outcome.events] == ["bad_signature"]
        assert outcome.machine.is_new  # a new session, not the stored one
        assert outcome.machine.options.verified_ids == {}
    assert ("get", SID) not in store.calls
    assert list(opts.verified_ids.values()) == [SID]


def test_an_id_refused_by_valid_id_is_not_remembered() -> None:
    calls: list[str] = []
    opts = options(valid_id=counting_valid_id(calls))
    odd = "not-the-shape-of-our-ids-000000000"
    for _ in range(2):
        assert begin(opts, signed_cookie(odd)) is None
    assert calls == [odd, odd]
    assert opts.verified_ids == {}


def test_each_configuration_has_its_own_memory() -> None:
    # Rotating secrets means new options: a value verified under the old
    # secret alone is not taken on trust by the new ones.
    old = options(secret="the old secret, long enough to be used")
    cookie = signed_cookie(SID, secret="the old secret, long enough to be used")
    assert begin(old, cookie) is not None
    new = options(secret="a brand new secret, long enough to be used")
    assert begin(new, cookie) is None
    assert new.verified_ids == {}


def test_the_memory_is_bounded() -> None:
    opts = options()
    for n in range(VERIFIED_IDS + 10):
        assert begin(opts, signed_cookie(make_id(n))) is not None
    assert 0 < len(opts.verified_ids) <= VERIFIED_IDS


def test_a_decoded_record_is_never_shared_between_requests() -> None:
    # The same stored text twice: the second request must see the record as
    # stored, whatever the first did to its copy without saving it.
    text = record({"views": 1, "name": "ann"})
    store = TextStore({SID: text})
    opts = options()
    seen: list[dict[str, Any]] = []

    def peek_and_scribble(session: Any) -> None:
        seen.append(dict(session))
        session._data["views"] = 99  # behind the session's back: never saved

    for _ in range(3):
        drive(opts, signed_cookie(SID), peek_and_scribble, store)
    assert seen == [{"views": 1, "name": "ann"}] * 3


def test_nested_values_are_parsed_afresh_each_time() -> None:
    text = record({"cart": ["apple"]})
    store = TextStore({SID: text})
    opts = options()
    carts: list[list[str]] = []

    def look(session: Any) -> None:
        cart = session._data["cart"]  # no spoil: as if changed in place, unsaved
        carts.append(list(cart))
        cart.append("pear")

    for _ in range(3):
        drive(opts, signed_cookie(SID), look, store)
    assert carts == [["apple"]] * 3


def test_a_cached_record_still_expires() -> None:
    # The cookie's expiry comes from the record each time, checked against
    # each request's own now.
    cookie = {"originalMaxAge": 60000, "expires": "1970-01-01T00:30:00.000Z", "httpOnly": True, "path": "/"}
    text = json.dumps({"cookie": cookie, "views": 1})
    store = TextStore({SID: text})
    opts = options()
    early = drive(opts, signed_cookie(SID), lambda s: s.get("views"), store, now=1000.0)
    assert early.value == 1
    late = drive(opts, signed_cookie(SID), lambda s: s.get("views"), store, now=1900.0)
    assert late.value is None


# The cheap paths of the cookie and record writers give what the general
# ones give.

SIGNED_ALPHABET = "ABCXYZabcxyz0189-_.!~*'():/+=%; é"


@given(st.text(alphabet=SIGNED_ALPHABET, max_size=90) | st.text(max_size=40))
def test_encode_value_is_encode_uri_component(value: str) -> None:
    assert encode_value(value) == quote(value, safe="-_.!~*'()")


@given(st.lists(st.floats(min_value=-1e9, max_value=4e9), min_size=1, max_size=8))
def test_http_date_from_one_second_to_the_next(moments: list[float]) -> None:
    # Sorted, so that neighbours often share a second (the remembered one).
    for seconds in sorted(moments) + moments:
        assert http_date(seconds) == time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(seconds))


@given(st.lists(st.integers(min_value=0, max_value=4_102_444_799_999), min_size=1, max_size=8))
def test_record_dates_from_one_second_to_the_next(moments: list[int]) -> None:
    for ms in sorted(moments) + moments:
        expected = datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        assert _iso(ms) == expected + ".%03dZ" % (ms % 1000)


# A record remembered as it was saved reads back exactly as a parse of its
# text would: same cookie, same data; and one the parse would refuse is
# never remembered.

_COOKIE_VALUES = {
    "original_max_age_ms": st.none() | st.integers(-(10**16), 10**16) | st.floats(allow_nan=False),
    "expires_ms": st.none() | st.integers(-(10**3), 300_000_000_000_000),
    "secure": st.booleans() | st.sampled_from([0, 1]),
    "http_only": st.booleans(),
    "path": st.sampled_from(["/", "/app", "/a;b", "/x\x01"]),
    "domain": st.none() | st.sampled_from(["example.com", "bad;domain"]),
    "same_site": st.none() | st.sampled_from(["lax", "strict", "none", "Lax", "bogus"]),
    "priority": st.none() | st.sampled_from(["low", "medium", "high", "HIGH", "urgent"]),
    "partitioned": st.booleans(),
    "created_ms": st.none() | st.integers(0, 10**13) | st.just(True),
    "user": st.none() | st.sampled_from(["ann", "é\u2028"]),
    "deadline_ms": st.none() | st.integers(0, 10**13),
}
_SCALAR = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)


@settings(max_examples=600)
@given(
    cookie_values=st.fixed_dictionaries(_COOKIE_VALUES),
    data=st.dictionaries(st.text(min_size=1).filter(lambda k: k != "cookie"), _SCALAR, max_size=4),
)
def test_a_remembered_record_reads_as_its_parse(cookie_values: dict[str, Any], data: dict[str, Any]) -> None:
    from sansio_session._record import (
        _RECORD_CACHE,
        CorruptRecord,
        SessionCookie,
        _decode_record,
        decode_record,
        dump_data,
        encode_record,
        remember_record,
    )

    cookie = SessionCookie(now_ms=1000, **cookie_values)
    try:
        text = encode_record(cookie, dump_data(data))
    except (TypeError, ValueError):
        return  # not a record anyone could write
    _RECORD_CACHE.pop(text, None)
    remember_record(text, cookie, data)
    try:
        fresh_cookie, fresh_data, _ = _decode_record(text, 5000)
    except CorruptRecord:
        assert text not in _RECORD_CACHE
        return
    if text not in _RECORD_CACHE:
        return  # not kept (a field not in its parsed form): the parse decides
    event("compared")
    kept_cookie, kept_data = decode_record(text, now_ms=5000)
    fields = ("original_max_age_ms", "expires_ms", "secure", "http_only", "path", "domain")
    fields += ("same_site", "priority", "partitioned", "created_ms", "deadline_ms", "user", "_now_ms")
    for name in fields:
        assert getattr(kept_cookie, name) == getattr(fresh_cookie, name), name
        assert type(getattr(kept_cookie, name)) is type(getattr(fresh_cookie, name)), name
    assert kept_data == fresh_data
    assert [type(v) for v in kept_data.values()] == [type(v) for v in fresh_data.values()]
