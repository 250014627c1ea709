"""Drift repair against the LoxiLB emulator, trees served by a driver-agent stand-in.

Real parts: the REST client and emulator, octavia-lib's ``DriverLibrary`` on unix sockets
(``FakeDriverAgent`` speaks the driver-agent's wire protocol), the tooz file locks, the
SQLite placement database and the job journal.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from octavia_lib.api.drivers import data_models as dm
from oslo_config import cfg

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.conf import register_opts
from octavia_loxilb.db import migrations
from octavia_loxilb.db.session import create_engine
from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.models import (
    Endpoint,
    EndpointProbe,
    LoadBalancerRule,
    Mode,
    Oper,
    ServiceArguments,
)
from octavia_loxilb.loxilb.transport import NodeConfig
from octavia_loxilb.worker import octavia_reader, resync
from octavia_loxilb.worker.journal import JobJournal
from octavia_loxilb.worker.locking import LoadBalancerLocks
from octavia_loxilb.worker.placement import Placer
from tests.conftest import EmulatorFactory
from tests.functional.test_worker import FakeDriverAgent

BACKEND = "127.0.43.50"


def lb_id(n: int) -> str:
    return f"22222222-2222-4222-8222-{n:012d}"


def listener_id(n: int) -> str:
    return f"33333333-3333-4333-8333-{n:012d}"


def vip_of(n: int) -> str:
    return f"127.0.44.{n % 250 + 1}" if n < 250 else f"127.0.45.{n % 250 + 1}"


def build(n: int, ports: tuple[int, ...] = (8081, 8082), monitor: bool = False,
          listener_port: int = 80) -> dm.LoadBalancer:
    """LB ``n``: one TCP listener, a pool with a member per port, optionally a TCP monitor."""
    lid, pid = lb_id(n), f"44444444-4444-4444-8444-{n:012d}"
    members = [dm.Member(member_id=f"55555555-5555-4555-8555-{n:06d}{i:06d}", pool_id=pid,
                         address=BACKEND, protocol_port=port, weight=1, admin_state_up=True,
                         backup=False)
               for i, port in enumerate(ports)]
    monitor_obj = dm.HealthMonitor(healthmonitor_id=f"66666666-6666-4666-8666-{n:012d}",
                                   pool_id=pid, type="TCP", delay=3, timeout=1, max_retries=2,
                                   max_retries_down=2, admin_state_up=True) if monitor else None
    pool = dm.Pool(pool_id=pid, loadbalancer_id=lid, protocol="TCP",
                   lb_algorithm="ROUND_ROBIN", admin_state_up=True, members=members,
                   healthmonitor=monitor_obj, listener_id=listener_id(n))
    listener = dm.Listener(listener_id=listener_id(n), loadbalancer_id=lid,
                           protocol="TCP", protocol_port=listener_port, admin_state_up=True,
                           default_pool=pool, default_pool_id=pid, l7policies=[],
                           connection_limit=-1)
    return dm.LoadBalancer(loadbalancer_id=lid, admin_state_up=True, vip_address=vip_of(n),
                           listeners=[listener], pools=[pool], flavor={}, project_id="p",
                           name=f"lb{n}")


class Rig:
    """Placer, locks, journal and resyncer on one emulated node."""

    def __init__(self, tmp_path: Path, node: Emulator, agent: FakeDriverAgent) -> None:
        self.node = node
        self.agent = agent
        self.conf = register_opts(cfg.ConfigOpts())
        self.conf([], project="octavia-loxilb-test")
        overrides = {
            "api_endpoints": [node.base_url], "api_retries": 0,
            "status_socket_path": agent.paths["status"],
            "stats_socket_path": agent.paths["stats"], "get_socket_path": agent.paths["get"],
            "coordination_url": f"file://{tmp_path}/locks", "resync_threads": 4,
        }
        for name, value in overrides.items():
            self.conf.set_override(name, value, group="loxilb")
        self.engine = create_engine(f"sqlite:///{tmp_path}/state.sqlite")
        migrations.upgrade(self.engine)
        self.placer = Placer(self.engine, self.conf)
        self.locks = LoadBalancerLocks(self.conf.loxilb.coordination_url, "resync-test")
        self.locks.start()
        self.journal = JobJournal(self.engine, "test-worker")
        self.resyncer = resync.Resyncer(
            self.conf, engine=self.engine, placer=self.placer, locks=self.locks,
            library=lambda: octavia_reader.driver_library(self.conf),
            busy=self.journal.running_loadbalancers)
        self.api = LoxiLBClient(NodeConfig(node.base_url, retries=0))

    def add(self, lb: dm.LoadBalancer) -> None:
        """Octavia has it and it is placed (as a create job would leave it)."""
        self.agent.set_tree(lb)
        self.placer.place(lb.loadbalancer_id, lb.vip_address)

    def cycle(self, **kwargs: Any) -> resync.GroupReport:
        reports = self.resyncer.run(**kwargs)
        assert len(reports) == 1, reports
        return reports[0]

    def rules(self) -> dict[str, LoadBalancerRule]:
        return {r.name: r for r in self.api.list_rules()}

    def writes(self) -> list[tuple[str, str]]:
        calls = requests.get(self.node.base_url + "/_emulator/calls", timeout=5).json()
        return [(c["method"], c["path"]) for c in calls if c["method"] != "GET"]

    def reads(self, path: str) -> int:
        calls = requests.get(self.node.base_url + "/_emulator/calls", timeout=5).json()
        return sum(1 for c in calls if c["method"] == "GET" and c["path"].endswith(path))

    def clear_calls(self) -> None:
        requests.delete(self.node.base_url + "/_emulator/calls", timeout=5)

    def close(self) -> None:
        self.api.close()
        self.locks.stop()
        self.placer.close()
        self.engine.dispose()


@pytest.fixture
def rig(tmp_path: Path, emulator: Emulator) -> Iterator[Rig]:
    agent = FakeDriverAgent(tmp_path).start()
    octavia_reader.reset_driver_library()
    built = Rig(tmp_path, emulator, agent)
    yield built
    built.close()
    octavia_reader.reset_driver_library()
    agent.stop()


def name_of(n: int) -> str:
    return f"oct-{listener_id(n)}"


def foreign_rule(vip: str, port: int, name: str) -> LoadBalancerRule:
    return LoadBalancerRule(
        service=ServiceArguments(external_ip=vip, port=port, protocol="tcp", name=name,
                                 mode=Mode.FULLNAT),
        endpoints=(Endpoint(BACKEND, 9999),))


def test_missing_rules_are_restored_then_nothing_is_written(rig: Rig) -> None:
    for n in (1, 2):
        rig.add(build(n))
    report = rig.cycle()
    assert {lb.state for lb in report.loadbalancers} == {resync.REPAIRED}, report
    rules = rig.rules()
    assert set(rules) == {name_of(1), name_of(2)}
    assert {(e.ip, e.port) for e in rules[name_of(1)].endpoints} == {
        (BACKEND, 8081), (BACKEND, 8082)}

    rig.clear_calls()
    again = rig.cycle()
    assert {lb.state for lb in again.loadbalancers} == {resync.IN_SYNC}
    assert rig.writes() == []
    assert not rig.agent.pushes, "a resync never pushes a status"


def test_extra_rule_of_ours_removed_foreign_rules_untouched(rig: Rig) -> None:
    rig.add(build(1))
    rig.cycle()
    vip = vip_of(1)
    stale_listener = f"oct-{listener_id(99)}"
    rig.api.apply_rule(foreign_rule(vip, 81, stale_listener))      # ours, no such listener
    rig.api.apply_rule(foreign_rule(vip, 82, "someone-else"))      # foreign, same VIP
    rig.api.apply_rule(foreign_rule("127.0.46.1", 80, "oct-orphan"))  # ours, VIP of no LB
    rig.api.apply_rule(foreign_rule("127.0.46.2", 80, "other-tool"))  # foreign, no LB

    report = rig.cycle()

    assert set(rig.rules()) == {name_of(1), "someone-else", "other-tool"}
    assert [lb.state for lb in report.loadbalancers] == [resync.REPAIRED]
    assert any(stale_listener in step for step in report.loadbalancers[0].steps)
    assert len(report.orphans) == 1 and "oct-orphan" in report.orphans[0]


def test_changed_endpoints_and_mode_are_fixed(rig: Rig) -> None:
    rig.add(build(1))
    rig.add(build(2))
    rig.cycle()
    rule = rig.rules()[name_of(1)]
    # Someone adds a backend by hand and drops one.
    rig.api.apply_rule(LoadBalancerRule(
        service=dataclasses.replace(rule.service, oper=Oper.ATTACH),
        endpoints=(Endpoint(BACKEND, 9000),)))
    rig.api.apply_rule(LoadBalancerRule(
        service=dataclasses.replace(rule.service, oper=Oper.DETACH),
        endpoints=(Endpoint(BACKEND, 8081),)))
    assert {e.port for e in rig.rules()[name_of(1)].endpoints} == {8082, 9000}
    # And LB 2's rule is recreated in the wrong NAT mode.
    other = rig.rules()[name_of(2)]
    rig.api.delete_rule(other.key)
    rig.api.apply_rule(LoadBalancerRule(
        service=dataclasses.replace(other.service, mode=Mode.DNAT),
        endpoints=other.endpoints))

    report = rig.cycle()

    states = {lb.loadbalancer_id: lb.state for lb in report.loadbalancers}
    assert states == {lb_id(1): resync.REPAIRED, lb_id(2): resync.REPAIRED}
    rules = rig.rules()
    assert {e.port for e in rules[name_of(1)].endpoints} == {8081, 8082}
    assert rules[name_of(2)].service.mode == Mode.FULLNAT


def test_probe_drift_is_fixed(rig: Rig) -> None:
    rig.add(build(1, monitor=True))
    rig.cycle()
    key = f"{BACKEND}_tcp_8081"
    probes = {p.name: p for p in rig.api.list_endpoint_probes()}
    assert probes[key].probe_type == "tcp" and probes[key].probe_duration == 3
    rig.api.set_endpoint_probe(EndpointProbe(host=BACKEND, name=key, probe_type="ping",
                                             probe_duration=60, inactive_retries=5))

    report = rig.cycle()

    assert [lb.state for lb in report.loadbalancers] == [resync.REPAIRED]
    probes = {p.name: p for p in rig.api.list_endpoint_probes()}
    assert (probes[key].probe_type, probes[key].probe_port, probes[key].probe_duration) == (
        "tcp", 8081, 3)


def test_dry_run_lists_the_steps_and_writes_nothing(rig: Rig) -> None:
    rig.add(build(1))
    rig.api.apply_rule(foreign_rule("127.0.46.1", 80, "oct-orphan"))
    rig.clear_calls()

    report = rig.cycle(dry_run=True)

    assert rig.writes() == []
    [lb] = report.loadbalancers
    assert lb.state == resync.DRIFTED
    assert lb.steps and lb.steps[0].endswith(f"create rule {name_of(1)} "
                                             f"[{BACKEND}:8081/1, {BACKEND}:8082/1]")
    assert "oct-orphan" in report.orphans[0]
    assert "oct-orphan" in rig.rules()


def test_a_load_balancer_being_worked_on_is_left_alone(rig: Rig) -> None:
    rig.add(build(1))
    rig.add(build(2))
    held = threading.Event()
    release = threading.Event()

    def job() -> None:
        with rig.locks.hold(lb_id(1)):
            held.set()
            release.wait(10)

    worker = threading.Thread(target=job)
    worker.start()
    try:
        assert held.wait(5)
        report = rig.cycle()
    finally:
        release.set()
        worker.join()
    states = {lb.loadbalancer_id: lb.state for lb in report.loadbalancers}
    assert states == {lb_id(1): resync.BUSY, lb_id(2): resync.REPAIRED}
    assert set(rig.rules()) == {name_of(2)}

    # A journaled job in flight (taken by a worker, not finished) also keeps resync away.
    entry = rig.journal.record(Job(op="member_create", loadbalancer_id=lb_id(1),
                                   subject=("members", "m")))
    assert entry is not None
    assert [lb.state for lb in rig.cycle(loadbalancer_ids=[lb_id(1)]).loadbalancers] == [
        resync.BUSY]
    rig.journal.finish(entry)
    assert [lb.state for lb in rig.cycle().loadbalancers if
            lb.loadbalancer_id == lb_id(1)] == [resync.REPAIRED]
    assert set(rig.rules()) == {name_of(1), name_of(2)}


def test_a_load_balancer_gone_from_octavia_loses_placement_and_rules(rig: Rig) -> None:
    rig.add(build(1))
    rig.add(build(2))
    rig.cycle()
    with rig.agent.lock:
        del rig.agent.trees[lb_id(2)]

    report = rig.cycle()

    states = {lb.loadbalancer_id: lb.state for lb in report.loadbalancers}
    assert states == {lb_id(1): resync.IN_SYNC, lb_id(2): resync.GONE}
    assert set(rig.rules()) == {name_of(1)}
    assert rig.placer.placed_group(lb_id(2)) is None


def test_many_load_balancers_one_read_per_node_and_only_drifted_ones_converged(
        rig: Rig) -> None:
    count = 120
    for n in range(count):
        rig.add(build(n))
    first = rig.cycle()
    assert first.count(resync.REPAIRED) == count
    victim = rig.rules()[name_of(7)]
    rig.api.delete_rule(victim.key)
    rig.clear_calls()

    report = rig.cycle()

    assert report.count(resync.IN_SYNC) == count - 1
    assert [lb.loadbalancer_id for lb in report.loadbalancers
            if lb.state == resync.REPAIRED] == [lb_id(7)]
    # One snapshot read and one batch read-back; the repair itself reads nothing.
    assert rig.reads("/config/loadbalancer/all") == 2
    assert rig.reads("/config/endpoint/all") == 1
    assert rig.writes() == [("POST", "/netlox/v1/config/loadbalancer")]
    assert name_of(7) in rig.rules()


def test_a_restarted_node_is_refilled(rig: Rig, emulator_factory: EmulatorFactory) -> None:
    for n in range(5):
        rig.add(build(n, monitor=True))
    rig.cycle()
    before = rig.rules()
    requests.post(rig.node.base_url + "/_emulator/restart", timeout=5)
    assert rig.rules() == {}

    report = rig.cycle()

    assert report.count(resync.REPAIRED) == 5
    after = rig.rules()
    assert set(after) == set(before)
    for name, rule in before.items():
        assert sorted(e.ident for e in after[name].endpoints) == sorted(
            e.ident for e in rule.endpoints)
    assert report.expected[rig.api.node] == frozenset(r.key for r in after.values())
