"""Octavia monitor types as LoxiLB probes, against the emulator with real backends.

Each case translates a pool with two loopback backends and a monitor, converges it onto an
in-process emulator (fast probe and rule-sync timings), and reads the node the way the health
poller does (``NodeView`` + ``observe``): both members healthy; one backend stopped → its
member unhealthy and traffic goes only to the other; started again → healthy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.transport import NodeConfig
from octavia_loxilb.reconcile.apply import Reconciler
from octavia_loxilb.reconcile.translate import translate
from octavia_loxilb.worker.health import NodeView, observe
from rig.backends import TcpBackend, UdpBackend, distribution
from tests.conftest import EmulatorFactory
from tests.unit.test_translate import hm, listener, member, pool, tree

_OCTET = 100 + (os.getpid() + 53) % 100


@pytest.fixture
def fast_node(emulator_factory: EmulatorFactory) -> Iterator[tuple[Emulator, LoxiLBClient]]:
    node = emulator_factory(probe_tick=0.2, rule_sync_interval=0.2)
    with LoxiLBClient(NodeConfig(node.base_url, retries=0, timeout_read=10)) as api:
        yield node, api


def health(api: LoxiLBClient, desired: Any) -> dict[str, bool]:
    observed, missing = observe(desired, [NodeView.read(api)])
    assert not missing
    return dict(observed.members)


def wait_health(api: LoxiLBClient, desired: Any, want: dict[str, bool]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if health(api, desired) == want:
            return
        time.sleep(0.1)
    assert health(api, desired) == want


CASES = [
    ("TCP", "TCP", {}),
    ("HTTP", "TCP", {"url_path": "/healthz", "http_method": "HEAD"}),
    ("UDP-CONNECT", "UDP", {}),
]


@pytest.mark.parametrize(("kind", "protocol", "fields"), CASES, ids=[c[0] for c in CASES])
def test_monitor_marks_a_stopped_backend_unhealthy_and_traffic_avoids_it(
        fast_node: tuple[Emulator, LoxiLBClient], kind: str, protocol: str,
        fields: dict[str, Any]) -> None:
    _, api = fast_node
    case = CASES.index(next(c for c in CASES if c[0] == kind))
    vip, prefix = f"127.{_OCTET}.{10 + case}.10", f"127.{_OCTET}.{20 + case}."
    kind_cls = UdpBackend if protocol == "UDP" else TcpBackend
    backends = [kind_cls(f"{prefix}{i}", 8080, f"b{i}").start() for i in (1, 2)]
    try:
        members = [member(i, address=f"{prefix}{i}") for i in (1, 2)]
        p = pool(members=members, protocol=protocol,
                 healthmonitor=hm(type=kind, delay=1, max_retries=1, max_retries_down=1,
                                  **fields))
        lb = tree([listener(default_pool=p, protocol=protocol)], [p], vip_address=vip)
        desired = translate(lb)
        assert Reconciler([api]).converge(desired).verified
        probes = {pr.name: pr for pr in api.list_endpoint_probes()}
        assert {pr.probe_type for pr in probes.values()} == {
            {"TCP": "tcp", "HTTP": "http", "UDP-CONNECT": "udp"}[kind]}
        wait_health(api, desired, {"m1": True, "m2": True})

        backends[1].stop()
        wait_health(api, desired, {"m1": True, "m2": False})
        deadline = time.monotonic() + 10  # the rule follows the probe on its next sync
        while set(distribution(vip, 80, 6, protocol=protocol.lower(), timeout=1)) != {"b1"}:
            assert time.monotonic() < deadline, "traffic still reaches the stopped backend"
        assert set(distribution(vip, 80, 12, protocol=protocol.lower())) == {"b1"}

        backends[1].start()
        wait_health(api, desired, {"m1": True, "m2": True})
    finally:
        for b in backends:
            b.stop()
