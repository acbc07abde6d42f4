# sansio_session.testing: a session created for a test is the one the app
# would have made, and reading one back goes through the store and changes
# nothing there.
from __future__ import annotations

import asyncio
import gc
import json
import time
import warnings
from typing import Any
from urllib.parse import unquote

import pytest
from helpers import (
    NOW,
    SECRET,
    Clock,
    RecordingStore,
    attributes,
    cookie_pair,
    drive,
    make_id,
    options,
    signed_cookie,
)

from sansio_session import MemoryStore, SerializationError, StoredRecord, StoreError, UsageError, unsign
from sansio_session.testing import acreate_session, aread_session, create_session, read_session

MINUTE = {"max_age": 60}


def test_the_record_and_cookie_are_the_apps_own() -> None:
    store = RecordingStore()
    made = create_session(store, options(cookie=MINUTE), {"user": "alice"}, now=NOW)
    sid = make_id(1)  # from options.genid
    assert made.id == sid
    assert store.calls == [("set", sid)]
    assert json.loads(store.all()[sid]) == {
        "cookie": {
            "originalMaxAge": 60000,
            "expires": "1970-01-01T00:17:40.000Z",
            "httpOnly": True,
            "path": "/",
            "sameSite": "lax",
        },
        "user": "alice",
    }
    assert made.cookie_header == signed_cookie(sid)
    assert made.cookie_pair == tuple(made.cookie_header.split("=", 1))
    assert cookie_pair(made.set_cookie) == made.cookie_header
    assert attributes(made.set_cookie) == {
        "path": "/",
        "expires": "Thu, 01 Jan 1970 00:17:40 GMT",
        "httponly": "",
        "samesite": "Lax",
    }


def test_a_request_with_the_cookie_sees_the_session() -> None:
    store = RecordingStore()
    opts = options(cookie=MINUTE)
    made = create_session(store, opts, {"user": "alice", "cart": [1, 2]}, now=NOW)
    seen: dict[str, Any] = {}
    out = drive(
        opts,
        made.cookie_header,
        lambda s: seen.update(data=s.to_dict(), new=s.is_new, id=s.id),
        store=store,
        now=NOW + 1,
    )
    assert seen == {"data": {"user": "alice", "cart": [1, 2]}, "new": False, "id": made.id}
    assert out.ops == ["get", "touch"]


def test_an_empty_session_is_stored_too() -> None:
    store = RecordingStore()
    made = create_session(store, options(), now=NOW)
    assert json.loads(store.all()[made.id]) == {
        "cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/", "sameSite": "lax"}
    }
    out = drive(options(), made.cookie_header, lambda s: s.is_new, store=store)
    assert out.value is False


def test_a_chosen_id() -> None:
    store = RecordingStore()
    made = create_session(store, options(), {"n": 1}, now=NOW, sid=make_id(42))
    assert made.id == make_id(42)
    assert list(store.all()) == [make_id(42)]
    assert made.cookie_header == signed_cookie(make_id(42))


def test_an_id_the_app_would_refuse_is_refused() -> None:
    store = RecordingStore()
    with pytest.raises(UsageError, match="valid_id"):
        create_session(store, options(), {"n": 1}, now=NOW, sid="too short")
    assert store.calls == []


def test_signed_with_the_first_secret() -> None:
    opts = options(secret=["the new secret, long enough to pass muster", SECRET])
    made = create_session(MemoryStore(), opts, {"n": 1}, now=NOW)
    value = unquote(made.cookie_pair[1])
    assert value.startswith("s:")
    assert unsign(value[2:], "the new secret, long enough to pass muster") == made.id
    assert unsign(value[2:], SECRET) is None


def test_hashed_ids_are_stored_under_their_hash() -> None:
    store = RecordingStore()
    opts = options(hash_ids=True)
    made = create_session(store, opts, {"n": 1}, now=NOW)
    assert made.id == make_id(1)
    assert made.id not in store.all() and len(store.all()) == 1
    assert read_session(store, opts, made.cookie_header, now=NOW) == {"n": 1}


def test_a_secure_cookie_is_made_even_for_a_plain_http_client() -> None:
    made = create_session(MemoryStore(), options(cookie={"secure": True}), {"n": 1}, now=NOW)
    assert "secure" in attributes(made.set_cookie)
    assert made.cookie_header == signed_cookie(made.id)


