"""The driver's shared RPC client: built once, lazily, and failing loudly but briefly."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from octavia_lib.api.drivers import exceptions
from oslo_config import cfg

from octavia_loxilb.driver import rpc
from octavia_loxilb.driver.provider import LoxiLBProviderDriver
from tests.unit.test_provider_jobs import register_transport_opts


@pytest.fixture
def transport_url() -> Iterator[Any]:
    """Point Octavia's ``transport_url`` somewhere for one test, with a fresh client."""
    register_transport_opts(cfg.CONF)

    def use(url: str, retries: int = 3) -> None:
        cfg.CONF.set_override("transport_url", url)
        cfg.CONF.set_override("rpc_cast_retries", retries, group="loxilb")
        rpc.reset()

    yield use
    rpc.reset()
    cfg.CONF.clear_override("transport_url")
    cfg.CONF.clear_override("rpc_cast_retries", group="loxilb")


def test_target_is_the_worker_contract() -> None:
    target = rpc.worker_target()
    assert (target.topic, target.namespace, target.version) == (
        cfg.CONF.loxilb.rpc_topic, "octavia_loxilb", "1.0")
    assert cfg.CONF.loxilb.rpc_topic == "octavia_loxilb_worker"


def test_lazy_client_is_built_once_under_concurrency(transport_url: Any) -> None:
    transport_url("fake:/")
    seen: list[Any] = []
    barrier = threading.Barrier(8)

    def build() -> None:
        barrier.wait()
        seen.append(rpc.get_client())

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(client is seen[0] for client in seen)
    assert rpc.get_transport() is rpc.get_transport()


def test_reset_builds_a_new_client_next_time(transport_url: Any) -> None:
    transport_url("fake:/")
    first = rpc.get_client()
    rpc.reset()
    assert rpc.get_client() is not first


def test_unreachable_bus_fails_the_request_with_a_driver_error(transport_url: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    transport_url(f"rabbit://guest:guest@127.0.0.1:{closed_port}/", retries=0)
    with pytest.raises(exceptions.DriverError) as error:
        LoxiLBProviderDriver().loadbalancer_failover("lb-1")
    assert "could not queue" in error.value.user_fault_string
    assert "loadbalancer_failover for load balancer lb-1" in error.value.operator_fault_string
