"""Turn one provider call into the ``Job`` the worker converges and reports.

Pure functions of what Octavia passed in: the ids the API locked (every one must be
reported back), the ids going away, and for updates the scalar fields the worker must see
before it trusts its read of a tree the API may not have committed yet.

Member and health-monitor calls do not tell the driver their load balancer (octavia-lib
gives them only a ``pool_id``); their jobs carry an empty ``loadbalancer_id`` and the pool
in ``locked["pools"]``, from which the worker resolves the load balancer.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.driver.objects import ID_FIELD, Fields, children, fields_of, object_id

Ids = dict[str, list[str]]


def _add(ids: Ids, kind: str, value: Any) -> None:
    if value:
        bucket = ids.setdefault(kind, [])
        if str(value) not in bucket:
            bucket.append(str(value))


def _pool_tree(pool: Fields, ids: Ids) -> None:
    _add(ids, "pools", object_id("pools", pool))
    for member in children(pool, "members"):
        _add(ids, "members", object_id("members", member))
    for monitor in children(pool, "healthmonitor"):
        _add(ids, "healthmonitors", object_id("healthmonitors", monitor))


def _loadbalancer_tree(lb: Fields) -> Ids:
    """Every id in a load balancer's tree, the load balancer first."""
    ids: Ids = {}
    _add(ids, "loadbalancers", object_id("loadbalancers", lb))
    for listener in children(lb, "listeners"):
        _add(ids, "listeners", object_id("listeners", listener))
        for policy in children(listener, "l7policies"):
            _add(ids, "l7policies", object_id("l7policies", policy))
            for rule in children(policy, "rules"):
                _add(ids, "l7rules", object_id("l7rules", rule))
        for pool in children(listener, "default_pool"):
            _pool_tree(pool, ids)
    for pool in children(lb, "pools"):
        _pool_tree(pool, ids)
    return ids


def _scalars(kind: str, new: Fields) -> dict[str, Any]:
    """The changed scalar fields of an update (what the worker waits to read back)."""
    return {k: v for k, v in new.items()
            if k != ID_FIELD[kind] and (v is None or isinstance(v, (str, int, float, bool)))}


def _job(op: str, lb_id: Any, kind: str, subject_id: Any, locked: Ids, **extra: Any) -> Job:
    return Job(op=op, loadbalancer_id=str(lb_id or ""), subject=(kind, str(subject_id)),
               locked=locked, created_at=time.time(), **extra)


def _lb_and(lb_id: Any, *pairs: tuple[str, Any]) -> Ids:
    ids: Ids = {}
    _add(ids, "loadbalancers", lb_id)
    for kind, value in pairs:
        _add(ids, kind, value)
    return ids


def loadbalancer_create(loadbalancer: Any) -> Job:
    lb = fields_of(loadbalancer)
    lb_id = object_id("loadbalancers", lb)
    return _job("loadbalancer_create", lb_id, "loadbalancers", lb_id, _loadbalancer_tree(lb))


def loadbalancer_update(old: Any, new: Any) -> Job:
    changes = fields_of(new)
    lb_id = object_id("loadbalancers", changes) or object_id("loadbalancers", fields_of(old))
    return _job("loadbalancer_update", lb_id, "loadbalancers", lb_id, _lb_and(lb_id),
                expect=_scalars("loadbalancers", changes))


def loadbalancer_delete(loadbalancer: Any, cascade: bool) -> Job:
    lb = fields_of(loadbalancer)
    lb_id = object_id("loadbalancers", lb)
    return _job("loadbalancer_delete", lb_id, "loadbalancers", lb_id, _lb_and(lb_id),
                deleting=_loadbalancer_tree(lb), cascade=bool(cascade))


def loadbalancer_failover(loadbalancer_id: str) -> Job:
    return _job("loadbalancer_failover", loadbalancer_id, "loadbalancers", loadbalancer_id,
                _lb_and(loadbalancer_id))


def listener_create(listener: Any) -> Job:
    fields = fields_of(listener)
    lid = object_id("listeners", fields)
    return _job("listener_create", fields.get("loadbalancer_id"), "listeners", lid,
                _lb_and(fields.get("loadbalancer_id"), ("listeners", lid)))