def test_the_cookie_name_and_path_come_from_the_options() -> None:
    store = RecordingStore()
    opts = options(name="app.sid", cookie={"path": "/app"})
    made = create_session(store, opts, {"n": 1}, now=NOW)
    assert made.cookie_pair[0] == "app.sid"
    assert attributes(made.set_cookie)["path"] == "/app"
    assert read_session(store, opts, "other=1; " + made.cookie_header, now=NOW) == {"n": 1}


def test_data_the_app_could_not_store_is_refused() -> None:
    store = RecordingStore()
    with pytest.raises(KeyError, match="reserved"):
        create_session(store, options(), {"cookie": 1}, now=NOW)
    with pytest.raises(SerializationError, match="'when'"):
        create_session(store, options(), {"when": object()}, now=NOW)
    assert store.calls == []


def test_options_that_store_nothing_are_refused() -> None:
    with pytest.raises(UsageError, match="max_age"):
        create_session(MemoryStore(), options(cookie={"max_age": 0}), {"n": 1}, now=NOW)


def test_now_defaults_to_the_current_time() -> None:
    # The app under test reads the real clock; the session must be live for it.
    store = MemoryStore()
    made = create_session(store, options(cookie=MINUTE), {"n": 1})
    out = drive(options(cookie=MINUTE), made.cookie_header, lambda s: s.is_new, store=store, now=time.time())
    assert out.value is False
    assert read_session(store, options(cookie=MINUTE), made.cookie_header) == {"n": 1}


def test_a_failed_save_raises_store_error() -> None:
    store = RecordingStore()
    store.fail = {"set"}
    with pytest.raises(StoreError) as caught:
        create_session(store, options(), {"n": 1}, now=NOW)
    assert isinstance(caught.value.__cause__, ConnectionError)


# -- reading back ----------------------------------------------------------------


def test_reads_what_a_request_changed() -> None:
    store = RecordingStore()
    opts = options(cookie=MINUTE)
    made = create_session(store, opts, {"user": "alice"}, now=NOW)
    drive(opts, made.cookie_header, lambda s: s.update(theme="dark"), store=store, now=NOW + 1)
    assert read_session(store, opts, made.cookie_header, now=NOW + 2) == {"user": "alice", "theme": "dark"}


def test_reads_the_cookie_a_response_set() -> None:
    store = RecordingStore()
    opts = options()
    made = create_session(store, opts, {"user": "alice"}, now=NOW)
    out = drive(
        opts, made.cookie_header, [lambda s: s.regenerate(), lambda s: s.update(user="bob")], store=store
    )
    assert out.set_cookie is not None
    assert read_session(store, opts, out.set_cookie, now=NOW) == {"user": "bob"}
    assert read_session(store, opts, made.cookie_header, now=NOW) is None  # the old id is gone


def test_the_last_set_cookie_that_names_the_session_counts() -> None:
    store = RecordingStore()
    opts = options()
    first = create_session(store, opts, {"n": 1}, now=NOW)
    second = create_session(store, opts, {"n": 2}, now=NOW)
    headers = [first.set_cookie, "theme=dark; Path=/", second.set_cookie, "lang=en"]
    assert read_session(store, opts, headers, now=NOW) == {"n": 2}
    assert read_session(store, opts, ["theme=dark; Path=/"], now=NOW) is None


def test_a_logout_reads_as_no_session() -> None:
    store = RecordingStore()
    opts = options()
    made = create_session(store, opts, {"user": "alice"}, now=NOW)
    out = drive(opts, made.cookie_header, lambda s: s.destroy(), store=store)
    assert out.set_cookie is not None and "1970" in out.set_cookie
    assert read_session(store, opts, out.set_cookie, now=NOW) is None


@pytest.mark.parametrize(
    "header",
    [
        "",
        "other=1",
        signed_cookie(make_id(1), secret="another secret, also long enough here"),
        signed_cookie(make_id(1))[:-3] + "AAA",
        "connect.sid=" + make_id(1),
    ],
    ids=["empty", "no-cookie", "other-secret", "tampered", "unsigned"],
)
def test_a_cookie_that_does_not_verify_reads_as_no_session(header: str) -> None:
    store = RecordingStore()
    create_session(store, options(), {"n": 1}, now=NOW)
    store.calls.clear()
    assert read_session(store, options(), header, now=NOW) is None
    assert store.calls == []  # never even asked


