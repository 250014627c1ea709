"""Octavia load balancer tree → desired LoxiLB state. A pure function: no I/O, no clock.

The input is what ``DriverLibrary.get_loadbalancer`` returns (provider data model as plain
dicts, unset fields ``None``). Objects named in ``deleting`` and everything under them are
left out, so one translation serves create, update, delete and resync alike (DESIGN §2).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from collections.abc import Iterable, Mapping
from typing import Any

from octavia_loxilb.loxilb.models import (
    MAX_ENDPOINTS,
    Endpoint,
    EndpointProbe,
    LoadBalancerRule,
    Mode,
    Sel,
    ServiceArguments,
    canonical_ip,
)
from octavia_loxilb.reconcile import naming, weights
from octavia_loxilb.reconcile.desired import (
    MODE_NAMES,
    DesiredRule,
    DesiredState,
    TranslateSettings,
)

RULE_PROTOCOLS = {"TCP": "tcp", "HTTP": "tcp", "HTTPS": "tcp", "UDP": "udp", "SCTP": "sctp"}
"""Listener protocol → LoxiLB rule protocol; L7 protocols are balanced at L4."""

LB_MODES = MODE_NAMES

PROBE_TYPES = {
    "TCP": "tcp",
    "HTTP": "http",
    "HTTPS": "https",
    "PING": "ping",
    "UDP-CONNECT": "udp",
    "SCTP": "sctp",
    "TLS-HELLO": "tcp",
}
"""Health monitor type → endpoint probe type. TLS-HELLO degrades to a TCP connect."""

DEFAULT_IDLE_TIMEOUT = {"tcp": 240, "sctp": 240, "udp": 20}
"""LoxiLB's own ``inactiveTimeOut`` defaults (§2.1), used when Octavia gives none, so the
value read back equals the value desired."""

MAX_IDLE_TIMEOUT = 86400
MAX_PROBE_RETRIES = 100
MAX_PROBE_DURATION = 86400


def translate(
    lb: Mapping[str, Any],
    *,
    deleting: Mapping[str, Iterable[str]] | None = None,
    settings: TranslateSettings | None = None,
) -> DesiredState:
    """The rules and probes ``lb`` needs on every LoxiLB node that hosts it."""
    return _Translation(lb, deleting or {}, settings or TranslateSettings()).run()


def _ids(deleting: Mapping[str, Iterable[str]], kind: str) -> frozenset[str]:
    return frozenset(deleting.get(kind) or ())


def _enabled(obj: Mapping[str, Any]) -> bool:
    return obj.get("admin_state_up") is not False


def _vips(lb: Mapping[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    for address in [lb.get("vip_address")] + [
        (extra or {}).get("ip_address") for extra in lb.get("additional_vips") or ()
    ]:
        if not address:
            continue
        vip = canonical_ip(address)
        if vip not in found:
            found.append(vip)
    return tuple(found)


def _family_fits(vip: str, member_ip: str) -> bool:
    """LoxiLB rejects IPv6 endpoints behind an IPv4 VIP (nat46); the reverse is allowed."""
    return not (
        ipaddress.ip_address(vip).version == 4 and ipaddress.ip_address(member_ip).version == 6
    )


def idle_timeout(listener: Mapping[str, Any], protocol: str) -> int:
    """``timeout_client_data`` (ms) as LoxiLB's ``inactiveTimeOut`` (s, 1..86400)."""
    millis = listener.get("timeout_client_data")
    if millis is None:
        return DEFAULT_IDLE_TIMEOUT[protocol]
    return min(MAX_IDLE_TIMEOUT, max(1, math.ceil(int(millis) / 1000)))


def select(pool: Mapping[str, Any], mode: Mode, member_weights: list[int]) -> Sel | None:
    """``sel`` for a pool; None for an algorithm LoxiLB cannot honour."""
    if mode == Mode.DSR:
        return Sel.HASH  # the only selection LoxiLB accepts in DSR mode (§0.3)
    persistence = pool.get("session_persistence") or {}
    algorithm = pool.get("lb_algorithm") or "ROUND_ROBIN"
    if persistence.get("type") == "SOURCE_IP" or algorithm == "SOURCE_IP":
        return Sel.PERSIST
    if algorithm == "LEAST_CONNECTIONS":
        return Sel.LEAST_CONNECTION
    if algorithm == "SOURCE_IP_PORT":
        return Sel.HASH
    if algorithm == "ROUND_ROBIN":
        return Sel.RR if weights.all_equal(member_weights) else Sel.PRIORITY
    return None


