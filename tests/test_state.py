# Every (Phase, Call) pair, parametrised from the table itself: drive a
# machine into the phase, make the call, and check that the machine went to
# one of the table's targets, or raised UsageError and went to ERROR.
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import NOW, DeferredExecutor, make_id, options, signed_cookie

from sansio_session import (
    Action,
    Call,
    Load,
    Phase,
    Session,
    SessionMachine,
    SessionOptions,
    StoreError,
    UsageError,
)
from sansio_session._state import TRANSITIONS


@dataclass
class Setup:
    machine: SessionMachine
    #: A session taken while the machine was ACTIVE (None if it never was).
    session: Session | None
    #: The action that is out, if any.
    pending: Action | None


SID = make_id(1)
# A loaded session with a browser-session cookie, so its record never expires.
RECORD = '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"list":[1],"plain":"x"}'


def _active(opts: SessionOptions, written: bool) -> Setup:
    machine = SessionMachine(opts, executor=DeferredExecutor())
    load = machine.begin(signed_cookie(SID), now=NOW)
    assert load is not None
    machine.store_done(load, RECORD)
    session = machine.session
    assert session is not None
    if written:
        session["written"] = True
    return Setup(machine, session, None)


def _waiting(opts: SessionOptions, written: bool) -> Setup:
    setup = _active(opts, written)
    assert setup.session is not None
    setup.pending = setup.session.save()
    return setup


def _committing(opts: SessionOptions, written: bool) -> Setup:
    setup = _active(opts, written)
    setup.pending = setup.machine.commit(NOW)
    assert setup.pending is not None
    return setup


def reach(phase: Phase, opts: SessionOptions, written: bool = False) -> Setup:
    """A machine in ``phase``; ``written``: the handler wrote to the session
    while it was ACTIVE."""
    if phase is Phase.IDLE:
        return Setup(SessionMachine(opts, executor=DeferredExecutor()), None, None)
    if phase is Phase.LOADING:
        machine = SessionMachine(opts, executor=DeferredExecutor())
        return Setup(machine, None, machine.begin(signed_cookie(SID), now=NOW))
    if phase is Phase.ACTIVE:
        return _active(opts, written)
    if phase is Phase.WAITING:
        return _waiting(opts, written)
    if phase is Phase.COMMITTING:
        return _committing(opts, written)
    if phase is Phase.DONE:
        setup = _committing(opts, written)
        assert setup.pending is not None
        setup.machine.store_done(setup.pending)
        setup.pending = None
        return setup
    if phase is Phase.FAILED:
        setup = _waiting(opts, written)
        assert setup.pending is not None
        setup.machine.store_failed(setup.pending, ConnectionError("down"))
        setup.pending = None
        return setup
    assert phase is Phase.ERROR
    setup = _active(opts, written)
    with pytest.raises(UsageError):
        setup.machine.begin(None, now=NOW)
    return setup


def _session(setup: Setup) -> Session:
    # The session the handler holds; before ACTIVE the only way to one is
    # machine.session, which is itself a USE call.
    if setup.session is not None:
        return setup.session
    session = setup.machine.session
    assert session is not None
    return session


def _pending(setup: Setup) -> Action:
    return setup.pending if setup.pending is not None else Load(sid=make_id(99))


CALLS: dict[str, tuple[Call, Callable[[Setup], Any]]] = {
    "begin": (Call.BEGIN, lambda s: s.machine.begin(None, now=NOW)),
    "store_done": (Call.STORE_DONE, lambda s: s.machine.store_done(_pending(s), None)),
    "store_failed": (Call.STORE_FAILED, lambda s: s.machine.store_failed(_pending(s), ConnectionError("x"))),
    "save": (Call.INTENT, lambda s: _session(s).save()),
    "regenerate": (Call.INTENT, lambda s: _session(s).regenerate()),
    "regenerate_keep": (Call.INTENT, lambda s: _session(s).regenerate(keep_data=True)),
    "destroy": (Call.INTENT, lambda s: _session(s).destroy()),
    "reload": (Call.INTENT, lambda s: _session(s).reload()),
    "write": (Call.USE, lambda s: _session(s).__setitem__("k", "v")),
    "delete": (Call.USE, lambda s: _session(s).__delitem__("plain")),
    "clear": (Call.USE, lambda s: _session(s).clear()),
    "touch": (Call.USE, lambda s: _session(s).touch()),
    "unset": (Call.USE, lambda s: _session(s).unset()),
    "set_cookie": (Call.SET_COOKIE, lambda s: s.machine.set_cookie(NOW)),
    "commit": (Call.COMMIT, lambda s: s.machine.commit(NOW)),
}

# Reads hand the handler nothing it could lose. The machine answers them in
# any phase that has a session (a read of a nested value first takes the
# fingerprint, which only matters in ACTIVE), so they are checked apart: they
# either answer and leave the phase alone, or raise UsageError.
READS: dict[str, Callable[[Setup], Any]] = {
    "machine.session": lambda s: s.machine.session,
    "get_plain": lambda s: _session(s).get("plain"),
    "getitem_plain": lambda s: _session(s)["plain"],
    "getitem_nested": lambda s: _session(s)["list"],
    "len": lambda s: len(_session(s)),
    "contains": lambda s: "plain" in _session(s),
    "iter": lambda s: list(_session(s)),
    "id": lambda s: _session(s).id,
    "cookie": lambda s: _session(s).cookie.max_age,
}

