# The express-session behaviour vectors (../vectors/express.json, described
# in ../vectors/README.md), run against each reference app over HTTP: each
# step is one request, checked for its status, its exact store operations
# and the session cookie it sent.
from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from refapp_client import AppClient, Response, StartApp, mac, signed_value

pytestmark = pytest.mark.http

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "express.json"
DOCUMENT: dict[str, Any] = json.loads(VECTORS.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DOCUMENT["cases"]
# Cases with the same options run one after another, on one app.
_BY_OPTIONS = sorted(CASES, key=lambda case: json.dumps(case["options"], sort_keys=True))
#: What "foreign" cookies are signed with: a secret no vector's app knows.
FOREIGN_SECRET = "a secret that no app in these vectors knows about"

_STEP_KEYS = {"cookie", "request", "store", "set_cookie", "status", "advance", "forwarded_proto"}
_LABEL = re.compile(r"[A-Z]\Z")
_COOKIE = re.compile(r"([A-Z])(?: (tampered|unsigned|foreign))?\Z")
_OP = re.compile(r"(get|set|touch|destroy) ([A-Z])\Z")
_REQUEST = re.compile(r"(GET|POST|HEAD|PUT|DELETE) (/\S*)\Z")


def test_the_vector_file_is_well_formed() -> None:
    assert DOCUMENT["format"] == 1
    assert isinstance(DOCUMENT["secret"], str)
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    for case in CASES:
        assert set(case) == {"name", "from", "options", "steps"}, case["name"]
        assert isinstance(case["options"], dict) and case["steps"], case["name"]
        for step in case["steps"]:
            assert set(step) <= _STEP_KEYS and {"cookie", "request", "store", "set_cookie"} <= set(step), step
            assert step["cookie"] is None or _COOKIE.match(step["cookie"]), step
            assert _REQUEST.match(step["request"]), step
            assert all(_OP.match(op) for op in step["store"]), step
            assert step["set_cookie"] in (None, "expire") or _LABEL.match(step["set_cookie"]), step


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

    def name(self, sid: str) -> str:
        return next((label for label, value in self.bound.items() if value == sid), "?")

    def get_or_fresh(self, label: str) -> str:
        if label not in self.bound:
            # An id of the generator's shape that no store has seen.
            self.bind(label, secrets.token_urlsafe(24))
        return self.bound[label]


def _cookie_header(spec: str | None, ids: Ids, app: AppClient) -> str | None:
    if spec is None:
        return None
    match = _COOKIE.match(spec)
    assert match, spec
    sid = ids.get_or_fresh(match.group(1))
    how = match.group(2)
    if how is None:
        value = signed_value(sid, app.secret)
    elif how == "tampered":
        signature = mac(sid, app.secret)
        signature = signature[:-1] + ("A" if signature[-1] != "A" else "B")
        value = quote(f"s:{sid}.{signature}", safe="-_.!~*'()")
    elif how == "unsigned":
        value = sid
    else:
        value = signed_value(sid, FOREIGN_SECRET)
    return f"{app.name}={value}"


def _check(step: dict[str, Any], response: Response, ids: Ids, app: AppClient) -> None:
    status = step.get("status", 200)
    assert response.status == status, f"status {response.status}, not {status}: {response.text[:200]}"
    rendered = [f"{op} {ids.name(sid)}" for op, sid in response.ops]
    expected = step["store"]
    assert [op for op, _ in response.ops] == [e.split()[0] for e in expected], (
        f"store ops {rendered}, not {expected}"
    )
    for (_, sid), wanted in zip(response.ops, expected, strict=True):
        ids.bind(wanted.split()[1], sid)
    cookie = response.cookie
    want = step["set_cookie"]
    if want is None:
        assert cookie is None, f"a Set-Cookie was sent: {cookie.raw if cookie else ''}"
    elif want == "expire":
        assert cookie is not None and cookie.is_expiring, f"no expiring Set-Cookie: {response.set_cookies}"
    else:
        assert cookie is not None, "no Set-Cookie was sent"
        sid = response.sent_sid
        ids.bind(want, sid)
        assert cookie.value == signed_value(sid, app.secret), (
            f"not signed with the first secret: {cookie.raw}"
        )


@pytest.mark.parametrize("case", _BY_OPTIONS, ids=[case["name"] for case in _BY_OPTIONS])
def test_express_vector(refapp: StartApp, case: dict[str, Any]) -> None:
    options = dict(case["options"])
    options.setdefault("secret", DOCUMENT["secret"])
    app = refapp(options)
    ids = Ids()
    for number, step in enumerate(case["steps"], 1):
        if step.get("advance"):
            time.sleep(step["advance"])
        method, target = step["request"].split(" ", 1)
        headers = (
            [] if step.get("forwarded_proto") is None else [("X-Forwarded-Proto", step["forwarded_proto"])]
        )
        response = app.request(
            method, target, cookie=_cookie_header(step["cookie"], ids, app), headers=headers
        )
        try:
            _check(step, response, ids, app)
        except AssertionError as exc:
            raise AssertionError(f"step {number} ({step['request']}): {exc}") from None
