# A TCP proxy of the tests' own, in front of a real server (Redis,
# PostgreSQL), on a spare port of 127.0.0.1. A test points an app at the
# proxy and then does to the connection what a network can do to it:
#
#   cut()                 the server is gone: open connections are closed and
#                         new ones refused, until restore();
#   delay = seconds       every reply is held that long before it is passed on
#                         (a server slower than the app's store_timeout);
#   hold_after_reply()    the next reply is passed on, then nothing more from
#                         the app reaches the server until release() (so a test
#                         can let another client act in between, in order).
#
# Threads, one per direction of each connection, plus one that accepts; all
# of them are daemons and stop when the proxy is closed.
from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

__all__ = ["TcpProxy"]

_CHUNK = 1 << 16


class TcpProxy:
    """A cuttable, slowable TCP proxy to ``upstream``; use it as a context manager."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        #: Seconds each chunk from the server waits before it goes to the client.
        self.delay = 0.0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._closed = False
        # Cleared while requests are held; set, they flow.
        self._flowing = threading.Event()
        self._flowing.set()
        self._hold_next = False
        #: Set once hold_after_reply() has taken effect (the reply went on).
        self.holding = threading.Event()
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def restore(self) -> None:
        """Listen (again) on the proxy's port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.05)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Close every connection and stop listening: the server is unreachable."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            listener.close()
        for sock in sockets:
            _close(sock)

    def hold_after_reply(self) -> None:
        """Pass on the next chunk from the server, then hold the client's bytes."""
        with self._lock:
            self.holding.clear()
            self._hold_next = True

    def release(self) -> None:
        """Let held and later bytes from the client flow to the server again."""
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self.release()
        self.cut()

    def __enter__(self) -> TcpProxy:
        self.restore()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            with self._lock:
                if self._listener is not listener:
                    return
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    _close(client)
                    _close(server)
                    return
                self._open.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                hold = False
                if from_client:
                    self._flowing.wait()
                else:
                    if self.delay:
                        time.sleep(self.delay)
                    with self._lock:
                        hold, self._hold_next = self._hold_next, False
                    if hold:
                        # Closed before the reply goes out, so that nothing
                        # the client sends in answer to it can slip past.
                        self._flowing.clear()
                if self._closed:
                    break
                sink.sendall(data)
                if hold:
                    self.holding.set()
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected, or already shut
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
