"""Desired vs actual on one LoxiLB node → the fewest calls that make actual equal desired.

A pure function. How each difference is handled (API-NOTES §2.5, §2.6, §2.10, §3.1):

* member add / re-weight → one attach (oper 1) with only those endpoints;
* member remove → one detach (oper 2): detach really deletes the entries, so hidden
  slots never pile up and LoxiLB's >32-slot rebuild (which drops every connection) never
  triggers;
* ``sel``, proxy protocol, allowedSources count, rule-level probe fields → carried by the
  attach/detach if there is one, else one oper-0 POST of the unchanged endpoint set;
* ``inactiveTimeOut`` or a same-count allowedSources swap alone (applied, never detected)
  → two oper-0 POSTs toggling the rule-level ``probetype`` (see ``UpdateRule``);
* ``name``, ``mode``, ``monitor``, ``security``, ``egress``, secondary IPs → recreate;
* rule no longer desired → DELETE by tuple. Rules outside the scope are never touched.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Sequence

from octavia_loxilb.loxilb.models import (
    MAX_ENDPOINTS,
    Endpoint,
    EndpointProbe,
    LoadBalancerRule,
    Oper,
    canonical_ip,
)
from octavia_loxilb.reconcile import naming
from octavia_loxilb.reconcile.desired import DesiredRule, DesiredState, Scope
from octavia_loxilb.reconcile.steps import (
    AttachEndpoints,
    CreateRule,
    DeleteRule,
    DetachEndpoints,
    RecreateRule,
    SetProbe,
    Step,
    UpdateRule,
)

NUDGE_PROBETYPE = "ping"
"""A rule-level probe type that passes validation with probeport 0 and differs from ours."""


@dataclasses.dataclass(frozen=True)
class Plan:
    """Ordered steps for one node, plus the listeners that cannot be placed there."""

    steps: tuple[Step, ...] = ()
    conflicts: dict[str, str] = dataclasses.field(default_factory=dict)
    """Listener id → why its rule cannot be written (a foreign rule holds the key)."""

    @property
    def writes(self) -> int:
        return sum(step.writes for step in self.steps)

    @property
    def rule_deletes(self) -> int:
        return sum(step.rule_deletes for step in self.steps)

    @property
    def recreates(self) -> tuple[RecreateRule, ...]:
        return tuple(s for s in self.steps if isinstance(s, RecreateRule))

    def __bool__(self) -> bool:
        return bool(self.steps)


def _ident(endpoint: Endpoint) -> tuple[str, int]:
    return endpoint.ident


def _weights(endpoints: Iterable[Endpoint]) -> dict[tuple[str, int], int]:
    return {_ident(ep): ep.weight for ep in endpoints}


def sources(rule: LoadBalancerRule) -> frozenset[str]:
    """allowedSources in canonical CIDR form, as LoxiLB compares them."""
    return frozenset(str(ipaddress.ip_network(p, strict=False)) for p in rule.allowed_sources)


def recreate_reasons(desired: LoadBalancerRule, actual: LoadBalancerRule) -> list[str]:
    """Differences LoxiLB refuses or only half-applies on an existing rule (§2.5)."""
    want, have = desired.service, actual.service
    reasons = []
    if want.name != have.name:
        reasons.append("name")
    if want.mode != have.mode:
        reasons.append("mode")
    if want.monitor != have.monitor:
        reasons.append("monitor")
    if want.security != have.security:
        reasons.append("security")
    if want.egress != have.egress:
        reasons.append("egress")
    if tuple(map(canonical_ip, desired.secondary_ips)) != tuple(
        map(canonical_ip, actual.secondary_ips)
    ):
        reasons.append("secondary-ips")
    return reasons


def detected_changes(desired: LoadBalancerRule, actual: LoadBalancerRule) -> list[str]:
    """Rule-level differences LoxiLB notices on re-POST (besides endpoints)."""
    want, have = desired.service, actual.service
    changes = []
    if want.sel != have.sel:
        changes.append("sel")
    if (want.probetype, want.probeport) != (have.probetype, have.probeport):
        changes.append("rule-probe")
    if want.proxyprotocolv2 != have.proxyprotocolv2:
        changes.append("proxyprotocolv2")
    if len(sources(desired)) != len(sources(actual)):
        changes.append("allowed-sources")
    return changes


def undetected_changes(desired: LoadBalancerRule, actual: LoadBalancerRule) -> list[str]:
    """Differences LoxiLB applies only when something else changes in the same POST."""
    changes = []
    if desired.service.inactive_timeout != actual.service.inactive_timeout:
        changes.append("inactive-timeout")
    if len(sources(desired)) == len(sources(actual)) and sources(desired) != sources(actual):
        changes.append("allowed-sources-swap")
    return changes


def _with(rule: LoadBalancerRule, oper: Oper, endpoints: Sequence[Endpoint]) -> LoadBalancerRule:
    return dataclasses.replace(
        rule,
        service=dataclasses.replace(rule.service, oper=oper),
        endpoints=tuple(endpoints),
    )


def probe_matches(desired: EndpointProbe, actual: EndpointProbe) -> bool:
    """Whether the probe host already behaves as desired (``none`` ignores the options)."""
    if desired.probe_type != actual.probe_type:
        return False
    if desired.probe_type == "none":
        return True
    return (
        canonical_ip(desired.host) == canonical_ip(actual.host)
        and desired.probe_port == actual.probe_port
        and desired.probe_req == actual.probe_req
        and desired.probe_resp == actual.probe_resp
        and desired.probe_duration == actual.probe_duration
        and desired.inactive_retries == actual.inactive_retries
    )


def endpoint_keys(rule: LoadBalancerRule, endpoints: Iterable[Endpoint] | None = None) -> set[str]:
    """Probe-host keys a rule's endpoints reference."""
    protocol = rule.service.protocol
    return {
        naming.probe_key(ep.ip, protocol, ep.port)
        for ep in (rule.endpoints if endpoints is None else endpoints)
    }


