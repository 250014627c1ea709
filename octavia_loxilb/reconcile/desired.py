"""What one load balancer should look like on LoxiLB: the translator's output.

Kept apart from the translator so the planner, the verifier and the worker's status report
can depend on the shape without the Octavia-side mapping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from octavia_loxilb.loxilb.models import (
    EndpointProbe,
    LoadBalancerRule,
    Mode,
    RuleKey,
    canonical_ip,
)
from octavia_loxilb.reconcile import naming

MODE_NAMES = {
    "dnat": Mode.DNAT,
    "default": Mode.DNAT,
    "onearm": Mode.ONEARM,
    "one-arm": Mode.ONEARM,
    "fullnat": Mode.FULLNAT,
    "dsr": Mode.DSR,
}
"""Names of the modes we offer (option values and flavor ``lb_mode``). Fullproxy is left
out: LoxiLB rebuilds such rules, dropping connections, on every change (§2.5)."""


@dataclasses.dataclass(frozen=True)
class TranslateSettings:
    """Operator choices the translation depends on (from ``[loxilb]`` options)."""

    name_prefix: str = naming.DEFAULT_PREFIX
    mode: Mode = Mode.FULLNAT
    """NAT mode unless the load balancer's flavor sets ``lb_mode``."""

    def __post_init__(self) -> None:
        naming.check_prefix(self.name_prefix)

    @classmethod
    def from_conf(cls, conf: Any) -> TranslateSettings:
        """Settings from the ``[loxilb]`` options of ``conf/reconcile.py``."""
        group = conf.loxilb
        return cls(name_prefix=group.rule_name_prefix, mode=MODE_NAMES[group.default_lb_mode])


@dataclasses.dataclass(frozen=True)
class DesiredRule:
    """One LoxiLB rule and the Octavia objects it realizes (for the status report)."""

    rule: LoadBalancerRule
    listener_id: str
    pool_id: str
    member_ids: tuple[str, ...]
    """Members that are endpoints of this rule, in endpoint order."""

    @property
    def key(self) -> RuleKey:
        return self.rule.key


@dataclasses.dataclass(frozen=True)
class DesiredState:
    """Every rule and probe one load balancer needs, plus what could not be realized."""

    loadbalancer_id: str
    vips: tuple[str, ...]
    """Canonical VIP addresses (primary first): the externalIPs our rules may use."""
    name_prefix: str
    rules: tuple[DesiredRule, ...] = ()
    probes: Mapping[str, EndpointProbe] = dataclasses.field(default_factory=dict)
    """Probe-host key → desired probe; type ``none`` where no monitor applies."""
    idle_listeners: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Listener id → why it has no rule (disabled, no pool, no usable member)."""
    listener_errors: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Listener id → why it cannot be realized at all (ERROR in the status report)."""
    unplaceable: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Member id → why it is not an endpoint although enabled (ERROR in the report)."""
    drained_members: frozenset[str] = frozenset()
    """Enabled weight-0 members: realized by being left out (LoxiLB sends weight 0 traffic)."""
    disabled_members: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()

    @property
    def scope(self) -> Scope:
        return Scope(prefix=self.name_prefix, vips=frozenset(self.vips))

    def rule_for(self, key: RuleKey) -> DesiredRule | None:
        for desired in self.rules:
            if desired.key == key:
                return desired
        return None

    def listener_ids(self) -> set[str]:
        """Every listener this state says something about."""
        ids = {d.listener_id for d in self.rules}
        return ids | set(self.idle_listeners) | set(self.listener_errors)


@dataclasses.dataclass(frozen=True)
class Scope:
    """Which rules on a node belong to one load balancer: only these may be changed.

    A rule is ours when its name carries our prefix and its externalIP is one of the load
    balancer's VIPs; rules of other load balancers or other tools are never touched.
    """

    prefix: str
    vips: frozenset[str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "vips", frozenset(canonical_ip(v) for v in self.vips))

    def contains(self, rule: LoadBalancerRule) -> bool:
        return (
            rule.name.startswith(self.prefix)
            and canonical_ip(rule.service.external_ip) in self.vips
        )
