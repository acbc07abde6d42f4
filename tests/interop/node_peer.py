# The Node peer of the interop tests: a real express-session + connect-redis
# app (node/app.js) that a test starts next to one of our reference apps, on
# the same Redis with the same secret, to show that each side reads and
# changes the sessions the other wrote.
#
# Its npm packages are installed from node/package-lock.json the first time a
# test asks for the peer. Without node and npm, or when the install fails, the
# test is skipped with the reason, except under CI=true, where it fails: CI
# must run the interop tests, not quietly skip them.
from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, NoReturn

import pytest

__all__ = ["NODE_DIR", "NodePeerError", "ensure_node_modules", "node_app"]

#: The folder of the Node app, its package.json and its lockfile.
NODE_DIR = Path(__file__).resolve().parent / "node"

# connect-redis 9 needs the `redis` client 5, whose engines field asks for this.
_MIN_NODE = (18, 19)
_INSTALL_TIMEOUT = 600.0
_START_TIMEOUT = 20.0
_STOP_TIMEOUT = 10.0
# Written into node_modules/ after a good install, so that later runs on the
# same tree skip `npm ci` while package.json and the lockfile are unchanged.
_STAMP = ".installed-from"


class NodePeerError(RuntimeError):
    """The Node peer did not start."""


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Node peer needed under CI but unavailable: {reason}")
    pytest.skip(f"Node peer unavailable: {reason}")


def _manifest_digest() -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        path = NODE_DIR / name
        digest.update(name.encode())
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def _node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        return tuple(int(part) for part in out.strip().lstrip("v").split(".")[:2])
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _install() -> str | None:
    """Install the packages; return the reason it cannot be done, or None."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        return "node and npm are not both on PATH"
    version = _node_version(node)
    if version is None or version < _MIN_NODE:
        wanted = ".".join(map(str, _MIN_NODE))
        return f"node {wanted} or newer is needed (found {version})"

    stamp = NODE_DIR / "node_modules" / _STAMP
    digest = _manifest_digest()
    if stamp.exists() and stamp.read_text() == digest:
        return None

    # `npm ci` installs exactly the lockfile; `npm install` writes one when
    # there is none yet. No package here needs an install script.
    verb = "ci" if (NODE_DIR / "package-lock.json").exists() else "install"
    command = [npm, verb, "--ignore-scripts", "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(
            command,
            cwd=NODE_DIR,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`npm {verb}` did not finish in {_INSTALL_TIMEOUT:.0f} s"
    except OSError as exc:
        return f"`npm {verb}` could not run: {exc}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return f"`npm {verb}` exited {done.returncode}: " + " | ".join(tail)
    stamp.write_text(_manifest_digest())
    return None


_install_lock = threading.Lock()
_install_outcome: list[str | None] = []


def ensure_node_modules() -> None:
    """Install the Node peer's packages, once per test run.

    Skips the calling test when node or npm is missing or the install fails
    (fails it instead when the environment has ``CI=true``).
    """
    with _install_lock:
        if not _install_outcome:
            _install_outcome.append(_install())
    reason = _install_outcome[0]
    if reason is not None:
        _unavailable(reason)


def _drain(stream: IO[str], first_line: queue.Queue[str | None]) -> None:
    # The first line is the one we wait for (None: the peer closed stdout
    # without one); the rest is read only so the peer never blocks on a pipe.
    first_line.put(stream.readline() or None)
    for _ in stream:
        pass


@contextmanager
def node_app(
    redis_url: str,
    secret: str | Sequence[str],
    *,
    max_age_ms: int | None = None,
    prefix: str = "sess:",
    name: str = "connect.sid",
) -> Iterator[str]:
    """Run the Node peer on an ephemeral port and yield its base URL.

    ``redis_url`` is ``redis://host:port/db``; ``secret`` is one secret or a
    list (the first signs, all verify); ``max_age_ms`` is the cookie's
    ``maxAge`` in milliseconds, None for a browser-session cookie (the
    contract's default). The peer uses ``resave: false``,
    ``saveUninitialized: false`` and ``sameSite: "lax"``, and stores each
    session under ``prefix + id`` as connect-redis does.

    Raises :class:`NodePeerError` if the peer does not report that it is
    listening within 20 seconds.
    """
    ensure_node_modules()
    node = shutil.which("node")
    assert node is not None  # ensure_node_modules() skipped otherwise
    secrets = [secret] if isinstance(secret, str) else list(secret)
    command = [
        node,
        str(NODE_DIR / "app.js"),
        "--port", "0",
        "--redis", redis_url,
        "--secret", json.dumps(secrets),
        "--max-age", "none" if max_age_ms is None else str(max_age_ms),
        "--prefix", prefix,
        "--name", name,
    ]  # fmt: skip
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errors:
        # The peer exits when its stdin closes, so it cannot outlive us even
        # if this process is killed before the finally below runs.
        proc = subprocess.Popen(
            command,
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
            encoding="utf-8",
        )
        assert proc.stdout is not None
        first_line: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_drain, args=(proc.stdout, first_line))
        reader.start()
        try:
            yield _wait_until_listening(proc, first_line, errors)
        finally:
            _stop(proc)
            reader.join()  # it ends at EOF, which the peer's exit gives
            proc.stdout.close()


def _wait_until_listening(
    proc: subprocess.Popen[str], first_line: queue.Queue[str | None], errors: IO[str]
) -> str:
    prefix = "listening on "
    try:
        line = first_line.get(timeout=_START_TIMEOUT)
    except queue.Empty:
        problem = f"no `{prefix.strip()}` line within {_START_TIMEOUT:.0f} s"
    else:
        if line is not None and line.startswith(prefix):
            return line[len(prefix) :].strip()
        problem = "it exited early" if line is None else f"it printed {line!r}"
    _stop(proc)
    errors.seek(0)
    raise NodePeerError(f"Node peer: {problem}; stderr: {errors.read().strip()!r}")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()  # SIGTERM to this PID: the peer closes and exits
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()
