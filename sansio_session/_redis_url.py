# The redis:// URL of the Redis store.
#
# Kept apart from redis.py, and standard library only, so that a --store URL
# can be checked at start-up without the hiredis extra installed.
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ._errors import ConfigError

if TYPE_CHECKING:
    from .redis import Command, Op

__all__ = ["RedisURL", "parse_redis_url"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisURL:
    """Where the Redis server is and how to log in, from a redis:// URL."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not self.host:
            raise ConfigError("redis URL: no host")
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ConfigError("redis URL: the port must be a number")
        if not 0 < self.port < 65536:
            raise ConfigError("redis URL: the port must be 1-65535")
        if isinstance(self.db, bool) or not isinstance(self.db, int) or self.db < 0:
            raise ConfigError("redis URL: the database must be a number >= 0")
        if self.password == "":
            raise ConfigError("redis URL: empty password")
        if self.username is not None and self.password is None:
            raise ConfigError("redis URL: a user name needs a password (user:password@)")

    def __str__(self) -> str:
        # Never the password: this text goes to logs.
        scheme = "rediss" if self.tls else "redis"
        login = f"{self.username or ''}:***@" if self.password is not None else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{login}{host}:{self.port}/{self.db}"

    def hello(self, client_name: str | None = None) -> Op[None] | None:
        """The commands a new connection sends first, or None when it needs none.

        ``client_name`` (shown by ``CLIENT LIST``) is printable text without
        spaces; anything else raises ConfigError.
        """
        from .redis import Op, ignore_replies

        commands: list[Command] = []
        if self.password is not None:
            if self.username is not None:
                commands.append((b"AUTH", self.username, self.password))
            else:
                commands.append((b"AUTH", self.password))
        if self.db:
            commands.append((b"SELECT", self.db))
        if client_name is not None:
            if not isinstance(client_name, str) or not client_name.isprintable():
                raise ConfigError("redis client_name: must be printable text")
            if not client_name or " " in client_name:
                raise ConfigError("redis client_name: must be non-empty, without spaces")
            commands.append((b"CLIENT", b"SETNAME", client_name))
        return Op(tuple(commands), ignore_replies) if commands else None


def parse_redis_url(url: str) -> RedisURL:
    """Read ``redis://[user:password@]host[:port][/db]`` (or ``rediss://``).

    Raises :class:`~sansio_session.ConfigError` with a one-line message that
    never repeats the URL (it may hold a password).
    """
    if not isinstance(url, str):
        raise ConfigError("redis URL: must be a string")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError("redis URL: malformed host or port") from None
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss"):
        raise ConfigError("redis URL: the scheme must be redis:// or rediss://")
    if parts.query or parts.fragment:
        raise ConfigError("redis URL: query and fragment are not supported")
    db = parts.path.removeprefix("/")
    if db and not (db.isascii() and db.isdigit()):
        raise ConfigError("redis URL: the path must be a database number (/0)")
    return RedisURL(
        host=parts.hostname or "",
        port=6379 if port is None else port,
        db=int(db) if db else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=scheme == "rediss",
    )
