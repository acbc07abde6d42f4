# The Redis store's scripts, sans-IO: what the compare-and-set save and the
# per-user index send (one EVAL each, or plain DEL/SREM) and how their
# replies read, and the index key layout. The scripts themselves run against
# a server in the conformance suite (test_store_replace.py,
# test_store_users.py) and test_redis_transports.py.
from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_session import ConfigError, Conflict, StoredRecord, StoreError
from sansio_session.redis import Op, RedisCommands, RedisReplyError

KEY = b"sess:abc"
USER_KEY = b"sessu:alice"


def run(op: Op[Any], *replies: Any, now: float = 1000.0) -> Any:
    return op.parse(list(replies), now)


def evaluated(op: Op[Any]) -> tuple[Any, ...]:
    # The one EVAL of an op, without the script's text.
    (command,) = op.commands
    assert command[0] == b"EVAL"
    assert isinstance(command[1], str)
    return tuple(command[2:])


@pytest.mark.parametrize(
    ("prefix", "user_prefix"),
    [("sess:", "sessu:"), ("app:sess:", "app:sessu:"), ("x", "ux"), ("menu", "menvu"), ("u", "vu")],
)
def test_the_user_prefix_is_derived_from_the_prefix(prefix: str, user_prefix: str) -> None:
    assert RedisCommands(prefix).user_prefix == user_prefix


@given(st.text(st.characters(exclude_categories=["Cs"]), min_size=1))
def test_no_session_key_is_ever_a_derived_index_key(prefix: str) -> None:
    commands = RedisCommands(prefix)
    sessions, users = commands.prefix.encode(), commands.user_prefix.encode()
    assert not sessions.startswith(users)
    assert not users.startswith(sessions)


@pytest.mark.parametrize("user_prefix", ["sess:", "sess:u:", "se", "", b"sessu:", "\ud800"])
def test_a_user_prefix_that_meets_the_prefix_is_a_config_error(user_prefix: Any) -> None:
    with pytest.raises(ConfigError, match="user_prefix"):
        RedisCommands("sess:", user_prefix)


def test_an_explicit_user_prefix() -> None:
    commands = RedisCommands("sess:", "idx:")
    assert commands.user_key("alice") == b"idx:alice"
    assert evaluated(commands.sessions_of("alice")) == (1, b"idx:alice", b"sess:")


def test_a_bound_set_is_one_eval() -> None:
    op = RedisCommands().set("abc", '{"n":1}', 60, user="alice")
    assert evaluated(op) == (2, KEY, USER_KEY, b'{"n":1}', 60, b"abc")
    assert run(op, 1) is None


@pytest.mark.parametrize("ttl", [0, -5])
def test_a_bound_set_with_no_time_left_is_del_and_srem(ttl: int) -> None:
    op = RedisCommands().set("abc", "{}", ttl, user="alice")
    assert op.commands == ((b"DEL", KEY), (b"SREM", USER_KEY, b"abc"))


def test_a_bound_destroy_is_del_and_srem() -> None:
    op = RedisCommands().destroy("abc", user="alice")
    assert op.commands == ((b"DEL", KEY), (b"SREM", USER_KEY, b"abc"))
    assert run(op, 1, 1) is None


def test_a_bound_touch_is_one_eval() -> None:
    assert evaluated(RedisCommands().touch("abc", 60, user="alice")) == (2, KEY, USER_KEY, 60, b"abc")


def test_replace_sends_the_sha1_of_the_expected_record() -> None:
    digest = hashlib.sha1(b'{"n":"\xc3\xbc"}').hexdigest()
    op = RedisCommands().replace("abc", '{"n":2}', 60, '{"n":"ü"}')
    assert evaluated(op) == (1, KEY, digest, b'{"n":2}', 60, b"abc")
    bound = RedisCommands().replace("abc", '{"n":2}', 60, '{"n":"ü"}', user="alice")
    assert evaluated(bound) == (2, KEY, USER_KEY, digest, b'{"n":2}', 60, b"abc")


def test_a_replace_with_no_time_left_sends_no_record() -> None:
    op = RedisCommands().replace("abc", '{"n":2}', 0, "{}")
    assert evaluated(op)[3:] == (b"", 0, b"abc")


def test_an_expected_record_that_is_not_unicode_matches_nothing() -> None:
    op = RedisCommands().replace("abc", "{}", 60, '{"s":"\ud800"}')
    assert evaluated(op)[2] == "-"


def test_the_replies_of_replace() -> None:
    op = RedisCommands().replace("abc", "{}", 60, "{}")
    assert run(op, 1) is None
    assert run(op, None) == Conflict(None)
    assert run(op, [b'{"n":3}', 1500], now=1000.0) == Conflict(StoredRecord('{"n":3}', 1001.5))
    assert run(op, [b'{"s":"\xff"}', -1]) == Conflict(StoredRecord('{"s":"\ufffd"}', None))
    with pytest.raises(RedisReplyError):
        run(op, RedisReplyError("WRONGTYPE Operation against a key holding the wrong kind of value"))


def test_sessions_of_and_destroy_all_are_one_eval_on_the_index() -> None:
    listing = RedisCommands().sessions_of("alice")
    assert evaluated(listing) == (1, USER_KEY, b"sess:")
    assert run(listing, [b"b", b"\xff", b"a"]) == ["a", "b"]
    ending = RedisCommands().destroy_all("alice")
    assert evaluated(ending) == (1, USER_KEY, b"sess:")
    assert run(ending, 3) == 3


@pytest.mark.parametrize("user", ["", "\ud800", b"alice", 7])
def test_user_ids_no_store_may_take_are_refused(user: Any) -> None:
    commands = RedisCommands()
    for call in (
        lambda: commands.set("abc", "{}", 5, user=user),
        lambda: commands.replace("abc", "{}", 5, "{}", user=user),
        lambda: commands.touch("abc", 5, user=user),
        lambda: commands.destroy("abc", user=user),
        lambda: commands.sessions_of(user),
        lambda: commands.destroy_all(user),
    ):
        with pytest.raises(StoreError) as caught:
            call()
        assert caught.value.reason == "invalid user id"


@pytest.mark.parametrize("user", ["*", "sess:*", "a\r\nDEL victim\r\n", "' OR 1=1", "ü😀"])
def test_a_hostile_user_id_is_only_ever_a_key_suffix(user: str) -> None:
    assert RedisCommands().user_key(user) == b"sessu:" + user.encode("utf-8")
