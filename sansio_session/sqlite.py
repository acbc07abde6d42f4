# SQLiteStore: sessions in one SQLite file, shared by threads and processes.
#
# One table, (id TEXT PRIMARY KEY, record TEXT, expires REAL, user_id TEXT),
# with an index on the expiry so the sweep does not scan. `expires` is POSIX
# seconds from the store's clock. `user_id` is the user a session is bound
# to (Session.bind), NULL for the others, with a partial index over the bound
# rows only: it is the per-user index behind sessions_of and destroy_all. A
# table made before that column existed gets it added at start-up.
#
# The database runs in WAL mode, so readers never wait for the writer, and
# every connection has a busy timeout, so several processes can write to one
# file: a writer that finds the file locked waits up to `timeout` seconds and
# then fails with StoreError rather than hanging.
#
# Every statement runs in its own autocommit transaction; no call needs more
# than one statement to be atomic. A touch is a conditional UPDATE of the
# expiry alone, so it never overwrites data that another process saved, and
# a compare-and-set save (replace) is an UPDATE on the condition that the
# row still holds the expected text.
#
# Threads: sqlite3 connections must not be used by two threads at once, so
# we keep a small stack of idle connections. A call takes one (or opens a new
# one), uses it alone, and puts it back. There are never more connections
# than calls running at once.
#
# Expired rows are deleted when a read finds them, and by a sweep that runs
# once every `sweep_every` writes, as MemoryStore does.
#
# ":memory:" is refused: each connection would get its own empty database.
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ._errors import ConfigError, StoreError
from ._store import Conflict, StoredRecord

__all__ = ["SQLiteStore"]

_log = logging.getLogger(__name__)


def _quote(name: str) -> str:
    # SQL identifiers cannot be bound as parameters; double quotes with the
    # inner quotes doubled is SQLite's (and SQL's) own escaping.
    if not name or "\x00" in name:
        raise ConfigError(f"table: {name!r} is not a usable SQLite table name")
    return '"' + name.replace('"', '""') + '"'


