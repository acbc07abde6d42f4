# SessionMachine: one request's session, as a sans-IO state machine.
#
# The machine never does I/O and never reads a clock or a random source: the
# driver passes `now` (POSIX seconds) and the options carry the id generator.
# It takes the request's Cookie header, emits actions (Load, Save, Touch,
# Destroy, SetCookie), and is told what became of each store action through
# store_done() / store_failed(). Which call is legal when is in _state.py;
# what to do at the end is decided by the pure rules in _rules.py. This file
# only keeps the facts those rules need and builds the actions.
from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import Callable
from typing import Any

from . import _rules
from ._actions import Action, Destroy, Load, Save, SetCookie, Touch
from ._cookie import find_cookie, serialize_set_cookie
from ._errors import SerializationError, StoreError, UsageError
from ._options import SessionOptions
from ._record import CorruptRecord, SessionCookie, decode_record, dump_data, encode_record
from ._session import GONE, Session
from ._signing import sign, unsign_bytes
from ._state import TRANSITIONS, Call, Phase
from ._store import BROWSER_SESSION_TTL, StoredRecord

__all__ = ["SessionMachine", "Executor"]

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
_EXPIRED_COOKIE = 0.0  # Thu, 01 Jan 1970 00:00:00 GMT


class SessionMachine:
    """The session of one request. Make one per request; it is cheap."""

    __slots__ = (
        "options",
        "executor",
        "phase",
        "now_ms",
        "_secure_request",
        "_had_cookie",
        "_cookie_id",
        "_sid",
        "_session",
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
    )

    def __init__(self, options: SessionOptions, *, executor: Executor | None = None) -> None:
        self.options = options
        self.executor = executor
        self.phase = Phase.IDLE
        self.now_ms = 0
        self._secure_request = False
        self._had_cookie = False
        self._cookie_id: str | None = None
        self._sid: str | None = None
        self._session: Session | None = None
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

    # -- the phase table ---------------------------------------------------

    def _enter(self, call: Call) -> None:
        if call not in TRANSITIONS[self.phase]:
            phase = self.phase
            self.phase = Phase.ERROR
            raise UsageError(f"{call.value}() is not allowed in phase {phase.value}")

    def _move(self, call: Call, phase: Phase, came_from: Phase) -> None:
        assert phase in TRANSITIONS[came_from][call], (came_from, call, phase)
        self.phase = phase

    def _use(self) -> None:
        if self.phase is not Phase.ACTIVE:
            self._enter(Call.USE)

    # -- the start of a request -------------------------------------------

    def begin(
        self,
        cookie: str | None,
        *,
        now: float,
        tls: bool = False,
        secure: bool | None = None,
        forwarded_proto: str | None = None,
        path: str = "/",
    ) -> Load | None:
        """Start the request from its Cookie header (all of them, joined by "; ").

        ``tls`` says the connection itself is TLS; ``secure`` is the
        framework's own verdict (it may trust a proxy), None for "same as
        tls"; ``forwarded_proto`` is the X-Forwarded-Proto header, used only
        when ``proxy`` is True. Returns a Load action when the cookie carries
        a validly signed id of the right shape, else None and the session is
        a new one (no store call at all).
        """
        self._enter(Call.BEGIN)
        options = self.options
        self.now_ms = now_ms = int(now * 1000)
        self._secure_request = _rules.is_secure_request(
            tls=tls,
            framework_secure=tls if secure is None else secure,
            proxy=options.proxy,
            forwarded_proto=forwarded_proto,
        )
        if not path.startswith(options.cookie.path):
            # express-session's plain string-prefix test: not our path, so
            # the session layer does nothing for this request at all.
            self._bypass = True
            self._move(Call.BEGIN, Phase.ACTIVE, Phase.IDLE)
            return None
        value = find_cookie(cookie, options.name) if cookie else None
        if value:
            self._had_cookie = True
            if value.startswith("s:"):
                sid = unsign_bytes(value[2:].encode("utf-8", "surrogatepass"), options.secrets)
                if sid is not None and options.valid_id(sid):
                    self._cookie_id = sid
                    self._move(Call.BEGIN, Phase.LOADING, Phase.IDLE)
                    return Load(sid=sid)
                self._event("invalid_id" if sid is not None else "bad_signature")
            else:
                self._event("bad_signature")
        self._generate(now_ms)
        self._move(Call.BEGIN, Phase.ACTIVE, Phase.IDLE)
        return None

    def _new_cookie(self, now_ms: int) -> SessionCookie:
        c = self.options.cookie
        secure = self._secure_request if c.secure == "auto" else c.secure
        same_site = c.same_site
        if same_site == "auto":
            same_site = "none" if self._secure_request else "lax"
        max_age_ms = c.max_age_ms
        return SessionCookie(
            now_ms=now_ms,
            original_max_age_ms=max_age_ms,
            expires_ms=None if max_age_ms is None else now_ms + max_age_ms,
            secure=bool(secure),
            http_only=c.http_only,
            path=c.path,
            domain=c.domain,
            same_site=same_site,
            priority=c.priority,
            partitioned=c.partitioned,
        )

    def _generate(self, now_ms: int, data: dict[str, Any] | None = None) -> None:
        self._sid = None  # made on first use: many requests never need one
        self.is_new = True
        self._stored = False
        self._session = Session(self, {} if data is None else data, self._new_cookie(now_ms))
        self._original_fp = ORIGINAL
        self._saved_fp = None
        self._cookie_shape = None

    def _adopt(self, result: object, now_ms: int) -> bool:
        store_expiry = None
        if isinstance(result, StoredRecord):
            text: object = result.text
            store_expiry = result.expires_at
        else:
            text = result
        try:
            cookie, data = decode_record(text, now_ms=now_ms)
        except CorruptRecord as exc:
            self._event("corrupt_record", reason=str(exc))
            return False
        if store_expiry is not None and cookie.expires_ms is not None:
            # The store's own expiry is the real one: a touch moves it without
            # rewriting the record (connect-redis's EXPIRE).
            cookie.expires_ms = int(store_expiry * 1000)
        if cookie.expires_ms is not None and cookie.expires_ms <= now_ms:
            self._event("expired")
            return False
        self._session = Session(self, data, cookie)
        self._cookie_shape = _cookie_shape(cookie)
        self._sid = self._cookie_id
        self.is_new = False
        self._stored = True
        self._original_fp = ORIGINAL
        self._saved_fp = None if self.options.resave else ORIGINAL
        return True

    # -- reports from the driver ------------------------------------------

    def store_done(self, action: Action, result: Any = None) -> None:
        """Report that ``action`` succeeded; for a Load, with the record or None."""
        came_from = self.phase
        self._enter(Call.STORE_DONE)
        if came_from is Phase.LOADING:
            if result is None or not self._adopt(result, self.now_ms):
                # No such session (or an unusable one): a new one, with a new
                # id, as express-session does; the stale cookie is dropped.
                self._generate(self.now_ms)
            self._move(Call.STORE_DONE, Phase.ACTIVE, came_from)
            return
        if came_from is Phase.COMMITTING:
            if isinstance(action, Save):
                self._stored = True
            self._move(Call.STORE_DONE, Phase.DONE, came_from)
            return
        assert self._pending is not None
        kind, pending, keep = self._pending
        if pending is not action:
            self.phase = Phase.ERROR
            raise UsageError("store_done() reports an action that is not the one out")
        self._pending = None
        self._move(Call.STORE_DONE, Phase.ACTIVE, came_from)
        self._finish_intent(kind, keep, result)

    def store_failed(self, action: Action, error: BaseException | None = None) -> StoreError:
        """Report that ``action`` failed. Returns the StoreError to raise or answer with."""
        came_from = self.phase
        self._enter(Call.STORE_FAILED)
        self._pending = None
        failure = StoreError(f"session store {type(action).__name__.lower()} failed: {error!r}")
        failure.__cause__ = error
        self._event("store_failure", action=type(action).__name__, error=repr(error))
        if self.options.on_store_failure == "continue" and came_from is Phase.LOADING:
            # Fail open: the request goes on without a session and the
            # client's cookie is left alone.
            self._bypass = True
            self._session = None
            self._move(Call.STORE_FAILED, Phase.ACTIVE, came_from)
        elif self.options.on_store_failure == "continue" and came_from is Phase.COMMITTING:
            self._move(Call.STORE_FAILED, Phase.DONE, came_from)
        else:
            self._move(Call.STORE_FAILED, Phase.FAILED, came_from)
        return failure

    # -- the handler's view -------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The session, or None (destroyed, unset, or a path outside cookie.path)."""
        if self.phase is Phase.IDLE or self.phase is Phase.LOADING:
            self._enter(Call.USE)
        return self._session

    @property
    def sid(self) -> str:
        if self._sid is None:
            if self._session is None:
                raise UsageError("there is no session, so no id")
            self._sid = self.options.genid()
        return self._sid

    def describe_id(self) -> str:
        """A stable, keyed digest of the id, safe to log (never the id itself)."""
        if self._sid is None:
            return "(new)"
        return hmac.digest(self.options.secrets[0], b"log:" + self._sid.encode(), "sha256")[:6].hex()

    def _data_copy(self) -> dict[str, Any]:
        assert self._session is not None
        result: dict[str, Any] = json.loads(dump_data(self._session._data))
        return result

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
        except (TypeError, ValueError) as exc:
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

    # -- intents ------------------------------------------------------------

    def _start_intent(self, kind: str, action: Action | None, keep: bool = False) -> Any:
        if self.executor is None:
            raise UsageError(f"session.{kind}() needs a driver (no executor was given)")
        if self.phase is not Phase.ACTIVE:
            self._enter(Call.INTENT)  # raises: the table says when intents are legal
        if self._session is None:
            self.phase = Phase.ERROR
            raise UsageError(f"session.{kind}(): there is no session")
        if action is None:
            self._finish_intent(kind, keep, None)
        else:
            self._pending = (kind, action, keep)
            self._move(Call.INTENT, Phase.WAITING, Phase.ACTIVE)
        return self.executor(self, action)

    def _intent_regenerate(self, keep_data: bool) -> Any:
        if self._headers_early:
            self.phase = Phase.ERROR
            raise UsageError("regenerate() after the headers were sent cannot deliver the new id")
        action = Destroy(sid=self.sid) if self._stored and self._session is not None else None
        return self._start_intent("regenerate", action, keep_data)

    def _intent_destroy(self) -> Any:
        action = Destroy(sid=self.sid) if self._stored and self._session is not None else None
        return self._start_intent("destroy", action)

    def _intent_reload(self) -> Any:
        action = Load(sid=self.sid) if self._session is not None else None
        return self._start_intent("reload", action)

    def _intent_save(self) -> Any:
        action = self._save_action() if self._session is not None else None
        return self._start_intent("save", action)

    def _intent_unset(self) -> None:
        self._use()
        if self._session is not None:
            self._session._data = GONE
            self._session = None
            self._unset = True

    def _finish_intent(self, kind: str, keep: bool, result: Any) -> None:
        session = self._session
        assert session is not None
        if kind == "regenerate":
            data = session._data if keep else None
            if session._pristine and keep:
                self._before_change()
            session._data = GONE
            self._generate(self.now_ms, data)
            self._regenerated = True
            if keep:
                # The data moved unchanged; the id change alone makes it
                # "modified", so it is saved under the new id.
                assert self._session is not None
                self._session._pristine = False
        elif kind == "destroy":
            session._data = GONE
            self._session = None
            self._destroyed = True
            self._stored = False
        elif kind == "reload":
            if result is None:
                self.phase = Phase.FAILED
                raise StoreError("reload(): the store no longer has this session", reason="session not found")
            if session._pristine:
                self._before_change()  # modification stays judged against the first load
            try:
                cookie, data = decode_record(
                    result.text if isinstance(result, StoredRecord) else result, now_ms=self.now_ms
                )
            except CorruptRecord as exc:
                self.phase = Phase.FAILED
                raise StoreError(
                    f"reload(): the stored record is unusable: {exc}", reason="session not found"
                ) from exc
            session._data = data
            session._pristine = False
            session.cookie = cookie
            self._cookie_shape = _cookie_shape(cookie)
        elif kind == "save":
            # As in express-session, a regenerated session still counts as
            # modified after this (its id is not the one the request began
            # with), so the end of the request saves it again and sends its
            # cookie.
            self._stored = True
            self._saved_fp = self._current_fp()

    # -- the end of a request ----------------------------------------------

    def _reset_expiry(self) -> None:
        if not self._expiry_reset:
            self._expiry_reset = True
            assert self._session is not None
            self._session.cookie.reset_max_age(self.now_ms)

    def _facts(self) -> tuple[bool, bool, bool, bool]:
        """id_changed, modified, saved, ever_saved."""
        current = self._current_fp()
        data_changed = current is not ORIGINAL and current != self._original_fp
        saved_fp = self._saved_fp
        saved = not self._regenerated and saved_fp is not None and saved_fp == current
        if not saved and saved_fp is ORIGINAL and current == self._original_fp:
            saved = not self._regenerated
        return self.is_new, self._regenerated or data_changed, saved, saved_fp is not None

    def set_cookie(self, now: float | None = None) -> SetCookie | None:
        """The cookie decision, taken as the headers are written. Call it once."""
        came_from = self.phase
        self._enter(Call.SET_COOKIE)
        if self._cookie_decided:
            self.phase = Phase.ERROR
            raise UsageError("set_cookie() was already called for this request")
        self._cookie_decided = True
        if came_from is Phase.ACTIVE:
            self._headers_early = True
        if now is not None and came_from is Phase.ACTIVE:
            self.now_ms = int(now * 1000)
        if came_from is Phase.FAILED or self._bypass:
            return None
        session = self._session
        if session is None:
            if self._had_cookie and (self._destroyed or (self._unset and self.options.unset == "destroy")):
                return SetCookie(self._expiring_cookie())
            return None
        self._reset_expiry()
        id_changed, modified, _, _ = self._facts()
        options = self.options
        cookie = session.cookie
        if not _rules.should_set_cookie(
            id_changed=id_changed,
            modified=modified,
            has_expiry=cookie.expires_ms is not None,
            save_uninitialized=options.save_uninitialized,
            rolling=options.rolling,
        ):
            return None
        if cookie.secure and not self._secure_request:
            self._event("secure_cookie_not_sent")
            _warn_once(options)
            return None
        self._cookie_sent = True
        return SetCookie(
            serialize_set_cookie(
                options.name,
                "s:" + sign(self.sid, options.secrets[0]),
                domain=cookie.domain,
                path=cookie.path,
                expires=None if cookie.expires_ms is None else cookie.expires_ms / 1000,
                http_only=cookie.http_only,
                secure=cookie.secure,
                partitioned=cookie.partitioned,
                priority=cookie.priority,
                same_site=cookie.same_site,
            )
        )

    def _expiring_cookie(self) -> str:
        c = self.options.cookie
        secure = c.secure is True or (c.secure == "auto" and self._secure_request)
        return serialize_set_cookie(
            self.options.name,
            "",
            domain=c.domain,
            path=c.path,
            expires=_EXPIRED_COOKIE,
            http_only=c.http_only,
            secure=secure,
            same_site=None if c.same_site == "auto" else c.same_site,
        )

    def _ttl(self) -> int:
        assert self._session is not None
        expires_ms = self._session.cookie.expires_ms
        if expires_ms is None:
            return BROWSER_SESSION_TTL
        return math.ceil((expires_ms - self.now_ms) / 1000)

    def _save_action(self) -> Save | Destroy | None:
        assert self._session is not None
        session = self._session
        try:
            data_json = dump_data(session._data)
        except (TypeError, ValueError) as exc:
            raise _name_the_key(session._data, exc) from exc
        ttl = self._ttl()
        if ttl <= 0:
            return Destroy(sid=self.sid) if self._stored else None
        return Save(sid=self.sid, record=encode_record(session.cookie, data_json), ttl=ttl)

    def commit(self, now: float | None = None) -> Action | None:
        """The end-of-request store action (save, touch or destroy), or None.

        Call it once; for a buffered response before set_cookie(), for a
        streamed one after it and before the final bytes.
        """
        came_from = self.phase
        self._enter(Call.COMMIT)
        if came_from is Phase.FAILED:
            return None
        if now is not None:
            self.now_ms = int(now * 1000)
        action = None if self._bypass else self._commit_action()
        self._move(Call.COMMIT, Phase.DONE if action is None else Phase.COMMITTING, came_from)
        return action

    def _commit_action(self) -> Action | None:
        options = self.options
        session = self._session
        if session is None:
            if (
                _rules.should_destroy(unset_destroy=options.unset == "destroy", session_gone=self._unset)
                and self._stored
            ):
                return Destroy(sid=self.sid)
            return None
        self._reset_expiry()
        id_changed, modified, saved, ever_saved = self._facts()
        if self._headers_early and id_changed and not self._cookie_sent:
            if modified or options.save_uninitialized:
                # The client never learned this id: storing it would make an
                # orphan that nobody can ever load.
                self._event("orphan_not_saved")
            return None
        will_save = _rules.should_save(
            id_changed=id_changed,
            modified=modified,
            saved=saved,
            ever_saved=ever_saved,
            save_uninitialized=options.save_uninitialized,
        )
        if not will_save and self._cookie_shape is not None and not id_changed:
            # A cookie-only change (a new max age, say) is not a change of
            # the data, so it sends no cookie, but it is stored: a touch
            # would move the expiry and lose the new setting.
            will_save = _cookie_shape(session.cookie) != self._cookie_shape
        if will_save:
            return self._save_action()
        if _rules.should_touch(id_changed=id_changed, will_save=False):
            ttl = self._ttl()
            if ttl <= 0:
                return Destroy(sid=self.sid)
            record = encode_record(session.cookie, self._fingerprint_of(session._data))
            return Touch(sid=self.sid, record=record, ttl=ttl)
        return None


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
    )


def _name_the_key(data: dict[str, Any], exc: Exception) -> SerializationError:
    for key, value in data.items():
        try:
            dump_data({key: value})
        except (TypeError, ValueError):
            return SerializationError(f"session value for key {key!r} cannot be stored as JSON: {exc}")
    return SerializationError(f"session data cannot be stored as JSON: {exc}")


_warned: set[int] = set()


def _warn_once(options: SessionOptions) -> None:
    if id(options) not in _warned:
        _warned.add(id(options))
        log.warning(
            "a Secure session cookie was not sent because the request is plain HTTP "
            "and no proxy is trusted (see the proxy option)"
        )
