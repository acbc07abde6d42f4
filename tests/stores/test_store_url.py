# parse_store_url and open_sync_store: the --store URLs accepted at start-up,
# and the one-line ConfigError for everything else.
from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from sansio_session._errors import ConfigError
from sansio_session._store_url import StoreURL, open_sync_store, parse_store_url
from sansio_session.memory import MemoryStore
from sansio_session.sqlite import SQLiteStore


def test_memory() -> None:
    assert parse_store_url("memory") == StoreURL(scheme="memory", url="memory")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///sessions.db", "sessions.db"),
        ("sqlite:///data/sessions.db", "data/sessions.db"),
        ("sqlite:////var/lib/app/sessions.db", "/var/lib/app/sessions.db"),
        ("sqlite:////tmp/my sessions%20x.db", "/tmp/my sessions%20x.db"),
        ("SQLite:///s.db", "s.db"),
    ],
)
def test_sqlite_paths_are_taken_as_written(url: str, path: str) -> None:
    parsed = parse_store_url(url)
    assert (parsed.scheme, parsed.path) == ("sqlite", path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost", ("localhost", 6379, None, None, 0)),
        ("redis://127.0.0.1:6380/3", ("127.0.0.1", 6380, None, None, 3)),
        ("redis://:s3cret@cache:6379/0", ("cache", 6379, None, "s3cret", 0)),
        ("redis://app:p%40ss%3Aw@cache/15", ("cache", 6379, "app", "p@ss:w", 15)),
        ("redis://[::1]:7000/", ("::1", 7000, None, None, 0)),
    ],
)
def test_redis(url: str, expected: tuple[object, ...]) -> None:
    parsed = parse_store_url(url)
    assert parsed.scheme == "redis" and not parsed.tls
    assert (parsed.host, parsed.port, parsed.username, parsed.password, parsed.db) == expected


def test_rediss_is_redis_over_tls() -> None:
    parsed = parse_store_url("rediss://u:pw@secure.example:6390/2")
    assert parsed.scheme == "rediss" and parsed.tls
    assert (parsed.host, parsed.port, parsed.username, parsed.password, parsed.db) == (
        "secure.example",
        6390,
        "u",
        "pw",
        2,
    )


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql(scheme: str) -> None:
    url = f"{scheme}://app:pw@db.example:5433/sessions?sslmode=require"
    parsed = parse_store_url(url)
    assert parsed.scheme == "postgresql"
    assert parsed.url == url
    assert (parsed.host, parsed.port, parsed.username, parsed.password, parsed.database) == (
        "db.example",
        5433,
        "app",
        "pw",
        "sessions",
    )


def test_postgresql_leaves_defaults_and_several_hosts_to_libpq() -> None:
    bare = parse_store_url("postgresql://")
    assert (bare.host, bare.port, bare.username, bare.database) == (None, None, None, None)
    hosts = parse_store_url("postgresql://h1:5432,h2:5433/db")
    assert (hosts.port, hosts.database) == (None, "db")


def test_the_repr_and_redacted_form_hide_the_password() -> None:
    parsed = parse_store_url("redis://app:hunter2@cache:6379/1")
    assert "hunter2" not in repr(parsed)
    assert parsed.redacted() == "redis://app:***@cache:6379/1"
    assert parse_store_url("sqlite:///s.db").redacted() == "sqlite:///s.db"


BAD_URLS = [
    "",
    "memory://",
    "Memory ",
    "mysql://localhost/db",
    "sessions.db",
    "sqlite:/s.db",
    "sqlite://",
    "sqlite:///",
    "sqlite://host/s.db",
    "sqlite:///:memory:",
    "sqlite:///s.db\n",
    "redis://localhost:notaport",
    "redis://localhost:70000",
    "redis://localhost:0",
    "redis://localhost/one",
    "redis://localhost/-1",
    "redis://localhost/0?ssl=true",
    "redis://localhost/0#x",
    "redis://justauser@localhost",
    "redis://local host",
    "redis://",
    "redis://app:@cache",
    "postgresql://db:port/x",
    "postgresql://db/x y",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_url_is_a_one_line_config_error(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_store_url(url)
    message = str(caught.value)
    assert message and "\n" not in message


def test_a_config_error_never_shows_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_store_url("redis://app:hunter2@cache:port/1")
    assert "hunter2" not in str(caught.value)
    assert "app:***@" in str(caught.value)


def test_a_non_string_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        parse_store_url(None)  # type: ignore[arg-type]


def test_open_memory() -> None:
    assert isinstance(open_sync_store("memory"), MemoryStore)


def test_open_sqlite(tmp_path: Path) -> None:
    store = open_sync_store(f"sqlite:///{tmp_path / 's.db'}", timeout=1.0)
    assert isinstance(store, SQLiteStore)
    with store:
        store.set("a", '{"n":1}', 60)
        assert (tmp_path / "s.db").exists()


def test_open_redis_is_refused_with_a_reason() -> None:
    with pytest.raises(ConfigError, match="driver"):
        open_sync_store("redis://localhost:6379/0")


def test_open_takes_a_parsed_url_and_checks_the_timeout() -> None:
    assert isinstance(open_sync_store(parse_store_url("memory")), MemoryStore)
    with pytest.raises(ConfigError):
        open_sync_store("memory", timeout=0)


@pytest.mark.services
def test_open_postgresql(postgres_url: str) -> None:
    import psycopg

    from sansio_session.postgres import PostgresStore

    # The store makes its "session" table on the search path: a schema of
    # this test's own, so the shared database is left as it was.
    schema = f"sansio_test_{uuid.uuid4().hex[:10]}"
    separator = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{separator}options={quote(f'-c search_path={schema}')}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        store = open_sync_store(url, timeout=2.0)
        assert isinstance(store, PostgresStore)
        with store:
            store.set("a", '{"n":1}', 60)
            got = store.get("a")
            assert got is not None and got.text == '{"n":1}'
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
