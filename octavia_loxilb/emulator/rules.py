"""The load-balancer rule table with LoxiLB's create, update and delete semantics.

Follows API-NOTES §2.3 (check order and error strings), §2.4 (creation, endpoint sort, rule
numbers), §2.5/§2.6 (re-POST with oper 0/1/2, hidden endpoints, the 32-slot rebuild, what is
and is not a change), §2.7 (delete) and §2.8 (GET shape). Probe hosts are referenced through
the shared :class:`ProbeTable`; the data path is told about every rule it must (re)program.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import random
from typing import Any

from octavia_loxilb.emulator.errors import LoxiError
from octavia_loxilb.emulator.model import Datapath, RuleKey, StoredEndpoint, StoredRule
from octavia_loxilb.emulator.probes import ProbeTable
from octavia_loxilb.emulator.validation import go_uint

LOG = logging.getLogger(__name__)

MAX_ENDPOINTS = 32
MAX_SECONDARY_IPS = 3
MAX_INACTIVE_TIMEOUT = 86400
MAX_RULES = 2048
MAX_SOURCE_MARKED_RULE = 28
"""``allowedSources`` need a mark bit; only rule numbers up to this have one (§0.18)."""
DEFAULT_INSTANCE = "llb-inst0"
DSR_SEL_ERROR = "Error: Only Hash Selection criteria allowed for DSR mode"

MODE_DSR = 3
MODE_FULLPROXY = 4
MODE_HOSTONEARM = 5
SEL_N3 = 6
_RULE_PROBES = ("tcp", "udp", "sctp", "ping", "none")
_PORTED_PROBES = ("tcp", "udp", "sctp")
_PROTOCOLS = ("tcp", "udp", "sctp", "icmp")


def iptonl_key(ip: str) -> int:
    """LoxiLB's endpoint sort key: the four low-order bytes, little-endian (§2.4)."""
    low = ipaddress.ip_address(ip).packed[-4:]
    return int.from_bytes(low, "little")


def instance_of(name: str) -> str:
    """The HA instance a rule binds to: the second ``:`` field of its name (§5.3)."""
    parts = name.split(":")
    return parts[1] if len(parts) > 1 else DEFAULT_INSTANCE


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _canonical_prefixes(sources: list[dict[str, Any]]) -> list[str] | None:
    """Canonical CIDR strings, or None when one does not parse (Go's ``ParseCIDR``)."""
    prefixes = []
    for source in sources:
        text = source["prefix"]
        if "/" not in text:
            return None
        try:
            prefixes.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            return None
    return prefixes


@dataclasses.dataclass
class _Request:
    """A checked rule POST: serviceArguments after LoxiLB's defaults, sorted endpoints."""

    args: dict[str, Any]
    key: RuleKey
    vip: str
    protocol: str
    port: int
    port_max: int
    monitor: bool
    inactive_timeout: int
    endpoints: list[StoredEndpoint]
    secondary_ips: list[str]
    sources: list[dict[str, Any]]


