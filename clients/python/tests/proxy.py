"""A TCP proxy that drops its first connection midway, as a network would."""

from __future__ import annotations

import select
import socket
import struct
import threading
from typing import List, Tuple


# _POLL is how often idle relays look whether the proxy was closed.
_POLL = 0.2


def _reset(sock: socket.socket) -> None:
    """_reset closes sock with a TCP RST rather than an orderly FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class CuttingProxy:
    """CuttingProxy relays loopback TCP connections to upstream.

    The first connection is dropped midway when drop is called (see
    _drop); until then it relays at most hold_after bytes from upstream to
    the client and holds the rest, so that the stream cannot end before
    the drop, however large the client's buffers. The refuse connections
    after it are reset as soon as they are accepted (a server that is still
    down); later ones are relayed whole.
    """

    def __init__(self, upstream: Tuple[str, int], hold_after: int, refuse: int = 0) -> None:
        self.upstream = upstream
        self.hold_after = hold_after
        self.refuse = refuse
        self.drops = 0
        self.refused = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._armed = True
        self._closed = threading.Event()
        self._drop_now = threading.Event()
        self._threads: List[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.addr = "127.0.0.1:%d" % self._listener.getsockname()[1]
        self._spawn(self._accept)

    def drop(self) -> None:
        """drop makes the first connection end at once (within _POLL)."""
        self._drop_now.set()

    def close(self) -> None:
        self._closed.set()
        for t in self._threads:
            t.join(timeout=30)
        self._listener.close()

    def __enter__(self) -> "CuttingProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spawn(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            ready, _, _ = select.select([self._listener], [], [], _POLL)
            if not ready:
                continue
            conn, _ = self._listener.accept()
            with self._lock:
                self.connections += 1
                if not self._armed and self.refused < self.refuse:
                    self.refused += 1
                    _reset(conn)
                    continue
                armed = self._armed
                self._armed = False
            try:
                up = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                _reset(conn)
                continue
            self._spawn(self._relay, conn, up, armed)

    def _relay(self, conn: socket.socket, up: socket.socket, armed: bool) -> None:
        """_relay copies both ways until either side closes or the proxy
        does; armed, it holds upstream's bytes after hold_after and drops
        the connection when drop is called."""
        relayed = 0
        try:
            while not self._closed.is_set():
                if armed and self._drop_now.is_set():
                    self._drop(conn, up)
                    return
                held = armed and relayed >= self.hold_after
                ready, _, _ = select.select([conn] if held else [conn, up], [], [], _POLL)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    if src is conn:
                        up.sendall(data)
                        continue
                    if armed:
                        data = data[: self.hold_after - relayed]
                    relayed += len(data)
                    conn.sendall(data)
        except OSError:
            pass
        finally:
            up.close()
            conn.close()

    def _drop(self, conn: socket.socket, up: socket.socket) -> None:
        """_drop ends a connection midway: the upstream gets a reset, the
        client the end of the stream right after the bytes relayed (its last
        frame cut short). A reset would make the client's kernel discard
        what its program had not read yet."""
        with self._lock:
            self.drops += 1
        _reset(up)
        conn.shutdown(socket.SHUT_WR)
        # Whatever the client still sends is read and dropped until it
        # closes: closing with unread data would reset the connection.
        while not self._closed.is_set():
            ready, _, _ = select.select([conn], [], [], _POLL)
            if ready and not conn.recv(65536):
                return