@dataclasses.dataclass
class _Planner:
    desired: DesiredState
    actual_rules: list[LoadBalancerRule]
    actual_probes: dict[str, EndpointProbe]
    scope: Scope
    removals: list[Step] = dataclasses.field(default_factory=list)
    additions: list[Step] = dataclasses.field(default_factory=list)
    replacements: list[Step] = dataclasses.field(default_factory=list)
    conflicts: dict[str, str] = dataclasses.field(default_factory=dict)
    released_early: set[str] = dataclasses.field(default_factory=set)
    """Probe keys whose hosts an early removal may delete (deletes, recreates, detaches)."""
    released_late: set[str] = dataclasses.field(default_factory=set)
    """Probe keys released by a detach that must follow its attach (full replacement)."""
    placed: list[DesiredRule] = dataclasses.field(default_factory=list)

    def run(self) -> Plan:
        desired_keys = {d.key for d in self.desired.rules}
        # A shared node holds every load balancer's rules: keep only those on our VIPs or
        # keys (key[0] is the canonical VIP) so planning one LB costs O(its rules).
        by_key = {
            rule.key: rule
            for rule in self.actual_rules
            if rule.key[0] in self.scope.vips or rule.key in desired_keys
        }
        for key in sorted(by_key):
            rule = by_key[key]
            if key not in desired_keys and self.scope.contains(rule):
                self.removals.append(
                    DeleteRule(
                        key=key,
                        name=rule.name,
                        listener_id=naming.listener_id_of(self.scope.prefix, rule.name),
                    )
                )
                self.released_early |= endpoint_keys(rule)
        for desired in sorted(self.desired.rules, key=lambda d: d.key):
            self._rule(desired, by_key.get(desired.key))
        early, late = self._probes()
        steps = self.removals + early + self.replacements + self.additions + late
        return Plan(steps=tuple(steps), conflicts=self.conflicts)

    def _rule(self, desired: DesiredRule, actual: LoadBalancerRule | None) -> None:
        want = desired.rule
        listener_id = desired.listener_id
        if actual is None:
            self.placed.append(desired)
            self.additions.append(CreateRule(rule=want, listener_id=listener_id))
            return
        if not self.scope.contains(actual):
            self.conflicts[listener_id] = (
                f"rule {actual.name or '(unnamed)'} of another owner holds {want.key}"
            )
            return
        self.placed.append(desired)
        reasons = recreate_reasons(want, actual)
        if reasons:
            self.removals.append(
                RecreateRule(rule=want, listener_id=listener_id, reasons=tuple(reasons))
            )
            self.released_early |= endpoint_keys(actual)
            return
        wanted, present = _weights(want.endpoints), _weights(actual.endpoints)
        added = [ep for ep in want.endpoints if _ident(ep) not in present]
        changed = [
            ep
            for ep in want.endpoints
            if _ident(ep) in present and present[_ident(ep)] != ep.weight
        ]
        removed = [ep for ep in actual.endpoints if _ident(ep) not in wanted]
        if not (added or changed or removed):
            self._update_in_place(desired, actual)
            return
        attach = AttachEndpoints(
            rule=_with(want, Oper.ATTACH, added + changed), listener_id=listener_id
        )
        detach = DetachEndpoints(rule=_with(want, Oper.DETACH, removed), listener_id=listener_id)
        if removed and len(removed) == len(actual.endpoints):
            # Detaching every endpoint would delete the rule: attach the new set first.
            if len(actual.endpoints) + len(added) > MAX_ENDPOINTS:
                self.removals.append(
                    RecreateRule(
                        rule=want, listener_id=listener_id, reasons=("endpoint-replacement",)
                    )
                )
                self.released_early |= endpoint_keys(actual)
                return
            self.replacements += [attach, detach]
            self.released_late |= endpoint_keys(actual, removed)
            return
        if removed:
            self.removals.append(detach)
            self.released_early |= endpoint_keys(actual, removed)
        if added or changed:
            self.additions.append(attach)

    def _update_in_place(self, desired: DesiredRule, actual: LoadBalancerRule) -> None:
        want = _with(desired.rule, Oper.ADD, desired.rule.endpoints)
        detected = detected_changes(want, actual)
        if detected:
            self.additions.append(
                UpdateRule(
                    bodies=(want,), listener_id=desired.listener_id, reasons=tuple(detected)
                )
            )
            return
        undetected = undetected_changes(want, actual)
        if undetected:
            nudge = dataclasses.replace(
                want, service=dataclasses.replace(want.service, probetype=NUDGE_PROBETYPE)
            )
            self.additions.append(
                UpdateRule(
                    bodies=(nudge, want),
                    listener_id=desired.listener_id,
                    reasons=tuple(undetected),
                )
            )

    def _probes(self) -> tuple[list[Step], list[Step]]:
        """Probe upserts: before the rule writes that add endpoints, and after late releases."""
        users: dict[str, list[str]] = {}
        for desired in self.placed:
            for key in endpoint_keys(desired.rule):
                users.setdefault(key, []).append(desired.listener_id)
        early: list[Step] = []
        late: list[Step] = []
        for key in sorted(users):
            probe = self.desired.probes.get(key)
            if probe is None:
                continue
            step = SetProbe(probe=probe, listener_ids=tuple(sorted(set(users[key]))))
            actual = self.actual_probes.get(key)
            if probe.probe_type == "none":
                if actual is not None and not probe_matches(probe, actual):
                    early.append(step)
                continue
            if actual is None or not probe_matches(probe, actual) or key in self.released_early:
                early.append(step)
            if key in self.released_late:
                late.append(step)
        return early, late


def plan(
    desired: DesiredState,
    actual_rules: list[LoadBalancerRule],
    actual_probes: list[EndpointProbe],
    *,
    scope: Scope,
) -> Plan:
    """The ordered steps that bring one node from ``actual_*`` to ``desired``.

    Order: rule deletes, recreates and detaches first (they free rule numbers and probe
    hosts), then probe upserts (so endpoints added next start with the right probe), then
    creates, attach-then-detach replacements, attaches and updates, and last the probe
    upserts a replacement's detach may have undone.
    """
    return _Planner(
        desired=desired,
        actual_rules=list(actual_rules),
        actual_probes={probe.name: probe for probe in actual_probes},
        scope=scope,
    ).run()


def partition_by_vip(rules: Iterable[LoadBalancerRule]) -> dict[str, list[LoadBalancerRule]]:
    """Group a node's rules by canonical VIP, once, for planning many load balancers.

    ``plan`` keeps only in-scope rules itself, but a resync of every load balancer on a
    shared node should hand each plan its own VIPs' rules instead of the whole node.
    """
    grouped: dict[str, list[LoadBalancerRule]] = {}
    for rule in rules:
        grouped.setdefault(rule.key[0], []).append(rule)
    return grouped
