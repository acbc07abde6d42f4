# The store conformance suite, compare-and-set saves: replace(sid, record,
# ttl, expected) stores the record only while the store still holds exactly
# the expected text, atomically, and otherwise changes nothing and reports
# what is there. Every store, through its facade (see conftest.py).
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from store_facades import Refused, StoreFacade, rec, text_of, wait


def test_a_replace_of_the_expected_record_stores_the_new_one(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 60)
    assert facade.replace("a", rec(n=2), 60, rec(n=1)) is None
    assert text_of(facade, "a") == rec(n=2)
    # The new record is now the one to expect; the old one no longer is.
    assert facade.replace("a", rec(n=3), 60, rec(n=2)) is None
    assert isinstance(facade.replace("a", rec(n=4), 60, rec(n=2)), Refused)
    assert facade.all() == {"a": rec(n=3)}


def test_a_replace_after_a_parallel_save_is_a_conflict_with_the_newer_record(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 600)
    facade.set("a", rec(n=2), 600)  # another request saved meanwhile
    before = facade.clock()
    conflict = facade.replace("a", rec(n=3), 60, rec(n=1))
    assert conflict is not None
    assert conflict.current is not None
    assert conflict.current.text == rec(n=2)
    expires_at = conflict.current.expires_at
    if expires_at is not None:
        # The expiry that get() would report: the parallel save's.
        assert before + 598 <= expires_at <= facade.clock() + 601
    assert text_of(facade, "a") == rec(n=2)
    assert facade.length() == 1


def test_a_replace_of_an_absent_session_creates_nothing(facade: StoreFacade) -> None:
    assert facade.replace("ghost", rec(n=1), 60, rec()) == Refused(None)
    assert facade.get("ghost") is None
    assert facade.length() == 0


def test_a_destroyed_session_is_never_brought_back(facade: StoreFacade) -> None:
    # A logout raced a slower request that loaded the session before it.
    facade.set("a", rec(n=1), 60)
    facade.destroy("a")
    assert facade.replace("a", rec(n=2), 60, rec(n=1)) == Refused(None)
    assert facade.get("a") is None
    assert facade.length() == 0


def test_replace_sets_the_expiry_like_set(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 60)
    before = facade.clock()
    assert facade.replace("a", rec(n=2), 7200, rec(n=1)) is None
    got = facade.get("a")
    assert got is not None
    assert got.text == rec(n=2)
    if got.expires_at is not None:
        assert before + 7199 <= got.expires_at <= facade.clock() + 7201


@pytest.mark.parametrize("ttl", [0, -1])
def test_a_replace_with_no_time_left_ends_the_session_only_if_it_matches(
    facade: StoreFacade, ttl: int
) -> None:
    facade.set("a", rec(n=1), 60)
    facade.set("b", rec(n=2), 60)
    assert facade.replace("a", rec(n=1), ttl, rec(n=1)) is None
    assert facade.get("a") is None
    conflict = facade.replace("b", rec(n=2), ttl, rec(n=1))
    assert conflict is not None and conflict.current is not None
    assert conflict.current.text == rec(n=2)
    assert facade.all() == {"b": rec(n=2)}


def test_replace_and_expiry(facade: StoreFacade) -> None:
    # One wait for the whole case: a real-time store sleeps just over a second.
    facade.set("expired", rec(n=1), 1)
    facade.set("renewed", rec(n=2), 1)
    facade.set("shortened", rec(n=3), 3600)
    assert facade.replace("renewed", rec(n=20), 3600, rec(n=2)) is None
    assert facade.replace("shortened", rec(n=30), 1, rec(n=3)) is None
    wait(facade, 1.2)
    # An expired session is absent, whatever the stale row or key may hold.
    assert facade.replace("expired", rec(n=10), 60, rec(n=1)) == Refused(None)
    assert facade.replace("shortened", rec(n=31), 60, rec(n=30)) == Refused(None)
    assert facade.all() == {"renewed": rec(n=20)}


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ('{"a":1,"b":2}', '{"b":2,"a":1}'),
        ('{"a":1}', '{"a": 1}'),
        ('{"a":1}', ' {"a":1}'),
        ('{"e":"\u00e9"}', '{"e":"e\u0301"}'),
        ('{"e":"\u00e9"}', '{"e":"\\u00e9"}'),
        ('{"a":1}', '{"A":1}'),
    ],
    ids=["key order", "spacing", "leading space", "nfc-nfd", "escape", "case"],
)
def test_the_expected_record_must_match_exactly(facade: StoreFacade, stored: str, expected: str) -> None:
    # The same JSON value written differently is another record: a store
    # must compare the text, never a parsed or normalised form.
    facade.set("a", stored, 60)
    conflict = facade.replace("a", rec(n=2), 60, expected)
    assert conflict is not None and conflict.current is not None
    assert conflict.current.text == stored
    assert text_of(facade, "a") == stored


def test_a_replace_of_a_large_record(facade: StoreFacade) -> None:
    big = json.dumps({"blob": "ü€😀" * 100_000}, ensure_ascii=False)
    facade.set("big", big, 60)
    # One character different, in the middle: still another record.
    middle = len(big) // 2
    almost = big[:middle] + "x" + big[middle + 1 :]
    assert almost != big
    assert facade.replace("big", rec(n=1), 60, almost) is not None
    assert text_of(facade, "big") == big
    assert facade.replace("big", rec(n=1), 60, big) is None
    assert facade.replace("big", big, 60, rec(n=1)) is None
    assert text_of(facade, "big") == big


def test_fifty_parallel_read_modify_replace_loops_lose_nothing(facade: StoreFacade) -> None:
    # 50 requests of one session, each adding its own key: a read, a change,
    # a compare-and-set; on a conflict, the change again on the fresher
    # record. However the store interleaves them, no key may be lost.
    threads = 50
    facade.set("shared", rec(), 600)
    start = threading.Barrier(threads, timeout=30)

    def worker(i: int) -> None:
        start.wait()
        got = facade.get("shared")
        for _ in range(10_000):
            assert got is not None, "the session vanished"
            data = json.loads(got.text)
            data[f"k{i}"] = i
            changed = json.dumps(data, separators=(",", ":"))
            conflict = facade.replace("shared", changed, 600, got.text)
            if conflict is None:
                return
            got = conflict.current
        raise AssertionError(f"worker {i} never got its write in")

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(worker, i) for i in range(threads)]:
            future.result()
    final = text_of(facade, "shared")
    assert final is not None
    data = json.loads(final)
    assert data.pop("cookie") is not None
    assert data == {f"k{i}": i for i in range(threads)}
