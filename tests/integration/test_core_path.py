"""The core path end to end: Octavia API → provider driver → RabbitMQ → worker → emulator.

Everything is real: Octavia's API (gunicorn) and driver-agent from PyPI with our provider
loaded through its entry point, two ``octavia-loxilb-worker`` processes locking through Redis
and keeping state in MariaDB, one emulated LoxiLB node forwarding real traffic on loopback,
and backend servers that answer with their names.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rig.backends import TcpBackend, UdpBackend, distribution
from rig.octavia_api import ApiError, Emulator, Octavia, rule_writes

_subnets = itertools.count(1)
_SECOND_OCTET = 100 + os.getpid() % 100
"""Per-process address space, so concurrent runs on one machine never collide."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rig.stack import LocalStack

    with LocalStack(tmp_path_factory.mktemp("stack"), workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def emulator(stack: Any) -> Emulator:
    return Emulator(stack.emulator_url)


@pytest.fixture
def net() -> tuple[str, str]:
    """A fresh (VIP, backend prefix) pair of loopback addresses for one test."""
    n = next(_subnets)
    return f"127.{_SECOND_OCTET}.{n}.10", f"127.{_SECOND_OCTET}.{100 + n}."


@pytest.fixture
def backends(net: tuple[str, str]) -> Iterator[list[TcpBackend]]:
    """Twenty-five TCP backends on port 8080 of the test's backend prefix."""
    started = [TcpBackend(f"{net[1]}{i}", 8080, f"b{i}").start() for i in range(1, 26)]
    yield started
    for b in started:
        b.stop()


def _dump_logs(stack: Any) -> str:
    return str(stack.logs_tail(60))


def test_cli_lb_listener_pool_three_members_and_monitor(stack: Any, emulator: Emulator,
                                                        net: tuple[str, str],
                                                        backends: list[TcpBackend]) -> None:
    """Issue 3 test 1, driven through the ``openstack loadbalancer`` CLI."""
    from rig.clients import Cli

    vip, prefix = net
    with Cli(stack.api_url) as cli:
        lb = cli("loadbalancer", "create", "--name", "cli-lb", "--provider", "loxilb",
                 "--vip-subnet-id", "6d0d3b1e-2f7a-4d8b-9a53-1c1b2f0e7a11",
                 "--vip-address", vip, "--wait")
        assert lb["provisioning_status"] == "ACTIVE", _dump_logs(stack)
        lsn = cli("loadbalancer", "listener", "create", "--name", "tcp", "--protocol", "TCP",
                  "--protocol-port", "80", "--wait", lb["id"])
        pool = cli("loadbalancer", "pool", "create", "--name", "p", "--protocol", "TCP",
                   "--lb-algorithm", "ROUND_ROBIN", "--listener", lsn["id"], "--wait")
        for i in (1, 2, 3):
            cli("loadbalancer", "member", "create", "--address", f"{prefix}{i}",
                "--protocol-port", "8080", "--wait", pool["id"])
        cli("loadbalancer", "healthmonitor", "create", "--type", "TCP", "--delay", "2",
            "--timeout", "1", "--max-retries", "2", "--wait", pool["id"])
        tree = cli("loadbalancer", "status", "show", lb["id"])
        statuses = _provisioning_statuses(tree)
        assert statuses and set(statuses) == {"ACTIVE"}, tree

        rules = emulator.rules(vip)
        assert len(rules) == 1, rules
        assert emulator.endpoints(vip, 80) == {(f"{prefix}{i}", 8080, 1) for i in (1, 2, 3)}
        counts = distribution(vip, 80, 30)
        assert set(counts) == {"b1", "b2", "b3"}, counts
        cli("loadbalancer", "delete", "--cascade", "--wait", lb["id"])
    assert emulator.rules(vip) == []


def _provisioning_statuses(tree: Any) -> list[str]:
    found: list[str] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == "provisioning_status":
                found.append(value)
            else:
                found.extend(_provisioning_statuses(value))
    elif isinstance(tree, list):
        for item in tree:
            found.extend(_provisioning_statuses(item))
    return found


def test_fully_populated_tcp_and_udp(octavia: Octavia, emulator: Emulator, stack: Any,
                                     net: tuple[str, str],
                                     backends: list[TcpBackend]) -> None:
    """Issue 3 test 2: one POST builds both listeners; every object ACTIVE; both carry traffic."""
    vip, prefix = net
    udp = [UdpBackend(f"{prefix}{i}", 5353, f"u{i}").start() for i in (1, 2)]
    try:
        body = {
            "listeners": [
                {"name": "tcp", "protocol": "TCP", "protocol_port": 80,
                 "default_pool": {
                     "name": "web", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
                     "members": [{"address": f"{prefix}{i}", "protocol_port": 8080}
                                 for i in (1, 2)],
                     "healthmonitor": {"type": "TCP", "delay": 2, "timeout": 1,
                                       "max_retries": 2}}},
                {"name": "udp", "protocol": "UDP", "protocol_port": 53,
                 "default_pool": {
                     "name": "dns", "protocol": "UDP", "lb_algorithm": "ROUND_ROBIN",
                     "members": [{"address": f"{prefix}{i}", "protocol_port": 5353}
                                 for i in (1, 2)]}},
            ],
        }
        lb = octavia.create_lb(vip, **body)
        tree = octavia.request("GET", f"/lbaas/loadbalancers/{lb['id']}/status")
        statuses = _provisioning_statuses(tree)
        assert len(statuses) >= 1 + 2 + 2 + 4 + 1, tree
        assert set(statuses) == {"ACTIVE"}, tree
        assert set(distribution(vip, 80, 10)) == {"b1", "b2"}
        assert set(distribution(vip, 53, 10, protocol="udp")) == {"u1", "u2"}
        assert {r["serviceArguments"]["protocol"] for r in emulator.rules(vip)} == {"tcp", "udp"}
        octavia.request("DELETE", f"/lbaas/loadbalancers/{lb['id']}?cascade=true")
        octavia.wait_gone(f"/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    finally:
        for b in udp:
            b.stop()


def _lb_with_pool(octavia: Octavia, vip: str, algorithm: str = "ROUND_ROBIN") -> tuple[str, str]:
    lb = octavia.create_lb(vip)
    lsn = octavia.create_listener(lb["id"], "TCP", 80)
    pool = octavia.create_pool(lb["id"], lsn["id"], "TCP", algorithm)
    return lb["id"], pool["id"]


def test_member_churn_one_write_per_operation(octavia: Octavia, emulator: Emulator,
                                              net: tuple[str, str],
                                              backends: list[TcpBackend]) -> None:
    """Issue 3 test 3: add 10, remove 5, change weights; one rule write each, no rule DELETE."""
    vip, prefix = net
    lb_id, pool_id = _lb_with_pool(octavia, vip)
    members: dict[str, str] = {}
    for i in range(1, 11):
        emulator.clear_calls()
        m = octavia.create_member(lb_id, pool_id, f"{prefix}{i}", 8080)
        members[f"b{i}"] = m["id"]
        assert rule_writes(emulator.calls()) == (1, 0), emulator.calls()
    assert len(emulator.endpoints(vip, 80)) == 10
    assert set(distribution(vip, 80, 40)) == set(members)

    for i in range(1, 6):
        emulator.clear_calls()
        octavia.request("DELETE", f"/lbaas/pools/{pool_id}/members/{members.pop(f'b{i}')}")
        octavia.wait_mutable(lb_id)
        assert rule_writes(emulator.calls()) == (1, 0), emulator.calls()
    assert {ip for ip, _, _ in emulator.endpoints(vip, 80)} == {
        f"{prefix}{i}" for i in range(6, 11)}
    assert set(distribution(vip, 80, 30)) == set(members)

    emulator.clear_calls()
    octavia.update(f"/lbaas/pools/{pool_id}/members/{members['b6']}", "member", weight=50)
    octavia.wait_mutable(lb_id)
    assert rule_writes(emulator.calls()) == (1, 0), emulator.calls()
    weights = {ip: w for ip, _, w in emulator.endpoints(vip, 80)}
    assert weights[f"{prefix}6"] > max(w for ip, w in weights.items() if ip != f"{prefix}6")
    counts = distribution(vip, 80, 60)
    assert counts.most_common(1)[0][0] == "b6", counts


def test_member_batch_update(octavia: Octavia, emulator: Emulator, net: tuple[str, str],
                             backends: list[TcpBackend]) -> None:
    """Issue 3 test 4: batch 3 → 20 → 5; endpoints equal exactly; removed members gone."""
    vip, prefix = net
    lb_id, pool_id = _lb_with_pool(octavia, vip)
    for size in (3, 20, 5):
        wanted = [{"address": f"{prefix}{i}", "protocol_port": 8080} for i in range(1, size + 1)]
        octavia.request("PUT", f"/lbaas/pools/{pool_id}/members", {"members": wanted})
        octavia.wait_mutable(lb_id)
        listed = octavia.members(pool_id)
        assert sorted(m["address"] for m in listed) == sorted(w["address"] for w in wanted)
        assert {m["provisioning_status"] for m in listed} == {"ACTIVE"}
        assert {ip for ip, _, _ in emulator.endpoints(vip, 80)} == {
            w["address"] for w in wanted}
    assert set(distribution(vip, 80, 25)) == {f"b{i}" for i in range(1, 6)}


REJECTED_CALLS: list[tuple[str, str, str, dict[str, Any], str]] = [
    # (object, method, path template, body, option named in the message)
    ("listener", "POST", "/lbaas/listeners",
     {"listener": {"loadbalancer_id": "{lb}", "protocol": "TCP", "protocol_port": 81,
                   "connection_limit": 100}}, "connection_limit"),
    ("listener", "POST", "/lbaas/listeners",
     {"listener": {"loadbalancer_id": "{lb}", "protocol": "TCP", "protocol_port": 82,
                   "timeout_member_connect": 1234}}, "timeout_member_connect"),
    ("listener", "PUT", "/lbaas/listeners/{listener}",
     {"listener": {"connection_limit": 5}}, "connection_limit"),
    ("pool", "POST", "/lbaas/pools",
     {"pool": {"loadbalancer_id": "{lb}", "protocol": "PROXY",
               "lb_algorithm": "ROUND_ROBIN"}}, "PROXY"),
    ("pool", "POST", "/lbaas/pools",
     {"pool": {"loadbalancer_id": "{lb}", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
               "session_persistence": {"type": "APP_COOKIE", "cookie_name": "c"}}},
     "APP_COOKIE"),
    ("pool", "PUT", "/lbaas/pools/{pool}",
     {"pool": {"session_persistence": {"type": "HTTP_COOKIE"}}}, "HTTP_COOKIE"),
    ("member", "POST", "/lbaas/pools/{pool}/members",
     {"member": {"address": "127.99.0.1", "protocol_port": 80, "backup": True}}, "backup"),
    ("member", "PUT", "/lbaas/pools/{pool}/members/{member}",
     {"member": {"backup": True}}, "backup"),
    ("healthmonitor", "POST", "/lbaas/healthmonitors",
     {"healthmonitor": {"pool_id": "{pool}", "type": "HTTP", "delay": 2, "timeout": 1,
                        "max_retries": 2, "expected_codes": "202"}}, "expected_codes"),
    ("l7policy", "POST", "/lbaas/l7policies",
     {"l7policy": {"listener_id": "{listener}", "action": "REJECT"}}, "L7"),
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def test_gated_options_rejected_standalone(octavia: Octavia, emulator: Emulator,
                                           net: tuple[str, str],
                                           backends: list[TcpBackend]) -> None:
    """Issue 3 test 5: each unsupported option gets 501 naming it; nothing is left PENDING."""
    vip, prefix = net
    lb_id, pool_id = _lb_with_pool(octavia, vip)
    member = octavia.create_member(lb_id, pool_id, f"{prefix}1", 8080)
    listener_id = octavia.get(f"/lbaas/pools/{pool_id}", "pool")["listeners"][0]["id"]  # type: ignore[index]
    ids = {"lb": lb_id, "pool": pool_id, "listener": listener_id, "member": member["id"]}
    for kind, method, path, body, option in REJECTED_CALLS:
        error = octavia.rejected(method, _fill(path, ids), _fill(body, ids))
        assert error.status == 501, f"{kind} {method}: {error}"
        assert option in error.body, f"{kind} {method}: message does not name {option}: {error}"
        assert octavia.wait_mutable(lb_id)["provisioning_status"] == "ACTIVE"
    assert emulator.endpoints(vip, 80) == {(f"{prefix}1", 8080, 1)}


def test_failed_write_marks_only_the_member_error(octavia: Octavia, emulator: Emulator,
                                                  net: tuple[str, str],
                                                  backends: list[TcpBackend]) -> None:
    """Issue 3 test 6: LoxiLB rejects the write → member ERROR, LB and pool ACTIVE, recoverable."""
    vip, prefix = net
    lb_id, pool_id = _lb_with_pool(octavia, vip)
    octavia.create_member(lb_id, pool_id, f"{prefix}1", 8080)
    emulator.fail("POST", "/config/loadbalancer", 500, count=0)
    try:
        octavia.create_member(lb_id, pool_id, f"{prefix}2", 8080, status="ERROR")
    finally:
        emulator.clear_faults()
    assert octavia.wait_mutable(lb_id)["provisioning_status"] == "ACTIVE"
    assert octavia.wait(f"/lbaas/pools/{pool_id}", "pool")["provisioning_status"] == "ACTIVE"
    octavia.update(f"/lbaas/pools/{pool_id}", "pool", name="still-updatable")
    octavia.wait_mutable(lb_id)
    octavia.create_member(lb_id, pool_id, f"{prefix}3", 8080)
    assert {f"{prefix}1", f"{prefix}3"} <= {ip for ip, _, _ in emulator.endpoints(vip, 80)}
    assert {"b1", "b3"} <= set(distribution(vip, 80, 20))


def test_cascade_delete_and_reverse_order_delete(octavia: Octavia, emulator: Emulator,
                                                 net: tuple[str, str],
                                                 backends: list[TcpBackend]) -> None:
    """Issue 3 test 7: nothing left in Octavia or LoxiLB, by cascade and by plain deletes."""
    vip, prefix = net
    lb_id, pool_id = _lb_with_pool(octavia, vip)
    member = octavia.create_member(lb_id, pool_id, f"{prefix}1", 8080)
    monitor = octavia.create_monitor(lb_id, pool_id)
    listener_id = octavia.get(f"/lbaas/pools/{pool_id}", "pool")["listeners"][0]["id"]  # type: ignore[index]
    assert emulator.rules(vip)
    octavia.request("DELETE", f"/lbaas/loadbalancers/{lb_id}?cascade=true")
    octavia.wait_gone(f"/lbaas/loadbalancers/{lb_id}", "loadbalancer")
    for path, key in ((f"/lbaas/listeners/{listener_id}", "listener"),
                      (f"/lbaas/pools/{pool_id}", "pool"),
                      (f"/lbaas/healthmonitors/{monitor['id']}", "healthmonitor"),
                      (f"/lbaas/pools/{pool_id}/members/{member['id']}", "member")):
        assert octavia.get(path, key) is None, path
    assert emulator.rules(vip) == []

    vip2 = vip.rsplit(".", 1)[0] + ".20"
    lb_id, pool_id = _lb_with_pool(octavia, vip2)
    member = octavia.create_member(lb_id, pool_id, f"{prefix}2", 8080)
    monitor = octavia.create_monitor(lb_id, pool_id)
    listener_id = octavia.get(f"/lbaas/pools/{pool_id}", "pool")["listeners"][0]["id"]  # type: ignore[index]
    for path, key in ((f"/lbaas/healthmonitors/{monitor['id']}", "healthmonitor"),
                      (f"/lbaas/pools/{pool_id}/members/{member['id']}", "member"),
                      (f"/lbaas/pools/{pool_id}", "pool"),
                      (f"/lbaas/listeners/{listener_id}", "listener")):
        octavia.request("DELETE", path)
        octavia.wait_mutable(lb_id)
        assert octavia.get(path, key) is None, path
    assert emulator.rules(vip2) == []
    octavia.request("DELETE", f"/lbaas/loadbalancers/{lb_id}")
    octavia.wait_gone(f"/lbaas/loadbalancers/{lb_id}", "loadbalancer")
    assert emulator.rules(vip2) == []


def test_concurrent_member_creates_two_workers(octavia: Octavia, emulator: Emulator,
                                               stack: Any, net: tuple[str, str],
                                               backends: list[TcpBackend]) -> None:
    """Issue 3 test 8: 20 clients add members at once to one LB served by two workers."""
    assert len(stack.workers) == 2 and all(w.poll() is None for w in stack.workers)
    vip, prefix = net
    lb_id, pool_id = _lb_with_pool(octavia, vip)
    created: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def add(i: int) -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                m = octavia.create(f"/lbaas/pools/{pool_id}/members", "member",
                                   address=f"{prefix}{i}", protocol_port=8080)
                with lock:
                    created.append(m["id"])
                return
            except ApiError as exc:
                if exc.status != 409 or time.monotonic() > deadline:
                    errors.append(exc)
                    return
                time.sleep(0.02)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(1, 21)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    octavia.wait_mutable(lb_id)
    for member_id in created:
        octavia.wait(f"/lbaas/pools/{pool_id}/members/{member_id}", "member")
    assert {ip for ip, _, _ in emulator.endpoints(vip, 80)} == {
        f"{prefix}{i}" for i in range(1, 21)}


def test_failover_reapplies_and_reports_active_only_when_verified(
        octavia: Octavia, emulator: Emulator, net: tuple[str, str],
        backends: list[TcpBackend]) -> None:
    """Failover re-applies the LB onto its group; ACTIVE only once LoxiLB verifiably holds it."""
    vip, prefix = net
    lb_id, pool_id = _lb_with_pool(octavia, vip)
    octavia.create_member(lb_id, pool_id, f"{prefix}1", 8080)
    octavia.create_member(lb_id, pool_id, f"{prefix}2", 8080)
    wanted = {(f"{prefix}{i}", 8080, 1) for i in (1, 2)}

    for rule in emulator.rules(vip):
        args = rule["serviceArguments"]
        emulator.delete_rule(vip, args["port"], args["protocol"])
    assert emulator.rules(vip) == []
    emulator.fail("POST", "/config/loadbalancer", 500, count=0)
    try:
        octavia.request("PUT", f"/lbaas/loadbalancers/{lb_id}/failover")
        assert octavia.wait(f"/lbaas/loadbalancers/{lb_id}", "loadbalancer",
                            "ERROR")["provisioning_status"] == "ERROR"
    finally:
        emulator.clear_faults()
    assert emulator.rules(vip) == []

    octavia.request("PUT", f"/lbaas/loadbalancers/{lb_id}/failover")
    octavia.wait_mutable(lb_id)
    assert emulator.endpoints(vip, 80) == wanted
    assert set(distribution(vip, 80, 10)) == {"b1", "b2"}
