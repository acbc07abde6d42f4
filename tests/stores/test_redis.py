# The Redis store's sans-IO side: commands, RESP framing, reply matching,
# the SCAN walks, the URL and the backoff (the scripts' commands are in
# test_redis_scripts.py). No server: replies are written out as RESP bytes
# here.
from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_session import ConfigError, StoredRecord, StoreError
from sansio_session.redis import (
    Op,
    RedisCommands,
    RedisProtocol,
    RedisReplyError,
)

KEY = b"sess:abc"


def bulk(value: bytes | None) -> bytes:
    return b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value)


def array(*items: bytes) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(items)


def run(op: Op[Any], *replies: Any, now: float = 1000.0) -> Any:
    return op.parse(list(replies), now)


# -- commands ---------------------------------------------------------------


def test_get_is_get_and_pttl_in_one_go() -> None:
    assert RedisCommands().get("abc").commands == ((b"GET", KEY), (b"PTTL", KEY))


def test_set_is_connect_redis_set_ex() -> None:
    op = RedisCommands().set("abc", '{"cookie":{}}', 60)
    assert op.commands == ((b"SET", KEY, b'{"cookie":{}}', b"EX", 60),)
    assert run(op, b"OK") is None


@pytest.mark.parametrize("ttl", [0, -5])
def test_set_with_no_time_left_is_del(ttl: int) -> None:
    assert RedisCommands().set("abc", "{}", ttl).commands == ((b"DEL", KEY),)


@pytest.mark.parametrize("ttl", [3600, 0])
def test_touch_is_expire_only(ttl: int) -> None:
    # The record is not sent at all: a touch never rewrites the data.
    assert RedisCommands().touch("abc", ttl).commands == ((b"EXPIRE", KEY, ttl),)


def test_destroy_is_del() -> None:
    assert RedisCommands().destroy("abc").commands == ((b"DEL", KEY),)


def test_the_prefix_is_configurable() -> None:
    commands = RedisCommands("app1:")
    assert commands.prefix == "app1:"
    assert commands.destroy("abc").commands == ((b"DEL", b"app1:abc"),)


def test_records_go_out_as_utf8() -> None:
    op = RedisCommands().set("abc", '{"s":"ü😀"}', 5)
    assert op.commands[0][2] == '{"s":"ü😀"}'.encode()


def test_a_record_that_is_not_unicode_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        RedisCommands().set("abc", '{"s":"\ud800"}', 5)


@pytest.mark.parametrize(("record", "ttl"), [(b"{}", 5), ("{}", 5.0), ("{}", "5")])
def test_set_checks_its_argument_types(record: Any, ttl: Any) -> None:
    with pytest.raises(TypeError):
        RedisCommands().set("abc", record, ttl)


@pytest.mark.parametrize("prefix", ["", None, b"sess:"])
def test_a_bad_prefix_is_a_config_error(prefix: Any) -> None:
    with pytest.raises(ConfigError):
        RedisCommands(prefix)


# -- ids --------------------------------------------------------------------


@pytest.mark.parametrize(
    "sid", ["*", "sess:*", "[a-z]?", "a\r\nDEL victim\r\n", "\t", "' OR 1=1", "../x", "ü😀"]
)
def test_a_hostile_id_is_only_ever_a_key_suffix(sid: str) -> None:
    key = b"sess:" + sid.encode("utf-8")
    assert RedisCommands().get(sid).commands == ((b"GET", key), (b"PTTL", key))
    # Length-prefixed on the wire: CR LF in an id cannot start a command.
    packed = RedisProtocol().send(RedisCommands().destroy(sid).commands, "t")
    assert packed == b"*2\r\n$3\r\nDEL\r\n" + bulk(key)


@pytest.mark.parametrize("sid", ["", "\ud800", None, b"abc", 7])
def test_ids_no_store_may_take_are_refused(sid: Any) -> None:
    commands = RedisCommands()
    for call in (
        lambda: commands.get(sid),
        lambda: commands.set(sid, "{}", 5),
        lambda: commands.touch(sid, 5),
        lambda: commands.destroy(sid),
    ):
        with pytest.raises(StoreError) as caught:
            call()
        assert caught.value.reason == "invalid session id"


# -- reading replies -------------------------------------------------------