def endpoint_probe(
    hm: Mapping[str, Any] | None, member: Mapping[str, Any], key: str
) -> EndpointProbe:
    """The probe-table entry that applies ``hm`` to one rule endpoint (type none without one)."""
    address = canonical_ip(member["address"])
    host = canonical_ip(member.get("monitor_address") or address)
    if not hm or not _enabled(hm) or hm.get("type") not in PROBE_TYPES:
        return EndpointProbe(host=address, probe_type="none", name=key)
    probe_type = PROBE_TYPES[hm["type"]]
    port = 0 if probe_type == "ping" else int(hm_port(member))
    request = ""
    if probe_type in ("http", "https"):
        request = (hm.get("url_path") or "/").lstrip("/")
    retries = hm.get("max_retries_down") or hm.get("max_retries") or 1
    return EndpointProbe(
        host=host,
        probe_type=probe_type,
        name=key,
        probe_port=port,
        probe_req=request,
        probe_duration=min(MAX_PROBE_DURATION, max(1, int(hm.get("delay") or 1))),
        inactive_retries=min(MAX_PROBE_RETRIES, max(1, int(retries))),
    )


def hm_port(member: Mapping[str, Any]) -> int:
    return int(member.get("monitor_port") or member["protocol_port"])


@dataclasses.dataclass
class _Translation:
    """One run of the translator; accumulates the parts of a ``DesiredState``."""

    lb: Mapping[str, Any]
    deleting: Mapping[str, Iterable[str]]
    settings: TranslateSettings
    rules: list[DesiredRule] = dataclasses.field(default_factory=list)
    probes: dict[str, EndpointProbe] = dataclasses.field(default_factory=dict)
    idle: dict[str, str] = dataclasses.field(default_factory=dict)
    listener_errors: dict[str, str] = dataclasses.field(default_factory=dict)
    unplaceable: dict[str, str] = dataclasses.field(default_factory=dict)
    drained: set[str] = dataclasses.field(default_factory=set)
    disabled: set[str] = dataclasses.field(default_factory=set)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def run(self) -> DesiredState:
        vips = _vips(self.lb)
        if self.lb["loadbalancer_id"] not in _ids(self.deleting, "loadbalancers"):
            mode = self._mode()
            gone = _ids(self.deleting, "listeners")
            listeners = [
                listener
                for listener in self.lb.get("listeners") or ()
                if listener["listener_id"] not in gone
            ]
            for listener in sorted(listeners, key=lambda item: item["listener_id"]):
                self._listener(listener, vips, mode)
        return DesiredState(
            loadbalancer_id=self.lb["loadbalancer_id"],
            vips=vips,
            name_prefix=self.settings.name_prefix,
            rules=tuple(self.rules),
            probes=dict(self.probes),
            idle_listeners=dict(self.idle),
            listener_errors=dict(self.listener_errors),
            unplaceable=dict(self.unplaceable),
            drained_members=frozenset(self.drained),
            disabled_members=frozenset(self.disabled),
            warnings=tuple(self.warnings),
        )

    def _mode(self) -> Mode:
        flavor = self.lb.get("flavor") or {}
        wanted = flavor.get("lb_mode")
        if wanted is None:
            return self.settings.mode
        mode = LB_MODES.get(str(wanted).lower())
        if mode is None:
            self.warnings.append(f"unknown flavor lb_mode {wanted!r}; using the default")
            return self.settings.mode
        return mode

    def _pool(self, listener: Mapping[str, Any]) -> Mapping[str, Any] | None:
        pool_id = listener.get("default_pool_id")
        nested = listener.get("default_pool") or None
        if pool_id is None and nested:
            pool_id = nested.get("pool_id")
        if pool_id is None or pool_id in _ids(self.deleting, "pools"):
            return None
        for pool in self.lb.get("pools") or ():
            if pool.get("pool_id") == pool_id:
                return pool
        return nested

    def _listener(self, listener: Mapping[str, Any], vips: tuple[str, ...], mode: Mode) -> None:
        listener_id = listener["listener_id"]
        protocol = RULE_PROTOCOLS.get(listener.get("protocol") or "")
        if protocol is None:
            self.listener_errors[listener_id] = (
                f"listener protocol {listener.get('protocol')} is not supported by LoxiLB"
            )
            return
        if not vips:
            self.listener_errors[listener_id] = "the load balancer has no VIP address"
            return
        if not _enabled(self.lb):
            self.idle[listener_id] = "load balancer disabled"
            return
        if not _enabled(listener):
            self.idle[listener_id] = "listener disabled"
            return
        pool = self._pool(listener)
        if pool is None:
            self.idle[listener_id] = "no default pool"
            return
        if not _enabled(pool):
            self.idle[listener_id] = "default pool disabled"
            return
        if pool.get("protocol") == "PROXY":
            self.listener_errors[listener_id] = "PROXY (v1) pools are not supported by LoxiLB"
            return
        port = int(listener["protocol_port"])
        candidates = self._candidates(pool, mode, port)
        realized: set[str] = set()
        overflow: set[str] = set()
        for vip in vips:
            fitting = [m for m in candidates if _family_fits(vip, m["address"])]
            chosen, rest = fitting[:MAX_ENDPOINTS], fitting[MAX_ENDPOINTS:]
            overflow.update(m["member_id"] for m in rest)
            if not chosen:
                continue
            desired = self._rule(listener, pool, vip, protocol, port, mode, chosen)
            if desired is None:
                return
            if any(existing.key == desired.key for existing in self.rules):
                self.listener_errors[listener_id] = (
                    f"another listener already uses {protocol} port {port} on {vip}"
                )
                return
            self.rules.append(desired)
            realized.update(desired.member_ids)
            self._add_probes(pool, protocol, chosen)
        for member in candidates:
            member_id = member["member_id"]
            if member_id in realized:
                continue
            if member_id in overflow:
                reason = f"pool already has {MAX_ENDPOINTS} endpoints (LoxiLB's limit)"
            else:
                reason = "IPv6 member behind an IPv4 VIP (LoxiLB has no NAT46)"
            self.unplaceable[member_id] = reason
        if not realized:
            self.idle[listener_id] = "no enabled member with a weight above 0"

    def _candidates(
        self, pool: Mapping[str, Any], mode: Mode, port: int
    ) -> list[Mapping[str, Any]]:
        """Members that should be endpoints, in pool order; records the others' fate."""
        gone = _ids(self.deleting, "members")
        chosen: list[Mapping[str, Any]] = []
        for member in pool.get("members") or ():
            member_id = member["member_id"]
            if member_id in gone:
                continue
            if not _enabled(member):
                self.disabled.add(member_id)
                continue
            try:
                ipaddress.ip_address(member.get("address") or "")
            except ValueError:
                self.unplaceable[member_id] = f"address {member.get('address')!r} is not an IP"
                continue
            if member.get("backup"):
                self.unplaceable[member_id] = "backup members are not supported by LoxiLB"
                continue
            if mode == Mode.DSR and int(member["protocol_port"]) != port:
                self.unplaceable[member_id] = "DSR needs the member port to equal the listener's"
                continue
            weight = member.get("weight")
            if weight is not None and int(weight) <= 0:
                self.drained.add(member_id)
                continue
            chosen.append(member)
        return chosen

    def _rule(
        self,
        listener: Mapping[str, Any],
        pool: Mapping[str, Any],
        vip: str,
        protocol: str,
        port: int,
        mode: Mode,
        members: list[Mapping[str, Any]],
    ) -> DesiredRule | None:
        listener_id = listener["listener_id"]
        relative = [int(m.get("weight") or 1) for m in members]
        sel = select(pool, mode, relative)
        if sel is None:
            self.listener_errors[listener_id] = (
                f"lb_algorithm {pool.get('lb_algorithm')} is not supported by LoxiLB"
            )
            return None
        shares = weights.normalize(relative) if sel == Sel.PRIORITY else [1] * len(members)
        endpoints = tuple(
            Endpoint(ip=canonical_ip(m["address"]), port=int(m["protocol_port"]), weight=w)
            for m, w in zip(members, shares, strict=True)
        )
        service = ServiceArguments(
            external_ip=vip,
            port=port,
            protocol=protocol,
            sel=sel,
            mode=mode,
            monitor=True,
            probetype="none",
            inactive_timeout=idle_timeout(listener, protocol),
            name=naming.rule_name(self.settings.name_prefix, listener_id),
            proxyprotocolv2=pool.get("protocol") == "PROXYV2" and protocol == "tcp",
        )
        cidrs = listener.get("allowed_cidrs") or ()
        sources = sorted({str(ipaddress.ip_network(c, strict=False)) for c in cidrs})
        return DesiredRule(
            rule=LoadBalancerRule(
                service=service, endpoints=endpoints, allowed_sources=tuple(sources)
            ),
            listener_id=listener_id,
            pool_id=pool["pool_id"],
            member_ids=tuple(m["member_id"] for m in members),
        )

    def _add_probes(
        self, pool: Mapping[str, Any], protocol: str, members: list[Mapping[str, Any]]
    ) -> None:
        hm = pool.get("healthmonitor")
        if hm and hm.get("healthmonitor_id") in _ids(self.deleting, "healthmonitors"):
            hm = None
        for member in members:
            key = naming.probe_key(member["address"], protocol, int(member["protocol_port"]))
            probe = endpoint_probe(hm, member, key)
            known = self.probes.get(key)
            if known is None or (known.probe_type == "none" and probe.probe_type != "none"):
                self.probes[key] = probe
