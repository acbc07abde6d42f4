# PostgresStore: sessions in PostgreSQL, in connect-pg-simple's table.
#
# The table is the one connect-pg-simple creates, so an express app using it
# and our apps share sessions when they share the secret:
#
#     CREATE TABLE "session" (
#       "sid" varchar NOT NULL COLLATE "default" PRIMARY KEY,
#       "sess" json NOT NULL,
#       "expire" timestamp(6) NOT NULL);
#     CREATE INDEX "IDX_session_expire" ON "session" ("expire");
#
# `sess` is `json`, not `jsonb`: PostgreSQL keeps json input as the exact
# text it was given, and we read it back as `sess::text`, so a record comes
# back byte for byte as it was saved. That is also what makes a
# compare-and-set save (replace) one statement: an UPDATE on the condition
# `sess::text = <the expected record>`, which PostgreSQL re-checks against
# the newest row version when a parallel UPDATE got there first.
#
# To that table we add one nullable column, the per-user index behind
# sessions_of and destroy_all, with a hash index (NULLs are not indexed, and
# a user id of any length fits):
#
#     ALTER TABLE "session" ADD COLUMN "user_id" varchar;
#     CREATE INDEX "IDX_session_user" ON "session" USING hash ("user_id");
#
# connect-pg-simple names its columns in every statement and its upsert sets
# only `sess` and `expire`, so it works on the wider table and a Node save
# keeps the binding. With create_table off, add the column yourself (the
# statements above); until then a save of a bound session fails, and nothing
# else needs it.
#
# `expire` is a timestamp *without* time zone. connect-pg-simple writes it as
# `to_timestamp(<POSIX seconds>)` and compares it against the same, which
# stores the instant in the connection's TimeZone setting and reads it back
# the same way. We do exactly that, so both sides agree as long as they share
# the server's default TimeZone (neither sets its own). XX in a zone with
# daylight saving time, an expiry that falls in the repeated hour is
# ambiguous; it moves by at most an hour, for Node and for us alike.
#
# Time bounds: a call waits at most `timeout` seconds for a pooled connection
# (so a refused or unreachable server fails within that) and each statement
# runs under `statement_timeout`. XX a server that accepts a connection and
# then never answers is bounded only by the driver's own timeout around the
# call; libpq has no client-side limit on one query.
#
# A connection broken under us (the server restarted) fails one attempt; we
# then have the pool check its idle connections and try once more on a fresh
# one (so that call may take up to twice `timeout`). Every call is safe to
# repeat: a read, an upsert, an expiry update or a delete.
#
# Expired rows are never returned, and are deleted in batches by a sweep that
# a save starts at most once every `prune_interval` seconds (connect-pg-simple
# prunes on a timer; we have no thread of our own).
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from ._errors import ConfigError, StoreError
from ._store import Conflict, StoredRecord

