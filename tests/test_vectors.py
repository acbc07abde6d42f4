# The express-session behaviour vectors (vectors/express.json, described in
# vectors/README.md) through the core alone: each step is one request through
# the reference app's routes, the session machine and a memory store, on a
# clock of our own, checked for its status, its exact store operations and
# the session cookie it set. tests/http/test_express_vectors.py runs the same
# file over HTTP against each driver.
from __future__ import annotations

import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import pytest
from helpers import NOW, Clock, RecordingStore, make_id

from sansio_session import SessionMachine, SessionOptions, StoreError, sign, unsign
from sansio_session.refapp import App, AppRequest, AppResponse
from sansio_session.sync import run_action, sync_executor

VECTORS = Path(__file__).resolve().parent / "vectors" / "express.json"
DOCUMENT: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DOCUMENT["cases"]
FOREIGN_SECRET = "a secret that no app in these vectors knows about"
EXPIRED = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"


def encode(value: str) -> str:
    return quote(value, safe="-_.!~*'()")


class Ids:
    """The case's letters, each bound to one session id on first sight."""

    def __init__(self) -> None:
        self.bound: dict[str, str] = {}

    def bind(self, label: str, sid: str) -> None:
        known = self.bound.get(label)
        if known is None:
            clash = [other for other, value in self.bound.items() if value == sid]
            assert not clash, f"{label} is the same id as {clash[0]}"
            self.bound[label] = sid
        else:
            assert known == sid, f"{label} is another id now"

    def get_or_fresh(self, label: str) -> str:
        if label not in self.bound:
            self.bind(label, make_id(900 + len(self.bound)))  # of the generator's shape, never stored
        return self.bound[label]


def cookie_header(spec: str | None, ids: Ids, options: SessionOptions) -> str | None:
    if spec is None:
        return None
    label, _, how = spec.partition(" ")
    sid = ids.get_or_fresh(label)
    secret = options.secret[0]
    if how == "":
        value = encode("s:" + sign(sid, secret))
    elif how == "tampered":
        signed = sign(sid, secret)
        value = encode("s:" + signed[:-1] + ("A" if signed[-1] != "A" else "B"))
    elif how == "unsigned":
        value = sid
    else:
        assert how == "foreign", spec
        value = encode("s:" + sign(sid, FOREIGN_SECRET))
    return f"{options.name}={value}"


def run_sync(coroutine: Coroutine[Any, Any, AppResponse]) -> AppResponse:
    # With a synchronous executor the routes never wait on anything.
    try:
        coroutine.send(None)
    except StopIteration as stop:
        result: AppResponse = stop.value
        return result
    coroutine.close()
    raise AssertionError("the route awaited something")


def serve(
    app: App,
    options: SessionOptions,
    store: RecordingStore,
    step: dict[str, Any],
    *,
    cookie: str | None,
    now: float,
) -> tuple[int, str | None]:
    """One buffered request, as a driver runs it: (status, Set-Cookie)."""
    method, target = step["request"].split(" ", 1)
    path, _, query = target.partition("?")
    request = AppRequest(method, path, tuple(parse_qsl(query, keep_blank_values=True)))
    early = app.before_session(request)
    if early is not None:
        return early.status, None
    machine = SessionMachine(options, executor=sync_executor(store))
    load = machine.begin(cookie, now=now, forwarded_proto=step.get("forwarded_proto"), path=path)
    try:
        if load is not None:
            try:
                machine.store_done(load, run_action(store, load))
            except Exception as exc:
                raise machine.store_failed(load, exc) from exc
        response = run_sync(app.handle(request, machine))
        action = machine.commit(now)
        if action is not None:
            try:
                machine.store_done(action, run_action(store, action))
            except Exception as exc:
                raise machine.store_failed(action, exc) from exc
    except StoreError:
        return 500, None
    decision = machine.set_cookie(now)
    return response.status, None if decision is None else decision.value


def check_cookie(want: str | None, set_cookie: str | None, ids: Ids, options: SessionOptions) -> None:
    if want is None:
        assert set_cookie is None, f"a Set-Cookie was sent: {set_cookie}"
        return
    assert set_cookie is not None, "no Set-Cookie was sent"
    name, _, rest = set_cookie.partition("=")
    value = rest.split(";", 1)[0]
    assert name == options.name
    if want == "expire":
        assert value == "" and EXPIRED in set_cookie, set_cookie
        return
    signed = unquote(value)
    assert signed.startswith("s:"), set_cookie
    sid = unsign(signed[2:], options.secrets[:1])
    assert sid is not None, f"not signed with the first secret: {set_cookie}"
    ids.bind(want, sid)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_express_vector(case: dict[str, Any]) -> None:
    config = dict(case["options"])
    config.setdefault("secret", DOCUMENT["secret"])
    options = SessionOptions.from_mapping(config)
    clock = Clock(NOW)
    store = RecordingStore(clock)
    app = App()
    ids = Ids()
    for number, step in enumerate(case["steps"], 1):
        clock.now += step.get("advance", 0)
        store.calls.clear()
        cookie = cookie_header(step["cookie"], ids, options)
        status, set_cookie = serve(app, options, store, step, cookie=cookie, now=clock.now)
        where = f"step {number} ({step['request']})"
        assert status == step.get("status", 200), f"{where}: status {status}"
        ops = [op for op, _ in store.calls]
        assert ops == [want.split()[0] for want in step["store"]], f"{where}: store ops {store.calls}"
        for (_, sid), want in zip(store.calls, step["store"], strict=True):
            ids.bind(want.split()[1], sid)
        check_cookie(step["set_cookie"], set_cookie, ids, options)
