# The exceptions of sansio-session, all under one base class.
#
# As in h11, we separate what the caller did wrong (UsageError: a call out of
# order, the machine is now unusable) from what the world did (StoreError: a
# store call failed) and from bad configuration (ConfigError, raised once at
# start-up, with a one-line message that names the option).
from __future__ import annotations

__all__ = ["SessionError", "UsageError", "ConfigError", "StoreError", "SerializationError"]


class SessionError(Exception):
    """The base class of every error this library raises."""


class UsageError(SessionError):
    """A machine or session method was called when it is not allowed.

    The machine that raised it moves to its ``ERROR`` phase and refuses
    every further call.
    """


class ConfigError(SessionError, ValueError):
    """An option has a bad value. The message is one line and names it."""


class StoreError(SessionError):
    """A store operation failed, or its result was unusable.

    ``reason`` is a short text safe to show to a client (it never carries the
    store's own message, which may hold addresses or credentials).
    """

    def __init__(self, message: str, *, reason: str = "session store unavailable") -> None:
        super().__init__(message)
        self.reason = reason


class SerializationError(SessionError, TypeError):
    """A session value cannot be stored as JSON. The message names its key."""
