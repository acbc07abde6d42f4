# Store faults over real connections, through every driver's reference app:
# Redis and PostgreSQL down at start, going away mid-run and coming back,
# slower than store_timeout, and records that are corrupt or a planted
# pickle payload.
#
# Redis is a server of the test's own on a spare port (so it can be stopped
# and started; it keeps its data across a restart, as a production server
# would) and, for a cut or slow network, a TcpProxy in front of it.
# PostgreSQL is the shared server, always behind a TcpProxy of the test's
# own, which is what the test cuts and slows; the rows the test made are
# deleted afterwards.
#
# Whatever the fault: a request that needs the store gets a 500 with a short
# reason and no cookie, a request that does not is served as usual, the app
# recovers by itself when the store is back, and a session saved before the
# fault reads back intact afterwards. A stored record is data, never code.
from __future__ import annotations

import json
import os
import pickle
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from hostile_checks import Victim, assert_response_clean, eventually, make_victim
from http_stores import POSTGRES_URL, StoreBackend, make_backend
from redis_servers import OwnRedis, raw
from refapp_client import AppClient, Response, StartApp
from refapp_process import run_to_exit
from store_facades import service_unavailable
from tcp_proxy import TcpProxy

pytestmark = [pytest.mark.http, pytest.mark.services, pytest.mark.own_store]

STORE_TIMEOUT = 0.5
CONFIG: dict[str, Any] = {"store_timeout": STORE_TIMEOUT, "cookie": {"max_age": 300}}


def assert_store_down(response: Response) -> None:
    """A 500 with a short reason, no cookie, and nothing of the fault's details."""
    assert_response_clean(response)
    assert response.status == 500, (response.status, response.body[:200])
    assert response.set_cookies == []


def assert_no_store_needed(app: AppClient) -> None:
    """Requests that need no store are served while it is down."""
    assert app.get("/noop").status == 200
    fresh = app.get("/session")  # no cookie, nothing to save: no store call
    assert (fresh.status, fresh.ops) == (200, [])


def back_intact(app: AppClient, victim: Victim) -> None:
    """Wait for the app to reach its store again; the victim's session is as saved."""

    def attempt() -> Response | None:
        response = app.get("/session", cookie=victim.cookie)
        return response if response.status == 200 else None

    response = eventually(attempt, "the app did not reach its store again")
    assert (response.json()["id"], response.json()["data"]) == (victim.sid, victim.data)


def _down_while(app: AppClient, victim: Victim) -> None:
    assert_store_down(app.get("/session", cookie=victim.cookie))
    assert_store_down(app.get("/"))  # a new session that must be saved
    assert_no_store_needed(app)


# -- Redis ------------------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of the test's own, started; it keeps its data when restarted."""
    server = OwnRedis("--save", "3600 1", "--dir", str(tmp_path))
    with server:
        yield server


def test_redis_down_at_start_then_up(refapp: StartApp, redis_server: OwnRedis) -> None:
    victim = make_victim(refapp(CONFIG, store_url=redis_server.url()))
    redis_server.stop()
    # A second app starts while nothing listens at its Redis URL: a proxy
    # that is not listening yet, in front of the stopped server.
    with TcpProxy(("127.0.0.1", redis_server.port)) as proxy:
        proxy.cut()
        app = refapp(CONFIG, store_url=f"redis://{proxy.address}/0")
        _down_while(app, victim)
        redis_server.start()
        proxy.restore()
        back_intact(app, victim)
        made = app.get("/")
        assert (made.status, made.ops) == (200, [("set", made.sent_sid)])


def test_redis_going_away_and_coming_back(refapp: StartApp, redis_server: OwnRedis) -> None:
    app = refapp(CONFIG, store_url=redis_server.url())
    victim = make_victim(app)
    redis_server.stop()
    _down_while(app, victim)
    assert_store_down(app.post("/session?user=mallory", cookie=victim.cookie))
    redis_server.start()
    back_intact(app, victim)


