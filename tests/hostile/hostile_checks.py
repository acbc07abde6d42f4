# What every hostile test checks after its attack, and the helpers for
# making one: a victim session to read back, raw requests, known driver bugs.
#
# After each attack: the app still answers; the victim's session (made before
# the attack) reads back intact; no response carries a traceback; an error
# response says no more than a short reason; and no attack bytes come back.
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import pytest
from raw_http import RawResponse, build_request, raw_request
from refapp_client import AppClient, Response

__all__ = [
    "MARKER",
    "SHORT_REASON",
    "Victim",
    "assert_clean",
    "assert_intact",
    "assert_response_clean",
    "eventually",
    "known_driver_bug",
    "make_victim",
    "send_raw",
]

#: Put into every attack payload: it must never come back in a response.
MARKER = "zqHOSTILEqz"
#: The most an error body may say (a short reason, nothing of the request).
SHORT_REASON = 200
# Python's traceback lines, which must never reach a client.
_LEAKS = (b"Traceback", b'File "')

T = TypeVar("T")


@dataclass(frozen=True)
class Victim:
    """A stored session of someone else's, made before the attack."""

    sid: str
    cookie: str
    data: dict[str, str]


def make_victim(app: AppClient, **data: str) -> Victim:
    data = data or {"user": "alice", "name": "Zoë"}
    sid, cookie = app.new_session(**data)
    return Victim(sid, cookie, dict(data))


def assert_intact(app: AppClient, victim: Victim) -> None:
    """The app answers, and the victim's session reads back as it was saved."""
    response = app.get("/session", cookie=victim.cookie)
    assert response.status == 200, (response.status, response.body[:200])
    view = response.json()
    assert (view["id"], view["data"]) == (victim.sid, victim.data)
    # A touch, or a save under resave or rolling options, of that session only.
    assert response.ops in (
        [("get", victim.sid), ("touch", victim.sid)],
        [("get", victim.sid), ("set", victim.sid)],
    )
    assert app.get("/noop").status == 200


def assert_clean(
    status: int | None, headers: list[tuple[str, str]] | list[tuple[bytes, bytes]], body: bytes
) -> None:
    """No traceback, no echo of the attack, and an error says only a short reason."""
    assert status is not None, "the server closed the connection without an answer"
    flat = b"\r\n".join(
        (k if isinstance(k, bytes) else k.encode("latin-1"))
        + b": "
        + (v if isinstance(v, bytes) else v.encode("latin-1"))
        for k, v in headers
    )
    for leak in _LEAKS:
        assert leak not in body, f"a traceback reached the client: {body[:300]!r}"
        assert leak not in flat, f"a traceback reached the client's headers: {flat[:300]!r}"
    assert MARKER.encode() not in body + flat, f"the attack was echoed back: {(flat + body)[:300]!r}"
    if status >= 400:
        assert len(body) <= SHORT_REASON, f"a {status} said more than a short reason: {body[:300]!r}"


def assert_response_clean(response: Response) -> None:
    assert_clean(response.status, response.headers, response.body)


def send_raw(
    app: AppClient, header_lines: list[bytes], *, method: str = "GET", target: str = "/session"
) -> tuple[RawResponse, list[tuple[str, str]]]:
    """One raw request; returns what came back and the store operations it caused."""
    response = raw_request(app.host, app.port, build_request(method, target, header_lines))
    return response, app.drain()


def known_driver_bug(request: pytest.FixtureRequest, bugs: Mapping[str, str]) -> None:
    """Mark this run xfail (strict) when its driver has a known bug here.

    ``bugs`` maps a driver's short name to the cause, which becomes the reason.
    """
    driver = request.getfixturevalue("driver")
    if driver in bugs:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"driver bug: {bugs[driver]}"))


def eventually(attempt: Callable[[], T | None], what: str, *, within: float = 15.0) -> T:
    """Retry ``attempt`` until it returns something other than None.

    A bound on how long recovery may take, not a timing assertion: the
    stores reconnect with a backoff of up to a second.
    """
    deadline = time.monotonic() + within
    while True:
        result = attempt()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {within:.0f} s", pytrace=False)
        time.sleep(0.1)