def check_request(body: dict[str, Any]) -> _Request:
    """Apply the checks of §2.3 step 3 in LoxiLB's order; raise the first error."""
    args = body["serviceArguments"]
    protocol = args["protocol"]
    # The handler copies secondary IPs only for SCTP rules (§2.1).
    secondary = [s["secondaryIP"] for s in body["secondaryIPs"] or []]
    if protocol != "sctp":
        secondary = []
    vip = _parse_ip(args["externalIP"])
    if vip is None:
        raise LoxiError("malformed-service error")
    if args["privateIP"] and _parse_ip(args["privateIP"]) is None:
        raise LoxiError("malformed-service privateIP error")
    timeout = args["inactiveTimeOut"]
    if timeout > MAX_INACTIVE_TIMEOUT or timeout < 0:
        raise LoxiError("service-args error")
    if timeout == 0:
        timeout = 240 if protocol in ("tcp", "sctp") else 20
    probetype, probeport = args["probetype"], args["probeport"]
    if probetype and probetype not in _RULE_PROBES:
        raise LoxiError("malformed-service-ptype error")
    if (probetype in _PORTED_PROBES and probeport == 0) or (
        probetype not in _PORTED_PROBES and probeport != 0
    ):
        raise LoxiError("malformed-service-pport error")
    monitor = args["monitor"] or (bool(probetype) and probetype != "none")
    raw_eps = body["endpoints"] or []
    if not 1 <= len(raw_eps) <= MAX_ENDPOINTS:
        raise LoxiError("endpoints-range error")
    port = go_uint(args["port"], 16)
    if protocol == "icmp" and port != 0:
        raise LoxiError("malformed-service error")
    if args["proxyprotocolv2"] and protocol != "tcp":
        raise LoxiError("proxy-proto-v2 not tcp service error")
    if protocol not in _PROTOCOLS:
        raise LoxiError("malformed-proto error")
    if args["sel"] == SEL_N3 and protocol != "udp":
        raise LoxiError("non-udp-n3-args error")
    if len(secondary) > MAX_SECONDARY_IPS:
        raise LoxiError("secondaryIP-args len error")
    port_max = go_uint(args["portMax"], 16)
    if port_max and port_max < port:
        raise LoxiError("serv-port-args range error")
    secondary_ips = []
    for text in secondary:
        sec = _parse_ip(text)
        if sec is None:
            raise LoxiError("malformed-secIP error")
        if vip.version == 4 and sec.version == 6:
            raise LoxiError("malformed-secIP nat46 error")
        secondary_ips.append(str(sec))
    if args["mode"] == MODE_HOSTONEARM and not vip.is_unspecified:
        raise LoxiError("hostarm-args error")
    endpoints = []
    for raw in raw_eps:
        ep_ip = _parse_ip(raw["endpointIP"])
        if ep_ip is None:
            raise LoxiError("malformed-lbep error")
        if vip.version == 4 and ep_ip.version == 6:
            raise LoxiError("malformed-service nat46 error")
        target = go_uint(raw["targetPort"], 16)
        if protocol == "icmp" and target != 0:
            raise LoxiError("malformed-service error")
        if args["mode"] == MODE_DSR and target != port:
            raise LoxiError("malformed-service dsr-port error")
        endpoints.append(StoredEndpoint(str(ep_ip), target, go_uint(raw["weight"], 8)))
    endpoints.sort(key=lambda ep: iptonl_key(ep.ip))
    key: RuleKey = (str(vip), protocol, port, port_max or port, args["block"], args["host"])
    return _Request(
        args=args,
        key=key,
        vip=str(vip),
        protocol=protocol,
        port=port,
        port_max=port_max,
        monitor=monitor,
        inactive_timeout=timeout,
        endpoints=endpoints,
        secondary_ips=secondary_ips,
        sources=body["allowedSources"] or [],
    )


