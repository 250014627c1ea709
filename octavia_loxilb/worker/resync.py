"""Drift repair: bring every placed load balancer back to what Octavia says, on every node.

LoxiLB keeps nothing across a restart and anyone with API access can change rules, so the
leader periodically compares each load balancer's Octavia tree with what its LoxiLB group
holds and repairs the difference with the same ``Reconciler`` every job uses; there is no
second code path for drift.

One cycle over a group:

1. read every node's rules and probes **once** and partition the rules by VIP;
2. list the group's placements (after the read, so a rule a job wrote before the read has
   its placement visible here and is never taken for an orphan);
3. per load balancer: read its tree through the driver-agent, translate, and plan against
   the partitioned rules without any call to LoxiLB; an empty plan on every node means the
   load balancer is in sync and costs nothing more;
4. only load balancers with something to do are repaired, under their per-LB lock taken
   with a short wait (a busy lock means a job is converging it anyway): the tree is read
   again inside the lock, and that fresh desired state is planned against the cycle's
   snapshot and applied, with no read of LoxiLB and no read-back per load balancer;
5. after every apply, **one** read per node, and each repaired load balancer is verified
   against it; one that fails (a job changed it between the snapshot and the lock, a step
   failed, a node was unreachable) gets a normal full converge (read, apply, read back)
   under its lock;
6. rules carrying our name prefix on a VIP that belongs to no load balancer placed on the
   group are deleted (never a rule without our prefix).

A cycle therefore costs O(nodes) reads of the rule table however many load balancers it
repairs, instead of two or three per load balancer (a restart drifts all of them).

Why applying a plan made from the snapshot is safe even if the snapshot is stale: every
body written comes from the fresh desired state, so each write moves the node toward it,
and LoxiLB's answers to a write that is no longer needed are harmless: re-POSTing a rule
identical to the stored one, or attaching endpoints already there, is ``409 lbrule-exists``
(the client treats it as "already so"), a full oper-0 POST replaces what is stored, a delete
of a rule already gone is ``404 no-rule`` (also "already so"), and a probe set is a full
replacement. What a stale plan can miss (a rule or endpoint a job added and the fresh tree
no longer wants) or fail on (detaching from a rule that is gone: 404) is caught by the
batch verification and handed to the full converge. Nothing counts as repaired, and no
expectation for the restart detector is recorded, without a read-back that shows it.

A resync never pushes a status to Octavia: a repaired load balancer was ACTIVE before and
stays so, and a failed repair is logged and retried next cycle instead of flapping the load
balancer to ERROR.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from octavia_loxilb.db import api as db_api
from octavia_loxilb.db.session import session_scope
from octavia_loxilb.loxilb.interface import LoxiLBNodeAPI
from octavia_loxilb.loxilb.models import EndpointProbe, LoadBalancerRule, RuleKey, canonical_ip
from octavia_loxilb.reconcile.apply import ConvergeResult, NodeState, Reconciler
from octavia_loxilb.reconcile.desired import DesiredState, TranslateSettings
from octavia_loxilb.reconcile.plan import partition_by_vip, plan
from octavia_loxilb.reconcile.steps import describe
from octavia_loxilb.reconcile.translate import translate
from octavia_loxilb.worker import octavia_reader
from octavia_loxilb.worker.locking import LockTimeout
from octavia_loxilb.worker.probe_owners import ProbeOwners

LOG = logging.getLogger(__name__)

LOCK_WAIT = 2.0
"""Seconds a resync waits for a load balancer's lock (lock back ends poll, so not 0): still
held after that means a job is working on it, and it converges anyway."""

IN_SYNC = "in-sync"
APPLIED = "applied"
"""Written from the snapshot, waiting for the batch read-back (never a final state)."""
REPAIRED = "repaired"
DRIFTED = "drifted"
"""Dry run: something would change."""
BUSY = "busy"
FAILED = "failed"
GONE = "gone"
UNREADABLE = "unreadable"


@dataclasses.dataclass
class LoadBalancerSync:
    """What one cycle found and did for one load balancer."""

    loadbalancer_id: str
    state: str
    steps: list[str] = dataclasses.field(default_factory=list)
    """Planned steps, ``"<node>: <step>"``."""
    error: str | None = None
    converge: ConvergeResult | None = None
    desired: DesiredState | None = None


@dataclasses.dataclass
class NodeSnapshot:
    """One node's rules and probes as read at the start of a cycle."""

    api: LoxiLBNodeAPI
    rules_by_vip: dict[str, list[LoadBalancerRule]] = dataclasses.field(default_factory=dict)
    probes: list[EndpointProbe] = dataclasses.field(default_factory=list)
    error: str | None = None

    def rules_for(self, vips: Iterable[str]) -> list[LoadBalancerRule]:
        return [rule for vip in vips for rule in self.rules_by_vip.get(vip, ())]


