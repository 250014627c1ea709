"""``LoxiLBCluster``: a group of LoxiLB nodes that must all hold the same rules.

LoxiLB has no REST call that replicates configuration between nodes (API-NOTES §5.3), so
every write goes to every node. Writes run concurrently so one slow node does not add its
latency to the others, and each node's outcome is reported separately: the caller decides
whether a partial success is good enough (and the reconciler repairs the rest later).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from typing import Any, Generic, TypeVar, cast

from octavia_loxilb.loxilb import errors, models
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.interface import LoxiLBNodeAPI
from octavia_loxilb.loxilb.transport import NodeConfig

LOG = logging.getLogger(__name__)

T = TypeVar("T")

MAX_PARALLEL = 8


@dataclasses.dataclass(frozen=True)
class NodeResult(Generic[T]):
    """What one node answered: ``value`` when ``ok``, else the ``error`` it raised."""

    node: str
    ok: bool
    value: T | None = None
    error: Exception | None = None


class ClusterError(errors.LoxiLBError):
    """Some nodes of a cluster call failed; ``failures`` holds their results."""

    def __init__(self, failures: Sequence[NodeResult[Any]]) -> None:
        self.failures = tuple(failures)
        detail = "; ".join(f"{r.node}: {r.error}" for r in self.failures)
        super().__init__(f"{len(self.failures)} node(s) failed: {detail}")


@dataclasses.dataclass(frozen=True)
class ClusterResult(Generic[T]):
    """Per-node results of one cluster call, in the cluster's node order."""

    results: tuple[NodeResult[T], ...]

    def __iter__(self) -> Iterator[NodeResult[T]]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    @property
    def all_ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> tuple[NodeResult[T], ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def values(self) -> dict[str, T]:
        """Node → value, for the nodes that succeeded."""
        return {r.node: cast(T, r.value) for r in self.results if r.ok}

    def raise_for_failures(self) -> None:
        """Raise ``ClusterError`` when any node failed."""
        if not self.all_ok:
            raise ClusterError(self.failures)


class LoxiLBCluster:
    """Fan-out of node API calls to every node of a group."""

    def __init__(self, nodes: Sequence[LoxiLBNodeAPI], max_parallel: int = MAX_PARALLEL) -> None:
        if not nodes:
            raise ValueError("a LoxiLB cluster needs at least one node")
        self.nodes: tuple[LoxiLBNodeAPI, ...] = tuple(nodes)
        self._max_parallel = max(1, max_parallel)

    @classmethod
    def from_conf(cls, conf: Any) -> LoxiLBCluster:
        """The operator-run cluster of ``[loxilb] api_endpoints``."""
        return cls([LoxiLBClient(NodeConfig.from_conf(conf, url))
                    for url in conf.loxilb.api_endpoints])

    def close(self) -> None:
        """Release the nodes' pooled connections (for nodes that hold any)."""
        for node in self.nodes:
            closer = getattr(node, "close", None)
            if callable(closer):
                closer()

    def call(self, operation: Callable[[LoxiLBNodeAPI], T]) -> ClusterResult[T]:
        """Run ``operation`` on every node concurrently and collect each outcome."""
        if len(self.nodes) == 1:
            return ClusterResult((_run(self.nodes[0], operation),))
        workers = min(self._max_parallel, len(self.nodes))
        with futures.ThreadPoolExecutor(workers, thread_name_prefix="loxilb-node") as pool:
            pending = [pool.submit(_run, node, operation) for node in self.nodes]
            return ClusterResult(tuple(f.result() for f in pending))

    # -- writes: every node --------------------------------------------------------------------

    def apply_rule(self, rule: models.LoadBalancerRule) -> ClusterResult[bool]:
        return self.call(lambda node: node.apply_rule(rule))

    def delete_rule(self, key: models.RuleKey) -> ClusterResult[bool]:
        return self.call(lambda node: node.delete_rule(key))

    def delete_rules_named(self, name: str) -> ClusterResult[None]:
        return self.call(lambda node: node.delete_rules_named(name))

    def set_endpoint_probe(self, probe: models.EndpointProbe) -> ClusterResult[None]:
        return self.call(lambda node: node.set_endpoint_probe(probe))

    def delete_endpoint_probe(self, ip: str, name: str) -> ClusterResult[bool]:
        return self.call(lambda node: node.delete_endpoint_probe(ip, name))

    def set_endpoint_host_state(self, state: models.EndpointHostState) -> ClusterResult[None]:
        return self.call(lambda node: node.set_endpoint_host_state(state))

    # -- reads: per node -----------------------------------------------------------------------

    def version(self) -> ClusterResult[models.Version]:
        return self.call(lambda node: node.version())

    def list_rules(self) -> ClusterResult[list[models.LoadBalancerRule]]:
        return self.call(lambda node: node.list_rules())

    def list_endpoint_probes(self) -> ClusterResult[list[models.EndpointProbe]]:
        return self.call(lambda node: node.list_endpoint_probes())


def _run(node: LoxiLBNodeAPI, operation: Callable[[LoxiLBNodeAPI], T]) -> NodeResult[T]:
    try:
        return NodeResult(node.node, True, operation(node))
    except Exception as exc:  # noqa: BLE001 - every failure becomes that node's result
        LOG.warning("LoxiLB node %s failed: %s", node.node, exc)
        return NodeResult(node.node, False, error=exc)