def test_an_expired_session_reads_as_none() -> None:
    clock = Clock()
    store = RecordingStore(clock)
    opts = options(cookie=MINUTE)
    made = create_session(store, opts, {"n": 1}, now=NOW)
    assert read_session(store, opts, made.cookie_header, now=NOW + 59) == {"n": 1}
    # Expired by the time the reader is given, though the store still has it...
    assert read_session(store, opts, made.cookie_header, now=NOW + 60) is None
    # ...and by the store's own clock.
    clock.now = NOW + 60
    assert read_session(store, opts, made.cookie_header, now=NOW) is None


def test_reading_changes_nothing_in_the_store() -> None:
    store = RecordingStore()
    opts = options(cookie=MINUTE, resave=True, rolling=True)
    made = create_session(store, opts, {"n": 1}, now=NOW)
    before = store.get(made.id)
    store.calls.clear()
    data = read_session(store, opts, made.cookie_header, now=NOW + 30)
    assert data == {"n": 1}
    assert store.calls == [("get", made.id)]
    assert store.get(made.id) == before


def test_what_is_read_is_a_copy() -> None:
    store = RecordingStore()
    made = create_session(store, options(), {"cart": [1]}, now=NOW)
    data = read_session(store, options(), made.cookie_header, now=NOW)
    assert data is not None
    data["cart"].append(2)
    assert read_session(store, options(), made.cookie_header, now=NOW) == {"cart": [1]}


def test_a_failed_load_raises_store_error() -> None:
    store = RecordingStore()
    made = create_session(store, options(), {"n": 1}, now=NOW)
    store.fail = {"get"}
    with pytest.raises(StoreError):
        read_session(store, options(), made.cookie_header, now=NOW)


# -- asynchronous stores --------------------------------------------------------


class AsyncStore:
    """A MemoryStore behind coroutine methods, as the Redis stores are."""

    blocking = False

    def __init__(self) -> None:
        self.memory = MemoryStore(clock=Clock())

    async def get(self, sid: str) -> StoredRecord | None:
        await asyncio.sleep(0)
        return self.memory.get(sid)

    async def set(self, sid: str, record: str, ttl: int) -> None:
        await asyncio.sleep(0)
        self.memory.set(sid, record, ttl)

    async def touch(self, sid: str, ttl: int) -> None:
        self.memory.touch(sid, ttl)

    async def destroy(self, sid: str) -> None:
        self.memory.destroy(sid)


def test_the_async_helpers_await_the_store() -> None:
    store = AsyncStore()
    opts = options()

    async def main() -> None:
        made = await acreate_session(store, opts, {"user": "alice"}, now=NOW)
        assert made.cookie_header == signed_cookie(make_id(1))
        assert list(store.memory.all()) == [made.id]
        assert await aread_session(store, opts, made.set_cookie, now=NOW) == {"user": "alice"}
        assert await aread_session(store, opts, "other=1", now=NOW) is None

    asyncio.run(main())


def test_the_async_helpers_take_a_sync_store_too() -> None:
    store = RecordingStore()

    async def main() -> None:
        made = await acreate_session(store, options(), {"n": 1}, now=NOW)
        assert await aread_session(store, options(), made.cookie_header, now=NOW) == {"n": 1}

    asyncio.run(main())
    assert [op for op, _ in store.calls] == ["set", "get"]


def test_a_failed_async_call_raises_store_error() -> None:
    class Broken(AsyncStore):
        async def set(self, sid: str, record: str, ttl: int) -> None:
            raise ConnectionError("down")

    with pytest.raises(StoreError):
        asyncio.run(acreate_session(Broken(), options(), {"n": 1}, now=NOW))


def test_the_sync_helpers_point_to_the_async_ones() -> None:
    store = AsyncStore()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(UsageError, match=r"acreate_session\(\)"):
            create_session(store, options(), {"n": 1}, now=NOW)
        store.memory.set(make_id(1), '{"cookie":{}}', 60)
        with pytest.raises(UsageError, match=r"aread_session\(\)"):
            read_session(store, options(), signed_cookie(make_id(1)), now=NOW)
        gc.collect()
