"""Options of drift repair, LoxiLB restart detection and the PENDING sweeper."""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb"

OPTS: list[cfg.Opt] = [
    cfg.FloatOpt(
        "resync_interval",
        default=60.0,
        min=0.0,
        help="Seconds between periodic resyncs of every placed load balancer: each LoxiLB "
        "node's rules and probes are read once, every load balancer's Octavia tree is "
        "planned against them, and those that drifted are converged. Run by the leader "
        "worker only. 0 disables the periodic resync (restart detection still triggers "
        "one).",
    ),
    cfg.IntOpt(
        "resync_threads",
        default=4,
        min=1,
        help="Load balancers a resync reads and converges in parallel.",
    ),
    cfg.FloatOpt(
        "restart_check_interval",
        default=5.0,
        min=0.0,
        help="Seconds between LoxiLB restart checks: each node's rules are listed and "
        "compared with what the last resync left there; a node that lost rules of ours (a "
        "LoxiLB restart wipes every rule) or came back after being unreachable gets an "
        "immediate resync of its group. 0 disables the check.",
    ),
    cfg.FloatOpt(
        "pending_deadline",
        default=300.0,
        min=1.0,
        help="Seconds without a heartbeat after which a job a worker took but never "
        "finished (the worker died) is run again by the sweeper, so its objects leave "
        "PENDING_*.",
    ),
    cfg.FloatOpt(
        "sweep_interval",
        default=30.0,
        min=0.0,
        help="Seconds between sweeps of the job journal for abandoned jobs (leader only). "
        "0 disables the sweeper.",
    ),
    cfg.FloatOpt(
        "job_heartbeat_interval",
        default=10.0,
        min=0.1,
        help="Seconds between a worker's heartbeats on the jobs it is running; must be well "
        "below pending_deadline.",
    ),
    cfg.IntOpt(
        "sweep_max_attempts",
        default=3,
        min=1,
        help="Runs of one job (the first included) before the sweeper gives up on "
        "converging it and reports its objects failed (ERROR) instead.",
    ),
    cfg.FloatOpt(
        "journal_retention",
        default=86400.0,
        min=0.0,
        help="Seconds finished job journal records are kept (for 'octavia-loxilb-manage lb "
        "unstick' and diagnosis).",
    ),
    cfg.FloatOpt(
        "pending_scan_interval",
        default=0.0,
        min=0.0,
        help="Seconds between scans of Octavia's v2 API for this provider's load balancers "
        "left PENDING_* longer than pending_deadline with no job on any worker (a cast "
        "RabbitMQ lost); each is finished with a converge and a status push. Needs the "
        "[loxilb_octavia_api] service credentials. 0 disables the scan.",
    ),
    cfg.StrOpt(
        "octavia_api_endpoint",
        help="Octavia API base URL for the pending scan (e.g. http://octavia:9876); unset "
        "means the load-balancer endpoint from the Keystone catalog.",
    ),
    cfg.StrOpt(
        "provider_name",
        default="loxilb",
        help="The name this provider is enabled under in Octavia's "
        "[api_settings] enabled_provider_drivers; the pending scan lists its load balancers.",
    ),
]
