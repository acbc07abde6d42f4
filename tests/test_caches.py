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
from hypothesis import given
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
