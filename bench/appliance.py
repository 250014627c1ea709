"""Appliance mode on a real OpenStack control plane: where an LB create's time goes, and how
long an ACTIVE_STANDBY pair takes to carry traffic again after its MASTER dies.

Set-up: ``rig.openstack.cloud.OpenStackRig`` (Keystone, Placement, Glance, Neutron, Nova
with two compute hosts whose fake virt driver starts an emulated LoxiLB appliance per
server; its start time is the first row) and on it ``rig.stack.LocalStack`` (Octavia API +
driver-agent, one ``octavia-loxilb-worker``, RabbitMQ, Redis, MariaDB) configured by
``rig.openstack.octavia_link.sections`` with ``[loxilb] appliance_health_interval = 1``.
Load balancers are created as the rig's tenant through the Octavia v2 API, with a flavor
whose profile is ``{"deployment": "appliance", "topology": ...}`` and the VIP on the rig's
``vip`` subnet; traffic goes client → VIP → TCP backend on loopback.

1. **Create split.** ``SINGLE_CREATES`` load balancers with the SINGLE flavor, one at a
   time, each cascade-deleted (and its server gone) before the next, so every create builds
   a new appliance group; then ``PAIR_CREATES`` with the ACTIVE_STANDBY flavor (part 2).
   Each create is timed from the POST until GET shows ACTIVE (polled every 50 ms). The
   worker's split comes from the one line the appliance manager logs per built group
   (``octavia_loxilb/appliance/manager.py``), read from the worker's log after ACTIVE::

       Built appliance group <gid> for load balancer <lb> (boot a/b s, ready c/d s, flow t s)

   with one boot and one readiness figure per appliance. The appliances of a group come up
   side by side (boot, then readiness, then interfaces, each appliance on its own), so the
   group waits for the slowest: *Nova boot* and *readiness* are those of the appliance with
   the largest boot + readiness. Boot is POST /servers → server ACTIVE, readiness is ping,
   then the API over mutual TLS answering; *flow* is the whole group-build TaskFlow. *Driver
   overhead* is POST → ACTIVE minus boot minus readiness, split in two: *in the group
   flow* (flow minus boot minus readiness: the group's records, security and server
   groups, ports, certificates, interface and HA set-up) and *outside the flow* (POST →
   ACTIVE minus flow: Octavia's API with its VIP port, the cast, the worker's tree read,
   attaching the VIP, converging the rules, the status push through the driver-agent and
   the last GET poll). Each part is compared with the whole create as a ratio. The log
   carries each value to 10 ms. A log line is used because the worker is another process
   and keeps the split only in memory (``ApplianceManager.last_build``).

2. **Takeover.** Each ACTIVE_STANDBY load balancer gets a TCP listener and a pool with one
   member; once traffic through the VIP answers, the MASTER's emulator is SIGKILLed behind
   Nova's back (``OpenStackRig.kill_appliance``) and the VIP is polled (one request per
   50 ms, 0.5 s connect/read timeout) until the backend answers again: the worker's
   periodic appliance check (every 1 s) finds the MASTER dead and promotes the BACKUP.
   Then, polled every 0.2 s from the kill: *replacement answers* once the worker's records
   show a MASTER and a BACKUP, both ACTIVE, and both appliances' API ports accept
   connections (the dead server deleted, a new one booted on the same ports); *rebuild
   done* once the worker logs ``Appliance <id> of group <gid> rebuilt as BACKUP``
   (``octavia_loxilb/appliance/health.py``), i.e. the rebuild flow has also paired the
   new appliance with the MASTER by BFD. The load balancer is deleted only after that, so
   the delete never races the rebuild. The group's rules are replayed onto the new
   appliance right after; that is not part of either figure.
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.report import Figure, percentile

if TYPE_CHECKING:
    from rig.openstack.tenant_lbs import TenantLBs

SINGLE_CREATES = 3
PAIR_CREATES = 1
HEALTH_INTERVAL = 1.0
TRAFFIC_POLL = 0.05
TRAFFIC_TIMEOUT = 0.5

REBUILT = re.compile(r"Appliance \S+ of group (?P<group>\S+) rebuilt as BACKUP")
BUILT = re.compile(
    r"Built appliance group (?P<group>\S+) for load balancer (?P<lb>\S+) "
    r"\(boot (?P<boot>[\d./]+) s, ready (?P<ready>[\d./]+) s, flow (?P<flow>[\d.]+) s\)")


@dataclass(frozen=True)
class CreateSplit:
    """One appliance LB create: POST → ACTIVE and the worker's group build inside it."""

    total: float
    boot: float
    ready: float
    flow: float

    @property
    def driver(self) -> float:
        return self.total - self.boot - self.ready

    @property
    def in_flow(self) -> float:
        return self.flow - self.boot - self.ready

    @property
    def outside_flow(self) -> float:
        return self.total - self.flow


