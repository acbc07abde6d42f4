# The edges of a request: streamed responses (headers out before the
# commit), store failures, paths outside cookie.path, secure cookies on plain
# HTTP, and signed ids that are not of the generator's shape.
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from helpers import (
    NOW,
    SECRET,
    RecordingStore,
    attributes,
    drive,
    make_id,
    options,
    signed_cookie,
    streamed,
)

from sansio_session import (
    Load,
    Phase,
    Save,
    SessionMachine,
    SessionOptions,
    StoreError,
    UsageError,
    sign,
)
from sansio_session.sync import run_request, sync_executor

SID = make_id(1)
Step = Callable[[Any], Any]


def nothing(session: Any) -> None:
    return None


def views(session: Any) -> None:
    session["views"] = session.get("views", 0) + 1


def minute(**kw: Any) -> SessionOptions:
    return options(cookie={"max_age": 60}, **kw)


def stored(opts: SessionOptions | None = None) -> RecordingStore:
    """A store holding SID (views 1), made by a first request."""
    store = RecordingStore()
    drive(opts or minute(), None, views, store)
    store.calls.clear()
    return store


# -- streamed responses -----------------------------------------------------------


def test_streamed_new_session_modified_before_the_flush() -> None:
    out = streamed(minute(), None, views, nothing)
    assert out.cookie == signed_cookie(SID)
    assert out.ops == ["set"]
    assert out.machine is not None and out.machine.phase is Phase.DONE


def test_streamed_new_session_whose_cookie_did_not_go_out_is_not_saved() -> None:
    out = streamed(minute(), None, nothing, views)
    assert (out.set_cookie, out.actions) == (None, [])
    assert "orphan_not_saved" in out.event_names


def test_streamed_save_uninitialized() -> None:
    out = streamed(minute(save_uninitialized=True), None, nothing, views)
    assert out.set_cookie is not None
    assert out.ops == ["set"]
    assert out.record(SID)["views"] == 1  # changes after the flush are saved


def test_streamed_loaded_session_changed_after_the_flush_is_saved() -> None:
    store = stored()
    out = streamed(minute(), signed_cookie(SID), nothing, views, store=store)
    assert out.set_cookie is None  # nothing had changed when the headers went
    assert out.ops == ["get", "set"]
    assert out.record(SID)["views"] == 2


def test_streamed_regenerate_after_the_flush_fails_loudly() -> None:
    store = stored()
    with pytest.raises(UsageError, match="after the headers"):
        streamed(minute(), signed_cookie(SID), nothing, lambda s: s.regenerate(), store=store)


def test_streamed_regenerate_after_the_flush_leaves_the_machine_in_error() -> None:
    machine = SessionMachine(minute(), executor=sync_executor(RecordingStore()))
    machine.begin(None, now=NOW)
    session = machine.session
    assert session is not None
    machine.set_cookie(NOW)
    with pytest.raises(UsageError):
        session.regenerate()
    assert machine.phase is Phase.ERROR


def test_streamed_destroy_after_the_flush_still_works() -> None:
    store = stored()
    out = streamed(minute(), signed_cookie(SID), nothing, lambda s: s.destroy(), store=store)
    assert out.ops == ["get", "destroy"]
    assert out.set_cookie is None  # too late for the expiring cookie


def test_streamed_expires_is_taken_at_the_flush_and_stored_as_sent() -> None:
    out = streamed(minute(), None, views, nothing, flush_at=NOW + 5, end_at=NOW + 15)
    assert attributes(out.set_cookie or "")["expires"] == "Thu, 01 Jan 1970 00:17:45 GMT"
    (save,) = out.actions
    assert isinstance(save, Save) and save.ttl == 50
    assert out.record(SID)["cookie"]["expires"] == "1970-01-01T00:17:45.000Z"


def test_streamed_secure_cookie_on_http_makes_no_orphan() -> None:
    # express-session saves this session although its cookie never went out.
    out = streamed(options(cookie={"secure": True, "max_age": 60}), None, views, nothing)
    assert (out.set_cookie, out.actions) == (None, [])
    assert out.event_names == ["secure_cookie_not_sent", "orphan_not_saved"]