class RuleTable:
    """Rules keyed by :data:`RuleKey`, with their rule numbers and probe references."""

    def __init__(self, probes: ProbeTable, datapath: Datapath) -> None:
        self.rules: dict[RuleKey, StoredRule] = {}
        self.probes = probes
        self.datapath = datapath

    # -- rule numbers --------------------------------------------------------------------

    def _allocate_number(self) -> int:
        used = {rule.rule_num for rule in self.rules.values()}
        for number in range(1, MAX_RULES + 1):
            if number not in used:
                return number
        raise LoxiError("rule-hwm error")

    # -- data path -----------------------------------------------------------------------

    async def _program(self, rule: StoredRule) -> None:
        try:
            await self.datapath.program(rule)
        except Exception:  # LoxiLB answers 200 even when programming fails (§1.1).
            LOG.exception("data path could not program rule %s", rule.key)

    async def _unprogram(self, rule: StoredRule) -> None:
        try:
            await self.datapath.remove(rule)
        except Exception:
            LOG.exception("data path could not remove rule %s", rule.key)

    # -- POST ----------------------------------------------------------------------------

    async def post(self, body: dict[str, Any]) -> None:
        """POST /config/loadbalancer after the framework checks (§2.3 steps 3-4)."""
        req = check_request(body)
        stored = self.rules.get(req.key)
        if stored is not None:
            await self._update(stored, req)
        elif req.args["oper"] == 2:
            raise LoxiError("lbrule not-exists error")
        else:
            await self._create(req)

    async def _create(self, req: _Request) -> None:
        args = req.args
        number = self._allocate_number()
        sources: list[str] = []
        if req.sources:
            parsed = _canonical_prefixes(req.sources)
            if parsed is None or number > MAX_SOURCE_MARKED_RULE:
                raise LoxiError("rule-allowed-src error")
            sources = parsed
        vip, proto, port, port_max, block, host = req.key
        rule = StoredRule(
            key=req.key,
            external_ip=vip,
            protocol=proto,
            port=port,
            port_max=port_max,
            block=block,
            host=host,
            name=args["name"],
            sel=args["sel"],
            mode=args["mode"],
            security=args["security"],
            monitor=req.monitor,
            probetype=args["probetype"],
            probeport=args["probeport"],
            probereq=args["probereq"],
            proberesp=args["proberesp"],
            probe_timeout=args["probeTimeout"],
            probe_retries=args["probeRetries"],
            inactive_timeout=req.inactive_timeout,
            managed=args["managed"],
            bgp=args["bgp"],
            egress=args["egress"],
            proxyprotocolv2=args["proxyprotocolv2"],
            private_ip=args["privateIP"],
            allowed_sources=sources,
            secondary_ips=req.secondary_ips,
            endpoints=req.endpoints,
            rule_num=number,
            instance=instance_of(args["name"]),
        )
        self.rules[rule.key] = rule
        for ep in rule.endpoints:
            self.probes.acquire(rule, ep)
        await self._program(rule)

    def _merge(self, rule: StoredRule, req: _Request) -> tuple[list[StoredEndpoint], bool]:
        """``getLBConsolidatedEPs``: the new endpoint list and whether it changed (§2.5/§2.6).

        Like LoxiLB, it mutates the stored endpoint objects (weights, removed flags) before
        the conflict checks run, so a rejected update can leave those changes visible.
        """
        oper = req.args["oper"]
        wanted = {(ep.ip, ep.port): ep for ep in req.endpoints}
        changed = False
        merged: list[StoredEndpoint] = []
        for ep in rule.endpoints:
            match = wanted.get((ep.ip, ep.port))
            if oper == 2:
                if match is not None:
                    changed = True
                    continue
                merged.append(ep)
                continue
            if match is not None:
                if ep.weight != match.weight:
                    ep.weight = match.weight
                    changed = True
                if ep.removed:
                    ep.removed = False
                    changed = True
            elif oper == 0 and not ep.removed:
                ep.removed = True
                changed = True
            merged.append(ep)
        if oper != 2:
            present = {(ep.ip, ep.port) for ep in rule.endpoints}
            for ep in req.endpoints:
                if (ep.ip, ep.port) not in present:
                    merged.append(ep)
                    changed = True
        return merged, changed

    @staticmethod
    def _sources_changed(stored: list[str], wanted: list[str] | None) -> bool:
        """LoxiLB's comparison: by count, then the 'equals every stored prefix' bug (§2.5)."""
        if wanted is None:
            return True
        if len(wanted) != len(stored):
            return True
        return any(all(new == old for old in stored) for new in wanted)

    async def _update(self, rule: StoredRule, req: _Request) -> None:
        args = req.args
        if req.secondary_ips != rule.secondary_ips:
            raise LoxiError("secIP modify error")
        before = {(ep.ip, ep.port) for ep in rule.endpoints if not ep.removed}
        merged, changed = self._merge(rule, req)
        wanted_sources = _canonical_prefixes(req.sources)
        changed = (
            changed
            or self._sources_changed(rule.allowed_sources, wanted_sources)
            or any(
                getattr(rule, attr) != args[arg]
                for attr, arg in (
                    ("probetype", "probetype"),
                    ("probeport", "probeport"),
                    ("probereq", "probereq"),
                    ("proberesp", "proberesp"),
                    ("sel", "sel"),
                    ("mode", "mode"),
                    ("proxyprotocolv2", "proxyprotocolv2"),
                )
            )
        )
        if not changed:
            raise LoxiError("lbrule-exists error")
        if args["security"] != rule.security:
            raise LoxiError("lbrule-exist error: cant modify rule security mode")
        if args["egress"] != rule.egress:
            raise LoxiError("lbrule-exist error: cant modify rule egress mode")
        if not merged:
            await self._delete(rule)
            return
        if (args["mode"] == MODE_FULLPROXY) != (rule.mode == MODE_FULLPROXY):
            raise LoxiError("lbrule-exist error: cant modify fullproxy rule mode")
        if len(merged) > MAX_ENDPOINTS:
            # The stored list outgrew the slots: rebuilt from the request, traffic dropped.
            merged = [dataclasses.replace(ep) for ep in req.endpoints]
            await self._unprogram(rule)
        elif rule.mode == MODE_FULLPROXY:
            await self._unprogram(rule)
        if req.sources or rule.allowed_sources:
            if wanted_sources is None or (
                wanted_sources and rule.rule_num > MAX_SOURCE_MARKED_RULE
            ):
                raise LoxiError("rule-allowed-src error")
            rule.allowed_sources = wanted_sources
        rule.probetype = args["probetype"]
        rule.probeport = args["probeport"]
        rule.probereq = args["probereq"]
        rule.proberesp = args["proberesp"]
        rule.probe_retries = args["probeRetries"]
        rule.probe_timeout = args["probeTimeout"]
        rule.proxyprotocolv2 = args["proxyprotocolv2"]
        rule.sel = args["sel"]
        rule.mode = args["mode"]
        rule.inactive_timeout = req.inactive_timeout
        after = {(ep.ip, ep.port): ep for ep in merged if not ep.removed}
        old_eps = {(ep.ip, ep.port): ep for ep in rule.endpoints}
        for ident in before - after.keys():
            self.probes.release(rule, old_eps.get(ident) or StoredEndpoint(*ident, weight=0))
        rule.endpoints = merged
        for ident, ep in after.items():
            if ident not in before:
                self.probes.acquire(rule, ep)
        await self._program(rule)

    # -- DELETE --------------------------------------------------------------------------

    async def _delete(self, rule: StoredRule) -> None:
        self.rules.pop(rule.key, None)
        for ep in rule.endpoints:
            if not ep.removed:
                self.probes.release(rule, ep)
        await self._unprogram(rule)

    async def delete_by_tuple(
        self, ip: str, port: float, port_max: float, proto: str, host: str, block: int
    ) -> None:
        """DELETE by (VIP, port[, portmax], proto[, hosturl]) (§2.7)."""
        vip = _parse_ip(ip)
        if vip is None:
            raise LoxiError("malformed-service error")
        low, high = go_uint(port, 16), go_uint(port_max, 16)
        if high and high < low:
            raise LoxiError("serv-port-args range error")
        if proto not in (*_PROTOCOLS, "none"):
            raise LoxiError("malformed-proto error")
        key: RuleKey = (str(vip), proto, low, high or low, block, "" if host == "any" else host)
        rule = self.rules.get(key)
        if rule is None:
            raise LoxiError("no-rule error")
        await self._delete(rule)

    async def delete_by_name(self, name: str) -> None:
        """DELETE every rule whose name matches exactly; never an error (§0.12)."""
        for rule in [r for r in self.rules.values() if r.name == name]:
            await self._delete(rule)

    async def delete_all(self) -> None:
        for rule in list(self.rules.values()):
            await self._delete(rule)

    # -- health --------------------------------------------------------------------------

    async def sync_health(self) -> int:
        """RulesSync: mirror probe-host state onto monitored rules' endpoints (§2.10).

        Returns how many rules changed (and were re-programmed).
        """
        changed_rules = []
        for rule in self.rules.values():
            if not rule.monitor:
                continue
            changed = False
            for ep in rule.endpoints:
                if ep.removed:
                    continue
                down = not self.probes.is_active(rule.probe_key(ep))
                if ep.service_down != down:
                    ep.service_down = down
                    changed = True
            if changed:
                changed_rules.append(rule)
        for rule in changed_rules:
            await self._program(rule)
        return len(changed_rules)

    # -- GET -----------------------------------------------------------------------------

    def render(self) -> list[dict[str, Any]]:
        """GET /config/loadbalancer/all entries in random order (§2.8)."""
        entries = [render_rule(rule) for rule in self.rules.values()]
        random.shuffle(entries)
        return entries


