"""Converge every LoxiLB node of a load balancer to its desired state, then prove it.

Per node: read (rules + probes), plan, apply the steps in order (stopping at the first
failure: later steps may depend on it), read back (rules; probes too when a probe was
written) and verify. Nodes are independent, so
they run concurrently on a small thread pool.

A caller that has just read a node (the resync reads every node once per cycle) may pass
that state as ``snapshot`` instead of the first read, and may skip the per-converge
read-back (``read_back=False``) to verify many load balancers against one later read with
``Reconciler.check``. A converge whose read-back was skipped is never ``verified`` until
``check`` has judged it against a real read: nothing is reported converged on what was sent.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from octavia_loxilb.loxilb.interface import LoxiLBNodeAPI
from octavia_loxilb.loxilb.models import EndpointProbe, LoadBalancerRule
from octavia_loxilb.reconcile.desired import DesiredState, Scope
from octavia_loxilb.reconcile.plan import Plan, plan
from octavia_loxilb.reconcile.steps import (
    AttachEndpoints,
    CreateRule,
    DeleteRule,
    DetachEndpoints,
    RecreateRule,
    SetProbe,
    Step,
    UpdateRule,
    describe,
)
from octavia_loxilb.reconcile.verify import VerifyReport, verify

LOG = logging.getLogger(__name__)

DEFAULT_THREADS = 4

NOT_READ_BACK = "not read back yet"


@dataclasses.dataclass(frozen=True)
class NodeState:
    """What one node held when read: its rules (at least those of the load balancer's VIPs)
    and all its endpoint probes."""

    rules: Sequence[LoadBalancerRule]
    probes: Sequence[EndpointProbe]


@dataclasses.dataclass
class NodeResult:
    """What converging one node did and found."""

    node: str
    plan: Plan | None = None
    applied: int = 0
    """Steps that completed."""
    writes: int = 0
    reads: int = 0
    rule_deletes: int = 0
    probe_writes: int = 0
    error: str | None = None
    """The first failure (read, step or read-back), if any."""
    failed_step: Step | None = None
    report: VerifyReport | None = None

    @property
    def verified(self) -> bool:
        return self.error is None and self.report is not None and self.report.ok


@dataclasses.dataclass(frozen=True)
class ListenerResult:
    listener_id: str
    verified: bool
    error: str | None = None


@dataclasses.dataclass
class ConvergeResult:
    """The outcome for one load balancer across its nodes."""

    dry_run: bool
    nodes: list[NodeResult]
    listeners: dict[str, ListenerResult]

    @property
    def writes(self) -> int:
        return sum(n.writes for n in self.nodes)

    @property
    def reads(self) -> int:
        return sum(n.reads for n in self.nodes)

    @property
    def rule_deletes(self) -> int:
        return sum(n.rule_deletes for n in self.nodes)

    @property
    def planned_writes(self) -> int:
        return sum(n.plan.writes for n in self.nodes if n.plan is not None)

    @property
    def verified(self) -> bool:
        """Every node converged and verified (dry runs are never verified)."""
        return not self.dry_run and all(n.verified for n in self.nodes)


class _Counted:
    """Runs one step against a node, counting the REST calls it makes."""

    def __init__(self, api: LoxiLBNodeAPI, result: NodeResult) -> None:
        self.api = api
        self.result = result

    def post(self, rule: LoadBalancerRule) -> None:
        self.result.writes += 1
        self.api.apply_rule(rule)

    def delete(self, rule_key: tuple[str, str, int, int, int, str]) -> None:
        self.result.writes += 1
        self.result.rule_deletes += 1
        self.api.delete_rule(rule_key)

    def probe(self, probe: EndpointProbe) -> None:
        self.result.writes += 1
        self.result.probe_writes += 1
        self.api.set_endpoint_probe(probe)

    def read(self) -> tuple[list[LoadBalancerRule], list[EndpointProbe]]:
        self.result.reads += 2
        return self.api.list_rules(), self.api.list_endpoint_probes()

    def read_back(
        self, probes_before: list[EndpointProbe]
    ) -> tuple[list[LoadBalancerRule], list[EndpointProbe]]:
        """The state to verify: rules always re-read; probes only if this run wrote one.

        Probes nobody wrote are what the first read showed (the plan judged them by it),
        so a second GET of them proves nothing about this run's writes and costs a call.
        """
        if self.result.probe_writes:
            return self.read()
        self.result.reads += 1
        return self.api.list_rules(), probes_before

    def run(self, step: Step) -> None:
        match step:
            case CreateRule() | AttachEndpoints() | DetachEndpoints():
                self.post(step.rule)
            case UpdateRule():
                for body in step.bodies:
                    self.post(body)
            case RecreateRule():
                self.delete(step.rule.key)
                self.post(step.rule)
            case DeleteRule():
                self.delete(step.key)
            case SetProbe():
                self.probe(step.probe)


def _step_listeners(step: Step) -> tuple[str, ...]:
    if isinstance(step, SetProbe):
        return step.listener_ids
    return (step.listener_id,) if step.listener_id else ()


class Reconciler:
    """Brings the LoxiLB nodes hosting one load balancer to its desired state."""

    def __init__(self, nodes: Sequence[LoxiLBNodeAPI], *, threads: int = DEFAULT_THREADS):
        self.nodes = list(nodes)
        self.threads = max(1, threads)

    def converge(
        self,
        desired: DesiredState,
        scope: Scope | None = None,
        *,
        dry_run: bool = False,
        snapshot: Mapping[str, NodeState] | None = None,
        read_back: bool = True,
    ) -> ConvergeResult:
        """Plan (and unless ``dry_run`` apply and verify) on every node.

        ``snapshot`` (node name → state already read) replaces the first read of those
        nodes; ``read_back=False`` leaves every node unverified (``NOT_READ_BACK``) for a
        later ``check``.
        """
        scope = scope or desired.scope
        if not self.nodes:
            return ConvergeResult(dry_run, [], self._listeners(desired, [], dry_run))
        known = snapshot or {}

        def one(api: LoxiLBNodeAPI) -> NodeResult:
            return self._node(api, desired, scope, dry_run, known.get(api.node), read_back)

        workers = min(self.threads, len(self.nodes))
        if workers == 1:
            results = [one(api) for api in self.nodes]  # no pool for a single node
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile") as pool:
                results = list(pool.map(one, self.nodes))
        return ConvergeResult(dry_run, results, self._listeners(desired, results, dry_run))

    @staticmethod
    def check(
        result: ConvergeResult,
        desired: DesiredState,
        actual: Mapping[str, NodeState],
        scope: Scope | None = None,
    ) -> ConvergeResult:
        """Verify a converge run with ``read_back=False`` against state read after it.

        ``actual`` maps node name → what the node held after the writes; a node missing
        from it stays unverified. Fills each node's report and returns the result with its
        listeners judged again.
        """
        scope = scope or desired.scope
        for node in result.nodes:
            state = actual.get(node.node)
            if node.error is not None or node.plan is None or state is None:
                continue
            skip = frozenset(node.plan.conflicts)
            node.report = verify(desired, list(state.rules), list(state.probes), scope=scope,
                                 skip=skip)
        result.listeners = Reconciler._listeners(desired, result.nodes, result.dry_run)
        return result

    def _node(
        self,
        api: LoxiLBNodeAPI,
        desired: DesiredState,
        scope: Scope,
        dry_run: bool,
        known: NodeState | None = None,
        read_back: bool = True,
    ) -> NodeResult:
        result = NodeResult(node=api.node)
        calls = _Counted(api, result)
        if known is not None:
            rules, probes = list(known.rules), list(known.probes)
        else:
            try:
                rules, probes = calls.read()
            except Exception as exc:  # any transport or API failure ends this node's run
                result.error = f"read failed: {exc}"
                return result
        result.plan = plan(desired, rules, probes, scope=scope)
        if dry_run:
            return result
        for step in result.plan.steps:
            try:
                calls.run(step)
            except Exception as exc:
                LOG.warning("%s: %s failed: %s", api.node, describe(step), exc)
                result.error = f"{describe(step)} failed: {exc}"
                result.failed_step = step
                break
            result.applied += 1
        if not read_back:
            return result
        try:
            rules, probes = calls.read_back(probes)
        except Exception as exc:
            result.error = result.error or f"read-back failed: {exc}"
            return result
        skip = frozenset(result.plan.conflicts)
        result.report = verify(desired, rules, probes, scope=scope, skip=skip)
        return result

    @staticmethod
    def _listeners(
        desired: DesiredState, results: list[NodeResult], dry_run: bool
    ) -> dict[str, ListenerResult]:
        """Per listener: verified only if every node verified it (never in a dry run)."""
        errors: dict[str, str] = dict(desired.listener_errors)
        for node in results:
            if node.plan is not None:
                for listener_id, reason in node.plan.conflicts.items():
                    errors.setdefault(listener_id, f"{node.node}: {reason}")
            if node.plan is None or (node.report is None and not dry_run):
                reason = node.error or NOT_READ_BACK
                for listener_id in desired.listener_ids():
                    errors.setdefault(listener_id, f"{node.node}: {reason}")
                continue
            if node.failed_step is not None:
                for listener_id in _step_listeners(node.failed_step):
                    errors.setdefault(listener_id, f"{node.node}: {node.error}")
            if node.report is not None:
                for listener_id, problems in node.report.problems.items():
                    errors.setdefault(listener_id, f"{node.node}: {'; '.join(problems)}")
        return {
            listener_id: ListenerResult(
                listener_id,
                verified=not dry_run and listener_id not in errors,
                error=errors.get(listener_id),
            )
            for listener_id in sorted(desired.listener_ids())
        }
