"""The one status document a finished job pushes to Octavia's driver-agent.

Pure: (job, the tree read back through the driver-agent, the outcome) → the document, so every
rule of ``PROVIDER-CONTRACT.md`` is unit-tested without sockets. The rules that matter, because
each of them has left a real provider's load balancers stuck in PENDING_*:

- every object the API locked for the call goes back to a final state in one push;
- a failed object goes to ERROR and its parents back to ACTIVE, so one bad member never
  makes the whole load balancer immutable;
- a cascade delete reports every child DELETED, not only the load balancer;
- no id the tree does not hold is ever sent: the agent stops at the first unknown id.

Operating status follows what Octavia's amphora driver reports before any health data
exists (octavia 19.0.0, files under ``site-packages/octavia``):

- load balancer ONLINE, OFFLINE when admin-down: ``amphorae/drivers/health/heartbeat_udp.py:439``
  (the first heartbeat sets it; ``db/prepare.py:32`` creates it OFFLINE);
- listener ONLINE, OFFLINE when it (or its load balancer) is admin-down, since a disabled
  listener is absent from the amphora's report: ``heartbeat_udp.py:451-464``;
- pool ONLINE while its backend is up, OFFLINE when admin-down or used by no listener (the
  amphora never reports it: ``heartbeat_udp.py:530-540``), ERROR when every enabled member is
  down and DEGRADED when some are: ``heartbeat_udp.py:571-609``;
- member NO_MONITOR when its pool has no (enabled) health monitor, OFFLINE when it has one
  and no probe result exists yet (``db/prepare.py:175-179``) or when the member is
  admin-down (``MAINT``, ``heartbeat_udp.py:612``); a probe result, when given, wins;
- health monitor, L7 policy and L7 rule ONLINE, OFFLINE when disabled:
  ``controller/worker/v2/tasks/database_tasks.py:1851, 2030, 2168``;
- the load balancer rolls up ERROR from an ERROR pool and DEGRADED from a DEGRADED one
  (``heartbeat_udp.py:575-609``).

A pool's parents are the listeners whose default pool it is plus those with an enabled L7
policy that has rules and redirects to it, exactly Octavia's ``Pool.listeners``
(``db/models.py:384``), which is what the API locks for pool, member and monitor calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from octavia_loxilb.common.jobs import Job

ACTIVE = "ACTIVE"
ERROR = "ERROR"
DELETED = "DELETED"
ONLINE = "ONLINE"
OFFLINE = "OFFLINE"
DEGRADED = "DEGRADED"
NO_MONITOR = "NO_MONITOR"

LOADBALANCERS = "loadbalancers"
LISTENERS = "listeners"
POOLS = "pools"
MEMBERS = "members"
HEALTHMONITORS = "healthmonitors"
L7POLICIES = "l7policies"
L7RULES = "l7rules"

REPORT_ORDER = (MEMBERS, HEALTHMONITORS, POOLS, L7RULES, L7POLICIES, LISTENERS, LOADBALANCERS)
"""The order the driver-agent applies kinds in (children before parents)."""

StatusRecord = dict[str, str]
StatusDocument = dict[str, list[StatusRecord]]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How the job ended.

    ``succeeded`` is True only when the converge applied the desired state and verified it by
    read-back. ``failed`` names objects that could not be realized although the job as a
    whole succeeded (a listener LoxiLB rejected, a member it cannot use): those of them this
    job created or changed go to ERROR alone. ``observed`` holds operating statuses already
    known from probes (object id → ONLINE/ERROR/...), used instead of the at-rest defaults.
    """

    succeeded: bool
    failed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    observed: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class _Node:
    kind: str
    id: str
    body: Mapping[str, Any]
    parent: str | None


