"""The worker process: RPC server, per-LB locks, placement, and the job runner wired up.

Several worker processes (on several hosts) may serve the same topic: RabbitMQ hands each
cast to one of them and the per-load-balancer lock keeps jobs for one load balancer apart.
``[loxilb] worker_threads`` bounds the jobs one process runs at once (the size of the RPC
server's thread pool).
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from typing import Any

import oslo_messaging

from octavia_loxilb.appliance import health as appliance_health
from octavia_loxilb.common.jobs import Job
from octavia_loxilb.db import migrations
from octavia_loxilb.db.session import get_engine
from octavia_loxilb.driver.rpc import RPC_NAMESPACE, RPC_VERSION
from octavia_loxilb.worker import (
    health,
    octavia_reader,
    pending_scan,
    restart_detect,
    resync,
    stats,
    sweeper,
)
from octavia_loxilb.worker.endpoints import WorkerEndpoint
from octavia_loxilb.worker.journal import JobJournal
from octavia_loxilb.worker.locking import LoadBalancerLocks
from octavia_loxilb.worker.periodic import PeriodicRunner, TaskContext
from octavia_loxilb.worker.placement import Placer
from octavia_loxilb.worker.runner import JobRunner

LOG = logging.getLogger(__name__)

CONTROL_EXCHANGE = "octavia"
"""Octavia sets this exchange for its processes (``octavia.common.config``); the provider
driver casts from inside octavia-api, so the worker must listen on the same exchange."""

oslo_messaging.set_transport_defaults(control_exchange=CONTROL_EXCHANGE)


def register_periodic_tasks(runner: PeriodicRunner) -> None:
    """The leader-only periodic tasks, each with the ``[loxilb]`` option of its interval."""
    runner.register("health", "health_interval", health.make_poller)
    runner.register("stats", "stats_interval", stats.make_poller)
    runner.register("resync", "resync_interval", resync.make_task)
    runner.register("restart_check", "restart_check_interval", restart_detect.make_task)
    runner.register("sweeper", "sweep_interval", sweeper.make_task)
    runner.register("pending_scan", "pending_scan_interval", pending_scan.make_task)
    runner.register("appliance_health", "appliance_health_interval", appliance_health.make_task)


def rpc_target(conf: Any, host: str) -> oslo_messaging.Target:
    return oslo_messaging.Target(topic=conf.loxilb.rpc_topic, server=host,
                                 namespace=RPC_NAMESPACE, version=RPC_VERSION)


class WorkerService:
    """Start serving with ``start()``; ``stop()`` lets running jobs finish first."""

    def __init__(self, conf: Any, *, transport: oslo_messaging.Transport | None = None,
                 host: str | None = None, runner: JobRunner | None = None) -> None:
        self.conf = conf
        self.host = host or getattr(conf, "host", None) or socket.gethostname()
        self.member_id = f"{self.host}-{uuid.uuid4().hex[:8]}"
        self._transport = transport
        self._own_transport = transport is None
        self._runner = runner
        self.engine = get_engine(conf)
        self.locks = LoadBalancerLocks(
            conf.loxilb.coordination_url, self.member_id,
            timeout=conf.loxilb.lock_timeout,
            heartbeat_interval=conf.loxilb.coordination_heartbeat_interval)
        self.placer = Placer(self.engine, conf)
        self.server: oslo_messaging.MessageHandlingServer | None = None
        self._stopped = threading.Event()
        self.periodic = PeriodicRunner(
            TaskContext(conf=conf, engine=self.engine, placer=self.placer, locks=self.locks,
                        library=lambda: octavia_reader.driver_library(conf)),
            member_id=self.member_id)
        self.journal = JobJournal(self.engine, self.member_id)
        self.periodic.context.extras.update(journal=self.journal)
        register_periodic_tasks(self.periodic)

    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            self._runner = JobRunner(self.conf, locks=self.locks, placer=self.placer)
        return self._runner

    def start(self) -> None:
        """Refuse an old schema, then join the coordination back end and serve the topic."""
        migrations.check_current(self.engine)
        self.placer.default_group()
        self.locks.start()
        if self._transport is None:
            self._transport = oslo_messaging.get_rpc_transport(self.conf)
        self.server = oslo_messaging.get_rpc_server(
            self._transport, rpc_target(self.conf, self.host),
            [WorkerEndpoint(self._run_job, self.journal)], executor="threading")
        self.server.start(override_pool_size=self.conf.loxilb.worker_threads)
        self.journal.start_heartbeat(self.conf.loxilb.job_heartbeat_interval)
        self.periodic.context.extras.update(runner=self.runner)
        self.periodic.start()
        LOG.info("octavia-loxilb worker %s serving topic %s with %d job threads",
                 self.member_id, self.conf.loxilb.rpc_topic, self.conf.loxilb.worker_threads)

    def _run_job(self, job: Job) -> Any:
        """Run a job, then let periodic tasks drop what they cached about its LB."""
        result: Any = None
        try:
            result = self.runner.run(job)
            return result
        finally:
            ran = getattr(result, "job", job)
            if ran.loadbalancer_id:
                self.periodic.context.job_finished(ran.loadbalancer_id)

    def stop(self) -> None:
        """Stop taking jobs, wait for the running ones, then leave (idempotent)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.server is not None:
            self.server.stop()
            self.server.wait()
            self.server = None
        self.periodic.stop()
        self.journal.stop_heartbeat()
        self.locks.stop()
        self.placer.close()
        if self._own_transport and self._transport is not None:
            self._transport.cleanup()
        LOG.info("octavia-loxilb worker %s stopped", self.member_id)
