# PostgresStore beyond the conformance suite: connect-pg-simple's table and
# queries, clean-up, and the failures (a refused connection, a statement that
# cannot finish in time, connections killed under the store) that must come
# out as StoreError, with the store working again afterwards.
from __future__ import annotations

import json
import math
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg import sql
from store_facades import ManualClock

from sansio_session._errors import ConfigError, StoreError
from sansio_session.postgres import PostgresStore


def query(url: str, statement: str | sql.SQL | sql.Composed, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_refused_connection_is_a_store_error() -> None:
    url = f"postgresql://postgres@127.0.0.1:{unused_port()}/test"
    with pytest.raises(StoreError):
        PostgresStore(url, timeout=0.5)
    store = PostgresStore(url, timeout=0.5, create_table=False)
    try:
        with pytest.raises(StoreError):
            store.get("a")
        with pytest.raises(StoreError):
            store.set("a", '{"n":1}', 60)
    finally:
        store.close()


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"pool_min": 3, "pool_max": 2},
        {"pool_max": 0},
        {"table": ""},
        {"schema": "a\x00b"},
        {"prune_interval": -1},
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        PostgresStore("postgresql://postgres@127.0.0.1:1/test", create_table=False, **options)


def test_a_bad_conninfo_is_a_config_error_without_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        PostgresStore("host=x password=hunter2 nonsense", create_table=False)
    assert "hunter2" not in str(caught.value)


pytestmark_services = pytest.mark.services


@pytestmark_services
def test_the_table_is_connect_pg_simples(postgres_url: str, pg_schema: str) -> None:
    with PostgresStore(postgres_url, schema=pg_schema):
        pass
    columns = query(
        postgres_url,
        "SELECT column_name, data_type, is_nullable, datetime_precision "
        "FROM information_schema.columns WHERE table_schema = %s AND table_name = 'session' "
        "ORDER BY ordinal_position",
        pg_schema,
    )
    # connect-pg-simple's three columns, and the nullable user index column.
    assert columns == [
        ("sid", "character varying", "NO", None),
        ("sess", "json", "NO", None),
        ("expire", "timestamp without time zone", "NO", 6),
        ("user_id", "character varying", "YES", None),
    ]
    indexes = query(
        postgres_url,
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY indexname",
        pg_schema,
    )
    assert [name for name, _ in indexes] == ["IDX_session_expire", "IDX_session_user", "session_pkey"]
    assert indexes[0][1].endswith("USING btree (expire)")
    assert indexes[1][1].endswith("USING hash (user_id)")
    assert indexes[2][1].endswith("USING btree (sid)")


# connect-pg-simple's own statements (index.js), with its whole-second clock.
NODE_SET = (
    "INSERT INTO {} (sess, expire, sid) SELECT %s, to_timestamp(%s), %s "
    "ON CONFLICT (sid) DO UPDATE SET sess=%s, expire=to_timestamp(%s) RETURNING sid"
)
NODE_GET = "SELECT sess FROM {} WHERE sid = %s AND expire >= to_timestamp(%s)"
NODE_TOUCH = "UPDATE {} SET expire = to_timestamp(%s) WHERE sid = %s RETURNING sid"


@pytestmark_services
def test_sessions_are_shared_with_connect_pg_simple(postgres_url: str, pg_table: str) -> None:
    clock = ManualClock(1_700_000_000.25)
    name = sql.Identifier(pg_table)
    with PostgresStore(postgres_url, table=pg_table, clock=clock) as store:
        node_text = '{"cookie":{"originalMaxAge":60000,"path":"/"},"views":3}'
        expire = math.ceil(clock() + 60)
        node_set = sql.SQL(NODE_SET).format(name)
        query(postgres_url, node_set, node_text, expire, "from-node", node_text, expire)
        got = store.get("from-node")
        assert got is not None
        assert (got.text, got.expires_at) == (node_text, expire)

        ours = '{"cookie":{"originalMaxAge":null,"path":"/"},"user":"ü"}'
        store.set("from-us", ours, 3600)
        node_get = sql.SQL(NODE_GET).format(name)
        (row,) = query(postgres_url, node_get, "from-us", math.ceil(clock()))
        assert row[0] == json.loads(ours)

        node_touch = sql.SQL(NODE_TOUCH).format(name)
        query(postgres_url, node_touch, math.ceil(clock() + 7200), "from-us")
        got = store.get("from-us")
        assert got is not None
        assert (got.text, got.expires_at) == (ours, math.ceil(clock() + 7200))


