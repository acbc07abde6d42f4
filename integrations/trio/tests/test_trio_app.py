# The trio reference app: its wiring, in process, and its start and stop as
# `python -m sansio_session_trio`. The routes themselves are checked by the
# shared HTTP suite in tests/http, against every driver.
from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

import pytest
from trio_helpers import SECRET, Client, EventStore, in_memory, options, run

from sansio_session.refapp import App, LoggedStore, StoreLog
from sansio_session_trio.__main__ import app_handler


def test_the_store_log_is_answered_before_any_session_work() -> None:
    store = EventStore()
    log = StoreLog()

    async def main() -> None:
        handler = app_handler(App(store_log=log), options(), LoggedStore(store, log))
        async with in_memory(handler) as connect:
            client = Client(connect())
            first = await client.request("GET", "/")
            assert first.cookie is not None
            reply = await client.request("GET", "/_store/log", [("cookie", first.cookie)])
            assert reply.cookie is None
            assert json.loads(reply.body) == [{"op": "set", "sid": f"{1:032d}"}]
            again = await client.request("GET", "/_store/log", [("cookie", first.cookie)])
            assert json.loads(again.body) == []

    run(main)
    assert [op for op, _ in store.events] == ["set"]  # the log requests loaded nothing


def test_buffered_responses_commit_before_their_headers_and_head_has_no_body() -> None:
    async def main() -> None:
        handler = app_handler(App(), options(), EventStore())
        async with in_memory(handler) as connect:
            client = Client(connect())
            first = await client.request("GET", "/")
            assert first.cookie is not None
            head = await client.request("HEAD", "/", [("cookie", first.cookie)])
            view = await client.request("GET", "/session", [("cookie", first.cookie)])
        assert b"views: 1" in first.body
        assert head.body == b"" and head.header("content-length") == str(len(first.body))
        assert json.loads(view.body)["data"] == {"views": 2}

    run(main)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_app_prints_its_real_port_and_stops_cleanly_on_a_signal(signum: int) -> None:
    config = json.dumps({"secret": SECRET})
    command = [sys.executable, "-m", "sansio_session_trio", "--port", "0", "--config", config]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1])
        assert port != 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/noop") as reply:
            assert reply.read() == b"ok"
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
