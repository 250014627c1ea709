"""Listener statistics end to end: real traffic through the VIP moves the stats API.

The leader pushes statistics every 0.5 s. Bytes are LoxiLB's per-endpoint counter, which the
emulator counts in both directions; each request below is ``payload + "\\n"`` out and
``"b1 " + payload + "\\n"`` back, so ``bytes_in`` must move by the sum of both (the rule
documented in doc/health.md). The tolerance is 0: the emulator counts exactly the bytes it
proxies. After a LoxiLB restart (rules and counters wiped) and the rules' restoration, no
value ever goes back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rig.backends import TcpBackend, send_tcp
from rig.octavia_api import Emulator, Octavia

_SECOND_OCTET = 100 + (os.getpid() + 71) % 100
FAST_PERIODIC = {"health_interval": 0.5, "stats_interval": 0.5, "leader_retry_interval": 0.2}
STAT_KEYS = ("bytes_in", "bytes_out", "active_connections", "total_connections",
             "request_errors")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rig.stack import LocalStack

    with LocalStack(tmp_path_factory.mktemp("stack"), workers=1,
                    loxilb=FAST_PERIODIC) as running:
        yield running


def stats(octavia: Octavia, listener_id: str) -> dict[str, int]:
    found: dict[str, int] = octavia.request("GET", f"/lbaas/listeners/{listener_id}/stats")[
        "stats"]
    return found


class Watcher:
    """Samples the stats API and remembers every value, to check none ever goes back."""

    def __init__(self, octavia: Octavia, listener_id: str,
                 logs: Callable[[], object] = lambda: "") -> None:
        self.logs = logs
        self.octavia = octavia
        self.listener_id = listener_id
        self.samples: list[dict[str, int]] = []

    def sample(self) -> dict[str, int]:
        now = stats(self.octavia, self.listener_id)
        self.samples.append(now)
        return now

    def wait_for(self, key: str, at_least: int, timeout: float = 20) -> dict[str, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.sample()
            if now[key] >= at_least:
                return now
            time.sleep(0.25)
        raise AssertionError(f"{key} never reached {at_least}: {self.samples[-1]}\n"
                             f"{self.logs()}")

    def assert_monotonic(self) -> None:
        for key in ("bytes_in", "bytes_out", "total_connections", "request_errors"):
            values = [s[key] for s in self.samples]
            assert values == sorted(values), f"{key} went back: {values}"


def send(vip: str, n: int, payload: str) -> int:
    """Send ``n`` one-line requests; the bytes the data path carries (both directions)."""
    carried = 0
    for _ in range(n):
        reply = send_tcp(vip, 80, payload)
        assert reply.startswith("b1 ")
        carried += len(payload) + 1 + len(reply) + 1
    return carried


def test_traffic_moves_stats_and_they_survive_a_loxilb_restart(stack: Any,
                                                               octavia: Octavia) -> None:
    vip, prefix = f"127.{_SECOND_OCTET}.1.10", f"127.{_SECOND_OCTET}.101."
    backend = TcpBackend(f"{prefix}1", 8080, "b1").start()
    emulator = Emulator(stack.emulator_url)
    try:
        lb = octavia.create_lb(vip)
        lsn = octavia.create_listener(lb["id"], "TCP", 80)
        pool = octavia.create_pool(lb["id"], lsn["id"], "TCP")
        octavia.create_member(lb["id"], pool["id"], f"{prefix}1", 8080)
        watch = Watcher(octavia, lsn["id"], lambda: stack.logs_tail(80))
        before = watch.sample()
        assert set(STAT_KEYS) <= set(before)

        carried = send(vip, 20, "x" * 1000)
        first = watch.wait_for("bytes_in", before["bytes_in"] + carried)
        assert first["bytes_in"] == before["bytes_in"] + carried, "exact: emulator counts all"
        assert first["bytes_out"] == 0
        assert first["request_errors"] == 0
        assert first["total_connections"] <= 20, "flows shorter than a poll may be missed"

        emulator._call("POST", "/_emulator/restart")
        assert emulator.rules(vip) == []
        for _ in range(4):
            watch.sample()
            time.sleep(0.5)
        octavia.update(f"/lbaas/listeners/{lsn['id']}", "listener", name="restore")
        octavia.wait_mutable(lb["id"])
        assert emulator.rules(vip), "the listener's job restored its rule"

        more = send(vip, 10, "y" * 500)
        after = watch.wait_for("bytes_in", first["bytes_in"] + more)
        assert after["bytes_in"] == first["bytes_in"] + more
        watch.assert_monotonic()
        octavia.request("DELETE", f"/lbaas/loadbalancers/{lb['id']}?cascade=true")
        octavia.wait_gone(f"/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    finally:
        backend.stop()


def test_active_and_total_connections_follow_open_flows(stack: Any, octavia: Octavia) -> None:
    import socket

    vip, prefix = f"127.{_SECOND_OCTET}.2.10", f"127.{_SECOND_OCTET}.102."
    backend = TcpBackend(f"{prefix}1", 8080, "b1").start()
    held: list[socket.socket] = []
    try:
        lb = octavia.create_lb(vip)
        lsn = octavia.create_listener(lb["id"], "TCP", 80)
        pool = octavia.create_pool(lb["id"], lsn["id"], "TCP")
        octavia.create_member(lb["id"], pool["id"], f"{prefix}1", 8080)
        watch = Watcher(octavia, lsn["id"], lambda: stack.logs_tail(80))
        for _ in range(3):
            sock = socket.create_connection((vip, 80), timeout=5)
            sock.sendall(b"hold")  # no newline: the backend keeps the flow open
            held.append(sock)
        now = watch.wait_for("active_connections", 3)
        assert now["active_connections"] == 3
        watch.wait_for("total_connections", 3)
        for sock in held:
            sock.close()
        held.clear()
        deadline = time.monotonic() + 20
        while watch.sample()["active_connections"] and time.monotonic() < deadline:
            time.sleep(0.25)
        assert watch.samples[-1]["active_connections"] == 0
        assert watch.samples[-1]["total_connections"] == 3
        watch.assert_monotonic()
        octavia.request("DELETE", f"/lbaas/loadbalancers/{lb['id']}?cascade=true")
        octavia.wait_gone(f"/lbaas/loadbalancers/{lb['id']}", "loadbalancer")
    finally:
        for sock in held:
            sock.close()
        backend.stop()
