"""``LoxiLBCluster`` over several emulated nodes: fan-out writes and per-node results."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import cast

import pytest
from oslo_config import cfg

from octavia_loxilb import conf as conf_registry
from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb import errors, models
from octavia_loxilb.loxilb.client import LoxiLBClient, NodeConfig
from octavia_loxilb.loxilb.cluster import ClusterError, LoxiLBCluster
from octavia_loxilb.loxilb.interface import LoxiLBNodeAPI
from tests.conftest import EmulatorFactory
from tests.contract.conftest import Raw

RULE = models.LoadBalancerRule(
    models.ServiceArguments("10.0.0.100", 80, "tcp", name="lsnr-1"),
    (models.Endpoint("10.0.1.10", 8080), models.Endpoint("10.0.1.11", 8080)),
)


@pytest.fixture
def nodes(emulator_factory: EmulatorFactory) -> list[Emulator]:
    return [emulator_factory(datapath=False) for _ in range(3)]


@pytest.fixture
def cluster(nodes: list[Emulator]) -> Iterator[LoxiLBCluster]:
    group = LoxiLBCluster([
        LoxiLBClient(NodeConfig(n.base_url, retries=1, retry_backoff=0.01)) for n in nodes
    ])
    yield group
    group.close()


def test_writes_reach_every_node(cluster: LoxiLBCluster, nodes: list[Emulator]) -> None:
    applied = cluster.apply_rule(RULE)
    assert applied.all_ok and list(applied.values.values()) == [True, True, True]
    assert [r.node for r in applied] == [n.base_url for n in nodes]
    again = cluster.apply_rule(RULE)
    assert list(again.values.values()) == [False, False, False]

    listed = cluster.list_rules()
    assert all([rule.key for rule in rules] == [RULE.key] for rules in listed.values.values())

    probe = models.EndpointProbe("10.0.3.7", "ping", name="10.0.3.7_ping_0")
    assert cluster.set_endpoint_probe(probe).all_ok
    probes = cluster.list_endpoint_probes()
    assert all(probe.name in {p.name for p in ps} for ps in probes.values.values())
    assert list(cluster.delete_endpoint_probe("10.0.3.7", probe.name).values.values()) == [
        True, True, True]

    assert cluster.delete_rules_named("lsnr-1").all_ok
    assert all(rules == [] for rules in cluster.list_rules().values.values())


def test_one_failing_node_gives_per_node_results(
    cluster: LoxiLBCluster, nodes: list[Emulator]
) -> None:
    Raw(nodes[1]).hook("POST", "faults", {"method": "POST", "path_prefix": "/config",
                                          "status": 500, "count": 0})
    result = cluster.apply_rule(RULE)
    assert not result.all_ok
    first, failed, third = result.results
    assert first.ok and third.ok and (first.value, third.value) == (True, True)
    assert not failed.ok and failed.node == nodes[1].base_url
    assert isinstance(failed.error, errors.ServerError)
    with pytest.raises(ClusterError) as raised:
        result.raise_for_failures()
    assert raised.value.failures == (failed,)
    assert nodes[1].base_url in str(raised.value)

    # The healthy nodes hold the rule; the failed one does not.
    held = {node: [r.key for r in rules] for node, rules in cluster.list_rules().values.items()}
    assert held == {nodes[0].base_url: [RULE.key], nodes[1].base_url: [],
                    nodes[2].base_url: [RULE.key]}


def test_a_stopped_node_fails_alone(cluster: LoxiLBCluster, nodes: list[Emulator]) -> None:
    nodes[2].stop()
    result = cluster.version()
    assert [r.ok for r in result] == [True, True, False]
    assert isinstance(result.results[2].error, errors.Unavailable)


def test_writes_run_concurrently(cluster: LoxiLBCluster, nodes: list[Emulator]) -> None:
    # Each node's call waits until all three calls are in flight; a sequential fan-out
    # would break the barrier and fail the first node.
    arrived = threading.Barrier(3, timeout=5)

    class Gate:
        def __init__(self, node: LoxiLBClient) -> None:
            self.inner = node
            self.node = node.node

        def apply_rule(self, rule: models.LoadBalancerRule) -> bool:
            arrived.wait()
            return self.inner.apply_rule(rule)

    gated = LoxiLBCluster([cast(LoxiLBNodeAPI, Gate(cast(LoxiLBClient, n)))
                           for n in cluster.nodes])
    result = gated.apply_rule(RULE)
    assert result.all_ok, result.failures


def test_from_conf_builds_one_client_per_endpoint(nodes: list[Emulator]) -> None:
    conf = conf_registry.register_opts(cfg.ConfigOpts())
    conf([], project="octavia-loxilb-test", default_config_files=[])
    conf.set_override("api_endpoints", [n.base_url for n in nodes], group="loxilb")
    conf.set_override("api_retries", 0, group="loxilb")
    conf.set_override("api_timeout_read", 7.5, group="loxilb")
    group = LoxiLBCluster.from_conf(conf)
    try:
        assert [n.node for n in group.nodes] == [n.base_url for n in nodes]
        first = group.nodes[0]
        assert isinstance(first, LoxiLBClient) and first.config.timeout_read == 7.5
        assert group.apply_rule(RULE).all_ok
    finally:
        group.close()


def test_a_cluster_needs_nodes() -> None:
    with pytest.raises(ValueError):
        LoxiLBCluster([])
