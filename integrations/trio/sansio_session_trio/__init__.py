"""Server-side sessions for trio and h11.

Two ways in: :func:`serve` is a small embeddable HTTP/1.1 server on
``trio.serve_tcp``, and :func:`with_sessions` gives its handlers a session;
:class:`Sessions` adds sessions to an h11 loop of your own (its module,
``sansio_session_trio._h11``, shows the few lines that takes).
"""

# This module only re-exports; each name lives in the private module that
# owns it.
from __future__ import annotations

from ._h11 import RequestSession, Sessions
from ._handler import SessionHandler, with_sessions
from ._http import Handler, Request, Response
from ._server import Limits, serve, serve_connection

__version__ = "0.1.0"

__all__ = [
    "Handler",
    "Limits",
    "Request",
    "RequestSession",
    "Response",
    "SessionHandler",
    "Sessions",
    "serve",
    "serve_connection",
    "with_sessions",
]
