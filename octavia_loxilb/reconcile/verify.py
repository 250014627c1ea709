"""Read-back check: does a node now hold exactly what the desired state asks for?

Run after applying a plan and before anything is reported ACTIVE (DESIGN §2 step 4). It
compares what LoxiLB reports (GET), not what we sent, so a 200 that LoxiLB did not act on,
or a partial apply, is caught here.
"""

from __future__ import annotations

import dataclasses

from octavia_loxilb.loxilb.models import EndpointProbe, LoadBalancerRule
from octavia_loxilb.reconcile import naming
from octavia_loxilb.reconcile.desired import DesiredState, Scope
from octavia_loxilb.reconcile.plan import endpoint_keys, probe_matches, sources


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    """Problems found on one node, per listener id (empty when the node is converged)."""

    problems: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    stray_rules: tuple[str, ...] = ()
    """Names of in-scope rules nothing desires that are still present."""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.stray_rules


def rule_problems(desired: LoadBalancerRule, actual: LoadBalancerRule) -> list[str]:
    """How ``actual`` differs from ``desired`` in the fields the data path depends on."""
    want, have = desired.service, actual.service
    problems = []
    want_eps = sorted((ep.ident, ep.weight) for ep in desired.endpoints)
    have_eps = sorted((ep.ident, ep.weight) for ep in actual.endpoints)
    if want_eps != have_eps:
        problems.append(f"endpoints {have_eps} != {want_eps}")
    for field in ("name", "sel", "mode", "monitor", "proxyprotocolv2", "inactive_timeout"):
        if getattr(want, field) != getattr(have, field):
            problems.append(f"{field} {getattr(have, field)!r} != {getattr(want, field)!r}")
    if sources(desired) != sources(actual):
        problems.append(f"allowedSources {sorted(sources(actual))} != {sorted(sources(desired))}")
    return problems


def verify(
    desired: DesiredState,
    actual_rules: list[LoadBalancerRule],
    actual_probes: list[EndpointProbe],
    *,
    scope: Scope,
    skip: frozenset[str] = frozenset(),
) -> VerifyReport:
    """Check every desired rule and probe on one node; ``skip`` holds conflicting listeners."""
    by_key = {rule.key: rule for rule in actual_rules}
    probes = {probe.name: probe for probe in actual_probes}
    problems: dict[str, list[str]] = {}
    for wanted in desired.rules:
        if wanted.listener_id in skip:
            continue
        found: list[str] = []
        actual = by_key.get(wanted.key)
        if actual is None:
            found.append(f"rule {wanted.rule.name} {wanted.key} missing")
        else:
            found += rule_problems(wanted.rule, actual)
            for key in sorted(endpoint_keys(wanted.rule)):
                probe = desired.probes.get(key)
                have = probes.get(key)
                if probe is None or (probe.probe_type == "none" and have is None):
                    continue
                if have is None or not probe_matches(probe, have):
                    seen = have.probe_type if have else "missing"
                    found.append(f"probe {key} is {seen}, want {probe.probe_type}")
        if found:
            problems.setdefault(wanted.listener_id, []).extend(found)
    desired_keys = {d.key for d in desired.rules}
    stray = []
    for rule in actual_rules:
        if rule.key not in desired_keys and scope.contains(rule):
            stray.append(rule.name)
            listener_id = naming.listener_id_of(scope.prefix, rule.name)
            if listener_id is not None:
                problems.setdefault(listener_id, []).append(f"stray rule {rule.key} present")
    return VerifyReport(problems=problems, stray_rules=tuple(sorted(stray)))
