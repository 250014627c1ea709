"""The driver's casts over a real RabbitMQ reach a real oslo.messaging RPC server.

The server sits on its own transport (as the worker does in another process) and serves
the worker contract: topic ``[loxilb] rpc_topic``, namespace ``octavia_loxilb``, version
1.0, method ``run_job``. Each test uses a fresh topic so parallel runs never meet.
"""

from __future__ import annotations

import queue
import socket
import uuid
from collections.abc import Iterator

import oslo_messaging
import pytest
from octavia_lib.api.drivers import data_models as dm
from octavia_lib.api.drivers import exceptions
from oslo_config import cfg

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.driver import rpc
from octavia_loxilb.driver.provider import LoxiLBProviderDriver
from tests.unit.test_provider_jobs import Recorder, register_transport_opts

RABBIT = "rabbit://guest:guest@127.0.0.1:5672/"


def rabbit_running() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        return False
    return True


pytestmark = [pytest.mark.services,
              pytest.mark.skipif(not rabbit_running(), reason="RabbitMQ is not running here")]


@pytest.fixture
def rabbit_worker() -> Iterator[Recorder]:
    register_transport_opts(cfg.CONF)
    topic = f"octavia_loxilb_test_{uuid.uuid4().hex}"
    cfg.CONF.set_override("transport_url", RABBIT)
    cfg.CONF.set_override("rpc_topic", topic, group="loxilb")
    rpc.reset()
    recorder = Recorder()
    server_transport = oslo_messaging.get_rpc_transport(cfg.CONF)
    server = oslo_messaging.get_rpc_server(
        server_transport, oslo_messaging.Target(topic=topic, server="functional-worker"),
        [recorder], executor="threading")
    server.start()
    try:
        yield recorder
    finally:
        server.stop()
        server.wait()
        server_transport.cleanup()
        rpc.reset()
        cfg.CONF.clear_override("transport_url")
        cfg.CONF.clear_override("rpc_topic", group="loxilb")


def _member(member_id: str) -> dm.Member:
    return dm.Member(member_id=member_id, pool_id="po-1", address="192.0.2.30",
                     protocol_port=8080, weight=1, admin_state_up=True)


def test_create_job_arrives_intact(rabbit_worker: Recorder) -> None:
    pool = dm.Pool(pool_id="po-1", loadbalancer_id="lb-1", protocol="TCP",
                   lb_algorithm="ROUND_ROBIN", members=[_member("me-1")])
    listener = dm.Listener(listener_id="li-1", loadbalancer_id="lb-1", protocol="TCP",
                           protocol_port=80, default_pool_id="po-1", default_pool=pool)
    lb = dm.LoadBalancer(loadbalancer_id="lb-1", vip_address="192.0.2.10", flavor={},
                         availability_zone={}, listeners=[listener], pools=[pool])
    LoxiLBProviderDriver().loadbalancer_create(lb)
    job = Job.from_dict(rabbit_worker.next())
    assert job.op == "loadbalancer_create"
    assert job.subject == ("loadbalancers", "lb-1")
    assert job.locked == {"loadbalancers": ["lb-1"], "listeners": ["li-1"],
                          "pools": ["po-1"], "members": ["me-1"]}


def test_jobs_arrive_in_cast_order(rabbit_worker: Recorder) -> None:
    driver = LoxiLBProviderDriver()
    driver.member_batch_update("po-1", [_member("me-1"), _member("me-2")])
    driver.member_update(_member("me-1"), dm.Member(member_id="me-1", weight=5))
    first, second = rabbit_worker.next(), rabbit_worker.next()
    assert (first["op"], first["members"]) == ("member_batch_update", ["me-1", "me-2"])
    assert (second["op"], second["expect"]) == ("member_update", {"weight": 5})


def test_refused_request_puts_nothing_on_the_bus(rabbit_worker: Recorder) -> None:
    driver = LoxiLBProviderDriver()
    with pytest.raises(exceptions.UnsupportedOptionError):
        driver.member_create(dm.Member(member_id="me-x", pool_id="po-1",
                                       address="192.0.2.31", protocol_port=80, backup=True))
    driver.loadbalancer_failover("lb-1")
    assert rabbit_worker.next()["op"] == "loadbalancer_failover"
    with pytest.raises(queue.Empty):
        rabbit_worker.jobs.get(timeout=0.5)
