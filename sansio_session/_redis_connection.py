# One Redis connection's needs, without I/O: the RESP framing that matches
# replies to calls (RedisProtocol), the pacing of reconnection attempts
# (Backoff) and the per-call timeout option. The store's commands are in
# redis.py, which re-exports these; its opening comment tells how a
# transport puts the two together.
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

try:
    import hiredis
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the Redis store needs hiredis: pip install 'sansio-session[redis]'") from exc

from ._errors import ConfigError, StoreError

__all__ = ["Arg", "Backoff", "Command", "RedisProtocol", "RedisReplyError", "check_timeout"]

Arg = bytes | str | int | float
Command = Sequence[Arg]

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
