"""NIC hot-plug in the emulator: how an emulated appliance follows Nova interface attach/detach.

In-process through ``Emulator.set_ports``, and end to end through the CLI's ``--ports-file``
re-read on SIGHUP (the path the OpenStack rig's virt driver uses).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from octavia_loxilb.emulator.model import PortSpec
from octavia_loxilb.emulator.server import Emulator
from tests.conftest import EmulatorFactory

ETH0 = PortSpec("eth0", "fa:16:3e:00:00:01", ["127.42.0.5/24"])
ETH1 = PortSpec("eth1", "FA:16:3E:00:00:02", ["127.44.0.9/24"])


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def _ports(url: str) -> dict[str, tuple[str, str]]:
    """portName -> (mac, primary IPv4 text) from ``/config/port/all``."""
    return {
        p["portName"]: (p["portHardwareInformation"]["macAddress"],
                        p["portL3Information"]["IPv4Address"][0])
        for p in _get(url + "/config/port/all")["portAttr"]
    }


def _post(url: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5):
        pass


def test_set_ports_adds_and_removes_interfaces(emulator_factory: EmulatorFactory) -> None:
    node: Emulator = emulator_factory(datapath=False, ports=[ETH0])
    assert _ports(node.url) == {"eth0": ("fa:16:3e:00:00:01", "127.42.0.5/24 (P) ")}

    node.set_ports([ETH0, ETH1])
    assert _ports(node.url) == {"eth0": ("fa:16:3e:00:00:01", "127.42.0.5/24 (P) "),
                                "eth1": ("fa:16:3e:00:00:02", "127.44.0.9/24 (P) ")}

    node.set_ports([ETH0])
    assert set(_ports(node.url)) == {"eth0"}
    devices = {a["dev"] for a in _get(node.url + "/config/ipv4address/all")["ipAttr"]}
    assert "eth1" not in devices


def test_set_ports_keeps_addresses_configured_on_a_staying_port(
        emulator_factory: EmulatorFactory) -> None:
    node: Emulator = emulator_factory(datapath=False, ports=[ETH0])
    _post(node.url + "/config/ipv4address", {"dev": "eth0", "ipAddress": "127.42.0.77/24"})
    node.set_ports([ETH0, ETH1])
    eth0 = [a for a in _get(node.url + "/config/ipv4address/all")["ipAttr"]
            if a["dev"] == "eth0"]
    assert any("127.42.0.77/24" in addr for entry in eth0 for addr in entry["ipAddress"])


def _wait_ports(url: str, expected: set[str], timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            ports = _ports(url)
            if set(ports) == expected:
                return ports
        except OSError:
            ports = {}
        if time.monotonic() > deadline:
            raise AssertionError(f"ports {sorted(ports)} never became {sorted(expected)}")
        time.sleep(0.05)


def test_cli_rereads_ports_file_on_sighup(tmp_path: Path) -> None:
    ports_file = tmp_path / "ports.json"
    ports_file.write_text(json.dumps([{"name": "eth0", "mac": ETH0.mac,
                                       "addresses": ETH0.addresses}]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "octavia_loxilb.emulator.cli", "--listen", f"127.0.0.1:{port}",
         "--no-datapath", "--ports-file", str(ports_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/netlox/v1"
    try:
        _wait_ports(url, {"eth0"})
        ports_file.write_text(json.dumps([
            {"name": "eth0", "mac": ETH0.mac, "addresses": ETH0.addresses},
            {"name": "eth1", "mac": ETH1.mac, "addresses": ETH1.addresses}]))
        os.kill(proc.pid, signal.SIGHUP)
        assert _wait_ports(url, {"eth0", "eth1"})["eth1"][0] == "fa:16:3e:00:00:02"

        ports_file.write_text("not json")
        os.kill(proc.pid, signal.SIGHUP)
        time.sleep(0.3)
        assert set(_ports(url)) == {"eth0", "eth1"}, "a broken file keeps the old ports"
        assert proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert b"not applied" in err
