"""The node's interfaces, address table and static routes (API-NOTES §6).

Interfaces come from :attr:`EmulatorConfig.ports` so tests and appliance emulation can
declare the NICs (name and MAC) a driver will look up; addresses start from those ports.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from octavia_loxilb.emulator.errors import LoxiError
from octavia_loxilb.emulator.model import PortSpec

DEFAULT_PORTS = (
    PortSpec("lo", "00:00:00:00:00:00", ["127.0.0.1/8"], mtu=65536),
    PortSpec("eth0", "52:54:00:6c:78:01", ["192.168.80.10/24"]),
)
_ROUTE_PROTOCOLS = ("unspec", "redirect", "kernel", "boot", "static")


@dataclasses.dataclass
class Route:
    destination: str
    gateway: str
    protocol: str


def _first_address_text(addresses: list[str], version: int) -> str:
    """``"a.b.c.d/n (P) "`` for the first address of a family, or ``""`` (§6.1)."""
    for text in addresses:
        if ipaddress.ip_interface(text).version == version:
            return f"{text} (P) "
    return ""


class Network:
    """Ports (fixed at start), addresses per device and routes."""

    def __init__(self, ports: list[PortSpec] | None) -> None:
        self.ports = (
            list(ports)
            if ports is not None
            else [dataclasses.replace(p, addresses=list(p.addresses)) for p in DEFAULT_PORTS]
        )
        self.addresses: dict[str, list[str]] = {}
        self.routes: dict[str, Route] = {}
        self.reset()

    def reset(self) -> None:
        self.addresses.clear()
        for port in self.ports:
            if port.addresses:
                self.addresses[port.name] = list(port.addresses)
        self.routes.clear()

    def subnet_device(self, ip: str) -> str | None:
        """The device whose address subnet holds ``ip``: where a MASTER plumbs a VIP (§5.3),
        and what makes a route gateway reachable (§6.3)."""
        addr = ipaddress.ip_address(ip)
        for dev, cidrs in self.addresses.items():
            for text in cidrs:
                if addr in ipaddress.ip_interface(text).network:
                    return dev
        return None

    # -- ports ---------------------------------------------------------------------------

    def set_ports(self, ports: list[PortSpec]) -> None:
        """Hot-plug: become ``ports``, the way a VM's NICs change on interface attach/detach.

        A port that stays (same name and MAC) keeps the addresses configured on it; a new
        one starts with its declared addresses; a removed one loses its addresses, and the
        routes through it stay listed (the kernel drops them without a netlink notice, so
        LoxiLB's table may keep them; a driver removes its routes before the unplug).
        """
        before = {(p.name, p.mac.lower()) for p in self.ports}
        after = {(p.name, p.mac.lower()) for p in ports}
        for port in self.ports:
            if (port.name, port.mac.lower()) not in after:
                self.addresses.pop(port.name, None)
        for port in ports:
            if (port.name, port.mac.lower()) not in before and port.addresses:
                self.addresses[port.name] = list(port.addresses)
        self.ports = list(ports)

    def render_ports(self) -> list[dict[str, Any]]:
        entries = []
        for index, port in enumerate(self.ports, start=1):
            addresses = self.addresses.get(port.name, [])
            raw_mac = [int(part, 16) for part in port.mac.split(":")]
            entries.append(
                {
                    "DataplaneSync": 0,
                    "portHardwareInformation": {
                        "link": True,
                        "macAddress": port.mac.lower(),
                        "master": "",
                        "mtu": port.mtu,
                        "rawMacAddress": raw_mac,
                        "real": "",
                        "state": True,
                        "tunnelId": 0,
                    },
                    "portL2Information": {"isPvid": True, "vid": 3800 + index},
                    "portL3Information": {
                        "IPv4Address": [_first_address_text(addresses, 4)],
                        "IPv6Address": [_first_address_text(addresses, 6)],
                        "routed": bool(addresses),
                    },
                    "portName": port.name,
                    "portNo": index,
                    "portSoftwareInformation": {
                        "bpfLoaded": True,
                        "osId": index,
                        "portActive": True,
                        "portProp": 0,
                        "portType": 1,
                    },
                    "portStatisticInformation": {
                        "rxBytes": 0,
                        "rxErrors": 0,
                        "rxPackets": 0,
                        "txBytes": 0,
                        "txErrors": 0,
                        "txPackets": 0,
                    },
                    "zone": "root",
                }
            )
        return entries

    # -- addresses -----------------------------------------------------------------------

    def add_address(self, dev: str, cidr: str) -> bool:
        """POST /config/ipv4address; False is LoxiLB's ``200 {"result":"fail"}`` (§6.2)."""
        if "/" not in cidr:
            return False
        try:
            iface = ipaddress.ip_interface(cidr)
        except ValueError:
            return False
        if iface.version != 4:
            return False
        text = iface.with_prefixlen
        for cidrs in self.addresses.values():
            if text in cidrs:
                return False
        self.addresses.setdefault(dev, []).append(text)
        return True

    def delete_address(self, ip: str, mask: str, dev: str) -> bool:
        try:
            text = ipaddress.ip_interface(f"{ip}/{mask}").with_prefixlen
        except ValueError:
            return False
        cidrs = self.addresses.get(dev, [])
        if text not in cidrs:
            return False
        cidrs.remove(text)
        if not cidrs:
            self.addresses.pop(dev, None)
        return True

    def render_addresses(self, extra: dict[str, list[str]]) -> list[dict[str, Any]]:
        """GET /config/ipv4address/all, with VIP pseudo-devices and MASTER /32s merged in."""
        table: dict[str, list[str]] = {dev: list(cidrs) for dev, cidrs in self.addresses.items()}
        for dev, cidrs in extra.items():
            table.setdefault(dev, []).extend(c for c in cidrs if c not in table[dev])
        return [{"dev": dev, "ipAddress": cidrs, "sync": 0} for dev, cidrs in table.items()]

    # -- routes --------------------------------------------------------------------------

    def add_route(self, body: dict[str, Any]) -> None:
        """POST /config/route (§6.3); errors are netlink's, mapped by §1.2.

        LoxiLB hands the route to the kernel, which takes a gateway only where it can reach
        it directly, on the subnet of an address the node holds (``ENETUNREACH`` otherwise).
        """
        try:
            dest = ipaddress.ip_network(body["destinationIPNet"], strict=False)
            gateway = ipaddress.ip_address(body["gateway"])
        except ValueError:
            raise LoxiError("malformed route args error") from None
        key = str(dest)
        if key in self.routes:
            raise LoxiError("file exists")
        if self.subnet_device(str(gateway)) is None:
            raise LoxiError("network is unreachable")
        self.routes[key] = Route(key, str(gateway), body["protocol"] or "static")

    def delete_route(self, ip: str, mask: int) -> None:
        try:
            key = str(ipaddress.ip_network(f"{ip}/{mask}", strict=False))
        except ValueError:
            raise LoxiError("malformed route args error") from None
        if self.routes.pop(key, None) is None:
            raise LoxiError("no such process")

    def render_routes(self) -> list[dict[str, Any]]:
        return [
            {
                "destinationIPNet": r.destination,
                "flags": "",
                "gateway": r.gateway,
                "hardwareMark": 0,
                "protocol": r.protocol if r.protocol in _ROUTE_PROTOCOLS else "static",
                "statistic": {"bytes": 0, "packets": 0},
                "sync": 0,
            }
            for r in self.routes.values()
        ]
