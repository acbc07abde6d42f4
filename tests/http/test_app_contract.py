# The reference app's own contract: its routes, the store log, refusing a bad
# start (exit status 2, one line on stderr) and answering a store failure
# with a 500 while it goes on serving.
from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from refapp_client import SECRET, StartApp
from refapp_process import app_command

pytestmark = pytest.mark.http

MINUTE: dict[str, Any] = {"cookie": {"max_age": 60}}
RESERVED = [
    "id",
    "cookie",
    "req",
    "touch",
    "resetMaxAge",
    "save",
    "reload",
    "destroy",
    "regenerate",
    "__proto__",
]


# -- routes ----------------------------------------------------------------------


def test_the_page_and_noop_routes(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    page = app.get("/")
    assert page.status == 200
    assert page.content_type.startswith("text/html")
    assert "views: 1" in page.text
    noop = app.get("/noop")
    assert (noop.status, noop.text) == (200, "ok")
    assert noop.content_type.startswith("text/plain")


def test_post_session_sets_string_values_in_query_order_and_the_last_repeat_wins(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.post("/session?b=1&a=2&b=3&n=4")
    data = response.json()["data"]
    assert data == {"b": "3", "a": "2", "n": "4"}
    assert list(data) == ["b", "a", "n"]
    assert response.ops == [("set", response.sent_sid)]


def test_post_session_decodes_the_query(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.post("/session?k=a%20b&%C3%A9=%E2%9C%93")
    assert response.status == 200, response.text
    assert response.json()["data"] == {"k": "a b", "é": "✓"}


@pytest.mark.parametrize("key", RESERVED)
def test_reserved_keys_are_refused_and_nothing_changes(refapp: StartApp, key: str) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session(k="v")
    response = app.post(f"/session?a=1&{key}=x", cookie=cookie)
    assert response.status == 400
    assert response.content_type.startswith("text/plain")
    assert response.ops == [("get", sid), ("touch", sid)]
    assert response.cookie is None
    assert app.get("/session", cookie=cookie).json()["data"] == {"k": "v"}
    fresh = app.post(f"/session?{key}=x")
    assert (fresh.status, fresh.ops, fresh.cookie) == (400, [], None)


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/nope"),
        ("POST", "/nope"),
        ("POST", "/"),
        ("PUT", "/session"),
        ("DELETE", "/session"),
        ("GET", "/session/destroy"),
        ("POST", "/session/"),
        ("POST", "/session/bogus"),
        ("GET", "/session/x"),
    ],
)
def test_a_404_still_goes_through_session_handling(refapp: StartApp, method: str, target: str) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    response = app.request(method, target, cookie=cookie)
    assert response.status == 404
    assert response.ops == [("get", sid), ("touch", sid)]
    assert response.cookie is None
    eager = refapp({"save_uninitialized": True, **MINUTE})
    response = eager.request(method, target)
    assert response.status == 404
    assert response.ops == [("set", response.sent_sid)]


def test_head_answers_like_get_without_a_body(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    response = app.request("HEAD", "/")
    assert response.status == 200
    assert response.body == b""
    assert response.ops == [("set", response.sent_sid)]
    sid, cookie = app.new_session()
    response = app.request("HEAD", "/session", cookie=cookie)
    assert (response.status, response.body, response.ops) == (200, b"", [("get", sid), ("touch", sid)])


# -- the store log -----------------------------------------------------------------


def test_the_store_log_reads_no_cookie_sets_none_and_causes_no_store_call(refapp: StartApp) -> None:
    app = refapp({"save_uninitialized": True, "rolling": True, **MINUTE})
    _, cookie = app.new_session()
    for sent in (None, cookie):
        response = app.request("GET", "/_store/log", cookie=sent)
        assert response.status == 200
        assert response.json() == []
        assert response.set_cookies == []
        assert response.ops == []


def test_the_store_log_lists_operations_in_call_order_then_forgets_them(refapp: StartApp) -> None:
    app = refapp(MINUTE)
    sid, cookie = app.new_session()
    app.get("/session", cookie=cookie)  # drains after itself
    app.get("/", cookie=cookie)
    app.get("/session", cookie=cookie)
    # Two requests without a drain in between (made with the raw client).
    app.raw("GET", "/", cookie, ())
    app.raw("POST", "/session/destroy", cookie, ())
    assert app.drain() == [("get", sid), ("set", sid), ("get", sid), ("destroy", sid)]
    assert app.drain() == []


# -- refusing to start -----------------------------------------------------------------


BAD_STARTS: dict[str, list[str]] = {
    "no-config": [],
    "not-json": ["--config", "{secret:"],
    "not-an-object": ["--config", "[]"],
    "no-secret": ["--config", "{}"],
    "empty-secret": ["--config", '{"secret": ""}'],
    "empty-secret-list": ["--config", '{"secret": []}'],
    "unknown-key": ["--config", json.dumps({"secret": SECRET, "sekret": "x"})],
    "unknown-cookie-key": ["--config", json.dumps({"secret": SECRET, "cookie": {"maxAge": 60}})],
    "bad-bool": ["--config", json.dumps({"secret": SECRET, "resave": "yes"})],
    "bad-unset": ["--config", json.dumps({"secret": SECRET, "unset": "bogus"})],
    "bad-same-site": ["--config", json.dumps({"secret": SECRET, "cookie": {"same_site": "sometimes"}})],
    "negative-max-age": ["--config", json.dumps({"secret": SECRET, "cookie": {"max_age": -1}})],
    "bad-name": ["--config", json.dumps({"secret": SECRET, "name": "bad name"})],
    "semicolon-in-path": ["--config", json.dumps({"secret": SECRET, "cookie": {"path": "/a;b"}})],
    "bad-store": ["--config", json.dumps({"secret": SECRET}), "--store", "ftp://example.invalid/x"],
    "bad-port": ["--config", json.dumps({"secret": SECRET}), "--port", "99999"],
}


@pytest.fixture(scope="module")
def bad_starts(driver_module: str) -> Iterator[dict[str, tuple[int | None, str, str]]]:
    # All of them at once: each is a whole interpreter start.
    procs = {
        name: subprocess.Popen(
            app_command(driver_module, ["--port", "0", *args]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in BAD_STARTS.items()
    }
    results: dict[str, tuple[int | None, str, str]] = {}
    try:
        for name, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            results[name] = (proc.returncode, out, err)
        yield results
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("case", list(BAD_STARTS))
def test_a_bad_start_exits_2_with_one_line_on_stderr(
    bad_starts: dict[str, tuple[int | None, str, str]], case: str
) -> None:
    status, out, err = bad_starts[case]
    assert "listening on" not in out
    assert status == 2, (status, err[-500:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"stderr is not one line: {err[-500:]!r}"


# -- store failures ----------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_store_failure_is_a_500_and_the_app_goes_on_serving(refapp: StartApp) -> None:
    app = refapp(MINUTE, store_url=f"redis://127.0.0.1:{_closed_port()}/9")
    sid = "A" * 32
    # The end-of-request save fails: the response is buffered, so it is a 500.
    response = app.get("/")
    assert response.status == 500
    assert response.content_type.startswith("text/plain")
    assert response.cookie is None
    assert [op for op, _ in response.ops] == ["set"]
    # The load fails.
    response = app.get("/session", cookie=app.cookie_for(sid))
    assert (response.status, response.ops, response.cookie) == (500, [("get", sid)], None)
    # An explicit save and a reload fail inside the handler.
    for verb in ("save", "reload"):
        response = app.post(f"/session/{verb}")
        assert response.status == 500, verb
        assert [op for op, _ in response.ops] == [{"save": "set", "reload": "get"}[verb]]
    # Requests that need no store are served as ever.
    assert app.get("/noop").status == 200
    assert app.get("/session").status == 200


def test_on_store_failure_continue_goes_on_without_a_session(refapp: StartApp) -> None:
    app = refapp(
        {"on_store_failure": "continue", **MINUTE}, store_url=f"redis://127.0.0.1:{_closed_port()}/9"
    )
    sid = "B" * 32
    cookie = app.cookie_for(sid)
    response = app.get("/session", cookie=cookie)
    assert response.status == 200
    assert response.json()["id"] is None
    assert response.ops == [("get", sid)]
    assert response.set_cookies == []  # the client's cookie is left alone
    page = app.get("/", cookie=cookie)
    assert (page.status, page.ops) == (200, [("get", sid)])
    assert "views: 0" in page.text


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port: int = sock.getsockname()[1]
        yield port


def test_a_store_call_that_never_returns_times_out_as_a_500(refapp: StartApp, silent_server: int) -> None:
    app = refapp({"store_timeout": 0.5, **MINUTE}, store_url=f"redis://127.0.0.1:{silent_server}/9")
    response = app.get("/")
    assert response.status == 500
    assert response.cookie is None
    assert [op for op, _ in response.ops] == ["set"]
    assert app.get("/noop").status == 200
