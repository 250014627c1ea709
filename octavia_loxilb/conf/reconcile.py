"""Options of the reconciler: how our rules are named and which NAT mode they use."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "rule_name_prefix",
        default="oct-",
        regex=r"^[^:]+$",
        help="Prefix of the LoxiLB rule names this driver owns (the listener id follows). "
        "Rules on a load balancer's VIPs whose name lacks this prefix are never touched. "
        "Must not contain ':' (LoxiLB reads it as an HA instance). Changing it on a running "
        "deployment makes every existing rule foreign.",
    ),
    cfg.StrOpt(
        "default_lb_mode",
        default="fullnat",
        choices=["fullnat", "dnat", "onearm", "dsr"],
        help="LoxiLB NAT mode of new rules unless the load balancer's flavor sets lb_mode. "
        "fullnat sources traffic to members from the VIP; dnat keeps the client address "
        "(members must route back through LoxiLB); dsr needs member ports equal to the "
        "listener port.",
    ),
    cfg.IntOpt(
        "reconcile_node_threads",
        default=4,
        min=1,
        help="LoxiLB nodes of one load balancer converged in parallel.",
    ),
]
