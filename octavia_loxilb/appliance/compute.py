"""Nova and Neutron for appliances, through openstacksdk: what the lifecycle tasks need.

``Cloud`` is the narrow surface the tasks call (``CloudAPI``); every create has its delete so
each task's revert can undo exactly what its execute made. Deletes tolerate "already gone"
because a revert may run after a partial failure or twice.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import openstack
from openstack import exceptions as sdk_exceptions

LOG = logging.getLogger(__name__)


class CloudError(Exception):
    """A Nova or Neutron call failed, or a server did not become ACTIVE in time."""


@dataclasses.dataclass(frozen=True)
class PortInfo:
    """A Neutron port as the tasks need it: where it is and which MAC/address it has."""

    id: str
    network_id: str
    subnet_id: str | None
    mac_address: str
    ip_address: str | None
    prefix_length: int | None


@dataclasses.dataclass(frozen=True)
class SubnetInfo:
    id: str
    network_id: str
    cidr: str
    gateway_ip: str | None
    host_routes: tuple[tuple[str, str], ...] = ()


class CloudAPI(Protocol):
    """What the appliance tasks ask of Nova and Neutron."""

    def create_security_group(self, name: str, api_port: int,
                              cidrs: Sequence[str]) -> str: ...
    def create_data_security_group(self, name: str) -> str: ...
    def delete_security_group(self, group_id: str) -> None: ...
    def create_server_group(self, name: str, anti_affinity: bool) -> str: ...
    def delete_server_group(self, group_id: str) -> None: ...
    def get_subnet(self, subnet_id: str) -> SubnetInfo: ...
    def create_port(self, name: str, network_id: str, subnet_id: str | None,
                    security_group_ids: Sequence[str]) -> PortInfo: ...
    def delete_port(self, port_id: str) -> None: ...
    def boot_server(self, name: str, image_id: str, flavor_id: str, port_ids: Sequence[str],
                    user_data: str, server_group_id: str | None,
                    availability_zone: str | None) -> str: ...
    def wait_server_active(self, server_id: str, timeout: float, interval: float) -> None: ...
    def wait_server_placed(self, server_id: str, timeout: float, interval: float) -> None: ...
    def delete_server(self, server_id: str) -> None: ...
    def server_exists(self, server_id: str) -> bool: ...
    def attach_port(self, server_id: str, port_id: str) -> None: ...
    def detach_port(self, server_id: str, port_id: str) -> None: ...
    def add_allowed_address(self, port_id: str, ip_address: str) -> bool: ...
    def remove_allowed_address(self, port_id: str, ip_address: str) -> None: ...


_PLACED_TASK_STATES = frozenset({"networking", "block_device_mapping", "spawning"})
"""Nova task states a server reaches only after its compute host claimed it."""


def connect(conf: Any) -> openstack.connection.Connection:
    """An openstacksdk connection as the ``[loxilb_appliance]`` service user."""
    opts = conf.loxilb_appliance
    if not opts.auth_url:
        raise CloudError("[loxilb_appliance] auth_url is not set: appliances cannot be booted")
    return openstack.connect(
        auth_url=opts.auth_url, username=opts.username, password=opts.password,
        project_name=opts.project_name, user_domain_name=opts.user_domain_name,
        project_domain_name=opts.project_domain_name, region_name=opts.region_name,
        load_yaml_config=False, load_envvars=False)


def _port_info(port: Any, subnet_prefix: Callable[[str], int]) -> PortInfo:
    fixed = list(port.fixed_ips or [])
    first = fixed[0] if fixed else {}
    subnet_id = first.get("subnet_id")
    return PortInfo(id=port.id, network_id=port.network_id, subnet_id=subnet_id,
                    mac_address=str(port.mac_address).lower(),
                    ip_address=first.get("ip_address"),
                    prefix_length=subnet_prefix(subnet_id) if subnet_id else None)


class Cloud:
    """``CloudAPI`` over an openstacksdk connection."""

    def __init__(self, connection: openstack.connection.Connection,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.conn = connection
        self.sleep = sleep

    # -- security groups and server groups ---------------------------------------------------

    def create_security_group(self, name: str, api_port: int, cidrs: Sequence[str]) -> str:
        group = self.conn.network.create_security_group(
            name=name, description="LoxiLB appliance API (mutual TLS) and data plane")
        try:
            for cidr in cidrs or ["0.0.0.0/0"]:
                self.conn.network.create_security_group_rule(
                    security_group_id=group.id, direction="ingress", ethertype="IPv4",
                    protocol="tcp", port_range_min=api_port, port_range_max=api_port,
                    remote_ip_prefix=cidr)
            self.conn.network.create_security_group_rule(
                security_group_id=group.id, direction="ingress", ethertype="IPv4",
                protocol="icmp")
            self.conn.network.create_security_group_rule(
                security_group_id=group.id, direction="ingress", ethertype="IPv4",
                protocol="udp", port_range_min=3784, port_range_max=3784)
        except sdk_exceptions.SDKException:
            self.delete_security_group(group.id)
            raise
        return str(group.id)

    def create_data_security_group(self, name: str) -> str:
        """Client traffic to any listener port of the VIP (TCP, UDP) and ICMP; which
        clients may connect is the rule's business (LoxiLB allowedSources)."""
        group = self.conn.network.create_security_group(
            name=name, description="LoxiLB appliance data plane (VIP and member ports)")
        try:
            for protocol in ("tcp", "udp"):
                self.conn.network.create_security_group_rule(
                    security_group_id=group.id, direction="ingress", ethertype="IPv4",
                    protocol=protocol, port_range_min=1, port_range_max=65535)
            self.conn.network.create_security_group_rule(
                security_group_id=group.id, direction="ingress", ethertype="IPv4",
                protocol="icmp")
        except sdk_exceptions.SDKException:
            self.delete_security_group(group.id)
            raise
        return str(group.id)

    def delete_security_group(self, group_id: str) -> None:
        self.conn.network.delete_security_group(group_id, ignore_missing=True)

    def create_server_group(self, name: str, anti_affinity: bool) -> str:
        policy = "anti-affinity" if anti_affinity else "affinity"
        group = self.conn.compute.create_server_group(name=name, policy=policy)
        return str(group.id)

    def delete_server_group(self, group_id: str) -> None:
        self.conn.compute.delete_server_group(group_id, ignore_missing=True)

    # -- subnets and ports -------------------------------------------------------------------

    def get_subnet(self, subnet_id: str) -> SubnetInfo:
        subnet = self.conn.network.get_subnet(subnet_id)
        routes = tuple((r["destination"], r["nexthop"]) for r in subnet.host_routes or ())
        return SubnetInfo(id=subnet.id, network_id=subnet.network_id, cidr=subnet.cidr,
                          gateway_ip=subnet.gateway_ip, host_routes=routes)

    def _prefix(self, subnet_id: str) -> int:
        return ipaddress.ip_network(self.get_subnet(subnet_id).cidr).prefixlen

    def create_port(self, name: str, network_id: str, subnet_id: str | None,
                    security_group_ids: Sequence[str]) -> PortInfo:
        kwargs: dict[str, Any] = {"name": name, "network_id": network_id,
                                  "security_group_ids": list(security_group_ids)}
        if subnet_id:
            kwargs["fixed_ips"] = [{"subnet_id": subnet_id}]
        port = self.conn.network.create_port(**kwargs)
        return _port_info(port, self._prefix)

    def delete_port(self, port_id: str) -> None:
        self.conn.network.delete_port(port_id, ignore_missing=True)

    def add_allowed_address(self, port_id: str, ip_address: str) -> bool:
        """Let the port carry ``ip_address``; False when it already could."""
        port = self.conn.network.get_port(port_id)
        pairs = [dict(p) for p in port.allowed_address_pairs or ()]
        if any(p.get("ip_address") == ip_address for p in pairs):
            return False
        pairs.append({"ip_address": ip_address})
        self.conn.network.update_port(port_id, allowed_address_pairs=pairs)
        return True

    def remove_allowed_address(self, port_id: str, ip_address: str) -> None:
        port = self.conn.network.find_port(port_id)
        if port is None:
            return
        pairs = [dict(p) for p in port.allowed_address_pairs or ()]
        kept = [p for p in pairs if p.get("ip_address") != ip_address]
        if kept != pairs:
            self.conn.network.update_port(port_id, allowed_address_pairs=kept)

    # -- servers -----------------------------------------------------------------------------

    def boot_server(self, name: str, image_id: str, flavor_id: str, port_ids: Sequence[str],
                    user_data: str, server_group_id: str | None,
                    availability_zone: str | None) -> str:
        kwargs: dict[str, Any] = {
            "name": name, "image_id": image_id, "flavor_id": flavor_id,
            "networks": [{"port": p} for p in port_ids],
            "user_data": base64.b64encode(user_data.encode()).decode(), "config_drive": True,
        }
        if server_group_id:
            kwargs["scheduler_hints"] = {"group": server_group_id}
        if availability_zone:
            kwargs["availability_zone"] = availability_zone
        server = self.conn.compute.create_server(**kwargs)
        return str(server.id)

    def wait_server_active(self, server_id: str, timeout: float, interval: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            server = self.conn.compute.get_server(server_id)
            if server.status == "ACTIVE":
                return
            if server.status == "ERROR":
                fault = (server.fault or {}).get("message", "no fault recorded")
                raise CloudError(f"server {server_id} went to ERROR: {fault}")
            if time.monotonic() >= deadline:
                raise CloudError(f"server {server_id} not ACTIVE within {timeout:.0f}s "
                                 f"(status {server.status})")
            self.sleep(interval)

    def wait_server_placed(self, server_id: str, timeout: float, interval: float) -> None:
        """Until the server is on its compute host: Nova sets the host when the compute
        claims it, and the task state then moves on to networking, block devices, spawning
        (or the server is ACTIVE). Only then does the scheduler count it for the anti-affinity
        of the next member of its server group."""
        deadline = time.monotonic() + timeout
        while True:
            server = self.conn.compute.get_server(server_id)
            if server.status == "ERROR":
                fault = (server.fault or {}).get("message", "no fault recorded")
                raise CloudError(f"server {server_id} went to ERROR: {fault}")
            if (server.status == "ACTIVE" or server.compute_host
                    or server.task_state in _PLACED_TASK_STATES):
                return
            if time.monotonic() >= deadline:
                raise CloudError(f"server {server_id} not placed on a host within "
                                 f"{timeout:.0f}s (task state {server.task_state})")
            self.sleep(interval)

    def delete_server(self, server_id: str) -> None:
        self.conn.compute.delete_server(server_id, ignore_missing=True)
        try:
            self.conn.compute.wait_for_delete(
                self.conn.compute.get_server(server_id), interval=0.5, wait=120)
        except sdk_exceptions.NotFoundException:
            return

    def server_exists(self, server_id: str) -> bool:
        return self.conn.compute.find_server(server_id, ignore_missing=True) is not None

    def attach_port(self, server_id: str, port_id: str) -> None:
        self.conn.compute.create_server_interface(server_id, port_id=port_id)
        self._wait_port_bound(port_id, server_id, attached=True)

    def detach_port(self, server_id: str, port_id: str) -> None:
        try:
            self.conn.compute.delete_server_interface(port_id, server=server_id,
                                                      ignore_missing=True)
        except sdk_exceptions.NotFoundException:
            return
        self._wait_port_bound(port_id, server_id, attached=False)

    def _wait_port_bound(self, port_id: str, server_id: str, *, attached: bool,
                         timeout: float = 60.0) -> None:
        """Nova attaches and detaches asynchronously; the port's device_id tells when."""
        deadline = time.monotonic() + timeout
        while True:
            port = self.conn.network.find_port(port_id)
            bound = port is not None and port.device_id == server_id
            if bound == attached:
                return
            if time.monotonic() >= deadline:
                state = "attached to" if attached else "detached from"
                raise CloudError(f"port {port_id} not {state} server {server_id} within "
                                 f"{timeout:.0f}s")
            self.sleep(0.2)
