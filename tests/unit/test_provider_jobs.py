"""The provider driver end to end over oslo.messaging's in-process ``fake`` transport.

Each test starts a real RPC server on the driver's own transport (the fake driver keeps
its queues per transport), calls the driver as Octavia would, and asserts the exact job
the server receives.
"""

from __future__ import annotations

import queue
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import oslo_messaging
import oslo_messaging.opts
import pytest
from octavia_lib.api.drivers import data_models as dm
from octavia_lib.api.drivers import exceptions
from oslo_config import cfg

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.driver import rpc
from octavia_loxilb.driver.provider import LoxiLBProviderDriver
from tests.unit.test_capability_table import BASELINES


def register_transport_opts(conf: cfg.ConfigOpts) -> None:
    for group, opts in oslo_messaging.opts.list_opts():
        if group is None:
            conf.register_opts(opts)


class Recorder:
    """The worker's side of the contract: an endpoint exposing ``run_job``."""

    target = oslo_messaging.Target(namespace=rpc.RPC_NAMESPACE, version=rpc.RPC_VERSION)

    def __init__(self) -> None:
        self.jobs: queue.Queue[dict[str, Any]] = queue.Queue()

    def run_job(self, ctxt: dict[str, Any], job: dict[str, Any]) -> None:
        self.jobs.put(job)

    def next(self) -> dict[str, Any]:
        return self.jobs.get(timeout=10)


@pytest.fixture(scope="module")
def fake_bus() -> Iterator[Recorder]:
    """One worker-side RPC server for the module (stopping one takes a poll period)."""
    register_transport_opts(cfg.CONF)
    topic = f"loxilb-test-{uuid.uuid4().hex[:8]}"
    cfg.CONF.set_override("transport_url", "fake:/")
    cfg.CONF.set_override("rpc_topic", topic, group="loxilb")
    rpc.reset()
    recorder = Recorder()
    target = oslo_messaging.Target(topic=topic, server="test-worker")
    server = oslo_messaging.get_rpc_server(rpc.get_transport(), target, [recorder],
                                           executor="threading")
    server.start()
    try:
        yield recorder
    finally:
        server.stop()
        server.wait()
        rpc.reset()
        cfg.CONF.clear_override("transport_url")
        cfg.CONF.clear_override("rpc_topic", group="loxilb")


@pytest.fixture
def worker(fake_bus: Recorder) -> Iterator[Recorder]:
    """The module's server, with nothing left over from the previous test."""
    assert fake_bus.jobs.empty()
    yield fake_bus
    assert fake_bus.jobs.empty(), "a test left jobs it did not look at"


def _listener(**extra: Any) -> dm.Listener:
    return dm.Listener(**{**BASELINES["listeners"], **extra})


def _pool(**extra: Any) -> dm.Pool:
    return dm.Pool(**{**BASELINES["pools"], **extra})


def _member(member_id: str = "me-1", **extra: Any) -> dm.Member:
    return dm.Member(**{**BASELINES["members"], "member_id": member_id, **extra})


def _monitor(**extra: Any) -> dm.HealthMonitor:
    return dm.HealthMonitor(**{**BASELINES["healthmonitors"], **extra})


def _full_tree() -> dm.LoadBalancer:
    pool_a = _pool(pool_id="po-a", listener_id="li-a",
                   members=[_member("me-a1"), _member("me-a2", address="192.0.2.22")],
                   healthmonitor=_monitor(healthmonitor_id="hm-a", pool_id="po-a"))
    pool_b = _pool(pool_id="po-b", members=[_member("me-b1", pool_id="po-b")])
    listener_a = _listener(listener_id="li-a", default_pool_id="po-a", default_pool=pool_a,
                           l7policies=[])
    listener_b = _listener(listener_id="li-b", protocol_port=81)
    return dm.LoadBalancer(**BASELINES["loadbalancers"], listeners=[listener_a, listener_b],
                           pools=[pool_a, pool_b])