def listener_update(old: Any, new: Any) -> Job:
    before, changes = fields_of(old), fields_of(new)
    lid = object_id("listeners", changes) or object_id("listeners", before)
    lb_id = changes.get("loadbalancer_id") or before.get("loadbalancer_id")
    return _job("listener_update", lb_id, "listeners", lid,
                _lb_and(lb_id, ("listeners", lid)), expect=_scalars("listeners", changes))


def listener_delete(listener: Any) -> Job:
    fields = fields_of(listener)
    lid = object_id("listeners", fields)
    lb_id = fields.get("loadbalancer_id")
    return _job("listener_delete", lb_id, "listeners", lid, _lb_and(lb_id, ("listeners", lid)),
                deleting={"listeners": [str(lid)]})


def _pool_locks(pool: Fields) -> Ids:
    return _lb_and(pool.get("loadbalancer_id"), ("listeners", pool.get("listener_id")),
                   ("pools", object_id("pools", pool)))


def pool_create(pool: Any) -> Job:
    fields = fields_of(pool)
    pid = object_id("pools", fields)
    locked = _pool_locks(fields)
    _pool_tree(fields, locked)
    return _job("pool_create", fields.get("loadbalancer_id"), "pools", pid, locked)


def pool_update(old: Any, new: Any) -> Job:
    before, changes = fields_of(old), fields_of(new)
    pid = object_id("pools", changes) or object_id("pools", before)
    return _job("pool_update", before.get("loadbalancer_id"), "pools", pid,
                _pool_locks({**before, **changes}), expect=_scalars("pools", changes))


def pool_delete(pool: Any) -> Job:
    fields = fields_of(pool)
    pid = object_id("pools", fields)
    deleting: Ids = {}
    _pool_tree(fields, deleting)
    return _job("pool_delete", fields.get("loadbalancer_id"), "pools", pid,
                _pool_locks(fields), deleting=deleting)


def _member_locks(member: Fields) -> Ids:
    ids: Ids = {}
    _add(ids, "pools", member.get("pool_id"))
    _add(ids, "members", object_id("members", member))
    return ids


def member_create(member: Any) -> Job:
    fields = fields_of(member)
    return _job("member_create", "", "members", object_id("members", fields),
                _member_locks(fields))


def member_update(old: Any, new: Any) -> Job:
    before, changes = fields_of(old), fields_of(new)
    mid = object_id("members", changes) or object_id("members", before)
    return _job("member_update", "", "members", mid, _member_locks({**before, **changes}),
                expect=_scalars("members", changes))


def member_delete(member: Any) -> Job:
    fields = fields_of(member)
    mid = object_id("members", fields)
    return _job("member_delete", "", "members", mid, _member_locks(fields),
                deleting={"members": [str(mid)]})


def member_batch_update(pool_id: str, members: Sequence[Any]) -> Job:
    member_ids = [str(object_id("members", fields_of(m))) for m in members]
    locked: Ids = {"pools": [str(pool_id)]}
    if member_ids:
        locked["members"] = list(member_ids)
    return _job("member_batch_update", "", "pools", pool_id, locked, members=member_ids)


def _monitor_locks(monitor: Fields) -> Ids:
    ids: Ids = {}
    _add(ids, "pools", monitor.get("pool_id"))
    _add(ids, "healthmonitors", object_id("healthmonitors", monitor))
    return ids


def health_monitor_create(healthmonitor: Any) -> Job:
    fields = fields_of(healthmonitor)
    return _job("health_monitor_create", "", "healthmonitors",
                object_id("healthmonitors", fields), _monitor_locks(fields))


def health_monitor_update(old: Any, new: Any) -> Job:
    before, changes = fields_of(old), fields_of(new)
    hid = object_id("healthmonitors", changes) or object_id("healthmonitors", before)
    return _job("health_monitor_update", "", "healthmonitors", hid,
                _monitor_locks({**before, **changes}),
                expect=_scalars("healthmonitors", changes))


def health_monitor_delete(healthmonitor: Any) -> Job:
    fields = fields_of(healthmonitor)
    hid = object_id("healthmonitors", fields)
    return _job("health_monitor_delete", "", "healthmonitors", hid, _monitor_locks(fields),
                deleting={"healthmonitors": [str(hid)]})
