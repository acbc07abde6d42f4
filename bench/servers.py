# The servers under test: which apps there are, how each is started, pinned,
# made ready, asked for a session cookie, measured for CPU time and stopped.
#
# Every server is one process pinned to one CPU (wrk gets the other), so a
# measurement is one core's worth of server. Each is stopped by its own PID.
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from prereqs import node_peer, python_peer

BENCH = Path(__file__).resolve().parent
APPS = BENCH / "apps"
ROOT = BENCH.parent
# Another site's cookies, sent in every shape to every server: a parse has to
# get past them to the session's (shape a has only these).
OTHER_COOKIES = "_ga=GA1.2.1234567890.1234567890; theme=dark"
SHAPES = {"a": "/ignore", "b": "/read", "c": "/write"}


@dataclass(frozen=True)
class Framework:
    key: str
    label: str
    argv: tuple[str, ...]
    #: "bare" and the session variants: ours run "memory" and "redis",
    #: a peer runs its own sessions as "sessions".
    variants: tuple[str, ...]
    ours: bool
    missing: str | None = None

    def command(self, variant: str, port: int, redis_url: str, prefix: str) -> list[str]:
        sessions = {"bare": "none", "sessions": "memory"}.get(variant, variant)
        argv = [*self.argv, "--port", str(port), "--sessions", sessions]
        if variant == "redis":
            argv += ["--redis-url", redis_url, "--prefix", prefix]
        return argv


def frameworks(*, with_serve: bool) -> list[Framework]:
    """Our drivers, then the peers; a peer that cannot run says why."""
    py = sys.executable
    ours = ("bare", "memory", "redis")
    found = [
        Framework("tornado", "Tornado", (py, str(APPS / "tornado_hello.py")), ours, True),
        Framework("twisted", "Twisted", (py, str(APPS / "twisted_hello.py")), ours, True),
        Framework("trio", "trio + h11", (py, str(APPS / "trio_hello.py"), "--server", "h11"), ours, True),
    ]
    if with_serve:
        argv = (py, str(APPS / "trio_hello.py"), "--server", "serve")
        found.append(Framework("trio-serve", "trio serve()", argv, ours, True))
    peers = ("bare", "sessions")
    found += [
        Framework(
            "starlette",
            "Starlette SessionMiddleware",
            (py, str(APPS / "starlette_hello.py")),
            peers,
            False,
            python_peer("uvicorn", "starlette", "itsdangerous"),
        ),
        Framework(
            "aiohttp",
            "aiohttp-session",
            (py, str(APPS / "aiohttp_hello.py")),
            peers,
            False,
            python_peer("aiohttp", "aiohttp_session", "cryptography"),
        ),
        Framework(
            "express", "express-session", ("node", str(BENCH / "node" / "app.js")), peers, False, node_peer()
        ),
    ]
    return found


def redis_reason(url: str) -> str | None:
    """None when the Redis at ``url`` answers, else why the Redis rows are skipped."""
    try:
        import redis
    except ImportError:
        return "redis-py is missing: pip install -e '.[bench]'"
    try:
        client = redis.Redis.from_url(url, socket_timeout=2)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        return f"Redis at {url} does not answer: {exc}"
    return None


def clean_redis(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


def cookie_headers(sessions: list[str], shape: str) -> list[str]:
    """The Cookie headers for a shape: other cookies alone for (a), else with each session's."""
    if shape == "a":
        return [OTHER_COOKIES]
    return [f"{OTHER_COOKIES}; {cookie}" for cookie in sessions]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """One process of one framework's variant."""

    argv: list[str]
    port: int
    cpu: int | None = 1
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log: Path = field(default=Path(os.devnull), repr=False)

    def start(self, logs: Path) -> None:
        argv = self.argv if self.cpu is None else ["taskset", "-c", str(self.cpu), *self.argv]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(APPS), str(ROOT)])}
        # Output to a file, never a pipe: a server that logs per request
        # would block once a pipe nobody reads is full.
        self.log = logs / f"{Path(self.argv[1]).stem}-{self.port}.log"
        with self.log.open("w") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while "ready\n" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{' '.join(self.argv)} did not start: {self.log.read_text()[-500:]}")
            time.sleep(0.05)
        # "ready" can come just before the socket listens (aiohttp's startup hook).
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{' '.join(self.argv)} does not accept connections")

    def get(self, path: str, cookie: str | None = None) -> http.client.HTTPResponse:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        response.read()
        conn.close()
        return response

    def login(self) -> str:
        """A cookie naming a session that holds two keys (the first Set-Cookie's name=value)."""
        response = self.get("/login")
        value = response.getheader("Set-Cookie")
        if response.status != 200 or not value:
            raise RuntimeError(f"{self.argv[1]} /login gave {response.status} and no cookie")
        return value.split(";", 1)[0]

    def cpu_seconds(self) -> float:
        """CPU time of all the process's threads so far (schedstat, in ns)."""
        total = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError):
                continue  # a thread that just ended
        return total / 1e9

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_all(servers: list[Server], logs: Path) -> None:
    """Start every server at once, then wait for each."""
    try:
        for server in servers:
            server.start(logs)
        for server in servers:
            server.wait_ready()
    except BaseException:
        for server in servers:
            server.stop()
        raise