__all__ = ["PostgresStore"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")
_Conn = psycopg.Connection[tuple[Any, ...]]

# Rows one sweep deletes at most, so a save that runs it is not held up long.
_PRUNE_BATCH = 1000


def _describe(exc: psycopg.Error) -> str:
    # The primary message only: the DETAIL line of some errors quotes the
    # key (a session id), which must not reach a log.
    message = exc.diag.message_primary or (str(exc).splitlines() or [""])[0]
    return f"PostgreSQL store: {type(exc).__name__}: {message}"


class PostgresStore:
    """A synchronous store in a PostgreSQL table laid out as connect-pg-simple's.

    ``conninfo`` is a libpq connection string or ``postgresql://`` URL.
    ``table`` and ``schema`` name the table (``schema`` None: the search
    path). With ``create_table`` the table, its ``user_id`` column and their
    indexes are created if missing. ``pool_min`` and ``pool_max`` size the connection pool.
    ``timeout`` (seconds) bounds the wait for a connection and each
    statement. A save sweeps expired rows at most every ``prune_interval``
    seconds (None: never; call :meth:`prune` yourself). ``clock`` returns
    POSIX seconds (default :func:`time.time`).

    Safe to call from many threads at once; every failure is raised as
    :class:`~sansio_session.StoreError`. Call :meth:`close` when done.
    """

    blocking = True

    def __init__(
        self,
        conninfo: str,
        *,
        table: str = "session",
        schema: str | None = None,
        pool_min: int = 1,
        pool_max: int = 10,
        timeout: float = 5.0,
        create_table: bool = True,
        prune_interval: float | None = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for option, name in (("table", table), ("schema", schema)):
            if name is not None and (not name or "\x00" in name):
                raise ConfigError(f"{option}: {name!r} is not a usable PostgreSQL name")
        if not timeout > 0:
            raise ConfigError(f"timeout: must be a positive number of seconds, not {timeout!r}")
        if not 0 <= pool_min <= pool_max or pool_max < 1:
            raise ConfigError(
                f"pool_min, pool_max: need 0 <= min <= max and max >= 1, not {pool_min}, {pool_max}"
            )
        if prune_interval is not None and not prune_interval >= 0:
            raise ConfigError(f"prune_interval: must be seconds >= 0 or None, not {prune_interval}")
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.Error:
            # libpq's message may echo part of the string, password included.
            raise ConfigError("conninfo: not a valid PostgreSQL connection string") from None
        kwargs: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in params:
            # libpq counts whole seconds and treats anything below 2 as 2.
            kwargs["connect_timeout"] = max(2, math.ceil(timeout))
        self._clock = clock
        self._statement_timeout = str(max(1, round(timeout * 1000)))
        self._prune_interval = prune_interval
        self._last_prune = -math.inf
        self._prune_lock = threading.Lock()
        self._queries(table, schema)
        self._pool: ConnectionPool[_Conn] = ConnectionPool(
            conninfo,
            min_size=pool_min,
            max_size=pool_max,
            kwargs=kwargs,
            timeout=timeout,
            configure=self._configure,
            name="sansio-session",
            open=True,
        )
        try:
            if create_table:
                self._run(self._create_table)
        except BaseException:
            self.close()
            raise

    def _queries(self, table: str, schema: str | None) -> None:
        name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
        self._name = name
        self._pkey = sql.Identifier(f"{table}_pkey")
        self._index = sql.Identifier(f"IDX_{table}_expire")
        self._user_index = sql.Identifier(f"IDX_{table}_user")
        self._get = sql.SQL(
            "SELECT sess::text, extract(epoch FROM expire::timestamptz)::float8 FROM {} "
            "WHERE sid = %s AND expire > to_timestamp(%s)"
        ).format(name)
        self._set = sql.SQL(
            "INSERT INTO {} (sid, sess, expire) VALUES (%s, %s::json, to_timestamp(%s)) "
            "ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire"
        ).format(name)
        self._set_user = sql.SQL(
            "INSERT INTO {} (sid, sess, expire, user_id) VALUES (%s, %s::json, to_timestamp(%s), %s) "
            "ON CONFLICT (sid) DO UPDATE "
            "SET sess = EXCLUDED.sess, expire = EXCLUDED.expire, user_id = EXCLUDED.user_id"
        ).format(name)
        # The condition shared by the compare-and-set statements.
        expected = sql.SQL("WHERE sid = %s AND sess::text = %s AND expire > to_timestamp(%s)")
        self._replace = sql.SQL("UPDATE {} SET sess = %s::json, expire = to_timestamp(%s) {}").format(
            name, expected
        )
        self._replace_user = sql.SQL(
            "UPDATE {} SET sess = %s::json, expire = to_timestamp(%s), user_id = %s {}"
        ).format(name, expected)
        self._replace_end = sql.SQL("DELETE FROM {} {}").format(name, expected)
        # Both also delete the user's expired rows: a row that is only a
        # stale index entry must not carry its binding over to a new session
        # saved under the same id.
        self._sessions_of = sql.SQL(
            "WITH gone AS (DELETE FROM {0} WHERE user_id = %s AND expire <= to_timestamp(%s)) "
            "SELECT sid FROM {0} WHERE user_id = %s AND expire > to_timestamp(%s)"
        ).format(name)
        self._destroy_all = sql.SQL(
            "WITH gone AS (DELETE FROM {} WHERE user_id = %s RETURNING expire) "
            "SELECT count(*) FROM gone WHERE expire > to_timestamp(%s)"
        ).format(name)
        self._touch = sql.SQL(
            "UPDATE {} SET expire = to_timestamp(%s) WHERE sid = %s AND expire > to_timestamp(%s)"
        ).format(name)
        self._destroy = sql.SQL("DELETE FROM {} WHERE sid = %s").format(name)
        self._all = sql.SQL("SELECT sid, sess::text FROM {} WHERE expire > to_timestamp(%s)").format(name)
        self._length = sql.SQL("SELECT count(*) FROM {} WHERE expire > to_timestamp(%s)").format(name)
        self._clear = sql.SQL("DELETE FROM {}").format(name)
        self._prune = sql.SQL(
            "DELETE FROM {0} WHERE sid IN (SELECT sid FROM {0} WHERE expire <= to_timestamp(%s) LIMIT %s)"
        ).format(name)

    def _configure(self, conn: _Conn) -> None:
        conn.execute("SELECT set_config('statement_timeout', %s, false)", [self._statement_timeout])

    def _create_table(self, conn: _Conn) -> None:
        with conn.transaction():
            # Several processes may start at once; CREATE ... IF NOT EXISTS
            # alone can still collide, so they take turns.
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                ["sansio_session:" + self._name.as_string(conn)],
            )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} ("
                    '"sid" varchar NOT NULL COLLATE "default", '
                    '"sess" json NOT NULL, '
                    '"expire" timestamp(6) NOT NULL, '
                    'CONSTRAINT {} PRIMARY KEY ("sid"))'
                ).format(self._name, self._pkey)
            )
            conn.execute(
                sql.SQL('CREATE INDEX IF NOT EXISTS {} ON {} ("expire")').format(self._index, self._name)
            )
            # Look before altering: ALTER TABLE locks out even readers, and
            # every process runs this at start-up.
            found = conn.execute(
                "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                "AND attname = 'user_id' AND NOT attisdropped",
                [self._name.as_string(conn)],
            ).fetchone()
            if found is None:
                conn.execute(sql.SQL('ALTER TABLE {} ADD COLUMN "user_id" varchar').format(self._name))
            conn.execute(
                sql.SQL('CREATE INDEX IF NOT EXISTS {} ON {} USING hash ("user_id")').format(
                    self._user_index, self._name
                )
            )

    def _run(self, call: Callable[[_Conn], _T]) -> _T:
        for attempt in (1, 2):
            conn: _Conn | None = None
            try:
                with self._pool.connection() as conn:
                    return call(conn)
            except psycopg.Error as exc:
                if attempt == 1 and conn is not None and conn.broken:
                    self._pool.check()
                    continue
                raise StoreError(_describe(exc)) from exc
        raise AssertionError("unreachable")

    def get(self, sid: str) -> StoredRecord | None:
        now = self._clock()
        row = self._run(lambda conn: conn.execute(self._get, (sid, now)).fetchone())
        if row is None:
            return None
        return StoredRecord(row[0], row[1])

    def set(self, sid: str, record: str, ttl: int, *, user: str | None = None) -> None:
        """Upsert the record; ``user`` binds the session to that user."""
        if not isinstance(record, str):
            raise TypeError("a record is JSON text (str)")
        now = self._clock()
        if ttl <= 0:
            self.destroy(sid)
            return
        if user is None:
            # Without a user the row keeps whatever binding it had.
            self._run(lambda conn: conn.execute(self._set, (sid, record, now + ttl)))
        else:
            self._run(lambda conn: conn.execute(self._set_user, (sid, record, now + ttl, user)))
        self._sweep(now)

    def replace(
        self, sid: str, record: str, ttl: int, expected: str, *, user: str | None = None
    ) -> Conflict | None:
        """Store ``record`` only if the live row still holds exactly ``expected``."""
        if not isinstance(record, str) or not isinstance(expected, str):
            raise TypeError("a record is JSON text (str)")
        now = self._clock()
        condition: tuple[Any, ...] = (sid, expected, now)
        params: tuple[Any, ...]
        if ttl <= 0:
            statement, params = self._replace_end, condition
        elif user is None:
            statement, params = self._replace, (record, now + ttl, *condition)
        else:
            statement, params = self._replace_user, (record, now + ttl, user, *condition)
        if self._run(lambda conn: conn.execute(statement, params).rowcount) == 0:
            # Read after the failed update: the conflict reports what the
            # row holds now (or that it is gone).
            return Conflict(self.get(sid))
        if ttl > 0:
            self._sweep(now)
        return None

    def sessions_of(self, user: str) -> list[str]:
        """The ids of the live sessions bound to ``user``, sorted."""
        now = self._clock()
        rows = self._run(lambda conn: conn.execute(self._sessions_of, (user, now, user, now)).fetchall())
        # Sorted here, not by ORDER BY: the column's collation may not be
        # code point order.
        return sorted(sid for (sid,) in rows)

    def destroy_all(self, user: str) -> int:
        """Destroy every session bound to ``user``; return how many were live."""
        now = self._clock()
        row = self._run(lambda conn: conn.execute(self._destroy_all, (user, now)).fetchone())
        return int(row[0]) if row else 0

    def touch(self, sid: str, ttl: int, *, user: str | None = None) -> None:
        # Only the expiry is written: a parallel request may have saved newer
        # data than the record this one holds. The binding is in the row, so
        # it lasts exactly as long as the session.
        now = self._clock()
        if ttl <= 0:
            self.destroy(sid)
            return
        self._run(lambda conn: conn.execute(self._touch, (now + ttl, sid, now)))

    def destroy(self, sid: str, *, user: str | None = None) -> None:
        # The row is the index entry too: deleting it unbinds the user.
        self._run(lambda conn: conn.execute(self._destroy, (sid,)))

    def all(self) -> dict[str, str]:
        now = self._clock()
        rows = self._run(lambda conn: conn.execute(self._all, (now,)).fetchall())
        return {sid: text for sid, text in rows}

    def length(self) -> int:
        now = self._clock()
        row = self._run(lambda conn: conn.execute(self._length, (now,)).fetchone())
        return int(row[0]) if row else 0

    def clear(self) -> None:
        self._run(lambda conn: conn.execute(self._clear))

    def prune(self) -> int:
        """Delete every expired row; return how many were deleted."""
        total = 0
        while True:
            deleted = self._prune_batch(self._clock())
            total += deleted
            if deleted < _PRUNE_BATCH:
                return total

    def close(self) -> None:
        """Close the connection pool. Further calls raise StoreError."""
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _prune_batch(self, now: float) -> int:
        return self._run(lambda conn: conn.execute(self._prune, (now, _PRUNE_BATCH)).rowcount)

    def _sweep(self, now: float) -> None:
        if self._prune_interval is None:
            return
        with self._prune_lock:
            if now - self._last_prune < self._prune_interval:
                return
            self._last_prune = now
        try:
            if self._prune_batch(now) == _PRUNE_BATCH:
                # More are waiting: let the next save take another batch.
                with self._prune_lock:
                    self._last_prune = -math.inf
        except StoreError as exc:
            # The save itself succeeded; a failed sweep is retried later.
            _log.warning("%s (while deleting expired sessions)", exc)
