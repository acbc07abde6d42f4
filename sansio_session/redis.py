# The Redis session store, without I/O.
#
# What lives here: the commands of each store operation and the reading of
# their replies (RedisCommands, Op, Walk). Beside it, and re-exported here:
# the RESP framing of one connection (RedisProtocol) and the schedule of
# reconnection attempts (Backoff) in _redis_connection.py, the Lua scripts in
# _redis_scripts.py, the redis:// URL in _redis_url.py. What must not: sockets,
# timers, tasks, clocks. Each driver package carries a small transport
# (sansio_session_<x>.redis) that moves these bytes on its own framework's
# sockets, reads the clock and arms the timers.
#
# Theory of operation. A transport keeps one connection and, for it, one
# RedisProtocol. A store call is an Op: one or more commands sent back to
# back whose replies belong together (GET and PTTL for a load). The
# transport hands op.commands to protocol.send() with a token of its own (a
# future, a Deferred, an event) and writes the bytes it gets back. Redis
# answers the commands of a connection strictly in order, so the protocol
# matches replies to tokens first in, first out: receive(data) returns each
# token with its replies as soon as the last of them is in, however the bytes
# were split, and any number of calls can be in flight at once. The
# transport resolves the token, and the caller turns the replies into the
# result with op.parse(replies, now), which raises an error reply (WRONGTYPE,
# NOAUTH, ...) as a RedisReplyError. Bytes that break the framing, or a lost
# connection, fail every pending token with a StoreError; the transport
# drops that connection and the next call opens a new one.
#
# Keys and values are connect-redis's (9.x, defaults), so that a Node app on
# express-session shares the sessions: key "sess:<id>", value the record's
# JSON as the core wrote it, SET ... EX <ttl>, touch as EXPIRE only (the
# stored JSON is never rewritten), destroy as DEL. all/length/clear walk the
# prefix with SCAN, never KEYS, which would block the server. What connect-
# redis has not (a compare-and-set save, the per-user index under
# "sessu:<user>") is one Lua script per call, in _redis_scripts.py.
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from . import _redis_scripts as lua
from ._errors import ConfigError, StoreError
from ._redis_connection import Arg, Backoff, Command, RedisProtocol, RedisReplyError, check_timeout
from ._redis_url import RedisURL, parse_redis_url
from ._store import Conflict, StoredRecord

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_TIMEOUT",
    "Backoff",
    "Command",
    "Op",
    "RedisCommands",
    "RedisProtocol",
    "RedisReplyError",
    "RedisURL",
    "Walk",
    "check_timeout",
    "ignore_replies",
    "parse_redis_url",
]

#: The key prefix of connect-redis.
DEFAULT_PREFIX = "sess:"
#: Seconds a store call may take, connecting included, before it fails.
DEFAULT_TIMEOUT = 2.0

T = TypeVar("T")

# How many keys SCAN is asked for per step, and how many keys one MGET or
# DEL carries: big enough to need few round trips, small enough not to stall
# the server on any one of them.
_BATCH = 1000
_GLOB = re.compile(r"([\\*?\[\]])")


@dataclass(frozen=True, slots=True)
class Op(Generic[T]):
    """Commands sent in one go, and how their replies become the result.

    ``parse(replies, now)`` takes the replies in command order and the
    transport's clock reading (POSIX seconds) when they arrived.
    """

    commands: tuple[Command, ...]
    parse: Callable[[list[Any], float], T]


class Walk(Generic[T]):
    """A store operation that takes several round trips (all, length, clear).

    The transport loops: ``while (op := walk.next_op()) is not None:
    walk.feed(<result of op>)``, then reads :attr:`result`.
    """

    def __init__(self, steps: Generator[Op[Any], Any, T]) -> None:
        self._steps = steps
        self._next: Op[Any] | None = next(steps)
        self._result: T | None = None

    def next_op(self) -> Op[Any] | None:
        return self._next

    def feed(self, result: Any) -> None:
        try:
            self._next = self._steps.send(result)
        except StopIteration as stop:
            self._next = None
            self._result = stop.value

    @property
    def result(self) -> T:
        if self._next is not None:
            raise RuntimeError("the walk is not finished")
        return self._result  # type: ignore[return-value]


def _checked(replies: list[Any]) -> list[Any]:
    for reply in replies:
        if isinstance(reply, RedisReplyError):
            raise reply
    return replies


def ignore_replies(replies: list[Any], now: float) -> None:
    """An Op's parse for commands whose replies only need to be not errors."""
    _checked(replies)


