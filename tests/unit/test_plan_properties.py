"""Idempotence and convergence of plan+apply, over random Octavia trees and LoxiLB states.

``MemoryLoxiLB`` is a small in-memory LoxiLB node faithful to the oper semantics of
API-NOTES §2.5/§2.6 (hidden slots, the >32 rebuild, change detection incl. the
allowedSources same-count bug, 409 on no change) and the probe-host table of §3.1.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from octavia_lib.api.drivers import data_models as dm

from octavia_loxilb.loxilb.models import (
    MAX_ENDPOINTS,
    Endpoint,
    EndpointProbe,
    LoadBalancerRule,
    Oper,
    RuleKey,
    ServiceArguments,
    canonical_ip,
)
from octavia_loxilb.reconcile import naming
from octavia_loxilb.reconcile.apply import Reconciler
from octavia_loxilb.reconcile.desired import DesiredState
from octavia_loxilb.reconcile.plan import plan
from octavia_loxilb.reconcile.translate import translate

VIP = "192.0.2.10"
DEFAULT_TIMEOUT = {"tcp": 240, "sctp": 240, "udp": 20}


class LoxiLBRefused(Exception):
    """A non-409 LoxiLB error."""


@dataclasses.dataclass
class Slot:
    ip: str
    port: int
    weight: int
    removed: bool = False


@dataclasses.dataclass
class Stored:
    service: ServiceArguments
    slots: list[Slot]
    allowed: list[str]
    secondary: list[str]


@dataclasses.dataclass
class Host:
    probe: EndpointProbe
    refs: int = 0


class MemoryLoxiLB:
    """One LoxiLB node in memory, implementing the parts of ``LoxiLBNodeAPI`` we call."""

    def __init__(self, name: str = "memory") -> None:
        self.node = name
        self.rules: dict[RuleKey, Stored] = {}
        self.hosts: dict[str, Host] = {}
        self.calls: list[tuple[str, Any]] = []
        self.rebuilds = 0

    # probe hosts ---------------------------------------------------------------
    def _key(self, svc: ServiceArguments, slot: Slot) -> str:
        return naming.probe_key(slot.ip, svc.protocol, slot.port)

    def _ref(self, svc: ServiceArguments, slot: Slot) -> None:
        key = self._key(svc, slot)
        if key in self.hosts:
            self.hosts[key].refs += 1
            return
        ptype = svc.probetype or {"tcp": "tcp", "udp": "udp", "sctp": "sctp"}[svc.protocol]
        if not (svc.monitor or svc.mode in (1, 2, 5)):
            ptype = "none"
        self.hosts[key] = Host(EndpointProbe(host=slot.ip, probe_type=ptype, name=key), 1)

    def _release(self, svc: ServiceArguments, slot: Slot) -> None:
        key = self._key(svc, slot)
        host = self.hosts.get(key)
        if host is not None:
            host.refs -= 1
            if host.refs <= 0:
                del self.hosts[key]

    # rules ---------------------------------------------------------------------
    def apply_rule(self, rule: LoadBalancerRule) -> bool:
        self.calls.append(("POST", rule))
        svc = rule.service
        if not 1 <= len(rule.endpoints) <= MAX_ENDPOINTS:
            raise LoxiLBRefused("endpoints-range error")
        timeout = svc.inactive_timeout or DEFAULT_TIMEOUT[svc.protocol]
        incoming = dataclasses.replace(svc, inactive_timeout=timeout, oper=Oper.ADD)
        stored = self.rules.get(rule.key)
        if stored is None:
            if svc.oper == Oper.DETACH:
                raise LoxiLBRefused("lbrule not-exists error")
            slots = [Slot(canonical_ip(e.ip), e.port, e.weight % 256) for e in rule.endpoints]
            self.rules[rule.key] = Stored(
                incoming, slots, list(rule.allowed_sources), list(rule.secondary_ips)
            )
            for slot in slots:
                self._ref(incoming, slot)
            return True
        return self._update(stored, rule, incoming)

    def _update(self, stored: Stored, rule: LoadBalancerRule, new: ServiceArguments) -> bool:
        if list(rule.secondary_ips) != stored.secondary:
            raise LoxiLBRefused("secIP modify error")
        old = stored.service
        changed = False
        by_ident = {(s.ip, s.port): s for s in stored.slots}
        added: list[Slot] = []
        released: list[Slot] = []
        request = {(canonical_ip(e.ip), e.port): e for e in rule.endpoints}
        if rule.service.oper == Oper.DETACH:
            for ident in request:
                slot = by_ident.get(ident)
                if slot is not None:
                    stored.slots.remove(slot)
                    if not slot.removed:
                        released.append(slot)
                    changed = True
        else:
            for ident, ep in request.items():
                slot = by_ident.get(ident)
                if slot is None:
                    slot = Slot(ident[0], ident[1], ep.weight % 256)
                    stored.slots.append(slot)
                    added.append(slot)
                    changed = True
                    continue
                if slot.weight != ep.weight % 256:
                    slot.weight = ep.weight % 256
                    changed = True
                if slot.removed:
                    slot.removed = False
                    added.append(slot)
                    changed = True
            if rule.service.oper == Oper.ADD:
                for ident, slot in by_ident.items():
                    if ident not in request and not slot.removed:
                        slot.removed = True
                        released.append(slot)
                        changed = True
        for field in ("probetype", "probeport", "probereq", "proberesp", "sel", "mode"):
            if getattr(old, field) != getattr(new, field):
                changed = True
        if old.proxyprotocolv2 != new.proxyprotocolv2:
            changed = True
        new_sources = list(rule.allowed_sources)
        if len(new_sources) != len(stored.allowed):
            changed = True
        elif any(all(n == o for o in stored.allowed) for n in new_sources):
            changed = True  # LoxiLB's same-count comparison (§2.5), bug included
        if not changed:
            return False  # 409 lbrule-exists: the client reports False
        if new.security != old.security or new.egress != old.egress:
            raise LoxiLBRefused("lbrule-exist error: cant modify")
        if not any(not s.removed for s in stored.slots):
            del self.rules[rule.key]
            for slot in released:
                self._release(old, slot)
            return True
        if len(stored.slots) > MAX_ENDPOINTS:
            self.rebuilds += 1
            stored.slots = [
                Slot(canonical_ip(e.ip), e.port, e.weight % 256) for e in rule.endpoints
            ]
        stored.allowed = new_sources
        stored.service = dataclasses.replace(
            old,
            probetype=new.probetype,
            probeport=new.probeport,
            probereq=new.probereq,
            proberesp=new.proberesp,
            proxyprotocolv2=new.proxyprotocolv2,
            sel=new.sel,
            mode=new.mode,
            inactive_timeout=new.inactive_timeout,
        )
        for slot in released:
            self._release(old, slot)
        for slot in added:
            self._ref(stored.service, slot)
        return True

    def delete_rule(self, key: RuleKey) -> bool:
        self.calls.append(("DELETE", key))
        stored = self.rules.pop(key, None)
        if stored is None:
            return False
        for slot in stored.slots:
            if not slot.removed:
                self._release(stored.service, slot)
        return True

    def list_rules(self) -> list[LoadBalancerRule]:
        out = []
        for stored in self.rules.values():
            svc = dataclasses.replace(
                stored.service, probereq="", proberesp="", probe_timeout=0, probe_retries=0
            )
            eps = tuple(Endpoint(s.ip, s.port, s.weight) for s in stored.slots if not s.removed)
            out.append(LoadBalancerRule(svc, eps, tuple(stored.allowed), tuple(stored.secondary)))
        return out

    def list_endpoint_probes(self) -> list[EndpointProbe]:
        return [host.probe for host in self.hosts.values()]

    def set_endpoint_probe(self, probe: EndpointProbe) -> None:
        self.calls.append(("PROBE", probe))
        host = self.hosts.get(probe.name)
        if host is None:
            self.hosts[probe.name] = Host(probe, 0)
        else:
            host.probe = probe

    def snapshot(self, keys: set[RuleKey]) -> dict[RuleKey, LoadBalancerRule]:
        return {r.key: r for r in self.list_rules() if r.key in keys}


# random Octavia trees -------------------------------------------------------------
ADDRESSES = [f"10.0.{i // 10}.{i % 10 + 1}" for i in range(40)]
HM_TYPES = [None, "TCP", "HTTP", "PING", "HTTPS"]
CIDRS = ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "203.0.113.0/24"]


@st.composite
def members(draw: st.DrawFn, prefix: str) -> list[dm.Member]:
    chosen = draw(st.lists(st.sampled_from(ADDRESSES), max_size=36, unique=True))
    return [
        dm.Member(
            member_id=f"{prefix}-{address}",
            address=address,
            protocol_port=draw(st.sampled_from([80, 8080])),
            weight=draw(st.sampled_from([0, 1, 1, 1, 2, 5, 100, 256])),
            admin_state_up=draw(st.sampled_from([True, True, True, False])),
        )
        for address in chosen
    ]


@st.composite
def trees(draw: st.DrawFn) -> dict[str, Any]:
    listeners = []
    pools = []
    ports = draw(
        st.lists(st.sampled_from([80, 443, 8000, 53]), min_size=0, max_size=3, unique=True)
    )
    for n, port in enumerate(ports):
        protocol = "UDP" if port == 53 else draw(st.sampled_from(["TCP", "HTTP"]))
        hm_type = draw(st.sampled_from(HM_TYPES))
        if protocol == "UDP" and hm_type not in (None, "PING"):
            hm_type = "UDP-CONNECT"
        hm = None
        if hm_type:
            hm = dm.HealthMonitor(
                healthmonitor_id=f"hm{n}",
                type=hm_type,
                delay=draw(st.integers(1, 30)),
                max_retries=draw(st.integers(1, 5)),
                url_path="/health",
                admin_state_up=draw(st.booleans()),
            )
        pool = dm.Pool(
            pool_id=f"p{n}",
            protocol="UDP" if protocol == "UDP" else draw(st.sampled_from(["TCP", "PROXYV2"])),
            lb_algorithm=draw(
                st.sampled_from(
                    ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP_PORT", "SOURCE_IP"]
                )
            ),
            members=draw(members(f"p{n}")),
            healthmonitor=hm,
        )
        pools.append(pool)
        listeners.append(
            dm.Listener(
                listener_id=f"l{n}",
                protocol=protocol,
                protocol_port=port,
                default_pool=pool,
                default_pool_id=pool.pool_id,
                admin_state_up=draw(st.sampled_from([True, True, False])),
                timeout_client_data=draw(st.sampled_from([None, 1000, 50000, 120000])),
                allowed_cidrs=draw(st.lists(st.sampled_from(CIDRS), max_size=2, unique=True))
                or None,
            )
        )
    flavor = draw(st.sampled_from([None, {"lb_mode": "fullnat"}, {"lb_mode": "onearm"}]))
    return dm.LoadBalancer(
        loadbalancer_id="lb1", vip_address=VIP, listeners=listeners, pools=pools, flavor=flavor
    ).to_dict(recurse=True, render_unsets=True)


def foreign_rules(node: MemoryLoxiLB) -> set[RuleKey]:
    """Rules of other owners: another tool on our VIP, another load balancer on its VIP."""
    others = [
        LoadBalancerRule(
            ServiceArguments(external_ip=VIP, port=9999, protocol="tcp", name="k8s-svc"),
            (Endpoint("10.0.0.1", 80, 1),),
        ),
        LoadBalancerRule(
            ServiceArguments(external_ip="192.0.2.99", port=80, protocol="tcp", name="oct-l0"),
            (Endpoint("10.0.0.1", 80, 1), Endpoint("10.0.0.2", 80, 1)),
        ),
    ]
    for rule in others:
        node.apply_rule(rule)
    return {rule.key for rule in others}


def converge(node: MemoryLoxiLB, desired: DesiredState) -> Any:
    return Reconciler([node], threads=1).converge(desired)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=trees(), target=trees())
def test_converge_reaches_desired_and_is_idempotent(
    start: dict[str, Any], target: dict[str, Any]
) -> None:
    node = MemoryLoxiLB()
    foreign = foreign_rules(node)
    untouched = node.snapshot(foreign)
    first = converge(node, translate(start))
    assert first.verified, first.nodes[0].report
    desired = translate(target)
    result = converge(node, desired)
    assert result.verified, (result.nodes[0].error, result.nodes[0].report)
    assert all(
        lr.verified
        for lr in result.listeners.values()
        if lr.listener_id not in desired.listener_errors
    )
    again = plan(desired, node.list_rules(), node.list_endpoint_probes(), scope=desired.scope)
    assert not again.steps, again.steps
    assert converge(node, desired).writes == 0
    assert node.snapshot(foreign) == untouched
    assert node.rebuilds == 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(target=trees(), drift=st.data())
def test_converge_repairs_drift(target: dict[str, Any], drift: st.DataObject) -> None:
    node = MemoryLoxiLB()
    desired = translate(target)
    converge(node, desired)
    ours = [r for r in node.list_rules() if desired.scope.contains(r)]
    for rule in ours:
        action = drift.draw(
            st.sampled_from(["keep", "delete", "sel", "drop-ep", "timeout", "probe"])
        )
        if action == "delete":
            node.delete_rule(rule.key)
        elif action == "sel":
            node.apply_rule(
                dataclasses.replace(
                    rule, service=dataclasses.replace(rule.service, sel=4 - rule.service.sel % 4)
                )
            )
        elif action == "drop-ep" and len(rule.endpoints) > 1:
            node.apply_rule(dataclasses.replace(rule, endpoints=rule.endpoints[1:]))
        elif action == "timeout":
            node.rules[rule.key].service = dataclasses.replace(rule.service, inactive_timeout=7)
        elif action == "probe":
            ep = rule.endpoints[0]
            key = naming.probe_key(ep.ip, rule.service.protocol, ep.port)
            node.set_endpoint_probe(
                EndpointProbe(host=ep.ip, probe_type="tcp", name=key, probe_port=1)
            )
    result = converge(node, desired)
    assert result.verified, (result.nodes[0].error, result.nodes[0].report)
    assert converge(node, desired).writes == 0