def test_a_load_reports_the_expiry_from_pttl() -> None:
    op = RedisCommands().get("abc")
    assert run(op, b'{"n":1}', 5500, now=1000.0) == StoredRecord('{"n":1}', 1005.5)


def test_a_key_without_expiry_loads_without_one() -> None:
    assert run(RedisCommands().get("abc"), b"{}", -1) == StoredRecord("{}", None)


@pytest.mark.parametrize("pttl", [-2, 100])
def test_an_absent_key_loads_as_none(pttl: int) -> None:
    # -2 with a value: the key expired between the GET and the PTTL.
    assert run(RedisCommands().get("abc"), None, pttl) is None
    assert run(RedisCommands().get("abc"), b"{}", -2) is None


def test_bad_utf8_loads_as_node_reads_it() -> None:
    got = run(RedisCommands().get("abc"), b'{"s":"\xff"}', 10)
    assert got.text == '{"s":"\ufffd"}'


def test_an_error_reply_is_raised_by_parse() -> None:
    error = RedisReplyError("WRONGTYPE Operation against a key holding the wrong kind of value")
    with pytest.raises(RedisReplyError, match="WRONGTYPE"):
        run(RedisCommands().get("abc"), error, 10)
    assert isinstance(error, StoreError)


# -- framing and pipelining -------------------------------------------------


def test_send_packs_with_hiredis() -> None:
    protocol = RedisProtocol()
    data = protocol.send(((b"GET", b"k"), (b"EXPIRE", b"k", 60)), "t")
    assert data == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$6\r\nEXPIRE\r\n$1\r\nk\r\n$2\r\n60\r\n"
    assert protocol.pending == 1
    with pytest.raises(ValueError):
        protocol.send((), "empty")


# Three calls in flight: a load (2 replies), a save, a touch that fails.
PIPELINE = (
    bulk(b'{"n":1}')
    + b":1500\r\n"
    + b"+OK\r\n"
    + b"-NOAUTH Authentication required.\r\n"
    + array(b"$1\r\n0\r\n", array(bulk(b"sess:a"), bulk(b"sess:b")))
)


def pipelined() -> RedisProtocol:
    protocol = RedisProtocol()
    protocol.send(RedisCommands().get("a").commands, "load")
    protocol.send(RedisCommands().set("a", "{}", 5).commands, "save")
    protocol.send(RedisCommands().touch("a", 5).commands, "touch")
    scan = RedisCommands().length().next_op()
    assert scan is not None
    protocol.send(scan.commands, "scan")
    return protocol


@given(st.lists(st.integers(min_value=0, max_value=len(PIPELINE)), max_size=12))
def test_replies_match_calls_in_order_however_the_bytes_are_split(cuts: list[int]) -> None:
    protocol = pipelined()
    bounds = [0, *sorted(cuts), len(PIPELINE)]
    done: list[tuple[object, Any]] = []
    for start, end in itertools.pairwise(bounds):
        done += protocol.receive(PIPELINE[start:end])
    assert [token for token, _ in done] == ["load", "save", "touch", "scan"]
    outcomes = dict(done)
    assert outcomes["load"] == [b'{"n":1}', 1500]
    assert outcomes["save"] == [b"OK"]
    (error,) = outcomes["touch"]
    assert isinstance(error, RedisReplyError)
    assert str(error) == "NOAUTH Authentication required."
    assert outcomes["scan"] == [[b"0", [b"sess:a", b"sess:b"]]]
    assert protocol.pending == 0
    assert not protocol.broken


def test_an_error_reply_fails_only_its_own_call() -> None:
    protocol = pipelined()
    done: dict[object, Any] = dict(protocol.receive(PIPELINE))
    with pytest.raises(RedisReplyError):
        run(RedisCommands().touch("a", 5), *done["touch"])
    assert run(RedisCommands().get("a"), *done["load"]) == StoredRecord('{"n":1}', 1001.5)


