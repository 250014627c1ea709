"""What the data path knows about one programmed rule while it forwards traffic.

The TCP and UDP proxies consult this object for every new flow (source filter, endpoint
choice) and report traffic to it; the data path swaps in the newest ``StoredRule`` on every
``program()`` so established flows see in-place updates without being rebuilt.
"""

from __future__ import annotations

import ipaddress
import logging

from octavia_loxilb.emulator import selection
from octavia_loxilb.emulator.conntrack import ConntrackTable, FlowRecord
from octavia_loxilb.emulator.model import StoredEndpoint, StoredRule

LOG = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_DNAT_MODES = (0, 3)
"""Default DNAT and DSR keep the client's address; the other modes source-NAT."""
_COUNTER_SLOTS = 16
"""Datapath counter ids use 4 bits of slot, so slots 16..31 alias slots 0..15."""


def _parse_prefixes(prefixes: list[str]) -> list[IPNetwork]:
    networks: list[IPNetwork] = []
    for prefix in prefixes:
        try:
            networks.append(ipaddress.ip_network(prefix, strict=False))
        except ValueError:
            LOG.warning("ignoring unparsable allowedSources prefix %r", prefix)
    return networks


class RuleRuntime:
    """Live forwarding state of one rule: its selector, flows and source filter."""

    def __init__(self, rule: StoredRule, wrr_slots: int, table: ConntrackTable) -> None:
        self.rule = rule
        self.selector = selection.RuleSelector(wrr_slots=wrr_slots)
        self.selector.reset_sessions(len(rule.endpoints))
        self.table = table
        self._prefix_source: tuple[str, ...] = ()
        self._networks: list[IPNetwork] = []

    # -- rule updates -------------------------------------------------------------------

    def update(self, rule: StoredRule) -> None:
        """Adopt the newest stored rule, then drop flows whose slot is no longer theirs.

        Mirrors an in-place LoxiLB update (API-NOTES §2.12): established flows to slots
        that are still active keep working, flows pinned to removed, health-down or
        replaced slots are cut at once, and least-connection counters start again.
        """
        self.rule = rule
        self.selector.reset_sessions(len(rule.endpoints))
        for record in self.table.for_rule(rule.key):
            if self.is_stale(record):
                LOG.debug("cutting flow %s to inactive slot %d", record.ident, record.ep_index)
                record.cut()

    def is_stale(self, record: FlowRecord) -> bool:
        """Whether the flow's slot was removed, went down or now holds another endpoint."""
        endpoints = self.rule.endpoints
        if record.ep_index >= len(endpoints):
            return True
        ep = endpoints[record.ep_index]
        return not ep.usable or not self._holds(ep, record)

    def _holds(self, ep: StoredEndpoint, record: FlowRecord) -> bool:
        """Whether the slot still holds the endpoint the flow was sent to."""
        return (ep.ip, self.target_port(ep, record.dst_port)) == (record.ep_ip, record.ep_port)

    def cut_all(self) -> None:
        """Tear down every flow of the rule (rule deleted)."""
        for record in self.table.for_rule(self.rule.key):
            record.cut()

    # -- new flows ----------------------------------------------------------------------

    def admits(self, src_ip: str) -> bool:
        """Whether ``allowedSources`` lets this client reach the VIP (empty: everyone)."""
        if not self.rule.allowed_sources:
            return True
        current = tuple(self.rule.allowed_sources)
        if current != self._prefix_source:
            self._prefix_source = current
            self._networks = _parse_prefixes(self.rule.allowed_sources)
        try:
            address = ipaddress.ip_address(src_ip.split("%", 1)[0])
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def choose(self, flow: selection.Flow) -> int | None:
        """The endpoint index the rule's ``sel`` picks for a new flow, or ``None``."""
        return self.selector.pick(self.rule.sel, self.rule.endpoints, flow)

    def target_port(self, ep: StoredEndpoint, listen_port: int) -> int:
        """Where to send the flow: the endpoint's port, or the VIP port when it is 0."""
        return ep.port or listen_port

    def source_address(self, client_ip: str, ep_ip: str) -> str | None:
        """Local address for the upstream socket: the client's own in DNAT modes.

        On loopback any 127.x address is local, so binding to the client's address lets
        the backend see the real client as it would behind LoxiLB's DNAT. Source-NAT modes
        (and address-family changes) leave the choice to the kernel.
        """
        if self.rule.mode not in _DNAT_MODES:
            return None
        try:
            same_family = (
                ipaddress.ip_address(client_ip).version == ipaddress.ip_address(ep_ip).version
            )
        except ValueError:
            return None
        return client_ip if same_family else None

    def open_flow(
        self, flow: selection.Flow, index: int, listen_port: int, snat_ip: str
    ) -> FlowRecord:
        """Register a new flow on slot ``index`` in conntrack and the session counters."""
        ep = self.rule.endpoints[index]
        record = FlowRecord(
            ident=self.table.next_ident(),
            rule_key=self.rule.key,
            serv_name=self.rule.name,
            protocol=flow.protocol,
            src_ip=flow.src_ip,
            src_port=flow.src_port,
            dst_ip=flow.dst_ip,
            dst_port=flow.dst_port,
            ep_index=index,
            ep_ip=ep.ip,
            ep_port=self.target_port(ep, listen_port),
            ep_weight=ep.weight,
            fullnat=self.rule.mode not in _DNAT_MODES,
            snat_ip=snat_ip,
        )
        record.lc_generation = self.selector.opened(index)
        self.table.add(record)
        return record

    def close_flow(self, record: FlowRecord) -> None:
        """Forget a finished flow (idempotent)."""
        if record in self.table:
            self.table.discard(record)
            self.selector.closed(record.ep_index, record.lc_generation)

    def account(self, record: FlowRecord, nbytes: int) -> None:
        """Count one read/datagram on the flow and on the endpoint counters GET shows.

        Counters go to the slot only while it still holds the flow's endpoint. Outside
        ``sel`` 2 a counter id covers slot mod 16, so endpoints 16 slots apart share it
        (API-NOTES §2.11); with ``sel`` 2 the expanded slots sum back to their endpoint.
        """
        record.touch(nbytes)
        endpoints = self.rule.endpoints
        if record.ep_index >= len(endpoints):
            return
        if not self._holds(endpoints[record.ep_index], record):
            return
        if self.rule.sel == selection.SEL_PRIO:
            sharing = [endpoints[record.ep_index]]
        else:
            slot = record.ep_index % _COUNTER_SLOTS
            sharing = [e for i, e in enumerate(endpoints) if i % _COUNTER_SLOTS == slot]
        for shared in sharing:
            shared.packets += 1
            shared.bytes += nbytes
