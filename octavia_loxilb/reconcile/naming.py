"""Deterministic LoxiLB identities for Octavia objects.

A rule's ``name`` is how we recognise our own rules on a shared node (together with the
load balancer's VIPs), and a probe host's key is how LoxiLB ties a probe to a rule's
endpoint (API-NOTES §2.4, §3.1), so both must be derived the same way everywhere.
"""

from __future__ import annotations

from octavia_loxilb.loxilb.models import canonical_ip

DEFAULT_PREFIX = "oct-"


def check_prefix(prefix: str) -> str:
    """Reject prefixes LoxiLB would misread.

    A ``:`` in a rule name binds the rule to an HA instance (API-NOTES §5.3); our names must
    stay on the default instance until HA topologies choose one explicitly.
    """
    if not prefix:
        raise ValueError("the rule name prefix must not be empty")
    if ":" in prefix:
        raise ValueError(f"rule name prefix {prefix!r} must not contain ':'")
    return prefix


def rule_name(prefix: str, listener_id: str) -> str:
    """The ``name`` of the rule that realizes ``listener_id``."""
    if ":" in listener_id:
        raise ValueError(f"listener id {listener_id!r} must not contain ':'")
    return check_prefix(prefix) + listener_id


def listener_id_of(prefix: str, name: str) -> str | None:
    """The listener id a rule name carries, or None when the name is not one of ours."""
    if name.startswith(prefix) and len(name) > len(prefix):
        return name[len(prefix) :]
    return None


def probe_key(ip: str, rule_protocol: str, port: int) -> str:
    """LoxiLB's probe-host key for a rule endpoint: ``<ip>_<proto>_<targetPort>``."""
    if rule_protocol == "icmp":
        return f"{canonical_ip(ip)}_ping_0"
    return f"{canonical_ip(ip)}_{rule_protocol}_{port}"
