"""An appliance's interfaces and routes configured through the LoxiLB API only (never SSH).

Neutron knows a port by its MAC; LoxiLB names interfaces its own way (``eth<n>``), so the
interface on a subnet is found by the MAC of the Neutron port on that subnet in
``/config/port/all``. Interfaces appear a little after a hot-plug, hence the wait.

Routes come from the port's Neutron subnet, as an amphora's interface files take them: its
host routes and, for the VIP port, a default route via its gateway (``/config/route``). A
LoxiLB appliance has one routing table (no namespace for the data plane), so a route it
already holds, whoever added it, is never replaced or removed here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence

from octavia_loxilb.appliance.compute import SubnetInfo
from octavia_loxilb.loxilb import models
from octavia_loxilb.loxilb.client import LoxiLBClient

LOG = logging.getLogger(__name__)

DEFAULT_ROUTE = "0.0.0.0/0"


class InterfaceNotFound(Exception):
    """No interface of the appliance has the port's MAC (within the wait)."""


@dataclasses.dataclass(frozen=True)
class ConfiguredAddress:
    """An address on an interface, and whether this call added it (and so may remove it)."""

    dev: str
    cidr: str
    added: bool


@dataclasses.dataclass(frozen=True)
class ConfiguredPort:
    """What configuring one data port did, so that undoing it removes exactly that: its
    address (if added) and the destinations of the routes it added."""

    address: ConfiguredAddress
    routes: tuple[str, ...] = ()


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


def port_routes(subnet: SubnetInfo, cidr: str,
                default_route: bool) -> list[tuple[str, str]]:
    """The (destination, nexthop) routes a port with address ``cidr`` on ``subnet`` brings:
    the subnet's host routes, then, with ``default_route``, ``0.0.0.0/0`` via its gateway
    unless a host route already is the default (as Neutron's DHCP hands it out).

    Only IPv4 routes whose nexthop is on the port's own subnet are kept: the kernel refuses a
    gateway it cannot reach directly (Neutron does not check host routes for that), and one
    such route must not fail the whole appliance. Destinations are in canonical form, each
    once (the first wins).
    """
    network = ipaddress.ip_interface(cidr).network
    wanted = list(subnet.host_routes)
    if default_route and subnet.gateway_ip:
        wanted.append((DEFAULT_ROUTE, subnet.gateway_ip))
    routes: dict[str, str] = {}
    for destination, nexthop in wanted:
        try:
            key = str(ipaddress.ip_network(destination, strict=False))
            on_link = (ipaddress.ip_network(key).version == 4
                       and ipaddress.ip_address(nexthop) in network)
        except ValueError:
            on_link = False
        if not on_link:
            LOG.warning("Subnet %s: route %s via %s skipped, its nexthop is not on %s",
                        subnet.id, destination, nexthop, network)
            continue
        routes.setdefault(key, nexthop)
    return list(routes.items())


def add_routes(node: LoxiLBClient, routes: Sequence[tuple[str, str]]) -> list[str]:
    """Add the (destination, gateway) routes LoxiLB does not hold yet; the destinations
    added. On a failure the ones added so far are removed again before it is raised."""
    held = {_canonical(d) for d in node.list_routes()}
    added: list[str] = []
    try:
        for destination, gateway in routes:
            key = _canonical(destination)
            if key in held:
                continue
            node.add_route(models.Route(destination=key, gateway=gateway))
            added.append(key)
            held.add(key)
    except Exception:
        _undo(node, lambda: delete_routes(node, added))
        raise
    return added


def delete_routes(node: LoxiLBClient, destinations: Sequence[str]) -> None:
    """Remove the routes to ``destinations`` that LoxiLB still holds."""
    if not destinations:
        return
    held = {_canonical(d) for d in node.list_routes()}
    for destination in destinations:
        if _canonical(destination) in held:
            node.delete_route(destination)


def remove_routes_via(node: LoxiLBClient, cidr: str) -> list[str]:
    """Remove every route whose gateways are all on the subnet of ``cidr``: the routes a port
    with that address brought (``port_routes`` keeps no others), dead once it is unplugged.
    The destinations removed."""
    network = ipaddress.ip_interface(cidr).network
    removed = []
    for route in node.list_route_entries():
        if _all_within(route.gateway, network):
            node.delete_route(route.destination)
            removed.append(route.destination)
    return removed


def configure_port(node: LoxiLBClient, mac: str, cidr: str,
                   routes: Sequence[tuple[str, str]], timeout: float = 10.0) -> ConfiguredPort:
    """The port's address (``configure_address``), then its routes (``add_routes``); a
    failure undoes what this call did before it is raised."""
    address = configure_address(node, mac, cidr, timeout)
    try:
        added = add_routes(node, routes)
    except Exception:
        _undo(node, lambda: remove_address(node, address))
        raise
    return ConfiguredPort(address, tuple(added))


def unconfigure_port(node: LoxiLBClient, configured: ConfiguredPort) -> None:
    """Undo ``configure_port``: its routes, then its address (each only if it added it)."""
    delete_routes(node, configured.routes)
    remove_address(node, configured.address)


def _canonical(destination: str) -> str:
    try:
        return str(ipaddress.ip_network(destination, strict=False))
    except ValueError:
        return destination


def _all_within(gateways: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    parts = [g.strip() for g in gateways.split(",") if g.strip()]
    try:
        return bool(parts) and all(ipaddress.ip_address(g) in network for g in parts)
    except ValueError:
        return False


def _undo(node: LoxiLBClient, action: Callable[[], None]) -> None:
    """Run a clean-up on the way out of a failure; its own failure is logged, so the first
    error is the one raised."""
    try:
        action()
    except Exception:
        LOG.warning("%s: undoing a partial configuration failed", node.node, exc_info=True)
