"""A TCP proxy a test can cut: it stands in front of a real server (the shared PostgreSQL)
so that a test can make that server unreachable, as a failover or an outage would, without
stopping it for everyone else, and make it reachable again on the same address; and so that a
test can count the round trips a client makes to it."""

from __future__ import annotations

import socket
import threading
from types import TracebackType

from rhone.launcher import free_port


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target` while up. `down()` closes the listener and every
    forwarded connection (clients see their connections drop and new ones refused); `up()`
    listens again on the same port. `round_trips` counts the times a client spoke after its
    server (or first): the requests it had to wait for an answer to before sending the next,
    however many messages each held or however the network cut them."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self.round_trips = 0

    def __enter__(self) -> TcpProxy:
        self.up()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone may not.
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._sockets |= {client, server}
            # Who of the two spoke last on this connection.
            last: list[socket.socket | None] = [None]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pump, args=(source, sink, source is client, last), daemon=True
                ).start()

    def _pump(
        self,
        source: socket.socket,
        sink: socket.socket,
        from_client: bool,
        last: list[socket.socket | None],
    ) -> None:
        try:
            while data := source.recv(65536):
                # Before passing it on: the other side may answer before this thread runs again.
                with self._lock:
                    if from_client and last[0] is not source:
                        self.round_trips += 1
                    last[0] = source
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