# -- store failures ----------------------------------------------------------------------


def failing(op: str, opts: SessionOptions | None = None) -> RecordingStore:
    store = stored(opts)
    store.fail = {op}
    return store


def machine_for(opts: SessionOptions, store: RecordingStore) -> SessionMachine:
    return SessionMachine(opts, executor=sync_executor(store))


def test_load_failure_is_a_store_error_and_failed_phase() -> None:
    opts = minute()
    store = failing("get")
    machine = machine_for(opts, store)
    load = machine.begin(signed_cookie(SID), now=NOW)
    assert load == Load(sid=SID)
    error = machine.store_failed(load, ConnectionError("down"))
    assert isinstance(error, StoreError)
    assert error.reason == "session store unavailable"
    assert isinstance(error.__cause__, ConnectionError)
    assert machine.phase is Phase.FAILED
    assert machine.commit(NOW) is None
    assert machine.set_cookie(NOW) is None


def test_load_failure_through_the_runner() -> None:
    with pytest.raises(StoreError) as info:
        drive(minute(), signed_cookie(SID), views, failing("get"))
    assert info.value.reason == "session store unavailable"


@pytest.mark.parametrize(("op", "handler"), [("set", views), ("touch", nothing)])
def test_commit_failure_gives_no_cookie(op: str, handler: Step) -> None:
    opts = minute(rolling=True)
    store = failing(op, opts)
    machine = machine_for(opts, store)
    load = machine.begin(signed_cookie(SID), now=NOW)
    assert load is not None
    machine.store_done(load, store.get(load.sid))
    handler(machine.session)
    action = machine.commit(NOW)
    assert action is not None
    machine.store_failed(action, ConnectionError("down"))
    assert machine.phase is Phase.FAILED
    assert machine.set_cookie(NOW) is None


def test_commit_failure_through_the_runner() -> None:
    store = RecordingStore()
    store.fail = {"set"}
    with pytest.raises(StoreError):
        drive(minute(), None, views, store)


@pytest.mark.parametrize(
    ("intent", "op"), [("destroy", "destroy"), ("regenerate", "destroy"), ("reload", "get"), ("save", "set")]
)
def test_intent_failure_raises_from_the_intent(intent: str, op: str) -> None:
    store = stored()
    machine = machine_for(minute(), store)
    load = machine.begin(signed_cookie(SID), now=NOW)
    assert load is not None
    machine.store_done(load, store.get(load.sid))
    session = machine.session
    assert session is not None
    store.fail = {op}
    with pytest.raises(StoreError) as info:
        getattr(session, intent)()
    assert info.value.reason == "session store unavailable"
    assert machine.phase is Phase.FAILED
    assert machine.commit(NOW) is None
    assert machine.set_cookie(NOW) is None


def test_continue_after_a_failed_load_goes_on_without_a_session() -> None:
    opts = minute(on_store_failure="continue")
    store = failing("get", opts)
    machine = machine_for(opts, store)
    load = machine.begin(signed_cookie(SID), now=NOW)
    assert load is not None
    machine.store_failed(load, ConnectionError("down"))
    assert machine.phase is Phase.ACTIVE
    assert machine.session is None
    assert machine.commit(NOW) is None
    assert machine.set_cookie(NOW) is None  # the client's cookie is left alone


def test_continue_after_a_failed_commit_of_a_loaded_session() -> None:
    opts = minute(on_store_failure="continue")
    store = failing("set", opts)
    machine = machine_for(opts, store)
    load = machine.begin(signed_cookie(SID), now=NOW)
    assert load is not None
    machine.store_done(load, store.get(load.sid))
    views(machine.session)
    action = machine.commit(NOW)
    assert action is not None
    machine.store_failed(action, ConnectionError("down"))
    assert machine.phase is Phase.DONE


def test_continue_after_a_failed_save_of_a_new_session_sends_no_cookie() -> None:
    store = RecordingStore()
    store.fail = {"set"}
    machine = machine_for(minute(on_store_failure="continue"), store)
    machine.begin(None, now=NOW)
    views(machine.session)
    action = machine.commit(NOW)
    assert action is not None
    machine.store_failed(action, ConnectionError("down"))
    assert machine.set_cookie(NOW) is None


