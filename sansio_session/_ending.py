# The end of a request, in two steps: the store commit (commit()) and the
# cookie decision (set_cookie()). Both read the same facts and hand them to
# the pure rules of _rules.py.
from __future__ import annotations

import logging

from . import _rules
from ._actions import Action, Destroy, SetCookie, Touch
from ._cookie import serialize_set_cookie
from ._errors import UsageError
from ._machine_base import ORIGINAL, MachineBase, _cookie_shape
from ._options import SessionOptions
from ._record import dump_data, encode_record
from ._signing import sign
from ._state import LEGAL_IN, Call, Phase
from ._store import BROWSER_SESSION_TTL

__all__ = ["EndingMixin"]

log = logging.getLogger("sansio_session")

_EXPIRED_COOKIE = 0.0  # Thu, 01 Jan 1970 00:00:00 GMT
_SET_COOKIE_IN = LEGAL_IN[Call.SET_COOKIE]
_COMMIT_IN = LEGAL_IN[Call.COMMIT]


class EndingMixin(MachineBase):
    __slots__ = ()

    def _reset_expiry(self) -> None:
        if not self._expiry_reset:
            self._expiry_reset = True
            assert self._session is not None
            self._session.cookie.reset_max_age(self.now_ms)

    def _facts(self) -> tuple[bool, bool, bool, bool]:
        """id_changed, modified, saved, ever_saved."""
        session = self._session
        assert session is not None
        current = ORIGINAL if session._pristine else self._fingerprint_of(session._data)
        self._data_json = None if current is ORIGINAL else current  # type: ignore[assignment]
        data_changed = current is not ORIGINAL and current != self._original_fp
        saved_fp = self._saved_fp
        saved = not self._regenerated and saved_fp is not None and saved_fp == current
        if not saved and saved_fp is ORIGINAL and current == self._original_fp:
            saved = not self._regenerated
        modified = self._regenerated or data_changed or self._user_changed
        return self.is_new, modified, saved and not self._user_changed, saved_fp is not None

    def _touch_is_recent(self, sliding_ms: int | None) -> bool:
        # touch_after: the store's expiry was last moved at (its expiry - the
        # sliding lifetime); skip the refresh if that was less than
        # touch_after ago. Without a store expiry we cannot tell, so touch.
        touch_after = self.options.touch_after
        store_expiry = self._store_expiry_ms
        if touch_after is None or store_expiry is None:
            return False
        lifetime = BROWSER_SESSION_TTL * 1000 if sliding_ms is None else sliding_ms
        return self.now_ms - (store_expiry - lifetime) < touch_after * 1000

    def cache_headers(self, *, cookie_set: bool, has_cache_control: bool) -> list[tuple[str, str]]:
        """Headers that keep shared caches from serving one user's session to another.

        A response that read the session varies by Cookie; one that sets the
        session cookie must not be stored by a shared cache (Flask
        CVE-2023-30861), so it gets ``Cache-Control: private`` unless the
        handler chose its own Cache-Control.
        """
        headers = []
        if self._session_read and not self._bypass:
            headers.append(("Vary", "Cookie"))
        if cookie_set and not has_cache_control:
            headers.append(("Cache-Control", "private"))
        return headers

    def set_cookie(self, now: float | None = None) -> SetCookie | None:
        """The cookie decision, taken as the headers are written. Call it once."""
        came_from = self.phase
        if came_from not in _SET_COOKIE_IN:
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
        if self._unborn:
            if not self.options.save_uninitialized:
                return None  # new, untouched and not to be saved: no cookie
            self._born()
        session = self._session
        if session is None:
            if self._had_cookie and (self._destroyed or (self._unset and self.options.unset == "destroy")):
                return SetCookie(self._expiring_cookie())
            return None
        if not self._expiry_reset:
            self._reset_expiry()
        settled = self._settled if came_from is Phase.DONE else None
        id_changed, modified, _, _ = self._facts() if settled is None else settled
        options = self.options
        cookie = session.cookie
        if not _rules.should_set_cookie(
            id_changed=id_changed,
            modified=modified,
            has_expiry=cookie.expires_ms is not None,
            save_uninitialized=options.save_uninitialized,
            # With idle_timeout the cookie slides with the store's expiry, on
            # every response, so the two cannot drift apart.
            rolling=options.rolling or options.idle_timeout is not None,
        ):
            return None
        if cookie.secure and not self._secure_request():
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
        # The same name, Path and Domain as the cookie being cleared (the
        # session's own, which may predate the current options).
        c = self.options.cookie
        gone = self._gone_cookie
        path, domain = (c.path, c.domain) if gone is None else (gone.path, gone.domain)
        secure = c.secure is True or (c.secure == "auto" and self._secure_request())
        if gone is not None:
            secure = gone.secure
        return serialize_set_cookie(
            self.options.name,
            "",
            domain=domain,
            path=path,
            expires=_EXPIRED_COOKIE,
            http_only=c.http_only,
            secure=secure,
            same_site=None if c.same_site == "auto" else c.same_site,
        )

    def commit(self, now: float | None = None) -> Action | None:
        """The end-of-request store action (save, touch or destroy), or None.

        Call it once; for a buffered response before set_cookie(), for a
        streamed one after it and before the final bytes.
        """
        came_from = self.phase
        if came_from not in _COMMIT_IN:
            self._enter(Call.COMMIT)
        if came_from is Phase.FAILED:
            return None
        if now is not None:
            self.now_ms = int(now * 1000)
        action = None if self._bypass else self._commit_action()
        self.phase = Phase.DONE if action is None else Phase.COMMITTING
        return action

    def _commit_action(self) -> Action | None:
        options = self.options
        if self._unborn:
            if not options.save_uninitialized:
                return None  # new, untouched and not to be saved
            self._born()
        session = self._session
        if session is None:
            if (
                _rules.should_destroy(unset_destroy=options.unset == "destroy", session_gone=self._unset)
                and self._stored
            ):
                return Destroy(sid=self._key(self.sid), user=self._bound_user())
            return None
        self._reset_expiry()
        self._settled = facts = self._facts()
        id_changed, modified, saved, ever_saved = facts
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
            # The facts serialised the data just now: the save stores that.
            return self._save_action(self._data_json)
        if _rules.should_touch(id_changed=id_changed, will_save=False):
            ttl = self._ttl()
            if ttl <= 0:
                return Destroy(sid=self._key(self.sid), user=self._bound_user())
            if self.options.touch_after is not None and self._touch_is_recent(
                session.cookie.original_max_age_ms
            ):
                return None
            cookie, data = session.cookie, session._data
            sid = self._sid if self._sid is not None else self.sid
            return Touch(
                sid=self._key(sid) if self.options.hash_ids else sid,
                ttl=ttl,
                encode=lambda: encode_record(cookie, dump_data(data)),
                user=cookie.user,
            )
        return None


def _warn_once(options: SessionOptions) -> None:
    if "secure_over_http" not in options.warned:
        options.warned.add("secure_over_http")
        log.warning(
            "a Secure session cookie was not sent because the request is plain HTTP "
            "and no proxy is trusted (see the proxy option)"
        )
