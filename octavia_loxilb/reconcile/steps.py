"""The typed steps a reconcile plan is made of, each one LoxiLB call or a fixed pair.

Steps are plain data: the planner builds them without I/O and ``apply`` executes them, so a
plan can be printed (``octavia-loxilb-manage diff``), counted (benchmarks) and tested alone.
"""

from __future__ import annotations

import dataclasses

from octavia_loxilb.loxilb.models import EndpointProbe, LoadBalancerRule, RuleKey


@dataclasses.dataclass(frozen=True)
class _OneRuleWrite:
    """A single POST of one rule body; subclasses say which ``oper`` and why."""

    rule: LoadBalancerRule
    listener_id: str
    writes = 1
    rule_deletes = 0

    @property
    def key(self) -> RuleKey:
        return self.rule.key


@dataclasses.dataclass(frozen=True)
class CreateRule(_OneRuleWrite):
    """POST a rule that does not exist yet (oper 0)."""


@dataclasses.dataclass(frozen=True)
class AttachEndpoints(_OneRuleWrite):
    """POST oper 1: the full desired serviceArguments and only the added/re-weighted endpoints."""


@dataclasses.dataclass(frozen=True)
class DetachEndpoints(_OneRuleWrite):
    """POST oper 2: the full desired serviceArguments and the endpoints to remove for good."""


@dataclasses.dataclass(frozen=True)
class UpdateRule:
    """oper-0 POSTs of the complete desired rule, in order, with an unchanged endpoint set.

    Usually one body (``sel``, proxy protocol, allowedSources count or rule-level probe
    settings changed). Two bodies when only fields LoxiLB applies but does not detect
    changed (``inactiveTimeOut``, a same-count allowedSources swap): the first differs from
    the stored rule only in the rule-level ``probetype``, which makes LoxiLB apply the whole
    update without touching existing endpoints' probes; the second restores ``probetype``.
    """

    bodies: tuple[LoadBalancerRule, ...]
    listener_id: str
    reasons: tuple[str, ...]
    rule_deletes = 0

    @property
    def key(self) -> RuleKey:
        return self.bodies[-1].key

    @property
    def writes(self) -> int:
        return len(self.bodies)


@dataclasses.dataclass(frozen=True)
class RecreateRule:
    """DELETE by tuple, then POST the desired rule: for what LoxiLB cannot change in place.

    Drops every connection of the rule; ``reasons`` names why so callers can count these.
    """

    rule: LoadBalancerRule
    listener_id: str
    reasons: tuple[str, ...]
    writes = 2
    rule_deletes = 1

    @property
    def key(self) -> RuleKey:
        return self.rule.key


@dataclasses.dataclass(frozen=True)
class DeleteRule:
    """DELETE by tuple an in-scope rule nothing desires (listener/pool/LB gone, no members)."""

    key: RuleKey
    name: str
    listener_id: str | None
    writes = 1
    rule_deletes = 1


@dataclasses.dataclass(frozen=True)
class SetProbe:
    """POST /config/endpoint: upsert one probe host's options."""

    probe: EndpointProbe
    listener_ids: tuple[str, ...]
    writes = 1
    rule_deletes = 0

    @property
    def key(self) -> str:
        return self.probe.name


Step = (
    CreateRule
    | AttachEndpoints
    | DetachEndpoints
    | UpdateRule
    | RecreateRule
    | DeleteRule
    | SetProbe
)


def describe(step: Step) -> str:
    """One line for logs and ``diff`` output."""
    match step:
        case SetProbe():
            return f"set probe {step.key} -> {step.probe.probe_type}"
        case DeleteRule():
            return f"delete rule {step.name} {step.key}"
        case UpdateRule():
            return f"update rule {step.bodies[-1].name} ({', '.join(step.reasons)})"
        case RecreateRule():
            return f"recreate rule {step.rule.name} ({', '.join(step.reasons)})"
        case AttachEndpoints() | DetachEndpoints() | CreateRule():
            verb = {CreateRule: "create", AttachEndpoints: "attach", DetachEndpoints: "detach"}[
                type(step)
            ]
            eps = ", ".join(f"{e.ip}:{e.port}/{e.weight}" for e in step.rule.endpoints)
            return f"{verb} rule {step.rule.name} [{eps}]"
    raise TypeError(step)
