# express-session's end-of-request decisions, row by row from the spec's
# tables (express-session-spec.md sections 10, 11.2 and 11.3): first the pure
# rules themselves, which are meant to be tested directly, then the same rows
# through whole requests.
from __future__ import annotations

import itertools
from typing import Any

import pytest
from helpers import NOW, Client, RecordingStore, drive, make_id, options, signed_cookie

from sansio_session import SessionOptions
from sansio_session import _rules as rules

BOOLS = (False, True)


# -- the rules, against the spec's predicates ---------------------------------
#
# Section 11.2, restated over the rules' facts. "cookieId !== sid" is
# id_changed; isModified is modified; isSaved is saved; "savedHash is set" is
# ever_saved.


def spec_should_set_cookie(
    id_changed: bool, modified: bool, has_expiry: bool, save_un: bool, rolling: bool
) -> bool:
    if id_changed:
        return save_un or modified
    return rolling or (has_expiry and modified)


def spec_should_save(id_changed: bool, modified: bool, saved: bool, ever_saved: bool, save_un: bool) -> bool:
    if not save_un and not ever_saved and id_changed:
        return modified
    return not saved


@pytest.mark.parametrize(
    ("id_changed", "modified", "has_expiry", "save_un", "rolling"), list(itertools.product(BOOLS, repeat=5))
)
def test_should_set_cookie_every_row(
    id_changed: bool, modified: bool, has_expiry: bool, save_un: bool, rolling: bool
) -> None:
    got = rules.should_set_cookie(
        id_changed=id_changed,
        modified=modified,
        has_expiry=has_expiry,
        save_uninitialized=save_un,
        rolling=rolling,
    )
    assert got is spec_should_set_cookie(id_changed, modified, has_expiry, save_un, rolling)


@pytest.mark.parametrize(
    ("id_changed", "modified", "saved", "ever_saved", "save_un"), list(itertools.product(BOOLS, repeat=5))
)
def test_should_save_every_row(
    id_changed: bool, modified: bool, saved: bool, ever_saved: bool, save_un: bool
) -> None:
    got = rules.should_save(
        id_changed=id_changed,
        modified=modified,
        saved=saved,
        ever_saved=ever_saved,
        save_uninitialized=save_un,
    )
    assert got is spec_should_save(id_changed, modified, saved, ever_saved, save_un)


@pytest.mark.parametrize(
    ("id_changed", "will_save", "expected"),
    [(False, False, True), (False, True, False), (True, False, False), (True, True, False)],
)
def test_should_touch(id_changed: bool, will_save: bool, expected: bool) -> None:
    assert rules.should_touch(id_changed=id_changed, will_save=will_save) is expected


