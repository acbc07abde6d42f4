# The store conformance suite: every store, through its facade, over real
# connections. Each case is the store protocol of sansio_session/_store.py
# seen from outside; the store-specific cases (layouts, failures) are in
# test_sqlite_store.py and test_postgres_store.py; compare-and-set saves and
# the per-user index are in test_store_replace.py and test_store_users.py.
#
# Records are JSON text throughout, as the core writes them: PostgreSQL's
# json column accepts nothing else.
from __future__ import annotations

import functools
import random
import string
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from store_facades import StoreFacade, rec, text_of, wait

from sansio_session._errors import StoreError


def test_get_of_an_absent_id_is_none(facade: StoreFacade) -> None:
    assert facade.get("absent") is None


def test_set_then_get(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 60)
    assert text_of(facade, "a") == rec(n=1)


def test_get_reports_the_stores_expiry(facade: StoreFacade) -> None:
    before = facade.clock()
    facade.set("a", rec(n=1), 600)
    after = facade.clock()
    got = facade.get("a")
    assert got is not None
    if got.expires_at is not None:
        # Redis keeps whole seconds of TTL; a second either way is allowed.
        assert before + 599 <= got.expires_at <= after + 601


def test_set_replaces_the_record(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 60)
    facade.set("a", rec(n=2), 60)
    assert text_of(facade, "a") == rec(n=2)
    assert facade.length() == 1


@pytest.mark.parametrize("ttl", [0, -1])
def test_set_with_no_time_left_deletes(facade: StoreFacade, ttl: int) -> None:
    facade.set("a", rec(n=1), 60)
    facade.set("a", rec(n=2), ttl)
    facade.set("b", rec(n=3), ttl)
    assert facade.get("a") is None
    assert facade.get("b") is None
    assert facade.length() == 0


def test_touch_moves_the_expiry(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 60)
    before = facade.clock()
    facade.touch("a", 3600)
    got = facade.get("a")
    assert got is not None
    assert got.text == rec(n=1)
    if got.expires_at is not None:
        assert got.expires_at >= before + 3599


def test_touch_never_rewrites_the_data(facade: StoreFacade) -> None:
    # This request loaded n=1; a parallel one has saved n=2 since. This
    # request's touch must not put n=1 back.
    facade.set("a", rec(n=1), 60)
    facade.set("a", rec(n=2), 60)
    facade.touch("a", 120)
    assert text_of(facade, "a") == rec(n=2)


def test_touch_of_an_absent_id_creates_nothing(facade: StoreFacade) -> None:
    facade.touch("ghost", 60)
    assert facade.get("ghost") is None
    assert facade.length() == 0


def test_touch_with_no_time_left_ends_the_record(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 60)
    facade.touch("a", 0)
    assert facade.get("a") is None


def test_destroy(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 60)
    facade.set("b", rec(n=2), 60)
    facade.destroy("a")
    assert facade.get("a") is None
    assert text_of(facade, "b") == rec(n=2)


def test_destroy_of_an_absent_id_is_fine(facade: StoreFacade) -> None:
    facade.set("b", rec(n=2), 60)
    facade.destroy("never-there")
    facade.destroy("never-there")
    assert facade.all() == {"b": rec(n=2)}


def test_all_length_clear(facade: StoreFacade) -> None:
    assert facade.all() == {}
    assert facade.length() == 0
    expected = {f"id-{i}": rec(i=i) for i in range(5)}
    for sid, text in expected.items():
        facade.set(sid, text, 60)
    assert facade.all() == expected
    assert facade.length() == 5
    facade.clear()
    assert facade.all() == {}
    assert facade.length() == 0
    assert facade.get("id-0") is None


def test_expiry(facade: StoreFacade) -> None:
    # One wait for the whole case: a real-time store sleeps just over a second.
    facade.set("short", rec(n=1), 1)
    facade.set("long", rec(n=2), 3600)
    facade.set("touched", rec(n=3), 1)
    facade.touch("touched", 3600)
    wait(facade, 1.2)
    assert facade.get("short") is None
    assert text_of(facade, "long") == rec(n=2)
    assert text_of(facade, "touched") == rec(n=3)
    assert facade.all() == {"long": rec(n=2), "touched": rec(n=3)}
    assert facade.length() == 2
    # An expired record is not brought back by a touch, and its id can be
    # used again.
    facade.touch("short", 3600)
    assert facade.get("short") is None
    assert facade.length() == 2
    facade.set("short", rec(n=4), 60)
    assert text_of(facade, "short") == rec(n=4)


def test_a_record_ends_exactly_at_its_expiry(facade: StoreFacade) -> None:
    if facade.advance is None:
        pytest.skip("needs a store whose clock the test can move")
    facade.set("a", rec(n=1), 10)
    facade.advance(9.5)
    assert text_of(facade, "a") == rec(n=1)
    facade.advance(0.5)
    assert facade.get("a") is None
    assert facade.length() == 0


