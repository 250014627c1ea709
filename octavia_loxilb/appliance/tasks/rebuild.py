"""Rebuild one dead appliance in place: same ports (so the same management address and
MACs), a fresh server certificate, a new server, then its interfaces and HA role again."""

from __future__ import annotations

from typing import Any

from taskflow import task

from octavia_loxilb.appliance import topology
from octavia_loxilb.appliance.services import Services


class DeleteDeadServer(task.Task):
    """Delete the dead server (its pre-created ports stay) and retire its certificate."""

    def execute(self, services: Services, appliance_id_0: str) -> None:
        appliance = services.store.appliance(appliance_id_0)
        assert appliance is not None
        if appliance.management_address:
            services.forget_client(appliance.management_address)
        if appliance.server_id:
            services.cloud.delete_server(appliance.server_id)
            services.store.update_appliance(appliance.id, server_id=None, status="REBUILDING")
        if appliance.cert_serial:
            services.certs.revoke(appliance.cert_serial)
            services.store.update_appliance(appliance.id, cert_serial=None)


class RejoinGroup(task.Task):
    """Give the rebuilt appliance its role back (BACKUP of a pair, or standalone) and pair
    it with its peer by BFD; the peer keeps serving meanwhile."""

    def execute(self, services: Services, appliance_id_0: str, group_id: str,
                role: str | None) -> topology.HAApplied:
        services.store.update_appliance(appliance_id_0, role=role, status="ACTIVE")
        members = _members(services, group_id)
        opts = services.opts
        return topology.apply(members, opts.bfd_interval_us, opts.bfd_retry_count)

    def revert(self, services: Services, group_id: str, result: Any, **kwargs: Any) -> None:
        if isinstance(result, topology.HAApplied):
            topology.undo(_members(services, group_id), result)


def _members(services: Services, group_id: str) -> list[topology.HAMember]:
    from octavia_loxilb.appliance.tasks.ha import ha_members

    return ha_members(services, group_id)
