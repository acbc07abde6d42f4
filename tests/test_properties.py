# Properties, with hypothesis: hostile headers never raise, signatures
# round-trip, random call orders raise nothing but UsageError (and StoreError
# where documented), and the cookie parser does work in proportion to its
# (bounded) input.
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from helpers import NOW, DeferredExecutor, RecordingStore, drive, make_id, options, signed_cookie
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sansio_session import (
    Action,
    Load,
    Phase,
    SessionMachine,
    StoreError,
    UsageError,
    find_cookie,
    is_default_shaped_id,
    parse_cookie_header,
    sign,
    unsign,
)
from sansio_session._state import TRANSITIONS
from sansio_session.sync import sync_executor

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

OPTS = options(cookie={"max_age": 60})
OPTS_PROXY = options(cookie={"max_age": 60, "secure": "auto"}, proxy=True)
GOOD = signed_cookie(make_id(7))

# Header text: raw bytes decoded as a server may decode them, plain text, and
# text built from the pieces that matter to the parser.
FRAGMENTS = st.sampled_from(
    [
        "connect.sid",
        "=",
        ";",
        " ",
        "\t",
        '"',
        "%",
        "%3A",
        "%E4",
        "%zz",
        "s:",
        "s%3A",
        ".",
        GOOD,
        "a",
        "\x00",
        "é",
    ]
)
HEADERS = st.one_of(
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.text(max_size=300),
    st.lists(FRAGMENTS, max_size=40).map("".join),
)
TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-_", min_size=1, max_size=12)


def whole_request(header: str, **kw: Any) -> None:
    store = RecordingStore()
    store.set(make_id(7), '{"cookie":{"originalMaxAge":60000,"expires":null}}', 60, now=NOW)
    out = drive(OPTS_PROXY if "forwarded_proto" in kw else OPTS, header, lambda s: s.update(v=1), store, **kw)
    for action in out.actions:
        assert is_default_shaped_id(action.sid)


@FAST
@given(HEADERS)
def test_any_cookie_header_never_raises(header: str) -> None:
    machine = SessionMachine(OPTS)
    load = machine.begin(header, now=NOW)
    assert load is None or (isinstance(load, Load) and is_default_shaped_id(load.sid))
    assert machine.phase is (Phase.ACTIVE if load is None else Phase.LOADING)
    whole_request(header)


@FAST
@given(HEADERS, st.integers(min_value=0, max_value=300))
def test_odd_splits_never_raise(header: str, cut: int) -> None:
    # A driver joins several Cookie header lines with "; ".
    whole_request(header[:cut] + "; " + header[cut:])


@FAST
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=100))
def test_duplicated_header_means_the_same(header: str) -> None:
    for name in ("connect.sid", "a"):
        assert find_cookie(header + "; " + header, name) == find_cookie(header, name)
    first = SessionMachine(OPTS).begin(header, now=NOW)
    twice = SessionMachine(OPTS).begin(header + "; " + header, now=NOW)
    assert first == twice


@FAST
@given(HEADERS, TOKEN)
def test_find_cookie_agrees_with_parse(header: str, name: str) -> None:
    assert find_cookie(header, name) == parse_cookie_header(header).get(name)
    assert find_cookie(header, "connect.sid") == parse_cookie_header(header).get("connect.sid")


@FAST
@given(
    st.one_of(
        st.none(), st.text(max_size=40), st.sampled_from(["https", "HTTPS ", "https,http", "http,https"])
    )
)
def test_any_forwarded_proto_never_raises(proto: str | None) -> None:
    machine = SessionMachine(OPTS_PROXY)
    machine.begin(None, now=NOW, forwarded_proto=proto)
    session = machine.session
    assert session is not None
    expected = proto is not None and proto.split(",", 1)[0].strip().lower() == "https"
    assert session.cookie.secure is expected
    whole_request(GOOD, forwarded_proto=proto)


# -- signatures -----------------------------------------------------------------------------

VALUES = st.text(alphabet=st.characters(codec="utf-8"), max_size=64)
SECRETS = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)


@FAST
@given(VALUES, SECRETS, st.lists(SECRETS, max_size=3))
def test_sign_unsign_round_trip(value: str, secret: str, others: list[str]) -> None:
    signed = sign(value, secret)
    assert signed.startswith(value + ".")
    assert unsign(signed, [*others, secret]) == value
    assert unsign(signed, [secret, *others]) == value


@FAST
@given(VALUES, SECRETS, SECRETS)
def test_other_secret_does_not_verify(value: str, secret: str, other: str) -> None:
    if other != secret:
        assert unsign(sign(value, secret), [other]) is None


@FAST
@given(VALUES, SECRETS, st.data())
def test_any_change_to_the_mac_fails(value: str, secret: str, data: st.DataObject) -> None:
    signed = sign(value, secret)
    mac_start = len(value) + 1
    at = data.draw(st.integers(min_value=mac_start, max_value=len(signed) - 1))
    replacement = data.draw(st.sampled_from("ABCabc019+/=-_"))
    tampered = signed[:at] + replacement + signed[at + 1 :]
    if tampered != signed:
        assert unsign(tampered, [secret]) is None


# -- random call orders ------------------------------------------------------------------------

RECORDS = [
    None,
    '{"cookie":{"originalMaxAge":60000,"expires":"1970-01-01T00:17:00.000Z"},"n":1}',
    '{"cookie":{"originalMaxAge":null,"expires":null},"list":[1]}',
    "garbage",
]


class Run:
    def __init__(self, executor: Callable[..., Any]) -> None:
        self.machine = SessionMachine(options(cookie={"max_age": 60}), executor=executor)
        self.out: list[Action] = []

    def session_op(self, op: Callable[[Any], Any]) -> None:
        session = self.machine.session
        if session is not None:
            op(session)


