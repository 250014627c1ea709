"""Service credentials for reading Octavia's v2 API (the pending scan, issue: lost casts).

Standard keystoneauth options (``auth_type``, ``auth_url``, ``username``...) in their own
group, so they never collide with Octavia's ``[service_auth]`` in the same file.
"""

from __future__ import annotations

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

GROUP = "loxilb_octavia_api"

OPTS: list[cfg.Opt] = [
    *ks_loading.get_auth_common_conf_options(),
    *ks_loading.get_session_conf_options(),
]
