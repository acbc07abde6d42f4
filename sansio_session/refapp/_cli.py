# The reference app's command line, shared by every driver:
#
#     python -m sansio_session_<x> [--host H] [--port P] [--store URL]
#                                  [--config JSON] [--store-log]
#
# A bad flag, a bad --config (unknown key, bad value, no secret) or a bad
# --store URL is refused with one line on stderr and exit status 2.
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from .._errors import ConfigError
from .._options import SessionOptions

__all__ = ["AppConfig", "parse_args", "listening_line"]


@dataclass(frozen=True, slots=True)
class AppConfig:
    host: str
    port: int
    store_url: str
    options: SessionOptions
    store_log: bool


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        _refuse(message)


def _refuse(message: str) -> NoReturn:
    sys.stderr.write(f"error: {message.splitlines()[0] if message else 'bad arguments'}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def parse_args(argv: Sequence[str] | None, prog: str) -> AppConfig:
    """Parse the flags; on any error print one line and exit with status 2."""
    parser = _Parser(prog=prog, description="The sansio-session reference app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--store", default="memory", help="memory, sqlite:///path, redis://host:port/db, ...")
    parser.add_argument("--config", default=None, help="a JSON object of session options")
    parser.add_argument(
        "--store-log", action="store_true", help="record store operations for GET /_store/log"
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        _refuse("--port must be between 0 and 65535")
    if args.config is None:
        _refuse('--config is required and must give a secret, e.g. --config \'{"secret": "..."}\'')
    try:
        config = json.loads(args.config)
    except ValueError as exc:
        _refuse(f"--config is not valid JSON: {exc}")
    try:
        options = SessionOptions.from_mapping(config)
    except ConfigError as exc:
        _refuse(f"--config: {exc}")
    except TypeError as exc:
        _refuse(f"--config: {exc}")
    try:
        from .._store_url import parse_store_url

        parse_store_url(args.store)
    except ConfigError as exc:
        _refuse(f"--store: {exc}")
    return AppConfig(args.host, args.port, args.store, options, args.store_log)


def listening_line(host: str, port: int) -> None:
    """Print the contract's readiness line and flush it."""
    shown = f"[{host}]" if ":" in host else host
    sys.stdout.write(f"listening on http://{shown}:{port}\n")
    sys.stdout.flush()
