# The machine's phases and what may be called in each.
#
# Rule 1: this table is the only place that says which call is legal when.
# The machine checks every call against it before doing anything; an illegal
# call raises UsageError and moves the machine to ERROR, after which every
# call raises.
#
# Rule 2: a phase changes only through a call listed here. Where one call can
# lead to more than one phase (begin() goes to LOADING when there is a session
# to load, to ACTIVE when there is not), the table lists every possible target
# and the machine picks one; tests check that it never picks another.
#
# Theory of operation. A request goes through the machine once:
#
#   IDLE --begin--> LOADING --store_done--> ACTIVE            (a signed cookie)
#   IDLE --begin--> ACTIVE                        (no cookie, or a bad one)
#
# In ACTIVE the handler works on the session. An explicit regenerate(),
# destroy(), reload() or save() needs the store, so it emits an action and
# the machine WAITs until the driver reports the result. At the end, the
# driver calls commit(), which emits at most one action (save, touch or
# destroy) and moves to COMMITTING, or straight to DONE when there is nothing
# to do. The cookie decision, set_cookie(), is taken when the headers are
# written: after the commit for a buffered response (ACTIVE -> ... -> DONE,
# then set_cookie), or before it for a streamed one (set_cookie in ACTIVE,
# which the machine remembers: a new session whose cookie did not go out is
# then not saved, and regenerate() is refused).
#
# A failed store call moves to FAILED (unless on_store_failure is
# "continue"): the driver answers 500, and only the two end-of-request calls
# remain legal, doing nothing.
from __future__ import annotations

import enum

__all__ = ["Phase", "Call", "TRANSITIONS", "LEGAL_IN"]


class Phase(enum.Enum):
    # Members are singletons, so identity is equality: hash them by identity
    # too (Enum's own __hash__ runs Python code on every table lookup).
    __hash__ = object.__hash__

    #: Made, begin() not called yet.
    IDLE = "IDLE"
    #: A Load action is out; waiting for store_done() or store_failed().
    LOADING = "LOADING"
    #: The handler runs; the session may be used.
    ACTIVE = "ACTIVE"
    #: An explicit regenerate/destroy/reload/save action is out.
    WAITING = "WAITING"
    #: The end-of-request action is out.
    COMMITTING = "COMMITTING"
    #: The request's store work is complete.
    DONE = "DONE"
    #: A store call failed; the response should be an error.
    FAILED = "FAILED"
    #: The machine was used wrongly; every call raises UsageError.
    ERROR = "ERROR"


class Call(enum.Enum):
    __hash__ = object.__hash__

    BEGIN = "begin"
    STORE_DONE = "store_done"
    STORE_FAILED = "store_failed"
    #: regenerate(), destroy(), reload() or save() on the session.
    INTENT = "intent"
    #: Reading or changing the session, touch(), unset().
    USE = "use"
    SET_COOKIE = "set_cookie"
    COMMIT = "commit"


P, C = Phase, Call

TRANSITIONS: dict[Phase, dict[Call, frozenset[Phase]]] = {
    P.IDLE: {C.BEGIN: frozenset({P.LOADING, P.ACTIVE})},
    P.LOADING: {
        C.STORE_DONE: frozenset({P.ACTIVE}),
        C.STORE_FAILED: frozenset({P.FAILED, P.ACTIVE}),
    },
    P.ACTIVE: {
        C.INTENT: frozenset({P.WAITING, P.ACTIVE}),
        C.USE: frozenset({P.ACTIVE}),
        C.SET_COOKIE: frozenset({P.ACTIVE}),
        C.COMMIT: frozenset({P.COMMITTING, P.DONE}),
    },
    P.WAITING: {
        # WAITING again: a compare-and-set save met a newer record and the
        # machine asks for the merged save (see Save.expected).
        C.STORE_DONE: frozenset({P.ACTIVE, P.WAITING}),
        C.STORE_FAILED: frozenset({P.FAILED, P.ACTIVE}),
    },
    P.COMMITTING: {
        C.STORE_DONE: frozenset({P.DONE, P.COMMITTING}),
        C.STORE_FAILED: frozenset({P.FAILED, P.DONE}),
    },
    P.DONE: {C.SET_COOKIE: frozenset({P.DONE})},
    P.FAILED: {
        C.SET_COOKIE: frozenset({P.FAILED}),
        C.COMMIT: frozenset({P.FAILED}),
    },
    P.ERROR: {},
}

#: For each call, the phases it is legal in (read off TRANSITIONS), so that
#: the machine's busiest calls check their phase without a method call.
LEGAL_IN: dict[Call, frozenset[Phase]] = {
    call: frozenset(phase for phase, calls in TRANSITIONS.items() if call in calls) for call in Call
}
