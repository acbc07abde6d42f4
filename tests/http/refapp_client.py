# Talking real HTTP to a reference app with the standard library.
#
# We keep our own cookie handling instead of a cookie jar, so a test can send
# exactly the Cookie header it means (duplicates, garbage, several header
# lines, raw bytes), and we sign ids ourselves with hmac, independently of
# the core, so the suite checks the core's signatures rather than trusting
# them. Every request is followed by GET /_store/log, so each response
# carries the store operations that request caused.
from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote

__all__ = [
    "AppClient",
    "Response",
    "SetCookie",
    "SECRET",
    "mac",
    "signed_value",
    "cookie_pair",
    "IMF_FIXDATE",
    "ID_SHAPE",
    "posix",
    "StartApp",
]

#: The secret every test app signs with unless a test says otherwise.
SECRET = "conformance-suite secret, long enough to sign with"
#: The shape of the ids the default generator makes (uid-safe's 24 bytes).
ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{32}\Z")
#: RFC 9110 section 5.6.7's IMF-fixdate, as JavaScript's toUTCString writes it.
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d\d:\d\d:\d\d GMT\Z"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# What encodeURIComponent leaves alone.
_URI_SAFE = "-_.!~*'()"


def mac(value: str, secret: str) -> str:
    """cookie-signature's MAC: base64 HMAC-SHA256 without its "=" padding."""
    digest = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode().rstrip("=")


def signed_value(sid: str, secret: str = SECRET) -> str:
    """The cookie value express-session writes for ``sid``, URL-encoded."""
    return quote("s:" + sid + "." + mac(sid, secret), safe=_URI_SAFE)


def cookie_pair(sid: str, secret: str = SECRET, name: str = "connect.sid") -> str:
    """``name=value`` for a Cookie header carrying ``sid``."""
    return f"{name}={signed_value(sid, secret)}"


@dataclass(frozen=True)
class SetCookie:
    """One Set-Cookie header, split but otherwise as the app wrote it."""

    raw: str
    name: str
    value: str
    #: (attribute name, value or None), in the order written.
    attributes: tuple[tuple[str, str | None], ...]

    @classmethod
    def parse(cls, raw: str) -> SetCookie:
        first, *rest = raw.split("; ")
        name, _, value = first.partition("=")
        attributes = []
        for item in rest:
            key, eq, val = item.partition("=")
            attributes.append((key, val if eq else None))
        return cls(raw, name, value, tuple(attributes))

    @property
    def attribute_names(self) -> list[str]:
        return [key for key, _ in self.attributes]

    def get(self, attribute: str) -> str | None:
        for key, value in self.attributes:
            if key.lower() == attribute.lower():
                return value
        return None

    def has(self, attribute: str) -> bool:
        return any(key.lower() == attribute.lower() for key, _ in self.attributes)

    @property
    def sid(self) -> str | None:
        """The session id in a value of the form s:<id>.<mac>, else None."""
        decoded = unquote(self.value)
        if not decoded.startswith("s:") or "." not in decoded:
            return None
        return decoded[2:].rpartition(".")[0]

    @property
    def expires(self) -> datetime | None:
        text = self.get("Expires")
        return None if text is None else parsedate_to_datetime(text)

    @property
    def is_expiring(self) -> bool:
        """An empty value that expired at the epoch: "forget this cookie"."""
        return self.value == "" and self.get("Expires") == "Thu, 01 Jan 1970 00:00:00 GMT"

    @property
    def pair(self) -> str:
        """What a browser sends back: ``name=value``."""
        return f"{self.name}={self.value}"


Op = tuple[str, str]


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    set_cookies: list[SetCookie]
    #: The store operations this request caused, as (op, sid).
    ops: list[Op] = field(default_factory=list)
    #: The session cookie's name in this app.
    name: str = "connect.sid"

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.headers if k.lower() == "content-type"), "")

    def json(self) -> Any:
        assert self.content_type.startswith("application/json"), (self.status, self.content_type, self.body)
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def cookie(self) -> SetCookie | None:
        """The session's Set-Cookie, or None; there is never more than one."""
        ours = [c for c in self.set_cookies if c.name == self.name]
        assert len(ours) <= 1, f"more than one Set-Cookie for {self.name}: {ours}"
        return ours[0] if ours else None

    @property
    def sent_sid(self) -> str:
        """The id in the session's Set-Cookie (which must be there)."""
        cookie = self.cookie
        assert cookie is not None, f"no Set-Cookie for {self.name}: {self.headers}"
        assert cookie.sid is not None, f"Set-Cookie value is not s:<id>.<mac>: {cookie.raw}"
        return cookie.sid


