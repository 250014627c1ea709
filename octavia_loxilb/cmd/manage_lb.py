"""``octavia-loxilb-manage lb status|diff|resync|unstick|topology``: look at and repair load
balancers.

Runs on a host with the worker's configuration (the driver-agent's sockets, the driver's
database, the coordination back end and the LoxiLB nodes), and uses exactly the worker's
parts: ``Resyncer`` for diff and resync, ``JobRunner`` for unstick, each under the per-LB
lock, so it never races a worker. ``topology`` only records the operator's choice; the move
itself runs in a worker on the load balancer's next failover (or any change to it), so
Octavia sees it PENDING_UPDATE and then ACTIVE like every other job.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterator
from typing import Any, TextIO

from octavia_loxilb.appliance.store import ApplianceStore
from octavia_loxilb.db.session import get_engine
from octavia_loxilb.loxilb.models import LoadBalancerRule
from octavia_loxilb.reconcile.desired import TranslateSettings
from octavia_loxilb.reconcile.translate import translate
from octavia_loxilb.worker import octavia_reader, resync, sweeper
from octavia_loxilb.worker.journal import JobJournal
from octavia_loxilb.worker.locking import LoadBalancerLocks
from octavia_loxilb.worker.placement import Placer
from octavia_loxilb.worker.runner import JobRunner

TOPOLOGIES = ("SINGLE", "ACTIVE_STANDBY")
FLAVOR_TOPOLOGY = "flavor"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    lb = subparsers.add_parser("lb", help="inspect and repair load balancers on LoxiLB")
    actions = lb.add_subparsers(dest="action")
    actions.required = True
    status = actions.add_parser(
        "status", help="a load balancer's Octavia tree beside what each LoxiLB node holds")
    status.add_argument("loadbalancer_id")
    for name, text in (("diff", "what a resync would change (dry run)"),
                       ("resync", "converge load balancers to Octavia's intent now")):
        action = actions.add_parser(name, help=text)
        action.add_argument("loadbalancer_id", nargs="?")
        action.add_argument("--all", action="store_true", dest="all_lbs",
                            help="every placed load balancer")
    unstick = actions.add_parser(
        "unstick", help="finish a load balancer's unfinished jobs, converge it and report "
        "every object's status (for objects left PENDING)")
    unstick.add_argument("loadbalancer_id")
    unstick.add_argument("--force", action="store_true",
                         help="also take over a job whose worker still heart-beats")
    topology = actions.add_parser(
        "topology", help="run a driver-managed appliance load balancer in another topology "
        "than its flavor's; 'openstack loadbalancer failover' then moves it")
    topology.add_argument("loadbalancer_id")
    topology.add_argument("topology", choices=[*TOPOLOGIES, FLAVOR_TOPOLOGY],
                          help=f"'{FLAVOR_TOPOLOGY}' goes back to the flavor's topology")


class _Parts:
    """The worker's components, built for one command and closed after it."""

    def __init__(self, conf: Any) -> None:
        self.conf = conf
        self.engine = get_engine(conf)
        self.placer = Placer(self.engine, conf)
        self.locks = LoadBalancerLocks(
            conf.loxilb.coordination_url, f"manage-{uuid.uuid4().hex[:8]}",
            timeout=conf.loxilb.lock_timeout,
            heartbeat_interval=conf.loxilb.coordination_heartbeat_interval)
        self.journal = JobJournal(self.engine, self.locks.member_id)
        self.library = octavia_reader.driver_library(conf)

    def __enter__(self) -> _Parts:
        self.locks.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.locks.stop()
        self.placer.close()

    def resyncer(self) -> resync.Resyncer:
        return resync.Resyncer(self.conf, engine=self.engine, placer=self.placer,
                               locks=self.locks, library=lambda: self.library,
                               busy=self.journal.running_loadbalancers)