PHASES = list(Phase)
AFTER_HANDLER = [Phase.WAITING, Phase.COMMITTING, Phase.DONE, Phase.FAILED, Phase.ERROR]
OPTIONS = {
    "fail": options,
    "continue": lambda: options(on_store_failure="continue"),
}


def _pairs() -> list[Any]:
    params = []
    for phase in PHASES:
        for call_name in CALLS:
            for written in (False, True):
                label = f"{phase.value}-{call_name}-{'written' if written else 'pristine'}"
                params.append(pytest.param(phase, call_name, written, id=label))
    return params


def test_table_covers_every_phase_and_only_phases() -> None:
    assert set(TRANSITIONS) == set(Phase)
    for row in TRANSITIONS.values():
        for call, targets in row.items():
            assert isinstance(call, Call)
            assert targets and all(isinstance(t, Phase) for t in targets)
    assert TRANSITIONS[Phase.ERROR] == {}


def test_every_call_kind_is_exercised() -> None:
    assert {call for call, _ in CALLS.values()} == set(Call)


@pytest.mark.parametrize("on_failure", list(OPTIONS))
@pytest.mark.parametrize("phase", PHASES, ids=[p.value for p in PHASES])
def test_reach(phase: Phase, on_failure: str) -> None:
    assert reach(phase, OPTIONS[on_failure]()).machine.phase is phase


@pytest.mark.parametrize("on_failure", list(OPTIONS))
@pytest.mark.parametrize(("phase", "call_name", "written"), _pairs())
def test_phase_call_pair(phase: Phase, call_name: str, written: bool, on_failure: str) -> None:
    setup = reach(phase, OPTIONS[on_failure](), written)
    call, make_call = CALLS[call_name]
    legal = TRANSITIONS[phase].get(call)
    try:
        result = make_call(setup)
    except UsageError:
        assert setup.machine.phase is Phase.ERROR
        assert legal is None, f"{call_name}() is legal in {phase.value} but was refused"
        return
    assert legal is not None, f"{call_name}() in {phase.value} should raise UsageError"
    assert setup.machine.phase in legal
    if call is Call.STORE_FAILED:
        assert isinstance(result, StoreError)


@pytest.mark.parametrize("written", [False, True], ids=["pristine", "written"])
@pytest.mark.parametrize("read", list(READS))
@pytest.mark.parametrize("phase", [p for p in PHASES if p not in (Phase.IDLE, Phase.LOADING)])
def test_reads(phase: Phase, read: str, written: bool) -> None:
    setup = reach(phase, options(), written)
    try:
        READS[read](setup)
    except UsageError:
        assert phase is not Phase.ACTIVE
        assert setup.machine.phase is Phase.ERROR
    else:
        assert setup.machine.phase is phase


@pytest.mark.parametrize("phase", [Phase.IDLE, Phase.LOADING])
def test_no_session_before_the_load(phase: Phase) -> None:
    setup = reach(phase, options())
    with pytest.raises(UsageError):
        _ = setup.machine.session
    assert setup.machine.phase is Phase.ERROR


@pytest.mark.parametrize("call_name", list(CALLS))
def test_error_poisons_every_later_call(call_name: str) -> None:
    setup = reach(Phase.ERROR, options())
    for _ in range(2):
        with pytest.raises(UsageError):
            CALLS[call_name][1](setup)
        assert setup.machine.phase is Phase.ERROR


def test_store_done_for_an_action_that_is_not_out() -> None:
    setup = reach(Phase.WAITING, options())
    with pytest.raises(UsageError):
        setup.machine.store_done(Load(sid=make_id(5)), None)
    assert setup.machine.phase is Phase.ERROR


def test_set_cookie_twice() -> None:
    setup = reach(Phase.DONE, options())
    setup.machine.set_cookie(NOW)
    with pytest.raises(UsageError):
        setup.machine.set_cookie(NOW)
    assert setup.machine.phase is Phase.ERROR


def test_intent_without_executor() -> None:
    machine = SessionMachine(options())
    machine.begin(None, now=NOW)
    session = machine.session
    assert session is not None
    with pytest.raises(UsageError):
        session.save()


def test_intent_after_unset() -> None:
    setup = reach(Phase.ACTIVE, options())
    assert setup.session is not None
    setup.session.unset()
    with pytest.raises(UsageError):
        setup.session.save()
    assert setup.machine.phase is Phase.ERROR


def test_data_of_an_unset_session_is_gone() -> None:
    setup = reach(Phase.ACTIVE, options())
    assert setup.session is not None
    setup.session.unset()
    with pytest.raises(UsageError):
        setup.session["plain"]


def test_usage_error_names_call_and_phase() -> None:
    machine = SessionMachine(options())
    with pytest.raises(UsageError, match=r"commit\(\) is not allowed in phase IDLE"):
        machine.commit(NOW)
