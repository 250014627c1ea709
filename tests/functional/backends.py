"""Tiny loopback backends that answer with their own identity, plus client helpers.

Reusable by any test that sends real traffic through an emulated VIP:

* ``TcpBackend``: sends ``<name>\\n`` on connect, then echoes what it receives; closes its
  side when the client half-closes. Can parse a PROXY v2 header first.
* ``UdpBackend``: answers every datagram with ``<name>:<payload>``.
* ``HttpBackend``: HTTP/1.0 server answering ``status`` with body ``<name>``, over TLS when
  given an ``ssl.SSLContext``.
* ``make_tls_files``: a throw-away CA and a server certificate for 127.0.0.1.

All run on the caller's asyncio loop; ``stop()`` closes the listener and live connections
(as a crash would), ``start()`` binds the same port again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar, cast

from octavia_loxilb.emulator.model import StoredEndpoint, StoredRule
from octavia_loxilb.emulator.proxy_protocol import SIGNATURE, parse_v2_header

T = TypeVar("T")


class TcpBackend:
    """An identity-and-echo TCP server."""

    def __init__(
        self, name: str, host: str = "127.0.0.1", port: int = 0, proxy_protocol: bool = False
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.proxy_protocol = proxy_protocol
        self.accepted = 0
        self.peers: list[tuple[str, int]] = []
        """Client addresses as the backend saw them (from the socket)."""
        self.proxied: list[tuple[tuple[str, int], tuple[str, int]]] = []
        """(source, destination) pairs decoded from PROXY v2 headers."""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def active(self) -> int:
        """Connections currently open."""
        return len(self._writers)

    async def start(self) -> TcpBackend:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        self.peers.append((peer[0], peer[1]))
        try:
            if self.proxy_protocol:
                head = await reader.readexactly(16)
                if head.startswith(SIGNATURE):
                    rest = await reader.readexactly(int.from_bytes(head[14:16], "big"))
                    src, dst, _ = parse_v2_header(head + rest)
                    self.proxied.append((src, dst))
            writer.write(f"{self.name}\n".encode())
            await writer.drain()
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.write_eof()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


class _UdpAnswer(asyncio.DatagramProtocol):
    def __init__(self, backend: UdpBackend) -> None:
        self.backend = backend
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Selector datagram transports do not subclass DatagramTransport; cast only.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.backend.received += 1
        self.backend.peers.append((addr[0], addr[1]))
        assert self.transport is not None
        self.transport.sendto(self.backend.name.encode() + b":" + data, addr)


class UdpBackend:
    """A UDP server answering ``<name>:<payload>``."""

    def __init__(self, name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.received = 0
        self.peers: list[tuple[str, int]] = []
        self._transport: asyncio.DatagramTransport | None = None

    async def start(self) -> UdpBackend:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpAnswer(self), local_addr=(self.host, self.port)
        )
        self._transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        await asyncio.sleep(0)


class HttpBackend:
    """A minimal HTTP/1.0 server: every request gets ``status`` and body ``name``."""

    def __init__(
        self,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        status: int = 200,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.status = status
        self.tls = tls
        self.requests: list[tuple[str, str]] = []
        """(method, path) of each request received."""
        self._server: asyncio.Server | None = None

    async def start(self) -> HttpBackend:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock, ssl=self.tls)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").split()
            while (await reader.readline()).strip():
                pass
            if len(request_line) < 2:
                return
            method, path = request_line[0], request_line[1]
            self.requests.append((method, path))
            body = self.name.encode()
            head = (
                f"HTTP/1.0 {self.status} X\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            writer.close()


def make_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """Write a CA certificate and a 127.0.0.1 server certificate and key; return their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emulator test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert_file, key_file


def server_tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server-side TLS context for ``HttpBackend``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


# -- clients ----------------------------------------------------------------------------


async def tcp_connect(
    host: str, port: int, source: str | None = None, timeout: float = 3.0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
    """Connect (optionally from ``source``) and return the streams and the backend's name."""
    local_addr = (source, 0) if source else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, local_addr=local_addr), timeout
    )
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        writer.close()
        raise ConnectionResetError("closed before the backend answered")
    return reader, writer, line.decode().strip()


async def tcp_identity(host: str, port: int, source: str | None = None) -> str:
    """The name of the backend one fresh connection reaches; the connection is then closed."""
    _reader, writer, name = await tcp_connect(host, port, source)
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
    return name


class _UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.answers.put_nowait(data)


class UdpClient:
    """A connected UDP client socket that can wait for answers."""

    def __init__(self, transport: asyncio.DatagramTransport, protocol: _UdpClient) -> None:
        self.transport = transport
        self._protocol = protocol

    @classmethod
    async def open(cls, host: str, port: int, source: str | None = None) -> UdpClient:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            _UdpClient, remote_addr=(host, port), local_addr=(source, 0) if source else None
        )
        return cls(cast(asyncio.DatagramTransport, transport), protocol)

    async def ask(self, payload: bytes, timeout: float = 2.0) -> bytes:
        """Send one datagram and return the first answer (``TimeoutError`` if none)."""
        self.transport.sendto(payload)
        return await asyncio.wait_for(self._protocol.answers.get(), timeout)

    def close(self) -> None:
        self.transport.close()


# -- rules ------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port that is free on ``host`` right now (for VIP listeners in tests)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def stored_rule(
    vip: str,
    port: int,
    endpoints: list[tuple[str, int, int]],
    *,
    protocol: str = "tcp",
    sel: int = 0,
    name: str = "rule-1",
    port_max: int = 0,
    **overrides: Any,
) -> StoredRule:
    """A ``StoredRule`` as the control plane would store it, endpoints as (ip, port, weight)."""
    last = port_max or port
    fields: dict[str, Any] = {
        "key": (vip, protocol, port, last, 0, ""),
        "external_ip": vip,
        "protocol": protocol,
        "port": port,
        "port_max": last,
        "block": 0,
        "host": "",
        "name": name,
        "sel": sel,
        "mode": 0,
        "security": 0,
        "monitor": False,
        "probetype": "",
        "probeport": 0,
        "probereq": "",
        "proberesp": "",
        "probe_timeout": 0,
        "probe_retries": 0,
        "inactive_timeout": 240 if protocol in ("tcp", "sctp") else 20,
        "managed": False,
        "bgp": False,
        "egress": False,
        "proxyprotocolv2": False,
        "private_ip": "",
        "allowed_sources": [],
        "secondary_ips": [],
        "endpoints": [StoredEndpoint(ip=ip, port=p, weight=w) for ip, p, w in endpoints],
        "rule_num": 1,
    }
    fields.update(overrides)
    return StoredRule(**fields)


class LoopThread:
    """An asyncio loop in a background thread, for running backends from synchronous tests.

    ``run(coro)`` executes a coroutine there and returns its result, e.g.
    ``backend = loop.run(TcpBackend("b0").start())`` and later ``loop.run(backend.stop())``.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
