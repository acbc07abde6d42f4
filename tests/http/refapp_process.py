# Starting and stopping one reference app, `python -m sansio_session_<x>`, as
# the contract describes it: flags in, one `listening on http://HOST:PORT`
# line out (flushed by the app: we set no PYTHONUNBUFFERED), stopped by its
# PID. The pool keeps the apps the tests asked for running, keyed by
# (module, store URL, config), so a suite of hundreds of requests starts
# each configuration once.
from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = ["AppProcess", "AppPool", "StartFailed", "run_to_exit", "START_TIMEOUT"]

#: Seconds an app may take to print its listening line.
START_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0
_LISTENING = re.compile(r"listening on http://(\[[0-9a-fA-F:.]+\]|[^\s:/]+):(\d+)\Z")


class StartFailed(Exception):
    """The app exited, or never said it was listening."""


@dataclass
class AppProcess:
    proc: subprocess.Popen[str]
    host: str
    port: int
    #: What was started, for messages: module, store and config.
    label: str = ""
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(_STOP_TIMEOUT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def stderr_text(self) -> str:
        return "".join(self.stderr)


def _pump(stream: IO[str], sink: queue.Queue[str | None] | deque[str]) -> None:
    try:
        for line in stream:
            if isinstance(sink, deque):
                sink.append(line)
            else:
                sink.put(line)
    except ValueError:
        pass  # closed by stop()
    if not isinstance(sink, deque):
        sink.put(None)


def app_command(module: str, args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", module, *args]


def start_app(module: str, *, store_url: str, config: dict[str, Any]) -> AppProcess:
    """Start an app on a free port and wait for its listening line."""
    command = app_command(
        module,
        [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--store-log",
            "--store",
            store_url,
            "--config",
            json.dumps(config),
        ],
    )
    proc = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: queue.Queue[str | None] = queue.Queue()
    app = AppProcess(proc, "", 0, f"{module} --store {store_url} --config {json.dumps(config)}")
    threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
    errors = threading.Thread(target=_pump, args=(proc.stderr, app.stderr), daemon=True)
    errors.start()
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=START_TIMEOUT)
            if line is None:
                proc.wait(_STOP_TIMEOUT)
                errors.join(_STOP_TIMEOUT)
                raise StartFailed(_describe(module, proc.returncode, app))
            match = _LISTENING.match(line.rstrip("\r\n"))
            if match:
                app.host = match.group(1).strip("[]")
                app.port = int(match.group(2))
                break
            seen.append(line)
    except queue.Empty:
        app.stop()
        raise StartFailed(
            f"{module} printed no listening line within {START_TIMEOUT:.0f} s; "
            f"stdout {''.join(seen)[-300:]!r}, stderr {app.stderr_text()[-300:]!r}"
        ) from None
    except BaseException:
        app.stop()
        raise
    # Keep reading stdout so that an app that logs requests never blocks.
    threading.Thread(target=_drain, args=(lines,), daemon=True).start()
    return app


def _drain(lines: queue.Queue[str | None]) -> None:
    while lines.get() is not None:
        pass


def _describe(module: str, status: int | None, app: AppProcess) -> str:
    last = (app.stderr_text().strip().splitlines() or ["(nothing on stderr)"])[-1]
    return f"{module} exited with status {status} at start: {last[:300]}"


def run_to_exit(module: str, args: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run an app that should refuse to start; return how it ended."""
    return subprocess.run(
        app_command(module, args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class AppPool:
    """Running apps, reused across tests, at most ``size`` at a time."""

    def __init__(self, size: int = 10) -> None:
        self.size = size
        self._apps: OrderedDict[tuple[str, str, str], AppProcess] = OrderedDict()
        self._failures: dict[tuple[str, str, str], str] = {}

    def get(self, module: str, store_url: str, config: dict[str, Any]) -> AppProcess:
        key = (module, store_url, json.dumps(config, sort_keys=True))
        if key in self._failures:
            raise StartFailed(self._failures[key])
        app = self._apps.get(key)
        if app is not None and app.alive:
            self._apps.move_to_end(key)
            return app
        if app is not None:
            del self._apps[key]  # it died under an earlier test; start afresh
        while len(self._apps) >= self.size:
            _, oldest = self._apps.popitem(last=False)
            oldest.stop()
        try:
            app = start_app(module, store_url=store_url, config=config)
        except StartFailed as exc:
            self._failures[key] = str(exc)
            raise
        self._apps[key] = app
        return app

    def close(self) -> None:
        while self._apps:
            _, app = self._apps.popitem()
            app.stop()
