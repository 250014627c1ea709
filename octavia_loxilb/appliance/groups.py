"""Which appliance group hosts a load balancer: reuse one that fits, or make a new one.

A group fits when its appliances were built the same way (topology, Nova flavor, image,
availability zone, VIP mode) on the load balancer's VIP network: then one set of appliances
can carry several VIPs. ``[loxilb_appliance] group_sharing = per_lb`` never reuses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection, Mapping
from typing import Any

from octavia_loxilb.appliance.store import ApplianceStore


class SpecError(Exception):
    """The load balancer asks for appliances but the cloud settings to build them are
    missing (no image, flavor or management network configured)."""


@dataclasses.dataclass(frozen=True)
class ApplianceSpec:
    """How a load balancer's appliances are built."""

    topology: str
    compute_flavor: str
    image: str
    availability_zone: str | None
    vip_network_id: str
    vip_mode: str = "arp"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ApplianceSpec:
        return cls(**json.loads(text))

    @property
    def key(self) -> str:
        """Equal for load balancers that may share appliances."""
        fields = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha256(fields.encode()).hexdigest()


def wants_appliances(tree: Mapping[str, Any]) -> bool:
    """True when the load balancer's flavor asks for driver-managed appliances."""
    return (tree.get("flavor") or {}).get("deployment") == "appliance"


def spec_for(tree: Mapping[str, Any], conf: Any,
             topology: str | None = None) -> ApplianceSpec:
    """The appliance spec of a load balancer, from its flavor, AZ and the options;
    ``topology`` overrides the flavor's."""
    flavor = tree.get("flavor") or {}
    zone = tree.get("availability_zone") or {}
    opts = conf.loxilb_appliance
    image = flavor.get("image") or opts.image_id
    compute_flavor = flavor.get("compute_flavor") or opts.compute_flavor_id
    missing = [name for name, value in (("image", image), ("compute_flavor", compute_flavor),
                                        ("management_network_id",
                                         opts.management_network_id),
                                        ("vip_network_id", tree.get("vip_network_id")))
               if not value]
    if missing:
        raise SpecError("cannot build appliances without " + ", ".join(missing))
    return ApplianceSpec(
        topology=topology or flavor.get("topology") or "SINGLE",
        compute_flavor=str(compute_flavor), image=str(image),
        availability_zone=zone.get("compute_zone") or opts.availability_zone,
        vip_network_id=str(tree["vip_network_id"]), vip_mode=flavor.get("vip_mode") or "arp")


def member_subnets(tree: Mapping[str, Any], leaving: Collection[str] = ()) -> set[str]:
    """Subnets of the load balancer's members, except members and pools in ``leaving``."""
    subnets: set[str] = set()
    for pool in tree.get("pools") or ():
        if pool.get("pool_id") in leaving:
            continue
        for member in pool.get("members") or ():
            subnet = member.get("subnet_id")
            if subnet and member.get("member_id") not in leaving:
                subnets.add(str(subnet))
    return subnets


def choose_group(store: ApplianceStore, spec: ApplianceSpec, conf: Any) -> str | None:
    """An existing group to join, or ``None`` when a new one must be built."""
    opts = conf.loxilb_appliance
    if opts.group_sharing != "shared":
        return None
    fitting = store.fitting_groups(spec.key, opts.max_loadbalancers_per_group)
    return fitting[0] if fitting else None
