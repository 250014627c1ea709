"""Flavor and availability-zone metadata the LoxiLB provider understands.

Flavors choose how a load balancer is realised: the LoxiLB NAT mode of its rules and the
LoxiLB group it is placed on. Only the operator-run external cluster exists today, so the
only topology is SINGLE (the cluster's own HA is the cluster's business); appliance
topologies come with driver-managed appliances.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from octavia_lib.api.drivers import exceptions

LB_MODES = ("fullnat", "dnat", "onearm")
TOPOLOGIES = ("SINGLE",)
PLANNED_TOPOLOGIES = ("ACTIVE_STANDBY", "ACTIVE_ACTIVE")
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

FLAVOR_METADATA: dict[str, str] = {
    "lb_mode": "LoxiLB NAT mode of the load balancer's rules (LoxiLB 'mode'): fullnat "
               "(the default; members see the LoxiLB node as the client), dnat (members see "
               "the client address and must route back through LoxiLB) or onearm.",
    "loxilb_group": "Name of the LoxiLB group to place the load balancer on; by default "
                    "the operator-run cluster configured in [loxilb] api_endpoints.",
    "topology": "Topology of the LoxiLB group: SINGLE. ACTIVE_STANDBY and ACTIVE_ACTIVE "
                "are planned for driver-managed appliances and are not available in "
                "external-cluster mode.",
}

AVAILABILITY_ZONE_METADATA: dict[str, str] = {
    "loxilb_group": "Name of the LoxiLB group that serves this availability zone; load "
                    "balancers created in the zone are placed on it.",
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
    if value in PLANNED_TOPOLOGIES:
        return ("topology", value,
                "appliance topologies are not available in external-cluster mode")
    return ("topology", value, f"supported values are {', '.join(TOPOLOGIES)}")


_FLAVOR_VALUES = {"lb_mode": _lb_mode_problem, "loxilb_group": _group_problem,
                  "topology": _topology_problem}
_AZ_VALUES = {"loxilb_group": _group_problem}


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
    return _metadata_problem(metadata, _FLAVOR_VALUES)


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
