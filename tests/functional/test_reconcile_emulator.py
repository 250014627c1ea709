"""The reconciler against the real LoxiLB emulator, through the real REST client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings

from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.transport import NodeConfig
from octavia_loxilb.reconcile.apply import NOT_READ_BACK, NodeState, Reconciler
from octavia_loxilb.reconcile.translate import translate
from tests.conftest import EmulatorFactory
from tests.unit.test_plan_properties import trees
from tests.unit.test_translate import hm, listener, member, pool, tree


def lb(members: list | None = None, **pool_fields: Any) -> dict[str, Any]:
    p = pool(members=members if members is not None else [member(1), member(2)], **pool_fields)
    return tree([listener(default_pool=p)], [p])


def client(node: Emulator) -> LoxiLBClient:
    return LoxiLBClient(NodeConfig(node.base_url, retries=0, timeout_read=10))


@pytest.fixture
def node(emulator: Emulator) -> Iterator[LoxiLBClient]:
    with client(emulator) as api:
        yield api


def calls(emulator: Emulator) -> list[dict[str, Any]]:
    return requests.get(emulator.base_url + "/_emulator/calls", timeout=5).json()


def writes(emulator: Emulator) -> list[tuple[str, str]]:
    """Non-GET API calls since the log was last cleared."""
    return [(c["method"], c["path"]) for c in calls(emulator) if c["method"] != "GET"]


def clear_calls(emulator: Emulator) -> None:
    requests.delete(emulator.base_url + "/_emulator/calls", timeout=5).raise_for_status()


def converge(api: LoxiLBClient, tree_: dict[str, Any], **kwargs: Any) -> Any:
    return Reconciler([api]).converge(translate(tree_, **kwargs))


RULE = "/netlox/v1/config/loadbalancer"


def test_converge_then_again_does_nothing(emulator: Emulator, node: LoxiLBClient) -> None:
    result = converge(node, lb(healthmonitor=hm(type="HTTP", url_path="/ok")))
    assert result.verified and result.listeners["l1"].verified
    rules = node.list_rules()
    assert [(r.name, len(r.endpoints)) for r in rules] == [("oct-l1", 2)]
    probes = {p.name: p for p in node.list_endpoint_probes()}
    assert probes["10.0.0.1_tcp_8080"].probe_type == "http"
    assert probes["10.0.0.1_tcp_8080"].probe_req == "ok"
    clear_calls(emulator)
    again = converge(node, lb(healthmonitor=hm(type="HTTP", url_path="/ok")))
    assert again.verified and again.writes == 0
    assert writes(emulator) == []


def test_member_churn_costs_one_write_each(emulator: Emulator, node: LoxiLBClient) -> None:
    assert converge(node, lb()).verified
    for variant in [
        lb([member(1), member(2), member(3)]),  # add
        lb([member(1), member(3)]),  # remove
        lb([member(1, weight=3), member(3)]),  # weight
        lb([member(1, weight=3), member(3)], lb_algorithm="LEAST_CONNECTIONS"),  # algorithm
    ]:
        clear_calls(emulator)
        result = converge(node, variant)
        assert result.verified, result.nodes[0].report
        assert writes(emulator) == [("POST", RULE)]
        assert result.rule_deletes == 0
    assert {(e.ip, e.port) for e in node.list_rules()[0].endpoints} == {
        ("10.0.0.1", 8080),
        ("10.0.0.3", 8080),
    }


def test_idle_timeout_change_applies_without_delete(
    emulator: Emulator, node: LoxiLBClient
) -> None:
    assert converge(node, lb()).verified
    p = pool(members=[member(1), member(2)])
    changed = tree([listener(default_pool=p, timeout_client_data=7000)], [p])
    clear_calls(emulator)
    result = converge(node, changed)
    assert result.verified, result.nodes[0].report
    assert node.list_rules()[0].service.inactive_timeout == 7
    assert writes(emulator) == [("POST", RULE), ("POST", RULE)]


def test_restart_wipes_and_converge_restores(emulator: Emulator, node: LoxiLBClient) -> None:
    full = lb(healthmonitor=hm())
    assert converge(node, full).verified
    before = {r.key: r for r in node.list_rules()}
    requests.post(emulator.base_url + "/_emulator/restart", timeout=5).raise_for_status()
    assert node.list_rules() == []
    result = converge(node, full)
    assert result.verified and result.writes > 0
    after = {r.key: r for r in node.list_rules()}
    assert set(after) == set(before)
    assert {p.probe_type for p in node.list_endpoint_probes()} == {"tcp"}
    assert converge(node, full).writes == 0


def test_last_member_gone_deletes_the_rule(emulator: Emulator, node: LoxiLBClient) -> None:
    assert converge(node, lb()).verified
    clear_calls(emulator)
    result = converge(node, lb(), deleting={"members": {"m1", "m2"}})
    assert result.verified and result.rule_deletes == 1
    assert node.list_rules() == []
    assert [m for m, _ in writes(emulator)] == ["DELETE"]


def test_nodes_converge_independently(emulator_factory: EmulatorFactory) -> None:
    healthy, failing = emulator_factory(datapath=False), emulator_factory(datapath=False)
    requests.post(
        failing.base_url + "/_emulator/faults",
        json={"method": "POST", "path_prefix": "/config/loadbalancer", "status": 500},
        timeout=5,
    ).raise_for_status()
    with client(healthy) as a, client(failing) as b:
        result = Reconciler([a, b]).converge(translate(lb()))
        by_node = {n.node: n for n in result.nodes}
        assert by_node[a.node].verified
        assert not by_node[b.node].verified and by_node[b.node].error
        assert not result.verified
        assert not result.listeners["l1"].verified
        assert b.node in (result.listeners["l1"].error or "")
        retry = Reconciler([a, b]).converge(translate(lb()))
        assert retry.verified and retry.nodes[0].writes == 0


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(start=trees(), target=trees())
def test_random_trees_converge_on_the_emulator(
    emulator: Emulator, start: dict[str, Any], target: dict[str, Any]
) -> None:
    requests.post(emulator.base_url + "/_emulator/restart", timeout=5).raise_for_status()
    with client(emulator) as api:
        assert converge(api, start).verified
        result = converge(api, target)
        assert result.verified, (result.nodes[0].error, result.nodes[0].report)
        assert converge(api, target).writes == 0


def test_monitor_and_full_replacement_on_the_emulator(
    emulator: Emulator, node: LoxiLBClient
) -> None:
    assert converge(node, lb()).verified
    clear_calls(emulator)
    result = converge(node, lb(healthmonitor=hm(type="PING")))
    assert result.verified
    assert writes(emulator) == [("POST", "/netlox/v1/config/endpoint")] * 2
    clear_calls(emulator)
    result = converge(node, lb([member(3), member(4)]))
    assert result.verified, result.nodes[0].report
    assert [m for m, _ in writes(emulator)] == ["POST", "POST"]
    assert result.rule_deletes == 0
    assert {p.probe_type for p in node.list_endpoint_probes()} == {"none"}


def test_snapshot_converge_reads_nothing_and_is_verified_only_by_check(
        emulator: Emulator, node: LoxiLBClient) -> None:
    desired = translate(lb(healthmonitor=hm()))
    empty = {node.node: NodeState(rules=[], probes=[])}
    clear_calls(emulator)

    result = Reconciler([node]).converge(desired, snapshot=empty, read_back=False)

    assert [c["method"] for c in calls(emulator)].count("GET") == 0
    assert result.writes > 0 and not result.verified
    assert all(lr.error and NOT_READ_BACK in lr.error for lr in result.listeners.values())
    # Judged against a read that misses the probes it wrote: still not verified.
    rules_only = {node.node: NodeState(rules=node.list_rules(), probes=[])}
    assert not Reconciler.check(result, desired, rules_only).verified
    actual = {node.node: NodeState(rules=node.list_rules(), probes=node.list_endpoint_probes())}
    checked = Reconciler.check(result, desired, actual)
    assert checked.verified and all(lr.verified for lr in checked.listeners.values())
    assert converge(node, lb(healthmonitor=hm())).writes == 0
