# The Redis session store, without I/O.
#
# What lives here: the RESP framing of one connection (RedisProtocol), the
# commands of each store operation and the reading of their replies
# (RedisCommands, Op, Walk) and the schedule of reconnection attempts
# (Backoff); the redis:// URL is in _redis_url.py. What must not: sockets,
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
# prefix with SCAN, never KEYS, which would block the server.
from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

try:
    import hiredis
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the Redis store needs hiredis: pip install 'sansio-session[redis]'") from exc

from ._errors import ConfigError, StoreError
from ._redis_url import RedisURL, parse_redis_url
from ._store import StoredRecord

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
Arg = bytes | str | int | float
Command = Sequence[Arg]

# How many keys SCAN is asked for per step, and how many keys one MGET or
# DEL carries: big enough to need few round trips, small enough not to stall
# the server on any one of them.
_BATCH = 1000
_GLOB = re.compile(r"([\\*?\[\]])")
_NEED_DATA = object()


class RedisReplyError(StoreError):
    """Redis answered a command with an error reply (``WRONGTYPE ...``)."""


class RedisProtocol:
    """One Redis connection's framing: commands to bytes, bytes to replies.

    ``send(commands, token)`` packs the commands and remembers ``token``;
    ``receive(data)`` returns ``(token, replies)`` for every call whose
    replies are now complete, in the order the calls were sent. ``replies``
    is a list (one reply per command, error replies as
    :class:`RedisReplyError` values), or a :class:`StoreError` when the
    connection can no longer deliver them. After that, :attr:`broken` is true
    and the connection must be dropped.
    """

    def __init__(self) -> None:
        self._reader = hiredis.Reader(replyError=RedisReplyError, notEnoughData=_NEED_DATA)
        self._waiting: deque[tuple[object, int, list[Any]]] = deque()
        self.broken = False

    @property
    def pending(self) -> int:
        """How many calls still wait for replies."""
        return len(self._waiting)

    def send(self, commands: Sequence[Command], token: object) -> bytes:
        if self.broken:
            raise StoreError("redis connection is broken")
        if not commands:
            raise ValueError("a call sends at least one command")
        # hiredis's stub spells its argument as a 1-tuple; any tuple is taken.
        pack = cast(Callable[[tuple[Arg, ...]], bytes], hiredis.pack_command)
        data = b"".join([pack(tuple(command)) for command in commands])
        self._waiting.append((token, len(commands), []))
        return data

    def receive(self, data: bytes | bytearray) -> list[tuple[object, list[Any] | StoreError]]:
        done: list[tuple[object, list[Any] | StoreError]] = []
        if self.broken:
            return done
        self._reader.feed(data)  # type: ignore[arg-type]  # any buffer; the stub says bytes
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError:
                return done + self.lost("redis sent bytes that are not RESP")
            if reply is _NEED_DATA:
                return done
            if not self._waiting:
                return done + self.lost("redis sent a reply to no command")
            token, count, replies = self._waiting[0]
            replies.append(reply)
            if len(replies) == count:
                self._waiting.popleft()
                done.append((token, replies))

    def lost(self, why: str = "redis connection lost") -> list[tuple[object, StoreError]]:
        """Mark the connection broken; return every pending token with the error."""
        self.broken = True
        error = StoreError(why)
        failed = [(token, error) for token, _, _ in self._waiting]
        self._waiting.clear()
        return failed


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
    """The commands of the session store operations, under a key prefix.

    Every method checks the session id and returns an :class:`Op` (or a
    :class:`Walk`) to run; none does I/O.
    """

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        # An empty prefix would make clear() delete every key of the database.
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError("redis prefix: must be a non-empty string")
        try:
            self._prefix = prefix.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError("redis prefix: must be valid Unicode text") from None
        self._pattern = _GLOB.sub(r"\\\1", prefix).encode("utf-8") + b"*"

    @property
    def prefix(self) -> str:
        return self._prefix.decode("utf-8")

    def key(self, sid: str) -> bytes:
        """The key of ``sid``; raises StoreError for an id no store may take.

        An id is only ever a key suffix, and RESP is length-prefixed, so any
        text is safe on the wire: quotes, glob characters, CR LF are just
        bytes of the key. Refused are the empty id (the prefix alone is no
        session's key) and text that is not valid Unicode (lone surrogates),
        which has no UTF-8 form to put on the wire.
        """
        if not isinstance(sid, str) or not sid:
            raise StoreError(f"refused session id {sid!r:.40}", reason="invalid session id")
        try:
            return self._prefix + sid.encode("utf-8")
        except UnicodeEncodeError:
            raise StoreError(f"refused session id {sid!r:.40}", reason="invalid session id") from None

    def get(self, sid: str) -> Op[StoredRecord | None]:
        key = self.key(sid)
        return Op(((b"GET", key), (b"PTTL", key)), _load)

    def set(self, sid: str, record: str, ttl: int) -> Op[None]:
        key = self.key(sid)
        if not isinstance(record, str):
            raise TypeError("a record is JSON text (str)")
        if not isinstance(ttl, int):
            raise TypeError("ttl is whole seconds (int)")
        if ttl <= 0:
            return self._delete([key])
        try:
            value = record.encode("utf-8")
        except UnicodeEncodeError:
            raise StoreError("the record is not valid Unicode text") from None
        return Op(((b"SET", key, value, b"EX", ttl),), ignore_replies)

    def touch(self, sid: str, record: str, ttl: int) -> Op[None]:
        # EXPIRE with ttl <= 0 deletes the key, as a touch past the cookie's
        # expiry should; an absent key is left absent.
        key = self.key(sid)
        if not isinstance(ttl, int):
            raise TypeError("ttl is whole seconds (int)")
        return Op(((b"EXPIRE", key, ttl),), ignore_replies)

    def destroy(self, sid: str) -> Op[None]:
        return self._delete([self.key(sid)])

    def all(self) -> Walk[dict[str, str]]:
        return Walk(self._all())

    def length(self) -> Walk[int]:
        return Walk(self._length())

    def clear(self) -> Walk[None]:
        return Walk(self._clear())

    def _delete(self, keys: list[bytes]) -> Op[None]:
        return Op(((b"DEL", *keys),), ignore_replies)

    def _keys(self) -> Generator[Op[Any], Any, list[bytes]]:
        # SCAN may return a key more than once; the set makes each count once.
        seen: set[bytes] = set()
        cursor: bytes = b"0"
        while True:
            op = Op(((b"SCAN", cursor, b"MATCH", self._pattern, b"COUNT", _BATCH),), _scanned)
            cursor, keys = yield op
            seen.update(keys)
            if cursor == b"0":
                return sorted(seen)

    def _all(self) -> Generator[Op[Any], Any, dict[str, str]]:
        keys = yield from self._keys()
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
        keys = yield from self._keys()
        return len(keys)

    def _clear(self) -> Generator[Op[Any], Any, None]:
        keys = yield from self._keys()
        for start in range(0, len(keys), _BATCH):
            yield self._delete(keys[start : start + _BATCH])


