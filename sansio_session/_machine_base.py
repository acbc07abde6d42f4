# The machine's state and the helpers every part of it shares.
#
# SessionMachine (in _machine.py) is split by phase of the request into three
# files that share this base: the start and the store reports (_machine.py),
# the handler's intents (_intents.py), and the end of the request
# (_ending.py). Only this class has slots; the mixins add behaviour only.
from __future__ import annotations

import hmac
import json
import logging
import math
from base64 import urlsafe_b64encode
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _rules
from ._actions import Action, Destroy, Save
from ._errors import SerializationError, UsageError
from ._options import SessionOptions
from ._record import CorruptRecord, SessionCookie, decode_record, dump_data, encode_record, remember_record
from ._session import Session
from ._state import TRANSITIONS, Call, Phase
from ._store import BROWSER_SESSION_TTL, StoredRecord

if TYPE_CHECKING:
    from ._machine import SessionMachine

__all__ = ["MachineBase", "Executor", "ORIGINAL"]

log = logging.getLogger("sansio_session")

#: What a driver gives the machine to run the actions of the session's
#: intents (regenerate, destroy, reload, save). It runs the action (None:
#: nothing to run), reports the result to the machine, and returns what the
#: intent method returns: an awaitable in an async driver.
Executor = Callable[["SessionMachine", "Action | None"], Any]


class _Original:
    # Stands for "the fingerprint of the data as it started", before anyone
    # needed it serialised (see _session.py on why that is lazy).
    __slots__ = ()

    def __repr__(self) -> str:
        return "ORIGINAL"


ORIGINAL = _Original()


