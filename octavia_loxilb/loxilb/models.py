"""Typed LoxiLB REST objects and their exact wire form (API-NOTES §2.1, §3, §5, §6, §8).

Serialization omits fields at their LoxiLB default so a body we send looks like one LoxiLB
would return; parsing tolerates what GET leaves out (zero fields omitted, ``null`` lists).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import ipaddress
from typing import Any


class Sel(enum.IntEnum):
    """Endpoint selection algorithm (``serviceArguments.sel``)."""

    RR = 0
    HASH = 1
    PRIORITY = 2
    PERSIST = 3
    LEAST_CONNECTION = 4
    N2 = 5
    N3 = 6


class Mode(enum.IntEnum):
    """NAT mode (``serviceArguments.mode``)."""

    DNAT = 0
    ONEARM = 1
    FULLNAT = 2
    DSR = 3
    FULLPROXY = 4
    HOSTONEARM = 5


class Oper(enum.IntEnum):
    """How a re-POST treats the endpoint list (API-NOTES §2.6)."""

    ADD = 0
    ATTACH = 1
    DETACH = 2


PROTOCOLS = ("tcp", "udp", "sctp", "icmp")
RULE_PROBE_TYPES = ("tcp", "udp", "sctp", "ping", "none")
ENDPOINT_PROBE_TYPES = ("tcp", "udp", "sctp", "ping", "http", "https", "none")
MAX_ENDPOINTS = 32


@functools.lru_cache(maxsize=65536)
def canonical_ip(value: str) -> str:
    """The textual form LoxiLB would print for an address (so keys compare equal).

    Cached: translating and planning call it for every member, probe and rule key of every
    load balancer in a resync cycle, mostly with the same few thousand addresses, and
    parsing through ``ipaddress`` dominated a cycle's CPU time.
    """
    return str(ipaddress.ip_address(value))


RuleKey = tuple[str, str, int, int, int, str]
"""(externalIP, protocol, port, portMax, block, host): the identity of a rule (§0.5)."""


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A rule's backend; ``state`` and ``counter`` are output only."""

    ip: str
    port: int
    weight: int = 1
    state: str = "active"
    packets: int = 0
    bytes: int = 0

    @property
    def ident(self) -> tuple[str, int]:
        """LoxiLB matches endpoints on (IP, target port) across re-POSTs (§2.5)."""
        return (canonical_ip(self.ip), self.port)

    def to_wire(self) -> dict[str, Any]:
        return {"endpointIP": self.ip, "targetPort": self.port, "weight": self.weight}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Endpoint:
        counter = str(data.get("counter") or "0:0")
        packets, _, nbytes = counter.partition(":")
        return cls(
            ip=data["endpointIP"],
            port=int(data.get("targetPort", 0)),
            weight=int(data.get("weight", 0)),
            state=data.get("state") or "active",
            packets=int(packets or 0),
            bytes=int(nbytes or 0),
        )


