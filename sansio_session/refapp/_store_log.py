# The store log behind GET /_store/log: every operation the session layer
# asked of the store, in call order, failed ones too.
from __future__ import annotations

import json
from typing import Any

__all__ = ["StoreLog", "LoggedStore"]


class StoreLog:
    def __init__(self) -> None:
        self._entries: list[dict[str, str]] = []

    def record(self, op: str, sid: str) -> None:
        self._entries.append({"op": op, "sid": sid})

    def drain(self) -> list[dict[str, str]]:
        """Every entry since the last drain, then forget them."""
        entries, self._entries = self._entries, []
        return entries

    def drain_json(self) -> bytes:
        return json.dumps(self.drain()).encode()


class LoggedStore:
    """Wraps a store (sync or async alike) and records each call as it is made.

    The store's own internal calls are not seen here, only what the session
    layer asked for.
    """

    def __init__(self, store: Any, log: StoreLog) -> None:
        self.store = store
        self.log = log
        self.blocking = getattr(store, "blocking", True)

    def get(self, sid: str) -> Any:
        self.log.record("get", sid)
        return self.store.get(sid)

    def set(self, sid: str, record: str, ttl: int, **extra: Any) -> Any:
        self.log.record("set", sid)
        return self.store.set(sid, record, ttl, **extra)

    @property
    def replace(self) -> Any:
        # Only a store that has replace() seems to have it here too.
        if not hasattr(self.store, "replace"):
            raise AttributeError("replace")
        return self._replace

    def _replace(self, sid: str, record: str, ttl: int, expected: str, **extra: Any) -> Any:
        # A compare-and-set save is a "set" in the contract's vocabulary.
        self.log.record("set", sid)
        return self.store.replace(sid, record, ttl, expected, **extra)

    def touch(self, sid: str, ttl: int, **extra: Any) -> Any:
        self.log.record("touch", sid)
        return self.store.touch(sid, ttl, **extra)

    def destroy(self, sid: str, **extra: Any) -> Any:
        self.log.record("destroy", sid)
        return self.store.destroy(sid, **extra)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(dir(self.store)))

    def __getattr__(self, name: str) -> Any:
        # all(), length(), clear(), close() and the rest pass through unlogged.
        return getattr(self.store, name)
