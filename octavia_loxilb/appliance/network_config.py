"""An appliance's interfaces configured through the LoxiLB API only (never SSH).

Neutron knows a port by its MAC; LoxiLB names interfaces its own way (``eth<n>``), so the
interface on a subnet is found by the MAC of the Neutron port on that subnet in
``/config/port/all``. Interfaces appear a little after a hot-plug, hence the wait.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from octavia_loxilb.loxilb import models
from octavia_loxilb.loxilb.client import LoxiLBClient


class InterfaceNotFound(Exception):
    """No interface of the appliance has the port's MAC (within the wait)."""


@dataclasses.dataclass(frozen=True)
class ConfiguredAddress:
    """An address on an interface, and whether this call added it (and so may remove it)."""

    dev: str
    cidr: str
    added: bool


def interface_for_mac(node: LoxiLBClient, mac: str, timeout: float = 10.0,
                      interval: float = 0.2,
                      sleep: Callable[[float], None] = time.sleep) -> str:
    """The LoxiLB interface name carrying ``mac``, waiting up to ``timeout`` seconds."""
    wanted = mac.lower()
    deadline = time.monotonic() + timeout
    while True:
        for port in node.list_ports():
            if port.mac == wanted:
                return port.name
        if time.monotonic() >= deadline:
            raise InterfaceNotFound(f"{node.node}: no interface with MAC {mac} in "
                                    "/config/port/all")
        sleep(interval)


def configure_address(node: LoxiLBClient, mac: str, cidr: str,
                      timeout: float = 10.0) -> ConfiguredAddress:
    """Put ``cidr`` on the interface with ``mac`` unless it is already there."""
    dev = interface_for_mac(node, mac, timeout)
    held = node.list_ipv4_addresses().get(dev, [])
    if cidr in held:
        return ConfiguredAddress(dev, cidr, added=False)
    node.add_ipv4_address(models.IPv4Address(dev=dev, address=cidr))
    return ConfiguredAddress(dev, cidr, added=True)


def remove_address(node: LoxiLBClient, configured: ConfiguredAddress) -> None:
    """Undo ``configure_address``: remove the address only if that call added it."""
    if configured.added:
        node.delete_ipv4_address(models.IPv4Address(dev=configured.dev,
                                                    address=configured.cidr))


def add_routes(node: LoxiLBClient, routes: Sequence[tuple[str, str]]) -> list[str]:
    """Add (destination, gateway) routes LoxiLB does not hold yet; the ones added."""
    held = set(node.list_routes())
    added = []
    for destination, gateway in routes:
        if destination in held:
            continue
        node.add_route(models.Route(destination=destination, gateway=gateway))
        added.append(destination)
    return added


def delete_routes(node: LoxiLBClient, destinations: Sequence[str]) -> None:
    for destination in destinations:
        node.delete_route(destination)
