"""The one RPC client the provider driver casts jobs through.

Octavia builds a new driver instance for every API request, so the transport and the
client live here at module level, built lazily on first use under a lock (several API
threads may arrive at once) and shared by every instance afterwards.
"""

from __future__ import annotations

import threading

import oslo_messaging
from octavia_lib.api.drivers import exceptions
from oslo_config import cfg

from octavia_loxilb import conf as loxilb_conf
from octavia_loxilb.common.jobs import Job

RPC_NAMESPACE = "octavia_loxilb"
RPC_VERSION = "1.0"
RUN_JOB = "run_job"

loxilb_conf.register_opts(cfg.CONF)

_lock = threading.Lock()
_transport: oslo_messaging.Transport | None = None
_client: oslo_messaging.RPCClient | None = None


def worker_target(conf: cfg.ConfigOpts = cfg.CONF) -> oslo_messaging.Target:
    """The target every worker serves and every cast goes to (the RPC contract)."""
    return oslo_messaging.Target(topic=conf.loxilb.rpc_topic, namespace=RPC_NAMESPACE,
                                 version=RPC_VERSION)


def get_client() -> oslo_messaging.RPCClient:
    """The shared client, built on first use from Octavia's ``transport_url``."""
    global _transport, _client
    client = _client
    if client is not None:
        return client
    with _lock:
        if _client is None:
            _transport = oslo_messaging.get_rpc_transport(cfg.CONF)
            _client = oslo_messaging.get_rpc_client(
                _transport, worker_target(), retry=cfg.CONF.loxilb.rpc_cast_retries)
        return _client


def get_transport() -> oslo_messaging.Transport:
    """The transport the shared client casts on (an in-process server can share it)."""
    get_client()
    assert _transport is not None
    return _transport


def cast_job(job: Job) -> None:
    """Queue ``job`` for a worker; any failure becomes a ``DriverError``.

    A ``DriverError`` makes Octavia roll the whole request back, so nothing is left
    PENDING when the bus is down.
    """
    try:
        get_client().cast({}, RUN_JOB, job=job.to_dict())
    except Exception as exc:
        raise exceptions.DriverError(
            user_fault_string="The LoxiLB provider could not queue the request for its "
                              "worker; please retry later.",
            operator_fault_string=f"Casting {job.op} for load balancer "
                                  f"{job.loadbalancer_id or '?'} to topic "
                                  f"{cfg.CONF.loxilb.rpc_topic} failed: {exc!r}",
        ) from exc


def reset() -> None:
    """Drop the shared client and close its transport (tests, or a config reload)."""
    global _transport, _client
    with _lock:
        transport, _transport, _client = _transport, None, None
    if transport is not None:
        transport.cleanup()