def build_split(worker_log: Path, lb_id: str, total: float) -> CreateSplit:
    """The create's split from the worker's "Built appliance group" line for ``lb_id``."""
    for match in BUILT.finditer(worker_log.read_text(errors="replace")):
        if match["lb"] == lb_id:
            boots = [float(v) for v in match["boot"].split("/")]
            readies = [float(v) for v in match["ready"].split("/")]
            boot, ready = max(zip(boots, readies, strict=True), key=sum)
            return CreateSplit(total=total, boot=boot, ready=ready, flow=float(match["flow"]))
    raise LookupError(f"no 'Built appliance group' line for {lb_id} in {worker_log}")


def _figure(name: str, unit: str, values: Sequence[float], **extra: Any) -> Figure:
    """Median always; p90 from 3 samples and p99 from 10 (fewer make them the maximum)."""
    return Figure(name=name, unit=unit, median=statistics.median(values),
                  p90=percentile(values, 90) if len(values) >= 3 else None,
                  p99=percentile(values, 99) if len(values) >= 10 else None,
                  samples=len(values), **extra)


def _split_figures(label: str, splits: Sequence[CreateSplit]) -> list[Figure]:
    whole = f"{label} create → ACTIVE"
    total = statistics.median(s.total for s in splits)
    parts = {
        "Nova boot (POST /servers → ACTIVE)": [s.boot for s in splits],
        "readiness (ping + mTLS API)": [s.ready for s in splits],
        "driver overhead (rest, incl. Octavia + driver-agent)": [s.driver for s in splits],
        "driver overhead in the group flow (records, ports, certs, HA)":
            [s.in_flow for s in splits],
        "driver overhead outside the flow (Octavia + VIP port, cast, attach, converge, "
        "status)": [s.outside_flow for s in splits],
    }
    out = [_figure(whole + " (Octavia POST → GET ACTIVE)", "s", [s.total for s in splits])]
    out += [_figure(f"{label} create: {part}", "s", values, compared_with=whole,
                    baseline_median=total) for part, values in parts.items()]
    return out


def _one_appliance_create(singles: Sequence[CreateSplit]) -> dict[str, Any]:
    """A rebuild boots and readies one appliance: compare it with a SINGLE create."""
    if not singles:
        return {}
    return {"compared_with": "SINGLE create → ACTIVE",
            "baseline_median": statistics.median(s.total for s in singles)}


def _create(lbs: TenantLBs, host: int, flavor: str, worker_log: Path) -> tuple[dict[str, Any],
                                                                          CreateSplit]:
    began = time.monotonic()
    lb = lbs.post_lb(host, flavor)
    lb = lbs.wait_lb(lb["id"])
    total = time.monotonic() - began
    return lb, build_split(worker_log, lb["id"], total)


def _delete(lbs: TenantLBs, lb_id: str, servers_before: int) -> float:
    """Cascade delete; seconds until Octavia has forgotten it and its servers are gone."""
    from rig.openstack.tenant_lbs import wait_for

    began = time.monotonic()
    lbs.delete_lb(lb_id)
    wait_for(lambda: lbs.servers() == servers_before, "the appliance servers deleted", 120)
    return time.monotonic() - began


def _rebuilt(worker_log: Path, group_id: str) -> bool:
    """Whether the worker has logged a finished rebuild in ``group_id``."""
    return any(m["group"] == group_id
               for m in REBUILT.finditer(worker_log.read_text(errors="replace")))


