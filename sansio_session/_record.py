# The stored record, in express-session's layout, and the session's cookie.
#
# A record is strict JSON (never pickle: Beaker CVE-2013-7489):
#
#   {"cookie":{"originalMaxAge":60000,"expires":"2026-12-03T19:23:03.506Z",
#              "httpOnly":true,"path":"/"},"views":1}
#
# The cookie object's keys come in express's order (originalMaxAge,
# partitioned, priority, expires, secure, httpOnly, domain, path, sameSite),
# with absent ones left out; the session's data keys follow. Times inside are
# whole milliseconds, as JavaScript keeps them, so a record makes the round
# trip through a Node app unchanged.
#
# A record we cannot trust (not JSON, not an object, a cookie that is not an
# object, a garbage expires or originalMaxAge, nesting deeper than MAX_DEPTH)
# raises CorruptRecord, which the machine turns into "no session".
from __future__ import annotations

import json
import json.scanner
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

__all__ = ["SessionCookie", "CorruptRecord", "decode_record", "encode_record", "dump_data", "remember_record"]

#: RFC 6265bis section 5.5: 400 days, in ms.
MAX_COOKIE_AGE_MS = 400 * 24 * 3600 * 1000
#: How deeply a record's data may nest.
MAX_DEPTH = 32

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SAME_SITE = {"lax": "lax", "strict": "strict", "none": "none"}
# What may not appear in a cookie attribute: ";" and the control characters.
_FORBIDDEN = re.compile(r"[;\x00-\x1f\x7f]")
_PRIORITY = {"low": "low", "medium": "medium", "high": "high"}


def _not_json(value: object) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encode: Any = getattr(json.encoder, "c_make_encoder", None)  # untyped in typeshed
_dumps: Callable[[Any], str]
if _encode is not None:
    # json.dumps's C encoder, made once: json.dumps builds a new one on every
    # call, which costs more than encoding a small session does. Without the
    # circular check (no markers): a value that contains itself ends in a
    # RecursionError, which the callers name as they name a TypeError.
    _iterencode = _encode(
        None, _not_json, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
    )

    def _c_dumps(value: Any) -> str:
        return "".join(_iterencode(value, 0))

    _dumps = _c_dumps

else:  # pragma: no cover - Pythons built without the _json accelerator
    _dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode

# The C scanner json.loads uses (typeshed types its argument oddly).
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _loads(text: str) -> Any:
    # json.loads without its Python wrapper: records are written compactly,
    # so whitespace around the value is the rare case and takes the long way.
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        return json.loads(text)  # trailing whitespace is fine, garbage raises
    return value


class CorruptRecord(ValueError):
    pass


#: The stored fields of a SessionCookie, in the order the decode cache keeps them.
_COOKIE_FIELDS = (
    "original_max_age_ms",
    "expires_ms",
    "secure",
    "http_only",
    "path",
    "domain",
    "same_site",
    "priority",
    "partitioned",
    "created_ms",
    "deadline_ms",
    "user",
)


