# SessionOptions and CookieOptions: validated once, then frozen.
#
# Every option has one name and one default, documented here and in
# docs/express.rst. The names are the Python spellings of express-session's
# options; from_mapping() takes exactly the `--config` keys of the reference
# app contract and refuses anything else, so a typo is an error at start-up
# rather than a silently ignored setting.
#
# Three defaults differ from express-session on purpose: resave and
# save_uninitialized are False (express-session deprecates its implicit
# True and asks every user to choose), and same_site is "lax" (express
# leaves it unset).
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from ._errors import ConfigError

__all__ = ["CookieOptions", "SessionOptions", "default_genid", "is_default_shaped_id"]

log = logging.getLogger("sansio_session")

#: RFC 6265bis section 5.5: user agents cap cookie lifetimes at 400 days.
MAX_COOKIE_AGE = 400 * 24 * 3600
#: Below this many characters a secret draws a warning.
MIN_SECRET_LENGTH = 32

SameSite = Literal["lax", "strict", "none", "auto"]
Priority = Literal["low", "medium", "high"]

# RFC 7230 token characters (RFC 6265 section 4.1.1 makes a cookie-name a token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_ID_ALPHABET = re.compile(r"[A-Za-z0-9_-]{32}\Z")


def default_genid() -> str:
    """24 random bytes from :mod:`secrets` as 32 URL-safe characters.

    The same shape as express-session's ``uid-safe`` ids, so sessions move
    freely between the two.
    """
    return secrets.token_urlsafe(24)


def is_default_shaped_id(sid: str) -> bool:
    """True for 32 characters of the URL-safe base64 alphabet."""
    return len(sid) == 32 and _ID_ALPHABET.match(sid) is not None


def _fail(option: str, problem: str) -> ConfigError:
    return ConfigError(f"{option}: {problem}")