def _scanned(replies: list[Any], now: float) -> tuple[bytes, list[bytes]]:
    (reply,) = _checked(replies)
    cursor, keys = reply
    return cursor, keys


def _values(replies: list[Any], now: float) -> list[bytes | None]:
    (values,) = _checked(replies)
    return list(values)


def check_timeout(value: float) -> float:
    """Validate a transport's per-call timeout (seconds, above 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError("redis timeout: must be a number of seconds above 0")
    return float(value)


class Backoff:
    """When the next connection attempt may start.

    After each consecutive failure the wait doubles, from ``initial`` up to
    ``maximum`` seconds; a success resets it. ``now`` is any clock of the
    transport's, in seconds, as long as it is always the same one.
    """

    def __init__(self, initial: float = 0.05, maximum: float = 1.0) -> None:
        if not 0 <= initial <= maximum:
            raise ConfigError("redis backoff: need 0 <= initial <= maximum")
        self._initial = initial
        self._maximum = maximum
        self._failures = 0
        self._not_before = 0.0

    def wait(self, now: float) -> float:
        """Seconds from ``now`` until an attempt may start (0: at once)."""
        return max(0.0, self._not_before - now)

    def failed(self, now: float) -> None:
        delay = min(self._maximum, self._initial * 2 ** min(self._failures, 32))
        self._failures += 1
        self._not_before = now + delay

    def succeeded(self) -> None:
        self._failures = 0
        self._not_before = 0.0
