"""Faults a test injects into the distributed deployment that killing a process cannot model.

:class:`StoreCut` is a TCP proxy on loopback in front of the object store: an Airflow connection whose
``endpoint_url`` is the proxy reaches the store through it, and the test can make the store stop
answering in the middle of a transfer (every open connection reset, new ones refused) and come back
later. Stopping moto itself would lose its in-memory buckets; the proxy keeps the store's state and still
gives the client exactly what a store that went away gives: a reset connection, then refused connects.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable

from tests.deploy.servers import LOOPBACK

_CHUNK = 64 * 1024


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a store whose process died leaves its clients."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class StoreCut:
    """A loopback proxy to ``target()`` (host, port), resolved when a client connects.

    :meth:`cut_after` arms the cut: once clients have sent ``nbytes`` more bytes through the proxy, every
    connection is reset and the listening socket closed (connects are refused) until :meth:`restore`.
    ``cut_happened`` is set when it fires; ``sent`` counts client bytes since the proxy started.
    """

    def __init__(self, target: Callable[[], tuple[str, int]]) -> None:
        self._target = target
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._cut_at: int | None = None
        self.sent = 0
        self.cut_happened = threading.Event()
        probe = socket.socket()
        probe.bind((LOOPBACK, 0))
        self.port: int = probe.getsockname()[1]
        probe.close()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the proxy."""
        return f"http://{LOOPBACK}:{self.port}"

    # -- control ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen (again) on the proxy's port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="store-cut").start()

    def cut_after(self, nbytes: int) -> None:
        """Cut once clients have sent ``nbytes`` more bytes."""
        with self._lock:
            self.cut_happened.clear()
            self._cut_at = self.sent + nbytes

    def cut(self) -> None:
        """Stop answering now: reset every open connection and refuse new ones."""
        with self._lock:
            self._cut_locked()

    def restore(self) -> None:
        """Answer again (after a cut)."""
        with self._lock:
            self._cut_at = None
            running = self._listener is not None
        if not running:
            self.start()

    def close(self) -> None:
        """Stop the proxy for good."""
        self.cut()

    # -- pumping ----------------------------------------------------------------------------------
    def _cut_locked(self) -> None:
        self._cut_at = None
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in list(self._open):
            _reset(sock)
        self._open.clear()
        self.cut_happened.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by a cut
            try:
                upstream = socket.create_connection(self._target(), timeout=10)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _reset(client)
                    _reset(upstream)
                    continue
                self._open.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(_CHUNK):
                if from_client:
                    with self._lock:
                        self.sent += len(data)
                        if self._cut_at is not None and self.sent >= self._cut_at:
                            self._cut_locked()
                            return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:  # one side ended: so does the other (a cut has closed both already)
                for sock in (source, sink):
                    if sock in self._open:
                        self._open.discard(sock)
                        with contextlib.suppress(OSError):
                            sock.close()
