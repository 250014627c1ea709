"""Probe table and rule health: API-NOTES §2.10, §3 and §4, against raw HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import EmulatorFactory
from tests.contract.conftest import Raw, assert_framework_error, assert_loxi_error, rule_body

RULE_PATH = "/config/loadbalancer"


def _states(raw: Raw, port: int = 80) -> dict[str, str]:
    return {e["endpointIP"]: e["state"] for e in raw.rule(port)["endpoints"]}


def _sync(raw: Raw) -> dict[str, Any]:
    return dict(raw.hook("POST", "sync", {"sweep": False}).json())


def test_rule_creates_protocol_default_hosts(raw: Raw) -> None:
    """§2.10: every endpoint gets a host keyed <ip>_<proto>_<port>, probing off by default."""
    raw.post(RULE_PATH, rule_body("10.0.1.10", port=80))
    raw.post(RULE_PATH, rule_body(("10.0.1.10", 0), protocol="icmp", port=0))
    raw.post(RULE_PATH, rule_body(("10.0.1.10", 53), protocol="udp", port=53, mode=2))
    hosts = raw.hosts()
    assert hosts["10.0.1.10_tcp_8080"] == {
        "currState": "ok",
        "hostName": "10.0.1.10",
        "name": "10.0.1.10_tcp_8080",
        "probePort": 8080,
        "probeType": "none",
    }
    assert hosts["10.0.1.10_ping_0"]["probeType"] == "none"
    # fullnat (mode 2) switches probing on with the protocol default and LoxiLB's timings
    assert hosts["10.0.1.10_udp_53"] == {
        "currState": "ok",
        "hostName": "10.0.1.10",
        "inactiveReTries": 2,
        "name": "10.0.1.10_udp_53",
        "probeDuration": 60,
        "probePort": 53,
        "probeType": "udp",
    }


def test_rule_probe_settings_and_first_creator_wins(raw: Raw) -> None:
    """§2.10: a rule probetype is used; a second rule sharing the key only adds a reference."""
    first = rule_body(port=80, probetype="tcp", probeport=9000, probeTimeout=5, probeRetries=3)
    raw.post(RULE_PATH, first)
    raw.post(RULE_PATH, rule_body(port=81, probetype="ping", monitor=True))
    host = raw.hosts()["10.0.1.10_tcp_8080"]
    assert (host["probeType"], host["probePort"], host["probeDuration"]) == ("tcp", 9000, 5)
    assert host["inactiveReTries"] == 3
    assert raw.node.state.probes.hosts["10.0.1.10_tcp_8080"].refcount == 2
    raw.delete("/config/loadbalancer/externalipaddress/10.0.0.100/port/80/protocol/tcp")
    assert "10.0.1.10_tcp_8080" in raw.hosts()
    raw.delete("/config/loadbalancer/externalipaddress/10.0.0.100/port/81/protocol/tcp")
    assert raw.hosts() == {}


def test_probe_limits_leave_endpoint_without_host(raw: Raw) -> None:
    """§3.2: probeRetries > 100 creates the rule but no host; the endpoint stays active."""
    assert raw.post(RULE_PATH, rule_body(monitor=True, probeRetries=101)).ok
    assert raw.hosts() == {}
    _sync(raw)
    assert _states(raw) == {"10.0.1.10": "active"}


def test_update_probe_settings_reach_only_new_endpoints(raw: Raw) -> None:
    """§2.5 step 10: existing endpoints keep their probe; probeTimeout applies to new ones."""
    raw.post(RULE_PATH, rule_body("10.0.1.10", monitor=True, probetype="none"))
    update = rule_body("10.0.1.10", "10.0.1.11", probetype="tcp", probeport=7000, probeTimeout=15)
    assert raw.post(RULE_PATH, update).ok
    hosts = raw.hosts()
    assert hosts["10.0.1.10_tcp_8080"]["probeType"] == "none"
    new = hosts["10.0.1.11_tcp_8080"]
    assert (new["probeType"], new["probePort"], new["probeDuration"]) == ("tcp", 7000, 15)


def test_api_host_created_with_zero_refcount_and_deleted(raw: Raw) -> None:
    """§3.1/§3.3: an API host has refcount 0, is listed, and deletes by name or tuple."""
    body = {"hostName": "10.0.5.5", "probeType": "tcp", "probePort": 22, "inactiveReTries": 1}
    assert raw.post("/config/endpoint", body).json() == {"result": "Success"}
    assert raw.post("/config/endpoint", body).ok  # upsert
    hosts = raw.hosts()
    assert hosts["10.0.5.5_tcp_22"]["inactiveReTries"] == 1
    assert "probeDuration" not in hosts["10.0.5.5_tcp_22"]  # 0 is not defaulted, omitted
    assert raw.node.state.probes.hosts["10.0.5.5_tcp_22"].refcount == 0
    path = "/config/endpoint/epipaddress/10.0.5.5?probe_type=tcp&probe_port=22"
    assert raw.delete(path).ok
    assert_loxi_error(raw.delete(path), 404, "host-notfound error")
    raw.post("/config/endpoint", {**body, "name": "custom"})
    assert raw.delete("/config/endpoint/epipaddress/10.0.5.5?name=custom").ok


@pytest.mark.parametrize(
    ("body", "status", "result"),
    [
        ({"hostName": "web1", "probeType": "tcp", "probePort": 1}, 400, "host-parse error"),
        ({"hostName": "10.0.5.5"}, 400, "host-args unknown probe type"),
        ({"hostName": "10.0.5.5", "probeType": "udp"}, 400, "host-args unknown probe port"),
        (
            {"hostName": "10.0.5.5", "probeType": "ping", "probeDuration": 86401},
            400,
            "host-args error",
        ),
        (
            {"hostName": "10.0.5.5", "probeType": "ping", "inactiveReTries": 101},
            400,
            "host-args error",
        ),
    ],
)
def test_endpoint_post_errors(raw: Raw, body: dict[str, Any], status: int, result: str) -> None:
    """§3.1: host must be an IP literal, probe type and port are effectively required."""
    assert_loxi_error(raw.post("/config/endpoint", body), status, result)


def test_endpoint_post_framework_errors(raw: Raw) -> None:
    """§3.1: hostName is required (602) and probeType is an enum (606)."""
    assert_framework_error(raw.post("/config/endpoint", {"probeType": "tcp"}), 422, 602)
    bad_enum = raw.post("/config/endpoint", {"hostName": "10.0.5.5", "probeType": "TCP"})
    assert_framework_error(bad_enum, 422, 606)


def test_rule_referenced_host_cannot_be_deleted(raw: Raw) -> None:
    """§3.3: a host a rule references gives ``409 LB Rule-referred``."""
    raw.post(RULE_PATH, rule_body())
    path = "/config/endpoint/epipaddress/10.0.1.10?name=10.0.1.10_tcp_8080"
    response = raw.delete(path)
    assert_loxi_error(response, 409, "LB Rule-referred")


def test_override_keeps_refcount_and_red_until_endpoint_leaves(raw: Raw) -> None:
    """§2.10/§3.1: POST /config/endpoint overrides in place; leaving the rule loses it."""
    raw.post(RULE_PATH, rule_body("10.0.1.10", "10.0.1.11", monitor=True, probetype="none"))
    raw.post("/config/endpointhoststate", {"hostName": "10.0.1.10", "state": "red"})
    override = {
        "hostName": "10.0.1.10",
        "name": "10.0.1.10_tcp_8080",
        "probeType": "tcp",
        "probePort": 8080,
        "probeDuration": 5,
        "inactiveReTries": 1,
    }
    assert raw.post("/config/endpoint", override).ok
    host = raw.hosts()["10.0.1.10_tcp_8080"]
    assert (host["probeType"], host["currState"], host["probeDuration"]) == ("tcp", "red", 5)
    assert raw.node.state.probes.hosts["10.0.1.10_tcp_8080"].refcount == 1
    raw.post(RULE_PATH, rule_body("10.0.1.11", monitor=True, probetype="none"))
    assert "10.0.1.10_tcp_8080" not in raw.hosts()
    raw.post(RULE_PATH, rule_body("10.0.1.10", "10.0.1.11", monitor=True, probetype="none"))
    assert raw.hosts()["10.0.1.10_tcp_8080"]["probeType"] == "none"
    assert raw.hosts()["10.0.1.10_tcp_8080"]["currState"] == "ok"


def test_endpoint_host_state_errors(raw: Raw) -> None:
    """§4: bad state 400, port without proto 500, unknown key 404, unknown host 200."""
    url = "/config/endpointhoststate"
    bad = raw.post(url, {"hostName": "10.0.1.10", "state": "blue"})
    assert_loxi_error(bad, 400, "unknown ep-host-state")
    half = raw.post(url, {"hostName": "10.0.1.10", "state": "red", "epPort": 80})
    assert_loxi_error(half, 500, "ep-host-state args error")
    missing = raw.post(
        url, {"hostName": "10.0.1.10", "state": "red", "epPort": 80, "epProto": "tcp"}
    )
    assert_loxi_error(missing, 404, "ephost-notfound error")
    assert raw.post(url, {"hostName": "10.9.9.9", "state": "red"}).ok


def test_red_by_key_and_by_host(raw: Raw) -> None:
    """§4: red with a key hits one host, without it every host of that IP; green clears."""
    raw.post(RULE_PATH, rule_body(("10.0.1.10", 8080), ("10.0.1.10", 8081)))
    url = "/config/endpointhoststate"
    keyed = {"hostName": "10.0.1.10", "state": "red", "epPort": 8081, "epProto": "tcp"}
    assert raw.post(url, keyed).ok
    states = {k: h["currState"] for k, h in raw.hosts().items()}
    assert states == {"10.0.1.10_tcp_8080": "ok", "10.0.1.10_tcp_8081": "red"}
    raw.post(url, {"hostName": "10.0.1.10", "state": "red"})
    assert {h["currState"] for h in raw.hosts().values()} == {"red"}
    raw.post(url, {"hostName": "10.0.1.10", "state": "green"})
    assert {h["currState"] for h in raw.hosts().values()} == {"ok"}


def test_monitor_none_rule_follows_red(raw: Raw) -> None:
    """§2.10: monitor:true + probetype none: endpoints go inactive only when red."""
    raw.post(RULE_PATH, rule_body("10.0.1.10", "10.0.1.11", monitor=True, probetype="none"))
    raw.post("/config/endpointhoststate", {"hostName": "10.0.1.11", "state": "red"})
    assert _states(raw) == {"10.0.1.10": "active", "10.0.1.11": "active"}  # until the sync
    assert _sync(raw)["rules_changed"] == 1
    assert _states(raw) == {"10.0.1.10": "active", "10.0.1.11": "inactive"}
    raw.post("/config/endpointhoststate", {"hostName": "10.0.1.11", "state": "yellow"})
    _sync(raw)
    assert _states(raw) == {"10.0.1.10": "active", "10.0.1.11": "active"}


def test_probe_failure_marks_only_monitored_rules(raw: Raw) -> None:
    """§2.10: failed probes make endpoints inactive on monitor rules only, and recover."""
    raw.post(RULE_PATH, rule_body(port=80, probetype="tcp", probeport=8080))
    raw.post(RULE_PATH, rule_body(port=81, mode=2))
    raw.hook("POST", "probe", {"key": "10.0.1.10_tcp_8080", "ok": False})
    _sync(raw)
    assert _states(raw, 80) == {"10.0.1.10": "inactive"}
    assert _states(raw, 81) == {"10.0.1.10": "active"}
    assert raw.hosts()["10.0.1.10_tcp_8080"]["currState"] == "nok"
    raw.hook("POST", "probe", {"key": "10.0.1.10_tcp_8080", "ok": True})
    _sync(raw)
    assert _states(raw, 80) == {"10.0.1.10": "active"}


def test_probe_hook_unknown_key_is_404(raw: Raw) -> None:
    """Hooks: forcing a probe result on a missing host says so."""
    response = raw.session.post(
        raw.node.base_url + "/_emulator/probe", json={"key": "x_tcp_1", "ok": False}
    )
    assert response.status_code == 404


def test_periodic_rule_sync_runs_by_itself(emulator_factory: EmulatorFactory) -> None:
    """§2.10: RulesSync runs every ``rule_sync_interval`` without being asked."""
    raw = Raw(emulator_factory(datapath=False, rule_sync_interval=0.05))
    raw.post(RULE_PATH, rule_body(monitor=True, probetype="none"))
    raw.post("/config/endpointhoststate", {"hostName": "10.0.1.10", "state": "red"})
    deadline = time.monotonic() + 5
    while _states(raw) != {"10.0.1.10": "inactive"}:
        assert time.monotonic() < deadline, "rule sync never ran"
        time.sleep(0.02)
