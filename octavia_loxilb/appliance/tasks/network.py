"""Per load balancer: the VIP on the appliance ports (ARP mode) and member networks, each
with the host routes of its subnet."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from taskflow import task

from octavia_loxilb.appliance import network_config
from octavia_loxilb.appliance import store as records
from octavia_loxilb.appliance.services import Services
from octavia_loxilb.appliance.tasks.appliance import MEMBER, VIP

LOG = logging.getLogger(__name__)


def vip_ports(services: Services, group_id: str) -> list[records.PortRecord]:
    return [p for a in services.store.appliances(group_id) for p in a.ports_for(VIP)]


class AddVIPAddressPairs(task.Task):
    """Allow the VIP on every appliance's VIP-network port, so whichever appliance is
    MASTER may answer ARP for it. Returns the ports this call changed."""

    def execute(self, services: Services, group_id: str, vip_address: str) -> list[str]:
        changed: list[str] = []
        try:
            for port in vip_ports(services, group_id):
                if services.cloud.add_allowed_address(port.port_id, vip_address):
                    changed.append(port.port_id)
        except Exception:
            for port_id in changed:
                services.cloud.remove_allowed_address(port_id, vip_address)
            raise
        return changed

    def revert(self, services: Services, vip_address: str, result: Any,
               **kwargs: Any) -> None:
        for port_id in result if isinstance(result, list) else ():
            services.cloud.remove_allowed_address(port_id, vip_address)


def remove_vip_address_pairs(services: Services, group_id: str, vip_address: str) -> None:
    for port in vip_ports(services, group_id):
        services.cloud.remove_allowed_address(port.port_id, vip_address)


def _attached_subnets(appliance: records.ApplianceRecord) -> set[str]:
    return {p.subnet_id for p in appliance.ports if p.subnet_id and p.purpose != "management"}


@dataclasses.dataclass(frozen=True)
class AttachedPort:
    """A member port attached to an appliance and the route destinations that attach added
    there (what undoing it removes)."""

    port_id: str
    routes: tuple[str, ...] = ()


def attach_member_subnet(services: Services, appliance: records.ApplianceRecord,
                         subnet_id: str, security_group_id: str | None) -> AttachedPort:
    """Attach a new port on ``subnet_id`` to the appliance and configure its address and
    the subnet's host routes through the API; everything it made is undone when a step
    fails."""
    subnet = services.cloud.get_subnet(subnet_id)
    port = services.cloud.create_port(f"loxilb-appliance-{appliance.id}-member",
                                      subnet.network_id, subnet_id,
                                      [security_group_id] if security_group_id else [])
    record = records.PortRecord(port.id, appliance.id, MEMBER, port.network_id,
                                port.subnet_id, port.mac_address, port.ip_address,
                                port.prefix_length)
    services.store.add_port(record)
    routes: tuple[str, ...] = ()
    try:
        assert appliance.server_id and appliance.management_address
        services.cloud.attach_port(appliance.server_id, port.id)
        if record.cidr and record.mac_address:
            configured = network_config.configure_port(
                services.client(appliance.management_address), record.mac_address,
                record.cidr, network_config.port_routes(subnet, record.cidr, False))
            routes = configured.routes
    except Exception:
        detach_member_port(services, appliance, record)
        raise
    return AttachedPort(port.id, routes)


def detach_member_port(services: Services, appliance: records.ApplianceRecord,
                       port: records.PortRecord) -> None:
    if appliance.server_id:
        services.cloud.detach_port(appliance.server_id, port.port_id)
    services.cloud.delete_port(port.port_id)
    services.store.delete_port(port.port_id)


class AttachMemberNetworks(task.Task):
    """Attach every appliance of the group to each member subnet the group needs and is
    not on yet. Returns the ports it attached with the routes it added (what revert
    removes and detaches)."""

    def execute(self, services: Services, group_id: str) -> list[AttachedPort]:
        group = services.store.group(group_id)
        assert group is not None
        wanted = services.store.member_subnets(group_id)
        attached: list[AttachedPort] = []
        try:
            for appliance in services.store.appliances(group_id):
                for subnet_id in sorted(wanted - _attached_subnets(appliance)):
                    attached.append(attach_member_subnet(services, appliance, subnet_id,
                                                         group.data_security_group_id))
        except Exception:
            _detach_ports(services, group_id, attached)
            raise
        return attached

    def revert(self, services: Services, group_id: str, result: Any, **kwargs: Any) -> None:
        if isinstance(result, list):
            _detach_ports(services, group_id, result)


def _detach_ports(services: Services, group_id: str, attached: list[AttachedPort]) -> None:
    """Remove the routes these attaches added, then detach and delete their ports; a route
    that cannot be removed (appliance unreachable) does not stop the detach."""
    by_port = {a.port_id: a for a in attached}
    for appliance in services.store.appliances(group_id):
        for port in appliance.ports:
            done = by_port.get(port.port_id)
            if done is None:
                continue
            if done.routes and appliance.management_address:
                try:
                    network_config.delete_routes(
                        services.client(appliance.management_address), done.routes)
                except Exception as exc:
                    LOG.warning("Removing routes %s from appliance %s: %s", done.routes,
                                appliance.id, exc)
            detach_member_port(services, appliance, port)


def detach_unused_member_networks(services: Services, group_id: str) -> list[str]:
    """Detach member ports on subnets no load balancer of the group needs any more, after
    removing the routes through them and their addresses from the appliance."""
    wanted = services.store.member_subnets(group_id)
    detached = []
    for appliance in services.store.appliances(group_id):
        for port in appliance.ports_for(MEMBER):
            if port.subnet_id not in wanted:
                if appliance.management_address and port.cidr:
                    _unconfigure_member_port(services, appliance, port)
                detach_member_port(services, appliance, port)
                detached.append(port.port_id)
    return detached


def _unconfigure_member_port(services: Services, appliance: records.ApplianceRecord,
                             port: records.PortRecord) -> None:
    """The routes via the port's subnet, then its address; failures are only logged, as
    unplugging the port takes both down with it anyway."""
    assert appliance.management_address and port.cidr
    client = services.client(appliance.management_address)
    try:
        network_config.remove_routes_via(client, port.cidr)
    except Exception as exc:
        LOG.warning("Removing the routes via %s from appliance %s: %s", port.cidr,
                    appliance.id, exc)
    if not port.mac_address:
        return
    try:
        dev = network_config.interface_for_mac(client, port.mac_address, 0)
        network_config.remove_address(
            client, network_config.ConfiguredAddress(dev, port.cidr, True))
    except Exception as exc:
        LOG.warning("Removing %s from appliance %s: %s", port.cidr, appliance.id, exc)
