"""Wire form of the LoxiLB models: what we send, and what we accept from GET (API-NOTES §2.8)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from octavia_loxilb.loxilb import models

ipv4 = st.integers(min_value=1, max_value=2**32 - 2).map(lambda n: str(ipaddress.IPv4Address(n)))
ports = st.integers(min_value=1, max_value=65535)
text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_:", max_size=20)

services = st.builds(
    models.ServiceArguments,
    external_ip=ipv4,
    port=ports,
    protocol=st.sampled_from(models.PROTOCOLS),
    port_max=st.integers(min_value=0, max_value=65535),
    block=st.integers(min_value=0, max_value=10),
    host=text,
    sel=st.sampled_from(models.Sel),
    mode=st.sampled_from(models.Mode),
    security=st.integers(min_value=0, max_value=2),
    monitor=st.booleans(),
    probetype=st.sampled_from(("",) + models.RULE_PROBE_TYPES),
    probeport=st.integers(min_value=0, max_value=65535),
    probereq=text,
    proberesp=text,
    probe_timeout=st.integers(min_value=0, max_value=3600),
    probe_retries=st.integers(min_value=0, max_value=100),
    inactive_timeout=st.integers(min_value=0, max_value=86400),
    name=text,
    managed=st.booleans(),
    bgp=st.booleans(),
    proxyprotocolv2=st.booleans(),
    egress=st.booleans(),
    private_ip=st.one_of(st.just(""), ipv4),
    oper=st.sampled_from(models.Oper),
)

endpoints = st.builds(
    models.Endpoint,
    ip=ipv4,
    port=ports,
    weight=st.integers(min_value=0, max_value=255),
)

rules = st.builds(
    models.LoadBalancerRule,
    service=services,
    endpoints=st.lists(endpoints, min_size=1, max_size=32).map(tuple),
    allowed_sources=st.lists(ipv4.map(lambda ip: f"{ip}/32"), max_size=3).map(tuple),
    secondary_ips=st.lists(ipv4, max_size=3).map(tuple),
)


@given(rules)
def test_rule_survives_a_round_trip_through_its_wire_form(rule: models.LoadBalancerRule) -> None:
    assert models.LoadBalancerRule.from_wire(rule.to_wire()) == rule


@given(services)
def test_wire_form_omits_every_field_at_its_default(service: models.ServiceArguments) -> None:
    body = service.to_wire()
    assert {"externalIP", "port", "protocol"} <= body.keys()
    optional = set(body) - {"externalIP", "port", "protocol"}
    assert all(body[k] not in (0, "", False) for k in optional)


def test_rule_body_uses_loxilb_field_names() -> None:
    rule = models.LoadBalancerRule(
        service=models.ServiceArguments(
            external_ip="10.0.0.100", port=80, protocol="tcp", sel=models.Sel.PRIORITY,
            mode=models.Mode.FULLNAT, monitor=True, probetype="none", inactive_timeout=30,
            name="lsnr-1", private_ip="10.0.0.5",
        ),
        endpoints=(models.Endpoint("10.0.1.10", 8080, 60), models.Endpoint("10.0.1.11", 8080)),
        allowed_sources=("192.0.2.0/24",),
    )
    assert rule.to_wire() == {
        "serviceArguments": {
            "externalIP": "10.0.0.100", "port": 80, "protocol": "tcp", "sel": 2, "mode": 2,
            "monitor": True, "probetype": "none", "inactiveTimeOut": 30, "name": "lsnr-1",
            "privateIP": "10.0.0.5",
        },
        "endpoints": [
            {"endpointIP": "10.0.1.10", "targetPort": 8080, "weight": 60},
            {"endpointIP": "10.0.1.11", "targetPort": 8080, "weight": 1},
        ],
        "allowedSources": [{"prefix": "192.0.2.0/24"}],
    }


def test_get_entry_with_omitted_zero_fields_and_null_lists_parses() -> None:
    # The exact example of API-NOTES §2.8 plus counters and an inactive endpoint.
    entry = {
        "allowedSources": None,
        "endpoints": [
            {"counter": "12:3400", "endpointIP": "10.0.1.10", "state": "active",
             "targetPort": 8080, "weight": 1},
            {"counter": "0:0", "endpointIP": "10.0.2.5", "state": "inactive",
             "targetPort": 8080, "weight": 0},
        ],
        "secondaryIPs": None,
        "serviceArguments": {"externalIP": "10.0.0.100", "inactiveTimeOut": 240,
                             "name": "lsnr-1", "port": 80, "protocol": "tcp"},
    }
    rule = models.LoadBalancerRule.from_wire(entry)
    assert rule.service.sel is models.Sel.RR and rule.service.mode is models.Mode.DNAT
    assert rule.service.monitor is False and rule.service.host == ""
    assert rule.allowed_sources == () and rule.secondary_ips == ()
    first, second = rule.endpoints
    assert (first.packets, first.bytes, first.state) == (12, 3400, "active")
    assert (second.weight, second.state) == (0, "inactive")
    assert rule.key == ("10.0.0.100", "tcp", 80, 80, 0, "")


def test_key_ignores_name_mode_and_sel_and_treats_portmax_equal_to_port_as_single() -> None:
    plain = models.ServiceArguments("10.0.0.1", 80, "tcp", name="a", sel=models.Sel.HASH)
    same = models.ServiceArguments("10.0.0.1", 80, "tcp", port_max=80, name="b",
                                   mode=models.Mode.FULLNAT)
    ranged = models.ServiceArguments("10.0.0.1", 80, "tcp", port_max=90)
    assert plain.key == same.key
    assert ranged.key != plain.key and ranged.key[3] == 90


def test_key_uses_canonical_ipv6_text() -> None:
    long_form = models.ServiceArguments("2001:db8:0:0:0:0:0:1", 443, "tcp")
    assert long_form.key[0] == "2001:db8::1"


def test_endpoint_identity_is_ip_and_port_not_weight() -> None:
    assert models.Endpoint("10.0.0.1", 80, 1).ident == models.Endpoint("10.0.0.1", 80, 50).ident


def test_endpoint_probe_wire_forms() -> None:
    probe = models.EndpointProbe("10.0.1.10", "http", name="10.0.1.10_tcp_8080",
                                 probe_port=8080, probe_req="health", probe_duration=5,
                                 inactive_retries=2)
    assert probe.to_wire() == {
        "hostName": "10.0.1.10", "probeType": "http", "inactiveReTries": 2,
        "name": "10.0.1.10_tcp_8080", "probePort": 8080, "probeReq": "health",
        "probeDuration": 5,
    }
    listed = models.EndpointProbe.from_wire({
        "hostName": "10.0.1.10", "name": "10.0.1.10_tcp_8080", "probeType": "none",
        "probePort": 8080, "currState": "red",
    })
    assert (listed.probe_type, listed.state, listed.inactive_retries) == ("none", "red", 0)


def test_host_state_sends_port_and_protocol_only_together() -> None:
    assert models.EndpointHostState("10.0.1.10", "red").to_wire() == {
        "hostName": "10.0.1.10", "state": "red"}
    assert models.EndpointHostState("10.0.1.10", "red", port=80).to_wire() == {
        "hostName": "10.0.1.10", "state": "red"}
    assert models.EndpointHostState("10.0.1.10", "green", 80, "tcp").to_wire() == {
        "hostName": "10.0.1.10", "state": "green", "epPort": 80, "epProto": "tcp"}


def test_cluster_state_bfd_port_and_version_parse_get_shapes() -> None:
    ci = models.ClusterInstanceState.from_wire(
        {"instance": "llb-inst0", "state": "NOT_DEFINED", "vip": "0.0.0.0", "sync": None})
    assert ci == models.ClusterInstanceState("llb-inst0", "NOT_DEFINED", "0.0.0.0")
    bfd = models.BFDSession.from_wire({
        "instance": "llb-inst0", "remoteIp": "10.0.0.2", "sourceIP": "10.0.0.1", "port": 3784,
        "interval": 200000, "retryCount": 3, "state": "BFDUp"})
    assert (bfd.source_ip, bfd.state, bfd.interval) == ("10.0.0.1", "BFDUp", 200000)
    assert bfd.to_wire()["sourceIp"] == "10.0.0.1"
    port = models.Port.from_wire({
        "portName": "eth1", "portNo": 3,
        "portHardwareInformation": {"macAddress": "AA:BB:CC:00:11:22", "mtu": 9000,
                                    "link": True},
        "portL3Information": {"IPv4Address": ["10.0.0.1/24 (P) "], "IPv6Address": [""]},
    })
    assert (port.mac, port.ipv4, port.mtu) == ("aa:bb:cc:00:11:22", "10.0.0.1/24", 9000)
    no_addr = models.Port.from_wire({"portName": "lo", "portL3Information": {
        "IPv4Address": [""]}})
    assert no_addr.ipv4 == ""
    assert models.Version.from_wire({"version": "0.9.8.8", "buildInfo": "x"}).version == "0.9.8.8"
