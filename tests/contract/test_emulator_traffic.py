"""The control plane driving the real data path and prober on loopback (DESIGN §7)."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import EmulatorFactory
from tests.contract.conftest import Raw, rule_body


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request.recv(1024)
        self.request.sendall(b"echo:" + data)


@pytest.fixture
def backend() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_rule_forwards_and_health_sync_marks_dead_member(
    emulator_factory: EmulatorFactory, backend: int
) -> None:
    """§2.10: with the data path on, traffic flows and a dead member turns inactive."""
    raw = Raw(emulator_factory(datapath=True, probe_tick=0.05, rule_sync_interval=60))
    vip_port, dead = _free_port(), _free_port()
    body = rule_body(
        ("127.0.0.1", backend),
        ("127.0.0.1", dead),
        vip="127.0.0.77",
        port=vip_port,
        monitor=True,  # protocol-default probes: TCP connect to each targetPort
    )
    assert raw.post("/config/loadbalancer", body).ok
    raw.hook("POST", "sync")
    states = {e["targetPort"]: e["state"] for e in raw.rule(vip_port)["endpoints"]}
    assert states == {backend: "active", dead: "inactive"}
    assert raw.hosts()[f"127.0.0.1_tcp_{dead}"]["currState"] == "nok"
    for _ in range(3):
        with socket.create_connection(("127.0.0.77", vip_port), timeout=5) as conn:
            conn.sendall(b"hi")
            assert conn.recv(1024) == b"echo:hi"
    counter = next(
        e["counter"] for e in raw.rule(vip_port)["endpoints"] if e["targetPort"] == backend
    )
    assert counter != "0:0"
    raw.delete(f"/config/loadbalancer/externalipaddress/127.0.0.77/port/{vip_port}/protocol/tcp")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.77", vip_port), timeout=2).close()
