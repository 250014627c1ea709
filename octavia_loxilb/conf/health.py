"""Options of the leader-run periodic work: leader election, health polling, statistics."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb"

OPTS: list[cfg.Opt] = [
    cfg.FloatOpt(
        "leader_retry_interval",
        default=2.0,
        min=0.05,
        help="Seconds between a follower's attempts to become the leader that runs the "
        "periodic tasks (health poller, statistics, resync). Takeover after a leader dies "
        "is bounded by this plus the coordination back end's lock expiry (for Redis the "
        "lock_timeout URL parameter, 30 s by default; file:// locks go with the process).",
    ),
    cfg.FloatOpt(
        "health_interval",
        default=10.0,
        min=0.0,
        help="Seconds between health polls: endpoint states are read from every LoxiLB node "
        "holding a placed load balancer and changed operating statuses are pushed. 0 "
        "disables the poller.",
    ),
    cfg.FloatOpt(
        "health_tree_refresh_interval",
        default=60.0,
        min=0.0,
        help="Seconds the health poller reuses a load balancer's Octavia tree before reading "
        "it again (a finished job for that load balancer drops it at once).",
    ),
    cfg.FloatOpt(
        "stats_interval",
        default=10.0,
        min=0.0,
        help="Seconds between listener statistics pushes (bytes, connections) to Octavia. 0 "
        "disables them.",
    ),
]
