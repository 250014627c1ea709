"""The individual endpoint checks LoxiLB runs, one coroutine per probe type (API-NOTES §3.4).

Each returns whether the endpoint passed; timeouts follow LoxiLB's (loxilib) prober: 1 s to
connect for L4 probes, 2 s for a request/response exchange and for HTTP(S), a 0.5 s run
for ping. Nothing here touches the probe table; ``prober.py`` applies the results.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import socket
import ssl
import struct
import time
from collections.abc import Sequence

import aiohttp

LOG = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.0
EXCHANGE_TIMEOUT = 2.0
HTTP_TIMEOUT = 2.0
UDP_WAIT = 1.0
"""How long a UDP probe waits for an ICMP port-unreachable before passing."""
PING_INTERVAL = 0.2
PING_RUN_TIMEOUT = 0.5
UDP_DEFAULT_PAYLOAD = b"probe"

CA_ENV = "OCTAVIA_LOXILB_EMULATOR_PROBE_CA"
"""Extra CA bundle(s) for https probes, ``os.pathsep``-separated (tests, demos)."""
LOXILB_CERT_DIR = "/opt/loxilb/cert"


@dataclasses.dataclass
class PingResult:
    ok: bool
    min_delay: float | None = None
    avg_delay: float | None = None
    max_delay: float | None = None


async def tcp_check(host: str, port: int, request: str = "", response: str = "") -> bool:
    """Connect; with both request and response set, also exchange and compare them."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), CONNECT_TIMEOUT
        )
    except (OSError, TimeoutError):
        return False
    try:
        if request and response:
            expected = response.encode()
            writer.write(request.encode())
            answer = await asyncio.wait_for(reader.readexactly(len(expected)), EXCHANGE_TIMEOUT)
            return answer == expected
        return True
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.transport.abort()


