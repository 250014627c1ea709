"""Provider call latency inside the API process: every ``ProviderDriver`` method.

Set-up: one process plays octavia-api. ``LoxiLBProviderDriver`` casts its jobs over a real
oslo.messaging transport to the local RabbitMQ, on a throwaway virtual host created for the
run (``rig.services``) and deleted after it; a worker-side RPC server consumes the topic so
the queue exists and never grows. Each method is called ``CALLS`` times (after a warm-up)
with octavia-lib data models shaped as the API passes them; a method that refuses (L7, VIP
ports, failover with flavor) is timed up to and including its exception. The comparison is
the same method of Octavia's ``noop_driver`` provider (``NoopProviderDriver``, or the
``ProviderDriver`` base where the noop driver has no override) in the same run, called
with the same arguments, interleaved with ours in blocks so machine noise hits both alike.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import oslo_messaging
import oslo_messaging.opts
from octavia_lib.api.drivers import data_models as dm
from octavia_lib.api.drivers import exceptions, provider_base
from oslo_config import cfg

from bench.report import Figure, summarize
from octavia_loxilb.driver import rpc

CALLS = 1000
BLOCK = 100
WARMUP = 50

LB = {"loadbalancer_id": "lb-1", "vip_address": "192.0.2.10", "admin_state_up": True,
      "flavor": {}, "availability_zone": {}, "vip_qos_policy_id": None, "vip_sg_ids": [],
      "project_id": "bench"}
LISTENER = {"listener_id": "li-1", "loadbalancer_id": "lb-1", "protocol": "TCP",
            "protocol_port": 80, "admin_state_up": True, "connection_limit": -1,
            "timeout_client_data": 50000, "timeout_member_connect": 5000,
            "timeout_member_data": 50000, "timeout_tcp_inspect": 0,
            "client_authentication": "NONE", "allowed_cidrs": None,
            "hsts_include_subdomains": False, "hsts_preload": False}
POOL = {"pool_id": "po-1", "loadbalancer_id": "lb-1", "listener_id": "li-1", "protocol": "TCP",
        "lb_algorithm": "ROUND_ROBIN", "admin_state_up": True, "session_persistence": None,
        "tls_enabled": False}
MEMBER = {"member_id": "me-1", "pool_id": "po-1", "address": "192.0.2.21", "protocol_port": 80,
          "weight": 1, "admin_state_up": True, "backup": False, "vnic_type": "normal"}
MONITOR = {"healthmonitor_id": "hm-1", "pool_id": "po-1", "type": "TCP", "delay": 5,
           "timeout": 1, "max_retries": 3, "max_retries_down": 3, "admin_state_up": True}


CASTING = frozenset({
    "loadbalancer_create", "loadbalancer_update", "loadbalancer_delete", "loadbalancer_failover",
    "listener_create", "listener_update", "listener_delete", "pool_create", "pool_update",
    "pool_delete", "member_create", "member_update", "member_delete", "member_batch_update",
    "health_monitor_create", "health_monitor_update", "health_monitor_delete",
})
"""The methods that end in a cast to the worker (the others answer or refuse in-process)."""


def _member(i: int) -> dm.Member:
    return dm.Member(**{**MEMBER, "member_id": f"me-{i}", "address": f"192.0.2.{20 + i}"})


def calls() -> dict[str, tuple[Any, ...]]:
    """Method name → positional arguments, for every ``ProviderDriver`` method."""
    monitor = dm.HealthMonitor(**MONITOR)
    members = [_member(i) for i in range(3)]
    pool = dm.Pool(**POOL, members=members, healthmonitor=monitor)
    listener = dm.Listener(**LISTENER, default_pool_id="po-1", default_pool=pool,
                           l7policies=[])
    lb = dm.LoadBalancer(**LB, listeners=[listener], pools=[pool])
    policy = dm.L7Policy(l7policy_id="l7p-1", listener_id="li-1", action="REJECT")
    rule = dm.L7Rule(l7rule_id="l7r-1", l7policy_id="l7p-1", type="PATH",
                     compare_type="STARTS_WITH", value="/x")
    return {
        "create_vip_port": ("lb-1", "bench", {"vip_address": "192.0.2.10"}, []),
        "loadbalancer_create": (lb,),
        "loadbalancer_update": (dm.LoadBalancer(**LB), dm.LoadBalancer(
            loadbalancer_id="lb-1", name="renamed")),
        "loadbalancer_delete": (lb, True),
        "loadbalancer_failover": ("lb-1",),
        "loadbalancer_failover_with_flavor": ("lb-1", "flavor-1"),
        "listener_create": (dm.Listener(**LISTENER),),
        "listener_update": (dm.Listener(**LISTENER), dm.Listener(
            listener_id="li-1", name="renamed", loadbalancer_id="lb-1")),
        "listener_delete": (dm.Listener(**LISTENER),),
        "pool_create": (dm.Pool(**POOL),),
        "pool_update": (dm.Pool(**POOL), dm.Pool(pool_id="po-1", loadbalancer_id="lb-1",
                                                 lb_algorithm="LEAST_CONNECTIONS")),
        "pool_delete": (pool,),
        "member_create": (members[0],),
        "member_update": (members[0], dm.Member(member_id="me-0", pool_id="po-1",
                                                weight=5)),
        "member_delete": (members[0],),
        "member_batch_update": ("po-1", members),
        "health_monitor_create": (monitor,),
        "health_monitor_update": (monitor, dm.HealthMonitor(healthmonitor_id="hm-1",
                                                            pool_id="po-1", delay=7)),
        "health_monitor_delete": (monitor,),
        "l7policy_create": (policy,),
        "l7policy_update": (policy, policy),
        "l7policy_delete": (policy,),
        "l7rule_create": (rule,),
        "l7rule_update": (rule, rule),
        "l7rule_delete": (rule,),
        "get_supported_flavor_metadata": (),
        "validate_flavor": ({},),
        "get_supported_availability_zone_metadata": (),
        "validate_availability_zone": ({},),
    }


def _timed(method: Callable[..., Any], args: tuple[Any, ...], count: int) -> list[float]:
    out = []
    for _ in range(count):
        began = time.perf_counter()
        with suppress(exceptions.DriverError, exceptions.NotImplementedError,
                      exceptions.UnsupportedOptionError):
            method(*args)
        out.append(time.perf_counter() - began)
    return out


class _Sink:
    """The worker's side of the RPC contract; counts what arrives and drops it."""

    target = oslo_messaging.Target(namespace=rpc.RPC_NAMESPACE, version=rpc.RPC_VERSION)

    def __init__(self) -> None:
        self.received = 0

    def run_job(self, ctxt: Any, job: dict[str, Any]) -> None:
        self.received += 1