@dataclasses.dataclass(frozen=True)
class ServiceArguments:
    """``serviceArguments`` of a rule; defaults are LoxiLB's own."""

    external_ip: str
    port: int
    protocol: str
    port_max: int = 0
    block: int = 0
    host: str = ""
    sel: Sel = Sel.RR
    mode: Mode = Mode.DNAT
    security: int = 0
    monitor: bool = False
    probetype: str = ""
    probeport: int = 0
    probereq: str = ""
    proberesp: str = ""
    probe_timeout: int = 0
    probe_retries: int = 0
    inactive_timeout: int = 0
    name: str = ""
    managed: bool = False
    bgp: bool = False
    proxyprotocolv2: bool = False
    egress: bool = False
    private_ip: str = ""
    oper: Oper = Oper.ADD

    @functools.cached_property
    def key(self) -> RuleKey:
        """Computed once per object: rules are compared by key many times per plan."""
        port_max = self.port_max if self.port_max and self.port_max != self.port else self.port
        return (
            canonical_ip(self.external_ip),
            self.protocol,
            self.port,
            port_max,
            self.block,
            self.host,
        )

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "externalIP": self.external_ip,
            "port": self.port,
            "protocol": self.protocol,
        }
        optional: dict[str, Any] = {
            "portMax": self.port_max,
            "block": self.block,
            "host": self.host,
            "sel": int(self.sel),
            "mode": int(self.mode),
            "security": self.security,
            "monitor": self.monitor,
            "probetype": self.probetype,
            "probeport": self.probeport,
            "probereq": self.probereq,
            "proberesp": self.proberesp,
            "probeTimeout": self.probe_timeout,
            "probeRetries": self.probe_retries,
            "inactiveTimeOut": self.inactive_timeout,
            "name": self.name,
            "managed": self.managed,
            "bgp": self.bgp,
            "proxyprotocolv2": self.proxyprotocolv2,
            "egress": self.egress,
            "privateIP": self.private_ip,
            "oper": int(self.oper),
        }
        body.update({k: v for k, v in optional.items() if v})
        return body

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ServiceArguments:
        return cls(
            external_ip=data["externalIP"],
            port=int(data.get("port", 0)),
            protocol=data.get("protocol", ""),
            port_max=int(data.get("portMax", 0)),
            block=int(data.get("block", 0)),
            host=data.get("host", ""),
            sel=Sel(int(data.get("sel", 0))),
            mode=Mode(int(data.get("mode", 0))),
            security=int(data.get("security", 0)),
            monitor=bool(data.get("monitor", False)),
            probetype=data.get("probetype", ""),
            probeport=int(data.get("probeport", 0)),
            probereq=data.get("probereq", ""),
            proberesp=data.get("proberesp", ""),
            probe_timeout=int(data.get("probeTimeout", 0)),
            probe_retries=int(data.get("probeRetries", 0)),
            inactive_timeout=int(data.get("inactiveTimeOut", 0)),
            name=data.get("name", ""),
            managed=bool(data.get("managed", False)),
            bgp=bool(data.get("bgp", False)),
            proxyprotocolv2=bool(data.get("proxyprotocolv2", False)),
            egress=bool(data.get("egress", False)),
            private_ip=data.get("privateIP", ""),
            oper=Oper(int(data.get("oper", 0))),
        )


@dataclasses.dataclass(frozen=True)
class LoadBalancerRule:
    """One LoxiLB rule: a ``LoadbalanceEntry``."""

    service: ServiceArguments
    endpoints: tuple[Endpoint, ...]
    allowed_sources: tuple[str, ...] = ()
    secondary_ips: tuple[str, ...] = ()

    @property
    def key(self) -> RuleKey:
        return self.service.key

    @property
    def name(self) -> str:
        return self.service.name

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "serviceArguments": self.service.to_wire(),
            "endpoints": [ep.to_wire() for ep in self.endpoints],
        }
        if self.allowed_sources:
            body["allowedSources"] = [{"prefix": p} for p in self.allowed_sources]
        if self.secondary_ips:
            body["secondaryIPs"] = [{"secondaryIP": ip} for ip in self.secondary_ips]
        return body

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> LoadBalancerRule:
        return cls(
            service=ServiceArguments.from_wire(data["serviceArguments"]),
            endpoints=tuple(Endpoint.from_wire(ep) for ep in data.get("endpoints") or ()),
            allowed_sources=tuple(p["prefix"] for p in data.get("allowedSources") or ()),
            secondary_ips=tuple(s["secondaryIP"] for s in data.get("secondaryIPs") or ()),
        )


@dataclasses.dataclass(frozen=True)
class EndpointProbe:
    """A probe-table host (``/config/endpoint``, API-NOTES §3)."""

    host: str
    probe_type: str
    name: str = ""
    probe_port: int = 0
    probe_req: str = ""
    probe_resp: str = ""
    probe_duration: int = 0
    inactive_retries: int = 1
    state: str = "ok"
    """``ok``, ``nok`` or ``red``; output only."""

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "hostName": self.host,
            "probeType": self.probe_type,
            "inactiveReTries": self.inactive_retries,
        }
        optional: dict[str, Any] = {
            "name": self.name,
            "probePort": self.probe_port,
            "probeReq": self.probe_req,
            "probeResp": self.probe_resp,
            "probeDuration": self.probe_duration,
        }
        body.update({k: v for k, v in optional.items() if v})
        return body

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> EndpointProbe:
        return cls(
            host=data.get("hostName", ""),
            probe_type=data.get("probeType", "none"),
            name=data.get("name", ""),
            probe_port=int(data.get("probePort", 0)),
            probe_req=data.get("probeReq", ""),
            probe_resp=data.get("probeResp", ""),
            probe_duration=int(data.get("probeDuration", 0)),
            inactive_retries=int(data.get("inactiveReTries", 0)),
            state=data.get("currState", "ok"),
        )


