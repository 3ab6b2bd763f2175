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

    The first connection is reset on both sides once cut_after bytes went
    from upstream to the client; the refuse connections after it are reset
    as soon as they are accepted (a server that is still down); later ones
    are relayed whole. Each connection is relayed by one thread that owns
    both of its sockets, so that a close always reaches the peers at once.
    """

    def __init__(self, upstream: Tuple[str, int], cut_after: int, refuse: int = 0) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.refuse = refuse
        self.cuts = 0
        self.refused = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._armed = True
        self._closed = threading.Event()
        self._threads: List[threading.Thread] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.addr = "127.0.0.1:%d" % self._listener.getsockname()[1]
        self._spawn(self._accept)

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
                cut = self._armed
                self._armed = False
            try:
                up = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                _reset(conn)
                continue
            self._spawn(self._relay, conn, up, cut)

    def _relay(self, conn: socket.socket, up: socket.socket, cut: bool) -> None:
        """_relay copies both ways until either side closes or the proxy
        does; with cut it resets both sides after cut_after bytes from
        upstream."""
        relayed, reset = 0, False
        try:
            while not self._closed.is_set() and not reset:
                ready, _, _ = select.select([conn, up], [], [], _POLL)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    if src is conn:
                        up.sendall(data)
                        continue
                    if cut and relayed + len(data) >= self.cut_after:
                        conn.sendall(data[: self.cut_after - relayed])
                        with self._lock:
                            self.cuts += 1
                        reset = True
                        break
                    relayed += len(data)
                    conn.sendall(data)
        except OSError:
            pass
        finally:
            for s in (conn, up):
                _reset(s) if reset else s.close()