@functools.cache
def large_record() -> str:
    rng = random.Random(6)
    return rec(blob="".join(rng.choices(string.ascii_letters + "ü€😀", k=1 << 20)))


def test_a_large_record(facade: StoreFacade) -> None:
    text = large_record()
    assert len(text.encode("utf-8")) > 1 << 20
    facade.set("big", text, 60)
    assert text_of(facade, "big") == text
    facade.touch("big", 60)
    assert text_of(facade, "big") == text


def test_concurrent_use_from_many_threads(facade: StoreFacade) -> None:
    threads, rounds = 50, 20
    start = threading.Barrier(threads, timeout=30)
    shared_values = {rec(i=i, j=j) for i in range(threads) for j in range(rounds)}

    def worker(i: int) -> None:
        own = f"thread-{i}"
        start.wait()
        last: str | None = None
        for j in range(rounds):
            match j % 4:
                case 0:
                    last = rec(i=i, j=j)
                    facade.set(own, last, 60)
                case 1:
                    assert text_of(facade, own) == last
                case 2:
                    facade.touch(own, 60)
                    assert text_of(facade, own) == last
                case _:
                    facade.set("shared", rec(i=i, j=j), 60)

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(worker, i) for i in range(threads)]:
            future.result()
    stored = facade.all()
    assert stored.pop("shared") in shared_values
    assert stored == {f"thread-{i}": rec(i=i, j=16) for i in range(threads)}


HOSTILE_IDS = [
    "'",
    '"',
    "' OR '1'='1",
    '"; DROP TABLE session; --',
    "'); DELETE FROM sessions; --",
    "%",
    "%s",
    "%(sid)s",
    "{}",
    "{0}",
    "*",
    "?",
    "[",
    "[a-z]*",
    "\\",
    "../../etc/passwd",
    "..\\..\\boot.ini",
    "/",
    "sess:*",
    "a\r\nDEL victim\r\n",
    " ",
    "\t",
    "ünïcødé-😀",
    "\u202egnp.exe",
    "'\"%*?[../\\" * 410,  # 4 KB of quotes and wildcards
]


@pytest.mark.parametrize("sid", HOSTILE_IDS, ids=range(len(HOSTILE_IDS)))
def test_a_hostile_id_is_just_a_key(facade: StoreFacade, sid: str) -> None:
    facade.set("victim", rec(victim=True), 60)
    facade.set(sid, rec(sid=sid), 60)
    assert text_of(facade, sid) == rec(sid=sid)
    assert facade.all() == {"victim": rec(victim=True), sid: rec(sid=sid)}
    assert facade.length() == 2
    facade.touch(sid, 120)
    assert text_of(facade, sid) == rec(sid=sid)
    facade.destroy(sid)
    assert facade.get(sid) is None
    assert facade.all() == {"victim": rec(victim=True)}


@pytest.mark.parametrize("pattern", ["a%", "a_c", "a*", "a?c", "[a]bc", "ABC", "abc ", " abc"])
def test_ids_match_only_exactly(facade: StoreFacade, pattern: str) -> None:
    facade.set("abc", rec(n=1), 60)
    assert facade.get(pattern) is None
    facade.touch(pattern, 60)
    facade.destroy(pattern)
    assert facade.all() == {"abc": rec(n=1)}


def test_a_4kb_random_id(facade: StoreFacade) -> None:
    rng = random.Random(4)
    sid = "".join(rng.choice(string.printable) for _ in range(4096))
    facade.set("victim", rec(victim=True), 60)
    if facade.long_ids:
        facade.set(sid, rec(n=1), 60)
        assert text_of(facade, sid) == rec(n=1)
        facade.destroy(sid)
    else:
        with pytest.raises(StoreError):
            facade.set(sid, rec(n=1), 60)
    assert facade.get(sid) is None
    assert facade.all() == {"victim": rec(victim=True)}


UNICODE_RECORDS = {
    "scripts": '{"s":"ünïcødé ✓ 中文 العربية עברית हिन्दी"}',
    "astral": '{"s":"😀 𝄞 👩‍👩‍👧 🇫🇷"}',
    "nfc": '{"e":"\u00e9"}',
    "nfd": '{"e":"e\u0301"}',
    "escapes": '{"s":"\\u0000 \\ud83d\\ude00 \\n \\" \\\\ \\/"}',
    "separators": '{"s":"\u2028\u2029\ufeff\ufffd\U0010ffff"}',
    "spacing": ' {  "b" : 1 ,\n\t"a" : [ ] , "a" : null }\n',
}


def test_unicode_records_come_back_byte_for_byte(facade: StoreFacade) -> None:
    for sid, text in UNICODE_RECORDS.items():
        facade.set(sid, text, 60)
    for sid, text in UNICODE_RECORDS.items():
        got = text_of(facade, sid)
        assert got is not None
        assert got.encode("utf-8") == text.encode("utf-8"), sid
    assert facade.all() == UNICODE_RECORDS
