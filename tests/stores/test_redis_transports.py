# The three Redis transports against real servers: the shared test server
# (db 9, a key prefix per test) and redis-server processes of the tests' own
# for restarts, passwords and TLS. The store protocol itself (get, set,
# touch, destroy, all, length, clear, expiry, a 1 MB record, hostile ids,
# threads) is the conformance suite's, run on these same facades.
from __future__ import annotations

import asyncio
import os
import random
import ssl
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from redis_facades import REDIS_URL, RedisFacade, require_redis, tornado_facade, trio_facade, twisted_facade
from redis_servers import OwnRedis, mute_server, raw, tls_files

from sansio_session import StoreError
from sansio_session.redis import Backoff, RedisCommands

pytestmark = pytest.mark.services

Factory = Callable[..., AbstractContextManager[RedisFacade]]
TRANSPORTS: dict[str, Factory] = {
    "tornado": tornado_facade,
    "twisted": twisted_facade,
    "trio": trio_facade,
}


@pytest.fixture(params=list(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def unique(name: str = "t") -> str:
    return f"{name}-{uuid.uuid4().hex[:12]}"


def test_keys_and_values_are_connect_redis_s(transport: str) -> None:
    require_redis()
    sid = unique()
    record = '{"cookie":{"originalMaxAge":60000,"httpOnly":true,"path":"/"},"views":1}'
    with TRANSPORTS[transport](prefix="sess:", clean=False) as store:
        try:
            store.set(sid, record, 60)
            assert raw(REDIS_URL, b"GET", f"sess:{sid}") == record.encode()
            assert 0 < raw(REDIS_URL, b"TTL", f"sess:{sid}") <= 60
            # SELECT 9 took effect: the key is not in database 0.
            assert raw(REDIS_URL.rsplit("/", 1)[0] + "/0", b"EXISTS", f"sess:{sid}") == 0
        finally:
            store.destroy(sid)


def test_a_touch_only_moves_the_expiry(transport: str) -> None:
    with TRANSPORTS[transport]() as store:
        key = f"{store.prefix}a"
        store.set("a", '{"n":1}', 60)
        # A Node app saves newer data in between; our touch must keep it.
        raw(REDIS_URL, b"SET", key, b'{"n":2}', b"KEEPTTL")
        store.touch("a", 5000)
        assert raw(REDIS_URL, b"GET", key) == b'{"n":2}'
        assert raw(REDIS_URL, b"TTL", key) > 4000


def test_glob_characters_in_the_prefix_match_only_themselves(transport: str) -> None:
    base = f"sansio-test:{unique()}"
    decoy = f"{base}-other:1"
    with TRANSPORTS[transport](prefix=f"{base}-*[?]:") as store:
        try:
            raw(REDIS_URL, b"SET", decoy, b"{}", b"EX", 60)
            store.set("mine", "{}", 60)
            assert store.all() == {"mine": "{}"}
            assert store.length() == 1
            store.clear()
            assert raw(REDIS_URL, b"EXISTS", decoy) == 1
        finally:
            raw(REDIS_URL, b"DEL", decoy)


def test_the_user_index_is_a_set_beside_the_sessions(transport: str) -> None:
    with TRANSPORTS[transport]() as store:
        index = RedisCommands(store.prefix).user_key("alice")
        assert not index.startswith(store.prefix.encode())
        record = '{"cookie":{"path":"/"},"n":1}'
        store.set("a", record, 60, user="alice")
        store.set("b", record, 3600, user="alice")
        assert store.replace("a", '{"cookie":{"path":"/"},"n":2}', 60, record, user="alice") is None
        # The sessions stay connect-redis's plain strings.
        assert raw(REDIS_URL, b"GET", f"{store.prefix}a") == b'{"cookie":{"path":"/"},"n":2}'
        assert sorted(raw(REDIS_URL, b"SMEMBERS", index)) == [b"a", b"b"]
        # The index lasts at least as long as its longest-lived session.
        assert raw(REDIS_URL, b"TTL", index) > 3590
        store.destroy("a", user="alice")
        assert raw(REDIS_URL, b"SMEMBERS", index) == [b"b"]
        assert store.destroy_all("alice") == 1
        assert raw(REDIS_URL, b"EXISTS", index) == 0


def test_sessions_of_drops_sessions_ended_behind_its_back(transport: str) -> None:
    with TRANSPORTS[transport]() as store:
        index = RedisCommands(store.prefix).user_key("alice")
        for sid in ("a", "b"):
            store.set(sid, "{}", 60, user="alice")
        # connect-redis's destroy: a DEL that knows nothing of the index.
        raw(REDIS_URL, b"DEL", f"{store.prefix}a")
        assert store.sessions_of("alice") == ["b"]
        assert raw(REDIS_URL, b"SMEMBERS", index) == [b"b"]
        raw(REDIS_URL, b"DEL", f"{store.prefix}b")
        assert store.sessions_of("alice") == []
        assert raw(REDIS_URL, b"EXISTS", index) == 0


def test_a_bound_touch_keeps_the_index_alive(transport: str) -> None:
    with TRANSPORTS[transport]() as store:
        index = RedisCommands(store.prefix).user_key("alice")
        store.set("a", "{}", 10, user="alice")
        assert raw(REDIS_URL, b"TTL", index) <= 10
        store.touch("a", 5000, user="alice")
        assert raw(REDIS_URL, b"TTL", index) > 4000
        # An index lost meanwhile takes the session back.
        raw(REDIS_URL, b"DEL", index)
        store.touch("a", 5000, user="alice")
        assert raw(REDIS_URL, b"SMEMBERS", index) == [b"a"]
        # A touch of a session that is gone binds nothing.
        store.touch("ghost", 5000, user="bob")
        assert store.sessions_of("bob") == []


async def _hundred_asyncio(store: Any) -> list[Any]:
    async def one(i: int) -> Any:
        await store.set(f"task-{i}", f'{{"i":{i}}}', 60)
        return (await store.get(f"task-{i}")).text

    return await asyncio.gather(*(one(i) for i in range(100)))


async def _hundred_trio(store: Any) -> list[Any]:
    import trio

    results: list[Any] = [None] * 100

    async def one(i: int) -> None:
        await store.set(f"task-{i}", f'{{"i":{i}}}', 60)
        results[i] = (await store.get(f"task-{i}")).text

    async with trio.open_nursery() as nursery:
        for i in range(100):
            nursery.start_soon(one, i)
    return results


def _hundred_twisted(store: Any) -> Any:
    from twisted.internet import defer

    def one(i: int) -> Any:
        saved = store.set(f"task-{i}", f'{{"i":{i}}}', 60)
        return saved.addCallback(lambda _: store.get(f"task-{i}")).addCallback(lambda got: got.text)

    return defer.gatherResults([one(i) for i in range(100)])


HUNDRED = {"tornado": _hundred_asyncio, "trio": _hundred_trio, "twisted": _hundred_twisted}


def test_a_hundred_concurrent_tasks_share_one_connection(transport: str) -> None:
    name = unique("sansio-test")
    with TRANSPORTS[transport](client_name=name) as store:
        results = store.run(HUNDRED[transport], store.store)
        assert results == [f'{{"i":{i}}}' for i in range(100)]
        clients = raw(REDIS_URL, b"CLIENT", b"LIST").decode().splitlines()
        assert sum(f" name={name} " in f" {line} " for line in clients) == 1


async def _cancel_at_random_asyncio(store: Any) -> None:
    rng = random.Random(300)
    for i in range(300):
        task = asyncio.ensure_future(store.get("cancelled"))
        for _ in range(rng.randrange(4)):
            await asyncio.sleep(0)
        task.cancel()
        assert (await store.get(f"k{i % 3}")).text == f'"{i % 3}"'


async def _cancel_at_random_trio(store: Any) -> None:
    import trio

    rng = random.Random(300)
    for i in range(300):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.get, "cancelled")
            for _ in range(rng.randrange(4)):
                await trio.lowlevel.checkpoint()
            nursery.cancel_scope.cancel()
        assert (await store.get(f"k{i % 3}")).text == f'"{i % 3}"'


@pytest.mark.parametrize("name", ["tornado", "trio"])
def test_cancelled_calls_never_leave_a_reply_for_the_next_one(name: str) -> None:
    cancel_at_random = {"tornado": _cancel_at_random_asyncio, "trio": _cancel_at_random_trio}
    with TRANSPORTS[name]() as store:
        for i in range(3):
            store.set(f"k{i}", f'"{i}"', 60)
        store.run(cancel_at_random[name], store.store)


@pytest.mark.parametrize("db", [0, 9])
def test_a_server_that_never_answers_fails_each_call_in_time(transport: str, db: int) -> None:
    # db 0: the GET goes unanswered; db 9: the SELECT of the setup does.
    with mute_server() as url, TRANSPORTS[transport](f"{url}/{db}", timeout=0.3, clean=False) as store:
        for _ in range(2):
            with pytest.raises(StoreError):
                store.get("a")
        with pytest.raises(StoreError):
            store.set("a", "{}", 60)


def test_start_reports_an_unreachable_server(transport: str) -> None:
    with OwnRedis() as server:
        url = server.url()
    with TRANSPORTS[transport](url, clean=False) as store, pytest.raises(StoreError):
        store.run(store.store.start)


def test_a_closed_store_refuses_calls(transport: str) -> None:
    with TRANSPORTS[transport](clean=False) as store:
        store.set("a", "{}", 60)
        store.run(store.store.close)
        with pytest.raises(StoreError):
            store.get("a")
        raw(REDIS_URL, b"DEL", f"{store.prefix}a")


def test_reconnects_after_the_server_restarts(transport: str) -> None:
    with (
        OwnRedis() as server,
        TRANSPORTS[transport](server.url(db=3), backoff=Backoff(0.01, 0.2), clean=False) as store,
    ):
        store.set("a", '{"n":1}', 60)
        assert store.get("a") is not None
        server.stop()
        for _ in range(3):  # the lost connection, then refused ones
            with pytest.raises(StoreError):
                store.get("a")
        server.start()
        assert store.get("a") is None  # nothing was persisted
        store.set("a", '{"n":2}', 60)
        got = store.get("a")
        assert got is not None
        assert got.text == '{"n":2}'


def test_password_and_acl_user_logins() -> None:
    with OwnRedis(
        "--requirepass", "s3cret", "--user", "alice", "on", ">wonder", "~*", "&*", "+@all"
    ) as server:
        for name, factory in TRANSPORTS.items():
            for auth in (":s3cret@", "alice:wonder@"):
                with factory(server.url(auth, db=2), prefix=f"{name}:", clean=False) as store:
                    store.set("a", "{}", 60)
                    assert store.get("a") is not None
            for auth in ("", ":wrong@", "alice:wrong@", "bob:wonder@"):
                with factory(server.url(auth), clean=False) as store, pytest.raises(StoreError):
                    store.get("a")


def _tls_options(name: str, ca: Path | None) -> dict[str, Any]:
    if name == "twisted":
        from twisted.internet import ssl as tls

        root = tls.Certificate.loadPEM(ca.read_bytes()) if ca else tls.platformTrust()  # type: ignore[no-untyped-call]
        return {"tls_options": tls.optionsForClientTLS("127.0.0.1", trustRoot=root)}
    return {"ssl_context": ssl.create_default_context(cafile=ca and str(ca))}


def test_rediss_goes_over_the_frameworks_own_tls() -> None:
    with tls_files() as files:
        args = [f"--tls-{kind}-file" for kind in ("cert", "key")]
        server = OwnRedis(
            args[0], str(files["server.crt"]), args[1], str(files["server.key"]),
            "--tls-ca-cert-file", str(files["ca.crt"]), "--tls-auth-clients", "no",
            tls=True,
        )  # fmt: skip
        try:
            server.__enter__()
        except RuntimeError as exc:
            pytest.skip(f"this redis-server has no TLS: {exc}")
        with server:
            for name, factory in TRANSPORTS.items():
                trusted = _tls_options(name, files["ca.crt"])
                with factory(server.url(db=1), prefix=f"{name}:", clean=False, **trusted) as store:
                    store.set("a", '{"tls":1}', 60)
                    got = store.get("a")
                    assert got is not None
                    assert got.text == '{"tls":1}'
                # The system's CAs do not know our test CA.
                untrusted = _tls_options(name, None)
                with factory(server.url(), clean=False, **untrusted) as store, pytest.raises(StoreError):
                    store.get("a")


OTHER_REACTOR = """
import sys
from twisted.internet import selectreactor
selectreactor.install()
from twisted.internet import defer, task
from sansio_session_twisted.redis import RedisStore

async def main(reactor):
    store = RedisStore(sys.argv[1], prefix=sys.argv[2])
    await store.set("a", '{"n":1}', 60)
    print(type(reactor).__name__, (await store.get("a")).text)
    await store.clear()
    await store.close()

task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
"""


def test_twisted_needs_no_asyncio_reactor() -> None:
    require_redis()
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "integrations" / "twisted")])}
    done = subprocess.run(
        [sys.executable, "-c", OTHER_REACTOR, REDIS_URL, f"sansio-test:{unique()}:"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["SelectReactor", '{"n":1}']
