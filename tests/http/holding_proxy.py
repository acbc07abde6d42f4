# A TCP proxy that can hold back one write on demand, to make a store call
# slow at a moment the test chooses.
#
# A reference app pointed at the proxy (--store redis://<proxy>/9, or a
# postgresql:// URL with the proxy's port) talks to the real server through
# it. Bytes pass through untouched until the test arms the proxy: then the
# first chunk a client sends that carries `marker` (a session record's
# opening, which only a save carries, never a load, touch or destroy) is
# held, with everything after it on that one connection, until the test
# releases it. Other connections go on meanwhile. The marker is looked for
# across chunk boundaries, so a record split over two reads is still caught
# (the bytes before the split go through, which delays the command as much).
from __future__ import annotations

import socket
import threading
from contextlib import suppress

__all__ = ["HoldingProxy"]

_CHUNK = 65536


class HoldingProxy:
    """Listens on 127.0.0.1 (``port``) and forwards to ``upstream``."""

    def __init__(self, upstream: tuple[str, int], marker: bytes) -> None:
        self.upstream = upstream
        self.marker = marker
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed = False
        self._held = threading.Event()
        self._released = threading.Event()
        self._released.set()
        self._sockets: list[socket.socket] = [self._listener]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self) -> None:
        """Hold the next client write that carries the marker."""
        with self._lock:
            self._released.clear()
            self._held.clear()
            self._armed = True

    def wait_held(self, timeout: float) -> bool:
        """True once a write is being held."""
        return self._held.wait(timeout)

    def release(self) -> None:
        """Let the held write (and whatever followed it) through."""
        with self._lock:
            self._armed = False
        self._released.set()

    def close(self) -> None:
        self.release()
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def __enter__(self) -> HoldingProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _track(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                sock.close()
                return False
            self._sockets.append(sock)
            return True

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            if not (self._track(client) and self._track(server)):
                return
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _should_hold(self, window: bytes) -> bool:
        with self._lock:
            if not self._armed or self.marker not in window:
                return False
            self._armed = False  # one write only: others pass
            self._held.set()
            return True

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        tail = b""
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                if from_client:
                    if self._should_hold(tail + data):
                        self._released.wait()
                    tail = data[-len(self.marker) :]
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # Pass the end on, so each side sees the other close.
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
