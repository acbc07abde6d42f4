# Redis servers of the tests' own (on spare ports, no persistence, stopped by
# PID), a server that accepts and never answers, and raw commands for
# looking at what the store wrote, over a blocking socket and the store's
# own sans-IO protocol.
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from store_facades import service_unavailable

from sansio_session import StoreError
from sansio_session.redis import RedisProtocol, RedisURL, parse_redis_url

__all__ = ["OwnRedis", "mute_server", "raw", "tls_files"]


def raw(url: str | RedisURL, *command: Any) -> Any:
    """Run one command (after the URL's AUTH/SELECT); raise its error reply."""
    url = url if isinstance(url, RedisURL) else parse_redis_url(url)
    hello = url.hello()
    commands = [*(hello.commands if hello else ()), command]
    protocol = RedisProtocol()
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(protocol.send(commands, "raw"))
        while True:
            data = sock.recv(1 << 16)
            if not data:
                raise StoreError("redis closed the connection")
            for _, replies in protocol.receive(data):
                if isinstance(replies, StoreError):
                    raise replies
                for reply in replies:
                    if isinstance(reply, StoreError):
                        raise reply
                return replies[-1]


def _spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent(command: list[str]) -> list[str]:
    # On Linux, setpriv makes the server get SIGTERM when the test process
    # dies, even when it is killed outright, so no server outlives its run.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", *command] if setpriv else command


class OwnRedis:
    """A redis-server process of the test's own, on a spare port."""

    def __init__(self, *args: str, tls: bool = False) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            service_unavailable("redis-server is not installed")
        self.port = _spare_port()
        self.args = args
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by __exit__

    def url(self, auth: str = "", db: int = 0) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        port = ["--port", "0", "--tls-port", str(self.port)] if self.tls else ["--port", str(self.port)]
        command = [self.binary or "redis-server", *port, "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", *self.args]
        self.process = subprocess.Popen(_die_with_parent(command), stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.seek(0)
                lines = self._log.read().decode(errors="replace").strip().splitlines()
                raise RuntimeError(f"redis-server exited: {' / '.join(lines[-3:])}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not start listening")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> OwnRedis:
        try:
            self.start()
        except BaseException:
            self._log.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._log.close()


@contextmanager
def mute_server() -> Iterator[str]:
    """A redis:// URL whose server completes the TCP handshake and never answers.

    The kernel accepts connections into the listen backlog on its own, so no
    code ever reads or writes them.
    """
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}"


@contextmanager
def tls_files() -> Iterator[dict[str, Path]]:
    """A throwaway CA and a server certificate for 127.0.0.1, made by openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        service_unavailable("openssl is not installed: cannot make test certificates")
    with tempfile.TemporaryDirectory() as folder:
        where = Path(folder)
        ext = where / "san.cnf"
        ext.write_text("subjectAltName=IP:127.0.0.1\n")

        def run(*args: str) -> None:
            subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=test CA")
        run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
        run(
            "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.cnf",
        )  # fmt: skip
        yield {name: where / name for name in ("ca.crt", "server.crt", "server.key")}
