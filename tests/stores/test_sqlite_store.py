# SQLiteStore beyond the conformance suite: its file, its clean-up, several
# processes on one file, and the failures (a locked, corrupt or unusable
# file) that must come out as StoreError.
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from store_facades import ManualClock

from sansio_session._errors import ConfigError, StoreError
from sansio_session.sqlite import SQLiteStore

REPO = Path(__file__).resolve().parents[2]


def rows(path: Path, table: str = "sessions") -> dict[str, tuple[str, float]]:
    db = sqlite3.connect(path)
    try:
        quoted = '"' + table.replace('"', '""') + '"'
        found = db.execute(f"SELECT id, record, expires FROM {quoted}").fetchall()
    finally:
        db.close()
    return {sid: (record, expires) for sid, record, expires in found}


def test_the_file_is_in_wal_mode_with_one_indexed_table(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db"):
        pass
    db = sqlite3.connect(tmp_path / "s.db")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        columns = [(name, kind) for _, name, kind, *_ in db.execute("PRAGMA table_info(sessions)")]
        assert columns == [("id", "TEXT"), ("record", "TEXT"), ("expires", "REAL"), ("user_id", "TEXT")]
        indexes = db.execute("PRAGMA index_list(sessions)").fetchall()
        index_columns = {
            name: [column for *_, column in db.execute(f"PRAGMA index_info({name!r})")]
            for _, name, *_ in indexes
        }
        assert ["expires"] in index_columns.values()
        assert ["user_id"] in index_columns.values()
        # The partial index (bound rows only) serves the per-user queries.
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM sessions WHERE user_id = ? AND expires > ?", ("u", 0)
        ).fetchall()
        assert any("sessions_user" in row[-1] for row in plan), plan
    finally:
        db.close()


OLD_TABLE = (
    "CREATE TABLE sessions (id TEXT PRIMARY KEY NOT NULL, record TEXT NOT NULL, expires REAL NOT NULL)"
)


def test_a_table_from_before_the_user_column_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    db = sqlite3.connect(path)
    db.execute(OLD_TABLE)
    db.execute("INSERT INTO sessions VALUES ('old', '{\"n\":1}', 1e12)")
    db.commit()
    db.close()
    # Several processes' stores may open the old file at once.
    with ThreadPoolExecutor(8) as pool:
        for store in pool.map(lambda _: SQLiteStore(path), range(8)):
            store.close()
    with SQLiteStore(path) as store:
        got = store.get("old")
        assert got is not None and got.text == '{"n":1}'
        assert store.replace("old", '{"n":2}', 60, '{"n":1}', user="alice") is None
        assert store.sessions_of("alice") == ["old"]


def test_an_unbound_save_keeps_the_rows_binding(tmp_path: Path) -> None:
    # INSERT OR REPLACE deletes the old row: the binding must be carried over.
    with SQLiteStore(tmp_path / "s.db") as store:
        store.set("a", '{"n":1}', 60, user="alice")
        store.set("a", '{"n":2}', 60)
        db = sqlite3.connect(tmp_path / "s.db")
        try:
            assert db.execute("SELECT record, user_id FROM sessions").fetchall() == [('{"n":2}', "alice")]
        finally:
            db.close()


def test_an_expired_row_is_deleted_when_read(tmp_path: Path) -> None:
    clock = ManualClock(1000.0)
    with SQLiteStore(tmp_path / "s.db", clock=clock) as store:
        store.set("old", '{"n":1}', 10)
        store.set("new", '{"n":2}', 100)
        clock.advance(50)
        assert store.get("old") is None
        assert rows(tmp_path / "s.db") == {"new": ('{"n":2}', 1100.0)}


def test_expired_rows_are_swept_every_n_writes(tmp_path: Path) -> None:
    clock = ManualClock(1000.0)
    with SQLiteStore(tmp_path / "s.db", clock=clock, sweep_every=3) as store:
        store.set("a", '{"n":1}', 1)
        store.set("b", '{"n":2}', 1)
        clock.advance(5)
        assert set(rows(tmp_path / "s.db")) == {"a", "b"}
        store.set("c", '{"n":3}', 60)
        assert set(rows(tmp_path / "s.db")) == {"c"}
        store.set("d", '{"n":4}', 1)
        clock.advance(5)
        assert store.prune() == 1
        assert set(rows(tmp_path / "s.db")) == {"c"}


WRITER = """
import sys
from sansio_session.sqlite import SQLiteStore
path, n, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with SQLiteStore(path) as store:
    for j in range(count):
        store.set(f"p{n}-{j}", '{"n":%s,"j":%d}' % (n, j), 600)
        store.set("shared", '{"n":%s}' % n, 600)
        assert store.get(f"p{n}-{j}").text == '{"n":%s,"j":%d}' % (n, j)
"""


def test_several_processes_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    processes, count = 4, 100
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(n), str(count)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    with SQLiteStore(path) as store:
        for writer in writers:
            _, errors = writer.communicate(timeout=120)
            assert writer.returncode == 0, errors
        stored = store.all()
    assert stored.pop("shared") in {'{"n":%d}' % n for n in range(processes)}
    assert stored == {f"p{n}-{j}": '{"n":%d,"j":%d}' % (n, j) for n in range(processes) for j in range(count)}


def test_a_file_locked_too_long_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SQLiteStore(path, timeout=0.2) as store:
        store.set("a", '{"n":1}', 60)
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StoreError, match="locked"):
                store.set("a", '{"n":2}', 60)
            other.execute("ROLLBACK")
        finally:
            other.close()
        store.set("a", '{"n":3}', 60)
        got = store.get("a")
        assert got is not None and got.text == '{"n":3}'


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not an SQLite database, " * 200)
    with pytest.raises(StoreError, match="not a database"):
        SQLiteStore(path)


def test_a_folder_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path)
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "missing" / "s.db")


def test_a_clashing_table_is_a_store_error(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("CREATE TABLE sessions (key TEXT, value BLOB)")
    db.close()
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "s.db")
    # Left as it was: no column added to a table that is not ours.
    db = sqlite3.connect(tmp_path / "s.db")
    try:
        assert [row[1] for row in db.execute("PRAGMA table_info(sessions)")] == ["key", "value"]
    finally:
        db.close()


def test_corrupt_pages_give_store_errors_only(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SQLiteStore(path) as store:
        for i in range(300):
            store.set(f"id{i}", '{"x":"%s"}' % ("y" * 500), 600)
    # Keep the first pages (header and schema) and overwrite the rest.
    with path.open("r+b") as file:
        file.seek(8192)
        file.write(b"\xff" * (path.stat().st_size - 8192))
    with SQLiteStore(path) as store:
        for i in range(300):
            with pytest.raises(StoreError, match="malformed"):
                store.get(f"id{i}")
        with pytest.raises(StoreError):
            store.length()


def test_a_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    store.close()
    with pytest.raises(StoreError, match="close"):
        store.get("a")


def test_a_hostile_table_name_is_quoted(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    table = 'x"; DROP TABLE sessions; --'
    with SQLiteStore(path) as plain, SQLiteStore(path, table=table) as odd:
        plain.set("a", '{"plain":1}', 60)
        odd.set("a", '{"odd":1}', 60)
        odd.clear()
        got = plain.get("a")
        assert got is not None and got.text == '{"plain":1}'
    assert rows(path, table) == {}


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_no_file_is_a_config_error(path: str) -> None:
    with pytest.raises(ConfigError):
        SQLiteStore(path)


def test_a_bad_table_name_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        SQLiteStore(tmp_path / "s.db", table="")