async def udp_check(host: str, port: int, request: str = "", response: str = "") -> bool:
    """Send a datagram; fail on ICMP port-unreachable (or a wrong answer when one is expected)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (host, port))
            expect_answer = bool(request and response)
            await loop.sock_sendall(
                sock, request.encode() if expect_answer else UDP_DEFAULT_PAYLOAD
            )
            wait = EXCHANGE_TIMEOUT if expect_answer else UDP_WAIT
            answer = await asyncio.wait_for(loop.sock_recv(sock, 65535), wait)
        except TimeoutError:
            return not (request and response)
        except OSError:
            return False
    if request and response:
        return answer[: len(response.encode())] == response.encode()
    return True


def sctp_check(host: str, port: int) -> bool:
    """SCTP is not modelled: the emulator cannot forward it, so its probes always pass."""
    LOG.debug("sctp probe of %s:%d not modelled; reporting ok", host, port)
    return True


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _icmp_socket(ipv6: bool) -> tuple[socket.socket, bool]:
    """An unprivileged ICMP datagram socket if allowed, else a raw one: (socket, raw)."""
    family = socket.AF_INET6 if ipv6 else socket.AF_INET
    proto = socket.IPPROTO_ICMPV6 if ipv6 else socket.IPPROTO_ICMP
    try:
        return socket.socket(family, socket.SOCK_DGRAM, proto), False
    except OSError:
        return socket.socket(family, socket.SOCK_RAW, proto), True


async def ping_check(host: str, count: int) -> PingResult:
    """Send ``count`` ICMP echoes 0.2 s apart within a 0.5 s run; any reply passes."""
    ipv6 = ipaddress.ip_address(host).version == 6
    try:
        sock, raw = _icmp_socket(ipv6)
    except OSError as exc:
        LOG.warning("cannot open an ICMP socket for %s: %s", host, exc)
        return PingResult(ok=False)
    loop = asyncio.get_running_loop()
    ident = os.getpid() & 0xFFFF
    request_type, reply_type = (128, 129) if ipv6 else (8, 0)
    sent: dict[int, float] = {}
    rtts: list[float] = []
    deadline = loop.time() + PING_RUN_TIMEOUT

    async def receive() -> None:
        while len(rtts) < count:
            data = await loop.sock_recv(sock, 2048)
            if raw and not ipv6:
                data = data[(data[0] & 0x0F) * 4 :]
            if len(data) < 8 or data[0] != reply_type:
                continue
            reply_ident, seq = struct.unpack("!HH", data[4:8])
            if raw and reply_ident != ident:
                continue
            if seq in sent:
                rtts.append(time.monotonic() - sent.pop(seq))

    with sock:
        sock.setblocking(False)
        try:
            # Datagram-style connect completes at once; asyncio's resolver rejects raw sockets.
            sock.connect((host, 0))
        except OSError:
            return PingResult(ok=False)
        receiver = loop.create_task(receive())
        try:
            for seq in range(1, max(count, 1) + 1):
                header = struct.pack("!BBHHH", request_type, 0, 0, ident, seq)
                payload = b"\x00" * 56
                packet = struct.pack(
                    "!BBHHH", request_type, 0, _checksum(header + payload), ident, seq
                )
                sent[seq] = time.monotonic()
                with contextlib.suppress(OSError):
                    await loop.sock_sendall(sock, packet + payload)
                if seq < count and loop.time() + PING_INTERVAL < deadline:
                    await asyncio.sleep(PING_INTERVAL)
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(asyncio.shield(receiver), max(0.0, deadline - loop.time()))
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await receiver
    if not rtts:
        return PingResult(ok=False)
    return PingResult(
        ok=True, min_delay=min(rtts), avg_delay=sum(rtts) / len(rtts), max_delay=max(rtts)
    )


def _url(scheme: str, host: str, port: int, path: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}/{path}"


async def http_check(host: str, port: int, path: str = "") -> bool:
    """HEAD ``http://host:port/<path>`` with a 2 s timeout; only status 200 passes."""
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.head(_url("http", host, port, path)) as reply,
        ):
            return reply.status == 200
    except (aiohttp.ClientError, OSError, TimeoutError):
        return False


def https_context(host: str, extra_ca_files: Sequence[str] = ()) -> ssl.SSLContext:
    """System CAs plus LoxiLB's own CA files and any extra bundles, like LoxiLB's prober.

    LoxiLB trusts ``/opt/loxilb/cert/rootCA.crt`` and ``/opt/loxilb/cert/<host>/rootCA.crt``
    and presents ``/opt/loxilb/cert/server.crt``/``server.key`` as its client certificate;
    those are used when present. ``extra_ca_files`` and the ``CA_ENV`` variable add more.
    """
    context = ssl.create_default_context()
    env_files = [f for f in os.environ.get(CA_ENV, "").split(os.pathsep) if f]
    candidates = [
        os.path.join(LOXILB_CERT_DIR, "rootCA.crt"),
        os.path.join(LOXILB_CERT_DIR, host, "rootCA.crt"),
        *extra_ca_files,
        *env_files,
    ]
    for ca_file in candidates:
        if os.path.isfile(ca_file):
            context.load_verify_locations(cafile=ca_file)
    cert = os.path.join(LOXILB_CERT_DIR, "server.crt")
    key = os.path.join(LOXILB_CERT_DIR, "server.key")
    if os.path.isfile(cert) and os.path.isfile(key):
        context.load_cert_chain(cert, key)
    return context


async def https_check(
    host: str, port: int, path: str, expected_body: str, context: ssl.SSLContext
) -> bool:
    """GET over verified TLS: status 200, and the body equal to ``expected_body`` if set."""
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(_url("https", host, port, path), ssl=context) as reply,
        ):
            if reply.status != 200:
                return False
            if expected_body:
                return (await reply.text()) == expected_body
            return True
    except (aiohttp.ClientError, OSError, TimeoutError, ssl.SSLError):
        return False