def test_redis_connection_cut_and_restored(refapp: StartApp, redis_server: OwnRedis) -> None:
    with TcpProxy(("127.0.0.1", redis_server.port)) as proxy:
        app = refapp(CONFIG, store_url=f"redis://{proxy.address}/0")
        victim = make_victim(app)
        proxy.cut()
        _down_while(app, victim)
        proxy.restore()
        back_intact(app, victim)


def test_redis_slower_than_store_timeout(refapp: StartApp, redis_server: OwnRedis) -> None:
    with TcpProxy(("127.0.0.1", redis_server.port)) as proxy:
        app = refapp(CONFIG, store_url=f"redis://{proxy.address}/0")
        victim = make_victim(app)
        proxy.delay = STORE_TIMEOUT * 4
        # Reads only: a save sent before the timeout may still land later.
        assert_store_down(app.get("/session", cookie=victim.cookie))
        assert_no_store_needed(app)
        proxy.delay = 0.0
        back_intact(app, victim)


class _Plant:
    """Unpickled, this opens (so creates) the file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def pickle_payloads(marker: Path) -> dict[str, bytes]:
    """Pickles of every protocol that would create ``marker`` if unpickled."""
    payloads = {f"pickle-{p}": pickle.dumps(_Plant(marker), protocol=p) for p in (0, 2, 4, 5)}
    # The plant is live: unpickling one (here, on a file of its own) runs it.
    proof = marker.with_name("proof")
    with pickle.loads(pickle.dumps(_Plant(proof))):
        pass
    assert proof.exists()
    return payloads


CORRUPT = {
    "not-utf8": b"\xff\xfe\x00",
    "empty": b"",
    "cut-short": b'{"cookie":{"originalMaxAge":300000,',
    "nul-bytes": b"\x00" * 16,
    "bad-cookie": b'{"cookie":{"originalMaxAge":"x","expires":null},"user":"mallory"}',
    "json-string": b'"a string"',
}


def _assert_no_session(app: AppClient, sid: str) -> None:
    read = app.get("/session", cookie=app.cookie_for(sid))
    assert_response_clean(read)
    assert (read.status, read.ops) == (200, [("get", sid)])
    assert read.json()["id"] != sid and read.json()["data"] == {}
    page = app.get("/", cookie=app.cookie_for(sid))
    assert page.status == 200 and "views: 1" in page.text
    assert page.ops == [("get", sid), ("set", page.sent_sid)] and page.sent_sid != sid


def test_a_planted_pickle_never_runs_on_redis(
    refapp: StartApp, redis_server: OwnRedis, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    app = refapp(CONFIG, store_url=redis_server.url())
    victim = make_victim(app)
    for name, payload in {**pickle_payloads(marker), **CORRUPT}.items():
        sid = secrets.token_urlsafe(24)
        raw(redis_server.url(), "SET", "sess:" + sid, payload, "EX", "300")
        _assert_no_session(app, sid)
        assert not marker.exists(), f"{name}: the stored pickle was unpickled"
    back_intact(app, victim)


# -- PostgreSQL ---------------------------------------------------------------------------


@dataclass
class _Postgres:
    proxy: TcpProxy
    #: The app's --store URL, through the proxy.
    url: str
    password: str
    backend: StoreBackend
    made: set[str] = field(default_factory=set)

    def track(self, app: AppClient) -> AppClient:
        """The same app, remembering every id it sees so that its rows are deleted."""
        return AppClient(app.host, app.port, name=app.name, secret=app.secret, seen=self.made.add)


@pytest.fixture
def postgres() -> Iterator[_Postgres]:
    backend = make_backend("postgres", Path())
    problem = backend.problem()
    if problem is not None:
        service_unavailable(problem)
    parts = urlsplit(POSTGRES_URL)
    # The server trusts us, so a password in the URL is only something that
    # must never be shown; a real one is kept.
    password = parts.password or "a-password-never-to-be-shown"
    netloc = f"{parts.username or 'postgres'}:{password}@"
    with TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)) as proxy:
        pg = _Postgres(proxy, urlunsplit(parts._replace(netloc=netloc + proxy.address)), password, backend)
        try:
            yield pg
        finally:
            backend.forget(pg.made)


def _start(refapp: StartApp, pg: _Postgres) -> tuple[AppClient, Victim]:
    app = pg.track(refapp(CONFIG, store_url=pg.url))
    victim = make_victim(app)
    return app, victim


def test_postgres_down_at_start_then_up(refapp: StartApp, driver_module: str, postgres: _Postgres) -> None:
    app, victim = _start(refapp, postgres)
    postgres.proxy.cut()
    # The store checks its table when it opens, so an app cannot start
    # without PostgreSQL: it says so in one line (the last on stderr).
    flags = ["--port", "0", "--store", postgres.url, "--config", json.dumps({"secret": app.secret, **CONFIG})]
    try:
        ended = run_to_exit(driver_module, flags, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the app kept running with its store down, and never said so", pytrace=False)
    assert ended.returncode != 0
    assert "Traceback" not in ended.stderr and postgres.password not in ended.stderr
    assert ended.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "listening on" not in ended.stdout
    postgres.proxy.restore()
    # Started again once PostgreSQL is back (another URL, so another process
    # than the first app's), it serves the session saved before.
    later = postgres.track(refapp(CONFIG, store_url=postgres.url + "?application_name=restarted"))
    back_intact(later, victim)


def test_postgres_going_away_and_coming_back(refapp: StartApp, postgres: _Postgres) -> None:
    app, victim = _start(refapp, postgres)
    postgres.proxy.cut()
    _down_while(app, victim)
    assert_store_down(app.post("/session?user=mallory", cookie=victim.cookie))
    postgres.proxy.restore()
    back_intact(app, victim)


def test_postgres_slower_than_store_timeout(refapp: StartApp, postgres: _Postgres) -> None:
    app, victim = _start(refapp, postgres)
    postgres.proxy.delay = STORE_TIMEOUT * 4
    assert_store_down(app.get("/session", cookie=victim.cookie))
    assert_no_store_needed(app)
    postgres.proxy.delay = 0.0
    back_intact(app, victim)


def test_a_planted_pickle_never_runs_on_postgres(
    refapp: StartApp, postgres: _Postgres, tmp_path: Path
) -> None:
    # The column is json, so a pickle can only be planted as JSON text: as
    # the whole record, or as a value inside a valid one, which must come
    # back as the plain string it is.
    marker = tmp_path / "unpickled"
    app, victim = _start(refapp, postgres)
    texts = {name: payload.decode("latin-1") for name, payload in pickle_payloads(marker).items()}
    for name, text in texts.items():
        sid = secrets.token_urlsafe(24)
        postgres.made.add(sid)
        postgres.backend.plant(sid, json.dumps(text), 300)
        _assert_no_session(app, sid)
        inside = secrets.token_urlsafe(24)
        postgres.made.add(inside)
        record = {
            "cookie": {"originalMaxAge": 300000, "expires": None, "httpOnly": True, "path": "/"},
            "p": text,
        }
        postgres.backend.plant(inside, json.dumps(record), 300)
        read = app.get("/session", cookie=app.cookie_for(inside))
        assert (read.json()["id"], read.json()["data"]) == (inside, {"p": text})
        assert not marker.exists(), f"{name}: the stored pickle was unpickled"
    for payload in CORRUPT.values():
        try:
            json.loads(payload)
        except ValueError:
            continue  # the json column cannot hold it
        sid = secrets.token_urlsafe(24)
        postgres.made.add(sid)
        postgres.backend.plant(sid, payload.decode(), 300)
        _assert_no_session(app, sid)
    assert not os.path.exists(marker)
    back_intact(app, victim)
