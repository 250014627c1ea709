"""Is an appliance up: its management address answers ping, then its API answers over
mutual TLS. Each wait has its own deadline so a flow fails cleanly, naming the step."""

from __future__ import annotations

import logging
import os
import select
import socket
import struct
import time
from collections.abc import Callable

from octavia_loxilb.loxilb import errors
from octavia_loxilb.loxilb.client import LoxiLBClient

LOG = logging.getLogger(__name__)


class NotReady(Exception):
    """The appliance did not answer within the step's timeout."""


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _icmp_socket() -> tuple[socket.socket, bool]:
    """An unprivileged ICMP datagram socket where allowed, else a raw one: (socket, raw)."""
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), False
    except PermissionError:
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), True


def ping(address: str, timeout: float = 1.0) -> bool:
    """One ICMP echo to ``address``; True when a reply from it arrives within ``timeout``."""
    ident = os.getpid() & 0xFFFF
    payload = b"octavia-loxilb"
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, 1) + payload
    try:
        sock, raw = _icmp_socket()
    except OSError as exc:
        LOG.warning("cannot open an ICMP socket to ping %s: %s", address, exc)
        return False
    with sock:
        sock.sendto(packet, (address, 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                return False
            data, source = sock.recvfrom(1024)
            if raw:
                data = data[(data[0] & 0x0F) * 4:]
            if source[0] == address and data[:1] == b"\0":  # echo reply
                return True
    return False


def wait_ping(address: str, timeout: float, interval: float = 0.5,
              sleep: Callable[[float], None] = time.sleep) -> float:
    """Seconds until ``address`` answered ping; ``NotReady`` after ``timeout``."""
    started = time.monotonic()
    while not ping(address, timeout=min(1.0, max(interval, 0.1))):
        if time.monotonic() - started >= timeout:
            raise NotReady(f"{address} did not answer ping within {timeout:.0f}s")
        sleep(interval)
    return time.monotonic() - started


def wait_api(client: LoxiLBClient, timeout: float, interval: float = 0.5,
             sleep: Callable[[float], None] = time.sleep) -> float:
    """Seconds until the LoxiLB API answered over mutual TLS; ``NotReady`` after
    ``timeout`` with the last error (a TLS refusal names a certificate problem)."""
    started = time.monotonic()
    while True:
        try:
            client.version()
            return time.monotonic() - started
        except errors.LoxiLBError as exc:
            if time.monotonic() - started >= timeout:
                raise NotReady(f"{client.node}: API not answering over mutual TLS within "
                               f"{timeout:.0f}s: {exc}") from exc
        sleep(interval)