def run(conf: Any, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = conf.category
    action = args.action
    if action in ("diff", "resync") and bool(args.loadbalancer_id) == bool(args.all_lbs):
        print(f"lb {action}: give a load balancer id or --all", file=sys.stderr)
        return 2
    with _Parts(conf) as parts:
        if action == "status":
            return _status(parts, args.loadbalancer_id, out)
        if action == "unstick":
            return _unstick(parts, args.loadbalancer_id, args.force, out)
        if action == "topology":
            return _topology(parts, args.loadbalancer_id, args.topology, out)
        return _resync(parts, args.loadbalancer_id, dry_run=action == "diff", out=out)


def _resync(parts: _Parts, lb_id: str | None, *, dry_run: bool, out: TextIO) -> int:
    only = [lb_id] if lb_id else None
    if lb_id and parts.placer.placed_group(lb_id) is None:
        print(f"load balancer {lb_id} is not placed on any LoxiLB group", file=out)
        return 1
    counter = {"done": 0}

    def progress(lb: resync.LoadBalancerSync) -> None:
        counter["done"] += 1
        if dry_run:
            return
        detail = f" ({lb.error})" if lb.error else ""
        print(f"[{counter['done']}] {lb.loadbalancer_id}: {lb.state}{detail}", file=out,
              flush=True)

    reports = parts.resyncer().run(loadbalancer_ids=only, dry_run=dry_run, progress=progress)
    failed = 0
    for report in reports:
        for node, error in sorted(report.node_errors.items()):
            print(f"node {node}: {error}", file=out)
        for lb in sorted(report.loadbalancers, key=lambda x: x.loadbalancer_id):
            failed += lb.state in (resync.FAILED, resync.UNREADABLE)
            if dry_run:
                print(f"{lb.loadbalancer_id}: {lb.state}"
                      + (f" ({lb.error})" if lb.error else ""), file=out)
                for step in lb.steps:
                    print(f"  {step}", file=out)
        if report.orphans:
            verb = "would delete" if dry_run else "deleted"
            print(f"orphan rules on group {report.group} ({verb}):", file=out)
            for orphan in report.orphans:
                print(f"  {orphan}", file=out)
        if not dry_run:
            print(f"group {report.group}: {len(report.loadbalancers)} load balancers, "
                  f"{report.count(resync.REPAIRED)} repaired, "
                  f"{report.count(resync.IN_SYNC)} in sync, {report.count(resync.BUSY)} busy, "
                  f"{report.count(resync.FAILED)} failed, {len(report.orphans)} orphan rules "
                  f"in {report.seconds:.2f}s", file=out)
    return 1 if failed else 0


def _unstick(parts: _Parts, lb_id: str, force: bool, out: TextIO) -> int:
    runner = JobRunner(parts.conf, locks=parts.locks, placer=parts.placer,
                       library=lambda: parts.library)
    for line in sweeper.unstick(lb_id, journal=parts.journal, runner=runner,
                                library=parts.library, force=force):
        print(line, file=out)
    return 0


def _topology(parts: _Parts, lb_id: str, topology: str, out: TextIO) -> int:
    group = parts.placer.placed_group(lb_id)
    if group is None or group.kind != "appliance":
        print(f"load balancer {lb_id} is not on driver-managed appliances; its topology is "
              "the LoxiLB cluster's", file=out)
        return 1
    chosen = None if topology == FLAVOR_TOPOLOGY else topology
    ApplianceStore(parts.engine).set_topology_override(lb_id, chosen)
    wanted = chosen or "its flavor's"
    if chosen == group.topology:
        print(f"load balancer {lb_id} already runs {group.topology} on group {group.name}",
              file=out)
    else:
        print(f"load balancer {lb_id}: {wanted} topology recorded (now {group.topology} on "
              f"group {group.name}); run 'openstack loadbalancer failover {lb_id}' to move "
              "it now, or it moves on its next change", file=out)
    return 0


def _endpoints(rule: LoadBalancerRule, states: bool) -> str:
    return ", ".join(f"{e.ip}:{e.port}/{e.weight}" + (f" {e.state}" if states else "")
                     for e in sorted(rule.endpoints, key=lambda e: e.ident)) or "-"


def _table(rows: list[list[str]]) -> Iterator[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths,
                                                                    strict=True)).rstrip()


