"""PROXY protocol v2 header, sent to backends of rules with ``proxyprotocolv2`` set.

LoxiLB prepends this binary header to the first segment towards the endpoint so the backend
learns the client's address although the connection comes from the load balancer.
"""

from __future__ import annotations

import ipaddress
import struct

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
_VERSION_PROXY = 0x21
"""Version 2, command PROXY."""
_TCP_OVER_IPV4 = 0x11
_TCP_OVER_IPV6 = 0x21


def v2_header(src_ip: str, src_port: int, dst_ip: str, dst_port: int) -> bytes:
    """The PROXY v2 header for a TCP flow from ``src`` to the VIP ``dst``.

    Mixed families (an IPv6 VIP with an IPv4 client) are sent as IPv6 with the IPv4 address
    mapped, because one header carries a single address family.
    """
    src = ipaddress.ip_address(src_ip)
    dst = ipaddress.ip_address(dst_ip)
    if src.version == 4 and dst.version == 4:
        addresses = src.packed + dst.packed + struct.pack("!HH", src_port, dst_port)
        family = _TCP_OVER_IPV4
    else:
        addresses = (
            _as_ipv6(src).packed + _as_ipv6(dst).packed + struct.pack("!HH", src_port, dst_port)
        )
        family = _TCP_OVER_IPV6
    return SIGNATURE + struct.pack("!BBH", _VERSION_PROXY, family, len(addresses)) + addresses


def _as_ipv6(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv6Address):
        return address
    return ipaddress.IPv6Address(f"::ffff:{address}")


def parse_v2_header(data: bytes) -> tuple[tuple[str, int], tuple[str, int], int]:
    """Decode a PROXY v2 TCP header: ((src, sport), (dst, dport), header length).

    Used by the test backends to prove what the data path sent.
    """
    if not data.startswith(SIGNATURE) or len(data) < 16:
        raise ValueError("not a PROXY v2 header")
    _ver, family, length = struct.unpack("!BBH", data[12:16])
    body = data[16 : 16 + length]
    if family == _TCP_OVER_IPV4:
        src = str(ipaddress.IPv4Address(body[0:4]))
        dst = str(ipaddress.IPv4Address(body[4:8]))
        sport, dport = struct.unpack("!HH", body[8:12])
    elif family == _TCP_OVER_IPV6:
        src = str(ipaddress.IPv6Address(body[0:16]))
        dst = str(ipaddress.IPv6Address(body[16:32]))
        sport, dport = struct.unpack("!HH", body[32:36])
    else:
        raise ValueError(f"unsupported PROXY v2 family {family:#x}")
    return (src, sport), (dst, dport), 16 + length
