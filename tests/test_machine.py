# Whole-request scenarios: first and return visits, the options that change
# them, and the session's intents (regenerate, destroy, reload, save, touch,
# unset). Records, streamed responses and failures have their own files.
from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import NOW, Client, RecordingStore, attributes, drive, make_id, options, signed_cookie

from sansio_session import Destroy, Load, Save, SessionOptions, StoreError, Touch

EXPIRING = "connect.sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax"
SID1, SID2 = make_id(1), make_id(2)


def views(session: Any) -> int:
    session["views"] = session.get("views", 0) + 1
    return int(session["views"])


def read(session: Any) -> Any:
    return session.get("views")


def minute(**kw: Any) -> SessionOptions:
    return options(cookie={"max_age": 60}, **kw)


def logged_in(opts: SessionOptions | None = None) -> Client:
    """A client whose first request made a stored session (SID1, views 1)."""
    client = Client(opts or minute())
    client.request(views)
    return client


# -- first visits ------------------------------------------------------------------


def test_first_visit_untouched_session_costs_nothing() -> None:
    out = drive(minute())
    assert (out.actions, out.set_cookie, out.store) == ([], None, {})


def test_first_visit_read_only_costs_nothing() -> None:
    out = drive(minute(), None, read)
    assert (out.actions, out.set_cookie, out.value) == ([], None, None)


def test_first_visit_modified() -> None:
    out = drive(minute(), None, views)
    (save,) = out.actions
    assert isinstance(save, Save) and save.sid == SID1 and save.ttl == 60
    assert out.cookie == signed_cookie(SID1)
    assert attributes(out.set_cookie or "")["expires"] == "Thu, 01 Jan 1970 00:17:40 GMT"
    assert out.record(SID1) == {
        "cookie": {
            "originalMaxAge": 60000,
            "expires": "1970-01-01T00:17:40.000Z",
            "httpOnly": True,
            "path": "/",
            "sameSite": "lax",
        },
        "views": 1,
    }


def test_first_visit_save_uninitialized() -> None:
    out = drive(minute(save_uninitialized=True))
    assert out.ops == ["set"]
    assert out.cookie == signed_cookie(SID1)
    assert json.loads(out.store[SID1]).keys() == {"cookie"}


def test_ids_are_made_only_when_needed() -> None:
    opts = minute()
    drive(opts)
    drive(opts, None, read)
    out = drive(opts, None, views)
    assert out.actions[0].sid == SID1  # the counter was not used before


def test_browser_session_cookie_has_no_expires_and_a_day_of_ttl() -> None:
    out = drive(options(), None, views)
    assert out.set_cookie == signed_cookie(SID1) + "; Path=/; HttpOnly; SameSite=Lax"
    (save,) = out.actions
    assert save.ttl == 86400  # type: ignore[attr-defined]
    assert out.record(SID1)["cookie"]["expires"] is None
    assert out.record(SID1)["cookie"]["originalMaxAge"] is None


def test_session_is_new_on_first_visit_only() -> None:
    client = Client(minute())
    assert client.request(lambda s: (views(s), s.is_new)[1]).value is True
    assert client.request(lambda s: s.is_new, after=1).value is False


# -- return visits -------------------------------------------------------------------


def test_return_visit_touches() -> None:
    client = logged_in()
    out = client.request(read, after=10)
    assert out.value == 1
    assert out.actions[0] == Load(sid=SID1)
    touch = out.actions[1]
    assert isinstance(touch, Touch) and touch.ttl == 60
    assert json.loads(touch.record)["cookie"]["expires"] == "1970-01-01T00:17:50.000Z"
    assert out.set_cookie is None


def test_return_visit_touch_moves_the_store_expiry() -> None:
    client = logged_in()
    client.request(read, after=50)
    # 70 s after the first visit the session lives on thanks to the touch.
    out = client.request(read, after=20)
    assert out.value == 1


def test_return_visit_modified_saves_and_sends_cookie() -> None:
    client = logged_in()
    out = client.request(views, after=10)
    assert out.ops == ["get", "set"]
    assert attributes(out.set_cookie or "")["expires"] == "Thu, 01 Jan 1970 00:17:50 GMT"
    assert out.record(SID1)["views"] == 2


def test_resave_saves_unmodified() -> None:
    client = logged_in(minute(resave=True))
    out = client.request(read, after=1)
    assert out.ops == ["get", "set"]
    assert out.set_cookie is None


def test_rolling_sends_cookie_on_unmodified() -> None:
    client = logged_in(minute(rolling=True))
    out = client.request(read, after=5)
    assert out.ops == ["get", "touch"]
    assert out.cookie == signed_cookie(SID1)
    assert attributes(out.set_cookie or "")["expires"] == "Thu, 01 Jan 1970 00:17:45 GMT"


