"""Health monitors and operating status end to end, with real traffic.

Octavia's API and driver-agent, two ``octavia-loxilb-worker`` processes (one elected leader
runs the health poller every 0.5 s), and one emulated LoxiLB node with fast probe timings
(``--probe-tick 0.5 --rule-sync-interval 0.5``). Stopping a backend must turn its member
ERROR and its pool and the load balancer DEGRADED, and traffic must avoid it; starting it
again must bring everything back ONLINE.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rig.backends import TcpBackend, distribution
from rig.octavia_api import Octavia

_SECOND_OCTET = 100 + (os.getpid() + 37) % 100
"""Per-process address space, so concurrent runs on one machine never collide."""

FAST_PERIODIC = {"health_interval": 0.5, "stats_interval": 0.5, "leader_retry_interval": 0.2,
                 "health_tree_refresh_interval": 5}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rig.stack import LocalStack

    with LocalStack(tmp_path_factory.mktemp("stack"), workers=2,
                    loxilb=FAST_PERIODIC) as running:
        yield running


def operating(octavia: Octavia, lb_id: str) -> dict[str, str]:
    """Operating status of every object of the LB's status tree, by id."""
    tree = octavia.request("GET", f"/lbaas/loadbalancers/{lb_id}/status")["statuses"]
    found: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "id" in node and "operating_status" in node:
                found[node["id"]] = node["operating_status"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tree)
    return found


def wait_until(check: Callable[[], bool], timeout: float, what: str,
               explain: Callable[[], object] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    if not check():
        raise AssertionError(f"timed out waiting for {what}: {explain()}")


def test_stopped_backend_goes_error_degrades_pool_and_lb_and_recovers(
        stack: Any, octavia: Octavia) -> None:
    vip, prefix = f"127.{_SECOND_OCTET}.1.10", f"127.{_SECOND_OCTET}.101."
    backends = [TcpBackend(f"{prefix}{i}", 8080, f"b{i}").start() for i in (1, 2, 3)]
    try:
        lb = octavia.create_lb(vip)
        lsn = octavia.create_listener(lb["id"], "TCP", 80)
        pool = octavia.create_pool(lb["id"], lsn["id"], "TCP")
        members = {f"b{i}": octavia.create_member(lb["id"], pool["id"], f"{prefix}{i}", 8080,
                                                  status="ACTIVE")["id"] for i in (1, 2, 3)}
        octavia.create_monitor(lb["id"], pool["id"], "TCP", delay=1, timeout=1,
                               max_retries=1, max_retries_down=1)
        ids = [lb["id"], lsn["id"], pool["id"], *members.values()]

        def all_online() -> bool:
            seen = operating(octavia, lb["id"])
            return all(seen.get(i) == "ONLINE" for i in ids)

        wait_until(all_online, 30, "everything ONLINE",
                   lambda: (operating(octavia, lb["id"]), stack.logs_tail(30)))
        assert set(distribution(vip, 80, 30)) == {"b1", "b2", "b3"}

        backends[1].stop()
        stopped_at = time.monotonic()

        def degraded() -> bool:
            seen = operating(octavia, lb["id"])
            return (seen.get(members["b2"]) == "ERROR" and seen.get(pool["id"]) == "DEGRADED"
                    and seen.get(lb["id"]) == "DEGRADED")

        wait_until(degraded, 30, "b2 ERROR, pool and LB DEGRADED",
                   lambda: operating(octavia, lb["id"]))
        print(f"backend stop -> member ERROR in {time.monotonic() - stopped_at:.1f}s")
        seen = operating(octavia, lb["id"])
        assert seen[members["b1"]] == seen[members["b3"]] == "ONLINE"
        assert seen[lsn["id"]] == "ONLINE"
        # The poller reads probe results; the datapath follows them on LoxiLB's next RulesSync
        # pass (API-NOTES §2.10, the stack's ``--rule-sync-interval``), which can come after
        # the member is already reported ERROR.
        last: dict[str, Any] = {}

        def only_b1_b3() -> bool:
            last["counts"] = distribution(vip, 80, 30)
            return set(last["counts"]) == {"b1", "b3"}

        wait_until(only_b1_b3, 15, "traffic to b1 and b3 only", lambda: last.get("counts"))

        backends[1].start()
        wait_until(all_online, 30, "everything ONLINE again",
                   lambda: operating(octavia, lb["id"]))
        wait_until(lambda: set(distribution(vip, 80, 30)) == {"b1", "b2", "b3"}, 20,
                   "traffic to all three again")
        lbs = octavia.request("GET", f"/lbaas/loadbalancers/{lb['id']}")["loadbalancer"]
        assert lbs["provisioning_status"] == "ACTIVE", "the poller never touches provisioning"
        octavia.request("DELETE", f"/lbaas/loadbalancers/{lb['id']}?cascade=true")
        octavia.wait_gone(f"/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    finally:
        for b in backends:
            b.stop()


def test_pool_without_monitor_reports_no_monitor_and_admin_down_member_offline(
        stack: Any, octavia: Octavia) -> None:
    vip, prefix = f"127.{_SECOND_OCTET}.2.10", f"127.{_SECOND_OCTET}.102."
    backends = [TcpBackend(f"{prefix}{i}", 8080, f"b{i}").start() for i in (1, 2)]
    try:
        lb = octavia.create_lb(vip)
        lsn = octavia.create_listener(lb["id"], "TCP", 80)
        pool = octavia.create_pool(lb["id"], lsn["id"], "TCP")
        up = octavia.create_member(lb["id"], pool["id"], f"{prefix}1", 8080)["id"]
        down = octavia.create_member(lb["id"], pool["id"], f"{prefix}2", 8080,
                                     admin_state_up=False)["id"]
        backends[0].stop()  # without a monitor nothing notices

        def expected() -> bool:
            seen = operating(octavia, lb["id"])
            return (seen.get(up) == "NO_MONITOR" and seen.get(down) == "OFFLINE"
                    and seen.get(pool["id"]) == "ONLINE" and seen.get(lb["id"]) == "ONLINE"
                    and seen.get(lsn["id"]) == "ONLINE")

        wait_until(expected, 20, "NO_MONITOR / OFFLINE members, ONLINE pool",
                   lambda: operating(octavia, lb["id"]))
        time.sleep(2)  # several poll cycles: still no change pushed
        assert expected(), operating(octavia, lb["id"])
        octavia.request("DELETE", f"/lbaas/loadbalancers/{lb['id']}?cascade=true")
        octavia.wait_gone(f"/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    finally:
        for b in backends:
            b.stop()
