"""Options of load-balancer placement on LoxiLB groups."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "default_group_name",
        default="default",
        help="Name of the group that stands for the operator-run LoxiLB cluster of "
        "[loxilb] api_endpoints; new load balancers are placed on it.",
    ),
    cfg.StrOpt(
        "default_group_topology",
        default="ACTIVE_STANDBY",
        choices=["SINGLE", "ACTIVE_STANDBY", "ACTIVE_ACTIVE"],
        help="Topology recorded for the default (external) group.",
    ),
]
