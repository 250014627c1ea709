"""The retry policy against injected emulator faults, judged from the emulator's call log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb import errors, models
from octavia_loxilb.loxilb.client import LoxiLBClient, NodeConfig
from tests.contract.conftest import Raw

RULE = models.LoadBalancerRule(
    models.ServiceArguments("10.0.0.100", 80, "tcp", name="lsnr-1"),
    (models.Endpoint("10.0.1.10", 8080), models.Endpoint("10.0.1.11", 8080)),
)
PROBE = models.EndpointProbe("10.0.3.7", "tcp", name="10.0.3.7_tcp_9000", probe_port=9000)


@pytest.fixture
def client(emulator: Emulator) -> Iterator[LoxiLBClient]:
    config = NodeConfig(emulator.base_url, retries=3, retry_backoff=0.01)
    with LoxiLBClient(config) as node:
        yield node


def fault(raw: Raw, **spec: Any) -> None:
    raw.hook("POST", "faults", spec)


def calls(raw: Raw, method: str | None = None) -> list[tuple[str, str, int | None]]:
    """(method, path, status) of the API calls so far; status None = connection dropped."""
    logged = raw.hook("GET", "calls").json()
    return [(c["method"], c["path"].removeprefix("/netlox/v1"), c["status"]) for c in logged
            if method is None or c["method"] == method]


def test_get_retried_after_5xx_until_success(client: LoxiLBClient, raw: Raw) -> None:
    fault(raw, method="GET", path_prefix="/config/loadbalancer/all", status=500, count=1)
    fault(raw, method="GET", path_prefix="/config/loadbalancer/all", status=503, count=1)
    assert client.list_rules() == []
    assert [status for _, _, status in calls(raw)] == [500, 503, 200]


def test_get_retried_after_a_dropped_connection(client: LoxiLBClient, raw: Raw) -> None:
    fault(raw, method="GET", path_prefix="/config/endpoint/all", drop=True)
    assert client.list_endpoint_probes() == []
    assert [status for _, _, status in calls(raw)] == [None, 200]


def test_get_gives_up_after_the_configured_retries(client: LoxiLBClient, raw: Raw) -> None:
    fault(raw, method="GET", path_prefix="/config/cistate", status=500, count=0)
    with pytest.raises(errors.ServerError):
        client.list_cluster_states()
    assert len(calls(raw)) == 4  # 1 + api_retries


def test_4xx_is_never_retried(client: LoxiLBClient, raw: Raw) -> None:
    fault(raw, method="GET", path_prefix="/config/loadbalancer/all", status=400)
    with pytest.raises(errors.InvalidRequest):
        client.list_rules()
    assert len(calls(raw)) == 1


def test_delete_retried_after_5xx(client: LoxiLBClient, raw: Raw) -> None:
    assert client.apply_rule(RULE)
    raw.hook("DELETE", "calls")
    fault(raw, method="DELETE", path_prefix="/config/loadbalancer/externalipaddress",
          status=502, count=1)
    assert client.delete_rule(RULE.key) is True
    assert [status for _, _, status in calls(raw)] == [502, 200]
    assert client.list_rules() == []


def test_post_is_not_retried_on_a_500(client: LoxiLBClient, raw: Raw) -> None:
    fault(raw, method="POST", path_prefix="/config/loadbalancer", status=500, count=1)
    with pytest.raises(errors.ServerError):
        client.apply_rule(RULE)
    assert calls(raw, "POST") == [("POST", "/config/loadbalancer", 500)]
    assert client.list_rules() == []


def test_post_is_retried_on_503_maintenance(client: LoxiLBClient, raw: Raw) -> None:
    fault(raw, method="POST", path_prefix="/config/loadbalancer", status=503, count=2)
    assert client.apply_rule(RULE) is True
    assert [s for _, _, s in calls(raw, "POST")] == [503, 503, 200]
    assert [r.key for r in client.list_rules()] == [RULE.key]


def test_post_dropped_before_apply_is_read_back_then_sent_again(
    client: LoxiLBClient, raw: Raw
) -> None:
    fault(raw, method="POST", path_prefix="/config/loadbalancer", drop=True)
    assert client.apply_rule(RULE) is True
    assert calls(raw) == [
        ("POST", "/config/loadbalancer", None),
        ("GET", "/config/loadbalancer/all", 200),  # read-back: not there
        ("POST", "/config/loadbalancer", 200),
    ]
    (stored,) = client.list_rules()
    assert {ep.ip for ep in stored.endpoints} == {"10.0.1.10", "10.0.1.11"}


def test_post_dropped_after_apply_is_resolved_by_read_back_not_replayed(
    client: LoxiLBClient, raw: Raw
) -> None:
    fault(raw, method="POST", path_prefix="/config/loadbalancer", drop=True, after_apply=True)
    assert client.apply_rule(RULE) is True
    assert calls(raw) == [
        ("POST", "/config/loadbalancer", None),
        ("GET", "/config/loadbalancer/all", 200),  # read-back: applied, so no replay
    ]


def test_update_dropped_after_apply_is_recognised_by_its_new_endpoints(
    client: LoxiLBClient, raw: Raw
) -> None:
    assert client.apply_rule(RULE)
    updated = models.LoadBalancerRule(RULE.service, (models.Endpoint("10.0.1.12", 8080, 5),))
    raw.hook("DELETE", "calls")
    fault(raw, method="POST", path_prefix="/config/loadbalancer", drop=True, after_apply=True)
    assert client.apply_rule(updated) is True
    assert len(calls(raw, "POST")) == 1


def test_update_dropped_before_apply_is_not_mistaken_for_the_old_rule(
    client: LoxiLBClient, raw: Raw
) -> None:
    # The key exists already, so the read-back must compare endpoints, not just the key.
    assert client.apply_rule(RULE)
    updated = models.LoadBalancerRule(RULE.service, (models.Endpoint("10.0.1.12", 8080, 5),))
    raw.hook("DELETE", "calls")
    fault(raw, method="POST", path_prefix="/config/loadbalancer", drop=True)
    assert client.apply_rule(updated) is True
    assert [s for _, _, s in calls(raw, "POST")] == [None, 200]
    (stored,) = client.list_rules()
    assert [(ep.ip, ep.weight) for ep in stored.endpoints] == [("10.0.1.12", 5)]


def test_probe_post_dropped_after_apply_is_not_replayed(client: LoxiLBClient, raw: Raw) -> None:
    fault(raw, method="POST", path_prefix="/config/endpoint", drop=True, after_apply=True)
    client.set_endpoint_probe(PROBE)
    assert [s for _, _, s in calls(raw, "POST")] == [None]
    assert PROBE.name in {p.name for p in client.list_endpoint_probes()}


def test_probe_post_dropped_before_apply_is_sent_again(client: LoxiLBClient, raw: Raw) -> None:
    fault(raw, method="POST", path_prefix="/config/endpoint", drop=True)
    client.set_endpoint_probe(PROBE)
    assert [s for _, _, s in calls(raw, "POST")] == [None, 200]


def test_unknown_outcome_with_unreadable_node_is_raised(client: LoxiLBClient, raw: Raw) -> None:
    fault(raw, method="POST", path_prefix="/config/loadbalancer", drop=True, after_apply=True)
    fault(raw, method="GET", path_prefix="/config/loadbalancer/all", status=503, count=0)
    with pytest.raises(errors.Unavailable) as raised:
        client.apply_rule(RULE)
    assert raised.value.outcome_unknown
    assert len(calls(raw, "POST")) == 1


def test_post_answered_too_late_is_resolved_without_a_duplicate(
    emulator: Emulator, raw: Raw
) -> None:
    config = NodeConfig(emulator.base_url, retries=3, retry_backoff=0.3, timeout_read=0.3)
    fault(raw, method="POST", path_prefix="/config/loadbalancer", latency=0.5)
    with LoxiLBClient(config) as slow:
        # The read-back may run before the delayed POST lands; the rule is then sent again
        # and LoxiLB answers "exists" for the copy. Either way this call changed the rule.
        assert slow.apply_rule(RULE) is True
        (stored,) = slow.list_rules()
    assert stored.key == RULE.key
    assert 1 <= len(calls(raw, "POST")) <= 2