# -- paths outside cookie.path ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "inside"),
    [("/app", True), ("/app/x", True), ("/application", True), ("/", False), ("/ap", False), ("/APP", False)],
)
def test_path_is_a_plain_prefix_test(path: str, inside: bool) -> None:
    opts = options(cookie={"path": "/app", "max_age": 60}, save_uninitialized=True)
    out = drive(opts, None, lambda s: s is not None, path=path)
    assert out.value is inside
    assert (out.set_cookie is not None) is inside


def test_path_outside_never_loads_or_writes() -> None:
    opts = options(cookie={"path": "/app", "max_age": 60}, rolling=True, resave=True)
    store = RecordingStore()
    made = drive(opts, None, views, store, path="/app")
    out = drive(opts, made.cookie, lambda s: s, store, path="/other")
    assert (out.value, out.actions, out.set_cookie) == (None, [], None)
    assert store.calls == [("set", SID)]


# -- secure cookies on plain HTTP -----------------------------------------------------------------


# Made at import and kept alive, so no other options object ever had its
# address (the warning is remembered per options object).
SECURE_ON_HTTP = options(cookie={"secure": True})


def warnings_about_secure(caplog: pytest.LogCaptureFixture) -> int:
    return sum("Secure session cookie was not sent" in r.getMessage() for r in caplog.records)


def test_secure_cookie_not_sent_on_http_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sansio_session"):
        results = [run_request(SECURE_ON_HTTP, RecordingStore(), views, now=NOW) for _ in range(3)]
    assert [r.set_cookie for r in results] == [None, None, None]
    assert [r.actions[0].sid for r in results] == [make_id(1), make_id(2), make_id(3)]  # saved all the same
    assert warnings_about_secure(caplog) == 1


def test_secure_cookie_not_sent_on_http_is_an_event() -> None:
    out = drive(options(cookie={"secure": True}), None, views)
    assert out.set_cookie is None
    assert "secure_cookie_not_sent" in out.event_names


