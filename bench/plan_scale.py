"""Planning cost per load balancer as the fleet grows (pure: no I/O).

Set-up: N load balancers, each with 2 TCP listeners on its own VIP, each listener with a
ROUND_ROBIN pool of 10 members, built as the driver-agent returns them (octavia-lib data
models rendered to dicts). For each LB we time ``translate`` plus ``plan`` against two node
states: empty (a first converge: create everything) and converged (the steady state a
periodic resync sees: nothing to do). The node holds every LB's rules, as a shared LoxiLB
cluster does; like a resync, the benchmark reads them once and hands each plan its own
VIPs' rules (``partition_by_vip``, counted outside the per-LB time). Growth is shown by the
per-LB cost at 100, 1,000 and 10,000 LBs: flat means linear in total. The comparison is the
same planning at the smallest size.
"""

from __future__ import annotations

import time
from typing import Any

from octavia_lib.api.drivers import data_models as dm

from bench.report import Figure, summarize
from octavia_loxilb.reconcile import plan, translate
from octavia_loxilb.reconcile.desired import DesiredState
from octavia_loxilb.reconcile.plan import partition_by_vip

SIZES = (100, 1000, 10000)


def lb_tree(n: int) -> dict[str, Any]:
    """LB number ``n``: VIP 10.(n/250).(n%250).1, 2 listeners × 10 members."""
    vip = f"10.{n // 250}.{n % 250}.1"
    listeners, pools = [], []
    for port in (80, 443):
        members = [dm.Member(member_id=f"m{n}-{port}-{i}", address=f"172.16.{n % 250}.{i}",
                             protocol_port=8000 + i, weight=1) for i in range(10)]
        pool = dm.Pool(pool_id=f"p{n}-{port}", lb_algorithm="ROUND_ROBIN", protocol="TCP",
                       members=members)
        pools.append(pool)
        listeners.append(dm.Listener(listener_id=f"l{n}-{port}", protocol="TCP",
                                     protocol_port=port, timeout_client_data=50000,
                                     default_pool=pool, default_pool_id=pool.pool_id))
    lb = dm.LoadBalancer(loadbalancer_id=f"lb{n}", vip_address=vip, listeners=listeners,
                         pools=pools)
    tree: dict[str, Any] = lb.to_dict(recurse=True, render_unsets=True)
    return tree


def _measure(count: int) -> tuple[list[float], list[float]]:
    trees = [lb_tree(n) for n in range(count)]
    states: list[DesiredState] = [translate(t) for t in trees]
    by_vip = partition_by_vip(d.rule for s in states for d in s.rules)
    first, steady = [], []
    for tree in trees:
        began = time.perf_counter()
        desired = translate(tree)
        plan(desired, [], [], scope=desired.scope)
        first.append(time.perf_counter() - began)
    for tree in trees:
        began = time.perf_counter()
        desired = translate(tree)
        actual = [r for vip in desired.vips for r in by_vip.get(vip, [])]
        result = plan(desired, actual, [], scope=desired.scope)
        steady.append(time.perf_counter() - began)
        assert not result.writes, "a converged node must plan no writes"
    return first, steady


def run(sizes: tuple[int, ...] = SIZES) -> list[Figure]:
    figures: list[Figure] = []
    base_first = base_steady = None
    for size in sizes:
        first, steady = _measure(size)
        f = summarize(f"plan per LB, first converge, {size} LBs", "ms",
                      [x * 1000 for x in first], target="< 2 ms")
        s = summarize(f"plan per LB, converged node, {size} LBs", "ms",
                      [x * 1000 for x in steady], target="< 2 ms")
        if base_first is None:
            base_first, base_steady = f.median, s.median
        f.compared_with = s.compared_with = f"same at {sizes[0]} LBs"
        f.baseline_median, s.baseline_median = base_first, base_steady
        figures += [f, s]
    return figures