def render_rule(rule: StoredRule) -> dict[str, Any]:
    """One ``LoadbalanceEntry`` as LoxiLB returns it: omitempty, hidden endpoints left out."""
    optional: dict[str, Any] = {
        "bgp": rule.bgp,
        "block": rule.block,
        "egress": rule.egress,
        "host": rule.host,
        "inactiveTimeOut": rule.inactive_timeout,
        "managed": rule.managed,
        "mode": rule.mode,
        "monitor": rule.monitor,
        "name": rule.name,
        "portMax": rule.port_max if rule.port_max != rule.port else 0,
        "probeport": rule.probeport,
        "probetype": rule.probetype,
        "protocol": rule.protocol,
        "proxyprotocolv2": rule.proxyprotocolv2,
        "security": rule.security,
        "sel": rule.sel,
    }
    service: dict[str, Any] = {"externalIP": rule.external_ip, "port": rule.port}
    service.update({k: v for k, v in optional.items() if v})
    endpoints = [
        {
            "counter": f"{ep.packets}:{ep.bytes}",
            "endpointIP": ep.ip,
            "state": "inactive" if ep.service_down else "active",
            "targetPort": ep.port,
            "weight": ep.weight,
        }
        for ep in rule.endpoints
        if not ep.removed
    ]
    return {
        "allowedSources": [{"prefix": p} for p in rule.allowed_sources] or None,
        "endpoints": endpoints,
        "secondaryIPs": [{"secondaryIP": ip} for ip in rule.secondary_ips] or None,
        "serviceArguments": dict(sorted(service.items())),
    }
