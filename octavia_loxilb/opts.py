"""Entry point for ``oslo-config-generator --namespace octavia_loxilb``."""

from octavia_loxilb.conf import list_opts

__all__ = ["list_opts"]