def test_garbage_fails_every_pending_call_and_breaks_the_connection() -> None:
    protocol = pipelined()
    done = protocol.receive(bulk(b"{}") + b":1\r\n" + b"!!not resp\r\n")
    assert done[0] == ("load", [b"{}", 1])
    assert [token for token, _ in done[1:]] == ["save", "touch", "scan"]
    assert all(isinstance(outcome, StoreError) for _, outcome in done[1:])
    assert protocol.broken
    assert protocol.pending == 0
    assert protocol.receive(b"+OK\r\n") == []
    with pytest.raises(StoreError):
        protocol.send(((b"PING",),), "late")


def test_a_reply_to_no_command_breaks_the_connection() -> None:
    protocol = RedisProtocol()
    assert protocol.receive(b"+OK\r\n") == []
    assert protocol.broken


def test_a_lost_connection_fails_what_is_pending() -> None:
    protocol = pipelined()
    protocol.receive(bulk(None))  # half of the load's replies
    failed = protocol.lost()
    assert [token for token, _ in failed] == ["load", "save", "touch", "scan"]
    assert all(isinstance(error, StoreError) for _, error in failed)
    assert protocol.broken


# -- SCAN walks ----------------------------------------------------------------


def drive(walk: Any, answers: list[Any]) -> list[tuple[Any, ...]]:
    sent = []
    for answer in answers:
        op = walk.next_op()
        assert op is not None
        sent.append(op.commands)
        walk.feed(op.parse([answer], 0.0))
    assert walk.next_op() is None
    return sent


def test_all_scans_the_prefix_then_reads_the_keys() -> None:
    walk = RedisCommands().all()
    sent = drive(
        walk,
        [
            [b"17", [b"sess:b", b"sess:a"]],
            [b"0", [b"sess:a", b"sess:c", b"sess:\xff"]],  # SCAN may repeat a key
            [b"{}", None, b'{"n":3}', b"{}"],
        ],
    )
    assert sent == [
        ((b"SCAN", b"0", b"MATCH", b"sess:*", b"COUNT", 1000),),
        ((b"SCAN", b"17", b"MATCH", b"sess:*", b"COUNT", 1000),),
        ((b"MGET", b"sess:a", b"sess:b", b"sess:c", b"sess:\xff"),),
    ]
    # b expired since the scan; the non-UTF-8 key was not written by us.
    assert walk.result == {"a": "{}", "c": '{"n":3}'}


def test_glob_characters_in_the_prefix_are_matched_literally() -> None:
    op = RedisCommands("a*b?[c]\\:").length().next_op()
    assert op is not None
    assert op.commands[0][3] == b"a\\*b\\?\\[c\\]\\\\:*"


def test_length_counts_each_key_once() -> None:
    walk = RedisCommands().length()
    drive(walk, [[b"5", [b"sess:a", b"sess:b"]], [b"0", [b"sess:b"]]])
    assert walk.result == 2


def test_clear_deletes_in_batches() -> None:
    keys = [b"sess:%04d" % i for i in range(1500)]
    walk = RedisCommands().clear()
    sent = drive(walk, [[b"0", keys], 1000, 500, [b"0", []]])
    assert sent[1] == ((b"DEL", *keys[:1000]),)
    assert sent[2] == ((b"DEL", *keys[1000:]),)
    assert sent[3] == ((b"SCAN", b"0", b"MATCH", b"sessu:*", b"COUNT", 1000),)
    assert walk.result is None


def test_clearing_nothing_sends_no_del() -> None:
    walk = RedisCommands().clear()
    assert drive(walk, [[b"0", []], [b"0", []]]) == [
        ((b"SCAN", b"0", b"MATCH", b"sess:*", b"COUNT", 1000),),
        ((b"SCAN", b"0", b"MATCH", b"sessu:*", b"COUNT", 1000),),
    ]


def test_clear_also_deletes_the_user_indexes() -> None:
    walk = RedisCommands().clear()
    sent = drive(walk, [[b"0", [KEY]], 1, [b"0", [b"sessu:alice"]], 1])
    assert sent == [
        ((b"SCAN", b"0", b"MATCH", b"sess:*", b"COUNT", 1000),),
        ((b"DEL", KEY),),
        ((b"SCAN", b"0", b"MATCH", b"sessu:*", b"COUNT", 1000),),
        ((b"DEL", b"sessu:alice"),),
    ]


def test_a_walk_has_no_result_before_it_ends() -> None:
    with pytest.raises(RuntimeError):
        _ = RedisCommands().all().result
