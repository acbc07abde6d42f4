# The store conformance suite, the per-user index behind "log out
# everywhere": set/replace with user= bind a session to a user, destroy with
# user= unbinds it, sessions_of(user) lists the user's live sessions and
# destroy_all(user) ends them. Every store, through its facade.
from __future__ import annotations

import pytest
from store_facades import StoreFacade, rec, text_of, wait


def test_a_set_with_a_user_binds_the_session(facade: StoreFacade) -> None:
    facade.set("b", rec(n=2), 60, user="alice")
    facade.set("a", rec(n=1), 60, user="alice")
    facade.set("c", rec(n=3), 60)
    assert facade.sessions_of("alice") == ["a", "b"]
    assert facade.sessions_of("bob") == []
    # The index is no session: all() and length() see only the sessions.
    assert facade.all() == {"a": rec(n=1), "b": rec(n=2), "c": rec(n=3)}
    assert facade.length() == 3


def test_sessions_of_is_sorted(facade: StoreFacade) -> None:
    sids = ["m", "b", "z", "a", "ü", "B", "1"]
    for sid in sids:
        facade.set(sid, rec(), 60, user="alice")
    assert facade.sessions_of("alice") == sorted(sids)


def test_a_save_without_the_user_keeps_the_binding(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 60, user="alice")
    facade.set("a", rec(n=2), 60)
    assert facade.replace("a", rec(n=3), 60, rec(n=2)) is None
    assert facade.sessions_of("alice") == ["a"]


def test_a_replace_with_a_user_binds_only_when_it_stores(facade: StoreFacade) -> None:
    facade.set("a", rec(n=1), 60)
    facade.set("b", rec(n=1), 60)
    assert facade.replace("a", rec(n=2), 60, rec(n=1), user="alice") is None
    assert facade.replace("b", rec(n=2), 60, rec(n=0), user="alice") is not None
    assert facade.replace("ghost", rec(n=2), 60, rec(n=1), user="alice") is not None
    assert facade.sessions_of("alice") == ["a"]
    assert facade.get("ghost") is None


def test_destroy_unbinds(facade: StoreFacade) -> None:
    for sid in ("a", "b", "c"):
        facade.set(sid, rec(), 60, user="alice")
    facade.destroy("a", user="alice")
    # A store that was not told the user (a Node app's destroy) still
    # drops the session from the list.
    facade.destroy("b")
    assert facade.sessions_of("alice") == ["c"]
    # The id, saved again unbound, is not alice's.
    facade.set("a", rec(), 60)
    assert facade.sessions_of("alice") == ["c"]


def test_destroy_all_ends_every_session_of_the_user(facade: StoreFacade) -> None:
    for sid in ("a", "b", "c"):
        facade.set(sid, rec(sid=sid), 60, user="alice")
    facade.set("unbound", rec(n=0), 60)
    facade.destroy("c")
    assert facade.destroy_all("alice") == 2
    assert facade.get("a") is None
    assert facade.get("b") is None
    assert facade.sessions_of("alice") == []
    assert facade.all() == {"unbound": rec(n=0)}
    assert facade.destroy_all("alice") == 0
    assert facade.destroy_all("nobody") == 0


def test_two_users_are_kept_apart(facade: StoreFacade) -> None:
    facade.set("a1", rec(u="alice"), 60, user="alice")
    facade.set("a2", rec(u="alice"), 60, user="alice")
    facade.set("b1", rec(u="bob"), 60, user="bob")
    assert facade.sessions_of("alice") == ["a1", "a2"]
    assert facade.sessions_of("bob") == ["b1"]
    assert facade.destroy_all("alice") == 2
    assert facade.sessions_of("bob") == ["b1"]
    assert text_of(facade, "b1") == rec(u="bob")
    facade.destroy("b1", user="alice")  # the wrong user: still destroyed
    assert facade.sessions_of("bob") == []


