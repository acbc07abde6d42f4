# The Cookie request header and the Set-Cookie response header.
#
# Parsing follows the `cookie` package (0.7.2) that express-session uses, so
# both sides agree on what a header means: pairs split on ";", name and value
# split on the first "=", spaces and tabs trimmed around both, one pair of
# double quotes unwrapped, "%" escapes decoded (the raw value kept when they
# do not decode), and the FIRST pair with a given name wins. Pairs without a
# name or without "=" are ignored (a nameless cookie must never be taken for
# ours: Werkzeug CVE-2023-23934).
#
# The parser is linear in the header's length, never raises on any input and
# reads at most MAX_HEADER characters: anything beyond is ignored. (CPython's
# http.cookies and Tornado's old parser were both quadratic on crafted input.)
#
# Serialising writes the attributes in express-session's order (Domain, Path,
# Expires, HttpOnly, Secure, Partitioned, Priority, SameSite), with Expires as
# an IMF-fixdate and never Max-Age.
from __future__ import annotations

import re
import time
from urllib.parse import quote, unquote

__all__ = [
    "parse_cookie_header",
    "find_cookie",
    "serialize_set_cookie",
    "http_date",
    "MAX_HEADER",
    "MAX_COOKIE_HEADER",
]

#: Characters of a Cookie header we read; browsers send at most a few KiB.
#: Drivers answer a longer Cookie header with 431 (RFC 6585 section 5)
#: before any session work, rather than let its tail go unread.
MAX_HEADER = MAX_COOKIE_HEADER = 65536

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MALFORMED_ESCAPE = re.compile("%(?![0-9A-Fa-f]{2})")
# What encodeURIComponent leaves alone.
_URI_COMPONENT_SAFE = "-_.!~*'()"


def _decode(value: str) -> str:
    value = value.strip(" \t")
    if value[:1] == '"' and value[-1:] == '"':
        # As cookie 0.7.2: a lone '"' is both the first and the last quote.
        value = value[1:-1]
    if "%" in value:
        # Signed ids only ever need these four escapes; replacing them is
        # the same as unquote() whenever no other "%" is left, and cheaper.
        fast = value.replace("%3A", ":").replace("%2F", "/").replace("%2B", "+").replace("%3D", "=")
        if "%" not in fast:
            return fast
        # decodeURIComponent fails on the whole value at any malformed
        # escape (and on bad UTF-8): then the raw value is kept.
        if _MALFORMED_ESCAPE.search(value):
            return value
        try:
            return unquote(value, errors="strict")
        except UnicodeDecodeError:
            return value
    return value


def parse_cookie_header(header: str) -> dict[str, str]:
    """Parse a Cookie header into a dict; the first pair of a name wins."""
    cookies: dict[str, str] = {}
    for pair in header[:MAX_HEADER].split(";"):
        name, eq, value = pair.partition("=")
        if not eq:
            continue
        name = name.strip(" \t")
        if name and name not in cookies:
            cookies[name] = _decode(value)
    return cookies


def find_cookie(header: str, name: str) -> str | None:
    """The value of the first cookie called ``name``, or None.

    The same answer as ``parse_cookie_header(header).get(name)``, without
    building the dict: this runs on every request.
    """
    if len(header) > MAX_HEADER:
        header = header[:MAX_HEADER]
    start = header.find(name)
    if start < 0:
        return None
    if header.find(name, start + 1) < 0 and header.startswith("=", start + len(name)):
        # The name occurs once, right before a "=": if it begins a pair, that
        # pair is the only one of that name and we can cut it out directly.
        before = header[:start].rstrip(" \t")
        if not before or before[-1] == ";":
            end = header.find(";", start)
            return _decode(header[start + len(name) + 1 : end if end >= 0 else len(header)])
    for pair in header.split(";"):
        eq = pair.find("=")
        if eq > 0 and pair[:eq].strip(" \t") == name:
            return _decode(pair[eq + 1 :])
    return None


def http_date(seconds: float) -> str:
    """An IMF-fixdate (RFC 9110 section 5.6.7), as JavaScript's toUTCString."""
    global _last_http_date
    whole = int(seconds // 1)
    last = _last_http_date
    if last[0] == whole:
        return last[1]  # the same second as the response before
    text = _format_http_date(whole)
    _last_http_date = (whole, text)
    return text


_last_http_date: tuple[int | None, str] = (None, "")


def _format_http_date(seconds: int) -> str:
    t = time.gmtime(seconds)
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _WEEKDAYS[t.tm_wday],
        t.tm_mday,
        _MONTHS[t.tm_mon - 1],
        t.tm_year,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
    )


def encode_value(value: str) -> str:
    """URL-encode a cookie value as encodeURIComponent does."""
    if _SIGNED_VALUE.fullmatch(value):
        # A signed id ("s:" + id + "." + base64 MAC): only these three need
        # escaping, and str.replace is much cheaper than quote()'s
        # character-by-character loop.
        return value.replace(":", "%3A").replace("/", "%2F").replace("+", "%2B")
    return quote(value, safe=_URI_COMPONENT_SAFE)


# What encodeURIComponent leaves alone, and ":", "/" and "+".
_SIGNED_VALUE = re.compile(r"[A-Za-z0-9\-_.!~*'():/+]*")


def serialize_set_cookie(
    name: str,
    value: str,
    *,
    domain: str | None = None,
    path: str | None = "/",
    expires: float | None = None,
    http_only: bool = False,
    secure: bool = False,
    partitioned: bool = False,
    priority: str | None = None,
    same_site: str | None = None,
) -> str:
    """A Set-Cookie header value. ``value`` is URL-encoded here.

    ``expires`` is POSIX seconds. The caller has validated the attributes
    (SessionOptions does, once, at start-up).
    """
    parts = [name + "=" + encode_value(value)]
    if domain is not None:
        parts.append("Domain=" + domain)
    if path is not None:
        parts.append("Path=" + path)
    if expires is not None:
        parts.append("Expires=" + http_date(expires))
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if partitioned:
        parts.append("Partitioned")
    if priority is not None:
        parts.append("Priority=" + priority.capitalize())
    if same_site is not None:
        parts.append("SameSite=" + same_site.capitalize())
    return "; ".join(parts)
