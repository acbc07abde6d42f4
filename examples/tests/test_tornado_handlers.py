# Testing Tornado handlers that use sessions, with Tornado's own test case.
#
# The test logs a user in by storing a session for them (no login form), sends
# its cookie, and reads back through the store what a request changed.
from __future__ import annotations

from tornado.testing import AsyncHTTPTestCase
from tornado.web import Application, HTTPError, RequestHandler

from sansio_session import MemoryStore, Session, SessionOptions
from sansio_session.testing import create_session, read_session
from sansio_session_tornado import SessionMixin

OPTIONS = SessionOptions(secret="a test secret, long enough for no warning")


class Base(SessionMixin, RequestHandler):
    def user_session(self) -> Session:
        session = self.session
        if session is None or "user" not in session:
            raise HTTPError(401)
        return session


class Profile(Base):
    def get(self) -> None:
        session = self.user_session()
        self.write({"user": session["user"], "theme": session.get("theme", "light")})


class Theme(Base):
    def post(self) -> None:
        self.user_session()["theme"] = self.get_body_argument("theme")
        self.write({"ok": True})


class ProfileTest(AsyncHTTPTestCase):
    def get_app(self) -> Application:
        self.store = MemoryStore()
        return Application(
            [(r"/profile", Profile), (r"/theme", Theme)],
            session_options=OPTIONS,
            session_store=self.store,
        )

    def test_a_logged_in_user_sees_their_profile(self) -> None:
        alice = create_session(self.store, OPTIONS, {"user": "alice"})
        response = self.fetch("/profile", headers={"Cookie": alice.cookie_header})
        assert response.code == 200
        assert response.body == b'{"user": "alice", "theme": "light"}'

    def test_without_the_cookie_there_is_no_user(self) -> None:
        assert self.fetch("/profile").code == 401

    def test_a_change_is_saved(self) -> None:
        alice = create_session(self.store, OPTIONS, {"user": "alice"})
        response = self.fetch(
            "/theme", method="POST", body="theme=dark", headers={"Cookie": alice.cookie_header}
        )
        assert response.code == 200
        assert read_session(self.store, OPTIONS, alice.cookie_header) == {"user": "alice", "theme": "dark"}
