"""Options of ``octavia-loxilb-worker``: concurrency, locking, driver-agent sockets, deadlines.

The driver-agent socket paths are our own options (with Octavia's defaults) because the
``[driver_agent]`` group belongs to Octavia and registering it here would collide with it
inside ``octavia-api``.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "state_path",
        default="/var/lib/octavia-loxilb",
        help="Directory for the worker's local state: the SQLite database and file locks of "
        "the embedded default set-up.",
    ),
    cfg.IntOpt(
        "worker_threads",
        default=8,
        min=1,
        help="Jobs one worker process runs in parallel (for different load balancers; jobs "
        "for one load balancer are always serialized).",
    ),
    cfg.StrOpt(
        "coordination_url",
        default="file://$loxilb.state_path/locks",
        help="tooz coordination back end for the per-load-balancer locks shared by every "
        "worker process on every host, e.g. redis://127.0.0.1:6379. The file:// default "
        "only serializes workers on one host.",
    ),
    cfg.FloatOpt(
        "lock_timeout",
        default=600.0,
        min=1.0,
        help="Seconds a job waits for its load balancer's lock before it gives up and reports "
        "the subject ERROR.",
    ),
    cfg.FloatOpt(
        "coordination_heartbeat_interval",
        default=1.0,
        min=0.1,
        help="Seconds between heartbeats to the coordination back end (keeps held locks "
        "alive; a dead worker's locks expire).",
    ),
    cfg.StrOpt(
        "status_socket_path",
        default="/var/run/octavia/status.sock",
        help="The driver-agent's status socket (Octavia's [driver_agent] status_socket_path).",
    ),
    cfg.StrOpt(
        "stats_socket_path",
        default="/var/run/octavia/stats.sock",
        help="The driver-agent's statistics socket (Octavia's [driver_agent] "
        "stats_socket_path).",
    ),
    cfg.StrOpt(
        "get_socket_path",
        default="/var/run/octavia/get.sock",
        help="The driver-agent's get socket (Octavia's [driver_agent] get_socket_path).",
    ),
    cfg.FloatOpt(
        "tree_read_deadline",
        default=30.0,
        min=0.0,
        help="Seconds the worker keeps re-reading a load balancer until the API's commit of "
        "the change is visible; past it the job is dropped (the API rolled back).",
    ),
    cfg.IntOpt(
        "status_push_attempts",
        default=5,
        min=1,
        help="Attempts to push one status document through the driver-agent before giving up "
        "(transient errors only).",
    ),
    cfg.FloatOpt(
        "graceful_shutdown_timeout",
        default=60.0,
        min=0.0,
        help="Seconds a stopping worker waits for running jobs to finish.",
    ),
]
