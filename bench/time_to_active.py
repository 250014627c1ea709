"""Time from an Octavia API call to ACTIVE, for each object kind, through the real stack.

Set-up: ``rig.stack.LocalStack`` (Octavia API served by gunicorn, driver-agent, one
``octavia-loxilb-worker``, RabbitMQ, Redis, MariaDB, one emulated LoxiLB node). Each of 10
rounds creates a load balancer, a TCP listener, a ROUND_ROBIN pool, two members (one at a
time: 20 member samples) and a TCP health monitor, timing each from the POST until GET
shows ACTIVE (polled every 10 ms), then cascade-deletes the tree. Then 5 fully populated
creates (one POST: 2 listeners, each with a pool of 5 members and a monitor; timed until
the load balancer is ACTIVE) and 3 batch updates putting 32 members into an empty pool
(timed until the load balancer is ACTIVE again). 32 is the most one pool can hold: a
LoxiLB rule has 32 endpoint slots, and the capability gate refuses a batch of 100 with 501
before anything is cast. The comparison is Octavia's own ``noop_driver`` in the same run,
with the benchmark itself pushing ACTIVE through the driver-agent (octavia-lib's
``DriverLibrary``) as soon as the POST returns: the floor that Octavia + driver-agent set.
For the full create and the batch the floor's push names the load balancer, listeners and
pools only (the member ids are not in the POST's answer).
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from bench.report import Figure, summarize
from rig.octavia_api import ANY_SUBNET, Octavia

KINDS = ("loadbalancer", "listener", "pool", "member", "healthmonitor")
MEMBERS_PER_ROUND = 2
BATCH = 32
"""Members in one batch update: the most one pool can hold (a LoxiLB rule has 32 endpoint
slots; the capability gate refuses a batch of 100 with 501 before anything is cast)."""


def _timed_wait(octavia: Octavia, path: str, key: str, began: float) -> float:
    while True:
        obj = octavia.get(path, key)
        if obj is not None and obj["provisioning_status"] not in (
                "PENDING_CREATE", "PENDING_UPDATE"):
            assert obj["provisioning_status"] == "ACTIVE", obj
            return time.monotonic() - began
        time.sleep(0.01)


def _status(push: Any, lb_id: str, status: str = "ACTIVE", **kinds: list[str]) -> None:
    """The noop floor's status push: the load balancer and the given objects at once."""
    if push is None:
        return
    doc: dict[str, list[dict[str, str]]] = {
        "loadbalancers": [{"id": lb_id, "provisioning_status": status,
                           "operating_status": "ONLINE"}]}
    for kind, ids in kinds.items():
        doc[kind] = [{"id": i, "provisioning_status": status} for i in ids]
    push(doc)


def _round(octavia: Octavia, vip: str, member_net: str, provider: str,
           push: Any = None) -> dict[str, list[float]]:
    """One LB → listener → pool → members → monitor build; seconds to ACTIVE per kind."""
    out: dict[str, list[float]] = {k: [] for k in KINDS}
    began = time.monotonic()
    lb = octavia.create("/lbaas/loadbalancers", "loadbalancer", vip_address=vip,
                        vip_subnet_id=ANY_SUBNET, provider=provider, name="bench")
    lb_path = f"/lbaas/loadbalancers/{lb['id']}"
    _status(push, lb["id"])
    out["loadbalancer"].append(_timed_wait(octavia, lb_path, "loadbalancer", began))

    began = time.monotonic()
    lsn = octavia.create("/lbaas/listeners", "listener", loadbalancer_id=lb["id"],
                         protocol="TCP", protocol_port=80)
    _status(push, lb["id"], listeners=[lsn["id"]])
    out["listener"].append(
        _timed_wait(octavia, f"/lbaas/listeners/{lsn['id']}", "listener", began))
    _timed_wait(octavia, lb_path, "loadbalancer", began)

    began = time.monotonic()
    pool = octavia.create("/lbaas/pools", "pool", listener_id=lsn["id"], protocol="TCP",
                          lb_algorithm="ROUND_ROBIN")
    _status(push, lb["id"], listeners=[lsn["id"]], pools=[pool["id"]])
    out["pool"].append(_timed_wait(octavia, f"/lbaas/pools/{pool['id']}", "pool", began))
    _timed_wait(octavia, lb_path, "loadbalancer", began)

    for i in range(MEMBERS_PER_ROUND):
        began = time.monotonic()
        member = octavia.create(f"/lbaas/pools/{pool['id']}/members", "member",
                                address=f"{member_net}.{i + 1}", protocol_port=8080)
        _status(push, lb["id"], listeners=[lsn["id"]], pools=[pool["id"]],
                members=[member["id"]])
        out["member"].append(_timed_wait(
            octavia, f"/lbaas/pools/{pool['id']}/members/{member['id']}", "member", began))
        _timed_wait(octavia, lb_path, "loadbalancer", began)

    began = time.monotonic()
    hm = octavia.create("/lbaas/healthmonitors", "healthmonitor", pool_id=pool["id"],
                        type="TCP", delay=2, timeout=1, max_retries=2)
    _status(push, lb["id"], listeners=[lsn["id"]], pools=[pool["id"]],
            healthmonitors=[hm["id"]])
    out["healthmonitor"].append(_timed_wait(
        octavia, f"/lbaas/healthmonitors/{hm['id']}", "healthmonitor", began))
    _timed_wait(octavia, lb_path, "loadbalancer", began)

    _delete(octavia, lb["id"], push)
    return out


