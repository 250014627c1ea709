"""Leader-only listener statistics: absolute counters from LoxiLB, pushed to Octavia.

Every ``[loxilb] stats_interval`` seconds the leader reads each LoxiLB node of every placed
load balancer once (``GET /config/loadbalancer/all`` and ``GET /config/conntrack/all``) and
pushes one ``update_listener_statistics`` document for every listener with a rule:

* ``bytes_in``: the listener's bytes as LoxiLB counts them, the sum of its rules' per-endpoint
  ``counter`` bytes (API-NOTES §2.11). LoxiLB keeps one byte count per endpoint and does not
  document its direction; the emulator counts **both directions**. We report that single
  count as ``bytes_in`` and ``bytes_out`` as 0 rather than invent a split (conntrack gives no
  per-direction numbers either, §8.4).
* ``active_connections``: conntrack entries whose ``servName`` is the listener's rule name.
* ``total_connections``: distinct flows seen in conntrack, accumulated. Flows that open and
  close between two polls are not seen, so it is a lower bound; flows open when a leader
  takes over are assumed counted by its predecessor.
* ``request_errors``: 0 (LoxiLB has no such counter).

Absolute values never go back: per listener and node the raw counter last seen per endpoint
is kept in the driver DB (``loxilb_listener_stats``); a counter that drops (LoxiLB restarted,
or the endpoint left its slot) or vanishes adds its last value to the stored base. The same
state makes a worker or leader restart continue from the persisted totals. Nodes that do not
answer keep their stored contribution. Tolerance: traffic between the last poll before a
counter reset and the reset itself is lost (at most one interval's worth per endpoint).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from octavia_loxilb.db import api as db_api
from octavia_loxilb.db.session import session_scope
from octavia_loxilb.loxilb import models
from octavia_loxilb.reconcile import naming
from octavia_loxilb.reconcile.desired import TranslateSettings
from octavia_loxilb.worker.periodic import TaskContext

LOG = logging.getLogger(__name__)

FlowId = tuple[str, str, int, str, int, str]


class CountersReader(Protocol):
    @property
    def node(self) -> str: ...
    def list_rules(self) -> list[models.LoadBalancerRule]: ...
    def list_conntrack(self) -> list[models.ConntrackEntry]: ...


def advance(prev: db_api.ListenerNodeCounters, raw: Mapping[str, int],
            new_flows: int) -> db_api.ListenerNodeCounters:
    """The next counter state of one listener on one node, given its raw counters now.

    A raw endpoint counter below its last value, or gone, was reset: its last value joins the
    base. ``absolute(next) >= absolute(prev)`` always holds.
    """
    base = prev.base_bytes
    for endpoint, last in prev.last_raw.items():
        now = raw.get(endpoint)
        if now is None or now < last:
            base += last
    return dataclasses.replace(prev, base_bytes=base, last_raw=dict(raw),
                               total_connections=prev.total_connections + new_flows)


def absolute_bytes(counters: db_api.ListenerNodeCounters) -> int:
    return counters.base_bytes + sum(counters.last_raw.values())


@dataclasses.dataclass(frozen=True)
class NodeCounters:
    """One node's raw view: per listener, endpoint byte counters and open flows."""

    raw: Mapping[str, Mapping[str, int]]
    flows: Mapping[str, frozenset[FlowId]]

    @classmethod
    def read(cls, node: CountersReader, prefix: str) -> NodeCounters:
        raw: dict[str, dict[str, int]] = {}
        for rule in node.list_rules():
            listener_id = naming.listener_id_of(prefix, rule.name)
            if listener_id is None:
                continue
            counters = raw.setdefault(listener_id, {})
            vip = models.canonical_ip(rule.service.external_ip)
            for ep in rule.endpoints:
                key = f"{vip}|{ep.ip}:{ep.port}"
                counters[key] = counters.get(key, 0) + ep.bytes
        flows: dict[str, set[FlowId]] = {}
        for entry in node.list_conntrack():
            listener_id = naming.listener_id_of(prefix, entry.serv_name)
            if listener_id is None:
                continue
            flows.setdefault(listener_id, set()).add(
                (entry.ident, entry.source_ip, entry.source_port, entry.destination_ip,
                 entry.destination_port, entry.protocol))
        return cls(raw=raw, flows={k: frozenset(v) for k, v in flows.items()})