def _check_attribute(option: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _fail(option, "must be a string")
    # A ';' would end the attribute early and let the rest become new ones;
    # control characters are not allowed in cookie attributes at all.
    if ";" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _fail(option, "must not contain ';' or control characters")


def _check_bool(option: str, value: object) -> None:
    if not isinstance(value, bool):
        raise _fail(option, "must be true or false")


def _check_choice(option: str, value: object, choices: Sequence[object]) -> None:
    # Compare types too: 1 == True in Python, but 1 is not a valid choice.
    if any(value is c or (type(value) is type(c) and value == c) for c in choices):
        return
    shown = ", ".join(_show(c) for c in choices)
    raise _fail(option, f"must be one of {shown}")


def _show(choice: object) -> str:
    if choice is None:
        return "null"
    if isinstance(choice, bool):
        return "true" if choice else "false"
    return f'"{choice}"'


def _check_seconds(option: str, value: object, *, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(option, "must be a number of seconds" + (" or null" if allow_none else ""))
    if value != value or value in (float("inf"), float("-inf")):
        raise _fail(option, "must be a finite number of seconds")
    if value < 0:
        raise _fail(option, "must not be negative")


@dataclass(frozen=True, slots=True, kw_only=True)
class CookieOptions:
    """The attributes of the session cookie, for sessions created from now on.

    A loaded session keeps the attributes it was stored with, as in
    express-session.
    """

    path: str = "/"
    domain: str | None = None
    http_only: bool = True
    secure: bool | Literal["auto"] = False
    same_site: SameSite | None = "lax"
    #: Seconds, or None for a browser-session cookie.
    max_age: float | None = None
    partitioned: bool = False
    priority: Priority | None = None

    def __post_init__(self) -> None:
        _check_attribute("cookie.path", self.path)
        if not self.path:
            raise _fail("cookie.path", "must not be empty")
        _check_attribute("cookie.domain", self.domain)
        if self.domain == "":
            raise _fail("cookie.domain", "must not be empty (use null for no Domain)")
        _check_bool("cookie.http_only", self.http_only)
        _check_choice("cookie.secure", self.secure, [True, False, "auto"])
        _check_choice("cookie.same_site", self.same_site, ["lax", "strict", "none", "auto", None])
        _check_seconds("cookie.max_age", self.max_age)
        _check_bool("cookie.partitioned", self.partitioned)
        _check_choice("cookie.priority", self.priority, ["low", "medium", "high", None])
        if self.same_site == "none" and self.secure is not True:
            # Browsers drop SameSite=None cookies that are not Secure.
            raise _fail("cookie.same_site", '"none" needs cookie.secure true')
        if self.max_age is not None and self.max_age > MAX_COOKIE_AGE:
            log.warning(
                "cookie.max_age %s is over 400 days; capped at 400 days (RFC 6265bis)",
                self.max_age,
            )
            object.__setattr__(self, "max_age", MAX_COOKIE_AGE)

    @property
    def max_age_ms(self) -> int | None:
        """max_age as the whole milliseconds stored in the record."""
        return None if self.max_age is None else round(self.max_age * 1000)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOptions:
    """All session options. Built once at start-up; raises ConfigError."""

    secret: str | Sequence[str]
    name: str = "connect.sid"
    resave: bool = False
    save_uninitialized: bool = False
    rolling: bool = False
    unset: Literal["keep", "destroy"] = "keep"
    #: Trust X-Forwarded-Proto (True), ignore it (False), or leave the verdict
    #: to the framework (None).
    proxy: bool | None = None
    cookie: CookieOptions = field(default_factory=CookieOptions)
    #: Makes a new session id. Must return at least 128 bits of randomness.
    genid: Callable[[], str] = default_genid
    #: Decides whether a validly signed id is of the generator's shape; an id
    #: that is not never reaches a store. A pure function of the id: its
    #: answer for a cookie is remembered (see verified_ids).
    valid_id: Callable[[str], bool] = is_default_shaped_id
    #: The limit on one store call, in seconds; drivers enforce it.
    store_timeout: float | None = 5.0
    #: "fail": a store failure is a 500. "continue": the request goes on
    #: without a session and the cookie is left alone.
    on_store_failure: Literal["fail", "continue"] = "fail"
    #: Seconds of inactivity after which a session ends: the sliding expiry
    #: of both the cookie and the store (instead of cookie.max_age).
    idle_timeout: float | None = None
    #: Seconds from creation after which a session ends, however active;
    #: never extended. The cookie's Expires and the store's TTL are capped
    #: by it, and the server checks it on every load.
    absolute_timeout: float | None = None
    #: Refresh the store's expiry (touch) only when at least this many
    #: seconds have passed since the last refresh.
    touch_after: float | None = None
    #: Keep only a keyed hash of each id in the store (the raw id never
    #: reaches it). Off by default: a Node app sharing the store would not
    #: find the sessions.
    hash_ids: bool = False
    #: The key for hash_ids; by default derived from the first secret.
    id_hash_key: bytes | None = field(default=None, repr=False)
    #: Called with an event name and details (never a raw id) for what
    #: happens to sessions: bad_signature, invalid_id, corrupt_record,
    #: expired, store_failure, secure_cookie_not_sent, orphan_not_saved.
    on_event: Callable[[str, dict[str, Any]], None] | None = None
    #: Which once-per-configuration warnings were given already.
    warned: set[str] = field(init=False, repr=False, compare=False, default_factory=set)
    #: Cookie values ("s:<id>.<mac>") that verified, with their id: a
    #: returning visitor's cookie is checked once, not on every request.
    #: Only a value that passed the HMAC check and valid_id gets in, so a
    #: forged one can never be served from here; bounded (emptied when full).
    verified_ids: dict[str, str] = field(init=False, repr=False, compare=False, default_factory=dict)
    #: Secrets as a tuple of UTF-8 bytes; the first signs.
    secrets: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def can_defer(self, cookie_header: str | None) -> bool:
        """Whether a request with this Cookie header may begin its session on
        first use, or never.

        True when the header carries no cookie of ours (nothing to load) and
        an untouched new session is not stored (``save_uninitialized`` off):
        a driver then needs no session work at all for a request whose
        handler never asks for the session.
        """
        return not self.save_uninitialized and (cookie_header is None or self.name not in cookie_header)

    @property
    def sliding_ms(self) -> int | None:
        """The sliding lifetime in ms: idle_timeout, else cookie.max_age."""
        if self.idle_timeout is not None:
            return round(self.idle_timeout * 1000)
        return self.cookie.max_age_ms

    def __post_init__(self) -> None:
        secret = self.secret
        given = (
            [secret]
            if isinstance(secret, str)
            else list(secret)
            if isinstance(secret, (list, tuple))
            else None
        )
        if not given:
            raise _fail("secret", "required: a non-empty string or a non-empty list of strings")
        for one in given:
            if not isinstance(one, str) or not one:
                raise _fail("secret", "every secret must be a non-empty string")
        object.__setattr__(self, "secret", tuple(given))
        object.__setattr__(self, "secrets", tuple(s.encode("utf-8") for s in given))

        if not isinstance(self.name, str) or not _TOKEN.match(self.name):
            raise _fail("name", "must be a cookie name made of RFC 6265 token characters")
        for option in ("resave", "save_uninitialized", "rolling"):
            _check_bool(option, getattr(self, option))
        _check_choice("unset", self.unset, ["keep", "destroy"])
        _check_choice("proxy", self.proxy, [True, False, None])
        if not isinstance(self.cookie, CookieOptions):
            raise _fail("cookie", "must be a CookieOptions")
        if not callable(self.genid):
            raise _fail("genid", "must be a callable returning a new id")
        if self.on_event is not None and not callable(self.on_event):
            raise _fail("on_event", "must be a callable or None")
        if not callable(self.valid_id):
            raise _fail("valid_id", "must be a callable taking an id")
        _check_seconds("store_timeout", self.store_timeout)
        if self.store_timeout == 0:
            raise _fail("store_timeout", "must be more than 0 seconds (or null)")
        _check_choice("on_store_failure", self.on_store_failure, ["fail", "continue"])
        for option in ("idle_timeout", "absolute_timeout", "touch_after"):
            _check_seconds(option, getattr(self, option))
            if getattr(self, option) == 0:
                raise _fail(option, "must be more than 0 seconds (or null)")
        if self.idle_timeout is not None and self.cookie.max_age is not None:
            raise _fail("idle_timeout", "is the sliding expiry; leave cookie.max_age null when you set it")
        _check_bool("hash_ids", self.hash_ids)
        if self.id_hash_key is not None and not isinstance(self.id_hash_key, bytes):
            raise _fail("id_hash_key", "must be bytes")

        # RFC 6265bis section 4.1.3: the cookie name prefixes.
        if self.name.startswith("__Secure-") and self.cookie.secure is not True:
            raise _fail("name", "a __Secure- cookie needs cookie.secure true")
        if self.name.startswith("__Host-") and (
            self.cookie.secure is not True or self.cookie.path != "/" or self.cookie.domain is not None
        ):
            raise _fail("name", '__Host- cookie needs cookie.secure true, cookie.path "/" and no domain')
        # Warn only once everything is valid, so a refused config prints
        # exactly one line.
        if len(given[0]) < MIN_SECRET_LENGTH:
            log.warning(
                "the signing secret is shorter than %d characters; use a long random one",
                MIN_SECRET_LENGTH,
            )

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any], **python_only: Any) -> SessionOptions:
        """Build options from the reference app's ``--config`` JSON keys.

        Unknown keys, at the top or inside ``cookie``, are refused.
        ``python_only`` passes options that JSON cannot express (``genid``,
        ``valid_id``).
        """
        if not isinstance(config, Mapping):
            raise ConfigError("config: must be a JSON object")
        allowed = {f.name for f in fields(cls) if f.init} - {"genid", "valid_id", "on_event", "id_hash_key"}
        for key in config:
            if key not in allowed:
                raise ConfigError(f"{key}: unknown option")
        if "secret" not in config:
            raise _fail("secret", "required")
        values = dict(config)
        secret = values.get("secret")
        if isinstance(secret, list):
            values["secret"] = tuple(secret)
        elif not isinstance(secret, str):
            raise _fail("secret", "required: a non-empty string or a non-empty list of strings")
        cookie = values.pop("cookie", {})
        if not isinstance(cookie, Mapping):
            raise ConfigError("cookie: must be a JSON object")
        cookie_allowed = {f.name for f in fields(CookieOptions)}
        for key in cookie:
            if key not in cookie_allowed:
                raise ConfigError(f"cookie.{key}: unknown option")
        return cls(cookie=CookieOptions(**cookie), **values, **python_only)