def test_rolling_does_not_make_new_sessions_send_cookies() -> None:
    assert drive(minute(rolling=True)).set_cookie is None


def test_id_not_in_store_gives_a_new_session_and_id() -> None:
    out = drive(minute(), signed_cookie(make_id(50)), views)
    assert out.ops == ["get", "set"]
    assert out.actions[1].sid == SID1
    assert out.cookie == signed_cookie(SID1)


# -- unset -----------------------------------------------------------------------------


def test_unset_keep() -> None:
    client = logged_in(minute(unset="keep"))
    out = client.request([views, lambda s: s.unset()], after=1)
    assert out.ops == ["get"]
    assert out.set_cookie is None
    assert json.loads(client.store.all()[SID1])["views"] == 1


def test_unset_destroy_sends_an_expiring_cookie() -> None:
    client = logged_in(minute(unset="destroy"))
    out = client.request(lambda s: s.unset(), after=1)
    assert out.actions == [Load(sid=SID1), Destroy(sid=SID1)]
    assert out.set_cookie == EXPIRING
    assert client.cookie is None


def test_unset_destroy_of_a_new_session_makes_no_store_call() -> None:
    out = drive(minute(unset="destroy"), None, [views, lambda s: s.unset()])
    assert (out.actions, out.set_cookie) == ([], None)


def test_unset_destroy_with_an_unknown_cookie_expires_it() -> None:
    out = drive(minute(unset="destroy"), signed_cookie(make_id(50)), lambda s: s.unset())
    assert out.actions == [Load(sid=make_id(50))]  # nothing stored, nothing to destroy
    assert out.set_cookie == EXPIRING


def test_session_is_none_after_unset() -> None:
    out = drive(minute(), None, lambda s: (s.unset(), s)[1])
    with pytest.raises(Exception, match="destroyed or unset"):
        out.value["views"]


# -- regenerate ---------------------------------------------------------------------------


def test_regenerate_a_loaded_session() -> None:
    client = logged_in()
    out = client.request([lambda s: s.regenerate(), lambda s: (dict(s), s.id)], after=1)
    assert out.value == ({}, SID2)
    assert out.actions == [Load(sid=SID1), Destroy(sid=SID1), out.actions[2]]
    assert isinstance(out.actions[2], Save) and out.actions[2].sid == SID2
    assert out.cookie == signed_cookie(SID2)
    assert set(client.store.all()) == {SID2}
    assert "views" not in out.record(SID2)


def test_regenerate_keep_data() -> None:
    client = logged_in()
    out = client.request(lambda s: s.regenerate(keep_data=True), after=1)
    assert out.ops == ["get", "destroy", "set"]
    assert out.record(SID2)["views"] == 1
    assert out.cookie == signed_cookie(SID2)


def test_regenerate_then_write() -> None:
    client = logged_in()
    out = client.request([lambda s: s.regenerate(), views], after=1)
    assert out.record(SID2)["views"] == 1


def test_regenerate_a_new_session_makes_no_store_call_but_is_saved() -> None:
    # Regenerated counts as modified: stored and sent even with save_uninitialized off.
    out = drive(minute(), None, lambda s: s.regenerate())
    assert out.ops == ["set"]
    assert out.set_cookie is not None


def test_regenerate_gets_a_fresh_cookie_from_the_options() -> None:
    client = logged_in()
    out = client.request([lambda s: setattr(s.cookie, "max_age", 5), lambda s: s.regenerate()], after=1)
    assert out.actions[-1].ttl == 60  # type: ignore[attr-defined]


# -- destroy -------------------------------------------------------------------------------


def test_destroy_a_loaded_session() -> None:
    client = logged_in()
    out = client.request(lambda s: s.destroy(), after=1)
    assert out.actions == [Load(sid=SID1), Destroy(sid=SID1)]
    assert out.set_cookie == EXPIRING
    assert client.store.all() == {}


def test_destroy_a_new_session_makes_no_store_call() -> None:
    out = drive(minute(), None, [views, lambda s: s.destroy()])
    assert (out.actions, out.set_cookie) == ([], None)


def test_destroy_expiring_cookie_keeps_path_domain_and_secure() -> None:
    opts = options(cookie={"max_age": 60, "path": "/app", "domain": "example.com", "secure": True})
    store = RecordingStore()
    drive(opts, None, views, store, tls=True, path="/app/x")
    out = drive(opts, signed_cookie(SID1), lambda s: s.destroy(), store, tls=True, path="/app/x")
    assert out.set_cookie == (
        "connect.sid=; Domain=example.com; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
        "HttpOnly; Secure; SameSite=Lax"
    )


def test_machine_session_is_none_after_destroy() -> None:
    client = logged_in()
    out = client.request([lambda s: s.destroy(), lambda s: s], after=1)
    assert out.value is None
    assert out.ops == ["get", "destroy"]  # no commit action after it


