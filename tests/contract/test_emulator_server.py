"""The emulator as a server: start-up, TLS and mTLS, the CLI, and the ``/_emulator`` hooks."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from octavia_loxilb.emulator.model import EmulatorConfig
from octavia_loxilb.emulator.server import Emulator
from tests.conftest import EmulatorFactory
from tests.contract.conftest import Raw, rule_body

RULE_PATH = "/config/loadbalancer"


def test_starts_in_under_a_second_and_stops() -> None:
    """The in-process emulator is listening when ``start()`` returns, well under 1 s."""
    began = time.monotonic()
    with Emulator(EmulatorConfig(port=0, datapath=False)) as node:
        elapsed = time.monotonic() - began
        assert requests.get(node.url + "/version", timeout=5).ok
    assert elapsed < 1.0
    with pytest.raises(requests.ConnectionError):
        requests.get(node.url + "/version", timeout=5)


def _issue(
    subject: str,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    issuer: x509.Name | None,
    ca: bool,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return key, cert


def _write(path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> tuple[str, str]:
    cert_path, key_path = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _issue("test-ca", None, None, ca=True)
    ca_crt, _ = _write(base / "ca", ca_key, ca_cert)
    server_key, server_cert = _issue("server", ca_key, ca_cert.subject, ca=False)
    server_crt, server_pem = _write(base / "server", server_key, server_cert)
    client_key, client_cert = _issue("client", ca_key, ca_cert.subject, ca=False)
    client_crt, client_pem = _write(base / "client", client_key, client_cert)
    return {
        "ca": ca_crt,
        "server_crt": server_crt,
        "server_key": server_pem,
        "client_crt": client_crt,
        "client_key": client_pem,
    }


def test_tls_listener(emulator_factory: EmulatorFactory, pki: dict[str, str]) -> None:
    """§1.1: HTTPS on the same API; the URL says https."""
    node = emulator_factory(datapath=False, tls_cert=pki["server_crt"], tls_key=pki["server_key"])
    assert node.url.startswith("https://")
    assert requests.get(node.url + "/version", verify=pki["ca"], timeout=5).ok


def test_client_certificate_required(
    emulator_factory: EmulatorFactory, pki: dict[str, str]
) -> None:
    """DESIGN §4: with a client CA the handshake refuses clients without a signed cert."""
    node = emulator_factory(
        datapath=False,
        tls_cert=pki["server_crt"],
        tls_key=pki["server_key"],
        tls_client_ca=pki["ca"],
    )
    with pytest.raises((requests.exceptions.SSLError, requests.ConnectionError)):
        requests.get(node.url + "/version", verify=pki["ca"], timeout=5)
    ok = requests.get(
        node.url + "/version",
        verify=pki["ca"],
        cert=(pki["client_crt"], pki["client_key"]),
        timeout=5,
    )
    assert ok.ok


def _console_script() -> str:
    script = Path(sys.executable).with_name("loxilb-emulator")
    assert script.exists(), f"{script} missing: is the package installed in the venv?"
    return str(script)


def test_cli_listen_and_sigterm_wipes(tmp_path: Path) -> None:
    """CLI: ``--listen`` serves the API; SIGTERM stops it cleanly (exit 0)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            _console_script(),
            "--listen",
            f"127.0.0.1:{port}",
            "--no-datapath",
            "--legacy-errors",
            "--iface",
            "eth7,02:00:00:00:00:07,10.7.0.1/24",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = f"http://127.0.0.1:{port}/netlox/v1"
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(url + "/version", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "CLI emulator never listened"
            time.sleep(0.05)
        assert requests.post(url + RULE_PATH, json=rule_body(), timeout=5).ok
        missing = requests.delete(
            url + "/config/loadbalancer/externalipaddress/1.1.1.1/port/1/protocol/tcp", timeout=5
        )
        assert (missing.status_code, missing.json()) == (200, {"result": "no-rule error"})
        ports = requests.get(url + "/config/port/all", timeout=5).json()["portAttr"]
        assert [p["portName"] for p in ports] == ["eth7"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert "listening on" in (proc.stderr.read() if proc.stderr else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_fault_status_count_and_latency(raw: Raw) -> None:
    """Hooks: a fault answers its status ``count`` times, then calls pass again."""
    raw.hook(
        "POST",
        "faults",
        {"method": "GET", "path_prefix": "/config/loadbalancer", "status": 503, "count": 2},
    )
    for _ in range(2):
        failed = raw.get("/config/loadbalancer/all")
        assert failed.status_code == 503
        assert failed.json()["message"] == "Maintenance mode"
    assert raw.get("/config/loadbalancer/all").ok
    raw.hook("POST", "faults", {"path_prefix": "/version", "latency": 0.3, "count": 1})
    began = time.monotonic()
    assert raw.get("/version").ok
    assert time.monotonic() - began >= 0.3


def test_fault_drop_before_apply(raw: Raw) -> None:
    """Hooks: ``drop`` closes the connection and the change is not applied."""
    raw.hook("POST", "faults", {"method": "POST", "path_prefix": RULE_PATH, "drop": True})
    with pytest.raises(requests.ConnectionError):
        raw.session.post(raw.node.url + RULE_PATH, json=rule_body(), timeout=5)
    assert raw.rules() == []


def test_fault_after_apply_is_the_ambiguous_post(raw: Raw) -> None:
    """Hooks: ``after_apply`` applies the change, then drops or fails the response."""
    raw.hook(
        "POST",
        "faults",
        {"method": "POST", "path_prefix": RULE_PATH, "drop": True, "after_apply": True},
    )
    with pytest.raises(requests.ConnectionError):
        requests.post(raw.node.url + RULE_PATH, json=rule_body(), timeout=5)
    assert len(raw.rules()) == 1
    raw.hook(
        "POST",
        "faults",
        {"method": "POST", "path_prefix": RULE_PATH, "status": 500, "after_apply": True},
    )
    failed = raw.post(RULE_PATH, rule_body("10.0.1.11"))
    assert failed.status_code == 500
    assert [e["endpointIP"] for e in raw.rule()["endpoints"]] == ["10.0.1.11"]
    raw.hook("POST", "faults", {"path_prefix": "/version", "status": 500, "count": 0})
    raw.hook("DELETE", "faults")
    assert raw.get("/version").ok


def test_call_log(raw: Raw) -> None:
    """Hooks: API calls are logged with method, path, status and body; DELETE clears."""
    raw.hook("DELETE", "calls")
    raw.post(RULE_PATH, rule_body())
    raw.delete("/config/loadbalancer/name/x")
    calls = raw.hook("GET", "calls").json()
    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("POST", "/netlox/v1/config/loadbalancer", 200),
        ("DELETE", "/netlox/v1/config/loadbalancer/name/x", 200),
    ]
    assert calls[0]["body"] == rule_body()
    assert calls[1]["body"] is None
    raw.hook("DELETE", "calls")
    assert raw.hook("GET", "calls").json() == []


def test_restart_hook_wipes_everything(raw: Raw) -> None:
    """§10: restart forgets rules, hosts, HA states, BFD, added addresses and routes."""
    raw.post(RULE_PATH, rule_body())
    raw.post("/config/cistate", {"instance": "i9", "state": "BACKUP", "vip": "10.0.0.1"})
    raw.post("/config/ipv4address", {"dev": "eth0", "ipAddress": "10.3.0.5/24"})
    raw.post("/config/route", {"destinationIPNet": "10.5.0.0/16", "gateway": "192.168.80.1"})
    raw.hook("POST", "restart")
    assert raw.rules() == []
    assert [s["instance"] for s in raw.get("/config/cistate/all").json()["Attr"]] == ["llb-inst0"]
    addresses = raw.get("/config/ipv4address/all").json()["ipAttr"]
    assert {e["dev"]: e["ipAddress"] for e in addresses}["eth0"] == ["192.168.80.10/24"]
    assert raw.get("/config/route/all").json() == {"routeAttr": []}
