"""Every ``LoxiLBNodeAPI`` call of ``LoxiLBClient`` against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb import errors, models
from octavia_loxilb.loxilb.client import LoxiLBClient, NodeConfig
from octavia_loxilb.loxilb.interface import LoxiLBNodeAPI
from tests.contract.conftest import Raw

VIP = "10.0.0.100"


@pytest.fixture
def client(emulator: Emulator) -> Iterator[LoxiLBClient]:
    with LoxiLBClient(NodeConfig(emulator.base_url, retries=1, retry_backoff=0.01)) as node:
        yield node


def make_rule(
    *members: tuple[str, int, int], port: int = 80, **service: Any
) -> models.LoadBalancerRule:
    eps = members or (("10.0.1.10", 8080, 1),)
    return models.LoadBalancerRule(
        models.ServiceArguments(VIP, port, "tcp", **service),
        tuple(models.Endpoint(ip, target, weight) for ip, target, weight in eps),
    )


def listed(client: LoxiLBClient, key: models.RuleKey) -> models.LoadBalancerRule:
    found = [rule for rule in client.list_rules() if rule.key == key]
    assert len(found) == 1, found
    return found[0]


def test_client_satisfies_the_node_api_protocol(client: LoxiLBClient) -> None:
    node: LoxiLBNodeAPI = client
    assert node.node == client.config.url


def test_version_and_wait_until_ready(client: LoxiLBClient) -> None:
    assert client.version().version == "0.9.8.8"
    assert client.wait_until_ready(timeout=5).version == "0.9.8.8"


def test_apply_rule_creates_then_reports_identical_rule_as_not_applied(
    client: LoxiLBClient,
) -> None:
    rule = make_rule(("10.0.1.10", 8080, 1), ("10.0.2.5", 8080, 1), name="lsnr-1",
                     sel=models.Sel.HASH, mode=models.Mode.FULLNAT)
    assert client.apply_rule(rule) is True
    assert client.apply_rule(rule) is False
    stored = listed(client, rule.key)
    assert stored.name == "lsnr-1"
    assert (stored.service.sel, stored.service.mode) == (models.Sel.HASH, models.Mode.FULLNAT)
    assert stored.service.inactive_timeout == 240  # LoxiLB's default, filled in
    # Endpoints come back sorted by LoxiLB's last-octet-first key (§2.4).
    assert [ep.ip for ep in stored.endpoints] == ["10.0.2.5", "10.0.1.10"]
    assert all(ep.state == "active" for ep in stored.endpoints)


def test_apply_rule_updates_members_and_weights_in_place(client: LoxiLBClient) -> None:
    assert client.apply_rule(make_rule(("10.0.1.10", 8080, 50), sel=models.Sel.PRIORITY))
    updated = make_rule(("10.0.1.10", 8080, 30), ("10.0.1.11", 8080, 70),
                        sel=models.Sel.PRIORITY)
    assert client.apply_rule(updated) is True
    stored = listed(client, updated.key)
    assert {(ep.ip, ep.weight) for ep in stored.endpoints} == {("10.0.1.10", 30),
                                                              ("10.0.1.11", 70)}
    shrunk = make_rule(("10.0.1.11", 8080, 70), sel=models.Sel.PRIORITY)
    assert client.apply_rule(shrunk) is True
    assert [ep.ip for ep in listed(client, shrunk.key).endpoints] == ["10.0.1.11"]


def test_attach_and_detach_opers(client: LoxiLBClient) -> None:
    assert client.apply_rule(make_rule(("10.0.1.10", 8080, 1)))
    attach = make_rule(("10.0.1.12", 8080, 1), oper=models.Oper.ATTACH)
    assert client.apply_rule(attach) is True
    assert {ep.ip for ep in listed(client, attach.key).endpoints} == {"10.0.1.10",
                                                                     "10.0.1.12"}
    detach = make_rule(("10.0.1.10", 8080, 1), oper=models.Oper.DETACH)
    assert client.apply_rule(detach) is True
    assert [ep.ip for ep in listed(client, detach.key).endpoints] == ["10.0.1.12"]


def test_conflicting_change_raises_instead_of_reporting_not_applied(
    client: LoxiLBClient,
) -> None:
    assert client.apply_rule(make_rule(("10.0.1.10", 8080, 1)))
    with pytest.raises(errors.Conflict) as raised:
        client.apply_rule(make_rule(("10.0.1.11", 8080, 1), security=1))
    assert not isinstance(raised.value, errors.RuleExists)
    assert "cant modify" in (raised.value.result or "")


def test_delete_rule_by_every_key_form(client: LoxiLBClient) -> None:
    single = make_rule()
    ranged = make_rule(port=1000, port_max=1010)
    blocked = make_rule(port=81, block=3)
    hosted = make_rule(port=82, host="www.example.com")
    for rule in (single, ranged, blocked, hosted):
        assert client.apply_rule(rule)
    for rule in (single, ranged, blocked, hosted):
        assert client.delete_rule(rule.key) is True
        assert client.delete_rule(rule.key) is False
    assert client.list_rules() == []


def test_delete_rule_passes_bgp_to_withdraw_the_route(
    client: LoxiLBClient, raw: Raw
) -> None:
    rule = make_rule()
    assert client.apply_rule(rule)
    raw.hook("DELETE", "calls")
    assert client.delete_rule(rule.key, bgp=True)
    (call,) = raw.hook("GET", "calls").json()
    assert call["method"] == "DELETE" and "bgp=true" in call["query"]


def test_delete_rules_named_removes_every_rule_with_that_name(client: LoxiLBClient) -> None:
    for port in (80, 81):
        assert client.apply_rule(make_rule(port=port, name="lb-1"))
    assert client.apply_rule(make_rule(port=82, name="lb-2"))
    client.delete_rules_named("lb-1")
    client.delete_rules_named("nothing-by-this-name")
    assert [rule.name for rule in client.list_rules()] == ["lb-2"]


def test_endpoint_probe_upsert_list_state_and_delete(client: LoxiLBClient) -> None:
    probe = models.EndpointProbe("10.0.3.7", "tcp", name="10.0.3.7_tcp_9000", probe_port=9000,
                                 probe_duration=5, inactive_retries=2)
    client.set_endpoint_probe(probe)
    client.set_endpoint_probe(probe)  # an upsert: no error the second time
    (stored,) = [p for p in client.list_endpoint_probes() if p.name == probe.name]
    assert (stored.probe_type, stored.probe_port, stored.inactive_retries) == ("tcp", 9000, 2)

    client.set_endpoint_host_state(models.EndpointHostState("10.0.3.7", "red", 9000, "tcp"))
    (red,) = [p for p in client.list_endpoint_probes() if p.name == probe.name]
    assert red.state == "red"

    assert client.delete_endpoint_probe("10.0.3.7", probe.name) is True
    assert client.delete_endpoint_probe("10.0.3.7", probe.name) is False


def test_probe_referenced_by_a_rule_cannot_be_deleted(client: LoxiLBClient) -> None:
    assert client.apply_rule(make_rule(("10.0.1.10", 8080, 1)))
    with pytest.raises(errors.Conflict):
        client.delete_endpoint_probe("10.0.1.10", "10.0.1.10_tcp_8080")


def test_cluster_state_and_bfd_sessions(client: LoxiLBClient) -> None:
    assert client.list_bfd_sessions() == []  # BFD not running: empty, not an error
    client.set_cluster_state(models.ClusterInstanceState("llb-inst0", "MASTER", VIP))
    client.set_cluster_state(models.ClusterInstanceState("llb-inst0", "MASTER", VIP))
    states = {s.instance: s for s in client.list_cluster_states()}
    assert states["llb-inst0"].state == "MASTER" and states["llb-inst0"].vip == VIP

    session = models.BFDSession("llb-inst0", "127.0.0.2", "127.0.0.1", interval=200000)
    client.add_bfd_session(session)
    (listed_session,) = client.list_bfd_sessions()
    assert (listed_session.remote_ip, listed_session.source_ip) == ("127.0.0.2", "127.0.0.1")
    with pytest.raises(errors.Conflict):
        client.add_bfd_session(session)
    client.delete_bfd_session("127.0.0.2", "llb-inst0")
    client.delete_bfd_session("127.0.0.2", "llb-inst0")  # already gone: fine
    assert client.list_bfd_sessions() == []


def test_ports_addresses_and_routes(client: LoxiLBClient) -> None:
    ports = {p.name: p for p in client.list_ports()}
    assert {"lo", "eth0"} <= set(ports) and ports["lo"].ipv4 == "127.0.0.1/8"

    address = models.IPv4Address("eth0", "10.9.0.5/24")
    client.add_ipv4_address(address)
    assert "10.9.0.5/24" in client.list_ipv4_addresses()["eth0"]
    with pytest.raises(errors.ServerError):  # LoxiLB's 200 {"result":"fail"}
        client.add_ipv4_address(address)
    client.delete_ipv4_address(address)
    assert "10.9.0.5/24" not in client.list_ipv4_addresses().get("eth0", [])

    route = models.Route("10.8.0.0/16", "192.168.80.1")
    client.add_route(route)
    assert "10.8.0.0/16" in client.list_routes()
    client.delete_route("10.8.0.0/16")
    client.delete_route("10.8.0.0/16")  # already gone: fine
    assert "10.8.0.0/16" not in client.list_routes()


def test_route_entries_carry_their_gateways(client: LoxiLBClient) -> None:
    client.add_route(models.Route("0.0.0.0/0", "192.168.80.1"))
    client.add_route(models.Route("10.8.0.0/16", "192.168.80.254"))
    assert sorted(client.list_route_entries(), key=lambda r: r.destination) == [
        models.Route("0.0.0.0/0", "192.168.80.1"),
        models.Route("10.8.0.0/16", "192.168.80.254")]
    client.delete_route("0.0.0.0/0")
    assert client.list_route_entries() == [models.Route("10.8.0.0/16", "192.168.80.254")]


def test_rule_vip_shows_as_pseudo_device_address(client: LoxiLBClient) -> None:
    assert client.apply_rule(make_rule())
    assert client.list_ipv4_addresses()[f"llb-rule-{VIP}"] == [f"{VIP}/32"]


def test_bfd_not_running_is_an_answer_and_not_retried(emulator: Emulator) -> None:
    assert emulator.hooks is not None
    with LoxiLBClient(NodeConfig(emulator.base_url, retries=3, retry_backoff=0.5)) as node:
        emulator.hooks.calls.clear()
        assert node.list_bfd_sessions() == []
    asked = [c for c in emulator.hooks.calls if c["path"].endswith("/config/bfd/all")]
    assert [c["status"] for c in asked] == [500]
