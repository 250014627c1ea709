"""What the emulator's control plane stores, shared with its data path and prober.

The control plane (``state.py``) owns these objects and mutates them only on its event
loop; the data path (``datapath.py``) and the prober (``prober.py``) read them on the same
loop. Keeping the stored shapes here, apart from both, lets each side be read alone.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

RuleKey = tuple[str, str, int, int, int, str]
"""(externalIP canonical, protocol, port, portMax-or-port, block, host): API-NOTES §0.5."""


@dataclasses.dataclass
class StoredEndpoint:
    """One slot of a rule's endpoint list, hidden ones included (API-NOTES §2.5)."""

    ip: str
    port: int
    weight: int
    removed: bool = False
    """Removed by an oper-0 re-POST: kept, hidden from GET, receives no traffic."""
    service_down: bool = False
    """Set by the health sync on monitored rules: GET shows ``inactive``."""
    packets: int = 0
    bytes: int = 0

    @property
    def usable(self) -> bool:
        """Whether the data path may send new flows to this slot."""
        return not self.removed and not self.service_down


@dataclasses.dataclass
class StoredRule:
    """A load-balancer rule as LoxiLB keeps it after defaults are applied."""

    key: RuleKey
    external_ip: str
    protocol: str
    port: int
    port_max: int
    block: int
    host: str
    name: str
    sel: int
    mode: int
    security: int
    monitor: bool
    probetype: str
    probeport: int
    probereq: str
    proberesp: str
    probe_timeout: int
    probe_retries: int
    inactive_timeout: int
    managed: bool
    bgp: bool
    egress: bool
    proxyprotocolv2: bool
    private_ip: str
    allowed_sources: list[str]
    secondary_ips: list[str]
    endpoints: list[StoredEndpoint]
    rule_num: int
    instance: str = "llb-inst0"

    def probe_key(self, ep: StoredEndpoint) -> str:
        """The probe-host key LoxiLB derives for an endpoint (API-NOTES §2.4)."""
        proto = "ping" if self.protocol == "icmp" else self.protocol
        port = 0 if self.protocol == "icmp" else ep.port
        return f"{ep.ip}_{proto}_{port}"


@dataclasses.dataclass
class ProbeHost:
    """An entry of the probe table (API-NOTES §3): shared by key across rules."""

    key: str
    host: str
    probe_type: str
    probe_port: int
    probe_req: str = ""
    probe_resp: str = ""
    probe_duration: int = 60
    inactive_retries: int = 2
    refcount: int = 0
    enabled: bool = True
    """Probing switched on (otherwise shown as ``none`` and always ok)."""
    red: bool = False
    ok: bool = True
    """Result of the prober; starts ok, as LoxiLB's hosts do."""
    ever_probed: bool = False
    fail_count: int = 0
    last_probe: float = 0.0
    min_delay: float | None = None
    avg_delay: float | None = None
    max_delay: float | None = None

    @property
    def active(self) -> bool:
        """Whether rules reading this host treat its endpoint as up."""
        return self.ok and not self.red


class Datapath(Protocol):
    """Forwards real traffic for the rules the control plane programs."""

    async def program(self, rule: StoredRule) -> None:
        """Create or refresh the listeners for ``rule`` (idempotent, called after every change)."""

    async def remove(self, rule: StoredRule) -> None:
        """Stop serving ``rule`` and drop its connections."""

    def set_serving(self, instance: str, serving: bool) -> None:
        """Bind (MASTER or NOT_DEFINED) or unbind (BACKUP/FAULT/STOP) an HA instance's VIPs."""

    def conntrack(self) -> list[dict[str, object]]:
        """Open flows in the shape of GET /config/conntrack/all entries."""

    async def close(self) -> None:
        """Release every socket."""


class Prober(Protocol):
    """Probes the hosts of the probe table and updates their ``ok`` flag."""

    def start(self) -> None:
        """Begin the periodic sweeps on the running loop."""

    async def sweep(self, force: bool = False) -> None:
        """Probe every host that is due (all of them with ``force``) and wait for the results."""

    async def close(self) -> None:
        """Stop sweeping."""


@dataclasses.dataclass
class PortSpec:
    """An interface the emulated node reports in ``/config/port/all`` (API-NOTES §6.1)."""

    name: str
    mac: str
    addresses: list[str] = dataclasses.field(default_factory=list)
    """CIDR addresses, the first one is the primary shown in the port's L3 information."""
    mtu: int = 1500


@dataclasses.dataclass
class EmulatorConfig:
    """How one emulated LoxiLB node behaves; the CLI flags map onto these fields.

    Timings default to LoxiLB's own (API-NOTES §2.10); tests shrink them.
    """

    host: str = "127.0.0.1"
    port: int = 11111
    version: str = "0.9.8.8"
    legacy_errors: bool = False
    """Answer LoxiLB errors as ``200 {"result": ...}`` like v0.9.8.4 and earlier."""
    manual_token: str | None = None
    """Accept only this token (``--manualtoken``); invalid gives 500 ``invalid token``."""
    users: dict[str, str] | None = None
    """Enable ``/auth/login`` (``--userservice``) with these username/password pairs."""
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    """Require client certificates signed by this CA (the appliance's TLS terminator)."""
    probe_tick: float = 2.0
    """Seconds between prober sweeps."""
    rule_sync_interval: float = 10.0
    """Seconds between the rule-health syncs that flip endpoint ``state``."""
    wrr_slots: int = 16
    """Weighted round-robin expansion slots: 16 from v0.9.8.7, 32 before."""
    datapath: bool = True
    """Bind real sockets for VIPs; off for pure API tests."""
    ports: list[PortSpec] | None = None
    """Interfaces the node reports; ``None`` means ``lo`` and one ``eth0``."""
    ports_file: str | None = None
    """JSON file the CLI re-reads on SIGHUP to hot-plug interfaces (``--ports-file``)."""