@dataclasses.dataclass(frozen=True)
class EndpointHostState:
    """Body of POST ``/config/endpointhoststate`` (API-NOTES §4)."""

    host: str
    state: str
    port: int | None = None
    protocol: str | None = None

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"hostName": self.host, "state": self.state}
        if self.port is not None and self.protocol is not None:
            body["epPort"] = self.port
            body["epProto"] = self.protocol
        return body


@dataclasses.dataclass(frozen=True)
class ClusterInstanceState:
    """An HA instance (``/config/cistate``, API-NOTES §5.1)."""

    instance: str
    state: str
    vip: str = "0.0.0.0"

    def to_wire(self) -> dict[str, Any]:
        return {"instance": self.instance, "state": self.state, "vip": self.vip}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ClusterInstanceState:
        return cls(
            instance=data.get("instance", ""),
            state=data.get("state", "NOT_DEFINED"),
            vip=data.get("vip") or "",
        )


@dataclasses.dataclass(frozen=True)
class BFDSession:
    """A BFD keep-alive session (``/config/bfd``, API-NOTES §5.2)."""

    instance: str
    remote_ip: str
    source_ip: str
    interval: int = 100000
    retry_count: int = 3
    port: int = 3784
    state: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "remoteIp": self.remote_ip,
            "sourceIp": self.source_ip,
            "interval": self.interval,
            "retryCount": self.retry_count,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> BFDSession:
        return cls(
            instance=data.get("instance", ""),
            remote_ip=data.get("remoteIp", ""),
            source_ip=data.get("sourceIP", data.get("sourceIp", "")),
            interval=int(data.get("interval", 0)),
            retry_count=int(data.get("retryCount", 0)),
            port=int(data.get("port", 3784)),
            state=data.get("state", ""),
        )


@dataclasses.dataclass(frozen=True)
class Port:
    """An interface as ``/config/port/all`` shows it (API-NOTES §6.1)."""

    name: str
    number: int
    mac: str
    mtu: int = 1500
    link: bool = True
    ipv4: str = ""
    """The first IPv4 address in ``"a.b.c.d/n"`` form, flags stripped; ``""`` when none."""

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Port:
        hw = data.get("portHardwareInformation") or {}
        l3 = data.get("portL3Information") or {}
        addrs = l3.get("IPv4Address") or [""]
        first = addrs[0].split(" ")[0] if addrs else ""
        return cls(
            name=data.get("portName", ""),
            number=int(data.get("portNo", 0)),
            mac=str(hw.get("macAddress", "")).lower(),
            mtu=int(hw.get("mtu", 0)),
            link=bool(hw.get("link", False)),
            ipv4=first,
        )


@dataclasses.dataclass(frozen=True)
class IPv4Address:
    """An address bound to a device (``/config/ipv4address``, API-NOTES §6.2)."""

    dev: str
    address: str
    """CIDR form, e.g. ``10.0.0.5/24``."""

    def to_wire(self) -> dict[str, Any]:
        return {"dev": self.dev, "ipAddress": self.address}


@dataclasses.dataclass(frozen=True)
class Route:
    """A static route (``/config/route``, API-NOTES §6.3)."""

    destination: str
    gateway: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "destinationIPNet": self.destination,
            "gateway": self.gateway,
            "protocol": "static",
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Route:
        """A ``routeAttr`` entry; ``gateway`` is ``""`` for LoxiLB's own interface routes and
        comma-separated for a multipath route."""
        return cls(destination=data.get("destinationIPNet", ""),
                   gateway=data.get("gateway") or "")


@dataclasses.dataclass(frozen=True)
class Version:
    """``GET /version``."""

    version: str
    build_info: str = ""

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Version:
        return cls(version=data.get("version", ""), build_info=data.get("buildInfo", ""))


@dataclasses.dataclass(frozen=True)
class ConntrackEntry:
    """One tracked flow from GET /config/conntrack/all (API-NOTES §8.4); output only."""

    ident: str
    serv_name: str
    protocol: str
    source_ip: str
    source_port: int
    destination_ip: str
    destination_port: int
    state: str = ""
    packets: int = 0
    bytes: int = 0

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> ConntrackEntry:
        return cls(
            ident=str(data.get("ident", "")),
            serv_name=str(data.get("servName") or "-"),
            protocol=str(data.get("protocol", "")),
            source_ip=str(data.get("sourceIP", "")),
            source_port=int(data.get("sourcePort") or 0),
            destination_ip=str(data.get("destinationIP", "")),
            destination_port=int(data.get("destinationPort") or 0),
            state=str(data.get("conntrackState", "")),
            packets=int(data.get("packets") or 0),
            bytes=int(data.get("bytes") or 0),
        )
