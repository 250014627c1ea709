"""Backend servers on loopback that say who they are, and clients that ask through a VIP.

Traffic tests need to know which member answered. Every backend replies to a request line
``PAYLOAD`` with ``NAME PAYLOAD`` (TCP: one line per connection; UDP: one datagram per
datagram), so ``send_tcp``/``send_udp`` return the reply and ``distribution`` counts names.
A TCP backend also answers an HTTP ``GET``/``HEAD`` with ``200`` and its name as the body, so
HTTP health monitors and HTTP listeners work against it. A TCP probe that connects and closes
without sending gets nothing back and does no harm.

Requests are lines rather than "read until the client half-closes" so that a proxy in the
middle that does not forward half-close (a simple emulator) still works.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections import Counter
from typing import Any, Self

MAX_REQUEST = 65536
HTTP_METHODS = (b"GET ", b"HEAD ")


def _check_name(name: str) -> str:
    if not name or any(c.isspace() for c in name):
        raise ValueError(f"backend name must be one word: {name!r}")
    return name


class _Backend:
    """Start/stop/restart around a socketserver running in a daemon thread."""

    server_class: type[socketserver.BaseServer]

    def __init__(self, ip: str, port: int, name: str) -> None:
        self.ip = ip
        self.port = port
        self.name = _check_name(name)
        self.requests = 0
        self.peers: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._server: socketserver.BaseServer | None = None
        self._thread: threading.Thread | None = None

    def _handler(self) -> type[socketserver.BaseRequestHandler]:
        raise NotImplementedError

    def record(self, peer: tuple[str, int]) -> None:
        with self._lock:
            self.requests += 1
            self.peers.append((peer[0], peer[1]))

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = self.server_class((self.ip, self.port), self._handler())
        server.backend = self  # type: ignore[attr-defined]
        if self.port == 0:
            self.port = int(server.server_address[1])  # type: ignore[index]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"backend-{self.name}")
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.ip}:{self.port}, {self.name!r})"


class _ReusableThreadingTCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _ReusableThreadingUDPServer(socketserver.ThreadingUDPServer):
    allow_reuse_address = True
    daemon_threads = True


class TcpBackend(_Backend):
    """Answers one request line per connection with ``NAME PAYLOAD`` (or HTTP 200)."""

    server_class = _ReusableThreadingTCPServer

    def _handler(self) -> type[socketserver.BaseRequestHandler]:
        class Handler(socketserver.StreamRequestHandler):
            timeout = 5

            def handle(self) -> None:
                backend: TcpBackend = self.server.backend  # type: ignore[attr-defined]
                try:
                    line = self.rfile.readline(MAX_REQUEST)
                except OSError:
                    return
                if not line:
                    return  # a connect-only probe
                backend.record(self.client_address)
                if line.startswith(HTTP_METHODS):
                    body = backend.name.encode() + b"\n"
                    head = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                            b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                            b"Connection: close\r\n\r\n")
                    self.wfile.write(head + (b"" if line.startswith(b"HEAD ") else body))
                    return
                payload = line.rstrip(b"\r\n")
                self.wfile.write(backend.name.encode() + b" " + payload + b"\n")

        return Handler


class UdpBackend(_Backend):
    """Answers every datagram ``PAYLOAD`` with a datagram ``NAME PAYLOAD``."""

    server_class = _ReusableThreadingUDPServer

    def _handler(self) -> type[socketserver.BaseRequestHandler]:
        class Handler(socketserver.DatagramRequestHandler):
            def handle(self) -> None:
                backend: UdpBackend = self.server.backend  # type: ignore[attr-defined]
                backend.record(self.client_address)
                payload = self.rfile.read(MAX_REQUEST).rstrip(b"\r\n")
                self.wfile.write(backend.name.encode() + b" " + payload)

        return Handler


def _client_socket(kind: int, source_ip: str | None, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.settimeout(timeout)
    if source_ip is not None:
        sock.bind((source_ip, 0))
    return sock


def send_tcp(vip: str, port: int, payload: str = "ping", source_ip: str | None = None,
             timeout: float = 5.0) -> str:
    """Open a connection to vip:port, send one line, return the reply line (``NAME PAYLOAD``).

    Raises ``OSError`` (refused, reset, timeout) when nothing answers.
    """
    if "\n" in payload:
        raise ValueError("payload must be one line")
    with _client_socket(socket.SOCK_STREAM, source_ip, timeout) as sock:
        sock.connect((vip, port))
        sock.sendall(payload.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(MAX_REQUEST)
            if not chunk:
                break
            reply += chunk
    if not reply:
        raise ConnectionResetError(f"{vip}:{port} closed without a reply")
    return reply.decode().rstrip("\n")


def send_udp(vip: str, port: int, payload: str = "ping", source_ip: str | None = None,
             timeout: float = 2.0) -> str:
    """Send one datagram to vip:port and return the reply datagram (``NAME PAYLOAD``).

    Raises ``TimeoutError`` when no reply comes within ``timeout``.
    """
    with _client_socket(socket.SOCK_DGRAM, source_ip, timeout) as sock:
        sock.sendto(payload.encode(), (vip, port))
        data, _ = sock.recvfrom(MAX_REQUEST)
    return data.decode()


def backend_name(reply: str) -> str:
    """The name of the backend that produced ``reply``."""
    return reply.split(" ", 1)[0]


def distribution(vip: str, port: int, n: int, protocol: str = "tcp",
                 source_ip: str | None = None, **kwargs: Any) -> Counter[str]:
    """Send ``n`` requests (a new connection or datagram each) and count answering backends.

    Failed requests are counted under ``"<error>"`` so that a test sees them instead of a
    short count.
    """
    send = send_udp if protocol.lower() == "udp" else send_tcp
    counts: Counter[str] = Counter()
    for i in range(n):
        try:
            counts[backend_name(send(vip, port, f"req{i}", source_ip=source_ip, **kwargs))] += 1
        except OSError:
            counts["<error>"] += 1
    return counts