@pytest.mark.parametrize(
    ("unset_destroy", "session_gone", "expected"),
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_should_destroy(unset_destroy: bool, session_gone: bool, expected: bool) -> None:
    assert rules.should_destroy(unset_destroy=unset_destroy, session_gone=session_gone) is expected


# Section 11.3, the tables as written. New session (id_changed, nothing saved yet):
NEW_SESSION_ROWS = [
    # save_uninitialized, modified, Set-Cookie, store set
    (True, False, True, True),
    (True, True, True, True),
    (False, False, False, False),
    (False, True, True, True),
]


@pytest.mark.parametrize(("save_un", "modified", "cookie", "store"), NEW_SESSION_ROWS)
@pytest.mark.parametrize("rolling", BOOLS)
def test_new_session_table(save_un: bool, modified: bool, cookie: bool, store: bool, rolling: bool) -> None:
    # rolling does not matter for new sessions.
    assert (
        rules.should_set_cookie(
            id_changed=True, modified=modified, has_expiry=True, save_uninitialized=save_un, rolling=rolling
        )
        is cookie
    )
    assert (
        rules.should_save(
            id_changed=True, modified=modified, saved=False, ever_saved=False, save_uninitialized=save_un
        )
        is store
    )


# Loaded session: with resave off the load itself counts as a save (saved and
# ever_saved), with resave on nothing is saved yet.
LOADED_ROWS = [
    # resave, modified, op
    (True, False, "set"),
    (True, True, "set"),
    (False, False, "touch"),
    (False, True, "set"),
]


@pytest.mark.parametrize(("resave", "modified", "op"), LOADED_ROWS)
@pytest.mark.parametrize("save_un", BOOLS)
def test_loaded_session_table(resave: bool, modified: bool, op: str, save_un: bool) -> None:
    saved = not resave and not modified
    will_save = rules.should_save(
        id_changed=False, modified=modified, saved=saved, ever_saved=not resave, save_uninitialized=save_un
    )
    touch = rules.should_touch(id_changed=False, will_save=will_save)
    assert ("set" if will_save else "touch" if touch else "nothing") == op


@pytest.mark.parametrize(
    ("rolling", "modified", "has_expiry", "cookie"),
    [
        (True, False, False, True),
        (True, False, True, True),
        (True, True, False, True),
        (False, True, True, True),
        (False, True, False, False),  # a browser-session cookie is sent once
        (False, False, True, False),
        (False, False, False, False),
    ],
)
def test_loaded_session_cookie(rolling: bool, modified: bool, has_expiry: bool, cookie: bool) -> None:
    assert (
        rules.should_set_cookie(
            id_changed=False,
            modified=modified,
            has_expiry=has_expiry,
            save_uninitialized=False,
            rolling=rolling,
        )
        is cookie
    )


# Section 10: issecure(req, proxy).
SECURE_ROWS: list[tuple[bool, bool | None, bool | None, str | None, bool]] = [
    # tls, framework_secure, proxy, X-Forwarded-Proto, secure
    (True, None, None, None, True),
    (True, False, False, "http", True),
    (True, None, True, "http", True),
    (False, True, False, "https", False),  # proxy=False ignores every header and the framework
    (False, None, False, "https", False),
    (False, True, None, None, True),  # proxy=None: the framework decides
    (False, False, None, "https", False),
    (False, None, None, "https", False),
    (False, None, True, "https", True),
    (False, None, True, "https,http", True),
    (False, None, True, "HTTPS ", True),
    (False, None, True, " https ,http", True),
    (False, None, True, "http,https", False),
    (False, None, True, "http", False),
    (False, None, True, "", False),
    (False, None, True, None, False),
    (False, True, True, None, False),  # proxy=True: the header alone decides
    (False, None, True, "httpss", False),
]


@pytest.mark.parametrize(("tls", "framework", "proxy", "xfp", "expected"), SECURE_ROWS)
def test_is_secure_request(
    tls: bool, framework: bool | None, proxy: bool | None, xfp: str | None, expected: bool
) -> None:
    got = rules.is_secure_request(tls=tls, framework_secure=framework, proxy=proxy, forwarded_proto=xfp)
    assert got is expected


# -- the same rows, through whole requests --------------------------------------


def modify(session: Any) -> None:
    session["n"] = (session.get("n") or 0) + 1


def opts_for(**kw: Any) -> SessionOptions:
    return options(cookie={"max_age": 60}, **kw)


@pytest.mark.parametrize(("save_un", "modified", "cookie", "store"), NEW_SESSION_ROWS)
@pytest.mark.parametrize("rolling", BOOLS)
@pytest.mark.parametrize("resave", BOOLS)
def test_new_session_table_through_requests(
    *, save_un: bool, modified: bool, cookie: bool, store: bool, rolling: bool, resave: bool
) -> None:
    out = drive(
        opts_for(save_uninitialized=save_un, rolling=rolling, resave=resave),
        None,
        modify if modified else None,
    )
    assert (out.set_cookie is not None) is cookie
    assert out.ops == (["set"] if store else [])


@pytest.mark.parametrize(("resave", "modified", "op"), LOADED_ROWS)
@pytest.mark.parametrize("save_un", BOOLS)
def test_loaded_session_table_through_requests(resave: bool, modified: bool, op: str, save_un: bool) -> None:
    client = Client(opts_for(resave=resave, save_uninitialized=save_un))
    client.request(modify)
    out = client.request(modify if modified else None, after=1)
    assert out.ops == ["get", op]


@pytest.mark.parametrize(
    ("rolling", "modified", "max_age", "cookie"),
    [
        (True, False, None, True),
        (True, False, 60, True),
        (True, True, None, True),
        (False, True, 60, True),
        (False, True, None, False),
        (False, False, 60, False),
        (False, False, None, False),
    ],
)
def test_loaded_session_cookie_through_requests(
    rolling: bool, modified: bool, max_age: int | None, cookie: bool
) -> None:
    client = Client(options(rolling=rolling, cookie={"max_age": max_age}))
    first = client.request(modify)
    assert first.set_cookie is not None  # a new modified session always gets its cookie
    out = client.request(modify if modified else None, after=1)
    assert out.ops[0] == "get"
    assert (out.set_cookie is not None) is cookie


def test_unset_destroy_of_a_loaded_session_destroys() -> None:
    client = Client(opts_for(unset="destroy"))
    client.request(modify)
    out = client.request(lambda s: s.unset(), after=1)
    assert out.ops == ["get", "destroy"]
    assert out.store == {}


def test_unset_keep_of_a_loaded_session_leaves_the_store() -> None:
    client = Client(opts_for(unset="keep"))
    client.request(modify)
    before = dict(client.store.all())
    out = client.request([modify, lambda s: s.unset()], after=1)
    assert out.ops == ["get"]
    assert out.set_cookie is None
    assert client.store.all() == before  # the change before unset is lost


@pytest.mark.parametrize(("tls", "framework", "proxy", "xfp", "expected"), SECURE_ROWS)
def test_is_secure_request_through_a_secure_cookie(
    tls: bool, framework: bool | None, proxy: bool | None, xfp: str | None, expected: bool
) -> None:
    opts = options(proxy=proxy, cookie={"secure": True, "max_age": 60})
    out = drive(opts, None, modify, tls=tls, secure=framework, forwarded_proto=xfp)
    assert (out.set_cookie is not None) is expected
    assert out.ops == ["set"]  # as in express-session, the session is saved either way


@pytest.mark.parametrize(("tls", "framework", "proxy", "xfp", "expected"), SECURE_ROWS)
def test_is_secure_request_through_secure_auto(
    tls: bool, framework: bool | None, proxy: bool | None, xfp: str | None, expected: bool
) -> None:
    opts = options(proxy=proxy, cookie={"secure": "auto", "same_site": "auto", "max_age": 60})
    out = drive(opts, None, modify, tls=tls, secure=framework, forwarded_proto=xfp)
    assert out.set_cookie is not None
    assert ("; Secure" in out.set_cookie) is expected
    assert out.set_cookie.endswith("SameSite=None" if expected else "SameSite=Lax")
    record = out.record(out.actions[0].sid)["cookie"]
    assert record.get("secure", False) is expected
    assert record["sameSite"] == ("none" if expected else "lax")


def test_secure_auto_is_decided_once_when_the_session_is_made() -> None:
    store = RecordingStore()
    opts = options(proxy=True, cookie={"secure": "auto", "max_age": 60})
    made = drive(opts, None, modify, store, forwarded_proto="https")
    assert made.set_cookie is not None and "; Secure" in made.set_cookie
    # Later over plain http: the stored session keeps Secure, so no cookie goes out.
    again = drive(opts, made.cookie, modify, store, now=NOW + 1, forwarded_proto="http")
    assert again.ops == ["get", "set"]
    assert again.set_cookie is None


def test_a_loaded_session_keeps_its_stored_attributes() -> None:
    store = RecordingStore()
    sid = make_id(1)
    made = drive(options(cookie={"max_age": 60, "path": "/", "priority": "high"}), None, modify, store)
    assert made.actions[0].sid == sid
    changed = options(cookie={"max_age": 10, "path": "/", "priority": "low", "same_site": "strict"})
    out = drive(changed, signed_cookie(sid), modify, store, now=NOW + 1)
    assert out.set_cookie is not None
    assert "Priority=High" in out.set_cookie and "SameSite=Lax" in out.set_cookie
    assert out.actions[-1].ttl == 60  # type: ignore[attr-defined]
