# python -m sansio_session_tornado, started as the contract says: flags, the
# listening line, the store log, each store URL it opens, and a clean stop.
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tornado_session_testing import SECRET, SyncClient, running

CONFIG = json.dumps({"secret": SECRET})
#: The Redis database these tests may use; they remove every session they make.
REDIS_URL = "redis://127.0.0.1:6379/12"


def _app(*flags: str) -> list[str]:
    return ["-m", "sansio_session_tornado", "--port", "0", "--config", CONFIG, "--store-log", *flags]


def _log(client: SyncClient) -> list[str]:
    status, _, body = SyncClient.request(client, "GET", "/_store/log")
    assert status == 200
    return [entry["op"] for entry in json.loads(body)]


def _visit_twice_and_destroy(url: str) -> None:
    client = SyncClient(url)
    status, headers, body = client.request("GET", "/")
    assert (status, headers["content-type"]) == (200, ["text/html; charset=utf-8"])
    assert b"views: 1" in body
    assert len(headers["set-cookie"]) == 1
    status, headers, body = client.request("GET", "/")
    assert b"views: 2" in body
    assert "set-cookie" not in headers
    status, headers, body = client.request("HEAD", "/session")
    assert (status, body) == (200, b"")
    assert int(headers["content-length"][0]) > 0
    assert client.request("POST", "/session/destroy")[2] == b'{"id": null}'
    assert client.cookie is None
    assert _log(client) == ["set", "get", "set", "get", "touch", "get", "destroy"]
    assert _log(client) == []


def test_the_reference_app_on_the_memory_store_stops_cleanly_on_sigterm() -> None:
    with running(_app()) as (process, url):
        _visit_twice_and_destroy(url)
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_the_reference_app_on_sqlite(tmp_path: Path) -> None:
    with running(_app("--store", f"sqlite:///{tmp_path / 'sessions.db'}")) as (process, url):
        _visit_twice_and_destroy(url)
    assert process.returncode == 0


def test_the_reference_app_on_redis() -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=3).close()
    except OSError as exc:
        reason = f"Redis at 127.0.0.1:6379 unreachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: services must be available)", pytrace=False)
        pytest.skip(reason)
    with running(_app("--store", REDIS_URL)) as (process, url):
        _visit_twice_and_destroy(url)
    assert process.returncode == 0


@pytest.mark.parametrize(
    "flags",
    [
        ["--config", json.dumps({"secret": SECRET, "resave": 1})],
        ["--config", json.dumps({"secret": SECRET, "nope": True})],
        ["--config", "{"],
        ["--config", CONFIG, "--store", "mysql://db"],
        ["--config", CONFIG, "--port", "70000"],
    ],
)
def test_bad_flags_are_one_line_and_status_2(flags: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sansio_session_tornado", *flags],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: ")
    assert done.stderr.count("\n") == 1
