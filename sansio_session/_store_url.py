# --store URLs: parsed once, at start-up, into a frozen StoreURL.
#
# The forms we take:
#
#     memory
#     sqlite:///relative/path.db        (relative to the working directory)
#     sqlite:////absolute/path.db       (an absolute path: four slashes)
#     redis://[[user]:password@]host[:port][/db]   (read by _redis_url.py)
#     rediss://...                       (the same, over TLS)
#     postgresql://... or postgres://... (any libpq connection URL)
#
# SQLite paths follow SQLAlchemy's rule, the one Python users know: all that
# follows "sqlite:///" is the path as written, with no percent-decoding, so
# f"sqlite:///{path}" is right for any path. "sqlite:///:memory:" is refused:
# an in-memory SQLite database lives in one connection, and the memory store
# is the in-process store.
#
# A PostgreSQL URL is kept whole and handed to libpq, which understands more
# of it than we should second-guess (several hosts, sslmode and the rest);
# we only pick out the parts worth showing.
#
# Every error is a ConfigError whose message is one line and never holds the
# password.
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ._errors import ConfigError
from ._redis_url import parse_redis_url

if TYPE_CHECKING:
    from .memory import MemoryStore
    from .postgres import PostgresStore
    from .sqlite import SQLiteStore

__all__ = ["StoreURL", "parse_store_url", "open_sync_store"]

_FORMS = "memory, sqlite:///PATH, redis://HOST:PORT/DB, rediss://..., postgresql://..."


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreURL:
    """A parsed ``--store`` URL.

    ``scheme`` is one of ``"memory"``, ``"sqlite"``, ``"redis"``, ``"rediss"``
    (Redis over TLS) and ``"postgresql"`` (``postgres://`` is read as it).
    ``path`` is the SQLite file. ``host``, ``port``, ``username`` and
    ``password`` are the server's (a PostgreSQL URL may leave them to libpq's
    defaults: None). ``db`` is the Redis database number, ``database`` the
    PostgreSQL database name. ``url`` is the URL as given, which for
    PostgreSQL is the libpq connection string. Neither ``url`` nor
    ``password`` appears in the repr; :meth:`redacted` is the URL safe to
    print.
    """

    scheme: str
    url: str = field(repr=False)
    path: str | None = None
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int | None = None
    database: str | None = None

    @property
    def tls(self) -> bool:
        """True for ``rediss://``."""
        return self.scheme == "rediss"

    def redacted(self) -> str:
        """The URL with its password, if any, replaced by ``***``."""
        return _redact(self.url)


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hostport}{slash}{tail}"


def _fail(url: str, problem: str) -> ConfigError:
    return ConfigError(f"store URL {_redact(url)!r}: {problem}")


def parse_store_url(url: str) -> StoreURL:
    """Parse a ``--store`` URL, raising :class:`~sansio_session.ConfigError` if it is bad."""
    if not isinstance(url, str):
        raise ConfigError(f"store URL: expected a string, not {type(url).__name__}")
    if url == "memory":
        return StoreURL(scheme="memory", url=url)
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("sqlite", "redis", "rediss", "postgresql", "postgres"):
        raise _fail(url, f"expected one of {_FORMS}")
    url = f"{scheme}://{rest}"
    if not url.isprintable() or url != url.strip():
        raise _fail(url, "contains control characters or surrounding whitespace")
    if scheme == "sqlite":
        return _sqlite(url)
    if any(c.isspace() for c in url):
        raise _fail(url, "contains whitespace")
    if scheme in ("redis", "rediss"):
        return _redis(url)
    return _postgresql(url)


def _sqlite(url: str) -> StoreURL:
    rest = url[len("sqlite://") :]
    if not rest.startswith("/"):
        raise _fail(
            url,
            "a SQLite URL has three slashes before a relative path "
            "(sqlite:///file.db) and four before an absolute one",
        )
    path = rest[1:]
    if not path:
        raise _fail(url, "no database file after sqlite:///")
    if path == ":memory:":
        raise _fail(url, "an in-memory SQLite database is not shared; use the memory store")
    return StoreURL(scheme="sqlite", url=url, path=path)


def _redis(url: str) -> StoreURL:
    # The Redis store's own parser, so that what we accept here is exactly
    # what its transports will connect to.
    try:
        redis = parse_redis_url(url)
    except ConfigError as exc:
        raise _fail(url, str(exc).removeprefix("redis URL: ")) from None
    return StoreURL(
        scheme="rediss" if redis.tls else "redis",
        url=url,
        host=redis.host,
        port=redis.port,
        username=redis.username,
        password=redis.password,
        db=redis.db,
    )


def _postgresql(url: str) -> StoreURL:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        # libpq allows several hosts ("h1:5432,h2:5433"); it checks those.
        if "," not in parts.netloc:
            raise _fail(url, "the port is not a number from 0 to 65535") from None
        port = None
    database = unquote(parts.path.removeprefix("/")) or None
    return StoreURL(
        scheme="postgresql",
        url=url,
        host=unquote(parts.hostname) if parts.hostname else None,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        database=database,
    )


def open_sync_store(
    url: str | StoreURL, *, timeout: float | None = None
) -> MemoryStore | SQLiteStore | PostgresStore:
    """Build the synchronous store a ``--store`` URL names.

    ``timeout`` bounds each store call, in seconds (None: the store's
    default). Redis URLs are refused: each driver opens Redis with its own
    transport. SQLite and PostgreSQL stores hold connections; call their
    ``close()`` when done.
    """
    parsed = url if isinstance(url, StoreURL) else parse_store_url(url)
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"store timeout: must be a positive number of seconds, not {timeout!r}")
    if parsed.scheme == "memory":
        from .memory import MemoryStore

        return MemoryStore()
    if parsed.scheme == "sqlite":
        from .sqlite import SQLiteStore

        assert parsed.path is not None
        if timeout is None:
            return SQLiteStore(parsed.path)
        return SQLiteStore(parsed.path, timeout=timeout)
    if parsed.scheme == "postgresql":
        try:
            from .postgres import PostgresStore
        except ImportError:
            raise ConfigError(
                "store URL: postgresql:// needs the postgres extra (pip install 'sansio-session[postgres]')"
            ) from None
        if timeout is None:
            return PostgresStore(parsed.url)
        return PostgresStore(parsed.url, timeout=timeout)
    raise _fail(
        parsed.url,
        "Redis is opened by the driver's own transport, not by open_sync_store()",
    )
