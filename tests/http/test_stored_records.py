# Records put into a shared store from outside the app: one written by
# express-session (a Node app on the same store), and records the app must
# not trust, which count as "no session" (express-session answers some of
# them with a 500: "when session without cookie property in store").
from __future__ import annotations

import json
import re
import secrets
from datetime import datetime, timedelta, timezone

import pytest
from http_stores import StoreBackend
from refapp_client import StartApp

pytestmark = [pytest.mark.http, pytest.mark.shared_stores]


@pytest.fixture
def shared(store_backend: StoreBackend) -> StoreBackend:
    assert store_backend.shared
    return store_backend


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def test_a_record_express_session_wrote_is_read_and_written_back(
    refapp: StartApp, shared: StoreBackend
) -> None:
    app = refapp({"cookie": {"max_age": 60}})
    sid = secrets.token_urlsafe(24)
    expires = _iso(datetime.now(timezone.utc) + timedelta(seconds=60))
    shared.plant(
        sid,
        '{"cookie":{"originalMaxAge":60000,"expires":"%s","httpOnly":true,"path":"/"},"views":1}' % expires,
        60,
    )
    cookie = app.cookie_for(sid)
    response = app.get("/session", cookie=cookie)
    assert response.ops == [("get", sid), ("touch", sid)]
    view = response.json()
    assert (view["id"], view["data"]) == (sid, {"views": 1})
    assert view["cookie"]["original_max_age"] == 60
    assert 58 <= view["cookie"]["max_age"] <= 60
    page = app.get("/", cookie=cookie)
    assert "views: 2" in page.text
    assert page.ops == [("get", sid), ("set", sid)]
    assert page.sent_sid == sid


def test_the_app_stores_express_sessions_layout_with_the_expires_it_sent(
    refapp: StartApp, shared: StoreBackend
) -> None:
    app = refapp({"cookie": {"max_age": 60}})
    response = app.get("/")
    sid = response.sent_sid
    text = shared.read(sid)
    assert text is not None
    record = json.loads(text)
    assert list(record) == ["cookie", "views"] and record["views"] == 1
    cookie = record["cookie"]
    assert list(cookie) == ["originalMaxAge", "expires", "httpOnly", "path", "sameSite"], text
    assert (cookie["originalMaxAge"], cookie["httpOnly"], cookie["path"], cookie["sameSite"]) == (
        60000,
        True,
        "/",
        "lax",
    )
    # Date.toJSON: milliseconds and "Z"; the same second as the Expires sent.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", cookie["expires"]), text
    stored = datetime.fromisoformat(cookie["expires"].replace("Z", "+00:00"))
    assert response.cookie is not None and response.cookie.expires == stored.replace(microsecond=0)


@pytest.mark.parametrize(
    "record",
    [
        '{"foo":"bar"}',
        '{"cookie":"x","foo":"bar"}',
        '{"cookie":{"originalMaxAge":60000,"expires":"not a date"}}',
        '{"cookie":{"originalMaxAge":"sixty","expires":null}}',
        '{"cookie":{"originalMaxAge":null,"expires":null,"sameSite":"sometimes"}}',
        "[]",
        '"a string"',
        "1",
        '{"cookie":{"originalMaxAge":null,"expires":null},"deep":' + "[" * 200 + "]" * 200 + "}",
        "not JSON at all",
    ],
    ids=[
        "no-cookie",
        "cookie-not-object",
        "bad-expires",
        "bad-max-age",
        "bad-same-site",
        "array",
        "string",
        "number",
        "too-deep",
        "not-json",
    ],
)
def test_an_untrustworthy_record_is_no_session(refapp: StartApp, shared: StoreBackend, record: str) -> None:
    try:
        json.loads(record)
    except ValueError:
        if shared.kind == "postgres":
            pytest.skip("the PostgreSQL column is json: it cannot hold this record")
    app = refapp({"cookie": {"max_age": 60}})
    sid = secrets.token_urlsafe(24)
    shared.plant(sid, record, 60)
    cookie = app.cookie_for(sid)
    response = app.get("/session", cookie=cookie)
    assert response.status == 200
    assert response.ops == [("get", sid)]
    assert response.json()["id"] != sid
    page = app.get("/", cookie=cookie)
    assert page.status == 200
    assert page.ops == [("get", sid), ("set", page.sent_sid)]
    assert page.sent_sid != sid
