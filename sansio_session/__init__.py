# sansio-session: server-side sessions as a sans-IO state machine.
#
# This module only re-exports; each name lives in the private module that
# owns it. Only what docs/api.rst documents is public.
from __future__ import annotations

from ._actions import Action, Destroy, Load, Save, SetCookie, Touch
from ._cookie import MAX_COOKIE_HEADER, find_cookie, http_date, parse_cookie_header, serialize_set_cookie
from ._errors import ConfigError, SerializationError, SessionError, StoreError, UsageError
from ._machine import Executor, SessionMachine
from ._options import CookieOptions, SessionOptions, default_genid, is_default_shaped_id
from ._record import SessionCookie
from ._session import Session
from ._signing import sign, unsign
from ._state import Call, Phase
from ._store import BROWSER_SESSION_TTL, Conflict, Store, StoredRecord
from .memory import MemoryStore

__version__ = "0.1.0"

__all__ = [
    "Action",
    "BROWSER_SESSION_TTL",
    "Call",
    "ConfigError",
    "Conflict",
    "CookieOptions",
    "Destroy",
    "Executor",
    "Load",
    "MAX_COOKIE_HEADER",
    "MemoryStore",
    "Phase",
    "Save",
    "SerializationError",
    "Session",
    "SessionCookie",
    "SessionError",
    "SessionMachine",
    "SessionOptions",
    "SetCookie",
    "Store",
    "StoreError",
    "StoredRecord",
    "Touch",
    "UsageError",
    "default_genid",
    "is_default_shaped_id",
    "find_cookie",
    "http_date",
    "parse_cookie_header",
    "serialize_set_cookie",
    "sign",
    "unsign",
]