def _takeover(lbs: TenantLBs, lb: dict[str, Any], member_ip: str,
              worker_log: Path) -> tuple[float, float, float]:
    """Kill the MASTER; seconds until the VIP answers again, until the replacement
    answers, and until the worker's rebuild flow is done."""
    from rig.backends import TcpBackend
    from rig.openstack.tenant_lbs import served, wait_for

    with TcpBackend(member_ip, 9000, "b1").start():
        lbs.serve(lb, member_ip, 9000)
        vip = lb["vip_address"]
        wait_for(lambda: served(vip, "b1"), "traffic through the VIP", 60)
        roles = {a["role"]: s for s, a in lbs.appliances(lb["id"]).items()}
        group = lbs.group_of(lb["id"])
        if set(roles) != {"MASTER", "BACKUP"} or group is None:
            raise RuntimeError(f"expected a MASTER and a BACKUP, the worker has {roles}")
        if _rebuilt(worker_log, group):
            raise RuntimeError(f"group {group} was rebuilt before its MASTER was killed")
        killed = time.monotonic()
        lbs.rig.kill_appliance(roles["MASTER"])
        traffic = wait_for(lambda: served(vip, "b1", TRAFFIC_TIMEOUT),
                           "traffic through the standby", 60, TRAFFIC_POLL)
        wait_for(lambda: lbs.pair_in_service(lb["id"]), "the replacement answering", 180)
        answers = time.monotonic() - killed
        wait_for(lambda: _rebuilt(worker_log, group), "the worker's rebuild done", 120)
        done = time.monotonic() - killed
        wait_for(lambda: served(vip, "b1"), "traffic after the rebuild", 30)
    return traffic, answers, done


def run(single_creates: int = SINGLE_CREATES, pair_creates: int = PAIR_CREATES,
        ) -> list[Figure]:
    """Rig start, SINGLE and ACTIVE_STANDBY create splits, takeover and rebuild times."""
    from rig.openstack import octavia_link
    from rig.openstack.cloud import OpenStackRig
    from rig.openstack.tenant_lbs import TenantLBs
    from rig.stack import LocalStack

    workdir = Path(tempfile.mkdtemp(prefix="bench-appliance-"))
    rig = OpenStackRig(workdir / "openstack", third_octet=1 + os.getpid() % 250)
    began = time.monotonic()
    rig.start()
    rig_start = time.monotonic() - began
    try:
        stack = LocalStack(workdir / "stack", loxilb={"appliance_health_interval":
                                                     HEALTH_INTERVAL},
                           extra_config=octavia_link.sections(rig))
        began = time.monotonic()
        with stack:
            stack_start = time.monotonic() - began
            lbs = TenantLBs(rig, stack)
            try:
                return _measure(lbs, stack.workdir / "worker-0.log", rig_start, stack_start,
                                bool(rig.schemas_from_cache), single_creates, pair_creates)
            finally:
                lbs.close()
    finally:
        rig.stop()


def _measure(lbs: TenantLBs, worker_log: Path, rig_start: float, stack_start: float,
             cached: bool, single_creates: int, pair_creates: int) -> list[Figure]:
    single = lbs.flavor(deployment="appliance", topology="SINGLE")
    pair = lbs.flavor(deployment="appliance", topology="ACTIVE_STANDBY")
    servers = lbs.servers()
    singles: list[CreateSplit] = []
    pairs: list[CreateSplit] = []
    deletes: list[float] = []
    traffic: list[float] = []
    answers: list[float] = []
    rebuilt: list[float] = []
    for i in range(single_creates):
        lb, split = _create(lbs, 200 + i, single, worker_log)
        singles.append(split)
        deletes.append(_delete(lbs, lb["id"], servers))
    for i in range(pair_creates):
        lb, split = _create(lbs, 220 + i, pair, worker_log)
        pairs.append(split)
        back, replaced, whole = _takeover(lbs, lb, lbs.address(60 + i), worker_log)
        traffic.append(back)
        answers.append(replaced)
        rebuilt.append(whole)
        _delete(lbs, lb["id"], servers)

    schemas = "schemas from cache" if cached else "schemas migrated"
    figures = [
        Figure(name=f"OpenStack rig start (5 services, 2 computes; {schemas})", unit="s",
               median=rig_start),
        Figure(name="Octavia + worker start on the rig", unit="s", median=stack_start),
    ]
    if singles:
        figures += _split_figures("SINGLE", singles)
        figures.append(_figure("SINGLE cascade delete → LB gone, server deleted", "s",
                               deletes))
    if pairs:
        figures += _split_figures("ACTIVE_STANDBY", pairs)
        interval = f"appliance health interval {HEALTH_INTERVAL:g} s"
        figures += [
            _figure("ACTIVE_STANDBY takeover: MASTER killed → VIP answers", "s", traffic,
                    target=interval),
            _figure("ACTIVE_STANDBY rebuild: MASTER killed → replacement BACKUP answers",
                    "s", answers, **_one_appliance_create(singles)),
            _figure("ACTIVE_STANDBY rebuild: MASTER killed → worker's rebuild done (BFD-paired)",
                    "s", rebuilt, **_one_appliance_create(singles)),
        ]
    return figures