@contextmanager
def rabbit_bus() -> Iterator[tuple[str, _Sink]]:
    """The driver's RPC client on a fresh RabbitMQ vhost, a consumer on its topic."""
    from rig import services

    for group, opts in oslo_messaging.opts.list_opts():
        if group is None:
            cfg.CONF.register_opts(opts)
    vhost = f"bench_{uuid.uuid4().hex[:10]}"
    url = services.create_vhost(vhost)
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    cfg.CONF.set_override("transport_url", url)
    cfg.CONF.set_override("rpc_topic", topic, group="loxilb")
    rpc.reset()
    sink = _Sink()
    server = oslo_messaging.get_rpc_server(
        rpc.get_transport(), oslo_messaging.Target(topic=topic, server="bench"), [sink],
        executor="threading")
    server.start()
    try:
        services.wait_for_consumers(vhost, topic)
        yield url, sink
    finally:
        server.stop()
        server.wait()
        rpc.reset()
        cfg.CONF.clear_override("transport_url")
        cfg.CONF.clear_override("rpc_topic", group="loxilb")
        services.delete_vhost(vhost)


def run(count: int = CALLS) -> list[Figure]:
    """p50/p99 milliseconds per method, ours against the noop driver's same method."""
    from octavia.api.drivers.noop_driver.driver import NoopProviderDriver

    from octavia_loxilb.driver.provider import LoxiLBProviderDriver
    from rig.services import wait_until

    ours, noop = LoxiLBProviderDriver(), NoopProviderDriver()
    figures = []
    with rabbit_bus() as (_, sink):
        sent = 0
        for name, args in calls().items():
            mine = getattr(ours, name)
            theirs = getattr(noop, name, None) or getattr(
                provider_base.ProviderDriver(), name)
            _timed(mine, args, WARMUP)
            _timed(theirs, args, WARMUP)
            a: list[float] = []
            b: list[float] = []
            while len(a) < count:
                a += _timed(mine, args, BLOCK)
                b += _timed(theirs, args, BLOCK)
            if name in CASTING:
                sent += WARMUP + len(a)
            base = summarize(name, "ms", [x * 1000 for x in b])
            figures.append(summarize(
                f"provider {name}", "ms", [x * 1000 for x in a],
                compared_with="noop_driver same method", baseline_median=base.median,
                target="p99 < 5 ms"))
        # Proof the timed calls did cast: every job reached the worker side.
        wait_until(lambda: sink.received >= sent, timeout=60,
                   what=f"{sent} casts consumed")
    return figures
