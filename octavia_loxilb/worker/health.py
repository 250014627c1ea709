"""Leader-only health poller: member, pool, listener and LB operating status from LoxiLB.

Every ``[loxilb] health_interval`` seconds the leader reads, once per LoxiLB node, all rules
(``GET /config/loadbalancer/all``, endpoint ``state``) and all probe hosts (``GET
/config/endpoint/all``, ``currState``), then for every placed load balancer computes its
operating statuses (``rollup.rollup``) and pushes only what changed since its last push, all
load balancers of the cycle in one ``update_loadbalancer_status`` document. Provisioning
status is never touched.

An endpoint counts as unhealthy when LoxiLB marks it ``inactive`` in the rule or when its
probe host is failing (``nok``) or forced ``red``: the probe host flips within a probe
period, the rule only on LoxiLB's 10 s rule sync (API-NOTES §2.10), and either way the
member is not serving.

Correctness guards:

* A load balancer whose lock is held (a job is converging it, so Octavia shows it PENDING)
  is skipped; the lock is only probed, never held through the read (that would stall jobs
  and the resync), and a status computed just before a job starts is corrected next cycle.
* Octavia trees are cached and re-read every ``health_tree_refresh_interval`` seconds, and
  at once when a job for that load balancer finished in this process. A re-read also forgets
  what was last pushed for it, so a status a job pushed (on any worker) is corrected within
  one refresh interval.
* When an enabled listener's rule is absent from every reachable node (e.g. LoxiLB just
  restarted and the resync has not restored it) the load balancer is skipped for one cycle;
  only a rule still missing on the next cycle turns the listener ERROR. A load balancer none
  of whose nodes answer is skipped: an unreachable API says nothing about the members.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from octavia_loxilb.db import api as db_api
from octavia_loxilb.db.session import session_scope
from octavia_loxilb.loxilb import models
from octavia_loxilb.loxilb.interface import LoxiLBNodeAPI
from octavia_loxilb.reconcile import naming
from octavia_loxilb.reconcile.desired import DesiredState, TranslateSettings
from octavia_loxilb.reconcile.translate import translate
from octavia_loxilb.worker import octavia_reader, rollup
from octavia_loxilb.worker.locking import LockTimeout
from octavia_loxilb.worker.periodic import TaskContext

LOG = logging.getLogger(__name__)

UNHEALTHY_PROBE_STATES = frozenset({"nok", "red"})


@dataclasses.dataclass(frozen=True)
class NodeView:
    """One node's rules (by name) and probe-host states (by key), read once per cycle."""

    rules: Mapping[str, Sequence[models.LoadBalancerRule]]
    probe_states: Mapping[str, str]

    @classmethod
    def read(cls, node: LoxiLBNodeAPI) -> NodeView:
        by_name: dict[str, list[models.LoadBalancerRule]] = {}
        for rule in node.list_rules():
            by_name.setdefault(rule.name, []).append(rule)
        probes = {p.name: p.state for p in node.list_endpoint_probes()}
        return cls(rules=by_name, probe_states=probes)


def observe(desired: DesiredState, views: Sequence[NodeView]) -> tuple[rollup.Observed,
                                                                        set[str]]:
    """What the reachable nodes show for ``desired``; also the listeners with a rule missing.

    A listener counts as realized when every one of its desired rules is on some node;
    listeners with nothing to realize (idle: no pool, no usable member) count as realized.
    A member is healthy unless some node shows its endpoint inactive or its probe failing.
    """
    missing: set[str] = set()
    realized_pools: set[str] = set()
    members: dict[str, bool] = {}
    for want in desired.rules:
        found = [(view, rule) for view in views for rule in view.rules.get(want.rule.name, ())
                 if rule.key == want.key]
        if not found:
            missing.add(want.listener_id)
            continue
        realized_pools.add(want.pool_id)
        protocol = want.rule.service.protocol
        for member_id, endpoint in zip(want.member_ids, want.rule.endpoints, strict=True):
            key = naming.probe_key(endpoint.ip, protocol, endpoint.port)
            for view, rule in found:
                actual = next((ep for ep in rule.endpoints if ep.ident == endpoint.ident), None)
                if actual is None:
                    continue
                healthy = (actual.state == "active"
                           and view.probe_states.get(key, "ok") not in UNHEALTHY_PROBE_STATES)
                members[member_id] = members.get(member_id, True) and healthy
    listeners = {d.listener_id for d in desired.rules} | set(desired.idle_listeners)
    observed = rollup.Observed(
        listeners_with_rule=frozenset(listeners - missing),
        pools_with_rule=frozenset(realized_pools),
        members=members,
    )
    return observed, missing


