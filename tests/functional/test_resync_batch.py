"""Batched drift repair: applies planned from the cycle's snapshot, one read-back per node.

Same real parts as ``test_resync.py``: the emulator (its call log counts the reads), the
REST client, ``DriverLibrary`` on the driver-agent stand-in, file locks and SQLite. The
stale-snapshot cases change LoxiLB at the moment the resync re-reads a load balancer's tree
inside its lock, i.e. after the snapshot was taken and before the snapshot-based plan runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import requests

from octavia_loxilb.loxilb.models import Endpoint, LoadBalancerRule, Oper
from octavia_loxilb.worker import octavia_reader, resync
from tests.functional.test_resync import BACKEND, Rig, build, lb_id, name_of
from tests.functional.test_resync import rig as rig  # the same fixture

RULES = "/config/loadbalancer/all"
PROBES = "/config/endpoint/all"


class HookedLibrary:
    """The real driver library; ``hook`` runs once when ``target``'s tree is read the
    second time in a cycle (the read inside the lock, after the snapshot)."""

    def __init__(self, inner: Any, target: str, hook: Callable[[], None]) -> None:
        self.inner = inner
        self.target = target
        self.hook: Callable[[], None] | None = hook
        self.reads = 0

    def get_loadbalancer(self, loadbalancer_id: str) -> Any:
        if loadbalancer_id == self.target:
            self.reads += 1
            if self.reads == 2 and self.hook is not None:
                hook, self.hook = self.hook, None
                hook()
        return self.inner.get_loadbalancer(loadbalancer_id)


def hooked(rig: Rig, target: str, hook: Callable[[], None]) -> HookedLibrary:
    library = HookedLibrary(octavia_reader.driver_library(rig.conf), target, hook)
    rig.resyncer.library = lambda: library
    return library


def ports(rule: LoadBalancerRule) -> set[int]:
    return {e.port for e in rule.endpoints}


def test_wiped_node_with_300_lbs_is_refilled_with_constant_reads(rig: Rig) -> None:
    count = 300
    for n in range(count):
        rig.add(build(n))
    assert rig.cycle().count(resync.REPAIRED) == count
    requests.post(rig.node.base_url + "/_emulator/restart", timeout=5).raise_for_status()
    assert rig.rules() == {}
    rig.clear_calls()

    report = rig.cycle()

    assert report.count(resync.REPAIRED) == count, [
        (lb.loadbalancer_id, lb.state, lb.error) for lb in report.loadbalancers
        if lb.state != resync.REPAIRED][:3]
    # The snapshot and the batch read-back; no per-LB read of the growing rule table.
    assert rig.reads(RULES) == 2
    assert rig.reads(PROBES) == 1
    assert rig.writes() == [("POST", "/netlox/v1/config/loadbalancer")] * count
    rules = rig.rules()
    assert set(rules) == {name_of(n) for n in range(count)}
    assert all(ports(rule) == {8081, 8082} for rule in rules.values())
    assert report.expected[rig.api.node] == frozenset(r.key for r in rules.values())


def test_probe_writes_are_read_back_once(rig: Rig) -> None:
    for n in range(3):
        rig.add(build(n, monitor=True))
    rig.cycle()
    requests.post(rig.node.base_url + "/_emulator/restart", timeout=5).raise_for_status()
    rig.clear_calls()

    report = rig.cycle()

    assert report.count(resync.REPAIRED) == 3
    assert (rig.reads(RULES), rig.reads(PROBES)) == (2, 2)
    assert {p.probe_type for p in rig.api.list_endpoint_probes()} == {"tcp"}


def test_rule_gone_after_the_snapshot_fails_the_step_and_falls_back(rig: Rig) -> None:
    rig.add(build(1))
    rig.add(build(2))
    rig.cycle()
    rule = rig.rules()[name_of(1)]
    # Drift the snapshot will see: an extra backend, so the plan is a detach.
    rig.api.apply_rule(LoadBalancerRule(
        service=dataclasses.replace(rule.service, oper=Oper.ATTACH),
        endpoints=(Endpoint(BACKEND, 9000),)))
    # After the snapshot the rule disappears: the planned detach gets 404.
    library = hooked(rig, lb_id(1), lambda: rig.api.delete_rule(rule.key))
    rig.clear_calls()

    report = rig.cycle()

    states = {lb.loadbalancer_id: (lb.state, lb.error) for lb in report.loadbalancers}
    assert states == {lb_id(1): (resync.REPAIRED, None), lb_id(2): (resync.IN_SYNC, None)}
    assert library.reads == 3, "snapshot plan, batch apply, then the full converge's tree"
    assert ports(rig.rules()[name_of(1)]) == {8081, 8082}
    # The delete behind our back, the failed detach, then the full converge's create.
    assert rig.writes()[1:] == [("POST", "/netlox/v1/config/loadbalancer")] * 2
    assert rig.writes()[0][0] == "DELETE"


def test_drift_added_after_the_snapshot_fails_verification_and_falls_back(rig: Rig) -> None:
    rig.add(build(1))
    rig.cycle()
    rule = rig.rules()[name_of(1)]
    rig.api.apply_rule(LoadBalancerRule(
        service=dataclasses.replace(rule.service, oper=Oper.DETACH),
        endpoints=(Endpoint(BACKEND, 8082),)))
    assert ports(rig.rules()[name_of(1)]) == {8081}

    def foreign_attach() -> None:
        rig.api.apply_rule(LoadBalancerRule(
            service=dataclasses.replace(rule.service, oper=Oper.ATTACH),
            endpoints=(Endpoint(BACKEND, 9000),)))

    library = hooked(rig, lb_id(1), foreign_attach)
    rig.clear_calls()

    report = rig.cycle()

    [lb] = report.loadbalancers
    assert (lb.state, lb.error) == (resync.REPAIRED, None)
    assert lb.converge is not None and lb.converge.verified
    assert library.reads == 3
    # The snapshot plan only attached 8082; the full converge also detached 9000.
    assert ports(rig.rules()[name_of(1)]) == {8081, 8082}
    assert rig.writes() == [("POST", "/netlox/v1/config/loadbalancer")] * 3


def test_progress_reports_each_load_balancer_once_in_its_final_state(rig: Rig) -> None:
    for n in range(4):
        rig.add(build(n))
    seen: list[tuple[str, str]] = []

    [report] = rig.resyncer.run(progress=lambda lb: seen.append((lb.loadbalancer_id,
                                                                 lb.state)))

    assert sorted(seen) == sorted((lb_id(n), resync.REPAIRED) for n in range(4))
    assert report.count(resync.APPLIED) == 0
