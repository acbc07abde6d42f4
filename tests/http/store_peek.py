# Looking inside a shared store from outside the app, for what the HTTP
# suite's StoreBackend does not cover: every place a string appears (keys,
# records, the per-user index), a user's Redis index key, and a proxy URL
# for a store reached through a HoldingProxy.
from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit, urlunsplit

import psycopg
from http_stores import POSTGRES_URL, REDIS_URL, StoreBackend

__all__ = ["mentions", "forget_users", "server_address", "through"]

# connect-redis's key prefix and the per-user index prefix derived from it.
_REDIS_PREFIX = "sess:"
_REDIS_USER_PREFIX = "sessu:"


def mentions(backend: StoreBackend, text: str) -> list[str]:
    """Where ``text`` occurs in the store: keys, records and user columns."""
    if backend.kind == "redis":
        return _redis_mentions(backend, text)
    if backend.kind == "postgres":
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            rows = conn.execute(
                'SELECT sid FROM "session" WHERE position(%s in sid) > 0 '
                "OR position(%s in sess::text) > 0 OR position(%s in coalesce(user_id, '')) > 0",
                [text, text, text],
            ).fetchall()
        return [f"row {sid}" for (sid,) in rows]
    if backend.kind == "sqlite":
        with sqlite3.connect(backend.url().removeprefix("sqlite:///")) as db:
            rows = db.execute("SELECT * FROM sessions").fetchall()
        return [f"row {row[0]}" for row in rows if any(text in str(cell) for cell in row)]
    raise ValueError(f"the {backend.kind} store cannot be read from outside the app")


def _redis_mentions(backend: StoreBackend, text: str) -> list[str]:
    assert hasattr(backend, "commands")
    found: list[str] = []
    cursor = "0"
    keys: list[str] = []
    while True:
        [(cursor_reply, batch)] = backend.commands([["SCAN", cursor, "COUNT", "1000"]])
        keys.extend(bytes(key).decode() for key in batch)
        cursor = bytes(cursor_reply).decode()
        if cursor == "0":
            break
    found.extend(f"key {key}" for key in keys if text in key)
    ours = [key for key in keys if key.startswith((_REDIS_PREFIX, _REDIS_USER_PREFIX))]
    for key in ours:
        [reply] = backend.commands([["TYPE", key]])
        kind = reply.decode() if isinstance(reply, bytes) else str(reply)
        if kind == "string":
            [value] = backend.commands([["GET", key]])
            members = [] if value is None else [bytes(value).decode()]
        elif kind == "set":
            [raw] = backend.commands([["SMEMBERS", key]])
            members = [bytes(m).decode() for m in raw]
        else:
            members = []
        found.extend(f"value of {key}" for member in members if text in member)
    return found


def forget_users(backend: StoreBackend, users: list[str]) -> None:
    """Remove the Redis per-user index keys of ``users`` (rows and records go with forget())."""
    if backend.kind == "redis" and users:
        assert hasattr(backend, "commands")
        backend.commands([["DEL", *(_REDIS_USER_PREFIX + user for user in users)]])


def server_address(backend: StoreBackend) -> tuple[str, int]:
    """The host and port of a networked store's server."""
    url = REDIS_URL if backend.kind == "redis" else POSTGRES_URL
    parts = urlsplit(url)
    default = 6379 if backend.kind == "redis" else 5432
    return parts.hostname or "127.0.0.1", parts.port or default


def through(backend: StoreBackend, port: int) -> str:
    """The backend's --store URL, but reaching its server at 127.0.0.1:``port``."""
    parts = urlsplit(backend.url())
    credentials = parts.netloc.rpartition("@")[0]
    netloc = (credentials + "@" if credentials else "") + f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))
