"""The group's HA set-up through the LoxiLB API (``appliance/topology.py``)."""

from __future__ import annotations

from typing import Any

from taskflow import task

from octavia_loxilb.appliance import topology
from octavia_loxilb.appliance.services import Services


def ha_members(services: Services, group_id: str) -> list[topology.HAMember]:
    """The group's appliances as HA members, in a stable order."""
    return [topology.HAMember(services.client(a.management_address or ""),
                              a.management_address or "", a.role)
            for a in services.store.appliances(group_id)]


class ConfigureHA(task.Task):
    """Instance states per role (MASTER/BACKUP, or standalone) and BFD between the pair."""

    default_provides = "ha_applied"

    def execute(self, services: Services, group_id: str) -> topology.HAApplied:
        opts = services.opts
        return topology.apply(ha_members(services, group_id), opts.bfd_interval_us,
                              opts.bfd_retry_count)

    def revert(self, services: Services, group_id: str, result: Any, **kwargs: Any) -> None:
        if isinstance(result, topology.HAApplied):
            topology.undo(ha_members(services, group_id), result)
