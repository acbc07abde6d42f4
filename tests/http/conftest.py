# The HTTP conformance suite: the contract of ../../shared/reference-app.md
# (contract v1), checked over real sockets against every driver's reference
# app, `python -m sansio_session_tornado`, `..._twisted` and `..._trio`.
#
# How it runs. Every test takes the `refapp` fixture and calls it with a
# --config object (the secret is added for it); that starts the app for
# (driver, store, config) once, on --port 0 with --store-log, and hands back
# an AppClient. Apps stay up for later tests with the same configuration
# (a small pool, stopped by PID at the end). Each request made through the
# client is followed by GET /_store/log, so a test asserts the exact store
# operations of each request.
#
# Parametrisation. Every test runs once per driver. Tests marked
# `every_store` also run on SQLite, Redis and PostgreSQL, tests marked
# `shared_stores` (two apps on one store, records planted from outside)
# only on those three; the rest run on the memory store only, which keeps
# the cross-product affordable. A driver
# that is not importable yet, a store the driver cannot open yet (the app
# exits at start) and a service that cannot be reached are skipped with the
# reason, except when the environment has CI=true: then they fail.
#
# Services: SANSIO_SESSION_TEST_REDIS (default redis://127.0.0.1:6379/9; the
# suite deletes only the sess:<id> keys of the ids it saw) and
# SANSIO_SESSION_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test;
# the apps use the "session" table, from which the suite deletes its rows).
#
# The express-session behaviour vectors are in ../vectors/express.json; their
# format is described in ../vectors/README.md.
from __future__ import annotations

import importlib.util
import os
from collections.abc import Generator, Iterator
from typing import Any, NoReturn

import pytest
from http_stores import STORE_KINDS, StoreBackend, make_backend
from refapp_client import SECRET, AppClient, StartApp
from refapp_process import AppPool, AppProcess, StartFailed

#: The drivers whose reference apps the suite runs, by short name.
DRIVERS = {
    "tornado": "sansio_session_tornado",
    "twisted": "sansio_session_twisted",
    "trio": "sansio_session_trio",
}


def unavailable(reason: str) -> NoReturn:
    """Skip for want of a driver, store or service; under CI=true, fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: every driver, store and service must be there)", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "every_store: run on every store, not only the memory store")
    config.addinivalue_line("markers", "shared_stores: run on the stores two apps can share (not memory)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "driver" in metafunc.fixturenames:
        metafunc.parametrize("driver", list(DRIVERS), scope="session")
    if "store_kind" in metafunc.fixturenames:
        kinds: tuple[str, ...] = ("memory",)
        if metafunc.definition.get_closest_marker("every_store") is not None:
            kinds = STORE_KINDS
        elif metafunc.definition.get_closest_marker("shared_stores") is not None:
            kinds = tuple(kind for kind in STORE_KINDS if kind != "memory")
        metafunc.parametrize("store_kind", kinds, scope="session")


def _import_problem(module: str) -> str | None:
    try:
        if importlib.util.find_spec(module) is None:
            return "not installed"
        if importlib.util.find_spec(module + ".__main__") is None:
            return "it has no __main__"
    except Exception as exc:  # a half-written driver can fail in any way
        return f"importing it raised {exc!r}"
    return None


@pytest.fixture(scope="session")
def driver_module(driver: str) -> str:
    """The driver's module name; skips (fails under CI) while it cannot be imported."""
    module = DRIVERS[driver]
    problem = _import_problem(module)
    if problem is not None:
        unavailable(f"driver {module} is not importable yet: {problem}")
    return module


@pytest.fixture(scope="session")
def store_backend(driver: str, store_kind: str, tmp_path_factory: pytest.TempPathFactory) -> StoreBackend:
    backend = make_backend(store_kind, tmp_path_factory.mktemp(f"{driver}-{store_kind}"))
    problem = backend.problem()
    if problem is not None:
        unavailable(problem)
    return backend


@pytest.fixture(scope="session")
def app_pool() -> Iterator[AppPool]:
    pool = AppPool()
    yield pool
    pool.close()


# A store the driver cannot open yet fails every configuration alike: after
# the first failure we skip at once instead of starting the app again.
_store_failures: dict[tuple[str, str], str] = {}


_USED = pytest.StashKey[list[AppProcess]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # A failing test shows what its apps wrote on stderr (tracebacks of 500s).
    report: pytest.TestReport = yield
    if report.failed and call.when == "call":
        for app in item.stash.get(_USED, []):
            tail = "".join(list(app.stderr)[-40:]) or "(nothing)\n"
            report.sections.append((f"stderr of {app.label[:200]}", tail))
    return report


@pytest.fixture
def refapp(
    request: pytest.FixtureRequest,
    driver_module: str,
    store_kind: str,
    store_backend: StoreBackend,
    app_pool: AppPool,
) -> Iterator[StartApp]:
    """Start (or reuse) the app for a --config; returns its AppClient."""
    seen: set[str] = set()
    used = request.node.stash.setdefault(_USED, [])

    def start(config: dict[str, Any] | None = None, *, store_url: str | None = None) -> AppClient:
        full = {"secret": SECRET, **(config or {})}
        url = store_backend.url() if store_url is None else store_url
        memory = url == "memory"
        if not memory and (driver_module, url) in _store_failures:
            unavailable(_store_failures[driver_module, url])
        try:
            process = app_pool.get(driver_module, url, full)
        except StartFailed as exc:
            if memory:
                pytest.fail(str(exc), pytrace=False)
            reason = f"{driver_module} cannot run on --store {url.split(':', 1)[0]} yet: {exc}"
            _store_failures[driver_module, url] = reason
            unavailable(reason)
        used.append(process)
        secret = full["secret"]
        return AppClient(
            process.host,
            process.port,
            name=full.get("name", "connect.sid"),
            secret=secret if isinstance(secret, str) else secret[0],
            seen=seen.add,
        )

    yield start
    if seen:
        store_backend.forget(seen)