# connect-pg-simple's table.sql, as a Node app's operator runs it.
NODE_TABLE = (
    'CREATE TABLE {0} ("sid" varchar NOT NULL COLLATE "default", "sess" json NOT NULL, '
    '"expire" timestamp(6) NOT NULL) WITH (OIDS=FALSE); '
    'ALTER TABLE {0} ADD CONSTRAINT {1} PRIMARY KEY ("sid") NOT DEFERRABLE INITIALLY IMMEDIATE; '
    'CREATE INDEX {2} ON {0} ("expire")'
)


def make_node_table(url: str, table: str) -> None:
    ids = (sql.Identifier(table), sql.Identifier(f"{table}_pkey"), sql.Identifier(f"IDX_{table}_expire"))
    query(url, sql.SQL(NODE_TABLE).format(*ids))


@pytestmark_services
def test_a_node_table_gets_the_user_column_and_keeps_its_rows(postgres_url: str, pg_table: str) -> None:
    make_node_table(postgres_url, pg_table)
    clock = ManualClock(1_700_000_000.0)
    node_set = sql.SQL(NODE_SET).format(sql.Identifier(pg_table))
    node_text = '{"cookie":{"originalMaxAge":60000,"path":"/"},"views":3}'
    expire = math.ceil(clock() + 60)
    query(postgres_url, node_set, node_text, expire, "from-node", node_text, expire)
    # Several processes may start on the old table at once.
    with ThreadPoolExecutor(8) as pool:
        for store in pool.map(lambda _: PostgresStore(postgres_url, table=pg_table, pool_min=0), range(8)):
            store.close()
    with PostgresStore(postgres_url, table=pg_table, clock=clock) as store:
        got = store.get("from-node")
        assert got is not None and got.text == node_text
        assert store.replace("from-node", '{"n":1}', 60, node_text, user="alice") is None
        assert store.sessions_of("alice") == ["from-node"]


@pytestmark_services
def test_a_node_save_keeps_the_binding(postgres_url: str, pg_table: str) -> None:
    clock = ManualClock(1_700_000_000.0)
    with PostgresStore(postgres_url, table=pg_table, clock=clock) as store:
        store.set("s", '{"n":1}', 3600, user="alice")
        node_set = sql.SQL(NODE_SET).format(sql.Identifier(pg_table))
        node_text = '{"cookie":{"originalMaxAge":60000,"path":"/"},"n":2}'
        expire = math.ceil(clock() + 60)
        query(postgres_url, node_set, node_text, expire, "s", node_text, expire)
        assert store.sessions_of("alice") == ["s"]
        assert store.destroy_all("alice") == 1
        assert store.get("s") is None


@pytestmark_services
def test_without_create_table_a_node_table_serves_unbound_sessions(postgres_url: str, pg_table: str) -> None:
    make_node_table(postgres_url, pg_table)
    with PostgresStore(postgres_url, table=pg_table, create_table=False) as store:
        store.set("a", '{"n":1}', 60)
        assert store.replace("a", '{"n":2}', 60, '{"n":1}') is None
        store.touch("a", 120)
        got = store.get("a")
        assert got is not None and got.text == '{"n":2}'
        # A bound session needs the column, which only the operator may add.
        with pytest.raises(StoreError, match="UndefinedColumn"):
            store.set("b", '{"n":1}', 60, user="alice")
        store.destroy("a")
        assert store.length() == 0


@pytestmark_services
def test_prune_deletes_expired_rows_only(postgres_url: str, pg_table: str) -> None:
    clock = ManualClock(1_700_000_000.0)
    with PostgresStore(postgres_url, table=pg_table, clock=clock, prune_interval=None) as store:
        store.set("old", '{"n":1}', 10)
        store.set("new", '{"n":2}', 1000)
        clock.advance(100)
        assert store.prune() == 1
        remaining = query(postgres_url, sql.SQL("SELECT sid FROM {}").format(sql.Identifier(pg_table)))
        assert remaining == [("new",)]


