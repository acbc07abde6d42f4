# SessionMachine: one request's session, as a sans-IO state machine.
#
# The machine never does I/O and never reads a clock or a random source: the
# driver passes `now` (POSIX seconds) and the options carry the id generator.
# It takes the request's Cookie header, emits actions (Load, Save, Touch,
# Destroy, SetCookie), and is told what became of each store action through
# store_done() / store_failed(). Which call is legal when is in _state.py;
# what to do at the end is decided by the pure rules in _rules.py. The
# machine only keeps the facts those rules need and builds the actions; its
# parts live in _machine_base.py, _intents.py and _ending.py.
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._actions import Action, Load, Save, Touch
from ._cookie import find_cookie
from ._ending import EndingMixin
from ._errors import StoreError, UsageError
from ._intents import IntentsMixin
from ._machine_base import Executor
from ._session import Session
from ._signing import unsign_bytes
from ._state import LEGAL_IN, Call, Phase
from ._store import Conflict

__all__ = ["SessionMachine", "Executor"]

log = logging.getLogger("sansio_session")

#: How many times one save may meet a newer record before it gives up: enough
#: for a burst of parallel writers on one session (each retry means another
#: request's save landed), few enough that a livelock ends.
MAX_CONFLICTS = 100

#: How many verified cookie values the options remember (SessionOptions.verified_ids).
VERIFIED_IDS = 4096

_BEGIN_IN = LEGAL_IN[Call.BEGIN]
_STORE_DONE_IN = LEGAL_IN[Call.STORE_DONE]


class SessionMachine(IntentsMixin, EndingMixin):
    """The session of one request. Make one per request; it is cheap.

    ``executor`` runs the actions of the session's intents (see
    :data:`Executor`); drivers supply it.
    """

    __slots__ = ()

    # -- the start of a request -------------------------------------------

    def begin(
        self,
        cookie: str | None,
        *,
        now: float,
        tls: bool | Callable[[], bool] = False,
        secure: bool | None = None,
        forwarded_proto: str | None = None,
        path: str = "/",
    ) -> Load | None:
        """Start the request from its Cookie header (all of them, joined by "; ").

        ``tls`` says the connection itself is TLS (or is a callable that
        says it, asked only if something needs to know); ``secure`` is the
        framework's own verdict (it may trust a proxy), None for "same as
        tls"; ``forwarded_proto`` is the X-Forwarded-Proto header, used only
        when ``proxy`` is True. Returns a Load action when the cookie carries
        a validly signed id of the right shape, else None and the session is
        a new one (no store call at all).
        """
        if self.phase not in _BEGIN_IN:
            self._enter(Call.BEGIN)
        options = self.options
        self.now_ms = now_ms = int(now * 1000)
        # Whether the request is secure is worked out only if something asks
        # (a Secure or "auto" cookie): most requests never need to know.
        self._security = (tls, secure, forwarded_proto)
        if not (path or "/").startswith(options.cookie.path):
            # express-session's plain string-prefix test: not our path, so
            # the session layer does nothing for this request at all.
            self._bypass = True
            self.phase = Phase.ACTIVE
            return None
        value = find_cookie(cookie, options.name) if cookie else None
        if value:
            self._had_cookie = True
            sid = options.verified_ids.get(value)
            if sid is None:
                sid = self._verify(value)
            if sid is not None:
                self._cookie_id = sid
                self.phase = Phase.LOADING
                return Load(sid=self._key(sid) if options.hash_ids else sid)
        self._generate(now_ms)
        self.phase = Phase.ACTIVE
        return None

    def _verify(self, value: str) -> str | None:
        # The signature check, for a cookie value not verified before.
        options = self.options
        if not value.startswith("s:"):
            self._event("bad_signature")
            return None
        sid = unsign_bytes(value[2:].encode("utf-8", "surrogatepass"), options.secrets)
        if sid is None:
            self._event("bad_signature")
            return None
        if not options.valid_id(sid):
            self._event("invalid_id")
            return None
        verified = options.verified_ids
        if len(verified) >= VERIFIED_IDS:
            verified.clear()
        verified[value] = sid
        return sid

    # -- reports from the driver ------------------------------------------

    def store_done(self, action: Action, result: Any = None) -> Save | None:
        """Report that ``action`` succeeded; for a Load, with the record or None.

        For a compare-and-set Save the result is None or a Conflict; after a
        conflict this returns the merged Save to run next (and reported the
        same way). Otherwise it returns None.
        """
        came_from = self.phase
        if came_from not in _STORE_DONE_IN:
            self._enter(Call.STORE_DONE)
        if isinstance(result, Conflict) and isinstance(action, Save):
            return self._conflicted(action, result, came_from)
        if isinstance(action, Save):
            self._base_text = action.record
        if came_from is Phase.LOADING:
            if result is None or not self._adopt(result, self.now_ms):
                # No such session (or an unusable one): a new one, with a new
                # id, as express-session does; the stale cookie is dropped.
                self._generate(self.now_ms)
            elif self.options.on_event is not None or log.isEnabledFor(logging.INFO):
                self._event("loaded")  # only built for a listener: most requests have none
            self.phase = Phase.ACTIVE
            return None
        if came_from is Phase.COMMITTING:
            if isinstance(action, Save):
                self._event("saved" if self._stored else "created")
                self._stored = True
            elif self.options.on_event is not None or log.isEnabledFor(logging.INFO):
                self._event("touched" if isinstance(action, Touch) else "destroyed")
            self.phase = Phase.DONE
            return None
        assert self._pending is not None
        kind, pending, keep = self._pending
        if pending is not action:
            self.phase = Phase.ERROR
            raise UsageError("store_done() reports an action that is not the one out")
        self._pending = None
        self.phase = Phase.ACTIVE
        self._finish_intent(kind, keep, result)
        return None

    def _conflicted(self, action: Save, conflict: Conflict, came_from: Phase) -> Save | None:
        # Another request saved (or destroyed) this session since we loaded
        # it. Merge our changes into its record and try again, a bounded
        # number of times; a destroyed session stays destroyed.
        self._conflicts += 1
        if self._conflicts > MAX_CONFLICTS:
            self.phase = Phase.FAILED
            raise StoreError("session save kept conflicting with parallel requests", reason="session busy")
        retry = self._merged_save(action, conflict.current)
        if retry is None:
            self._event("save_lost_to_destroy")
            if came_from is Phase.WAITING:
                self._pending = None
                self.phase = Phase.ACTIVE
                self._finish_intent("destroy", False, None)
            else:
                self._bypass = True  # no cookie for a session that is gone
                self.phase = Phase.DONE
            return None
        self._event("save_conflict", attempt=self._conflicts)
        if came_from is Phase.WAITING:
            assert self._pending is not None
            self._pending = (self._pending[0], retry, self._pending[2])
        self.phase = came_from
        return retry

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
            self.phase = Phase.ACTIVE
        elif self.options.on_store_failure == "continue" and came_from is Phase.COMMITTING:
            # The response goes on, but the cookie is left as the client
            # has it: a new id whose save failed would be an orphan.
            self._bypass = True
            self.phase = Phase.DONE
        else:
            self.phase = Phase.FAILED
        return failure

    # -- the handler's view -------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The session, or None (destroyed, unset, or a path outside cookie.path)."""
        if self.phase is Phase.IDLE or self.phase is Phase.LOADING:
            self._enter(Call.USE)
        self._session_read = True
        return self._born() if self._unborn else self._session