class SQLiteStore:
    """A synchronous store in an SQLite database file.

    ``path`` is the database file (created if missing). ``table`` is the
    table to use (created if missing, its ``user_id`` column added if it
    lacks one). ``timeout`` is how long, in seconds,
    a call waits for a file locked by another connection before it fails.
    ``clock`` returns POSIX seconds (default :func:`time.time`). Expired rows
    are deleted when read and by a sweep every ``sweep_every`` writes.

    Safe to call from many threads at once; every failure is raised as
    :class:`~sansio_session.StoreError`. Call :meth:`close` when done.
    """

    blocking = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        table: str = "sessions",
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        sweep_every: int = 1000,
    ) -> None:
        path = os.fspath(path)
        if not path or path == ":memory:":
            raise ConfigError(
                f"path: {path!r} is not a database file (use the memory store for an in-process store)"
            )
        if not timeout > 0:
            raise ConfigError(f"timeout: must be a positive number of seconds, not {timeout!r}")
        if sweep_every < 1:
            raise ConfigError(f"sweep_every: must be at least 1, not {sweep_every!r}")
        self._path = path
        self._timeout = timeout
        self._clock = clock
        self._sweep_every = sweep_every
        self._table = _quote(table)
        self._index = _quote(f"{table}_expires")
        self._user_index = _quote(f"{table}_user")
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        self._writes = 0
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        with self._connection() as db:
            # journal_mode is a property of the file, kept once set; on a file
            # system without shared memory SQLite keeps its old mode, which is
            # slower but still correct.
            db.execute("PRAGMA journal_mode=WAL")
            # One transaction, holding the write lock: another process may be
            # adding the user column at the same moment.
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._table} "
                    "(id TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL, expires REAL NOT NULL, "
                    "user_id TEXT)"
                )
                # Check the columns now, so a clashing table fails at start-up
                # (and is left as it was).
                db.execute(f"SELECT id, record, expires FROM {self._table} LIMIT 0")
                columns = {row[1] for row in db.execute(f"PRAGMA table_info({self._table})")}
                if "user_id" not in columns:
                    db.execute(f"ALTER TABLE {self._table} ADD COLUMN user_id TEXT")
                db.execute(f"CREATE INDEX IF NOT EXISTS {self._index} ON {self._table} (expires)")
                db.execute(
                    f"CREATE INDEX IF NOT EXISTS {self._user_index} ON {self._table} (user_id) "
                    "WHERE user_id IS NOT NULL"
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError("SQLite store: used after close()")
            db = self._idle.pop() if self._idle else None
        try:
            if db is None:
                db = sqlite3.connect(
                    self._path,
                    timeout=self._timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
            yield db
        except sqlite3.Error as exc:
            # sqlite3's messages name the failure ("database is locked",
            # "file is not a database"), never the ids or records bound.
            raise StoreError(f"SQLite store: {exc}") from exc
        finally:
            if db is not None:
                with self._lock:
                    keep = not self._closed
                    if keep:
                        self._idle.append(db)
                if not keep:
                    db.close()

    def get(self, sid: str) -> StoredRecord | None:
        now = self._clock()
        with self._connection() as db:
            row = db.execute(f"SELECT record, expires FROM {self._table} WHERE id = ?", (sid,)).fetchone()
            if row is None:
                return None
            record, expires = row
            if not isinstance(record, str) or not isinstance(expires, (int, float)):
                raise StoreError("SQLite store: a row holds values of the wrong type")
            if expires <= now:
                # Only if it is still the expired row: another writer may
                # have saved a fresh one since we read.
                db.execute(f"DELETE FROM {self._table} WHERE id = ? AND expires <= ?", (sid, now))
                return None
        return StoredRecord(record, float(expires))

    def set(self, sid: str, record: str, ttl: int, *, user: str | None = None) -> None:
        """Upsert the record; ``user`` binds the session to that user."""
        if not isinstance(record, str):
            raise TypeError("a record is JSON text (str)")
        now = self._clock()
        with self._connection() as db:
            if ttl <= 0:
                db.execute(f"DELETE FROM {self._table} WHERE id = ?", (sid,))
                return
            # REPLACE rather than ON CONFLICT ... DO UPDATE, which needs
            # SQLite 3.24; without a user the row keeps the one it had.
            db.execute(
                f"INSERT OR REPLACE INTO {self._table} (id, record, expires, user_id) "
                f"VALUES (?, ?, ?, coalesce(?, (SELECT user_id FROM {self._table} WHERE id = ?)))",
                (sid, record, now + ttl, user, sid),
            )
        self._after_write()

    def replace(
        self, sid: str, record: str, ttl: int, expected: str, *, user: str | None = None
    ) -> Conflict | None:
        """Store ``record`` only if the live row still holds exactly ``expected``."""
        if not isinstance(record, str) or not isinstance(expected, str):
            raise TypeError("a record is JSON text (str)")
        now = self._clock()
        with self._connection() as db:
            if ttl <= 0:
                cursor = db.execute(
                    f"DELETE FROM {self._table} WHERE id = ? AND record = ? AND expires > ?",
                    (sid, expected, now),
                )
            else:
                cursor = db.execute(
                    f"UPDATE {self._table} SET record = ?, expires = ?, user_id = coalesce(?, user_id) "
                    "WHERE id = ? AND record = ? AND expires > ?",
                    (record, now + ttl, user, sid, expected, now),
                )
        if cursor.rowcount == 0:
            # Read after the failed update: the conflict reports what the
            # row holds now (or that it is gone).
            return Conflict(self.get(sid))
        self._after_write()
        return None

    def touch(self, sid: str, ttl: int, *, user: str | None = None) -> None:
        # The record is not written: a parallel request may have saved newer
        # data than the record this one holds. Nor is the user: the row
        # already holds its binding, and an index in the row cannot expire
        # before the session does.
        now = self._clock()
        with self._connection() as db:
            if ttl <= 0:
                db.execute(f"DELETE FROM {self._table} WHERE id = ?", (sid,))
                return
            db.execute(
                f"UPDATE {self._table} SET expires = ? WHERE id = ? AND expires > ?",
                (now + ttl, sid, now),
            )

    def destroy(self, sid: str, *, user: str | None = None) -> None:
        # The row is the index entry too: deleting it unbinds the user.
        with self._connection() as db:
            db.execute(f"DELETE FROM {self._table} WHERE id = ?", (sid,))

    def sessions_of(self, user: str) -> list[str]:
        """The ids of the live sessions bound to ``user``, sorted."""
        now = self._clock()
        with self._connection() as db:
            rows = db.execute(
                f"SELECT id FROM {self._table} WHERE user_id = ? AND expires > ?", (user, now)
            ).fetchall()
            # As get() does, an expired row found is deleted: a stale index
            # entry must not bind a new session saved under the same id.
            db.execute(f"DELETE FROM {self._table} WHERE user_id = ? AND expires <= ?", (user, now))
        return sorted(sid for (sid,) in rows)

    def destroy_all(self, user: str) -> int:
        """Destroy every session bound to ``user``; return how many were live."""
        now = self._clock()
        with self._connection() as db:
            live = db.execute(
                f"DELETE FROM {self._table} WHERE user_id = ? AND expires > ?", (user, now)
            ).rowcount
            db.execute(f"DELETE FROM {self._table} WHERE user_id = ?", (user,))
        return live

    def all(self) -> dict[str, str]:
        now = self._clock()
        with self._connection() as db:
            rows = db.execute(f"SELECT id, record FROM {self._table} WHERE expires > ?", (now,)).fetchall()
        return {sid: record for sid, record in rows}

    def length(self) -> int:
        now = self._clock()
        with self._connection() as db:
            (count,) = db.execute(f"SELECT count(*) FROM {self._table} WHERE expires > ?", (now,)).fetchone()
        return int(count)

    def clear(self) -> None:
        with self._connection() as db:
            db.execute(f"DELETE FROM {self._table}")

    def prune(self) -> int:
        """Delete every expired row; return how many were deleted."""
        now = self._clock()
        with self._connection() as db:
            cursor = db.execute(f"DELETE FROM {self._table} WHERE expires <= ?", (now,))
        return cursor.rowcount

    def close(self) -> None:
        """Close the idle connections; calls still running close theirs on return."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _after_write(self) -> None:
        if self._count_write():
            try:
                self.prune()
            except StoreError as exc:
                # The save itself succeeded; the next sweep tries again.
                _log.warning("%s (while deleting expired sessions)", exc)

    def _count_write(self) -> bool:
        with self._lock:
            self._writes += 1
            if self._writes < self._sweep_every:
                return False
            self._writes = 0
            return True
