"""Every error class the client raises, from real emulator answers, in both error styles.

``legacy`` runs each case against a node answering like LoxiLB v0.9.8.4 (``200
{"result": ...}``) and like v0.9.8.5+ (mapped HTTP status): the caller must see the same
class either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb import errors, models
from octavia_loxilb.loxilb.client import LoxiLBClient, NodeConfig
from tests.conftest import EmulatorFactory
from tests.contract.conftest import Raw

VIP = "10.0.0.100"


@pytest.fixture(params=[False, True], ids=["current", "legacy"])
def legacy(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def node(emulator_factory: EmulatorFactory, legacy: bool) -> Emulator:
    return emulator_factory(datapath=False, legacy_errors=legacy)


@pytest.fixture
def client(node: Emulator) -> Iterator[LoxiLBClient]:
    with LoxiLBClient(NodeConfig(node.base_url, retries=1, retry_backoff=0.01)) as loxilb:
        yield loxilb


def rule(*ips: str, protocol: str = "tcp", **service: Any) -> models.LoadBalancerRule:
    return models.LoadBalancerRule(
        models.ServiceArguments(VIP, 80, protocol, **service),
        tuple(models.Endpoint(ip, 8080) for ip in ips),
    )


def test_identical_rule_is_not_an_error(client: LoxiLBClient) -> None:
    assert client.apply_rule(rule("10.0.1.10")) is True
    assert client.apply_rule(rule("10.0.1.10")) is False


def test_security_change_is_a_conflict(client: LoxiLBClient, legacy: bool) -> None:
    assert client.apply_rule(rule("10.0.1.10"))
    with pytest.raises(errors.Conflict) as raised:
        client.apply_rule(rule("10.0.1.11", security=1))
    assert type(raised.value) is errors.Conflict
    assert raised.value.status == (200 if legacy else 409)


def test_missing_rule_and_probe_are_not_found(client: LoxiLBClient) -> None:
    assert client.delete_rule((VIP, "tcp", 80, 80, 0, "")) is False
    assert client.delete_endpoint_probe("10.0.9.9", "10.0.9.9_tcp_1") is False
    with pytest.raises(errors.NotFound):
        client.set_endpoint_host_state(models.EndpointHostState("10.0.9.9", "red", 1, "tcp"))


@pytest.mark.parametrize("bad", [
    rule(),  # no endpoints: endpoints-range error
    rule("10.0.1.10", probetype="http"),  # rule-level http probes are rejected
    rule("not-an-ip"),
    rule("10.0.1.10", inactive_timeout=86401),
], ids=["no-endpoints", "http-probe", "bad-endpoint", "timeout-range"])
def test_loxilb_argument_errors_are_invalid_requests(
    client: LoxiLBClient, bad: models.LoadBalancerRule
) -> None:
    with pytest.raises(errors.InvalidRequest):
        client.apply_rule(bad)


def test_framework_validation_errors_are_invalid_requests(client: LoxiLBClient) -> None:
    with pytest.raises(errors.InvalidRequest) as raised:
        client.apply_rule(rule("10.0.1.10", protocol="TCP"))  # enum is case-sensitive: 422
    assert raised.value.status == 422


def test_dsr_without_hash_is_an_invalid_request_although_loxilb_says_200(
    client: LoxiLBClient,
) -> None:
    with pytest.raises(errors.InvalidRequest) as raised:
        client.apply_rule(rule("10.0.1.10", mode=models.Mode.DSR, sel=models.Sel.RR))
    assert raised.value.status == 200


def test_secondary_ip_change_is_a_server_error(client: LoxiLBClient) -> None:
    base = models.ServiceArguments(VIP, 80, "sctp")
    first = models.LoadBalancerRule(base, (models.Endpoint("10.0.1.10", 8080),),
                                    secondary_ips=("10.0.0.101",))
    changed = models.LoadBalancerRule(base, (models.Endpoint("10.0.1.11", 8080),),
                                      secondary_ips=("10.0.0.102",))
    assert client.apply_rule(first)
    with pytest.raises(errors.ServerError) as raised:
        client.apply_rule(changed)
    assert "secIP modify error" in (raised.value.result or "")


def test_address_failure_reported_as_200_fail_is_an_error(client: LoxiLBClient) -> None:
    with pytest.raises(errors.ServerError) as raised:
        client.add_ipv4_address(models.IPv4Address("eth0", "10.9.0.5/99"))
    assert (raised.value.status, raised.value.result) == (200, "fail")


def test_capacity_and_maintenance_answers(client: LoxiLBClient, node: Emulator) -> None:
    raw = Raw(node)
    raw.hook("POST", "faults", {"method": "POST", "path_prefix": "/config/loadbalancer",
                                "status": 403})
    with pytest.raises(errors.CapacityError):
        client.apply_rule(rule("10.0.1.10"))
    raw.hook("POST", "faults", {"method": "GET", "path_prefix": "/config/loadbalancer",
                                "status": 503, "count": 0})
    with pytest.raises(errors.Unavailable) as raised:
        client.list_rules()
    assert raised.value.status == 503 and raised.value.outcome_unknown is False


def test_errors_name_the_node_and_the_call(client: LoxiLBClient) -> None:
    with pytest.raises(errors.InvalidRequest) as raised:
        client.apply_rule(rule())
    assert raised.value.node == client.node
    assert (raised.value.method, raised.value.path) == ("POST", "/config/loadbalancer")
    assert client.node in str(raised.value)
