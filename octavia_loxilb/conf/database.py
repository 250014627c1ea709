"""Options of the driver's own database.

A group of its own (``loxilb_database``) so it never collides with Octavia's ``[database]``
in the shared ``octavia.conf``.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "loxilb_database"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "connection",
        default="sqlite:///$loxilb.state_path/octavia-loxilb.sqlite",
        secret=True,
        help="SQLAlchemy URL of the driver's state database (groups, nodes, placements), "
        "e.g. mysql+pymysql://user:pass@host/octavia_loxilb. The default is SQLite under "
        "[loxilb] state_path.",
    ),
    cfg.IntOpt(
        "pool_size",
        default=5,
        min=1,
        help="Connections kept open per worker process (server databases only).",
    ),
    cfg.IntOpt(
        "pool_recycle",
        default=3600,
        min=1,
        help="Seconds after which a pooled connection is replaced (server databases only).",
    ),
]
