# The session's intents that need the store: regenerate, destroy, reload,
# save (and unset, which does not). Each emits at most one action, hands it
# to the driver's executor, and finishes when the driver reports the result.
from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ._actions import Action, Destroy, Load
from ._errors import StoreError, UsageError
from ._machine_base import MachineBase, _cookie_shape
from ._record import CorruptRecord, decode_record
from ._session import GONE
from ._state import Call, Phase
from ._store import StoredRecord

if TYPE_CHECKING:
    from ._machine import SessionMachine

__all__ = ["IntentsMixin"]


class IntentsMixin(MachineBase):
    __slots__ = ()

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
            self.phase = Phase.WAITING
        return self.executor(cast("SessionMachine", self), action)

    def _intent_regenerate(self, keep_data: bool) -> Any:
        if self._headers_early:
            self.phase = Phase.ERROR
            raise UsageError("regenerate() after the headers were sent cannot deliver the new id")
        action = (
            Destroy(sid=self._key(self.sid), user=self._bound_user())
            if self._stored and self._session is not None
            else None
        )
        return self._start_intent("regenerate", action, keep_data)

    def _intent_destroy(self) -> Any:
        action = (
            Destroy(sid=self._key(self.sid), user=self._bound_user())
            if self._stored and self._session is not None
            else None
        )
        return self._start_intent("destroy", action)

    def _intent_reload(self) -> Any:
        action = Load(sid=self._key(self.sid)) if self._session is not None else None
        return self._start_intent("reload", action)

    def _intent_save(self) -> Any:
        action = self._save_action() if self._session is not None else None
        return self._start_intent("save", action)

    def _intent_unset(self) -> None:
        self._use()
        if self._session is not None:
            self._gone_user = self._session.cookie.user
            self._gone_cookie = self._session.cookie
            self._session._data = GONE
            self._session = None
            self._unset = True

    def _finish_intent(self, kind: str, keep: bool, result: Any) -> None:
        session = self._session
        assert session is not None
        if kind == "regenerate":
            data = session._data if keep else None
            user = session.cookie.user if keep else None
            if session._pristine and keep:
                self._before_change()
            self._generate(self.now_ms, data, reuse=session)
            session.cookie.user = user  # a kept session stays bound to its user
            self._regenerated = True
            self._event("regenerated")
            if keep:
                # The data moved unchanged; the id change alone makes it
                # "modified", so it is saved under the new id.
                assert self._session is not None
                self._session._pristine = False
        elif kind == "destroy":
            self._gone_cookie = session.cookie  # its Path and Domain, for the expiring cookie
            session._data = GONE
            self._event("destroyed")
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
            self._start_text = self._base_text = result.text if isinstance(result, StoredRecord) else result
            self._cookie_shape = _cookie_shape(cookie)
        elif kind == "save":
            # As in express-session, a regenerated session still counts as
            # modified after this (its id is not the one the request began
            # with), so the end of the request saves it again and sends its
            # cookie.
            self._event("saved" if self._stored else "created")
            self._stored = True
            self._saved_fp = self._current_fp()
