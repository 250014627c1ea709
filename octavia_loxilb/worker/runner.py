"""One job, start to finish: lock → read → translate → place → converge → report.

The one promise this module keeps is that a job ends in a status push whenever Octavia
holds objects PENDING because of it: every failure after the read (translation, placement,
LoxiLB errors, bugs) becomes an ERROR for the subject with its parents back to ACTIVE. The
only jobs that push nothing are those with nothing PENDING to release: the API rolled the
call back, or the load balancer is already gone.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from octavia_lib.api.drivers import driver_lib

from octavia_loxilb.appliance import groups as appliance_groups
from octavia_loxilb.appliance import manager as appliance_manager
from octavia_loxilb.appliance.manager import ApplianceManager
from octavia_loxilb.common.jobs import Job
from octavia_loxilb.db import api as db_api
from octavia_loxilb.loxilb.interface import LoxiLBNodeAPI
from octavia_loxilb.reconcile.apply import ConvergeResult, Reconciler
from octavia_loxilb.reconcile.desired import DesiredState, TranslateSettings
from octavia_loxilb.reconcile.translate import translate
from octavia_loxilb.worker import octavia_reader
from octavia_loxilb.worker.locking import LockTimeout
from octavia_loxilb.worker.probe_owners import ProbeOwners
from octavia_loxilb.worker.status import (
    L7POLICIES,
    L7RULES,
    LISTENERS,
    LOADBALANCERS,
    Outcome,
    StatusDocument,
    TreeIndex,
    build_blind_status,
    build_status,
    going_away,
)

LOG = logging.getLogger(__name__)


class Locks(Protocol):
    def hold(self, loadbalancer_id: str, timeout: float | None = None) -> Any: ...


class Placement(Protocol):
    def place(self, loadbalancer_id: str, vip_address: str | None) -> db_api.Group: ...
    def placed_group(self, loadbalancer_id: str) -> db_api.Group | None: ...
    def default_group(self) -> db_api.Group: ...
    def forget(self, loadbalancer_id: str) -> None: ...
    def nodes(self, group: db_api.Group) -> Sequence[LoxiLBNodeAPI]: ...


@dataclasses.dataclass
class RunResult:
    """What a job did: for logs, tests and the RPC endpoint."""

    job: Job
    pushed: list[StatusDocument] = dataclasses.field(default_factory=list)
    succeeded: bool = False
    reason: str = ""
    converge: ConvergeResult | None = None


def relevant_listeners(job: Job, index: TreeIndex) -> list[str]:
    """The listeners whose rules realize the job's subject."""
    kind, subject_id = job.subject
    if subject_id not in index:
        return []
    if kind == LOADBALANCERS:
        return index.of_kind(LISTENERS)
    if kind == LISTENERS:
        return [subject_id]
    parents = index.parents(subject_id)
    if kind in (L7POLICIES, L7RULES):
        return [p for p in parents if index.kind(p) == LISTENERS]
    pool_id = subject_id if kind == "pools" else parents[0]
    return index.pool_listeners(pool_id)


def outcome_of(
    job: Job, tree: dict[str, Any], desired: DesiredState, result: ConvergeResult,
    refused_monitors: dict[str, str] | None = None,
) -> Outcome:
    """Judge a converge for the status report.

    Failover and load balancer delete need every node verified. Other jobs need every node
    reached and read back, and the listeners realizing their subject verified; failures of
    unrelated listeners or members are reported on those objects alone (``failed``).
    """
    index = TreeIndex(tree)
    failed: dict[str, str] = {
        lid: lr.error or "not verified" for lid, lr in result.listeners.items() if not lr.verified
    }
    failed.update(desired.unplaceable)
    failed.update(refused_monitors or {})
    if job.op in ("loadbalancer_failover", "loadbalancer_delete"):
        return Outcome(succeeded=result.verified, failed=failed)
    reached = bool(result.nodes) and all(
        n.plan is not None and n.report is not None and n.error is None for n in result.nodes
    )
    subject_id = job.subject[1]
    if job.subject[0] == LOADBALANCERS:
        return Outcome(succeeded=reached, failed=failed)
    related = [lid for lid in relevant_listeners(job, index) if lid in failed]
    if job.op.endswith("_delete"):
        strays = any(n.report is not None and n.report.stray_rules for n in result.nodes)
        return Outcome(succeeded=reached and not strays and not related, failed=failed)
    return Outcome(
        succeeded=reached and not related and subject_id not in failed, failed=failed
    )


