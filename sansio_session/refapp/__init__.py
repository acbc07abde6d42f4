# The reference app of ../shared/reference-app.md, framework-free: routes,
# flags and store log. Each driver's __main__ only wires it to its framework.
from __future__ import annotations

from ._cli import AppConfig, listening_line, parse_args
from ._routes import EMPTY_VIEW, STORE_LOG_PATH, App, AppRequest, AppResponse, session_view
from ._store_log import LoggedStore, StoreLog

__all__ = [
    "App",
    "AppConfig",
    "AppRequest",
    "AppResponse",
    "EMPTY_VIEW",
    "LoggedStore",
    "STORE_LOG_PATH",
    "StoreLog",
    "listening_line",
    "parse_args",
    "session_view",
]