def test_destroy_then_unset_destroy_destroys_once() -> None:
    client = logged_in(minute(unset="destroy"))
    out = client.request(lambda s: s.destroy(), after=1)
    assert out.ops == ["get", "destroy"]


# -- reload ----------------------------------------------------------------------------------


def test_reload_reads_what_another_request_stored() -> None:
    client = logged_in()
    store = client.store

    def handler(session: Any) -> Any:
        session["mine"] = True
        # Another request for the same session finishes meanwhile.
        drive(client.options, client.cookie, lambda s: s.update(other=True), store, now=client.now)
        session.reload()
        return dict(session)

    out = client.request(handler, after=1)
    assert out.value == {"views": 1, "other": True}
    # The reloaded data differs from what this request loaded: saved.
    assert out.ops == ["get", "get", "set"]
    assert "mine" not in out.record(SID1)


def test_reload_of_a_missing_session_is_a_store_error() -> None:
    client = logged_in()
    with pytest.raises(StoreError) as info:
        client.request([lambda s: client.store.clear(), lambda s: s.reload()], after=1)
    assert info.value.reason == "session not found"


def test_reload_takes_the_cookie_from_the_store() -> None:
    client = logged_in()
    out = client.request(
        [lambda s: setattr(s.cookie, "max_age", 5), lambda s: s.reload(), lambda s: s.cookie.max_age]
    )
    assert out.value == 60


# -- save, touch, cookie max age -----------------------------------------------------------------


def test_save_then_no_second_save() -> None:
    out = drive(minute(), None, [views, lambda s: s.save()])
    assert out.ops == ["set"]
    assert out.set_cookie is not None


def test_save_of_a_loaded_session_then_touch() -> None:
    client = logged_in()
    out = client.request([views, lambda s: s.save()], after=1)
    assert out.ops == ["get", "set", "touch"]


def test_change_after_save_is_saved_again() -> None:
    out = drive(minute(), None, [views, lambda s: s.save(), views])
    assert out.ops == ["set", "set"]
    assert out.record(SID1)["views"] == 2


def test_save_of_an_unmodified_new_session_stores_but_sends_no_cookie() -> None:
    out = drive(minute(), None, lambda s: s.save())
    assert out.ops == ["set"]
    assert out.set_cookie is None


def test_touch_resets_the_expiry() -> None:
    client = logged_in()
    out = client.request([lambda s: s.touch(), lambda s: s.cookie.max_age], after=30)
    assert out.value == 60
    assert out.ops == ["get", "touch"]


def test_max_age_of_a_loaded_session_is_its_time_left() -> None:
    client = logged_in()
    out = client.request(lambda s: (s.cookie.max_age, s.cookie.original_max_age, s.cookie.expires), after=15)
    assert out.value == (45, 60, NOW + 60)


def test_cookie_max_age_per_session_is_stored_without_a_cookie() -> None:
    client = logged_in()
    out = client.request(lambda s: setattr(s.cookie, "max_age", 3600), after=1)
    assert out.ops == ["get", "set"]
    assert out.actions[1].ttl == 3600  # type: ignore[attr-defined]
    assert out.record(SID1)["cookie"]["originalMaxAge"] == 3_600_000
    assert out.set_cookie is None


def test_cookie_max_age_with_a_data_change_sends_the_new_expiry() -> None:
    client = logged_in()
    out = client.request([views, lambda s: setattr(s.cookie, "max_age", 3600)], after=1)
    assert attributes(out.set_cookie or "")["expires"] == "Thu, 01 Jan 1970 01:16:41 GMT"
    # and it sticks for later requests
    later = client.request(lambda s: s.cookie.original_max_age, after=1)
    assert later.value == 3600


def test_cookie_max_age_none_makes_a_browser_session_cookie() -> None:
    out = drive(minute(), None, [views, lambda s: setattr(s.cookie, "max_age", None)])
    assert "expires" not in attributes(out.set_cookie or "")
    assert out.actions[0].ttl == 86400  # type: ignore[attr-defined]


def test_cookie_max_age_zero_on_a_new_session_stores_nothing() -> None:
    out = drive(minute(), None, [views, lambda s: setattr(s.cookie, "max_age", 0)])
    assert out.ops == []


def test_cookie_max_age_zero_on_a_loaded_session_destroys_it() -> None:
    client = logged_in()
    out = client.request([views, lambda s: setattr(s.cookie, "max_age", 0)], after=1)
    assert out.ops == ["get", "destroy"]


@pytest.mark.parametrize("bad", ["60", True, float("nan")])
def test_cookie_max_age_must_be_seconds(bad: Any) -> None:
    with pytest.raises(TypeError):
        drive(minute(), None, lambda s: setattr(s.cookie, "max_age", bad))
