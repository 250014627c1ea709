"""LoxiLB calls per Octavia operation, from the emulator's call log.

Set-up: ``rig.stack.LocalStack`` (one worker, one emulated LoxiLB node). One load balancer
is taken through a fixed sequence of operations through the Octavia API; before each, the
emulator's call log is cleared and its rules read, and after it (once the load balancer is
ACTIVE again, or gone) the log is read and the rules compared. For every operation it
counts the writes (POST/DELETE of LoxiLB rules and endpoint probes), the reads (GETs) and
the rule DELETEs, and compares the writes with the number of rules the operation actually
changed (created, deleted or altered), which is the least any driver could do. Only the
operation's own window is counted; reads made by the worker's periodic work in that window
(if any) are counted too. Each operation's calls are written to
``bench/results/calls_per_op-log.json``.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.report import Figure
from rig.octavia_api import ANY_SUBNET, Emulator, Octavia

LOG_PATH = Path("bench/results/calls_per_op-log.json")
"""Each operation's calls (method and path), for reading what a count is made of."""

NO_DELETE_TARGET = {"member create", "member update (weight)", "member update (admin down)",
                    "pool update (algorithm)", "member batch update"}
"""Operations that must change rules in place: no rule may be deleted."""


def _rule_map(emulator: Emulator) -> dict[str, str]:
    rules = {}
    for rule in emulator.rules():
        svc = rule["serviceArguments"]
        key = f"{svc['externalIP']}:{svc['port']}/{svc['protocol']}"
        rules[key] = json.dumps(rule, sort_keys=True)
    return rules