class StartApp(Protocol):
    """The ``refapp`` fixture: start (or reuse) an app for a --config."""

    def __call__(
        self, config: dict[str, Any] | None = None, *, store_url: str | None = None
    ) -> AppClient: ...


CookieArg = str | bytes | Sequence[str | bytes] | None
HeaderArg = Sequence[tuple[str, str | bytes]]


class AppClient:
    """A test's handle on one running app."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str = "connect.sid",
        secret: str = SECRET,
        seen: Callable[[str], None] = lambda sid: None,
    ) -> None:
        self.host = host
        self.port = port
        self.name = name
        self.secret = secret
        self._seen = seen
        self.drain()  # whatever earlier tests left in the log is theirs

    def cookie_for(self, sid: str, secret: str | None = None) -> str:
        """A Cookie header value carrying ``sid``, signed as the app would."""
        return cookie_pair(sid, self.secret if secret is None else secret, self.name)

    def raw(
        self, method: str, target: str, cookie: CookieArg, headers: HeaderArg
    ) -> tuple[int, list[tuple[str, str]], bytes, list[str]]:
        """One request, without the store-log drain: status, headers, body, Set-Cookies."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.putrequest(method, target, skip_accept_encoding=True)
            cookies = [cookie] if isinstance(cookie, (str, bytes)) else list(cookie or [])
            for value in cookies:
                conn.putheader("Cookie", value)
            for key, value in headers:
                conn.putheader(key, value)
            if method in ("POST", "PUT"):
                conn.putheader("Content-Length", "0")
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, resp.getheaders(), body, resp.headers.get_all("Set-Cookie") or []
        finally:
            conn.close()

    def drain(self) -> list[Op]:
        """GET /_store/log: the operations since the last drain."""
        status, _, body, set_cookies = self.raw("GET", "/_store/log", None, ())
        assert status == 200, f"GET /_store/log answered {status}: {body[:200]!r}"
        assert not set_cookies, f"GET /_store/log set a cookie: {set_cookies}"
        entries = json.loads(body)
        ops = [(entry["op"], entry["sid"]) for entry in entries]
        for _, sid in ops:
            self._seen(sid)
        return ops

    def request(
        self, method: str, target: str, *, cookie: CookieArg = None, headers: HeaderArg = ()
    ) -> Response:
        status, header_list, body, raw_cookies = self.raw(method, target, cookie, headers)
        response = Response(
            status, header_list, body, [SetCookie.parse(c) for c in raw_cookies], self.drain(), self.name
        )
        for item in response.set_cookies:
            if item.sid:
                self._seen(item.sid)
        return response

    def get(self, target: str, *, cookie: CookieArg = None, headers: HeaderArg = ()) -> Response:
        return self.request("GET", target, cookie=cookie, headers=headers)

    def post(self, target: str, *, cookie: CookieArg = None, headers: HeaderArg = ()) -> Response:
        return self.request("POST", target, cookie=cookie, headers=headers)

    def new_session(self, **data: str) -> tuple[str, str]:
        """Make a stored session (with ``data``, or views=1); return (id, Cookie header)."""
        if data:
            query = "&".join(f"{quote(k)}={quote(v)}" for k, v in data.items())
            response = self.post("/session?" + query)
        else:
            response = self.get("/")
        assert response.status == 200, response
        sid = response.sent_sid
        assert response.ops == [("set", sid)], response.ops
        cookie = response.cookie
        assert cookie is not None
        return sid, cookie.pair


def posix(moment: datetime) -> float:
    """POSIX seconds of an aware datetime."""
    return (moment - _EPOCH).total_seconds()
