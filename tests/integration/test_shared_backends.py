"""Two load balancers whose pools share a backend ``ip:port`` share one LoxiLB probe host.

Octavia's API and driver-agent, two workers, one emulated LoxiLB node. The policy of
doc/health.md, end to end: the first monitor owns the probe host; a conflicting monitor of
another load balancer is refused (ERROR) and the probe stays as the owner set it; a pool
without a monitor never switches it off; an identical monitor shares it and keeps it when
the owner's monitor goes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rig.octavia_api import Octavia

_SECOND_OCTET = 100 + (os.getpid() + 61) % 100
"""Per-process address space, so concurrent runs on one machine never collide."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rig.stack import LocalStack

    with LocalStack(tmp_path_factory.mktemp("stack"), workers=2) as running:
        yield running


PROBE_RESULTS = ("currState", "minDelay", "avgDelay", "maxDelay")
"""Fields of a probe host that are probe results rather than settings."""


def probe_hosts(stack: Any) -> dict[str, dict[str, Any]]:
    """The settings of the emulator's probe hosts (``GET /config/endpoint/all``) by key."""
    resp = requests.get(f"{stack.emulator_url}/netlox/v1/config/endpoint/all", timeout=10)
    resp.raise_for_status()
    return {entry["name"]: {k: v for k, v in entry.items() if k not in PROBE_RESULTS}
            for entry in resp.json()["Attr"]}


def lb_with_pool(octavia: Octavia, vip: str, backend: str) -> tuple[str, str]:
    """A load balancer with a TCP listener and a pool holding ``backend``:8080."""
    lb = octavia.create_lb(vip)
    listener = octavia.create_listener(lb["id"], "TCP", 80)
    pool = octavia.create_pool(lb["id"], listener["id"], "TCP")
    octavia.create_member(lb["id"], pool["id"], backend, 8080, status="ACTIVE")
    return lb["id"], pool["id"]


def test_shared_backend_probe_is_owned_by_the_first_monitor(stack: Any,
                                                            octavia: Octavia) -> None:
    backend = f"127.{_SECOND_OCTET}.201.1"
    key = f"{backend}_tcp_8080"
    lb_a, pool_a = lb_with_pool(octavia, f"127.{_SECOND_OCTET}.200.10", backend)
    lb_b, pool_b = lb_with_pool(octavia, f"127.{_SECOND_OCTET}.200.20", backend)
    assert probe_hosts(stack)[key]["probeType"] == "none"

    tcp = {"delay": 3, "timeout": 2, "max_retries": 2, "max_retries_down": 2}
    hm_a = octavia.create_monitor(lb_a, pool_a, "TCP", **tcp)
    owned = probe_hosts(stack)[key]
    assert (owned["probeType"], owned["probePort"], owned["probeDuration"],
            owned["inactiveReTries"]) == ("tcp", 8080, 3, 2), owned

    # B's HTTP monitor on the same backend conflicts: refused, A's probe untouched.
    created = octavia.create("/lbaas/healthmonitors", "healthmonitor", pool_id=pool_b,
                             type="HTTP", url_path="/health", http_method="HEAD", **tcp)
    octavia.wait_mutable(lb_b)
    refused = octavia.wait(f"/lbaas/healthmonitors/{created['id']}", "healthmonitor",
                           status="ERROR")
    assert refused["operating_status"] == "ERROR"
    assert probe_hosts(stack)[key] == owned
    assert octavia.wait_mutable(lb_b)["provisioning_status"] == "ACTIVE"
    assert octavia.wait(f"/lbaas/pools/{pool_b}", "pool")["provisioning_status"] == "ACTIVE"

    # Without a monitor, B's converges leave the owned probe alone.
    octavia.request("DELETE", f"/lbaas/healthmonitors/{created['id']}")
    octavia.wait_gone(f"/lbaas/healthmonitors/{created['id']}", "healthmonitor")
    octavia.wait_mutable(lb_b)
    octavia.update(f"/lbaas/pools/{pool_b}", "pool", name="no-monitor-converge")
    octavia.wait(f"/lbaas/pools/{pool_b}", "pool")
    assert probe_hosts(stack)[key] == owned

    # An identical monitor shares the probe and keeps it after A's monitor is deleted.
    hm_b = octavia.create_monitor(lb_b, pool_b, "TCP", **tcp)
    assert hm_b["provisioning_status"] == "ACTIVE"
    assert probe_hosts(stack)[key] == owned
    octavia.request("DELETE", f"/lbaas/healthmonitors/{hm_a['id']}")
    octavia.wait_gone(f"/lbaas/healthmonitors/{hm_a['id']}", "healthmonitor")
    octavia.wait_mutable(lb_a)
    assert probe_hosts(stack)[key] == owned

    # With B the owner now, an HTTP monitor on A is the conflicting one.
    again = octavia.create("/lbaas/healthmonitors", "healthmonitor", pool_id=pool_a,
                           type="HTTP", url_path="/health", http_method="HEAD", **tcp)
    octavia.wait_mutable(lb_a)
    octavia.wait(f"/lbaas/healthmonitors/{again['id']}", "healthmonitor", status="ERROR")
    assert probe_hosts(stack)[key] == owned

    for lb_id in (lb_a, lb_b):
        octavia.request("DELETE", f"/lbaas/loadbalancers/{lb_id}?cascade=true")
    for lb_id in (lb_a, lb_b):
        octavia.wait_gone(f"/lbaas/loadbalancers/{lb_id}", "loadbalancer")
    assert key not in probe_hosts(stack), "LoxiLB drops the host with its last rule"