def _changed(before: dict[str, str], after: dict[str, str]) -> int:
    return sum(1 for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _counts(calls: list[dict[str, Any]]) -> tuple[int, int, int, int]:
    """(rule writes, probe writes, reads, rule deletes) in a call log."""
    rule_writes = sum(1 for c in calls if c["method"] in ("POST", "DELETE")
                      and "/config/loadbalancer" in c["path"])
    probe_writes = sum(1 for c in calls if c["method"] in ("POST", "DELETE")
                       and "/config/endpoint" in c["path"])
    reads = sum(1 for c in calls if c["method"] == "GET")
    deletes = sum(1 for c in calls if c["method"] == "DELETE"
                  and "/config/loadbalancer/" in c["path"])
    return rule_writes, probe_writes, reads, deletes


def run() -> list[Figure]:
    """Writes (against rules changed), reads and rule deletes per operation."""
    from rig.clients import sdk_connection
    from rig.stack import LocalStack

    rows: list[tuple[str, int, int, int, int, int]] = []
    with LocalStack(tempfile.mkdtemp(prefix="bench-calls-")) as stack:
        octavia = Octavia(sdk_connection(stack.api_url))
        emulator = Emulator(stack.emulator_url)
        state: dict[str, Any] = {}
        log: dict[str, list[str]] = {}

        def measure(name: str, action: Callable[[], None]) -> None:
            before = _rule_map(emulator)
            emulator.clear_calls()
            action()
            calls = emulator.calls()
            writes, probe_writes, reads, deletes = _counts(calls)
            rows.append((name, writes, probe_writes, reads, deletes,
                         _changed(before, _rule_map(emulator))))
            log[name] = [f"{c['method']} {c['path']}" for c in calls]

        def lb_active() -> None:
            octavia.wait_mutable(state["lb"])

        def create_lb() -> None:
            lb = octavia.create("/lbaas/loadbalancers", "loadbalancer",
                                vip_address="127.76.0.10", vip_subnet_id=ANY_SUBNET,
                                provider="loxilb", name="bench-calls")
            state["lb"] = lb["id"]
            lb_active()

        def create_listener(port: int, key: str) -> Callable[[], None]:
            def action() -> None:
                state[key] = octavia.create("/lbaas/listeners", "listener",
                                            loadbalancer_id=state["lb"], protocol="TCP",
                                            protocol_port=port)["id"]
                lb_active()
            return action

        def create_pool(listener: str, key: str) -> Callable[[], None]:
            def action() -> None:
                state[key] = octavia.create("/lbaas/pools", "pool", listener_id=state[listener],
                                            protocol="TCP", lb_algorithm="ROUND_ROBIN")["id"]
                lb_active()
            return action

        def create_member(pool: str, address: str, key: str) -> Callable[[], None]:
            def action() -> None:
                state[key] = octavia.create(f"/lbaas/pools/{state[pool]}/members", "member",
                                            address=address, protocol_port=8080)["id"]
                lb_active()
            return action

        def put(path: Callable[[], str], key: str, **body: Any) -> Callable[[], None]:
            def action() -> None:
                octavia.update(path(), key, **body)
                lb_active()
            return action

        def delete(path: Callable[[], str]) -> Callable[[], None]:
            def action() -> None:
                octavia.request("DELETE", path())
                lb_active()
            return action

        def member_path(key: str = "m1") -> str:
            return f"/lbaas/pools/{state['pool']}/members/{state[key]}"

        def batch() -> None:
            members = [{"address": f"127.77.0.{i}", "protocol_port": 8080} for i in (1, 3, 4)]
            octavia.request("PUT", f"/lbaas/pools/{state['pool']}/members",
                            {"members": members})
            lb_active()

        def create_monitor() -> None:
            state["hm"] = octavia.create("/lbaas/healthmonitors", "healthmonitor",
                                         pool_id=state["pool"], type="TCP", delay=2,
                                         timeout=1, max_retries=2)["id"]
            lb_active()

        def cascade() -> None:
            path = f"/lbaas/loadbalancers/{state['lb']}"
            octavia.request("DELETE", f"{path}?cascade=true")
            octavia.wait_gone(path, "loadbalancer")

        def first_member_id() -> None:
            found = octavia.members(state["pool"])
            state["m1"] = sorted(found, key=lambda m: m["address"])[0]["id"]

        steps: list[tuple[str, Callable[[], None]]] = [
            ("LB create", create_lb),
            ("listener create", create_listener(80, "listener")),
            ("pool create", create_pool("listener", "pool")),
            ("member create", create_member("pool", "127.77.0.1", "m1")),
            ("member create (second)", create_member("pool", "127.77.0.2", "m2")),
            ("member update (weight)", put(member_path, "member", weight=5)),
            ("member update (admin down)", put(member_path, "member", admin_state_up=False)),
            ("pool update (algorithm)", put(lambda: f"/lbaas/pools/{state['pool']}", "pool",
                                            lb_algorithm="SOURCE_IP")),
            ("listener update (idle timeout)", put(
                lambda: f"/lbaas/listeners/{state['listener']}", "listener",
                timeout_client_data=30000)),
            ("member batch update", batch),
            ("HM create", create_monitor),
            ("HM delete", delete(lambda: f"/lbaas/healthmonitors/{state['hm']}")),
            ("member delete", delete(lambda: member_path("m1"))),
            ("listener create (second)", create_listener(443, "listener2")),
            ("pool create (second)", create_pool("listener2", "pool2")),
            ("member create (second pool)", create_member("pool2", "127.77.1.1", "m3")),
            ("pool delete", delete(lambda: f"/lbaas/pools/{state['pool2']}")),
            ("listener delete", delete(lambda: f"/lbaas/listeners/{state['listener2']}")),
            ("LB cascade delete", cascade),
        ]
        for name, action in steps:
            measure(name, action)
            if name == "member batch update":
                first_member_id()
            time.sleep(0.05)
    LOG_PATH.parent.mkdir(parents=True, exist_ok=True)
    LOG_PATH.write_text(json.dumps(log, indent=1))
    figures = []
    for name, writes, probe_writes, reads, deletes, changed in rows:
        figures.append(Figure(f"LoxiLB rule writes: {name}", "calls", writes,
                              compared_with="rules changed", baseline_median=changed,
                              target="1 per changed rule"))
        if probe_writes:
            figures.append(Figure(f"LoxiLB probe writes: {name}", "calls", probe_writes))
        figures.append(Figure(f"LoxiLB reads: {name}", "calls", reads))
        figures.append(Figure(f"LoxiLB rule deletes: {name}", "calls", deletes,
                              target="0" if name in NO_DELETE_TARGET else ""))
    return figures
