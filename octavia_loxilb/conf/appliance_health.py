"""Interval of the leader's appliance health checks (a ``[loxilb]`` periodic-task option)."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb"

OPTS: list[cfg.Opt] = [
    cfg.FloatOpt(
        "appliance_health_interval",
        default=5.0,
        min=0.2,
        help="Seconds between checks of every driver-managed appliance (API over mutual "
        "TLS, HA state); a dead MASTER's BACKUP is promoted and a dead appliance rebuilt "
        "on the check that finds it.",
    ),
]