def test_expired_sessions_leave_the_index(facade: StoreFacade) -> None:
    # One wait for the whole case: a real-time store sleeps just over a second.
    facade.set("short", rec(n=1), 1, user="alice")
    facade.set("long", rec(n=2), 3600, user="alice")
    facade.set("touched", rec(n=3), 1, user="alice")
    facade.touch("touched", 3600)
    facade.set("renewed", rec(n=4), 1, user="alice")
    assert facade.replace("renewed", rec(n=5), 3600, rec(n=4)) is None
    wait(facade, 1.2)
    assert facade.sessions_of("alice") == ["long", "renewed", "touched"]
    # The expired one is gone for good: the index does not bring it back.
    facade.set("short", rec(n=6), 60)
    assert facade.sessions_of("alice") == ["long", "renewed", "touched"]
    assert facade.destroy_all("alice") == 3
    assert facade.all() == {"short": rec(n=6)}


def test_an_expired_session_is_not_counted_by_destroy_all(facade: StoreFacade) -> None:
    facade.set("short", rec(n=1), 1, user="alice")
    facade.set("long", rec(n=2), 3600, user="alice")
    wait(facade, 1.2)
    assert facade.destroy_all("alice") == 1
    assert facade.length() == 0


@pytest.mark.parametrize("ttl", [0, -1])
def test_a_save_with_no_time_left_binds_nothing(facade: StoreFacade, ttl: int) -> None:
    facade.set("a", rec(), ttl, user="alice")
    assert facade.sessions_of("alice") == []
    assert facade.length() == 0


def test_clear_forgets_the_users_too(facade: StoreFacade) -> None:
    facade.set("a", rec(), 60, user="alice")
    facade.clear()
    facade.set("a", rec(), 60)
    assert facade.sessions_of("alice") == []
    assert facade.destroy_all("alice") == 0
    assert facade.all() == {"a": rec()}


def test_a_session_id_that_names_a_user_is_just_a_session(facade: StoreFacade) -> None:
    # In a layout like "sess:user:<id>" these would be the same key.
    facade.set("user:alice", rec(n=1), 60)
    facade.set("u:alice", rec(n=2), 60)
    facade.set("a", rec(n=3), 60, user="alice")
    assert facade.sessions_of("alice") == ["a"]
    assert facade.destroy_all("alice") == 1
    assert facade.all() == {"user:alice": rec(n=1), "u:alice": rec(n=2)}


HOSTILE_USERS = [
    "'",
    '"',
    "' OR '1'='1",
    '"; DROP TABLE session; --',
    "%",
    "a%",
    "_",
    "%s",
    "*",
    "?",
    "[a-z]*",
    "\\",
    "sess:*",
    "user:*",
    "a\r\nDEL victim\r\n",
    " ",
    "ünïcødé-😀",
    "'\"%*?[_\\" * 500,  # 4 KB of quotes and wildcards
]


@pytest.mark.parametrize("user", HOSTILE_USERS, ids=range(len(HOSTILE_USERS)))
def test_a_hostile_user_id_is_just_a_name(facade: StoreFacade, user: str) -> None:
    # The victim's name matches the hostile one under LIKE or a glob.
    victim = "abc" if user != "abc" else "xyz"
    facade.set("victim", rec(victim=True), 60, user=victim)
    facade.set("mine", rec(n=1), 60, user=user)
    assert facade.sessions_of(user) == ["mine"]
    assert facade.sessions_of(victim) == ["victim"]
    assert facade.destroy_all(user) == 1
    assert facade.sessions_of(victim) == ["victim"]
    assert facade.all() == {"victim": rec(victim=True)}
    assert facade.destroy_all(victim) == 1


@pytest.mark.parametrize("user", ["a%", "a_c", "a*", "a?c", "[a]bc", "ABC", "abc ", " abc"])
def test_user_ids_match_only_exactly(facade: StoreFacade, user: str) -> None:
    facade.set("s", rec(n=1), 60, user="abc")
    assert facade.sessions_of(user) == []
    assert facade.destroy_all(user) == 0
    assert facade.sessions_of("abc") == ["s"]