SESSION_OPS: dict[str, Callable[[Any], Any]] = {
    "write": lambda s: s.__setitem__("n", 2),
    "read": lambda s: s.get("n"),
    "nested": lambda s: s.get("list", []).append(1) if isinstance(s.get("list"), list) else None,
    "pop": lambda s: s.pop("n", None),
    "touch": lambda s: s.touch(),
    "unset": lambda s: s.unset(),
    "max_age": lambda s: setattr(s.cookie, "max_age", 30),
    "regenerate": lambda s: s.regenerate(),
    "regenerate_keep": lambda s: s.regenerate(keep_data=True),
    "destroy": lambda s: s.destroy(),
    "reload": lambda s: s.reload(),
    "save": lambda s: s.save(),
}

MACHINE_OPS = ["begin_none", "begin_good", "begin_bad", "store_done", "store_failed", "set_cookie", "commit"]
CALL_OF = {
    "begin_none": "begin",
    "begin_good": "begin",
    "begin_bad": "begin",
    "store_done": "store_done",
    "store_failed": "store_failed",
    "set_cookie": "set_cookie",
    "commit": "commit",
}


def step(run: Run, op: str, record: str | None) -> None:
    m = run.machine
    if op in SESSION_OPS:
        run.session_op(SESSION_OPS[op])
        return
    pending = run.out[-1] if run.out else Load(sid=make_id(3))
    action: Action | None
    if op.startswith("begin"):
        header = {
            "begin_none": None,
            "begin_good": signed_cookie(make_id(3)),
            "begin_bad": "connect.sid=s%3Ax.y",
        }
        action = m.begin(header[op], now=NOW)
    elif op == "store_done":
        m.store_done(pending, record)
        action = None
    elif op == "store_failed":
        assert isinstance(m.store_failed(pending, ConnectionError("x")), StoreError)
        action = None
    elif op == "set_cookie":
        m.set_cookie(NOW)
        action = None
    else:
        action = m.commit(NOW)
    if isinstance(action, Action):
        run.out.append(action)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(MACHINE_OPS + list(SESSION_OPS)), st.sampled_from(RECORDS)), max_size=14
    ),
    st.booleans(),
)
def test_random_call_orders_raise_only_usage_or_store_errors(
    calls: list[tuple[str, str | None]], deferred: bool
) -> None:
    store = RecordingStore()
    executor = DeferredExecutor() if deferred else sync_executor(store)
    run = Run(executor)
    if isinstance(executor, DeferredExecutor):
        executor_actions = executor.actions
    for op, record in calls:
        before = run.machine.phase
        try:
            step(run, op, record)
        except UsageError:
            assert run.machine.phase is Phase.ERROR
            continue
        except StoreError:
            # Documented: an intent whose store call fails, or reload() of a
            # session the store no longer has (or holds unusable).
            assert op in ("reload", "store_done", "regenerate", "regenerate_keep", "destroy", "save")
            assert run.machine.phase is Phase.FAILED
            continue
        after = run.machine.phase
        if op in CALL_OF:
            call = next(c for c in TRANSITIONS[before] if c.value == CALL_OF[op])
            assert after in TRANSITIONS[before][call]
        if deferred:
            run.out.extend(a for a in executor_actions if a is not None)
            executor_actions.clear()


# -- linear parsing ----------------------------------------------------------------------------


def count_calls(fn: Callable[[str], Any], arg: str) -> int:
    """How many function calls (Python and C) ``fn(arg)`` makes: a measure
    of its work that does not depend on the machine's speed."""
    calls = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn(arg)
    finally:
        sys.setprofile(previous)
    return calls


ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "pairs": lambda n: "a=1; " * n,
    "distinct-pairs": lambda n: "".join(f"k{i}=v; " for i in range(n)),
    "semicolons": lambda n: ";" * n,
    "equals": lambda n: "=" * n,
    "spaces": lambda n: " " * n + "a=1",
    "nameless": lambda n: "=x;" * n,
    "quotes": lambda n: 'a="' * n,
    "escapes": lambda n: "a=" + "%41" * n,
    "bad-escapes": lambda n: "a=" + "%4" * n,
    "name-repeated": lambda n: "connect.sidconnect.sid;" * n,
    "name-prefixes": lambda n: "connect.si=1;" * n,
}


@pytest.mark.parametrize("shape", list(ADVERSARIAL))
@pytest.mark.parametrize(
    "fn", [parse_cookie_header, lambda h: find_cookie(h, "connect.sid")], ids=["parse", "find"]
)
def test_parse_work_grows_linearly(shape: str, fn: Callable[[str], Any]) -> None:
    make = ADVERSARIAL[shape]
    small, large = count_calls(fn, make(500)), count_calls(fn, make(2000))
    # Four times the input: at most about four times the calls.
    assert large <= 4 * small + 50, (small, large)


@pytest.mark.parametrize("shape", list(ADVERSARIAL))
def test_begin_work_is_bounded_by_the_header_bound(shape: str) -> None:
    def begin(header: str) -> Any:
        return SessionMachine(OPTS).begin(header, now=NOW)

    make = ADVERSARIAL[shape]
    # Past the bound, more input is no more work.
    bounded, huge = count_calls(begin, make(30_000)), count_calls(begin, make(120_000))
    assert huge <= bounded * 1.1 + 50, (bounded, huge)


def test_long_headers_are_cut_at_the_bound() -> None:
    assert find_cookie("x=" + "y" * 200_000 + "; " + GOOD, "connect.sid") is None
    assert SessionMachine(OPTS).begin(GOOD + "; x=" + "y" * 200_000, now=NOW) == Load(sid=make_id(7))