def test_secure_cookie_warning_is_given_for_every_new_options(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sansio_session"):
        for _ in range(200):
            run_request(options(cookie={"secure": True}), RecordingStore(), views, now=NOW)
    assert warnings_about_secure(caplog) == 200


def test_secure_cookie_sent_on_tls() -> None:
    out = drive(options(cookie={"secure": True}), None, views, tls=True)
    assert out.set_cookie is not None and "; Secure" in out.set_cookie


@pytest.mark.parametrize(("proxy", "sent"), [(True, True), (False, False), (None, False)])
def test_x_forwarded_proto_only_with_proxy(proxy: bool | None, sent: bool) -> None:
    out = drive(options(proxy=proxy, cookie={"secure": True}), None, views, forwarded_proto="https")
    assert (out.set_cookie is not None) is sent


# -- what the cookie carries -----------------------------------------------------------------------


def cookie_for(value: str) -> str:
    from urllib.parse import quote

    return "connect.sid=" + quote(value, safe="")


@pytest.mark.parametrize(
    "sid",
    [
        "apple",
        "a" * 31,
        "a" * 33,
        "a" * 31 + "+",
        "a" * 31 + ".",
        "ü" * 32,
        "",
        "../../etc/passwd" + "a" * 16,
    ],
)
def test_signed_id_of_the_wrong_shape_never_reaches_the_store(sid: str) -> None:
    out = drive(minute(), cookie_for("s:" + sign(sid, SECRET)), views)
    assert out.actions[0] == Save(sid=make_id(1), record=out.actions[0].record, ttl=60)  # type: ignore[attr-defined]
    assert out.ops == ["set"]
    assert out.event_names[0] == "invalid_id"


def test_a_custom_valid_id_lets_other_shapes_load() -> None:
    opts = minute(valid_id=lambda sid: sid == "apple")
    out = drive(opts, cookie_for("s:" + sign("apple", SECRET)))
    assert out.actions[0] == Load(sid="apple")


@pytest.mark.parametrize(
    "header",
    [
        "connect.sid=" + SID,  # unsigned
        cookie_for(sign(SID, SECRET)),  # signed, without "s:"
        cookie_for("s:" + sign(SID, SECRET))[:-3],  # cut short
        cookie_for("s:" + SID + ".abc"),
        cookie_for("s:" + sign(SID, "another secret, long enough, but not ours")),
    ],
)
def test_bad_cookies_make_no_store_call(header: str) -> None:
    out = drive(minute(), header, views)
    assert out.ops == ["set"]
    assert out.actions[0].sid == make_id(1)
    assert out.event_names[0] == "bad_signature"


def test_empty_cookie_value_is_no_cookie() -> None:
    out = drive(minute(), "connect.sid=", views)
    assert out.ops == ["set"]
    assert "bad_signature" not in out.event_names


def test_first_duplicate_cookie_wins_even_when_bad() -> None:
    good = signed_cookie(make_id(9))
    out = drive(minute(), "connect.sid=s%3Abad.sig; " + good, views)
    assert out.ops == ["set"]
    assert drive(minute(), good + "; connect.sid=s%3Abad.sig", views).actions[0] == Load(sid=make_id(9))


def test_cookie_among_others() -> None:
    header = "a=1; " + signed_cookie(make_id(9)) + "; b=2"
    assert drive(minute(), header).actions == [Load(sid=make_id(9))]


def test_other_cookie_name() -> None:
    opts = minute(name="sid")
    assert drive(opts, signed_cookie(make_id(9))).actions == []
    assert drive(opts, signed_cookie(make_id(9), name="sid")).actions == [Load(sid=make_id(9))]


def test_run_request_is_what_drive_does() -> None:
    store_a, store_b = RecordingStore(), RecordingStore()
    result = run_request(minute(), store_a, views, now=NOW)
    out = drive(minute(), None, views, store_b)
    assert (result.set_cookie, result.actions) == (out.set_cookie, out.actions)
    assert store_a.all() == store_b.all()


@pytest.mark.parametrize("secure, asked", [(False, 0), ("auto", 1), (True, 1)])
def test_tls_given_as_a_callable_is_asked_only_when_needed(secure: Any, asked: int) -> None:
    calls: list[None] = []

    def tls() -> bool:
        calls.append(None)
        return True

    machine = SessionMachine(options(cookie={"secure": secure}, save_uninitialized=True))
    assert machine.begin(None, now=NOW, tls=tls) is None
    save = machine.commit(NOW)
    assert save is not None
    machine.store_done(save)
    decision = machine.set_cookie(NOW)
    assert len(calls) == asked
    assert decision is not None
    assert ("secure" in attributes(decision.value)) is (secure is not False)


@pytest.mark.parametrize("save_uninitialized", [False, True])
def test_a_new_session_nobody_asks_for_is_never_made(save_uninitialized: bool) -> None:
    # With secure="auto" making the session's cookie asks whether the
    # request is secure: an untouched new session that will not be saved
    # never gets that far.
    asked: list[None] = []
    store = RecordingStore()
    opts = options(cookie={"secure": "auto"}, save_uninitialized=save_uninitialized)
    machine = SessionMachine(opts)
    assert machine.begin(None, now=NOW, tls=lambda: asked.append(None) or True) is None
    action = machine.commit(NOW)
    if action is not None:
        store.set(action.sid, action.record, action.ttl)  # type: ignore[attr-defined]
        machine.store_done(action)
    decision = machine.set_cookie(NOW)
    if save_uninitialized:
        assert asked and decision is not None and store.calls == [("set", action.sid)]
    else:
        assert (asked, decision, action, store.calls) == ([], None, None, [])


def test_a_session_kept_past_its_request_says_so() -> None:
    # The session refers to its machine weakly (no reference cycle per
    # request): once the request let go of the machine, using the session
    # is a clear UsageError, and its data can still be read.
    import gc

    machine = SessionMachine(options())
    machine.begin(None, now=NOW)
    session = machine.session
    assert session is not None
    session["views"] = 1
    del machine
    gc.collect()
    assert session.get("views") == 1
    with pytest.raises(UsageError, match="the request this session belonged to is over"):
        session["views"] = 2
