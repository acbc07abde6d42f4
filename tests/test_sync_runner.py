# sansio_session.sync: the one store call each action stands for, and the
# cheap test of a result that drivers make on every call.
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sansio_session import Conflict, Destroy, Load, MemoryStore, Save, StoredRecord, Touch
from sansio_session.sync import is_plain_result, run_action


class Calls:
    """A store that records each call, with a per-user index (sessions_of)."""

    blocking = False

    def __init__(self, *, indexed: bool) -> None:
        self.calls: list[tuple[Any, ...]] = []
        if indexed:
            self.sessions_of = lambda user: []

    def get(self, sid: str) -> None:
        self.calls.append(("get", sid))

    def set(self, sid: str, record: str, ttl: int, **kw: Any) -> None:
        self.calls.append(("set", sid, record, ttl, kw))

    def replace(self, sid: str, record: str, ttl: int, expected: str, **kw: Any) -> None:
        self.calls.append(("replace", sid, record, ttl, expected, kw))

    def touch(self, sid: str, ttl: int, **kw: Any) -> None:
        self.calls.append(("touch", sid, ttl, kw))

    def destroy(self, sid: str, **kw: Any) -> None:
        self.calls.append(("destroy", sid, kw))


ACTIONS = [
    Load(sid="a"),
    Save(sid="a", record="{}", ttl=5),
    Save(sid="a", record="{}", ttl=5, expected="old"),
    Touch(sid="a", ttl=5, encode=lambda: "{}"),
    Destroy(sid="a"),
]


@pytest.mark.parametrize("indexed", [False, True])
def test_each_action_is_one_call(indexed: bool) -> None:
    store = Calls(indexed=indexed)
    for action in ACTIONS:
        run_action(store, action)
    assert store.calls == [
        ("get", "a"),
        ("set", "a", "{}", 5, {}),
        ("replace", "a", "{}", 5, "old", {}),
        ("touch", "a", 5, {}),
        ("destroy", "a", {}),
    ]


@pytest.mark.parametrize("indexed", [False, True])
def test_a_bound_user_goes_only_to_stores_that_index_users(indexed: bool) -> None:
    store = Calls(indexed=indexed)
    for action in (
        Save(sid="a", record="{}", ttl=5, user="ann"),
        Save(sid="a", record="{}", ttl=5, expected="old", user="ann"),
        Touch(sid="a", ttl=5, encode=lambda: "{}", user="ann"),
        Destroy(sid="a", user="ann"),
    ):
        run_action(store, action)
    kw = {"user": "ann"} if indexed else {}
    assert store.calls == [
        ("set", "a", "{}", 5, kw),
        ("replace", "a", "{}", 5, "old", kw),
        ("touch", "a", 5, kw),
        ("destroy", "a", kw),
    ]


def test_a_store_without_replace_gets_a_plain_set() -> None:
    class NoReplace:
        def __init__(self) -> None:
            self.calls: list[tuple[Any, ...]] = []

        def set(self, sid: str, record: str, ttl: int) -> None:
            self.calls.append(("set", sid, record, ttl))

    store = NoReplace()
    run_action(store, Save(sid="a", record="{}", ttl=5, expected="old"))
    assert store.calls == [("set", "a", "{}", 5)]


def test_not_an_action_is_refused() -> None:
    with pytest.raises(TypeError, match="not a store action"):
        run_action(MemoryStore(), object())  # type: ignore[arg-type]


def test_plain_results_and_the_rest() -> None:
    for plain in (None, StoredRecord("{}", 1.0), "{}", Conflict(None), True, 3):
        assert is_plain_result(plain)

    async def coroutine() -> None:
        pass

    pending = coroutine()
    future: Any = asyncio.Future(loop=asyncio.new_event_loop())
    for other in (pending, future, [1], object()):
        assert not is_plain_result(other)
    pending.close()
    future.get_loop().close()
