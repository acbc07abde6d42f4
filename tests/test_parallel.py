"""Parallel requests of one session lose nothing (compare-and-set saves)."""

from __future__ import annotations

import json

from helpers import options

from sansio_session import Conflict, MemoryStore, Save, SessionMachine
from sansio_session.sync import run_request

NOW = 1000.0


def _cookie(store: MemoryStore) -> str:
    result = run_request(options(), store, lambda s: s.__setitem__("start", 1), now=NOW)
    assert result.set_cookie is not None
    return result.set_cookie.split(";", 1)[0]


def _begin(store: MemoryStore, cookie: str) -> SessionMachine:
    machine = SessionMachine(options())
    load = machine.begin(cookie, now=NOW)
    assert load is not None
    machine.store_done(load, store.get(load.sid, now=NOW))
    return machine


def _commit(machine: SessionMachine, store: MemoryStore) -> list[object]:
    results = []
    action = machine.commit(NOW)
    while action is not None:
        assert isinstance(action, Save)
        result = store.replace(action.sid, action.record, action.ttl, action.expected, now=NOW)  # type: ignore[arg-type]
        results.append(result)
        action = machine.store_done(action, result)
    return results


def _data(store: MemoryStore) -> dict[str, object]:
    [text] = store.all(now=NOW).values()
    record = json.loads(text)
    record.pop("cookie")
    return record


def test_two_interleaved_writers_both_keep_their_key() -> None:
    store = MemoryStore(clock=lambda: NOW)
    cookie = _cookie(store)
    first, second = _begin(store, cookie), _begin(store, cookie)
    assert first.session is not None and second.session is not None
    first.session["a"] = 1
    second.session["b"] = 2
    assert _commit(first, store) == [None]
    outcomes = _commit(second, store)
    assert isinstance(outcomes[0], Conflict) and outcomes[1:] == [None]
    assert _data(store) == {"start": 1, "a": 1, "b": 2}


def test_a_merge_applies_only_the_keys_this_request_changed() -> None:
    store = MemoryStore(clock=lambda: NOW)
    cookie = _cookie(store)
    first, second = _begin(store, cookie), _begin(store, cookie)
    assert first.session is not None and second.session is not None
    first.session["start"] = "changed by first"
    second.session["b"] = 2
    del second.session["start"]
    _commit(first, store)
    _commit(second, store)
    # second deleted "start" (a change of its own), and kept first's other work
    assert _data(store) == {"b": 2}


def test_a_logout_racing_a_slow_write_leaves_the_session_destroyed() -> None:
    store = MemoryStore(clock=lambda: NOW)
    cookie = _cookie(store)
    slow = _begin(store, cookie)
    assert slow.session is not None
    slow.session["late"] = True
    result = run_request(options(), store, lambda s: s.destroy(), cookie=cookie, now=NOW)
    assert result.set_cookie is not None and "Expires=Thu, 01 Jan 1970" in result.set_cookie
    assert isinstance(_commit(slow, store)[0], Conflict)
    assert store.all(now=NOW) == {}
    assert slow.set_cookie(NOW) is None