def _load(replies: list[Any], now: float) -> StoredRecord | None:
    value, pttl = _checked(replies)
    # PTTL is -2 when the key went away between the two commands and -1 when
    # it has no expiry (written by something that is not a session store).
    if value is None or pttl == -2:
        return None
    # Node's Buffer decoding replaces bad UTF-8 the same way, so a record
    # someone else broke reads here as it does in connect-redis.
    text = value.decode("utf-8", "replace")
    return StoredRecord(text, None if pttl < 0 else now + pttl / 1000)


class RedisCommands:
    """The commands of the session store operations, under key prefixes.

    A session is at ``prefix + id``; the index of a user's sessions (a set)
    at ``user_prefix + user``. ``user_prefix`` defaults to one derived from
    ``prefix`` (``sessu:`` for ``sess:``) and must never start a session key,
    nor ``prefix`` an index key. Every method checks its ids and returns an
    :class:`Op` (or a :class:`Walk`) to run; none does I/O.
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX, user_prefix: str | None = None) -> None:
        self._prefix = _encoded_prefix("redis prefix", prefix)
        if user_prefix is None:
            user_prefix = lua.derived_user_prefix(prefix)
        self._user_prefix = _encoded_prefix("redis user_prefix", user_prefix)
        if self._user_prefix.startswith(self._prefix) or self._prefix.startswith(self._user_prefix):
            # Else a session id could name an index, or clear() delete one.
            raise ConfigError("redis user_prefix: must not start with the prefix, nor the prefix with it")
        self._pattern = _glob(prefix)
        self._user_pattern = _glob(user_prefix)

    @property
    def prefix(self) -> str:
        return self._prefix.decode("utf-8")

    @property
    def user_prefix(self) -> str:
        return self._user_prefix.decode("utf-8")

    def key(self, sid: str) -> bytes:
        """The key of ``sid``; raises StoreError for an id no store may take.

        An id is only ever a key suffix, and RESP is length-prefixed, so any
        text is safe on the wire: quotes, glob characters, CR LF are just
        bytes of the key. Refused are the empty id (the prefix alone is no
        session's key) and text that is not valid Unicode (lone surrogates),
        which has no UTF-8 form to put on the wire.
        """
        return self._prefix + _suffix(sid, "session id")

    def user_key(self, user: str) -> bytes:
        """The key of ``user``'s index; refuses what :meth:`key` refuses."""
        return self._user_prefix + _suffix(user, "user id")

    def get(self, sid: str) -> Op[StoredRecord | None]:
        key = self.key(sid)
        return Op(((b"GET", key), (b"PTTL", key)), _load)

    def set(self, sid: str, record: str, ttl: int, *, user: str | None = None) -> Op[None]:
        """SET EX; for a session bound to ``user``, also add it to the index."""
        key = self.key(sid)
        index = None if user is None else self.user_key(user)
        _check_record(record, ttl)
        if ttl <= 0:
            return self._forget(key, index)
        value = _utf8(record)
        if index is None:
            return Op(((b"SET", key, value, b"EX", ttl),), ignore_replies)
        return _eval(lua.BIND, (key, index), (value, ttl, self._sid(key)), _ignore)

    def replace(
        self, sid: str, record: str, ttl: int, expected: str, *, user: str | None = None
    ) -> Op[Conflict | None]:
        """Store ``record`` only if the session holds exactly ``expected``."""
        key = self.key(sid)
        index = None if user is None else self.user_key(user)
        _check_record(record, ttl)
        if not isinstance(expected, str):
            raise TypeError("the expected record is JSON text (str)")
        try:
            digest = hashlib.sha1(expected.encode("utf-8"), usedforsecurity=False).hexdigest()
        except UnicodeEncodeError:
            # No stored bytes decode to it: a digest that matches nothing,
            # so the reply is the conflict with whatever is there.
            digest = "-"
        value = _utf8(record) if ttl > 0 else b""
        keys = (key,) if index is None else (key, index)
        return _eval(lua.REPLACE, keys, (digest, value, ttl, self._sid(key)), lua.parse_replace)

    def touch(self, sid: str, ttl: int, *, user: str | None = None) -> Op[None]:
        """EXPIRE only; for a session bound to ``user``, the index follows."""
        # EXPIRE with ttl <= 0 deletes the key, as a touch past the cookie's
        # expiry should; an absent key is left absent.
        key = self.key(sid)
        index = None if user is None else self.user_key(user)
        if not isinstance(ttl, int):
            raise TypeError("ttl is whole seconds (int)")
        if index is None:
            return Op(((b"EXPIRE", key, ttl),), ignore_replies)
        return _eval(lua.TOUCH_BOUND, (key, index), (ttl, self._sid(key)), _ignore)

    def destroy(self, sid: str, *, user: str | None = None) -> Op[None]:
        """DEL; for a session bound to ``user``, also SREM it from the index."""
        key = self.key(sid)
        return self._forget(key, None if user is None else self.user_key(user))

    def sessions_of(self, user: str) -> Op[list[str]]:
        """The ids of ``user``'s live sessions, sorted; drops the ended ones."""
        return _eval(lua.SESSIONS_OF, (self.user_key(user),), (self._prefix,), _sids)

    def destroy_all(self, user: str) -> Op[int]:
        """Delete every session of ``user`` and the index; count the live ones."""
        return _eval(lua.DESTROY_ALL, (self.user_key(user),), (self._prefix,), _count)

    def all(self) -> Walk[dict[str, str]]:
        return Walk(self._all())

    def length(self) -> Walk[int]:
        return Walk(self._length())

    def clear(self) -> Walk[None]:
        """Delete every session and every user index under the prefixes."""
        return Walk(self._clear())

    def _sid(self, key: bytes) -> bytes:
        return key[len(self._prefix) :]

    def _forget(self, key: bytes, index: bytes | None) -> Op[None]:
        if index is None:
            return self._delete([key])
        return Op(((b"DEL", key), (b"SREM", index, self._sid(key))), ignore_replies)

    def _delete(self, keys: list[bytes]) -> Op[None]:
        return Op(((b"DEL", *keys),), ignore_replies)

    def _keys(self, pattern: bytes) -> Generator[Op[Any], Any, list[bytes]]:
        # SCAN may return a key more than once; the set makes each count once.
        seen: set[bytes] = set()
        cursor: bytes = b"0"
        while True:
            op = Op(((b"SCAN", cursor, b"MATCH", pattern, b"COUNT", _BATCH),), _scanned)
            cursor, keys = yield op
            seen.update(keys)
            if cursor == b"0":
                return sorted(seen)

    def _all(self) -> Generator[Op[Any], Any, dict[str, str]]:
        keys = yield from self._keys(self._pattern)
        records: dict[str, str] = {}
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            values = yield Op(((b"MGET", *batch),), _values)
            for key, value in zip(batch, values, strict=True):
                # None: expired since the scan, or not a string key.
                if value is None:
                    continue
                try:
                    sid = key[len(self._prefix) :].decode("utf-8")
                except UnicodeDecodeError:
                    continue  # not a key any session store wrote
                records[sid] = value.decode("utf-8", "replace")
        return records

    def _length(self) -> Generator[Op[Any], Any, int]:
        keys = yield from self._keys(self._pattern)
        return len(keys)

    def _clear(self) -> Generator[Op[Any], Any, None]:
        for pattern in (self._pattern, self._user_pattern):
            keys = yield from self._keys(pattern)
            for start in range(0, len(keys), _BATCH):
                yield self._delete(keys[start : start + _BATCH])


def _encoded_prefix(option: str, prefix: str) -> bytes:
    # An empty prefix would make clear() delete every key of the database.
    if not isinstance(prefix, str) or not prefix:
        raise ConfigError(f"{option}: must be a non-empty string")
    try:
        return prefix.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{option}: must be valid Unicode text") from None


def _glob(prefix: str) -> bytes:
    return _GLOB.sub(r"\\\1", prefix).encode("utf-8") + b"*"


def _suffix(name: str, what: str) -> bytes:
    if not isinstance(name, str) or not name:
        raise StoreError(f"refused {what} {name!r:.40}", reason=f"invalid {what}")
    try:
        return name.encode("utf-8")
    except UnicodeEncodeError:
        raise StoreError(f"refused {what} {name!r:.40}", reason=f"invalid {what}") from None


def _check_record(record: str, ttl: int) -> None:
    if not isinstance(record, str):
        raise TypeError("a record is JSON text (str)")
    if not isinstance(ttl, int):
        raise TypeError("ttl is whole seconds (int)")


def _utf8(record: str) -> bytes:
    try:
        return record.encode("utf-8")
    except UnicodeEncodeError:
        raise StoreError("the record is not valid Unicode text") from None


def _eval(
    script: str, keys: tuple[bytes, ...], args: tuple[Arg, ...], parse: Callable[[Any, float], T]
) -> Op[T]:
    def parse_reply(replies: list[Any], now: float) -> T:
        (reply,) = _checked(replies)
        return parse(reply, now)

    return Op(((b"EVAL", script, len(keys), *keys, *args),), parse_reply)


def _ignore(reply: Any, now: float) -> None:
    return None


def _sids(reply: Any, now: float) -> list[str]:
    return lua.parse_sids(reply)


def _count(reply: Any, now: float) -> int:
    return lua.parse_count(reply)


def _scanned(replies: list[Any], now: float) -> tuple[bytes, list[bytes]]:
    (reply,) = _checked(replies)
    cursor, keys = reply
    return cursor, keys


def _values(replies: list[Any], now: float) -> list[bytes | None]:
    (values,) = _checked(replies)
    return list(values)