class TreeIndex:
    """Every object of one load balancer's tree by id, with its kind and parent.

    The tree is the dict the driver-agent's ``get`` answers for a load balancer (nested
    children as plain dicts, ``None`` for absent lists and monitors).
    """

    def __init__(self, tree: Mapping[str, Any]) -> None:
        self.lb_id: str = tree["loadbalancer_id"]
        self.lb: Mapping[str, Any] = tree
        self.nodes: dict[str, _Node] = {}
        self.order: list[str] = []
        self._add(LOADBALANCERS, self.lb_id, tree, None)
        for listener in _items(tree.get("listeners")):
            self._add(LISTENERS, listener["listener_id"], listener, self.lb_id)
            for policy in _items(listener.get("l7policies")):
                self._add(L7POLICIES, policy["l7policy_id"], policy, listener["listener_id"])
                for rule in _items(policy.get("rules")):
                    self._add(L7RULES, rule["l7rule_id"], rule, policy["l7policy_id"])
        pools = list(_items(tree.get("pools")))
        for listener in _items(tree.get("listeners")):
            default_pool = listener.get("default_pool")
            if isinstance(default_pool, Mapping) and default_pool.get("pool_id"):
                pools.append(default_pool)
        for pool in pools:
            pool_id = pool["pool_id"]
            if pool_id in self.nodes:
                continue
            self._add(POOLS, pool_id, pool, self.lb_id)
            monitor = pool.get("healthmonitor")
            if isinstance(monitor, Mapping) and monitor.get("healthmonitor_id"):
                self._add(HEALTHMONITORS, monitor["healthmonitor_id"], monitor, pool_id)
            for member in _items(pool.get("members")):
                self._add(MEMBERS, member["member_id"], member, pool_id)

    def _add(self, kind: str, obj_id: str, body: Mapping[str, Any], parent: str | None) -> None:
        if obj_id in self.nodes:
            return
        self.nodes[obj_id] = _Node(kind, obj_id, body, parent)
        self.order.append(obj_id)

    def __contains__(self, obj_id: object) -> bool:
        return obj_id in self.nodes

    def kind(self, obj_id: str) -> str:
        return self.nodes[obj_id].kind

    def of_kind(self, kind: str) -> list[str]:
        return [i for i in self.order if self.nodes[i].kind == kind]

    def children(self, obj_id: str) -> list[str]:
        return [i for i in self.order if self.nodes[i].parent == obj_id]

    def descendants(self, obj_id: str) -> list[str]:
        found: list[str] = []
        stack = [obj_id]
        while stack:
            for child in self.children(stack.pop()):
                found.append(child)
                stack.append(child)
        return found

    def pool_listeners(self, pool_id: str) -> list[str]:
        """Octavia's ``Pool.listeners``: default-pool users, then enabled L7 redirects."""
        users = [
            lid for lid in self.of_kind(LISTENERS)
            if self.nodes[lid].body.get("default_pool_id") == pool_id
        ]
        for pid in self.of_kind(L7POLICIES):
            policy = self.nodes[pid].body
            if (policy.get("redirect_pool_id") == pool_id and _enabled(policy)
                    and _items(policy.get("rules"))):
                listener_id = self.nodes[pid].parent
                if listener_id is not None and listener_id not in users:
                    users.append(listener_id)
        return users

    def parents(self, obj_id: str) -> list[str]:
        """The objects the API locks together with ``obj_id`` (the load balancer excluded)."""
        node = self.nodes[obj_id]
        if node.kind in (MEMBERS, HEALTHMONITORS):
            assert node.parent is not None
            return [node.parent, *self.pool_listeners(node.parent)]
        if node.kind == POOLS:
            return self.pool_listeners(obj_id)
        if node.kind == L7RULES:
            assert node.parent is not None
            return [node.parent, *self.parents(node.parent)]
        if node.kind == L7POLICIES:
            return [node.parent] if node.parent else []
        return []


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _enabled(body: Mapping[str, Any]) -> bool:
    """Admin state; the driver-agent renders an unset one as None, which Octavia treats as up."""
    return body.get("admin_state_up") is not False