@pytestmark_services
def test_saves_sweep_expired_rows_now_and_then(postgres_url: str, pg_table: str) -> None:
    clock = ManualClock(1_700_000_000.0)
    select = sql.SQL("SELECT sid FROM {} ORDER BY sid").format(sql.Identifier(pg_table))
    with PostgresStore(postgres_url, table=pg_table, clock=clock, prune_interval=60) as store:
        store.set("a", '{"n":1}', 1)
        clock.advance(10)
        store.set("b", '{"n":2}', 1000)
        assert query(postgres_url, select) == [("a",), ("b",)]
        clock.advance(60)
        store.set("c", '{"n":3}', 1000)
        assert query(postgres_url, select) == [("b",), ("c",)]


@pytestmark_services
def test_a_schema_and_a_hostile_table_name(postgres_url: str, pg_schema: str) -> None:
    table = 'we"ird; DROP TABLE session; --'
    with PostgresStore(postgres_url, schema=pg_schema, table=table) as store:
        store.set("a", '{"n":1}', 60)
        got = store.get("a")
        assert got is not None and got.text == '{"n":1}'
    found = query(
        postgres_url,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        pg_schema,
    )
    assert found == [(table,)]


@pytestmark_services
def test_stores_starting_together_create_the_table_once(postgres_url: str, pg_table: str) -> None:
    def start(_: int) -> None:
        PostgresStore(postgres_url, table=pg_table, pool_min=0).close()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(start, range(8)))
    with PostgresStore(postgres_url, table=pg_table, create_table=False) as store:
        store.set("a", '{"n":1}', 60)
        assert store.length() == 1


@pytestmark_services
def test_a_missing_table_is_a_store_error(postgres_url: str, pg_table: str) -> None:
    with (
        PostgresStore(postgres_url, table=pg_table, create_table=False) as store,
        pytest.raises(StoreError, match="UndefinedTable"),
    ):
        store.get("a")


@pytestmark_services
def test_a_record_that_is_not_json_is_a_store_error(postgres_url: str, pg_table: str) -> None:
    with PostgresStore(postgres_url, table=pg_table) as store:
        with pytest.raises(StoreError):
            store.set("a", "not json", 60)
        assert store.get("a") is None


@pytestmark_services
def test_a_statement_that_waits_too_long_is_a_store_error(postgres_url: str, pg_table: str) -> None:
    with PostgresStore(postgres_url, table=pg_table, timeout=0.3) as store:
        store.set("a", '{"n":1}', 60)
        with psycopg.connect(postgres_url) as other:
            other.execute(
                sql.SQL("SELECT 1 FROM {} WHERE sid = 'a' FOR UPDATE").format(sql.Identifier(pg_table))
            )
            with pytest.raises(StoreError, match="QueryCanceled"):
                store.set("a", '{"n":2}', 60)
            other.rollback()
        store.set("a", '{"n":3}', 60)
        got = store.get("a")
        assert got is not None and got.text == '{"n":3}'


@pytestmark_services
def test_connections_killed_under_the_store(postgres_url: str, pg_table: str) -> None:
    # What a server restart does to a pool: every connection it holds dies.
    with PostgresStore(postgres_url, table=pg_table, pool_min=2, pool_max=2) as store:
        store.set("a", '{"n":1}', 60)
        killed = query(
            postgres_url,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND datname = current_database() "
            "AND application_name = '' AND state = 'idle' AND query LIKE %s",
            f"%{pg_table}%",
        )
        assert killed and all(ok for (ok,) in killed)
        got = store.get("a")
        assert got is not None and got.text == '{"n":1}'
        store.set("a", '{"n":2}', 60)
        got = store.get("a")
        assert got is not None and got.text == '{"n":2}'


@pytestmark_services
def test_a_closed_store_raises_store_error(postgres_url: str, pg_table: str) -> None:
    store = PostgresStore(postgres_url, table=pg_table)
    store.close()
    with pytest.raises(StoreError):
        store.get("a")
