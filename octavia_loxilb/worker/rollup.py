"""Operating status of a load balancer's tree from what LoxiLB says about its endpoints.

Pure: given the Octavia tree (``DriverLibrary.get_loadbalancer`` rendered as a dict), which
listeners have a rule on LoxiLB, and each member's endpoint health, compute the operating
status of every member, pool, listener and the load balancer.

The roll-up follows Octavia's amphora health driver,
``octavia/amphorae/drivers/health/heartbeat_udp.py`` (Octavia 19.0.0), with LoxiLB facts
standing in for HAProxy's:

* LB: OFFLINE when admin-down, else ONLINE until a pool or member lowers it (:438-442).
* Listener: rule present → ONLINE (:462-464); rule absent → ERROR when the listener is
  enabled and the LB ACTIVE, else OFFLINE (:452-458). As there, a listener's status does not
  change the LB's, and nothing maps to DEGRADED (HAProxy's FULL has no LoxiLB counterpart).
* Pool realized by a rule: ONLINE when it has a usable member or no members (HAProxy ``UP``),
  ERROR when it has members and none is usable (``DOWN``), which also makes the LB ERROR
  (:572-577). A pool no listener's rule carries is OFFLINE (:533-540), its members untouched.
* Member: admin-down → OFFLINE (``MAINT``, :612-613); pool without an enabled monitor →
  NO_MONITOR (``no check``, :614-615); endpoint healthy → ONLINE, unhealthy → ERROR, which
  makes an ONLINE pool DEGRADED and an ONLINE LB DEGRADED (:599-609); a member the rule does
  not carry (e.g. not placeable) → OFFLINE unless NO_MONITOR (:591-594).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
DEGRADED = "DEGRADED"
ERROR = "ERROR"
NO_MONITOR = "NO_MONITOR"


@dataclasses.dataclass(frozen=True)
class Observed:
    """What LoxiLB shows for one load balancer.

    ``listeners_with_rule``: listeners whose rule exists on the node(s).
    ``pools_with_rule``: pools some present rule balances to.
    ``members``: member id → True (endpoint healthy) / False (inactive or probe failing),
    for members some present rule carries.
    """

    listeners_with_rule: frozenset[str]
    pools_with_rule: frozenset[str]
    members: Mapping[str, bool]


Statuses = dict[str, dict[str, str]]
"""``{"loadbalancers"|"listeners"|"pools"|"members": {id: operating_status}}``."""


def _enabled(obj: Mapping[str, Any]) -> bool:
    return obj.get("admin_state_up") is not False


def monitored(pool: Mapping[str, Any]) -> bool:
    hm = pool.get("healthmonitor")
    return isinstance(hm, Mapping) and _enabled(hm)


def rollup(tree: Mapping[str, Any], observed: Observed) -> Statuses:
    """Operating status of every object of ``tree`` (see the module docstring)."""
    lb_status = ONLINE if _enabled(tree) else OFFLINE
    out: Statuses = {"loadbalancers": {}, "listeners": {}, "pools": {}, "members": {}}
    lb_active = tree.get("provisioning_status", "ACTIVE") == "ACTIVE"
    for listener in tree.get("listeners") or ():
        lid = listener["listener_id"]
        if lid in observed.listeners_with_rule:
            out["listeners"][lid] = ONLINE
        else:
            out["listeners"][lid] = ERROR if _enabled(listener) and lb_active else OFFLINE
    for pool in tree.get("pools") or ():
        pid = pool["pool_id"]
        if pid not in observed.pools_with_rule:
            out["pools"][pid] = OFFLINE
            continue
        pool_status, lb_status = _pool(pool, observed, out["members"], lb_status)
        out["pools"][pid] = pool_status
    out["loadbalancers"][tree["loadbalancer_id"]] = lb_status
    return out


def _pool(pool: Mapping[str, Any], observed: Observed, members_out: dict[str, str],
          lb_status: str) -> tuple[str, str]:
    members = list(pool.get("members") or ())
    has_monitor = monitored(pool)
    statuses: list[str] = []
    for member in members:
        mid = member["member_id"]
        if not _enabled(member):
            status = OFFLINE
        elif not has_monitor:
            status = NO_MONITOR
        elif mid not in observed.members:
            status = OFFLINE
        else:
            status = ONLINE if observed.members[mid] else ERROR
        members_out[mid] = status
        statuses.append(status)
    usable = any(s in (ONLINE, NO_MONITOR) for s in statuses)
    if statuses and not usable:
        return ERROR, ERROR
    pool_status = ONLINE
    if ERROR in statuses:
        pool_status = DEGRADED
        if lb_status == ONLINE:
            lb_status = DEGRADED
    return pool_status, lb_status


def changes(current: Statuses, last: Mapping[str, Mapping[str, str]]) -> Statuses:
    """The part of ``current`` that differs from what was last pushed."""
    return {
        kind: {obj_id: status for obj_id, status in by_id.items()
               if last.get(kind, {}).get(obj_id) != status}
        for kind, by_id in current.items()
    }


def as_document(statuses: Statuses) -> dict[str, list[dict[str, str]]]:
    """A ``update_loadbalancer_status`` document with operating statuses only."""
    return {
        kind: [{"id": obj_id, "operating_status": status} for obj_id, status in sorted(
            by_id.items())]
        for kind, by_id in statuses.items() if by_id
    }