class _OperatingStatus:
    """At-rest operating status of each object, rolled up member → pool → load balancer."""

    def __init__(
        self, index: TreeIndex, observed: Mapping[str, str], gone: set[str]
    ) -> None:
        self.index = index
        self.observed = observed
        self.gone = gone

    def _live(self, ids: Iterable[str]) -> list[str]:
        return [i for i in ids if i not in self.gone]

    def of(self, obj_id: str) -> str:
        kind = self.index.kind(obj_id)
        return getattr(self, f"_{kind}")(obj_id)

    def _body(self, obj_id: str) -> Mapping[str, Any]:
        return self.index.nodes[obj_id].body

    def _lb_enabled(self) -> bool:
        return _enabled(self.index.lb)

    def _loadbalancers(self, obj_id: str) -> str:
        if not self._lb_enabled():
            return OFFLINE
        pools = [self._pools(p) for p in self._live(self.index.of_kind(POOLS))]
        if ERROR in pools:
            return ERROR
        if DEGRADED in pools:
            return DEGRADED
        return ONLINE

    def _listeners(self, obj_id: str) -> str:
        return ONLINE if self._lb_enabled() and _enabled(self._body(obj_id)) else OFFLINE

    def _pools(self, obj_id: str) -> str:
        if not self._lb_enabled() or not _enabled(self._body(obj_id)):
            return OFFLINE
        if not any(
            _enabled(self._body(lid))
            for lid in self._live(self.index.pool_listeners(obj_id))
        ):
            return OFFLINE
        members = [
            self._members(m) for m in self._live(self.index.children(obj_id))
            if self.index.kind(m) == MEMBERS and _enabled(self._body(m))
        ]
        down = members.count(ERROR)
        if members and down == len(members):
            return ERROR
        if down:
            return DEGRADED
        return ONLINE

    def _members(self, obj_id: str) -> str:
        if not _enabled(self._body(obj_id)):
            return OFFLINE
        if obj_id in self.observed:
            return self.observed[obj_id]
        pool_id = self.index.nodes[obj_id].parent
        assert pool_id is not None
        monitored = any(
            self.index.kind(c) == HEALTHMONITORS and _enabled(self._body(c))
            for c in self._live(self.index.children(pool_id))
        )
        return OFFLINE if monitored else NO_MONITOR

    def _simple(self, obj_id: str) -> str:
        return ONLINE if _enabled(self._body(obj_id)) else OFFLINE

    _healthmonitors = _l7policies = _l7rules = _simple


def _locked_ids(job: Job) -> list[str]:
    return [obj_id for kind in REPORT_ORDER for obj_id in job.locked.get(kind, [])]


def _deleting_ids(job: Job) -> list[str]:
    return [obj_id for kind in REPORT_ORDER for obj_id in job.deleting.get(kind, [])]


def _batch_removed(job: Job, index: TreeIndex) -> list[str]:
    """Members in the pool before a batch update that the new list no longer holds."""
    if job.members is None:
        return []
    kind, pool_id = job.subject
    if kind != POOLS or pool_id not in index:
        return []
    keep = set(job.members)
    dropping = set(job.deleting.get(MEMBERS, []))
    return [
        m for m in index.children(pool_id)
        if index.kind(m) == MEMBERS and (m not in keep or m in dropping)
    ]


def going_away(job: Job, index: TreeIndex) -> dict[str, list[str]]:
    """Ids that must be absent from LoxiLB after ``job``: its ``deleting`` plus, for a batch
    update, the pool's members the new list drops (the API passes only the kept ones)."""
    result = {kind: list(ids) for kind, ids in job.deleting.items()}
    removed = [m for m in _batch_removed(job, index) if m not in result.get(MEMBERS, [])]
    if removed:
        result.setdefault(MEMBERS, []).extend(removed)
    return result


def build_status(job: Job, tree: Mapping[str, Any] | None, outcome: Outcome) -> StatusDocument:
    """The status document for ``job``; empty when there is nothing Octavia could accept.

    Empty means: the load balancer is gone, or the subject is absent from the tree (the API
    rolled the call back, so nothing is PENDING because of this job).
    """
    if tree is None:
        return {}
    index = TreeIndex(tree)
    if index.lb_id != job.loadbalancer_id:
        return {}
    subject_kind, subject_id = job.subject
    if subject_id not in index:
        return {}

    final: dict[str, str] = {}
    if job.op == "member_batch_update":
        _batch_update(job, index, outcome, final)
    elif job.op == "loadbalancer_delete":
        _lb_delete(job, index, outcome, final)
    else:
        _generic(job, index, outcome, final)

    gone = {obj_id for obj_id, prov in final.items() if prov == DELETED}
    op_status = _OperatingStatus(index, outcome.observed, gone)
    by_kind: dict[str, list[StatusRecord]] = {}
    for obj_id in index.order:
        if obj_id not in final:
            continue
        prov = final[obj_id]
        if prov == DELETED:
            oper = OFFLINE
        elif prov == ERROR:
            oper = ERROR
        else:
            oper = op_status.of(obj_id)
        by_kind.setdefault(index.kind(obj_id), []).append(
            {"id": obj_id, "provisioning_status": prov, "operating_status": oper}
        )
    return {kind: by_kind[kind] for kind in REPORT_ORDER if kind in by_kind}