class HealthPoller:
    """One poll per call; state (tree cache, last pushed) lives for one leadership term."""

    def __init__(self, context: TaskContext, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.context = context
        self.conf = context.conf
        self.clock = clock
        self.settings = TranslateSettings.from_conf(self.conf)
        self._trees: dict[str, tuple[dict[str, Any], float]] = {}
        self._stale: set[str] = set()
        self.last_pushed: dict[str, rollup.Statuses] = {}
        self._missing_before: dict[str, set[str]] = {}
        context.job_listeners.append(self.job_finished)

    def job_finished(self, loadbalancer_id: str) -> None:
        """A job changed this load balancer: re-read its tree next cycle."""
        self._stale.add(loadbalancer_id)

    def __call__(self) -> None:
        self.poll()

    def poll(self) -> dict[str, list[dict[str, str]]]:
        """Run one cycle; returns the document pushed (empty when nothing changed)."""
        with session_scope(self.context.engine) as session:
            placements = db_api.list_placements(session)
        placed = {p.loadbalancer_id for p in placements}
        for lb_id in set(self._trees) - placed:
            self._forget(lb_id)
        views = self._read_nodes(placements)
        library = self.context.library() if self.context.library else None
        changed: dict[str, rollup.Statuses] = {}
        for placement in placements:
            lb_id = placement.loadbalancer_id
            if self._job_running(lb_id):
                continue
            statuses = self._statuses(library, placement, views)
            if statuses is None:
                continue
            delta = rollup.changes(statuses, self.last_pushed.get(lb_id, {}))
            if any(delta.values()):
                changed[lb_id] = statuses
        return self._push(library, changed)

    def _job_running(self, lb_id: str) -> bool:
        """Whether a job holds the LB (its objects are PENDING): probe the lock, don't keep it.

        Holding the lock through the tree read (a driver-agent call) would make jobs, the
        resync and the restart refill wait on the poller. A job that starts right after this
        probe is corrected next cycle; a record for an object it deleted is dropped by
        ``push_status``, which re-pushes the rest.
        """
        locks = self.context.locks
        if locks is None:
            return False
        try:
            with locks.hold(lb_id, timeout=0):
                return False
        except LockTimeout:
            LOG.debug("Health poll skips %s: a job holds it", lb_id)
            return True

    def _read_nodes(self, placements: Iterable[db_api.Placement]
                    ) -> dict[str, NodeView | None]:
        views: dict[str, NodeView | None] = {}
        for placement in placements:
            group = placement.group
            if all(node.api_url in views for node in group.nodes):
                continue
            try:
                clients = self.context.placer.nodes(group)
            except Exception as exc:
                LOG.warning("Health poll cannot reach group %s: %s", group.name, exc)
                continue
            for client in clients:
                if client.node in views:
                    continue
                try:
                    views[client.node] = NodeView.read(client)
                except Exception as exc:  # an unreachable node says nothing about members
                    LOG.warning("Health poll could not read LoxiLB %s: %s", client.node, exc)
                    views[client.node] = None
        return views

    def _tree(self, library: Any, lb_id: str) -> dict[str, Any] | None:
        cached = self._trees.get(lb_id)
        now = self.clock()
        refresh = self.conf.loxilb.health_tree_refresh_interval
        if cached is not None and lb_id not in self._stale and now - cached[1] < refresh:
            return cached[0]
        self._stale.discard(lb_id)
        self.last_pushed.pop(lb_id, None)
        tree = octavia_reader.current_tree(library, lb_id)
        if tree is None:
            self._forget(lb_id)
            return None
        self._trees[lb_id] = (tree, now)
        return tree

    def _forget(self, lb_id: str) -> None:
        self._trees.pop(lb_id, None)
        self.last_pushed.pop(lb_id, None)
        self._missing_before.pop(lb_id, None)

    def _statuses(self, library: Any, placement: db_api.Placement,
                  views: Mapping[str, NodeView | None]) -> rollup.Statuses | None:
        lb_id = placement.loadbalancer_id
        reachable = [v for n in placement.group.nodes if (v := views.get(n.api_url))]
        if not reachable:
            return None
        try:
            tree = self._tree(library, lb_id)
        except Exception as exc:
            LOG.warning("Health poll could not read load balancer %s: %s", lb_id, exc)
            return None
        if tree is None:
            return None
        desired = translate(tree, settings=self.settings)
        observed, missing = observe(desired, reachable)
        newly_missing = missing - self._missing_before.get(lb_id, set())
        self._missing_before[lb_id] = missing
        if newly_missing:
            LOG.info("Health poll defers %s: rules of listeners %s not on LoxiLB yet", lb_id,
                     sorted(newly_missing))
            return None
        return rollup.rollup(tree, observed)

    def _push(self, library: Any, changed: Mapping[str, rollup.Statuses]
              ) -> dict[str, list[dict[str, str]]]:
        if not changed:
            return {}
        merged: rollup.Statuses = {}
        for lb_id, statuses in changed.items():
            for kind, by_id in rollup.changes(statuses, self.last_pushed.get(lb_id, {})).items():
                merged.setdefault(kind, {}).update(by_id)
        document = rollup.as_document(merged)
        pushed = octavia_reader.push_status(
            {k: [dict(r) for r in v] for k, v in document.items()}, library,
            attempts=self.conf.loxilb.status_push_attempts)
        if pushed:
            self.last_pushed.update(changed)
        else:  # some record was refused (a deleted object): re-read those trees next cycle
            self._stale.update(changed)
        LOG.info("Health poll pushed operating status of %d load balancer(s)", len(changed))
        return document


def make_poller(context: TaskContext) -> HealthPoller:
    """Factory for ``PeriodicRunner.register("health", "health_interval", make_poller)``."""
    return HealthPoller(context)