def _delete(octavia: Octavia, lb_id: str, push: Any) -> None:
    lb_path = f"/lbaas/loadbalancers/{lb_id}"
    octavia.request("DELETE", f"{lb_path}?cascade=true")
    _status(push, lb_id, "DELETED")
    octavia.wait_gone(lb_path, "loadbalancer")


def _full_create(octavia: Octavia, vip: str, member_net: str, provider: str,
                 push: Any = None) -> float:
    """One POST with 2 listeners, each with a pool of 5 members and a TCP monitor."""
    listeners = []
    for port in (80, 443):
        members = [{"address": f"{member_net}.{i + 1}", "protocol_port": 8000 + port}
                   for i in range(5)]
        listeners.append({
            "protocol": "TCP", "protocol_port": port,
            "default_pool": {"name": f"pool-{port}", "protocol": "TCP",
                             "lb_algorithm": "ROUND_ROBIN", "members": members,
                             "healthmonitor": {"type": "TCP", "delay": 2, "timeout": 1,
                                               "max_retries": 2}}})
    began = time.monotonic()
    lb = octavia.create("/lbaas/loadbalancers", "loadbalancer", vip_address=vip,
                        vip_subnet_id=ANY_SUBNET, provider=provider, name="bench-full",
                        listeners=listeners)
    _status(push, lb["id"], listeners=[x["id"] for x in lb.get("listeners", [])],
            pools=[x["id"] for x in lb.get("pools", [])])
    seconds = _timed_wait(octavia, f"/lbaas/loadbalancers/{lb['id']}", "loadbalancer", began)
    _delete(octavia, lb["id"], push)
    return seconds


def _batch_update(octavia: Octavia, vip: str, member_net: str, provider: str,
                  push: Any = None) -> float:
    """Replace an empty pool's members with ``BATCH`` members in one PUT."""
    lb = octavia.create("/lbaas/loadbalancers", "loadbalancer", vip_address=vip,
                        vip_subnet_id=ANY_SUBNET, provider=provider, name="bench-batch",
                        listeners=[{"protocol": "TCP", "protocol_port": 80,
                                    "default_pool": {"name": "batch", "protocol": "TCP",
                                                     "lb_algorithm": "ROUND_ROBIN"}}])
    lb_path = f"/lbaas/loadbalancers/{lb['id']}"
    pool_id = lb["pools"][0]["id"]
    _status(push, lb["id"], listeners=[x["id"] for x in lb["listeners"]], pools=[pool_id])
    _timed_wait(octavia, lb_path, "loadbalancer", time.monotonic())
    members = [{"address": f"{member_net}.{i // 200}.{i % 200 + 1}", "protocol_port": 8080}
               for i in range(BATCH)]
    began = time.monotonic()
    octavia.request("PUT", f"/lbaas/pools/{pool_id}/members", {"members": members})
    _status(push, lb["id"], pools=[pool_id])
    seconds = _timed_wait(octavia, lb_path, "loadbalancer", began)
    _delete(octavia, lb["id"], push)
    return seconds


def run(rounds: int = 10, full: int = 5, batches: int = 3) -> list[Figure]:
    """Median/p90 seconds to ACTIVE per kind, ours against the noop floor."""
    from rig.clients import driver_library, sdk_connection
    from rig.stack import LocalStack

    ours: dict[str, list[float]] = {k: [] for k in (*KINDS, "full", "batch")}
    floor: dict[str, list[float]] = {k: [] for k in (*KINDS, "full", "batch")}
    with LocalStack(tempfile.mkdtemp(prefix="bench-tta-"),
                    providers={"loxilb": "LoxiLB", "noop_driver": "noop"}) as stack:
        assert stack.rig is not None
        octavia = Octavia(sdk_connection(stack.api_url))
        agent = driver_library(stack.rig)
        for i in range(rounds):
            for kind, secs in _round(octavia, f"127.70.{i}.10", f"127.71.{i}",
                                     "loxilb").items():
                ours[kind] += secs
            for kind, secs in _round(octavia, f"127.72.{i}.10", f"127.73.{i}",
                                     "noop_driver", push=agent.update_loadbalancer_status
                                     ).items():
                floor[kind] += secs
        for i in range(full):
            ours["full"].append(_full_create(octavia, f"127.70.{100 + i}.10",
                                             f"127.71.{100 + i}", "loxilb"))
            floor["full"].append(_full_create(octavia, f"127.72.{100 + i}.10",
                                              f"127.73.{100 + i}", "noop_driver",
                                              push=agent.update_loadbalancer_status))
        for i in range(batches):
            ours["batch"].append(_batch_update(octavia, f"127.70.{200 + i}.10",
                                               f"127.{80 + i}", "loxilb"))
            floor["batch"].append(_batch_update(octavia, f"127.72.{200 + i}.10",
                                                f"127.{90 + i}", "noop_driver",
                                                push=agent.update_loadbalancer_status))
    labels = {"full": "fully populated LB create (2 listeners, 2 pools, 10 members, "
                      "2 monitors) → ACTIVE",
              "batch": f"batch update of {BATCH} members → LB ACTIVE"}
    figures = []
    for kind in (*KINDS, "full", "batch"):
        base = summarize(kind, "s", floor[kind])
        fig = summarize(labels.get(kind, f"{kind} create → ACTIVE"), "s", ours[kind],
                        compared_with="noop_driver + pushed status",
                        baseline_median=base.median)
        if kind == "member":
            fig.target = "p50 ≤ 0.35 s"
        figures.append(fig)
    return figures
