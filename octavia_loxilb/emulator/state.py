"""One emulated LoxiLB node's whole state: rules, probe table, HA, interfaces.

Every mutation runs on the emulator's event loop under :attr:`NodeState.lock`, which plays
the part of LoxiLB's global API mutex (API-NOTES §1.1), so a rule POST and the periodic
rule-health sync never interleave.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

from octavia_loxilb.emulator.cluster import SERVING_STATES, Cluster
from octavia_loxilb.emulator.model import Datapath, EmulatorConfig
from octavia_loxilb.emulator.network import Network
from octavia_loxilb.emulator.probes import ProbeTable
from octavia_loxilb.emulator.rules import RuleTable


class NodeState:
    """Composes the per-area tables and the cross-area rules (VIP plumbing, wipe)."""

    def __init__(self, config: EmulatorConfig, datapath: Datapath) -> None:
        self.config = config
        self.datapath = datapath
        self.probes = ProbeTable()
        self.rules = RuleTable(self.probes, datapath)
        self.cluster = Cluster()
        self.network = Network(config.ports)
        self.lock = asyncio.Lock()
        self.started_at = time.time()

    def vip_addresses(self) -> dict[str, list[str]]:
        """Addresses LoxiLB records for rule VIPs, by instance state (§5.3).

        NOT_DEFINED: a ``llb-rule-<VIP>`` pseudo-device; MASTER: a host address on ``lo``
        when the VIP lies in an interface subnet; other states: nothing.
        """
        table: dict[str, list[str]] = {}
        for rule in self.rules.rules.values():
            vip = ipaddress.ip_address(rule.external_ip)
            if vip.is_unspecified:
                continue
            host = f"{vip}/{vip.max_prefixlen}"
            state = self.cluster.state_of(rule.instance)
            if state == "NOT_DEFINED":
                table.setdefault(f"llb-rule-{vip}", [host])
            elif state == "MASTER" and self.network.subnet_device(str(vip)) is not None:
                lo = table.setdefault("lo", [])
                if host not in lo:
                    lo.append(host)
        return table

    def set_cluster_state(self, body: dict[str, Any]) -> None:
        """POST /config/cistate, then (un)bind the instance's VIPs in the data path."""
        changed = self.cluster.set_state(body)
        if changed is not None:
            self.datapath.set_serving(changed.name, changed.state in SERVING_STATES)

    async def sync_health(self) -> int:
        """One RulesSync pass (§2.10); returns the number of rules re-programmed."""
        return await self.rules.sync_health()

    async def wipe(self) -> None:
        """Forget everything, as LoxiLB does on SIGTERM and restart (§0.16, §10)."""
        known = list(self.cluster.instances)
        await self.rules.delete_all()
        self.probes.clear()
        self.cluster.reset()
        self.network.reset()
        for instance in known:
            self.datapath.set_serving(instance, True)
        self.started_at = time.time()
