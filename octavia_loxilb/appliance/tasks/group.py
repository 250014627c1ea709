"""Group-level tasks: the group's records, security group and server group."""

from __future__ import annotations

import logging
from typing import Any

from taskflow import task

from octavia_loxilb.appliance import store as records
from octavia_loxilb.appliance.groups import ApplianceSpec
from octavia_loxilb.appliance.services import Services

LOG = logging.getLogger(__name__)


class ReserveGroup(task.Task):
    """Record a new appliance group (BUILDING) so everything after it has an owner."""

    default_provides = "group_id"

    def execute(self, services: Services, spec: ApplianceSpec, shared: bool) -> str:
        name = f"appliance-{spec.key[:8]}-{_short_uuid()}"
        record = services.store.create_group(name, spec.topology, spec.vip_network_id,
                                             spec.key, shared, spec.to_json())
        return record.group_id

    def revert(self, services: Services, result: Any, **kwargs: Any) -> None:
        if isinstance(result, str):
            services.store.delete_group(result)


class CreateSecurityGroup(task.Task):
    """The appliances' security groups: management (the API port from the workers, ICMP,
    BFD) and data plane (client traffic on the VIP and member ports)."""

    default_provides = "security_group_id"

    def execute(self, services: Services, group_id: str) -> str:
        opts = services.opts
        sg_id = services.cloud.create_security_group(
            f"loxilb-appliance-{group_id}", opts.api_port, list(opts.management_cidrs))
        services.store.update_group(group_id, security_group_id=sg_id)
        data_id = services.cloud.create_data_security_group(
            f"loxilb-appliance-{group_id}-data")
        services.store.update_group(group_id, data_security_group_id=data_id)
        return sg_id

    def revert(self, services: Services, group_id: str, **kwargs: Any) -> None:
        delete_security_groups(services, group_id)


class CreateServerGroup(task.Task):
    """An anti-affinity server group when the group has more than one appliance."""

    default_provides = "server_group_id"

    def execute(self, services: Services, group_id: str, spec: ApplianceSpec) -> str | None:
        if spec.topology == "SINGLE":
            return None
        sg_id = services.cloud.create_server_group(f"loxilb-appliance-{group_id}",
                                                   anti_affinity=True)
        services.store.update_group(group_id, server_group_id=sg_id)
        return sg_id

    def revert(self, services: Services, group_id: str, **kwargs: Any) -> None:
        delete_server_group(services, group_id)


def delete_security_groups(services: Services, group_id: str) -> None:
    """Delete the group's security groups and forget them (idempotent: a revert and a
    destroy both end here)."""
    group = services.store.group(group_id)
    if group is None:
        return
    if group.data_security_group_id:
        services.cloud.delete_security_group(group.data_security_group_id)
        services.store.update_group(group_id, data_security_group_id=None)
    if group.security_group_id:
        services.cloud.delete_security_group(group.security_group_id)
        services.store.update_group(group_id, security_group_id=None)


def delete_server_group(services: Services, group_id: str) -> None:
    """Delete the group's Nova server group and forget it (idempotent)."""
    group = services.store.group(group_id)
    if group is not None and group.server_group_id:
        services.cloud.delete_server_group(group.server_group_id)
        services.store.update_group(group_id, server_group_id=None)


class ActivateGroup(task.Task):
    """Publish the appliances as the group's LoxiLB nodes and mark the group ACTIVE."""

    def execute(self, services: Services, group_id: str) -> None:
        from octavia_loxilb.appliance.services import api_url

        appliances = services.store.appliances(group_id)
        services.store.set_nodes(group_id, [
            (api_url(a.management_address or "", services.opts.api_port), a.role)
            for a in appliances])
        for appliance in appliances:
            services.store.update_appliance(appliance.id, status=records.ACTIVE)
        services.store.update_group(group_id, status=records.ACTIVE)

    def revert(self, services: Services, group_id: str, **kwargs: Any) -> None:
        services.store.set_nodes(group_id, [])
        services.store.update_group(group_id, status=records.BUILDING)


def _short_uuid() -> str:
    import uuid

    return uuid.uuid4().hex[:8]