class JobRunner:
    """Runs jobs; safe to call from many threads (one job per load balancer at a time)."""

    def __init__(
        self,
        conf: Any,
        *,
        locks: Locks,
        placer: Placement,
        library: Callable[[], driver_lib.DriverLibrary] | None = None,
        reconciler: Callable[[Sequence[LoxiLBNodeAPI]], Reconciler] | None = None,
        settings: TranslateSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        appliances: Callable[[], ApplianceManager] | None = None,
        probe_owners: ProbeOwners | None = None,
    ) -> None:
        self.conf = conf
        self.locks = locks
        self.placer = placer
        self.library = library or (lambda: octavia_reader.driver_library(conf))
        self.reconciler = reconciler or (
            lambda nodes: Reconciler(nodes, threads=conf.loxilb.reconcile_node_threads))
        self.settings = settings or TranslateSettings.from_conf(conf)
        self.sleep = sleep
        self._appliances_factory = appliances or self._default_appliances
        self._appliances: ApplianceManager | None = None
        engine = getattr(placer, "engine", None)
        self.probe_owners = probe_owners or (ProbeOwners(engine) if engine else None)
        """Shared probe-host arbitration (``probe_owners.py``); None only for placers
        without a driver DB (unit-test fakes), where each load balancer is alone."""

    def run(self, job: Job) -> RunResult:
        started = time.monotonic()
        library = self.library()
        deadline = started + self.conf.loxilb.tree_read_deadline
        lb_id = octavia_reader.resolve_loadbalancer_id(
            job, library, deadline=deadline, sleep=self.sleep)
        if lb_id is None:
            return RunResult(job, reason="the job's pool is gone: nothing to report")
        job = dataclasses.replace(job, loadbalancer_id=lb_id)
        try:
            with self.locks.hold(lb_id):
                result = self._locked(job, library, deadline)
        except LockTimeout as exc:
            LOG.error("Job %s on %s: %s; reporting it failed", job.op, lb_id, exc)
            result = self._report_failure(job, library, deadline, str(exc))
        except Exception as exc:  # a failure before the report: release the job blind
            LOG.exception("Job %s on %s failed before its status push", job.op, lb_id)
            result = self._push_blind(job, library, f"{type(exc).__name__}: {exc}")
        LOG.info("Job %s %s %s: %s in %.2fs%s", job.op, job.subject[0], job.subject[1],
                 "succeeded" if result.succeeded else "failed",
                 time.monotonic() - started, f" ({result.reason})" if result.reason else "")
        return result

    def _read(self, job: Job, library: driver_lib.DriverLibrary,
              deadline: float) -> tuple[dict[str, Any] | None, RunResult | None]:
        """The tree, or the finished result when there is none to work from."""
        try:
            tree = octavia_reader.read_tree(job, library, deadline=deadline, sleep=self.sleep)
        except octavia_reader.TreeUnavailable as exc:
            return None, self._push_blind(job, library, str(exc))
        if tree is None:
            return None, RunResult(job, reason="nothing to report (rolled back or gone)")
        return tree, None

    def _locked(self, job: Job, library: driver_lib.DriverLibrary,
                deadline: float) -> RunResult:
        tree, finished = self._read(job, library, deadline)
        if finished is not None:
            return finished
        assert tree is not None
        converge: ConvergeResult | None = None
        reason = ""
        try:
            deleting = going_away(job, TreeIndex(tree))
            desired = translate(tree, deleting=deleting, settings=self.settings)
            desired, refused, converge = self._converge(job, tree, desired)
            outcome = outcome_of(job, tree, desired, converge, refused)
            if not outcome.succeeded:
                reason = "; ".join(f"{k}: {v}" for k, v in outcome.failed.items()) or (
                    "LoxiLB nodes not converged: " + "; ".join(
                        f"{n.node}: {n.error}" for n in converge.nodes if n.error))
        except Exception as exc:  # every failure still ends in a status push
            LOG.exception("Job %s on %s failed", job.op, job.loadbalancer_id)
            outcome = Outcome(succeeded=False)
            reason = f"{type(exc).__name__}: {exc}"
        if job.op == "loadbalancer_delete" and outcome.succeeded:
            try:
                self._release_appliances(job.loadbalancer_id)
                self.placer.forget(job.loadbalancer_id)
            except Exception:  # a stale placement is harmless: the next create re-places
                LOG.exception("Forgetting the placement of %s failed", job.loadbalancer_id)
        document = build_status(job, tree, outcome)
        result = RunResult(job, succeeded=outcome.succeeded, reason=reason, converge=converge)
        if document:
            octavia_reader.push_status(document, library,
                                       attempts=self.conf.loxilb.status_push_attempts,
                                       sleep=self.sleep)
            result.pushed.append(document)
        return result

    def _converge(self, job: Job, tree: dict[str, Any], desired: DesiredState
                  ) -> tuple[DesiredState, dict[str, str], ConvergeResult]:
        """Place, settle shared probes, converge: the desired state actually converged,
        the health monitors refused a shared probe host, and the result."""
        lb_id = job.loadbalancer_id
        if appliance_groups.wants_appliances(tree):
            group: db_api.Group | None = self._appliance_group(job, tree)
        elif job.op == "loadbalancer_delete":
            group = self.placer.placed_group(lb_id) or self.placer.default_group()
        else:
            group = self.placer.place(lb_id, tree.get("vip_address"))
        refused: dict[str, str] = {}
        if group is not None and self.probe_owners is not None:
            settled = self.probe_owners.settle(group.id, tree, desired,
                                               going_away(job, TreeIndex(tree)))
            desired, refused = settled.desired, dict(settled.refused)
            for hm_id, why in refused.items():
                LOG.warning("Load balancer %s, health monitor %s: %s", lb_id, hm_id, why)
        nodes = self.placer.nodes(group) if group is not None else []
        return desired, refused, self.reconciler(nodes).converge(desired)

    # -- driver-managed appliances -----------------------------------------------------------

    def _default_appliances(self) -> ApplianceManager:
        return appliance_manager.from_conf(
            self.conf, self.placer.engine,  # type: ignore[attr-defined]
            group_lock=lambda name: self.locks.hold(name))

    @property
    def appliances(self) -> ApplianceManager:
        if self._appliances is None:
            self._appliances = self._appliances_factory()
        return self._appliances

    def _appliance_group(self, job: Job, tree: dict[str, Any]) -> db_api.Group | None:
        """The flavor asks for appliances: build or join them (their VIP and member
        networks in place) before converging the rules on them. A delete converges on the
        group it was placed on, or on nothing when its appliances were never built or are
        destroyed with it."""
        lb_id = job.loadbalancer_id
        if job.op == "loadbalancer_delete":
            if self.appliances.is_last_on_group(lb_id):
                LOG.info("Load balancer %s is the last on its appliance group: the group is "
                         "destroyed with it, its rules are not removed one by one", lb_id)
                return None
            return self.placer.placed_group(lb_id)
        leaving = {i for ids in job.deleting.values() for i in ids}
        if job.op == "loadbalancer_failover":
            self.appliances.failover(lb_id)
        return self.appliances.ensure(lb_id, tree, leaving)

    def _release_appliances(self, loadbalancer_id: str) -> None:
        placed = self.placer.placed_group(loadbalancer_id)
        if placed is not None and placed.kind == "appliance":
            self.appliances.release(loadbalancer_id)

    def _report_failure(self, job: Job, library: driver_lib.DriverLibrary, deadline: float,
                        reason: str) -> RunResult:
        """Release the job's objects as failed, without converging (lock not obtained)."""
        tree, finished = self._read(job, library, deadline)
        if finished is not None:
            finished.reason = f"{reason}; {finished.reason}"
            return finished
        document = build_status(job, tree, Outcome(succeeded=False))
        result = RunResult(job, reason=reason)
        if document:
            octavia_reader.push_status(document, library,
                                       attempts=self.conf.loxilb.status_push_attempts,
                                       sleep=self.sleep)
            result.pushed.append(document)
        return result

    def _push_blind(self, job: Job, library: driver_lib.DriverLibrary,
                    reason: str) -> RunResult:
        LOG.error("Job %s on %s: %s; releasing its objects from the job alone",
                  job.op, job.loadbalancer_id, reason)
        result = RunResult(job, reason=reason)
        for document in build_blind_status(job):
            octavia_reader.push_status(document, library, attempts=1, sleep=self.sleep)
            result.pushed.append(document)
        return result
