"""Sessions shared with a real Node app (express + express-session +
connect-redis) through one Redis, in both directions, for every driver's
reference app: same secret list, same cookie, same `sess:<id>` records."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from importlib.util import find_spec

import pytest
import test_node_peer as peer
from node_peer import node_app

pytestmark = [pytest.mark.services, pytest.mark.http]

DRIVERS = ["sansio_session_tornado", "sansio_session_twisted", "sansio_session_trio"]
CONFIG = {"secret": peer.SECRETS, "cookie": {"max_age": peer.MAX_AGE_MS // 1000}}
_LISTENING = re.compile(r"listening on (http://\S+)")


@pytest.fixture(scope="module")
def node_url() -> Iterator[str]:
    peer._connect().clean_up()  # skip (or fail under CI) without Redis
    with node_app(peer.REDIS_URL, peer.SECRETS, max_age_ms=peer.MAX_AGE_MS) as url:
        yield url


@pytest.fixture(scope="module", params=DRIVERS)
def python_url(request: pytest.FixtureRequest) -> Iterator[str]:
    module = request.param
    if find_spec(module) is None:
        reason = f"{module} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    command = [sys.executable, "-m", module, "--port", "0", "--store", peer.REDIS_URL]
    proc = subprocess.Popen([*command, "--config", json.dumps(CONFIG)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        match = _LISTENING.match(proc.stdout.readline().strip())
        assert match is not None, f"{module} did not start"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


def _data(view: dict[str, object]) -> object:
    return view["data"]


class _Browser(peer._Browser):
    # The peer's browser, for two apps: our app answers "application/json"
    # (no charset), and clears the cookie with an empty value on destroy.
    def request(self, method: str, target: str) -> tuple[int, str, str]:
        conn = http.client.HTTPConnection(*self._address, timeout=10)
        try:
            headers = {} if self.cookie is None else {"Cookie": f"{peer.COOKIE_NAME}={self.cookie}"}
            conn.request(method, target, headers=headers)
            response = conn.getresponse()
            body = response.read().decode()
        finally:
            conn.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name == peer.COOKIE_NAME:
                value = rest.split(";", 1)[0]
                self.cookie = value or None  # an empty value clears it
                if value:
                    self._redis.made.add(self.sid())
        return response.status, response.getheader("Content-Type", ""), body

    def view(self, method: str = "GET", target: str = "/session") -> dict[str, object]:
        status, content_type, body = self.request(method, target)
        assert status == 200 and content_type.startswith("application/json"), (status, body)
        view = json.loads(body)
        assert isinstance(view, dict)
        return view


def test_a_node_session_is_read_and_changed_by_our_app(
    node_url: str, python_url: str, redis: peer._Redis
) -> None:
    node = _Browser(node_url, redis)
    node.request("GET", "/")  # Node creates the session: views 1
    sid = node.sid()
    ours = _Browser(python_url, redis)
    ours.cookie = node.cookie
    view = ours.view()
    assert view["id"] == sid and _data(view) == {"views": 1}
    assert view["cookie"]["original_max_age"] == peer.MAX_AGE_MS // 1000  # type: ignore[index]
    ours.view("POST", "/session?from_python=yes")
    # Node reads what we wrote, under the same id, with its own data intact.
    back = node.view()
    assert back["id"] == sid and _data(back) == {"views": 1, "from_python": "yes"}
    record = json.loads(redis.record(sid) or "{}")
    assert list(record) == ["cookie", "views", "from_python"]


def test_our_session_is_read_and_changed_by_the_node_app(
    node_url: str, python_url: str, redis: peer._Redis
) -> None:
    ours = _Browser(python_url, redis)
    ours.view("POST", "/session?made_by=python")
    sid = ours.sid()
    node = _Browser(node_url, redis)
    node.cookie = ours.cookie
    view = node.view()
    assert view["id"] == sid and _data(view) == {"made_by": "python"}
    node.request("GET", "/")  # Node increments views in the same session
    again = ours.view()
    assert again["id"] == sid and _data(again) == {"made_by": "python", "views": 1}
    assert 0 < redis.ttl(sid) <= peer.MAX_AGE_MS // 1000


def test_a_destroy_on_one_side_ends_the_session_on_the_other(
    node_url: str, python_url: str, redis: peer._Redis
) -> None:
    node = _Browser(node_url, redis)
    node.request("GET", "/")
    sid = node.sid()
    ours = _Browser(python_url, redis)
    ours.cookie = node.cookie
    assert ours.view("POST", "/session/destroy") == {"id": None}
    assert redis.record(sid) is None
    view = node.view()  # the Node app, with the old cookie, finds nothing
    assert view["id"] != sid and _data(view) == {}


@pytest.fixture
def redis() -> Iterator[peer._Redis]:
    client = peer._connect()
    yield client
    client.clean_up()