def _without_time(job: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(job.pop("created_at"), float)
    return job


def _expected(op: str, lb: str, subject: tuple[str, str], locked: dict[str, list[str]],
              **extra: Any) -> dict[str, Any]:
    job = Job(op=op, loadbalancer_id=lb, subject=subject, locked=locked, **extra).to_dict()
    job.pop("created_at")
    return job


CASES: list[tuple[str, Any, dict[str, Any]]] = [
    ("loadbalancer_update",
     lambda d: d.loadbalancer_update(dm.LoadBalancer(**BASELINES["loadbalancers"]),
                                     dm.LoadBalancer(loadbalancer_id="lb-1", name="new",
                                                     admin_state_up=False,
                                                     description=None)),
     _expected("loadbalancer_update", "lb-1", ("loadbalancers", "lb-1"),
               {"loadbalancers": ["lb-1"]},
               expect={"name": "new", "admin_state_up": False, "description": None})),
    ("loadbalancer_failover", lambda d: d.loadbalancer_failover("lb-1"),
     _expected("loadbalancer_failover", "lb-1", ("loadbalancers", "lb-1"),
               {"loadbalancers": ["lb-1"]})),
    ("listener_create", lambda d: d.listener_create(_listener()),
     _expected("listener_create", "lb-1", ("listeners", "li-1"),
               {"loadbalancers": ["lb-1"], "listeners": ["li-1"]})),
    ("listener_update",
     lambda d: d.listener_update(_listener(), dm.Listener(
         listener_id="li-1", timeout_client_data=3000, allowed_cidrs=["10.0.0.0/8"])),
     _expected("listener_update", "lb-1", ("listeners", "li-1"),
               {"loadbalancers": ["lb-1"], "listeners": ["li-1"]},
               expect={"timeout_client_data": 3000})),
    ("listener_delete", lambda d: d.listener_delete(_listener()),
     _expected("listener_delete", "lb-1", ("listeners", "li-1"),
               {"loadbalancers": ["lb-1"], "listeners": ["li-1"]},
               deleting={"listeners": ["li-1"]})),
    ("pool_create", lambda d: d.pool_create(_pool(listener_id="li-1")),
     _expected("pool_create", "lb-1", ("pools", "po-1"),
               {"loadbalancers": ["lb-1"], "listeners": ["li-1"], "pools": ["po-1"]})),
    ("pool_update",
     lambda d: d.pool_update(_pool(listener_id="li-1"),
                             dm.Pool(pool_id="po-1", lb_algorithm="SOURCE_IP",
                                     session_persistence={"type": "SOURCE_IP"})),
     _expected("pool_update", "lb-1", ("pools", "po-1"),
               {"loadbalancers": ["lb-1"], "listeners": ["li-1"], "pools": ["po-1"]},
               expect={"lb_algorithm": "SOURCE_IP"})),
    ("pool_delete",
     lambda d: d.pool_delete(_pool(members=[_member("me-1"), _member("me-2")],
                                   healthmonitor=_monitor())),
     _expected("pool_delete", "lb-1", ("pools", "po-1"),
               {"loadbalancers": ["lb-1"], "pools": ["po-1"]},
               deleting={"pools": ["po-1"], "members": ["me-1", "me-2"],
                         "healthmonitors": ["hm-1"]})),
    ("member_create", lambda d: d.member_create(_member()),
     _expected("member_create", "", ("members", "me-1"),
               {"pools": ["po-1"], "members": ["me-1"]})),
    ("member_update",
     lambda d: d.member_update(_member(), dm.Member(member_id="me-1", weight=7,
                                                    monitor_port=None)),
     _expected("member_update", "", ("members", "me-1"),
               {"pools": ["po-1"], "members": ["me-1"]},
               expect={"weight": 7, "monitor_port": None})),
    ("member_delete", lambda d: d.member_delete(_member()),
     _expected("member_delete", "", ("members", "me-1"),
               {"pools": ["po-1"], "members": ["me-1"]}, deleting={"members": ["me-1"]})),
    ("member_batch_update",
     lambda d: d.member_batch_update("po-1", [_member("me-1"), _member("me-9")]),
     _expected("member_batch_update", "", ("pools", "po-1"),
               {"pools": ["po-1"], "members": ["me-1", "me-9"]},
               members=["me-1", "me-9"])),
    ("member_batch_update_empty", lambda d: d.member_batch_update("po-1", []),
     _expected("member_batch_update", "", ("pools", "po-1"), {"pools": ["po-1"]},
               members=[])),
    ("health_monitor_create", lambda d: d.health_monitor_create(_monitor()),
     _expected("health_monitor_create", "", ("healthmonitors", "hm-1"),
               {"pools": ["po-1"], "healthmonitors": ["hm-1"]})),
    ("health_monitor_update",
     lambda d: d.health_monitor_update(_monitor(), dm.HealthMonitor(
         healthmonitor_id="hm-1", delay=9, max_retries_down=4)),
     _expected("health_monitor_update", "", ("healthmonitors", "hm-1"),
               {"pools": ["po-1"], "healthmonitors": ["hm-1"]},
               expect={"delay": 9, "max_retries_down": 4})),
    ("health_monitor_delete", lambda d: d.health_monitor_delete(_monitor()),
     _expected("health_monitor_delete", "", ("healthmonitors", "hm-1"),
               {"pools": ["po-1"], "healthmonitors": ["hm-1"]},
               deleting={"healthmonitors": ["hm-1"]})),
]


@pytest.mark.parametrize(("name", "call", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_call_casts_its_job(worker: Recorder, name: str, call: Any,
                                 expected: dict[str, Any]) -> None:
    before = time.time()
    call(LoxiLBProviderDriver())
    job = worker.next()
    assert before <= job["created_at"] <= time.time()
    assert _without_time(job) == expected
    assert Job.from_dict({**job, "created_at": 0.0}).op == expected["op"]


def test_fully_populated_create_locks_every_nested_object(worker: Recorder) -> None:
    LoxiLBProviderDriver().loadbalancer_create(_full_tree())
    assert _without_time(worker.next()) == _expected(
        "loadbalancer_create", "lb-1", ("loadbalancers", "lb-1"),
        {"loadbalancers": ["lb-1"], "listeners": ["li-a", "li-b"], "pools": ["po-a", "po-b"],
         "members": ["me-a1", "me-a2", "me-b1"], "healthmonitors": ["hm-a"]})


def test_bare_create_locks_only_the_load_balancer(worker: Recorder) -> None:
    LoxiLBProviderDriver().loadbalancer_create(dm.LoadBalancer(**BASELINES["loadbalancers"]))
    assert worker.next()["locked"] == {"loadbalancers": ["lb-1"]}


@pytest.mark.parametrize("cascade", [True, False])
def test_delete_marks_the_whole_tree_deleting(worker: Recorder, cascade: bool) -> None:
    LoxiLBProviderDriver().loadbalancer_delete(_full_tree(), cascade=cascade)
    job = worker.next()
    assert job["cascade"] is cascade
    assert job["locked"] == {"loadbalancers": ["lb-1"]}
    assert job["deleting"] == {
        "loadbalancers": ["lb-1"], "listeners": ["li-a", "li-b"], "pools": ["po-a", "po-b"],
        "members": ["me-a1", "me-a2", "me-b1"], "healthmonitors": ["hm-a"]}


def test_refused_request_casts_nothing(worker: Recorder) -> None:
    driver = LoxiLBProviderDriver()
    with pytest.raises(exceptions.UnsupportedOptionError):
        driver.listener_create(_listener(listener_id="li-bad", protocol="TERMINATED_HTTPS"))
    with pytest.raises(exceptions.UnsupportedOptionError):
        driver.member_batch_update("po-1", [_member(f"m{i}") for i in range(33)])
    with pytest.raises(exceptions.UnsupportedOptionError):
        driver.pool_update(_pool(), dm.Pool(pool_id="po-1", protocol="PROXY"))
    driver.loadbalancer_failover("lb-after")
    assert worker.next()["loadbalancer_id"] == "lb-after"
    assert worker.jobs.empty()


@pytest.mark.parametrize(("method", "args", "text"), [
    ("l7policy_create", (dm.L7Policy(l7policy_id="p"),), "L7 policies are not supported by "
                                                         "the LoxiLB provider"),
    ("l7policy_update", (dm.L7Policy(l7policy_id="p"), dm.L7Policy(l7policy_id="p")),
     "L7 policies are not supported by the LoxiLB provider"),
    ("l7policy_delete", (dm.L7Policy(l7policy_id="p"),), "L7 policies are not supported by "
                                                         "the LoxiLB provider"),
    ("l7rule_create", (dm.L7Rule(l7rule_id="r"),), "L7 rules are not supported by the LoxiLB "
                                                   "provider"),
    ("l7rule_update", (dm.L7Rule(l7rule_id="r"), dm.L7Rule(l7rule_id="r")),
     "L7 rules are not supported by the LoxiLB provider"),
    ("l7rule_delete", (dm.L7Rule(l7rule_id="r"),), "L7 rules are not supported by the LoxiLB "
                                                   "provider"),
])
def test_l7_calls_are_refused(method: str, args: tuple[Any, ...], text: str) -> None:
    with pytest.raises(exceptions.UnsupportedOptionError) as error:
        getattr(LoxiLBProviderDriver(), method)(*args)
    assert error.value.user_fault_string == text


def test_vip_port_is_left_to_octavia() -> None:
    with pytest.raises(exceptions.NotImplementedError):
        LoxiLBProviderDriver().create_vip_port("lb-1", "project", {"vip_address": "x"}, [])


def test_failover_onto_another_flavor_is_not_implemented() -> None:
    with pytest.raises(exceptions.NotImplementedError):
        LoxiLBProviderDriver().loadbalancer_failover_with_flavor("lb-1", "flavor-2")


def test_driver_instances_hold_nothing_and_share_one_client(worker: Recorder) -> None:
    first, second = LoxiLBProviderDriver(), LoxiLBProviderDriver()
    first.loadbalancer_failover("lb-1")
    client = rpc.get_client()
    second.loadbalancer_failover("lb-2")
    assert rpc.get_client() is client
    assert vars(first) == {} and vars(second) == {}
    assert [worker.next()["loadbalancer_id"] for _ in range(2)] == ["lb-1", "lb-2"]


def test_calls_do_no_network_io_beyond_the_cast(worker: Recorder,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    rpc.get_client()   # the fake transport exists before sockets are forbidden

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the provider driver opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket.socket, "connect_ex", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(socket, "getaddrinfo", forbidden)
    driver = LoxiLBProviderDriver()
    for _name, call, _expected_job in CASES:
        call(driver)
    driver.loadbalancer_create(_full_tree())
    driver.loadbalancer_delete(_full_tree(), cascade=True)
    received = [worker.next()["op"] for _ in range(len(CASES) + 2)]
    assert received[-2:] == ["loadbalancer_create", "loadbalancer_delete"]
