"""Drift repair end to end: a LoxiLB restart is repaired by the workers on their own.

LocalStack with two workers (one leads the periodic tasks), a short resync interval and a
fast restart check. After ``POST /_emulator/restart`` (every rule and probe wiped, as a
LoxiLB restart does) every rule must be back within one resync interval, with no API call,
no load balancer or listener ever leaving ACTIVE, and traffic through every VIP again. The
operator commands (``octavia-loxilb-manage lb diff|status|resync``) run as console scripts
against the stack's configuration file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.backends import TcpBackend, distribution
from rig.octavia_api import Emulator, Octavia

_SECOND_OCTET = 100 + (os.getpid() + 37) % 100
RESYNC_INTERVAL = 15.0
LB_COUNT = 6


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rig.stack import LocalStack

    workdir = tmp_path_factory.mktemp("drift")
    # The periodic-task leader lock has one name per coordination back end: a stack of its
    # own (file locks, both workers on this host) so other stacks on the shared Redis
    # cannot hold it.
    options = {"resync_interval": RESYNC_INTERVAL, "restart_check_interval": 0.5,
               "leader_retry_interval": 0.5, "coordination_url": f"file://{workdir}/locks"}
    with LocalStack(workdir, workers=2, loxilb=options) as running:
        yield running


@pytest.fixture(scope="module")
def loadbalancers(octavia: Octavia) -> Iterator[list[tuple[str, str]]]:
    """``LB_COUNT`` load balancers (id, VIP), each one TCP listener over two backends."""
    backends = [TcpBackend(f"127.{_SECOND_OCTET}.200.{i}", 8080, f"b{i}").start()
                for i in (1, 2)]
    created = []
    try:
        for n in range(1, LB_COUNT + 1):
            vip = f"127.{_SECOND_OCTET}.{n}.10"
            lb = octavia.create_lb(vip, listeners=[{
                "name": "tcp", "protocol": "TCP", "protocol_port": 80,
                "default_pool": {"name": "p", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
                                 "members": [{"address": b.ip, "protocol_port": 8080}
                                             for b in backends]}}])
            created.append((lb["id"], vip))
        yield created
    finally:
        for lb_id, _ in created:
            octavia.request("DELETE", f"/lbaas/loadbalancers/{lb_id}?cascade=true",
                            expect=(204, 404, 409))
        for b in backends:
            b.stop()


def manage(stack: Any, *args: str) -> subprocess.CompletedProcess[str]:
    script = str(Path(sys.executable).parent / "octavia-loxilb-manage")
    return subprocess.run([script, "--config-file", str(stack.conf_path), "lb", *args],
                          capture_output=True, text=True, timeout=120)


def statuses(octavia: Octavia, lb_id: str) -> set[str]:
    tree = octavia.request("GET", f"/lbaas/loadbalancers/{lb_id}/status")["statuses"]
    lb = tree["loadbalancer"]
    found = {lb["provisioning_status"]}
    for listener in lb.get("listeners", []):
        found.add(listener["provisioning_status"])
        for pool in listener.get("pools", []):
            found.add(pool["provisioning_status"])
            found |= {m["provisioning_status"] for m in pool.get("members", [])}
    return found


def test_loxilb_restart_restores_every_rule_within_one_interval(
        stack: Any, octavia: Octavia, loadbalancers: list[tuple[str, str]]) -> None:
    emulator = Emulator(stack.emulator_url)
    before = {r["serviceArguments"]["name"] for r in emulator.rules()}
    assert len(before) == LB_COUNT

    emulator._call("POST", "/_emulator/restart")
    wiped = time.monotonic()
    assert emulator.rules() == []
    seen: set[str] = set()
    while True:
        for lb_id, _ in loadbalancers:
            seen |= statuses(octavia, lb_id)
        names = {r["serviceArguments"]["name"] for r in emulator.rules()}
        if names == before:
            break
        assert time.monotonic() - wiped < RESYNC_INTERVAL, (
            f"{len(names)}/{LB_COUNT} rules back after {RESYNC_INTERVAL}s\n"
            + stack.logs_tail(40))
        time.sleep(0.2)
    restored = time.monotonic() - wiped
    print(f"all {LB_COUNT} rules restored {restored:.2f}s after the restart")

    assert seen == {"ACTIVE"}, seen
    for _, vip in loadbalancers:
        assert set(distribution(vip, 80, 6)) == {"b1", "b2"}


def test_manage_diff_status_and_resync(stack: Any,
                                       loadbalancers: list[tuple[str, str]]) -> None:
    """The console scripts against the stack's config. The workers' restart check repairs a
    deleted rule within a second, so the drifted output is covered by the functional tests
    (``test_resync_recovery.py``); here the commands must agree the stack is in sync."""
    emulator = Emulator(stack.emulator_url)
    deadline = time.monotonic() + 60
    while len(emulator.rules()) < LB_COUNT:
        assert time.monotonic() < deadline, stack.logs_tail(40)
        time.sleep(0.5)
    lb_id, vip = loadbalancers[0]

    diff = manage(stack, "diff", "--all")
    assert diff.returncode == 0, diff.stderr
    assert all(f"{i}: in-sync" in diff.stdout for i, _ in loadbalancers), diff.stdout

    status = manage(stack, "status", lb_id)
    assert status.returncode == 0, status.stderr
    assert vip in status.stdout and "in sync" in status.stdout, status.stdout

    repaired = manage(stack, "resync", lb_id)
    assert repaired.returncode == 0, repaired.stderr + repaired.stdout
    assert f"{lb_id}: in-sync" in repaired.stdout and "1 load balancers" in repaired.stdout
