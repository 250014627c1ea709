"""Time from an Octavia API call to ACTIVE, for each object kind, through the real stack.

Set-up: ``rig.stack.LocalStack`` (Octavia API served by gunicorn, driver-agent, one
``octavia-loxilb-worker``, RabbitMQ, Redis, MariaDB, one emulated LoxiLB node). Each round
creates a load balancer, a TCP listener, a ROUND_ROBIN pool and a member, timing each from
the POST until GET shows ACTIVE (polled every 10 ms), then deletes the tree. The comparison
is Octavia's own ``noop_driver`` in the same run with the benchmark itself pushing ACTIVE
through the driver-agent as soon as the POST returns: the floor Octavia + driver-agent set.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from bench.report import Figure, summarize
from rig.octavia_api import Octavia

KINDS = ("loadbalancer", "listener", "pool", "member")


def _timed_wait(octavia: Octavia, path: str, key: str, began: float) -> float:
    while True:
        obj = octavia.get(path, key)
        if obj is not None and obj["provisioning_status"] not in (
                "PENDING_CREATE", "PENDING_UPDATE"):
            assert obj["provisioning_status"] == "ACTIVE", obj
            return time.monotonic() - began
        time.sleep(0.01)


def _round(octavia: Octavia, vip: str, member_ip: str, provider: str,
           push: Any = None) -> dict[str, float]:
    """One LB → listener → pool → member build; returns seconds to ACTIVE per kind."""
    out: dict[str, float] = {}
    began = time.monotonic()
    lb = octavia.create("/lbaas/loadbalancers", "loadbalancer", vip_address=vip,
                        vip_subnet_id="6d0d3b1e-2f7a-4d8b-9a53-1c1b2f0e7a11",
                        provider=provider, name="bench")
    lb_path = f"/lbaas/loadbalancers/{lb['id']}"
    if push:
        push({"loadbalancers": [{"id": lb["id"], "provisioning_status": "ACTIVE",
                                 "operating_status": "ONLINE"}]})
    out["loadbalancer"] = _timed_wait(octavia, lb_path, "loadbalancer", began)

    began = time.monotonic()
    lsn = octavia.create("/lbaas/listeners", "listener", loadbalancer_id=lb["id"],
                         protocol="TCP", protocol_port=80)
    if push:
        push({"loadbalancers": [{"id": lb["id"], "provisioning_status": "ACTIVE"}],
              "listeners": [{"id": lsn["id"], "provisioning_status": "ACTIVE"}]})
    out["listener"] = _timed_wait(octavia, f"/lbaas/listeners/{lsn['id']}", "listener", began)
    _timed_wait(octavia, lb_path, "loadbalancer", began)

    began = time.monotonic()
    pool = octavia.create("/lbaas/pools", "pool", listener_id=lsn["id"], protocol="TCP",
                          lb_algorithm="ROUND_ROBIN")
    if push:
        push({"loadbalancers": [{"id": lb["id"], "provisioning_status": "ACTIVE"}],
              "listeners": [{"id": lsn["id"], "provisioning_status": "ACTIVE"}],
              "pools": [{"id": pool["id"], "provisioning_status": "ACTIVE"}]})
    out["pool"] = _timed_wait(octavia, f"/lbaas/pools/{pool['id']}", "pool", began)
    _timed_wait(octavia, lb_path, "loadbalancer", began)

    began = time.monotonic()
    member = octavia.create(f"/lbaas/pools/{pool['id']}/members", "member",
                            address=member_ip, protocol_port=8080)
    if push:
        push({"loadbalancers": [{"id": lb["id"], "provisioning_status": "ACTIVE"}],
              "listeners": [{"id": lsn["id"], "provisioning_status": "ACTIVE"}],
              "pools": [{"id": pool["id"], "provisioning_status": "ACTIVE"}],
              "members": [{"id": member["id"], "provisioning_status": "ACTIVE"}]})
    out["member"] = _timed_wait(octavia, f"/lbaas/pools/{pool['id']}/members/{member['id']}",
                                "member", began)
    _timed_wait(octavia, lb_path, "loadbalancer", began)

    octavia.request("DELETE", f"{lb_path}?cascade=true")
    if push:
        push({"loadbalancers": [{"id": lb["id"], "provisioning_status": "DELETED"}],
              "listeners": [{"id": lsn["id"], "provisioning_status": "DELETED"}],
              "pools": [{"id": pool["id"], "provisioning_status": "DELETED"}],
              "members": [{"id": member["id"], "provisioning_status": "DELETED"}]})
    octavia.wait_gone(lb_path, "loadbalancer")
    return out


def run(rounds: int = 10) -> list[Figure]:
    """Median/p90 seconds to ACTIVE per kind, ours against the noop floor."""
    from rig.clients import driver_library, sdk_connection
    from rig.stack import LocalStack

    ours: dict[str, list[float]] = {k: [] for k in KINDS}
    floor: dict[str, list[float]] = {k: [] for k in KINDS}
    with LocalStack(tempfile.mkdtemp(prefix="bench-tta-"),
                    providers={"loxilb": "LoxiLB", "noop_driver": "noop"}) as stack:
        assert stack.rig is not None
        octavia = Octavia(sdk_connection(stack.api_url))
        agent = driver_library(stack.rig)
        for i in range(rounds):
            for kind, secs in _round(octavia, f"127.70.{i}.10", f"127.71.{i}.1",
                                     "loxilb").items():
                ours[kind].append(secs)
            for kind, secs in _round(octavia, f"127.72.{i}.10", f"127.73.{i}.1",
                                     "noop_driver", push=agent.update_loadbalancer_status
                                     ).items():
                floor[kind].append(secs)
    figures = []
    for kind in KINDS:
        base = summarize(kind, "s", floor[kind])
        fig = summarize(f"{kind} create → ACTIVE", "s", ours[kind],
                        compared_with="noop_driver + pushed status",
                        baseline_median=base.median)
        if kind == "member":
            fig.target = "p50 ≤ 0.35 s"
        figures.append(fig)
    return figures