def _status(parts: _Parts, lb_id: str, out: TextIO) -> int:
    lb = parts.library.get_loadbalancer(lb_id)
    group = parts.placer.placed_group(lb_id)
    if lb is None:
        print(f"load balancer {lb_id}: not known to Octavia", file=out)
    if group is None:
        print(f"load balancer {lb_id}: not placed on any LoxiLB group", file=out)
    if lb is None or group is None:
        return 1
    tree = lb.to_dict(recurse=True, render_unsets=True)
    desired = translate(tree, settings=TranslateSettings.from_conf(parts.conf))
    print(f"load balancer {lb_id} ({tree.get('name') or '-'})  VIPs {', '.join(desired.vips)}"
          f"  group {group.name} ({group.kind}, {group.topology})", file=out)
    print("\nOctavia:", file=out)
    rows = [["LISTENER", "PROTO:PORT", "POOL", "ALGORITHM", "MEMBERS"]]
    for listener in tree.get("listeners") or []:
        pool = listener.get("default_pool") or {}
        members = ", ".join(
            f"{m['address']}:{m['protocol_port']}/{m.get('weight')}"
            + ("" if m.get("admin_state_up") is not False else " down")
            for m in pool.get("members") or []) or "-"
        rows.append([listener["listener_id"],
                     f"{listener['protocol']}:{listener['protocol_port']}"
                     + ("" if listener.get("admin_state_up") is not False else " down"),
                     pool.get("pool_id") or "-", pool.get("lb_algorithm") or "-", members])
    for line in _table(rows):
        print(f"  {line}", file=out)
    for listener_id, why in sorted({**desired.idle_listeners,
                                    **desired.listener_errors}.items()):
        print(f"  listener {listener_id}: no rule ({why})", file=out)

    drift = 0
    for api in parts.placer.nodes(group):
        print(f"\nLoxiLB node {api.node}:", file=out)
        try:
            held = [r for r in api.list_rules() if desired.scope.contains(r)
                    or r.key in {d.key for d in desired.rules}]
            probes = {p.name: p for p in api.list_endpoint_probes()}
        except Exception as exc:
            print(f"  unreachable: {exc}", file=out)
            drift += 1
            continue
        by_key = {r.key: r for r in held}
        rows = [["RULE", "KEY", "WANT", "HAVE"]]
        for wanted in desired.rules:
            have = by_key.pop(wanted.key, None)
            rows.append([wanted.rule.name, "/".join(map(str, wanted.key[:3])),
                         _endpoints(wanted.rule, False),
                         _endpoints(have, True) if have else "MISSING"])
            drift += have is None or _endpoints(have, False) != _endpoints(wanted.rule, False)
        for extra in by_key.values():
            rows.append([extra.name, "/".join(map(str, extra.key[:3])), "(not wanted)",
                         _endpoints(extra, True)])
            drift += 1
        for line in _table(rows):
            print(f"  {line}", file=out)
        wanted_probes = {k: p for k, p in desired.probes.items() if p.probe_type != "none"}
        for key, probe in sorted(wanted_probes.items()):
            have_probe = probes.get(key)
            seen = (f"{have_probe.probe_type} every {have_probe.probe_duration}s "
                    f"({have_probe.state})") if have_probe else "MISSING"
            print(f"  probe {key}: want {probe.probe_type} every {probe.probe_duration}s, "
                  f"have {seen}", file=out)
    print("\nin sync" if not drift else
          f"\n{drift} difference(s): 'octavia-loxilb-manage lb diff {lb_id}' shows the "
          "repair", file=out)
    return 0