class MachineBase:
    """The facts one request's session machine keeps."""

    __slots__ = (
        "options",
        "executor",
        "phase",
        "now_ms",
        "_security",
        "_secure",
        "_had_cookie",
        "_cookie_id",
        "_sid",
        "_session",
        "_unborn",
        "is_new",
        "_regenerated",
        "_stored",
        "_original_fp",
        "_saved_fp",
        "_expiry_reset",
        "_cookie_decided",
        "_cookie_sent",
        "_headers_early",
        "_unset",
        "_destroyed",
        "_pending",
        "_bypass",
        "_cookie_shape",
        "_store_expiry_ms",
        "_session_read",
        "_start_text",
        "_base_text",
        "_conflicts",
        "_gone_user",
        "_user_changed",
        "_gone_cookie",
        "_settled",
        "_data_json",
        "__weakref__",  # its Session refers to it weakly
    )

    def __init__(self, options: SessionOptions, *, executor: Executor | None = None) -> None:
        self.options = options
        self.executor = executor
        self.phase = Phase.IDLE
        self.now_ms = 0
        self._security: tuple[bool | Callable[[], bool], bool | None, str | None] = (False, None, None)
        self._secure: bool | None = None
        self._had_cookie = False
        self._cookie_id: str | None = None
        self._sid: str | None = None
        self._session: Session | None = None
        #: A new session nobody has asked for yet: made on first use (most
        #: requests without a cookie never touch it).
        self._unborn = False
        self.is_new = True
        self._regenerated = False
        self._stored = False
        self._original_fp: str | _Original = ORIGINAL
        self._saved_fp: str | _Original | None = None
        self._expiry_reset = False
        self._cookie_decided = False
        self._cookie_sent = False
        self._headers_early = False
        self._unset = False
        self._destroyed = False
        self._pending: tuple[str, Action | None, bool] | None = None
        self._bypass = False
        self._cookie_shape: tuple[object, ...] | None = None
        self._store_expiry_ms: int | None = None
        self._session_read = False
        #: The record text this request started from, and the text the store
        #: holds as far as we know (what a compare-and-set save expects).
        self._start_text: str | None = None
        self._base_text: str | None = None
        self._conflicts = 0
        #: The user of a session that was unset (for the index cleanup).
        self._gone_user: str | None = None
        self._user_changed = False
        self._gone_cookie: SessionCookie | None = None
        #: The facts the commit decided on, kept for the cookie decision
        #: after it (nothing can change them once the commit ran).
        self._settled: tuple[bool, bool, bool, bool] | None = None
        #: The data's JSON as the commit's facts found it (what a save stores).
        self._data_json: str | None = None

    # -- the phase table ---------------------------------------------------

    def _enter(self, call: Call) -> None:
        if call not in TRANSITIONS[self.phase]:
            phase = self.phase
            self.phase = Phase.ERROR
            raise UsageError(f"{call.value}() is not allowed in phase {phase.value}")

    def _secure_request(self) -> bool:
        if self._secure is None:
            tls, framework_secure, forwarded_proto = self._security
            if callable(tls):
                tls = bool(tls())
            self._secure = _rules.is_secure_request(
                tls=tls,
                framework_secure=tls if framework_secure is None else framework_secure,
                proxy=self.options.proxy,
                forwarded_proto=forwarded_proto,
            )
        return self._secure

    def _use(self) -> None:
        if self.phase is not Phase.ACTIVE:
            self._enter(Call.USE)

    # -- sessions ------------------------------------------------------------

    def _new_cookie(self, now_ms: int) -> SessionCookie:
        c = self.options.cookie
        secure = self._secure_request() if c.secure == "auto" else c.secure
        same_site = c.same_site
        if same_site == "auto":
            same_site = "none" if self._secure_request() else "lax"
        max_age_ms = self.options.sliding_ms
        absolute = self.options.absolute_timeout
        deadline = None if absolute is None else now_ms + round(absolute * 1000)
        cookie = SessionCookie(
            now_ms=now_ms,
            original_max_age_ms=max_age_ms,
            expires_ms=None,
            created_ms=None if deadline is None else now_ms,
            deadline_ms=deadline,
            secure=bool(secure),
            http_only=c.http_only,
            path=c.path,
            domain=c.domain,
            same_site=same_site,
            priority=c.priority,
            partitioned=c.partitioned,
        )
        cookie.reset_max_age(now_ms)
        return cookie

    def _generate(
        self, now_ms: int, data: dict[str, Any] | None = None, reuse: Session | None = None
    ) -> None:
        self._sid = None  # made on first use: many requests never need one
        self.is_new = True
        self._stored = False
        self._unborn = False
        if reuse is None and data is None:
            self._session = None
            self._unborn = True
        elif reuse is None:
            self._session = Session(
                self,  # type: ignore[arg-type]
                {} if data is None else data,
                self._new_cookie(now_ms),
            )
        else:
            # regenerate(): the handler keeps the object it holds, which is
            # now the new session.
            reuse._data = {} if data is None else data
            reuse._pristine = True
            reuse.cookie = self._new_cookie(now_ms)
            self._session = reuse
        self._original_fp = ORIGINAL
        self._saved_fp = None
        self._cookie_shape = None

    def _born(self) -> Session:
        # The new session's first use: now it is made.
        self._unborn = False
        session = self._session = Session(
            self,  # type: ignore[arg-type]
            {},
            self._new_cookie(self.now_ms),
        )
        return session

    def _adopt(self, result: object, now_ms: int) -> bool:
        store_expiry_ms = None
        if isinstance(result, StoredRecord):
            text: object = result.text
            expires_at = result.expires_at
            store_expiry_ms = None if expires_at is None else int(expires_at * 1000)
        else:
            text = result
        try:
            cookie, data = decode_record(text, now_ms=now_ms)
        except CorruptRecord as exc:
            self._event("corrupt_record", reason=str(exc))
            return False
        if store_expiry_ms is not None and cookie.expires_ms is not None:
            # The store's own expiry is the real one: a touch moves it without
            # rewriting the record (connect-redis's EXPIRE).
            cookie.expires_ms = store_expiry_ms
        absolute = self.options.absolute_timeout
        legacy = absolute is not None and cookie.created_ms is None
        if absolute is not None:
            if cookie.created_ms is None:
                # A record from before absolute_timeout was on (or written by
                # a Node app): its clock starts now, and it is stored again.
                cookie.created_ms = now_ms
            cookie.deadline_ms = cookie.created_ms + round(absolute * 1000)
            if cookie.deadline_ms <= now_ms:
                self._event("expired", timeout="absolute")
                return False
        if cookie.expires_ms is not None and cookie.expires_ms <= now_ms:
            self._event("expired")
            return False
        self._store_expiry_ms = store_expiry_ms
        self._session = Session(
            self,  # type: ignore[arg-type]
            data,
            cookie,
        )
        self._start_text = self._base_text = text  # type: ignore[assignment]  # decoded, so a str
        self._cookie_shape = _cookie_shape(cookie)
        if legacy:
            self._cookie_shape = ()  # differs from any shape: stored again with its createdAt
        self._sid = self._cookie_id
        self.is_new = False
        self._stored = True
        self._original_fp = ORIGINAL
        self._saved_fp = None if self.options.resave else ORIGINAL
        return True

    @property
    def sid(self) -> str:
        if self._sid is None:
            if self._unborn:
                self._born()
            if self._session is None:
                raise UsageError("there is no session, so no id")
            self._sid = self.options.genid()
        return self._sid

    def _key(self, sid: str) -> str:
        # What the store sees for an id: the id itself, or with hash_ids a
        # keyed hash of it (Rack's defence after CVE-2019-16782: a leaked
        # store, or a timing side channel on its lookups, gives no live id).
        if not self.options.hash_ids:
            return sid
        key = self.options.id_hash_key or hmac.digest(self.options.secrets[0], b"store-id", "sha256")
        return urlsafe_b64encode(hmac.digest(key, sid.encode(), "sha256")).decode()[:43]

    def _bound_user(self) -> str | None:
        session = self._session
        if session is not None:
            return session.cookie.user
        return self._gone_user

    def describe_id(self) -> str:
        """A stable, keyed digest of the id, safe to log (never the id itself)."""
        if self._sid is None:
            return "(new)"
        return hmac.digest(self.options.secrets[0], b"log:" + self._sid.encode(), "sha256")[:6].hex()

    def _data_copy(self) -> dict[str, Any]:
        assert self._session is not None
        result: dict[str, Any] = json.loads(dump_data(self._session._data))
        return result

    def _can_change(self) -> bool:
        return self.phase is Phase.ACTIVE

    def _before_change(self) -> None:
        # The session is about to hand out or change its data: take the
        # starting fingerprint now, while the data is still as it started.
        if self.phase is not Phase.ACTIVE:
            self._enter(Call.USE)
        assert self._session is not None
        fp = self._fingerprint_of(self._session._data)
        self._original_fp = fp
        if self._saved_fp is ORIGINAL:
            self._saved_fp = fp

    def _fingerprint_of(self, data: dict[str, Any]) -> str:
        try:
            return dump_data(data)
        except (TypeError, ValueError, RecursionError) as exc:
            raise _name_the_key(data, exc) from exc

    def _current_fp(self) -> str | _Original:
        assert self._session is not None
        if self._session._pristine:
            return ORIGINAL
        return self._fingerprint_of(self._session._data)

    def _event(self, name: str, **detail: Any) -> None:
        hook = self.options.on_event
        if hook is not None:
            hook(name, {"session": self.describe_id(), **detail})
        if log.isEnabledFor(logging.INFO):
            log.info("session %s: %s %s", self.describe_id(), name, detail or "")

    def _ttl(self) -> int:
        assert self._session is not None
        expires_ms = self._session.cookie.expires_ms
        if expires_ms is None:
            return BROWSER_SESSION_TTL
        return math.ceil((expires_ms - self.now_ms) / 1000)

    def _save_action(self, data_json: str | None = None) -> Save | Destroy | None:
        assert self._session is not None
        session = self._session
        if data_json is None:
            data_json = self._fingerprint_of(session._data)
        ttl = self._ttl()
        if ttl <= 0:
            return Destroy(sid=self._key(self.sid), user=self._bound_user()) if self._stored else None
        record = encode_record(session.cookie, data_json)
        remember_record(record, session.cookie, session._data)
        return Save(
            sid=self._key(self.sid),
            record=record,
            ttl=ttl,
            expected=self._base_text if self._stored else None,
            user=session.cookie.user,
        )

    def _merged_save(self, action: Save, current: object) -> Save | None:
        """The request's own changes on top of the record another request saved.

        Only the top-level keys this request changed (set, replaced or
        deleted) since it began are applied, so a parallel request's other
        keys survive. None: the session is gone (destroyed meanwhile).
        """
        if current is None:
            return None
        text = current.text if isinstance(current, StoredRecord) else current
        session = self._session
        assert session is not None and isinstance(text, str)
        try:
            _, fresh = decode_record(text, now_ms=self.now_ms)
        except CorruptRecord:
            fresh = {}  # nothing worth keeping: our record replaces it
        start: dict[str, Any] = {}
        if self._start_text is not None:
            try:
                start = decode_record(self._start_text, now_ms=self.now_ms)[1]
            except CorruptRecord:
                start = {}
        ours = session._data
        for key in start.keys() - ours.keys():
            fresh.pop(key, None)
        for key, value in ours.items():
            if key not in start or dump_data({key: value}) != dump_data({key: start[key]}):
                fresh[key] = value
        session._data = fresh
        session._pristine = False
        return Save(
            sid=action.sid,
            record=encode_record(session.cookie, self._fingerprint_of(fresh)),
            ttl=action.ttl,
            expected=text,
            user=action.user,
        )


def _cookie_shape(cookie: SessionCookie) -> tuple[object, ...]:
    # Everything about a stored cookie except its sliding expiry.
    return (
        cookie.original_max_age_ms,
        cookie.secure,
        cookie.http_only,
        cookie.path,
        cookie.domain,
        cookie.same_site,
        cookie.priority,
        cookie.partitioned,
        cookie.user,
    )


def _name_the_key(data: dict[str, Any], exc: Exception) -> SerializationError:
    for key, value in data.items():
        try:
            dump_data({key: value})
        except (TypeError, ValueError, RecursionError):
            return SerializationError(f"session value for key {key!r} cannot be stored as JSON: {exc}")
    return SerializationError(f"session data cannot be stored as JSON: {exc}")
