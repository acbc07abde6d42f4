# The store facades the conformance suite runs against: memory, SQLite (a
# temporary file), PostgreSQL (a table of the test's own, dropped after), and
# the Redis facades of redis_facades.py when that module is present.
from __future__ import annotations

import functools
import importlib
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from store_facades import (
    POSTGRES_URL,
    ManualClock,
    StoreFacade,
    SyncStoreFacade,
    service_unavailable,
)

from sansio_session._store_url import parse_store_url
from sansio_session.memory import MemoryStore
from sansio_session.postgres import PostgresStore
from sansio_session.sqlite import SQLiteStore

FacadeFactory = Callable[[], AbstractContextManager[StoreFacade]]

#: A prefix unique to this test run, for the PostgreSQL tables it creates.
RUN_TAG = f"sansio_test_{uuid.uuid4().hex[:10]}"
_tables = iter(range(1, 1_000_000))


@contextmanager
def memory_facade() -> Iterator[StoreFacade]:
    clock = ManualClock()
    yield SyncStoreFacade(MemoryStore(clock=clock), clock, serialise=True)


@contextmanager
def sqlite_facade() -> Iterator[StoreFacade]:
    clock = ManualClock()
    with tempfile.TemporaryDirectory() as folder:
        store = SQLiteStore(Path(folder) / "sessions.db", clock=clock)
        try:
            yield SyncStoreFacade(store, clock)
        finally:
            store.close()


@functools.cache
def postgres_problem() -> str | None:
    """Why the test PostgreSQL server cannot be used, or None when it can."""
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        first = (str(exc).splitlines() or [""])[0]
        return f"PostgreSQL at {parse_store_url(POSTGRES_URL).redacted()} unreachable: {first}"


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is not None:
        service_unavailable(problem)


def new_table_name() -> str:
    return f"{RUN_TAG}_{next(_tables)}"


def drop_table(table: str, schema: str | None = None) -> None:
    name = sql.Identifier(schema, table) if schema else sql.Identifier(table)
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(name))


@contextmanager
def postgres_facade() -> Iterator[StoreFacade]:
    require_postgres()
    clock = ManualClock()
    table = new_table_name()
    try:
        store = PostgresStore(POSTGRES_URL, table=table, clock=clock)
        try:
            yield SyncStoreFacade(store, clock, long_ids=False)
        finally:
            store.close()
    finally:
        drop_table(table)


@pytest.fixture
def postgres_url() -> str:
    """The test server's URL; skips (fails under CI=true) when it is unreachable."""
    require_postgres()
    return POSTGRES_URL


@pytest.fixture
def pg_table(postgres_url: str) -> Iterator[str]:
    """A table name of the test's own, dropped after it."""
    table = new_table_name()
    yield table
    drop_table(table)


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A schema of the test's own with an awkward name, dropped after it."""
    schema = f'{new_table_name()} "schema"'
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _redis_facades() -> dict[str, FacadeFactory]:
    if not Path(__file__).with_name("redis_facades.py").exists():
        return {}
    module: Any = importlib.import_module("redis_facades")
    return dict(module.REDIS_FACADES)


FACADES: dict[str, FacadeFactory] = {
    "memory": memory_facade,
    "sqlite": sqlite_facade,
    "postgresql": postgres_facade,
    **_redis_facades(),
}

_LOCAL = {"memory", "sqlite"}


@pytest.fixture(
    params=[pytest.param(name, marks=() if name in _LOCAL else (pytest.mark.services,)) for name in FACADES]
)
def facade(request: pytest.FixtureRequest) -> Iterator[StoreFacade]:
    """A facade on an empty store, one for each kind of store."""
    with FACADES[request.param]() as store:
        yield store
