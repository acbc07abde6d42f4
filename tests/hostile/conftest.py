# The hostile suite: attacks over HTTP, store faults over real connections,
# and load, against every driver's reference app.
#
# The apps are started by the HTTP conformance suite's own fixtures (the
# `refapp` fixture of ../http/conftest.py and its pool), so both suites start
# and skip apps alike: a driver that is not importable yet, or a store it
# cannot open, is skipped with the reason, and under CI=true that fails.
# Fixtures of a conftest reach only its own folder, so we load that file here
# under a module name of our own and take its fixtures and its
# parametrisation (one run per driver) from it.
#
# Tests on a store of their own (a Redis server on a spare port, a proxy in
# front of PostgreSQL) are marked `own_store`: they pass the app's --store
# URL themselves, so their ids say `own-store` rather than a store kind.
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_TESTS = Path(__file__).resolve().parent.parent
for _folder in ("http", "stores"):
    _where = str(_TESTS / _folder)
    if _where not in sys.path:
        sys.path.insert(0, _where)


def _load_http_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hostile_http_conftest", _TESTS / "http" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_http = _load_http_conftest()

driver_module = _http.driver_module
store_backend = _http.store_backend
app_pool = _http.app_pool
refapp = _http.refapp


def pytest_configure(config: pytest.Config) -> None:
    # The HTTP suite's markers, for a run of this folder alone, and ours.
    config.addinivalue_line("markers", "every_store: run on every store, not only the memory store")
    config.addinivalue_line("markers", "shared_stores: run on the stores two apps can share (not memory)")
    config.addinivalue_line("markers", "own_store: the test runs the app's store itself")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("own_store") is not None:
        metafunc.parametrize("driver", list(_http.DRIVERS), scope="session")
        metafunc.parametrize("store_kind", ["memory"], ids=["own-store"], scope="session")
        return
    _http.pytest_generate_tests(metafunc)