@dataclasses.dataclass
class GroupReport:
    """One cycle over one LoxiLB group."""

    group: str
    loadbalancers: list[LoadBalancerSync] = dataclasses.field(default_factory=list)
    orphans: list[str] = dataclasses.field(default_factory=list)
    """Orphan rules deleted (or, in a dry run, to delete): ``"<node>: <name> <key>"``."""
    node_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    expected: dict[str, frozenset[RuleKey]] = dataclasses.field(default_factory=dict)
    """Per node: the keys of our rules that must be there after this cycle."""
    seconds: float = 0.0

    def count(self, state: str) -> int:
        return sum(1 for lb in self.loadbalancers if lb.state == state)


Progress = Callable[[LoadBalancerSync], None]


class Resyncer:
    """Runs resync cycles; one cycle at a time per process (periodic and triggered alike)."""

    def __init__(
        self,
        conf: Any,
        *,
        engine: Any,
        placer: Any,
        locks: Any,
        library: Callable[[], Any] | None = None,
        settings: TranslateSettings | None = None,
        busy: Callable[[], set[str]] | None = None,
        threads: int | None = None,
    ) -> None:
        self.conf = conf
        self.engine = engine
        self.placer = placer
        self.locks = locks
        self.library = library or (lambda: octavia_reader.driver_library(conf))
        self.settings = settings or TranslateSettings.from_conf(conf)
        self.busy = busy or (lambda: set())
        """Load balancers with a job in flight (the journal): left to that job."""
        self.threads = threads or conf.loxilb.resync_threads
        self.probe_owners = ProbeOwners(engine)
        """Shared probe hosts keep their owners' settings here as in jobs."""
        self._cycle = threading.Lock()
        self.last: dict[str, GroupReport] = {}
        """Group id → the last cycle's report (the restart detector reads ``expected``)."""

    # -- entry points ---------------------------------------------------------------------

    def groups(self) -> list[db_api.Group]:
        """Groups that hold at least one placed load balancer."""
        with session_scope(self.engine) as session:
            placements = db_api.list_placements(session)
        seen: dict[str, db_api.Group] = {}
        for placement in placements:
            seen.setdefault(placement.group.id, placement.group)
        return list(seen.values())

    def run(self, *, group_ids: Iterable[str] | None = None,
            loadbalancer_ids: Iterable[str] | None = None, dry_run: bool = False,
            progress: Progress | None = None) -> list[GroupReport]:
        """One cycle over the given groups (default: every group with placements).

        ``loadbalancer_ids`` restricts the cycle to those load balancers and skips the
        orphan sweep (which needs every load balancer of the group).
        """
        wanted = set(group_ids) if group_ids is not None else None
        only = set(loadbalancer_ids) if loadbalancer_ids is not None else None
        with self._cycle:
            reports = []
            for group in self.groups():
                if wanted is not None and group.id not in wanted:
                    continue
                report = self._group(group, only, dry_run, progress)
                if not dry_run and only is None:
                    self.last[group.id] = report
                reports.append(report)
            return reports

    def __call__(self) -> None:
        """The periodic task: one full cycle, logged."""
        for report in self.run():
            self._log(report)

    # -- one group ------------------------------------------------------------------------

    def _group(self, group: db_api.Group, only: set[str] | None, dry_run: bool,
               progress: Progress | None) -> GroupReport:
        started = time.monotonic()
        report = GroupReport(group=group.name)
        snapshots = [self._snapshot(api) for api in self.placer.nodes(group)]
        for snap in snapshots:
            if snap.error:
                report.node_errors[snap.api.node] = snap.error
        with session_scope(self.engine) as session:
            placements = db_api.list_placements(session, group.id)
        if only is not None:
            placements = [p for p in placements if p.loadbalancer_id in only]
        busy = self.busy()
        library = self.library()
        claims = self.probe_owners.claims(group.id)

        def one(placement: db_api.Placement) -> LoadBalancerSync:
            result = self._loadbalancer(placement, snapshots, library, busy, dry_run, claims)
            if progress is not None and result.state != APPLIED:
                progress(result)
            return result

        with ThreadPoolExecutor(max_workers=self.threads,
                                thread_name_prefix="loxilb-resync") as pool:
            report.loadbalancers = list(pool.map(one, placements))
            if any(result.state == APPLIED for result in report.loadbalancers):
                self._verify_batch(placements, report.loadbalancers, snapshots, pool,
                                   progress)
        if only is None:
            report.orphans = self._orphans(placements, report.loadbalancers, snapshots,
                                           dry_run)
        report.expected = self._expected(report.loadbalancers, snapshots)
        report.seconds = time.monotonic() - started
        return report

    @staticmethod
    def _snapshot(api: LoxiLBNodeAPI) -> NodeSnapshot:
        snap = NodeSnapshot(api)
        try:
            snap.rules_by_vip = partition_by_vip(api.list_rules())
            snap.probes = api.list_endpoint_probes()
        except Exception as exc:  # an unreachable node is skipped this cycle
            snap.error = f"read failed: {exc}"
        return snap

    def _loadbalancer(self, placement: db_api.Placement, snapshots: Sequence[NodeSnapshot],
                      library: Any, busy: set[str], dry_run: bool,
                      claims: Sequence[db_api.ProbeClaim] = ()) -> LoadBalancerSync:
        lb_id = placement.loadbalancer_id
        try:
            tree = octavia_reader.current_tree(library, lb_id)
        except Exception as exc:
            return LoadBalancerSync(lb_id, UNREADABLE, error=f"driver-agent read failed: {exc}")
        if tree is None:
            return self._gone(placement, dry_run)
        try:
            desired = translate(tree, settings=self.settings)
            desired = self.probe_owners.preview(claims, placement.group.id, tree,
                                                desired).desired
        except Exception as exc:
            return LoadBalancerSync(lb_id, FAILED, error=f"translation failed: {exc}")
        result = LoadBalancerSync(lb_id, IN_SYNC, desired=desired)
        if lb_id in busy and not dry_run:
            result.state, result.error = BUSY, "a job is running on it"
            return result
        reachable = [s for s in snapshots if s.error is None]
        for snap in reachable:
            node_plan = plan(desired, snap.rules_for(desired.vips), snap.probes,
                             scope=desired.scope)
            result.steps += [f"{snap.api.node}: {describe(s)}" for s in node_plan.steps]
        if len(reachable) < len(snapshots):
            result.error = "nodes unreachable: " + ", ".join(
                s.api.node for s in snapshots if s.error)
        if not result.steps:
            return result
        if dry_run:
            result.state = DRIFTED
            return result
        return self._repair(result, placement, snapshots)

    def _reconciler(self, placement: db_api.Placement) -> Reconciler:
        return Reconciler(self.placer.nodes(placement.group),
                          threads=self.conf.loxilb.reconcile_node_threads)

    def _repair(self, found: LoadBalancerSync, placement: db_api.Placement,
                snapshots: Sequence[NodeSnapshot] | None = None) -> LoadBalancerSync:
        """Converge under the load balancer's lock, from a tree read inside it.

        With ``snapshots`` the fresh desired state is planned against them and applied
        without any read of LoxiLB; the result is ``APPLIED`` and waits for
        ``_verify_batch``. Without, it is a job's full converge (read, apply, read back).
        """
        lb_id = placement.loadbalancer_id
        try:
            with self.locks.hold(lb_id, timeout=LOCK_WAIT):
                tree = octavia_reader.current_tree(self.library(), lb_id)
                if tree is None:
                    return self._gone(placement, dry_run=False, locked=True)
                desired = translate(tree, settings=self.settings)
                desired = self.probe_owners.settle(placement.group.id, tree, desired).desired
                if snapshots is None:
                    converge = self._reconciler(placement).converge(desired)
                else:
                    known = {snap.api.node: NodeState(snap.rules_for(desired.vips),
                                                      snap.probes)
                             for snap in snapshots if snap.error is None}
                    converge = self._reconciler(placement).converge(
                        desired, snapshot=known, read_back=False)
        except LockTimeout:
            found.state = BUSY
            found.error = "a job holds its lock"
            return found
        except Exception as exc:
            LOG.exception("Resync of load balancer %s failed", lb_id)
            found.state = FAILED
            found.error = f"{type(exc).__name__}: {exc}"
            return found
        found.converge = converge
        found.desired = desired
        if snapshots is not None:
            found.state = APPLIED
            return found
        return self._judge(found)

    @staticmethod
    def _judge(found: LoadBalancerSync) -> LoadBalancerSync:
        """REPAIRED if every node converged and every listener verified, else FAILED."""
        converge, desired = found.converge, found.desired
        assert converge is not None and desired is not None
        errors = [f"{n.node}: {n.error}" for n in converge.nodes if n.error]
        errors += [f"listener {lid}: {lr.error}" for lid, lr in converge.listeners.items()
                   if not lr.verified and lid not in desired.listener_errors]
        if errors:
            found.state = FAILED
            found.error = "; ".join(errors)
        else:
            found.state = REPAIRED
        return found

    def _verify_batch(self, placements: Sequence[db_api.Placement],
                      results: list[LoadBalancerSync], snapshots: Sequence[NodeSnapshot],
                      pool: ThreadPoolExecutor, progress: Progress | None) -> None:
        """One read per node after all applies; each ``APPLIED`` result verified against it.

        Probes are read again only on nodes where some repair wrote one (the others hold
        what the snapshot showed). A load balancer that does not verify gets a full
        converge under its lock, in the cycle's pool; ``results`` is updated in place.
        """
        applied = [(index, placements[index], result) for index, result in enumerate(results)
                   if result.state == APPLIED]
        probe_written: set[str] = set()
        for _, _, result in applied:
            assert result.converge is not None
            probe_written |= {n.node for n in result.converge.nodes if n.probe_writes}
        after: dict[str, NodeSnapshot] = {}
        for snap in snapshots:
            if snap.error is not None:
                continue
            again = NodeSnapshot(snap.api, probes=snap.probes)
            try:
                again.rules_by_vip = partition_by_vip(snap.api.list_rules())
                if snap.api.node in probe_written:
                    again.probes = snap.api.list_endpoint_probes()
            except Exception as exc:
                LOG.warning("Resync read-back of %s failed: %s", snap.api.node, exc)
                continue
            after[snap.api.node] = again
        retry: list[tuple[int, db_api.Placement, LoadBalancerSync]] = []
        for index, placement, result in applied:
            assert result.converge is not None and result.desired is not None
            vips = result.desired.vips
            actual = {node: NodeState(snap.rules_for(vips), snap.probes)
                      for node, snap in after.items()}
            Reconciler.check(result.converge, result.desired, actual)
            self._judge(result)
            if result.state == REPAIRED:
                if progress is not None:
                    progress(result)
            else:
                LOG.info("Resync of %s did not verify from the snapshot (%s); converging it "
                         "in full", result.loadbalancer_id, result.error)
                retry.append((index, placement, result))

        def full(item: tuple[int, db_api.Placement, LoadBalancerSync]) -> None:
            index, placement, result = item
            result.error = None
            results[index] = self._repair(result, placement)
            if progress is not None:
                progress(results[index])

        list(pool.map(full, retry))

    def _gone(self, placement: db_api.Placement, dry_run: bool,
              locked: bool = False) -> LoadBalancerSync:
        """Octavia no longer has it: forget the placement (its rules become orphans)."""
        lb_id = placement.loadbalancer_id
        result = LoadBalancerSync(lb_id, GONE)
        if dry_run:
            return result
        try:
            if locked:
                self.placer.forget(lb_id)
            else:
                with self.locks.hold(lb_id, timeout=LOCK_WAIT):
                    self.placer.forget(lb_id)
            self.probe_owners.release(lb_id)
        except LockTimeout:
            result.state = BUSY
        except Exception as exc:
            result.error = f"forgetting the placement failed: {exc}"
        return result

    def _orphans(self, placements: Sequence[db_api.Placement],
                 results: Sequence[LoadBalancerSync], snapshots: Sequence[NodeSnapshot],
                 dry_run: bool) -> list[str]:
        """Delete our rules on VIPs no placed load balancer owns; returns what was found."""
        known: set[str] = set()
        for placement, result in zip(placements, results, strict=True):
            if result.state == GONE:
                continue
            if result.desired is None:
                # Its additional VIPs are unknown: deleting anything now could hit them.
                LOG.info("Orphan sweep skipped: load balancer %s is %s", result.loadbalancer_id,
                         result.state)
                return []
            if result.desired is not None:
                known |= set(result.desired.vips)
            if placement.vip_address:
                known.add(canonical_ip(placement.vip_address))
        prefix = self.settings.name_prefix
        found: list[str] = []
        for snap in snapshots:
            if snap.error is not None:
                continue
            for vip, rules in sorted(snap.rules_by_vip.items()):
                if vip in known:
                    continue
                for rule in rules:
                    if not rule.name.startswith(prefix):
                        continue
                    found.append(f"{snap.api.node}: delete rule {rule.name} {rule.key}")
                    if dry_run:
                        continue
                    try:
                        snap.api.delete_rule(rule.key)
                    except Exception as exc:
                        LOG.warning("Deleting orphan rule %s on %s failed: %s", rule.name,
                                    snap.api.node, exc)
        return found

    @staticmethod
    def _expected(results: Sequence[LoadBalancerSync],
                  snapshots: Sequence[NodeSnapshot]) -> dict[str, frozenset[RuleKey]]:
        keys: set[RuleKey] = set()
        for result in results:
            # Busy ones count too: a job held them through the refill, so the restart check
            # must notice their rules still missing and trigger again.
            if result.state in (IN_SYNC, REPAIRED, BUSY) and result.desired is not None:
                keys |= {rule.key for rule in result.desired.rules}
        return {snap.api.node: frozenset(keys) for snap in snapshots}

    @staticmethod
    def _log(report: GroupReport) -> None:
        drifted = [lb for lb in report.loadbalancers if lb.state in (REPAIRED, FAILED)]
        level = logging.INFO if drifted or report.orphans or report.node_errors else (
            logging.DEBUG)
        LOG.log(level, "Resync of group %s: %d load balancers, %d repaired, %d failed, "
                "%d busy, %d orphan rules, %d nodes unreachable in %.2fs", report.group,
                len(report.loadbalancers), report.count(REPAIRED), report.count(FAILED),
                report.count(BUSY), len(report.orphans), len(report.node_errors),
                report.seconds)
        for lb in drifted:
            LOG.info("Resync of %s: %s%s; %s", lb.loadbalancer_id, lb.state,
                     f" ({lb.error})" if lb.error else "", "; ".join(lb.steps))


def make_task(context: Any) -> Callable[[], None]:
    """Periodic-runner factory: a fresh ``Resyncer`` per election (shared with the restart
    detector through ``context.extras['resyncer']``)."""
    from octavia_loxilb.worker.journal import JobJournal

    journal = JobJournal(context.engine, owner="resync")
    resyncer = Resyncer(context.conf, engine=context.engine, placer=context.placer,
                        locks=context.locks, library=context.library,
                        busy=journal.running_loadbalancers)
    context.extras["resyncer"] = resyncer
    return resyncer
