# sansio-session for Tornado: server-side sessions for RequestHandlers and
# WebSocket handlers. This module only re-exports.
from __future__ import annotations

from ._mixin import SessionMixin
from ._websocket import SessionWebSocketMixin

__version__ = "0.1.0"

__all__ = ["SessionMixin", "SessionWebSocketMixin"]
