"""Where a member create's time goes: the worker's job path, phase by phase.

Set-up: ``rig.stack.LocalStack`` with no worker subprocess; the benchmark runs the real
``WorkerService`` in its own process (same config file, same RabbitMQ vhost, Redis lock,
MariaDB placement, emulator node, driver-agent sockets) with timers wrapped around the
phases of ``JobRunner.run``: queue (driver cast → job received), resolve (pool → load
balancer id), tree read (``get_loadbalancer`` including the commit wait), place, converge
(LoxiLB reads, writes, read-back), status push, and the rest (lock, translate, status
build). It builds one LB, listener and pool, then creates ``MEMBERS`` members one at a
time, each timed from the POST until the API shows it ACTIVE (polled every 10 ms). The
comparison for each phase is the whole job.
"""

from __future__ import annotations

import functools
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.report import Figure, summarize

MEMBERS = 20
PHASES = ("queue", "resolve", "tree read", "place", "converge", "status push", "other")


class PhaseClock:
    """Seconds per phase for each job run, gathered from wrapped functions."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, float]] = []
        self.agent_gets: list[int] = []
        self._current: dict[str, float] | None = None
        self._gets = 0
        self._lock = threading.Lock()

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                if self._current is not None:
                    self._current[phase] = self._current.get(phase, 0.0) + (
                        time.perf_counter() - began)
        return timed

    def count_get(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            self._gets += 1
            return fn(*args, **kwargs)
        return counted

    def job(self, run: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def timed(job: Any) -> Any:
            with self._lock:
                self._current = {"queue": max(0.0, time.time() - job.created_at)}
                self._gets = 0
                began = time.perf_counter()
                try:
                    return run(job)
                finally:
                    total = time.perf_counter() - began
                    phases = self._current
                    phases["other"] = total - sum(v for k, v in phases.items() if k != "queue")
                    phases["job"] = total
                    self.jobs.append(phases)
                    self.agent_gets.append(self._gets)
                    self._current = None
        return timed


@contextmanager
def instrumented_worker(conf_path: str, clock: PhaseClock) -> Iterator[Any]:
    """The real worker service in this process, its job phases timed by ``clock``."""
    from octavia_lib.api.drivers import driver_lib

    from octavia_loxilb.cmd.worker import prepare
    from octavia_loxilb.reconcile import apply
    from octavia_loxilb.worker import octavia_reader, placement
    from octavia_loxilb.worker.service import WorkerService

    conf = prepare(["--config-file", conf_path])
    patches = [
        (octavia_reader, "resolve_loadbalancer_id", "resolve"),
        (octavia_reader, "read_tree", "tree read"),
        (octavia_reader, "push_status", "status push"),
        (placement.Placer, "place", "place"),
        (apply.Reconciler, "converge", "converge"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, phase in patches:
        setattr(owner, name, clock.wrap(phase, getattr(owner, name)))
    gets = [(driver_lib.DriverLibrary, n, getattr(driver_lib.DriverLibrary, n))
            for n in ("get_pool", "get_loadbalancer")]
    for owner, name, fn in gets:
        setattr(owner, name, clock.count_get(fn))
    octavia_reader.reset_driver_library()
    service = WorkerService(conf)
    runner = service.runner
    runner.run = clock.job(runner.run)  # type: ignore[method-assign,assignment]
    service.start()
    try:
        yield service
    finally:
        service.stop()
        for owner, name, fn in saved + gets:
            setattr(owner, name, fn)
        octavia_reader.reset_driver_library()


def _active_after(octavia: Any, path: str, key: str, began: float) -> float:
    while True:
        obj = octavia.get(path, key)
        if obj is not None and obj["provisioning_status"] == "ACTIVE":
            return time.monotonic() - began
        assert obj is None or obj["provisioning_status"].startswith("PENDING"), obj
        time.sleep(0.01)


def run(members: int = MEMBERS) -> list[Figure]:
    """Median seconds per phase of a member create job, against the whole job."""
    from rig import services
    from rig.clients import sdk_connection
    from rig.octavia_api import Octavia
    from rig.stack import LocalStack

    clock = PhaseClock()
    api_seconds: list[float] = []
    with LocalStack(tempfile.mkdtemp(prefix="bench-phases-"), workers=0) as stack:
        assert stack.rig is not None and stack.rig.vhost
        with instrumented_worker(str(stack.conf_path), clock):
            services.wait_for_consumers(stack.rig.vhost, stack.topic)
            octavia = Octavia(sdk_connection(stack.api_url))
            lb = octavia.create_lb("127.74.0.10")
            listener = octavia.create_listener(lb["id"], "TCP", 80)
            pool = octavia.create_pool(lb["id"], listener["id"], "TCP")
            first = len(clock.jobs)
            for i in range(members):
                began = time.monotonic()
                member = octavia.create(f"/lbaas/pools/{pool['id']}/members", "member",
                                        address=f"127.75.0.{i + 1}", protocol_port=8080)
                api_seconds.append(_active_after(
                    octavia, f"/lbaas/pools/{pool['id']}/members/{member['id']}", "member",
                    began))
                octavia.wait_mutable(lb["id"])
            jobs = clock.jobs[first:]
            gets = clock.agent_gets[first:]
            stock, prompt = _reader_comparison(stack.rig, lb["id"])
    whole = summarize("member job", "s", [j["job"] for j in jobs])
    figures = [summarize("member create → ACTIVE (API, in-process worker)", "s", api_seconds,
                         target="p50 ≤ 0.35 s")]
    for phase in PHASES:
        figures.append(summarize(f"member job phase: {phase}", "s",
                                 [j.get(phase, 0.0) for j in jobs],
                                 compared_with="whole job", baseline_median=whole.median))
    figures.append(summarize("member job driver-agent get_* calls", "calls",
                             [float(g) for g in gets]))
    base = summarize("octavia-lib reader", "s", stock)
    figures.append(summarize("driver-agent get_loadbalancer, worker's reader", "s", prompt,
                             compared_with="octavia-lib's own reader",
                             baseline_median=base.median))
    return figures


def _reader_comparison(rig: Any, lb_id: str, rounds: int = 20) -> tuple[list[float], ...]:
    """``get_loadbalancer`` through octavia-lib's reader and the worker's, interleaved."""
    from octavia_lib.api.drivers import driver_lib

    from octavia_loxilb.worker import agent_client

    sockets = {"status_socket": rig.status_socket, "stats_socket": rig.stats_socket,
               "get_socket": rig.get_socket}
    libraries = (driver_lib.DriverLibrary(**sockets), agent_client.DriverLibrary(**sockets))
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for library, out in zip(libraries, times, strict=True):
            began = time.perf_counter()
            library.get_loadbalancer(lb_id)
            out.append(time.perf_counter() - began)
    return times
