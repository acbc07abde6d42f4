# WebSocket handlers: the session is committed before the upgrade.
#
# Tornado's handshake sets status 101, calls finish() and detaches the stream
# at once, without waiting on what finish() returns; a deferred commit there
# would hang the handshake. So the commit runs in get(), before the
# handshake starts, and the cookie decision rides on the 101's headers like on
# any response's.
from __future__ import annotations

from typing import Any

from tornado.websocket import WebSocketHandler

from ._mixin import SessionMixin

__all__ = ["SessionWebSocketMixin"]


class SessionWebSocketMixin(SessionMixin, WebSocketHandler):
    """A WebSocketHandler with ``self.session``, whose handshake carries the cookie.

    The session is saved in ``get()`` before the upgrade: change it in
    ``prepare()`` or in ``get()`` before calling the parent's. Once the
    handshake has begun it is read-only, and nothing more is saved; read it
    there with ``session.to_dict()`` (the machine refuses to hand out a list
    or dict it could no longer save). A failed save answers the handshake
    with a 500.
    """

    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.commit_session()
        await super().get(*args, **kwargs)
