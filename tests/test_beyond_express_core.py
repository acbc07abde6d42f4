"""The features beyond express-session, in the core: timeouts, touch_after,
keyed store ids, user binding, lifecycle events and cache headers."""

from __future__ import annotations

import json
from typing import Any

from helpers import Client, attributes, options

from sansio_session import CookieOptions, MemoryStore, SessionMachine


def _write(session: Any) -> None:
    session["n"] = session.get("n", 0) + 1


def _read(session: Any) -> None:
    session.get("n")


def test_idle_timeout_is_the_sliding_expiry_of_cookie_and_store() -> None:
    client = Client(options(idle_timeout=60))
    first = client.request(_write)
    assert first.set_cookie is not None and attributes(first.set_cookie)["expires"]
    [save] = first.actions
    assert save.ttl == 60  # type: ignore[attr-defined]
    # A read 30 s later slides the store's expiry, and the cookie goes out
    # again with the same new expiry, so the two never drift apart.
    again = client.request(_read, after=30)
    assert again.ops == ["get", "touch"]
    assert again.set_cookie is not None
    assert attributes(first.set_cookie)["expires"] == "Thu, 01 Jan 1970 00:17:40 GMT"
    assert attributes(again.set_cookie)["expires"] == "Thu, 01 Jan 1970 00:18:10 GMT"
    # Unused for longer than the timeout: gone.
    gone = client.request(_read, after=61)
    assert gone.machine is not None and gone.machine.is_new


def test_idle_timeout_and_cookie_max_age_are_one_setting() -> None:
    import pytest

    from sansio_session import ConfigError

    with pytest.raises(ConfigError, match="idle_timeout"):
        options(idle_timeout=60, cookie=CookieOptions(max_age=60))


def test_absolute_timeout_ends_an_active_session_and_caps_its_expiry() -> None:
    client = Client(options(absolute_timeout=100, idle_timeout=60))
    first = client.request(_write)
    record = first.record(first.actions[0].sid)
    assert record["cookie"]["createdAt"] == 1_000_000  # ms
    later = client.request(_write, after=50)
    [_, save] = later.actions
    assert save.ttl == 50  # type: ignore[attr-defined]  # capped: creation + 100 s
    # Used every 50 s, it still ends 100 s after it was made.
    end = client.request(_read, after=50)
    assert end.machine is not None and end.machine.is_new
    assert end.ops == ["get"]


def test_touch_after_skips_recent_refreshes() -> None:
    client = Client(options(touch_after=10, cookie=CookieOptions(max_age=3600)))
    client.request(_write)
    assert client.request(_read, after=5).ops == ["get"]
    assert client.request(_read, after=6).ops == ["get", "touch"]
    assert client.request(_write, after=1).ops == ["get", "set"]


def test_hash_ids_keep_the_raw_id_out_of_the_store() -> None:
    store = MemoryStore(clock=lambda: 1000.0)
    client = Client(options(hash_ids=True), store=store)
    first = client.request(_write)
    raw = first.machine.sid if first.machine is not None else ""
    [key] = store.all(now=1000.0)
    assert key != raw and raw not in json.dumps(store.all(now=1000.0))
    again = client.request(_read)
    assert again.ops == ["get", "touch"] and again.actions[0].sid == key


def test_a_bound_session_is_indexed_and_logged_out_everywhere() -> None:
    store = MemoryStore(clock=lambda: 1000.0)
    opts = options()
    phone, laptop = Client(opts, store=store), Client(opts, store=store)
    for client in (phone, laptop):
        out = client.request(lambda s: s.bind("alice"))
        assert out.ops == ["set"] and out.set_cookie is not None
        assert out.actions[0].user == "alice"  # type: ignore[attr-defined]
    assert len(store.sessions_of("alice", now=1000.0)) == 2
    assert store.destroy_all("alice", now=1000.0) == 2
    assert phone.request(_read).machine.is_new  # type: ignore[union-attr]


def test_events_reach_the_hook_naming_sessions_only_by_digest() -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    client = Client(options(on_event=lambda name, detail: events.append((name, detail))))
    first = client.request(_write)
    client.request(_read)
    client.request(lambda s: s.regenerate())
    names = [name for name, _ in events]
    assert names[:4] == ["created", "loaded", "touched", "loaded"]
    assert "regenerated" in names and "destroyed" not in names[:4]
    raw = first.actions[0].sid
    assert all(raw not in json.dumps(detail) for _, detail in events)


def test_cache_headers_follow_what_the_handler_did() -> None:
    opts = options()
    untouched = SessionMachine(opts)
    untouched.begin(None, now=1000.0)
    untouched.commit(1000.0)
    untouched.set_cookie(1000.0)
    assert untouched.cache_headers(cookie_set=False, has_cache_control=False) == []
    reader = SessionMachine(opts)
    reader.begin(None, now=1000.0)
    assert reader.session is not None
    assert reader.cache_headers(cookie_set=True, has_cache_control=False) == [
        ("Vary", "Cookie"),
        ("Cache-Control", "private"),
    ]
    assert reader.cache_headers(cookie_set=True, has_cache_control=True) == [("Vary", "Cookie")]