class StatsPoller:
    """One poll per call; the set of flows already counted lives for one leadership term."""

    def __init__(self, context: TaskContext) -> None:
        self.context = context
        self.conf = context.conf
        self.prefix = TranslateSettings.from_conf(self.conf).name_prefix
        self._seen: dict[tuple[str, str], frozenset[FlowId]] = {}
        self._term_started = False

    def __call__(self) -> None:
        self.poll()

    def poll(self) -> list[dict[str, Any]]:
        """Run one cycle; returns the statistics pushed."""
        with session_scope(self.context.engine) as session:
            placements = db_api.list_placements(session)
            stored = {(c.listener_id, c.node_url): c
                      for c in db_api.list_listener_counters(session)}
        views = self._read_nodes(placements)
        updated: list[db_api.ListenerNodeCounters] = []
        active: dict[str, int] = {}
        live: set[str] = set()
        for node_url, view in views.items():
            if view is None:
                continue
            listeners = set(view.raw) | {lid for lid, url in stored if url == node_url}
            for listener_id in listeners:
                prev = stored.get((listener_id, node_url)) or db_api.ListenerNodeCounters(
                    listener_id, node_url)
                flows = view.flows.get(listener_id, frozenset())
                seen = self._seen.get((listener_id, node_url), frozenset())
                new_flows = len(flows - seen) if self._term_started else 0
                self._seen[(listener_id, node_url)] = flows
                nxt = advance(prev, view.raw.get(listener_id, {}), new_flows)
                if nxt != prev:
                    updated.append(nxt)
                stored[(listener_id, node_url)] = nxt
                if listener_id in view.raw:
                    live.add(listener_id)
                    active[listener_id] = active.get(listener_id, 0) + len(flows)
        self._term_started = True
        if updated:
            with session_scope(self.context.engine) as session:
                for counters in updated:
                    db_api.save_listener_counters(session, counters)
        document = self._document(stored.values(), live, active)
        if document and self.context.library is not None:
            try:
                self.context.library().update_listener_statistics({"listeners": document})
            except Exception as exc:  # the next cycle pushes newer absolute values
                LOG.warning("Listener statistics push failed: %s", exc)
        return document

    def _read_nodes(self, placements: Iterable[db_api.Placement]
                    ) -> dict[str, NodeCounters | None]:
        views: dict[str, NodeCounters | None] = {}
        for placement in placements:
            group = placement.group
            if all(node.api_url in views for node in group.nodes):
                continue
            try:
                clients: Sequence[Any] = self.context.placer.nodes(group)
            except Exception as exc:
                LOG.warning("Statistics cannot reach group %s: %s", group.name, exc)
                continue
            for client in clients:
                if client.node in views:
                    continue
                try:
                    views[client.node] = NodeCounters.read(client, self.prefix)
                except Exception as exc:  # keep the node's stored contribution
                    LOG.warning("Statistics could not read LoxiLB %s: %s", client.node, exc)
                    views[client.node] = None
        return views

    @staticmethod
    def _document(counters: Iterable[db_api.ListenerNodeCounters], live: set[str],
                  active: Mapping[str, int]) -> list[dict[str, Any]]:
        totals: dict[str, list[int]] = {}
        for c in counters:
            if c.listener_id in live:
                entry = totals.setdefault(c.listener_id, [0, 0])
                entry[0] += absolute_bytes(c)
                entry[1] += c.total_connections
        return [
            {"id": lid, "bytes_in": nbytes, "bytes_out": 0,
             "active_connections": active.get(lid, 0), "total_connections": conns,
             "request_errors": 0}
            for lid, (nbytes, conns) in sorted(totals.items())
        ]


def make_poller(context: TaskContext) -> StatsPoller:
    """Factory for ``PeriodicRunner.register("stats", "stats_interval", make_poller)``."""
    return StatsPoller(context)
