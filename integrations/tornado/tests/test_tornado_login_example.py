# examples/tornado_login.py, run as a user would: log in, see it, log out.
from __future__ import annotations

from pathlib import Path

from tornado_session_testing import SyncClient, running

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "tornado_login.py"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_log_in_see_the_session_log_out() -> None:
    with running([str(EXAMPLE), "--port", "0"]) as (_, url):
        client = SyncClient(url)
        assert client.request("GET", "/")[2] == b'{"user": null}'
        before = client.cookie  # None: an unmodified new session sets no cookie
        status, _, _ = client.request("POST", "/login", "user=alice&password=wrong", FORM)
        assert status == 403
        status, headers, body = client.request("POST", "/login", "user=alice&password=wonderland", FORM)
        assert (status, body) == (200, b'{"user": "alice"}')
        assert client.cookie is not None and client.cookie != before
        logged_in = client.cookie
        assert client.request("GET", "/")[2] == b'{"user": "alice"}'

        # Logging in again regenerates: the old id is gone from the store.
        client.request("POST", "/login", "user=bob&password=builder", FORM)
        assert client.cookie not in (None, logged_in)
        stale = SyncClient(url)
        stale.cookie = logged_in
        assert stale.request("GET", "/")[2] == b'{"user": null}'

        status, headers, body = client.request("POST", "/logout")
        assert (status, body) == (200, b'{"user": null}')
        assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in headers["set-cookie"][0]
        assert [client.cookie] == [None]  # expired by the logout
        assert client.request("GET", "/")[2] == b'{"user": null}'
