# The stores the HTTP suite runs the reference apps on: memory, SQLite (a
# temporary file), Redis (a database of the suite's own) and PostgreSQL (the
# default connect-pg-simple table). Each backend names its --store URL, says
# whether its service can be reached, removes exactly the sessions the tests
# made (never FLUSHDB, never a whole table), and can plant a raw record, so
# that a test can hand an app a record written by someone else.
from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import hiredis
import psycopg

__all__ = ["STORE_KINDS", "StoreBackend", "make_backend", "REDIS_URL", "POSTGRES_URL"]

STORE_KINDS = ("memory", "sqlite", "redis", "postgres")

#: A Redis database the suite may write to; it only deletes the keys it made.
REDIS_URL = os.environ.get("SANSIO_SESSION_TEST_REDIS", "redis://127.0.0.1:6379/9")
#: The PostgreSQL database whose "session" table the reference apps use.
POSTGRES_URL = os.environ.get("SANSIO_SESSION_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

# connect-redis's key prefix and connect-pg-simple's table, which the
# reference apps use by default.
_REDIS_PREFIX = "sess:"
_PG_TABLE = "session"


class StoreBackend:
    """One kind of store, as the suite sees it from outside the app."""

    kind = "memory"
    #: True when two app processes on this backend share their sessions.
    shared = False

    def url(self) -> str:
        return "memory"

    def problem(self) -> str | None:
        """Why the store's service cannot be used, or None."""
        return None

    def forget(self, sids: Iterable[str]) -> None:
        """Remove the sessions with these ids (the ones the tests made)."""

    def plant(self, sid: str, record: str, ttl: int) -> None:
        """Store ``record`` under ``sid`` directly, as another app would."""
        raise NotImplementedError(f"the {self.kind} store lives inside the app process")

    def read(self, sid: str) -> str | None:
        """The record text stored under ``sid``, as another app would read it."""
        raise NotImplementedError(f"the {self.kind} store lives inside the app process")


class _SQLite(StoreBackend):
    kind = "sqlite"
    shared = True

    def __init__(self, path: Path) -> None:
        self.path = path

    def url(self) -> str:
        return f"sqlite:///{self.path}"  # an absolute path: four slashes

    def plant(self, sid: str, record: str, ttl: int) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute(
                "INSERT OR REPLACE INTO sessions (id, record, expires) VALUES (?, ?, ?)",
                (sid, record, time.time() + ttl),
            )

    def read(self, sid: str) -> str | None:
        with sqlite3.connect(self.path) as db:
            row = db.execute("SELECT record FROM sessions WHERE id = ?", (sid,)).fetchone()
        return None if row is None else str(row[0])


class _Redis(StoreBackend):
    kind = "redis"
    shared = True

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 6379
        self.db = int(parts.path.removeprefix("/") or "0")
        self._url = url

    def url(self) -> str:
        return self._url

    def problem(self) -> str | None:
        try:
            self.commands([["PING"]])
        except (OSError, hiredis.ReplyError) as exc:
            return f"Redis at {self.host}:{self.port} unreachable: {exc}"
        return None

    def commands(self, commands: list[list[str]]) -> list[Any]:
        """Run commands on the suite's database; returns their replies."""
        reader = hiredis.Reader()
        wire = b"".join(_pack(c) for c in [["SELECT", str(self.db)], *commands])
        replies: list[Any] = []
        with socket.create_connection((self.host, self.port), timeout=5) as sock:
            sock.sendall(wire)
            while len(replies) < len(commands) + 1:
                reply = reader.gets()
                if reply is False:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("Redis closed the connection")
                    reader.feed(data)
                    continue
                if isinstance(reply, hiredis.ReplyError):
                    raise reply
                replies.append(reply)
        return replies[1:]

    def forget(self, sids: Iterable[str]) -> None:
        keys = [_REDIS_PREFIX + sid for sid in sids]
        for start in range(0, len(keys), 500):
            self.commands([["DEL", *keys[start : start + 500]]])

    def plant(self, sid: str, record: str, ttl: int) -> None:
        self.commands([["SET", _REDIS_PREFIX + sid, record, "EX", str(ttl)]])

    def read(self, sid: str) -> str | None:
        (reply,) = self.commands([["GET", _REDIS_PREFIX + sid]])
        return None if reply is None else bytes(reply).decode()


def _pack(command: list[str]) -> bytes:
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Postgres(StoreBackend):
    kind = "postgres"
    shared = True

    def __init__(self, url: str) -> None:
        self._url = url

    def url(self) -> str:
        return self._url

    def problem(self) -> str | None:
        try:
            with psycopg.connect(self._url, connect_timeout=3):
                return None
        except psycopg.Error as exc:
            first = (str(exc).splitlines() or [""])[0]
            return f"PostgreSQL unreachable: {first}"

    def forget(self, sids: Iterable[str]) -> None:
        ids = list(sids)
        if not ids:
            return
        # UndefinedTable: no app ever got as far as creating it.
        with psycopg.connect(self._url, autocommit=True) as conn, suppress(psycopg.errors.UndefinedTable):
            conn.execute(f'DELETE FROM "{_PG_TABLE}" WHERE sid = ANY(%s)', [ids])

    def plant(self, sid: str, record: str, ttl: int) -> None:
        json.loads(record)  # the column is json: only JSON can be planted
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(
                f'INSERT INTO "{_PG_TABLE}" (sid, sess, expire) VALUES (%s, %s::json, to_timestamp(%s)) '
                "ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire",
                [sid, record, time.time() + ttl],
            )

    def read(self, sid: str) -> str | None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            row = conn.execute(f'SELECT sess::text FROM "{_PG_TABLE}" WHERE sid = %s', [sid]).fetchone()
        return None if row is None else str(row[0])


def make_backend(kind: str, folder: Path) -> StoreBackend:
    """The backend of one kind; a SQLite one keeps its file in ``folder``."""
    if kind == "memory":
        return StoreBackend()
    if kind == "sqlite":
        return _SQLite(folder / "sessions.db")
    if kind == "redis":
        return _Redis(REDIS_URL)
    if kind == "postgres":
        return _Postgres(POSTGRES_URL)
    raise ValueError(f"unknown store kind {kind!r}")