def _mark(final: dict[str, str], index: TreeIndex, ids: Iterable[str], status: str) -> None:
    for obj_id in ids:
        if obj_id in index:
            final[obj_id] = status


def _generic(job: Job, index: TreeIndex, outcome: Outcome, final: dict[str, str]) -> None:
    """Creates, updates, plain deletes and failover of any single object."""
    subject_id = job.subject[1]
    is_delete = job.op.endswith("_delete")
    parents = [index.lb_id, *index.parents(subject_id)]
    if job.op == "loadbalancer_create":
        changed = [subject_id, *index.descendants(subject_id)]
    else:
        own = set(index.descendants(subject_id))
        changed = [subject_id, *(i for i in _locked_ids(job) if i in own)]
    others = [i for i in _locked_ids(job) if i not in changed and i not in parents]

    _mark(final, index, parents, ACTIVE)
    _mark(final, index, others, ACTIVE)
    if outcome.succeeded:
        _mark(final, index, changed, DELETED if is_delete else ACTIVE)
        _mark(final, index, _deleting_ids(job), DELETED)
        if not is_delete:
            _mark(final, index, [i for i in changed if i in outcome.failed], ERROR)
    else:
        _mark(final, index, changed, ERROR)


def _lb_delete(job: Job, index: TreeIndex, outcome: Outcome, final: dict[str, str]) -> None:
    """A plain delete holds no children; a cascade one reports every child DELETED.

    On failure only the load balancer was locked (the API marks children nothing), so only it
    goes to ERROR, which keeps it deletable.
    """
    if not outcome.succeeded:
        final[index.lb_id] = ERROR
        return
    _mark(final, index, index.order, DELETED)


def _batch_update(job: Job, index: TreeIndex, outcome: Outcome, final: dict[str, str]) -> None:
    """Removed members DELETED, the new list ACTIVE; the pool and its listeners ACTIVE.

    On failure the members this call touched (locked, or being removed) go to ERROR and the
    pool stays mutable. Without a member list in ``locked`` every listed member counts as
    touched.
    """
    pool_id = job.subject[1]
    removed = _batch_removed(job, index)
    listed = [m for m in (job.members or []) if m in index]
    locked_members = set(job.locked.get(MEMBERS, []))
    touched = [m for m in listed if m in locked_members] if locked_members else listed

    _mark(final, index, [index.lb_id, pool_id, *index.pool_listeners(pool_id)], ACTIVE)
    if outcome.succeeded:
        _mark(final, index, listed, ACTIVE)
        _mark(final, index, [m for m in touched if m in outcome.failed], ERROR)
        _mark(final, index, removed, DELETED)
    else:
        _mark(final, index, touched, ERROR)
        _mark(final, index, removed, ERROR)


def build_blind_status(job: Job) -> list[StatusDocument]:
    """Single-record documents that release what ``job`` locked when no tree can be read.

    Used only when the driver-agent cannot answer reads: ids then come from the job alone
    and may be stale, so each goes in its own push (a rejected one stops nothing else),
    children first and the load balancer last. The subject goes to ERROR, the rest ACTIVE.
    """
    kind_of: dict[str, str] = {}
    for kind in REPORT_ORDER:
        for obj_id in job.locked.get(kind, []):
            kind_of.setdefault(obj_id, kind)
    kind_of.setdefault(job.subject[1], job.subject[0])
    if job.loadbalancer_id:
        kind_of.setdefault(job.loadbalancer_id, LOADBALANCERS)
    documents: list[StatusDocument] = []
    for kind in REPORT_ORDER:
        for obj_id, obj_kind in kind_of.items():
            if obj_kind != kind:
                continue
            prov = ERROR if obj_id == job.subject[1] else ACTIVE
            documents.append({kind: [{"id": obj_id, "provisioning_status": prov}]})
    return documents
