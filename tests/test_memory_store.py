# MemoryStore: expiry against the time it is given, pruning, and copies.
from __future__ import annotations

import json

import pytest
from helpers import NOW, Clock, drive, make_id, options, signed_cookie

from sansio_session import Store, StoredRecord
from sansio_session.memory import MemoryStore

SID = make_id(1)


def test_is_a_store_and_does_not_block() -> None:
    store = MemoryStore()
    assert isinstance(store, Store)
    assert store.blocking is False


def test_get_reports_the_expiry_it_keeps() -> None:
    store = MemoryStore(clock=Clock())
    store.set(SID, "{}", 60)
    assert store.get(SID) == StoredRecord("{}", NOW + 60)


def test_expiry_against_the_passed_now() -> None:
    store = MemoryStore(clock=lambda: pytest.fail("the clock is not read when now is passed"))
    store.set(SID, "{}", 60, now=100.0)
    assert store.get(SID, now=159.9) == StoredRecord("{}", 160.0)
    assert store.get(SID, now=160.0) is None  # expired exactly at its expiry
    assert store.get(SID, now=100.0) is None  # and pruned when read


def test_expiry_against_the_clock() -> None:
    clock = Clock(0.0)
    store = MemoryStore(clock=clock)
    store.set(SID, "{}", 10)
    clock.now = 9.0
    assert store.get(SID) is not None
    clock.now = 10.0
    assert store.get(SID) is None


def test_set_replaces_and_restarts_the_expiry() -> None:
    store = MemoryStore()
    store.set(SID, "a", 10, now=0.0)
    store.set(SID, "b", 10, now=5.0)
    assert store.get(SID, now=14.0) == StoredRecord("b", 15.0)


@pytest.mark.parametrize("ttl", [0, -5])
def test_set_with_no_time_left_removes(ttl: int) -> None:
    store = MemoryStore()
    store.set(SID, "a", 10, now=0.0)
    store.set(SID, "b", ttl, now=1.0)
    assert store.get(SID, now=1.0) is None


def test_set_takes_text_only() -> None:
    with pytest.raises(TypeError):
        MemoryStore().set(SID, {"cookie": {}}, 10, now=0.0)  # type: ignore[arg-type]


def test_touch_moves_only_the_expiry() -> None:
    store = MemoryStore()
    store.set(SID, "stored", 10, now=0.0)
    store.touch(SID, 30, now=5.0)
    assert store.get(SID, now=20.0) == StoredRecord("stored", 35.0)


def test_touch_of_a_missing_or_expired_record_does_nothing() -> None:
    store = MemoryStore()
    store.touch(SID, 30, now=0.0)
    assert store.get(SID, now=0.0) is None
    store.set(SID, "x", 10, now=0.0)
    store.touch(SID, 30, now=10.0)
    assert store.get(SID, now=10.0) is None


def test_touch_with_no_time_left_removes() -> None:
    store = MemoryStore()
    store.set(SID, "x", 10, now=0.0)
    store.touch(SID, 0, now=1.0)
    assert store.get(SID, now=1.0) is None


def test_destroy_and_destroy_again() -> None:
    store = MemoryStore()
    store.set(SID, "x", 10, now=0.0)
    store.destroy(SID)
    store.destroy(SID)
    assert store.get(SID, now=0.0) is None


def test_all_length_clear_and_close() -> None:
    store = MemoryStore()
    store.set(make_id(1), "a", 10, now=0.0)
    store.set(make_id(2), "b", 20, now=0.0)
    assert store.all(now=5.0) == {make_id(1): "a", make_id(2): "b"}
    assert store.length(now=15.0) == 1
    assert store.all(now=15.0) == {make_id(2): "b"}
    store.clear()
    assert store.length(now=0.0) == 0
    store.close()


def test_prune_counts_what_it_dropped() -> None:
    store = MemoryStore()
    for n in range(5):
        store.set(make_id(n), "x", 10 + n, now=0.0)
    assert store.prune(now=12.0) == 3
    assert store.prune(now=12.0) == 0
    assert store.length(now=12.0) == 2


def test_writes_sweep_expired_entries() -> None:
    # A flood of one-off sessions cannot grow the dict without bound: every
    # `sweep_every` writes, the expired ones go.
    store = MemoryStore(sweep_every=5)
    for n in range(3):
        store.set(make_id(n), "x", 1, now=0.0)
    store.set(make_id(10), "x", 100, now=10.0)
    store.set(make_id(11), "x", 100, now=10.0)  # the fifth write: a sweep
    assert store.prune(now=10.0) == 0
    assert store.length(now=10.0) == 2


def test_without_a_sweep_expired_entries_wait_for_prune() -> None:
    store = MemoryStore(sweep_every=1000)
    for n in range(3):
        store.set(make_id(n), "x", 1, now=0.0)
    store.set(make_id(10), "x", 100, now=10.0)
    assert store.prune(now=10.0) == 3


# -- copies: what a handler holds never aliases what the store holds ----------------------


def test_handler_data_mutated_after_the_request_does_not_change_the_store() -> None:
    store = MemoryStore(clock=Clock())
    kept: list[list[int]] = []

    def handler(session: object) -> None:
        cart = [1]
        session["cart"] = cart  # type: ignore[index]
        kept.append(cart)

    drive(options(), None, handler, store)
    kept[0].append(2)
    assert json.loads(store.all()[SID])["cart"] == [1]


def test_loaded_data_is_a_fresh_copy_each_time() -> None:
    store = MemoryStore(clock=Clock())
    drive(options(), None, lambda s: s.update(cart=[1]), store)
    first = drive(options(), signed_cookie(SID), lambda s: s["cart"], store).value
    first.append("mutated outside the session")
    second = drive(options(), signed_cookie(SID), lambda s: s["cart"], store).value
    assert second == [1]


def test_unsaved_changes_never_reach_the_store() -> None:
    store = MemoryStore(clock=Clock())
    drive(options(), None, lambda s: s.update(cart=[1]), store)
    before = store.all()
    drive(
        options(unset="keep"), signed_cookie(SID), [lambda s: s["cart"].append(2), lambda s: s.unset()], store
    )
    assert store.all() == before
