# The session lifecycle through the reference app's routes: visits, the
# session methods and the options that decide saving, touching and sending
# the cookie. Each assertion on `ops` is the exact list of store operations
# the request caused, from GET /_store/log.
#
# The tests marked every_store are the representative subset that runs on
# every store (new visit, return visit, save, touch, destroy, regenerate,
# reload, expiry); the rest run on the memory store.
from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from refapp_client import ID_SHAPE, IMF_FIXDATE, AppClient, StartApp, posix

pytestmark = pytest.mark.http

MINUTE: dict[str, Any] = {"cookie": {"max_age": 60}}
EMPTY_VIEW = {"id": None, "data": {}, "cookie": {"max_age": None, "original_max_age": None, "expires": None}}


def view_of(app: AppClient, cookie: str | None) -> dict[str, Any]:
    response = app.get("/session", cookie=cookie)
    assert response.status == 200
    result: dict[str, Any] = response.json()
    return result


# -- visits -------------------------------------------------------------------


@pytest.mark.every_store
def test_new_visit_without_a_write_stores_nothing_and_sets_no_cookie(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    before = time.time()
    response = app.get("/session")
    after = time.time()
    assert response.status == 200
    assert response.ops == []
    assert response.cookie is None
    view = response.json()
    assert ID_SHAPE.match(view["id"]), view
    assert view["data"] == {}
    assert view["cookie"]["original_max_age"] == 60
    assert view["cookie"]["max_age"] == 60
    expires = view["cookie"]["expires"]
    assert IMF_FIXDATE.match(expires), expires
    assert int(before + 60) <= posix(parsedate_to_datetime(expires)) <= after + 60


@pytest.mark.every_store
def test_new_visit_with_a_write_saves_and_sets_the_cookie(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.get("/")
    assert response.status == 200
    assert response.content_type.startswith("text/html")
    assert "views: 1" in response.text
    sid = response.sent_sid
    assert ID_SHAPE.match(sid)
    assert response.ops == [("set", sid)]


@pytest.mark.every_store
def test_save_uninitialized_saves_and_sends_an_untouched_new_session(refapp: StartApp) -> None:
    app = refapp({"save_uninitialized": True, **MINUTE})
    response = app.get("/session")
    sid = response.json()["id"]
    assert response.sent_sid == sid
    assert response.ops == [("set", sid)]
    # The next visit finds it.
    assert view_of(app, response.cookie.pair if response.cookie else None)["id"] == sid


@pytest.mark.every_store
def test_return_visit_unmodified_is_touched_and_sends_no_cookie(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    response = app.get("/session", cookie=cookie)
    assert response.ops == [("get", sid), ("touch", sid)]
    assert response.cookie is None
    view = response.json()
    assert view["id"] == sid
    assert view["data"] == {"views": 1}
    assert 59 <= view["cookie"]["max_age"] <= 60
    assert view["cookie"]["original_max_age"] == 60


@pytest.mark.every_store
def test_return_visit_modified_is_saved_and_sends_the_cookie_again(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    response = app.get("/", cookie=cookie)
    assert "views: 2" in response.text
    assert response.ops == [("get", sid), ("set", sid)]
    assert response.sent_sid == sid
    assert view_of(app, cookie)["data"] == {"views": 2}


def test_a_handler_that_ignores_the_session_still_loads_and_touches_it(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.get("/noop")
    assert (response.status, response.text, response.ops, response.cookie) == (200, "ok", [], None)
    sid, cookie = app.new_session()
    response = app.get("/noop", cookie=cookie)
    assert response.ops == [("get", sid), ("touch", sid)]
    assert response.cookie is None


def test_a_browser_session_cookie_is_sent_once_and_not_again_when_modified(refapp: StartApp) -> None:
    app = refapp()  # cookie.max_age null
    first = app.get("/")
    sid = first.sent_sid
    assert first.cookie is not None and not first.cookie.has("Expires")
    again = app.get("/", cookie=first.cookie.pair)
    assert again.ops == [("get", sid), ("set", sid)]
    assert again.cookie is None
    assert view_of(app, first.cookie.pair)["cookie"] == {
        "max_age": None,
        "original_max_age": None,
        "expires": None,
    }


def test_sessions_of_two_clients_are_apart(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    one, one_cookie = app.new_session(who="one")
    two, two_cookie = app.new_session(who="two")
    assert one != two
    assert view_of(app, one_cookie)["data"] == {"who": "one"}
    assert view_of(app, two_cookie)["data"] == {"who": "two"}


# -- resave, rolling -----------------------------------------------------------


def test_resave_saves_an_unmodified_loaded_session_without_sending_a_cookie(refapp: StartApp) -> None:
    app = refapp({"resave": True, **MINUTE})
    assert app.get("/session").ops == []  # resave does not matter for a new session
    sid, cookie = app.new_session()
    response = app.get("/session", cookie=cookie)
    assert response.ops == [("get", sid), ("set", sid)]
    assert response.cookie is None


def test_rolling_sends_the_cookie_on_every_response_of_a_loaded_session(refapp: StartApp) -> None:
    app = refapp({"rolling": True, **MINUTE})
    fresh = app.get("/session")
    assert (fresh.ops, fresh.cookie) == ([], None)  # not for a new, unsaved session
    sid, cookie = app.new_session()
    response = app.get("/session", cookie=cookie)
    assert response.ops == [("get", sid), ("touch", sid)]
    assert response.sent_sid == sid
    assert response.cookie is not None and response.cookie.has("Expires")


def test_rolling_resends_a_browser_session_cookie(refapp: StartApp) -> None:
    app = refapp({"rolling": True})
    sid, cookie = app.new_session()
    response = app.get("/session", cookie=cookie)
    assert response.sent_sid == sid
    assert response.cookie is not None and not response.cookie.has("Expires")


# -- unset ---------------------------------------------------------------------


def test_unset_keep_leaves_the_stored_session_alone(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session(k="v")
    response = app.post("/session/unset", cookie=cookie)
    assert response.json() == {"id": None}
    assert response.ops == [("get", sid)]
    assert response.cookie is None
    assert view_of(app, cookie)["data"] == {"k": "v"}


def test_unset_destroy_destroys_and_expires_the_cookie(refapp: StartApp) -> None:
    app = refapp({"unset": "destroy", **MINUTE})
    sid, cookie = app.new_session(k="v")
    response = app.post("/session/unset", cookie=cookie)
    assert response.json() == {"id": None}
    assert response.ops == [("get", sid), ("destroy", sid)]
    assert response.cookie is not None and response.cookie.is_expiring, response.set_cookies
    after = app.get("/session", cookie=cookie)
    assert after.ops == [("get", sid)]
    assert after.json()["id"] != sid


def test_unset_destroy_of_a_session_never_stored_makes_no_store_call(refapp: StartApp) -> None:
    # express-session calls store.destroy here anyway; we do not.
    app = refapp({"unset": "destroy", **MINUTE})
    response = app.post("/session/unset")
    assert (response.json(), response.ops, response.cookie) == ({"id": None}, [], None)


# -- destroy -------------------------------------------------------------------


@pytest.mark.every_store
def test_destroy_removes_the_session_and_expires_the_cookie(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session(k="v")
    response = app.post("/session/destroy", cookie=cookie)
    assert response.status == 200
    assert response.json() == {"id": None}
    assert response.ops == [("get", sid), ("destroy", sid)]
    expiring = response.cookie
    assert expiring is not None and expiring.is_expiring, response.set_cookies
    assert expiring.get("Path") == "/"
    # The old cookie now finds nothing: a new session, with a new id.
    after = app.get("/", cookie=cookie)
    assert after.ops == [("get", sid), ("set", after.sent_sid)]
    assert after.sent_sid != sid


def test_destroy_of_a_session_never_stored_makes_no_store_call(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.post("/session/destroy")
    assert (response.json(), response.ops, response.cookie) == ({"id": None}, [], None)


def test_destroy_with_a_cookie_the_store_no_longer_knows_expires_it(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    app.post("/session/destroy", cookie=cookie)
    response = app.post("/session/destroy", cookie=cookie)
    assert response.ops == [("get", sid)]
    assert response.cookie is not None and response.cookie.is_expiring


# -- regenerate ------------------------------------------------------------------


@pytest.mark.every_store
@pytest.mark.parametrize("keep", [False, True], ids=["fresh", "keep_data"])
def test_regenerate_moves_to_a_new_id(refapp: StartApp, keep: bool) -> None:
    app = refapp(MINUTE)
    old, cookie = app.new_session(k="v")
    response = app.post("/session/regenerate" + ("?keep_data=1" if keep else ""), cookie=cookie)
    assert response.status == 200
    view = response.json()
    new = view["id"]
    assert new != old and ID_SHAPE.match(new)
    assert view["data"] == ({"k": "v"} if keep else {})
    assert response.ops == [("get", old), ("destroy", old), ("set", new)]
    assert response.sent_sid == new
    assert response.cookie is not None
    assert view_of(app, response.cookie.pair)["data"] == ({"k": "v"} if keep else {})
    # The old id is gone.
    stale = app.get("/session", cookie=cookie)
    assert stale.ops == [("get", old)]
    assert stale.json()["id"] not in (old, new)


def test_regenerate_of_a_session_never_stored_makes_no_destroy(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.post("/session/regenerate")
    new = response.json()["id"]
    # The id change alone counts as a modification: saved and sent.
    assert response.ops == [("set", new)]
    assert response.sent_sid == new


# -- reload, save, touch ---------------------------------------------------------


@pytest.mark.every_store
def test_reload_reads_the_session_from_the_store_again(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session(k="v")
    response = app.post("/session/reload", cookie=cookie)
    assert response.status == 200
    assert response.json()["data"] == {"k": "v"}
    assert response.ops == [("get", sid), ("get", sid), ("touch", sid)]
    assert response.cookie is None


@pytest.mark.every_store
def test_reload_of_a_session_the_store_does_not_have_is_a_500(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.post("/session/reload")
    assert response.status == 500
    assert response.content_type.startswith("text/plain")
    assert response.cookie is None
    assert len(response.ops) == 1 and response.ops[0][0] == "get", response.ops
    # A cookie the store has forgotten: the new session it gets is not there either.
    sid, cookie = app.new_session()
    app.post("/session/destroy", cookie=cookie)
    response = app.post("/session/reload", cookie=cookie)
    assert response.status == 500
    assert [op for op, _ in response.ops] == ["get", "get"]
    assert response.ops[0] == ("get", sid) and response.ops[1][1] != sid
    # The app goes on serving.
    assert app.get("/noop").status == 200


@pytest.mark.every_store
def test_explicit_save_stores_the_session_now(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    # A new, untouched session: stored, yet no cookie (as in express-session).
    response = app.post("/session/save")
    sid = response.json()["id"]
    assert response.ops == [("set", sid)]
    assert response.cookie is None
    assert view_of(app, app.cookie_for(sid))["id"] == sid
    # A loaded one: saved by the handler, so only touched at the end.
    sid, cookie = app.new_session(k="v")
    response = app.post("/session/save", cookie=cookie)
    assert response.ops == [("get", sid), ("set", sid), ("touch", sid)]
    assert response.cookie is None


@pytest.mark.every_store
def test_touch_resets_the_expiry_and_is_stored_as_a_touch(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    response = app.post("/session/touch", cookie=cookie)
    assert response.ops == [("get", sid), ("touch", sid)]
    assert response.cookie is None
    assert response.json()["cookie"]["max_age"] == 60
    # On a new session, touch changes nothing worth storing.
    assert app.post("/session/touch").ops == []


# -- expiry ----------------------------------------------------------------------


@pytest.mark.every_store
def test_an_expired_session_is_replaced_by_a_new_one(refapp: StartApp) -> None:
    app = refapp({"cookie": {"max_age": 1}})
    sid, cookie = app.new_session(k="v")
    time.sleep(1.6)
    response = app.get("/", cookie=cookie)
    new = response.sent_sid
    assert new != sid
    assert response.ops == [("get", sid), ("set", new)]
    assert "views: 1" in response.text


def test_a_touch_keeps_a_session_alive_past_its_first_expiry(refapp: StartApp) -> None:
    # max_age 2: touched at about 1.2 s, the session outlives its first expiry
    # (2 s) and is still there at about 2.4 s.
    app = refapp({"cookie": {"max_age": 2}})
    sid, cookie = app.new_session(k="v")
    time.sleep(1.2)
    assert app.post("/session/touch", cookie=cookie).ops == [("get", sid), ("touch", sid)]
    time.sleep(1.2)
    response = app.get("/session", cookie=cookie)
    assert response.ops == [("get", sid), ("touch", sid)]
    assert response.json()["data"] == {"k": "v"}
