# The reference app's routes, written once, framework-free.
#
# Every driver's `python -m sansio_session_<x>` wires this to its framework:
# it builds an AppRequest, runs its session machine, awaits App.handle() (the
# session intents return awaitables under every driver: coroutines under
# Tornado and trio, Deferreds under Twisted) and writes the AppResponse. The
# contract is ../shared/reference-app.md; keep the two in step.
from __future__ import annotations

import html
import inspect
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .._cookie import http_date
from .._errors import StoreError
from .._machine import SessionMachine
from .._session import Session
from ._store_log import StoreLog

__all__ = ["AppRequest", "AppResponse", "App", "STORE_LOG_PATH", "session_view", "EMPTY_VIEW"]

STORE_LOG_PATH = "/_store/log"

#: Query keys POST /session refuses: express-session's own property and method
#: names, and the prototype key.
RESERVED_KEYS = frozenset(
    ["id", "cookie", "req", "touch", "resetMaxAge", "save", "reload", "destroy", "regenerate", "__proto__"]
)

EMPTY_VIEW: dict[str, Any] = {
    "id": None,
    "data": {},
    "cookie": {"max_age": None, "original_max_age": None, "expires": None},
}


@dataclass(frozen=True, slots=True)
class AppRequest:
    method: str
    path: str
    #: The decoded query pairs, in order.
    query: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AppResponse:
    status: int
    content_type: str
    body: bytes

    @classmethod
    def json(cls, value: Any, status: int = 200) -> AppResponse:
        return cls(status, "application/json", json.dumps(value).encode())

    @classmethod
    def text(cls, text: str, status: int = 200) -> AppResponse:
        return cls(status, "text/plain; charset=utf-8", text.encode())


NOT_FOUND = AppResponse.text("not found", 404)


def _seconds(value: float | None) -> int | None:
    # "whole seconds, rounded to nearest" (halves away from zero's floor).
    return None if value is None else math.floor(value + 0.5)


def session_view(session: Session | None) -> dict[str, Any]:
    """The contract's session view: id, data without the cookie, cookie times."""
    if session is None:
        return EMPTY_VIEW
    cookie = session.cookie
    expires = cookie.expires
    return {
        "id": session.id,
        "data": session.to_dict(),
        "cookie": {
            "max_age": _seconds(cookie.max_age),
            "original_max_age": _seconds(cookie.original_max_age),
            "expires": None if expires is None else http_date(expires),
        },
    }


async def _wait(result: Any) -> Any:
    if inspect.isawaitable(result):
        return await result
    return result


#: How the app asks the driver for a store call beyond the session's own
#: (sessions_of, destroy_all): the method name and its arguments; the driver
#: runs it the way it runs every store call and the result is awaited.
StoreCall = Callable[..., Awaitable[Any]]


class App:
    """The reference app. ``store_log`` is None unless --store-log was given.

    ``call_store`` lets the log-out-everywhere routes reach the store; without
    it (or with a store that keeps no per-user index) they answer 404.
    """

    def __init__(self, *, store_log: StoreLog | None = None, call_store: StoreCall | None = None) -> None:
        self.store_log = store_log
        self.call_store = call_store

    def before_session(self, request: AppRequest) -> AppResponse | None:
        """The answer for requests handled before any session work, or None."""
        if request.path == STORE_LOG_PATH:
            if self.store_log is None or request.method != "GET":
                return NOT_FOUND
            return AppResponse(200, "application/json", self.store_log.drain_json())
        return None

    async def handle(self, request: AppRequest, machine: SessionMachine) -> AppResponse:
        """Run the route. A StoreError from an intent becomes a 500."""
        try:
            return await self._route(request, machine)
        except StoreError as exc:
            return AppResponse.text(exc.reason, 500)

    async def _route(self, request: AppRequest, machine: SessionMachine) -> AppResponse:
        method, path = request.method, request.path
        if method in ("GET", "HEAD") and path == "/noop":
            # The one route that never looks at the session.
            return AppResponse.text("ok")
        if path.startswith("/users/"):
            return await self._users(method, path)
        session = machine.session
        if method in ("GET", "HEAD"):
            if path == "/":
                views = 0
                if session is not None:
                    views = session.get("views", 0)
                    views = views + 1 if isinstance(views, int) and not isinstance(views, bool) else 1
                    session["views"] = views
                page = f"<!doctype html>\n<title>views</title>\n<p>views: {html.escape(str(views))}</p>\n"
                return AppResponse(200, "text/html; charset=utf-8", page.encode())
            if path == "/session":
                return AppResponse.json(session_view(session))
            return NOT_FOUND
        if method != "POST":
            return NOT_FOUND
        if path == "/session":
            return self._set_keys(request, session)
        if not path.startswith("/session/"):
            return NOT_FOUND
        verb = path[len("/session/") :]
        if verb in ("destroy", "unset"):
            if session is not None:
                if verb == "destroy":
                    await _wait(session.destroy())
                else:
                    session.unset()
            return AppResponse.json({"id": None})
        if verb == "cookie":
            return self._set_max_age(request, session)
        if verb == "bind":
            user = dict(request.query).get("user")
            if not user or len(user) > 256 or not user.isprintable():
                return AppResponse.text("user must be 1 to 256 printable characters", 400)
            if session is not None:
                session.bind(user)
            return AppResponse.json(session_view(session))
        if verb not in ("regenerate", "reload", "save", "touch"):
            return NOT_FOUND
        if session is not None:
            if verb == "regenerate":
                keep = dict(request.query).get("keep_data") in ("1", "true")
                await _wait(session.regenerate(keep_data=keep))
            elif verb == "reload":
                await _wait(session.reload())
            elif verb == "save":
                await _wait(session.save())
            else:
                session.touch()
        return AppResponse.json(session_view(machine.session))

    async def _users(self, method: str, path: str) -> AppResponse:
        # /users/U/sessions (GET) and /users/U/logout-everywhere (POST)
        user, _, verb = unquote(path[len("/users/") :]).rpartition("/")
        if self.call_store is None or not user:
            return NOT_FOUND
        if method in ("GET", "HEAD") and verb == "sessions":
            sessions = await self.call_store("sessions_of", user)
            return AppResponse.json({"sessions": list(sessions)})
        if method == "POST" and verb == "logout-everywhere":
            destroyed = await self.call_store("destroy_all", user)
            return AppResponse.json({"destroyed": destroyed})
        return NOT_FOUND

    def _set_keys(self, request: AppRequest, session: Session | None) -> AppResponse:
        for key, _ in request.query:
            if key in RESERVED_KEYS:
                return AppResponse.text(f"reserved key: {key[:64]}", 400)
        if session is not None:
            for key, value in request.query:
                session[key] = value
        return AppResponse.json(session_view(session))

    def _set_max_age(self, request: AppRequest, session: Session | None) -> AppResponse:
        raw = dict(request.query).get("max_age")
        if raw is None:
            return AppResponse.text("max_age is required", 400)
        if raw == "none":
            seconds: int | None = None
        elif raw.isascii() and raw.isdigit() and len(raw) <= 12:
            seconds = int(raw)
        else:
            return AppResponse.text("max_age must be a whole number of seconds >= 0, or none", 400)
        if session is not None:
            session.cookie.max_age = seconds
        return AppResponse.json(session_view(session))
