"""The emulator's connection-tracking table: one record per proxied flow.

LoxiLB exposes its conntrack map through GET /config/conntrack/all (API-NOTES §8.4); it is
the only per-listener view of open connections. The data path adds a record when it opens
a flow to an endpoint and removes it when the flow ends or is cut, so this table always
mirrors the sockets that are really open.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator

from octavia_loxilb.emulator.model import RuleKey


def _never_cut() -> None:
    """Placeholder until the flow's owner installs its real cut function."""


@dataclasses.dataclass(eq=False)
class FlowRecord:
    """One tracked flow: client side, chosen endpoint slot, NAT action and traffic counts.

    ``packets`` counts reads/datagrams and ``bytes`` their payload, in both directions.
    """

    ident: int
    rule_key: RuleKey
    serv_name: str
    protocol: str
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    ep_index: int
    ep_ip: str
    ep_port: int
    ep_weight: int
    fullnat: bool
    """Fullnat-like modes show ``fdnat-<source-nat IP>,<endpoint>``; DNAT shows ``dnat-``."""
    snat_ip: str = ""
    packets: int = 0
    bytes: int = 0
    lc_generation: int = 0
    last_activity: float = dataclasses.field(default_factory=time.monotonic)
    cut: Callable[[], None] = _never_cut
    """Tears the flow down at once (both sockets aborted), used when its slot goes away."""

    def touch(self, nbytes: int) -> None:
        """Account one read or datagram of ``nbytes`` and mark the flow as active now."""
        self.packets += 1
        self.bytes += nbytes
        self.last_activity = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last traffic in either direction."""
        return time.monotonic() - self.last_activity

    def action(self) -> str:
        """The ``conntrackAct`` text LoxiLB shows for this flow's NAT."""
        target = f"{self.ep_ip}:{self.ep_port}:w{self.ep_weight}"
        if self.fullnat:
            return f"fdnat-{self.snat_ip},{target}"
        return f"dnat-{target}"

    def as_entry(self) -> dict[str, object]:
        """The GET /config/conntrack/all entry for this flow."""
        return {
            "destinationIP": self.dst_ip,
            "destinationPort": self.dst_port,
            "sourceIP": self.src_ip,
            "sourcePort": self.src_port,
            "protocol": self.protocol,
            "conntrackState": "udp-est" if self.protocol == "udp" else "est",
            "conntrackAct": self.action(),
            "ident": str(self.ident),
            "packets": self.packets,
            "bytes": self.bytes,
            "servName": self.serv_name or "-",
        }


class ConntrackTable:
    """All open flows of one emulated node, across rules."""

    def __init__(self) -> None:
        self._records: set[FlowRecord] = set()
        self._idents = itertools.count(1)

    def next_ident(self) -> int:
        """A fresh flow identifier, unique for the life of the node."""
        return next(self._idents)

    def add(self, record: FlowRecord) -> None:
        self._records.add(record)

    def discard(self, record: FlowRecord) -> None:
        self._records.discard(record)

    def for_rule(self, key: RuleKey) -> list[FlowRecord]:
        """The flows of one rule (a snapshot, safe to iterate while cutting them)."""
        return [r for r in self._records if r.rule_key == key]

    def __iter__(self) -> Iterator[FlowRecord]:
        return iter(list(self._records))

    def __contains__(self, record: object) -> bool:
        return record in self._records

    def __len__(self) -> int:
        return len(self._records)

    def entries(self) -> list[dict[str, object]]:
        """Every open flow in the shape of GET /config/conntrack/all ``ctAttr`` items."""
        return [record.as_entry() for record in self._records]