class SessionCookie:
    """The session's cookie: its lifetime and attributes.

    ``max_age`` and ``original_max_age`` are seconds; ``expires`` is POSIX
    seconds or None (a browser-session cookie). ``max_age`` is measured at
    the time the request began (the ``now`` the driver passed), and setting
    it moves ``expires`` and ``original_max_age``, as in express-session.
    Changing the cookie is not a change of the session's data.
    """

    __slots__ = (*_COOKIE_FIELDS, "_now_ms")

    def __init__(
        self,
        *,
        now_ms: int,
        original_max_age_ms: int | None,
        expires_ms: int | None,
        secure: bool,
        http_only: bool,
        path: str,
        domain: str | None,
        same_site: str | None,
        priority: str | None,
        partitioned: bool,
        created_ms: int | None = None,
        deadline_ms: int | None = None,
        user: str | None = None,
    ) -> None:
        #: The user id the session is bound to (Session.bind), or None.
        self.user = user
        self._now_ms = now_ms
        #: When the session was created (kept only with absolute_timeout).
        self.created_ms = created_ms
        #: The absolute deadline no expiry may pass (absolute_timeout).
        self.deadline_ms = deadline_ms
        self.original_max_age_ms = original_max_age_ms
        self.expires_ms = expires_ms
        self.secure = secure
        self.http_only = http_only
        self.path = path
        self.domain = domain
        self.same_site = same_site
        self.priority = priority
        self.partitioned = partitioned

    @property
    def max_age(self) -> float | None:
        if self.expires_ms is None:
            return None
        return (self.expires_ms - self._now_ms) / 1000

    @max_age.setter
    def max_age(self, seconds: float | None) -> None:
        if seconds is None:
            self.expires_ms = self.original_max_age_ms = None
            return
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != seconds:
            raise TypeError("max_age must be a number of seconds or None")
        # RFC 6265bis: no cookie lives longer than 400 days, so neither does
        # a session (the same cap as CookieOptions.max_age).
        ms = min(round(seconds * 1000), MAX_COOKIE_AGE_MS)
        self.expires_ms = self._capped(self._now_ms + ms)
        self.original_max_age_ms = ms

    @property
    def original_max_age(self) -> float | None:
        return None if self.original_max_age_ms is None else self.original_max_age_ms / 1000

    @property
    def expires(self) -> float | None:
        return None if self.expires_ms is None else self.expires_ms / 1000

    def reset_max_age(self, now_ms: int) -> None:
        """Move the expiry to now + the original max age (express's resetMaxAge)."""
        self._now_ms = now_ms
        if self.original_max_age_ms is None:
            self.expires_ms = self.deadline_ms
        else:
            self.expires_ms = self._capped(now_ms + self.original_max_age_ms)

    def _capped(self, expires_ms: int) -> int:
        deadline = self.deadline_ms
        return expires_ms if deadline is None or expires_ms < deadline else deadline

    def to_json(self) -> str:
        parts = [
            '{"originalMaxAge":',
            "null" if self.original_max_age_ms is None else str(self.original_max_age_ms),
        ]
        if self.partitioned:
            parts.append(',"partitioned":true')
        if self.priority is not None:
            parts.append(',"priority":"' + self.priority + '"')
        parts.append(',"expires":')
        parts.append("null" if self.expires_ms is None else '"' + _iso(self.expires_ms) + '"')
        if self.secure:
            parts.append(',"secure":true')
        parts.append(',"httpOnly":true' if self.http_only else ',"httpOnly":false')
        if self.domain is not None:
            parts.append(',"domain":' + _dumps(self.domain))
        parts.append(',"path":' + _dumps(self.path))
        if self.same_site is not None:
            parts.append(',"sameSite":"' + self.same_site + '"')
        if self.created_ms is not None:
            parts.append(',"createdAt":' + str(self.created_ms))
        if self.user is not None:
            parts.append(',"userId":' + _dumps(self.user))
        parts.append("}")
        return "".join(parts)


def _iso(ms: int) -> str:
    # Date.prototype.toJSON: 2026-12-03T19:23:03.506Z. The part up to the
    # second is kept for the next record written within the same second.
    global _last_iso
    seconds, millis = divmod(ms, 1000)
    last_seconds, head = _last_iso
    if last_seconds != seconds:
        t = time.gmtime(seconds)
        head = "%04d-%02d-%02dT%02d:%02d:%02d." % (
            t.tm_year,
            t.tm_mon,
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec,
        )
        _last_iso = (seconds, head)
    return head + "%03dZ" % millis


_last_iso: tuple[int | None, str] = (None, "")


