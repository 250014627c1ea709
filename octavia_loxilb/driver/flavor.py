"""Flavor and availability-zone metadata the LoxiLB provider understands.

Flavors choose how a load balancer is realised: the LoxiLB NAT mode of its rules, and where
it runs: on the operator-run external cluster (``deployment: external``, the default; its HA
is the cluster's business, so only SINGLE) or on driver-booted LoxiLB appliances
(``deployment: appliance``) in topology SINGLE or ACTIVE_STANDBY, with the Nova flavor and
image of the appliances. Availability zones may name the Nova zone of the appliances.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from octavia_lib.api.drivers import exceptions

LB_MODES = ("fullnat", "dnat", "onearm")
DEPLOYMENTS = ("external", "appliance")
TOPOLOGIES = ("SINGLE", "ACTIVE_STANDBY")
APPLIANCE_TOPOLOGIES = ("ACTIVE_STANDBY",)
VIP_MODES = ("arp",)
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CLOUD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$")
APPLIANCE_ONLY_KEYS = ("compute_flavor", "image", "vip_mode")

FLAVOR_METADATA: dict[str, str] = {
    "lb_mode": "LoxiLB NAT mode of the load balancer's rules (LoxiLB 'mode'): fullnat "
               "(the default; members see the LoxiLB node as the client), dnat (members see "
               "the client address and must route back through LoxiLB) or onearm.",
    "loxilb_group": "Name of the LoxiLB group to place the load balancer on; by default "
                    "the operator-run cluster configured in [loxilb] api_endpoints.",
    "topology": "Topology of the LoxiLB group: SINGLE, or ACTIVE_STANDBY (two appliances, "
                "LoxiLB HA instance states and BFD; needs deployment appliance). "
                "ACTIVE_ACTIVE is not offered.",
    "deployment": "external (the default): the operator-run cluster; appliance: LoxiLB "
                  "appliances the driver boots through Nova for the load balancer.",
    "compute_flavor": "Nova flavor ID of the appliances (deployment appliance); default "
                      "[loxilb_appliance] compute_flavor_id.",
    "image": "Glance image ID of the appliances (deployment appliance); default "
             "[loxilb_appliance] image_id.",
    "vip_mode": "How the VIP reaches the appliances (deployment appliance): arp, the VIP "
                "as an allowed address pair on the appliance ports, answered by the master.",
}

AVAILABILITY_ZONE_METADATA: dict[str, str] = {
    "loxilb_group": "Name of the LoxiLB group that serves this availability zone; load "
                    "balancers created in the zone are placed on it.",
    "compute_zone": "Nova availability zone of the appliances booted for load balancers "
                    "created in this zone.",
}


MetadataProblem = tuple[str, Any, str]
"""(option, value, reason): what a message names."""


def _group_problem(value: Any) -> MetadataProblem | None:
    if isinstance(value, str) and GROUP_NAME.match(value):
        return None
    return ("loxilb_group", value, "a group name has letters, digits, '.', '_' and '-', "
            "at most 64 characters")


def _lb_mode_problem(value: Any) -> MetadataProblem | None:
    if value in LB_MODES:
        return None
    return ("lb_mode", value, f"supported values are {', '.join(LB_MODES)}")


def _topology_problem(value: Any) -> MetadataProblem | None:
    if value in TOPOLOGIES:
        return None
    if value == "ACTIVE_ACTIVE":
        return ("topology", value,
                "ACTIVE_ACTIVE would need every appliance to advertise the VIP over BGP "
                "with ECMP in the upstream router, which this driver does not set up; "
                "use ACTIVE_STANDBY")
    return ("topology", value, f"supported values are {', '.join(TOPOLOGIES)}")


def _deployment_problem(value: Any) -> MetadataProblem | None:
    if value in DEPLOYMENTS:
        return None
    return ("deployment", value, f"supported values are {', '.join(DEPLOYMENTS)}")


def _vip_mode_problem(value: Any) -> MetadataProblem | None:
    if value in VIP_MODES:
        return None
    if value == "routed":
        return ("vip_mode", value, "routed VIPs (host route or BGP) are not implemented; "
                "supported values are arp")
    return ("vip_mode", value, f"supported values are {', '.join(VIP_MODES)}")


def _cloud_id_problem(key: str) -> Any:
    def problem(value: Any) -> MetadataProblem | None:
        if isinstance(value, str) and CLOUD_ID.match(value):
            return None
        return (key, value, "expected an ID or name of at most 255 characters")
    return problem


def _combination_problem(metadata: Mapping[str, Any]) -> MetadataProblem | None:
    """Keys that are valid alone but not together."""
    deployment = metadata.get("deployment", "external")
    if deployment == "appliance":
        if "loxilb_group" in metadata:
            return ("loxilb_group", metadata["loxilb_group"],
                    "deployment appliance places the load balancer on appliances the "
                    "driver boots; a named group is for external clusters")
        return None
    if metadata.get("topology") in APPLIANCE_TOPOLOGIES:
        return ("topology", metadata["topology"],
                "needs deployment appliance (an external cluster's HA is its operator's)")
    for key in APPLIANCE_ONLY_KEYS:
        if key in metadata:
            return (key, metadata[key], "needs deployment appliance")
    return None


_FLAVOR_VALUES = {"lb_mode": _lb_mode_problem, "loxilb_group": _group_problem,
                  "topology": _topology_problem, "deployment": _deployment_problem,
                  "compute_flavor": _cloud_id_problem("compute_flavor"),
                  "image": _cloud_id_problem("image"), "vip_mode": _vip_mode_problem}
_AZ_VALUES = {"loxilb_group": _group_problem,
              "compute_zone": _cloud_id_problem("compute_zone")}


def _metadata_problem(metadata: Any, checks: Mapping[str, Any]) -> MetadataProblem | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        return ("metadata", metadata, "metadata must be an object of key/value pairs")
    for key in sorted(metadata):
        if key not in checks:
            return ("metadata key", key, f"supported keys are {', '.join(sorted(checks))}")
    for key in sorted(metadata):
        problem: MetadataProblem | None = checks[key](metadata[key])
        if problem:
            return problem
    return None


def flavor_problem(metadata: Any) -> MetadataProblem | None:
    """Why LoxiLB cannot honour this flavor metadata, or ``None``."""
    problem = _metadata_problem(metadata, _FLAVOR_VALUES)
    if problem is None and isinstance(metadata, Mapping):
        return _combination_problem(metadata)
    return problem


def availability_zone_problem(metadata: Any) -> MetadataProblem | None:
    """Why LoxiLB cannot honour this availability-zone metadata, or ``None``."""
    return _metadata_problem(metadata, _AZ_VALUES)


def describe(problem: MetadataProblem) -> str:
    """``option value: reason``, for messages that already name the subject."""
    option, value, reason = problem
    return f"{option} {value}: {reason}"


def _raise(problem: MetadataProblem, what: str) -> None:
    option, value, reason = problem
    message = f"{what} {option} {value} is not supported by the LoxiLB provider: {reason}"
    raise exceptions.UnsupportedOptionError(user_fault_string=message,
                                            operator_fault_string=message)


def validate_flavor(metadata: Any) -> None:
    """Raise ``UnsupportedOptionError`` naming the first key or value LoxiLB can't honour."""
    problem = flavor_problem(metadata)
    if problem:
        _raise(problem, "Flavor")


def validate_availability_zone(metadata: Any) -> None:
    """Raise ``UnsupportedOptionError`` naming the first key or value LoxiLB can't honour."""
    problem = availability_zone_problem(metadata)
    if problem:
        _raise(problem, "Availability zone")
