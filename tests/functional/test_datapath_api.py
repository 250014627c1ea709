"""End to end through the emulator's REST API: rules forward real traffic, probes flip state."""

from __future__ import annotations

import collections
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from octavia_loxilb.emulator.server import Emulator
from tests.functional.backends import LoopThread, TcpBackend, UdpBackend, free_port

EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture
def node(emulator_factory: EmulatorFactory) -> Emulator:
    # No automatic sweeps or syncs: the test drives them through POST /_emulator/sync.
    return emulator_factory(datapath=True, probe_tick=3600, rule_sync_interval=3600)


def _identity(vip: str, port: int) -> str:
    with socket.create_connection((vip, port), timeout=3) as sock:
        return sock.makefile().readline().strip()


def _post_rule(node: Emulator, body: dict[str, Any]) -> None:
    reply = requests.post(f"{node.url}/config/loadbalancer", json=body, timeout=5)
    assert reply.status_code == 200, reply.text


def _endpoints(node: Emulator, vip: str) -> dict[int, dict[str, Any]]:
    rules = requests.get(f"{node.url}/config/loadbalancer/all", timeout=5).json()["lbAttr"]
    (rule,) = [r for r in rules if r["serviceArguments"]["externalIP"] == vip]
    return {ep["targetPort"]: ep for ep in rule["endpoints"]}


def _sync(node: Emulator) -> None:
    reply = requests.post(f"{node.base_url}/_emulator/sync", json={}, timeout=30)
    assert reply.status_code == 200, reply.text


def test_rule_forwards_counts_and_follows_probe_state(
    node: Emulator, loop_thread: LoopThread
) -> None:
    b0 = loop_thread.run(TcpBackend("b0").start())
    b1 = loop_thread.run(TcpBackend("b1").start())
    vip = "127.66.3.1"
    port = free_port(vip)
    _post_rule(
        node,
        {
            "serviceArguments": {
                "externalIP": vip,
                "port": port,
                "protocol": "tcp",
                "name": "lsnr-e2e",
                "monitor": True,
                "probeRetries": 1,
            },
            "endpoints": [
                {"endpointIP": "127.0.0.1", "targetPort": b.port, "weight": 1} for b in (b0, b1)
            ],
        },
    )
    _sync(node)
    names = collections.Counter(_identity(vip, port) for _ in range(4))
    assert names == {"b0": 2, "b1": 2}

    endpoints = _endpoints(node, vip)
    for backend in (b0, b1):
        packets, nbytes = map(int, endpoints[backend.port]["counter"].split(":"))
        assert packets > 0 and nbytes >= 2 * len("bX\n")
        assert endpoints[backend.port]["state"] == "active"

    with socket.create_connection((vip, port), timeout=3) as held:
        held.makefile().readline()
        ct = requests.get(f"{node.url}/config/conntrack/all", timeout=5).json()["ctAttr"]
        assert [e["servName"] for e in ct] == ["lsnr-e2e"]
        assert ct[0]["destinationIP"] == vip

    loop_thread.run(b0.stop())
    _sync(node)
    assert _endpoints(node, vip)[b0.port]["state"] == "inactive"
    assert {_identity(vip, port) for _ in range(3)} == {"b1"}

    loop_thread.run(b0.start())
    _sync(node)
    assert _endpoints(node, vip)[b0.port]["state"] == "active"
    assert {_identity(vip, port) for _ in range(2)} == {"b0", "b1"}
    loop_thread.run(b0.stop())
    loop_thread.run(b1.stop())


def test_udp_rule_through_the_api_and_delete_unbinds(
    node: Emulator, loop_thread: LoopThread
) -> None:
    u0 = loop_thread.run(UdpBackend("u0").start())
    vip = "127.66.3.2"
    port = free_port(vip, socket.SOCK_DGRAM)
    _post_rule(
        node,
        {
            "serviceArguments": {"externalIP": vip, "port": port, "protocol": "udp"},
            "endpoints": [{"endpointIP": "127.0.0.1", "targetPort": u0.port, "weight": 1}],
        },
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(3)
        client.connect((vip, port))
        client.send(b"ping")
        assert client.recv(100) == b"u0:ping"
    reply = requests.delete(
        f"{node.url}/config/loadbalancer/externalipaddress/{vip}/port/{port}/protocol/udp",
        timeout=5,
    )
    assert reply.status_code == 200, reply.text
    # With the rule gone the VIP port is free again.
    deadline = time.monotonic() + 3
    while True:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind((vip, port))
            break
        except OSError:
            assert time.monotonic() < deadline, "VIP port still bound after DELETE"
            time.sleep(0.05)
    loop_thread.run(u0.stop())


def test_backup_instance_stops_serving_its_vip(node: Emulator, loop_thread: LoopThread) -> None:
    b0 = loop_thread.run(TcpBackend("b0").start())
    vip = "127.66.3.3"
    port = free_port(vip)
    _post_rule(
        node,
        {
            "serviceArguments": {
                "externalIP": vip,
                "port": port,
                "protocol": "tcp",
                "name": "lsnr:inst-e2e",
            },
            "endpoints": [{"endpointIP": "127.0.0.1", "targetPort": b0.port, "weight": 1}],
        },
    )
    assert _identity(vip, port) == "b0"
    state = {"instance": "inst-e2e", "state": "BACKUP", "vip": vip}
    assert requests.post(f"{node.url}/config/cistate", json=state, timeout=5).status_code == 200
    with pytest.raises(ConnectionRefusedError):
        _identity(vip, port)
    state["state"] = "MASTER"
    assert requests.post(f"{node.url}/config/cistate", json=state, timeout=5).status_code == 200
    deadline = time.monotonic() + 3
    while True:
        try:
            assert _identity(vip, port) == "b0"
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "VIP not served again after MASTER"
            time.sleep(0.05)
    loop_thread.run(b0.stop())