# What Date.prototype.toJSON writes, which is what nearly every record holds.
_JS_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z\Z")


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's days_from_civil: days since 1970-01-01, proleptic Gregorian.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _parse_iso(text: object) -> int:
    if not isinstance(text, str) or len(text) > 40:
        raise CorruptRecord("cookie.expires is not a date")
    match = _JS_ISO.match(text)
    if match is not None:
        y, mo, d, h, mi, s, ms = map(int, match.groups())
        if 1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60:
            return ((_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + s * 1000 + ms
        raise CorruptRecord("cookie.expires is not a date")
    # Anything else ISO-8601 with a zone, e.g. written by another client.
    if text.endswith("Z"):  # Python 3.10's fromisoformat does not take "Z"
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CorruptRecord("cookie.expires is not a date") from None
    if moment.tzinfo is None:
        raise CorruptRecord("cookie.expires has no time zone")
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def dump_data(data: dict[str, Any]) -> str:
    """The JSON of the session's data: its fingerprint and its stored form."""
    return _dumps(data)


def encode_record(cookie: SessionCookie, data_json: str) -> str:
    head = '{"cookie":' + cookie.to_json()
    return head + "}" if data_json == "{}" else head + "," + data_json[1:]


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def decode_record(text: object, *, now_ms: int) -> tuple[SessionCookie, dict[str, Any]]:
    """Parse a stored record into its cookie and its data."""
    if not isinstance(text, str):
        raise CorruptRecord("the record is not text")
    # A session that is only read comes back from the store as the same text
    # request after request (a touch moves the store's expiry, not the
    # record), so a record already decoded is not parsed again. Only records
    # whose values are all immutable scalars are kept: a shallow copy of
    # their data is then as fresh as a parse would be.
    known = _RECORD_CACHE.get(text)
    if known is not None:
        return _cookie_from(known[0], now_ms), known[1].copy()
    cookie, data, fields = _decode_record(text, now_ms)
    if len(text) <= _RECORD_CACHE_TEXT and all(type(value) in _SCALARS for value in data.values()):
        if len(_RECORD_CACHE) >= _RECORD_CACHE_SIZE:
            _RECORD_CACHE.clear()
        _RECORD_CACHE[text] = (fields, data.copy())
    return cookie, data


def remember_record(text: str, cookie: SessionCookie, data: dict[str, Any]) -> None:
    """Keep a record just written as decode_record would read it back.

    The next request of a session usually loads exactly what the last one
    saved; this spares it the parse. Only a cookie whose every field is in
    the form the parse gives back is kept (else the parse decides, as it
    would have), and, as for any cached record, only scalar data.
    """
    if len(text) > _RECORD_CACHE_TEXT or not all(type(value) in _SCALARS for value in data.values()):
        return
    original, expires = cookie.original_max_age_ms, cookie.expires_ms
    path, domain, created, user = cookie.path, cookie.domain, cookie.created_ms, cookie.user
    if not (
        (original is None or (type(original) is int and abs(original) <= 10**15))
        and (expires is None or (type(expires) is int and 0 <= expires < _YEAR_10000_MS))
        and type(cookie.secure) is bool
        and type(cookie.http_only) is bool
        and type(cookie.partitioned) is bool
        and type(path) is str
        and (path == "/" or not _FORBIDDEN.search(path))
        and (domain is None or (type(domain) is str and not _FORBIDDEN.search(domain)))
        and cookie.same_site in _CANONICAL_SAME_SITE
        and cookie.priority in _CANONICAL_PRIORITY
        and (created is None or type(created) is int)
        and (user is None or type(user) is str)
    ):
        return
    fields = (
        original,
        expires,
        cookie.secure,
        cookie.http_only,
        path,
        domain,
        cookie.same_site,
        cookie.priority,
        cookie.partitioned,
        created,
        None,  # deadline_ms: not stored; worked out anew on each load
        user,
    )
    if len(_RECORD_CACHE) >= _RECORD_CACHE_SIZE:
        _RECORD_CACHE.clear()
    _RECORD_CACHE[text] = (fields, data.copy())


_YEAR_10000_MS = 253_402_300_800_000
_CANONICAL_SAME_SITE = frozenset((None, "lax", "strict", "none"))
_CANONICAL_PRIORITY = frozenset((None, "low", "medium", "high"))
_RECORD_CACHE: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
_RECORD_CACHE_SIZE = 1024
#: Longer records are parsed every time: the cache holds at most ~2 MB.
_RECORD_CACHE_TEXT = 2048
_SCALARS = frozenset((str, int, float, bool, type(None)))


def _cookie_from(fields: tuple[Any, ...], now_ms: int) -> SessionCookie:
    cookie = SessionCookie.__new__(SessionCookie)
    (
        cookie.original_max_age_ms,
        cookie.expires_ms,
        cookie.secure,
        cookie.http_only,
        cookie.path,
        cookie.domain,
        cookie.same_site,
        cookie.priority,
        cookie.partitioned,
        cookie.created_ms,
        cookie.deadline_ms,
        cookie.user,
    ) = fields
    cookie._now_ms = now_ms
    return cookie


def _decode_record(text: str, now_ms: int) -> tuple[SessionCookie, dict[str, Any], tuple[Any, ...]]:
    # The cookie, the data, and the cookie's fields (for the record cache).
    try:
        record = _loads(text)
    except (ValueError, RecursionError):
        raise CorruptRecord("the record is not JSON") from None
    if not isinstance(record, dict):
        raise CorruptRecord("the record is not a JSON object")
    # Only walk the tree when it could be deep: counting brackets is cheap.
    if text.count("{") + text.count("[") > MAX_DEPTH and _too_deep(record):
        raise CorruptRecord(f"the record nests deeper than {MAX_DEPTH}")
    stored = record.pop("cookie", None)
    if not isinstance(stored, dict):
        raise CorruptRecord("the record's cookie is not an object")
    # A session's stored cookie stays the same from save to save but for its
    # expires, while its data changes: the rest of it, once checked, is kept
    # for the next time; the expiry is parsed each time.
    expires = stored.pop("expires", None)
    expires_ms = None if expires is None else _parse_iso(expires)
    try:
        key = tuple(stored.items())
        fields = _COOKIE_CACHE.get(key)
    except TypeError:  # a nested value: unhashable, and invalid anyway
        key, fields = None, None
    if fields is None:
        fields = _cookie_fields(_decode_cookie(stored, now_ms))
        if key is not None:
            if len(_COOKIE_CACHE) >= _COOKIE_CACHE_SIZE:
                _COOKIE_CACHE.clear()
            _COOKIE_CACHE[key] = fields
    if expires_ms is not None:
        fields = (fields[0], expires_ms, *fields[2:])
    return _cookie_from(fields, now_ms), record, fields


def _cookie_fields(cookie: SessionCookie) -> tuple[Any, ...]:
    return tuple(getattr(cookie, name) for name in _COOKIE_FIELDS)


_COOKIE_CACHE: dict[tuple[tuple[str, Any], ...], tuple[Any, ...]] = {}
_COOKIE_CACHE_SIZE = 1024


def _decode_cookie(stored: dict[str, Any], now_ms: int) -> SessionCookie:
    original = stored.get("originalMaxAge")
    if original is not None:
        if isinstance(original, bool) or not isinstance(original, (int, float)) or original != original:
            raise CorruptRecord("cookie.originalMaxAge is not a number")
        if abs(original) > 1e15:
            raise CorruptRecord("cookie.originalMaxAge is out of range")
        original = round(original)
    path = stored.get("path", "/")
    domain = stored.get("domain")
    if not isinstance(path, str) or not (domain is None or isinstance(domain, str)):
        raise CorruptRecord("cookie.path or cookie.domain is not a string")
    if (path != "/" and _FORBIDDEN.search(path)) or (domain is not None and _FORBIDDEN.search(domain)):
        raise CorruptRecord("cookie.path or cookie.domain has a forbidden character")
    same_site = stored.get("sameSite")
    if isinstance(same_site, str) and same_site in _SAME_SITE:
        pass  # the common case: as we write it
    elif same_site is True:
        same_site = "strict"  # the `cookie` package reads true as Strict
    elif same_site is False:
        same_site = None
    elif same_site is not None:
        same_site = _SAME_SITE.get(str(same_site).lower())
        if same_site is None:
            raise CorruptRecord("cookie.sameSite is not a known value")
    priority = stored.get("priority")
    if priority is not None:
        priority = _PRIORITY.get(str(priority).lower())
        if priority is None:
            raise CorruptRecord("cookie.priority is not a known value")
    created = stored.get("createdAt")
    if created is not None and (isinstance(created, bool) or not isinstance(created, int)):
        raise CorruptRecord("cookie.createdAt is not a whole number")
    user = stored.get("userId")
    if user is not None and not isinstance(user, str):
        raise CorruptRecord("cookie.userId is not a string")
    return SessionCookie(
        user=user,
        created_ms=created,
        now_ms=now_ms,
        original_max_age_ms=original,
        expires_ms=None,  # parsed apart: it changes from save to save
        secure=bool(stored.get("secure")),
        http_only=bool(stored.get("httpOnly", True)),
        path=path,
        domain=domain,
        same_site=same_site,
        priority=priority,
        partitioned=bool(stored.get("partitioned")),
    )
