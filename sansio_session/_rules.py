# express-session's end-of-request decisions, as pure functions.
#
# In express-session these four predicates live inside a per-request closure
# (index.js: shouldSetCookie, shouldSave, shouldTouch, shouldDestroy), where
# only HTTP tests can reach them. Here each is a plain function of named
# facts, so each is tested directly, row by row.
#
# The facts, for the session the request ends with:
#   id_changed      the cookie did not carry this session's id (a new session,
#                   a regenerated one, or one whose stored record was gone)
#   modified        the id changed, or the data's JSON (without the cookie)
#                   differs from what was loaded or generated
#   saved           an explicit save() (or, for a loaded session with
#                   resave off, the load itself) stored exactly the current
#                   data under the current id
#   ever_saved      such a save happened at all (express's `savedHash` is set)
#   has_expiry      the cookie has an Expires (not a browser-session cookie)
from __future__ import annotations

__all__ = [
    "should_set_cookie",
    "should_save",
    "should_touch",
    "should_destroy",
    "is_secure_request",
]


def should_set_cookie(
    *, id_changed: bool, modified: bool, has_expiry: bool, save_uninitialized: bool, rolling: bool
) -> bool:
    if id_changed:
        return save_uninitialized or modified
    # A browser-session cookie is sent once, when it is made, and never
    # again unless rolling: re-sending it would change nothing.
    return rolling or (has_expiry and modified)


def should_save(
    *, id_changed: bool, modified: bool, saved: bool, ever_saved: bool, save_uninitialized: bool
) -> bool:
    if not save_uninitialized and not ever_saved and id_changed:
        # A new session is stored only once it holds something.
        return modified
    return not saved


def should_touch(*, id_changed: bool, will_save: bool) -> bool:
    return not id_changed and not will_save


def should_destroy(*, unset_destroy: bool, session_gone: bool) -> bool:
    return unset_destroy and session_gone


def is_secure_request(
    *, tls: bool, framework_secure: bool | None, proxy: bool | None, forwarded_proto: str | None
) -> bool:
    """express-session's issecure(): may a Secure cookie be sent?

    A TLS connection is always secure. proxy=False ignores every header;
    proxy=None leaves it to the framework (which may trust a proxy of its
    own); proxy=True takes the first value of X-Forwarded-Proto.
    """
    if tls:
        return True
    if proxy is False:
        return False
    if proxy is None:
        return bool(framework_secure)
    if forwarded_proto is None:
        return False
    return forwarded_proto.split(",", 1)[0].strip().lower() == "https"
