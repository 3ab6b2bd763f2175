"""A TCP proxy that drops its first connection midway, as a network would."""

from __future__ import annotations

import socket
import struct
import threading
from typing import List, Tuple


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
    are relayed whole.
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
        self._closed = False
        self._socks: List[socket.socket] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.addr = "127.0.0.1:%d" % self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            socks = list(self._socks)
        self._listener.close()
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
        self._thread.join(timeout=10)

    def __enter__(self) -> "CuttingProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                if self._closed:
                    conn.close()
                    return
                if not self._armed and self.refused < self.refuse:
                    self.refused += 1
                    _reset(conn)
                    continue
                cut = self._armed
                self._armed = False
            try:
                up = socket.create_connection(self.upstream, timeout=30)
                up.settimeout(None)
            except OSError:
                _reset(conn)
                continue
            with self._lock:
                self._socks += [conn, up]
            state = {"relayed": 0, "done": False}
            threading.Thread(target=self._pump, args=(conn, up, None, state), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, conn, cut, state), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, cut, state) -> None:
        """_pump copies src to dst; with cut (the upstream to client side of
        the connection to drop) it resets both after cut_after bytes."""
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                if cut:
                    room = self.cut_after - state["relayed"]
                    if len(data) >= room:
                        dst.sendall(data[: max(room, 0)])
                        with self._lock:
                            self.cuts += 1
                        break
                    state["relayed"] += len(data)
                dst.sendall(data)
        except OSError:
            pass
        if not state["done"]:
            state["done"] = True
            _reset(src) if cut else src.close()
            _reset(dst) if cut else dst.close()
