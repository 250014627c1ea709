"""Periodic tasks run by the elected leader only: one runner per worker process.

Every worker process builds a ``PeriodicRunner``; the ``LeaderElection`` decides which one
actually runs tasks, so a health poll or a resync never runs twice across processes and
hosts. Tasks are registered by name with the name of the ``[loxilb]`` option that holds
their interval in seconds (an interval of 0 disables the task)::

    runner.register("health", "health_interval", health.make_poller)

The third argument is a *factory*: it is called with a ``TaskContext`` each time this
process is elected and returns the callable to run every interval. Per-leader state (what
was last pushed, caches) therefore starts fresh after every election, since another
leader may have pushed in between. Each task runs in its own thread, so a slow resync does
not delay health polls; a run in progress when leadership is lost finishes, then the task
stops. ``tick(name)`` runs a task once now (tests and operators), if this process leads.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from octavia_loxilb.worker.leader import LEADER_LOCK, LeaderElection

LOG = logging.getLogger(__name__)

TaskFunc = Callable[[], None]


@dataclasses.dataclass
class TaskContext:
    """What periodic tasks work with; built once per worker process by the service."""

    conf: Any
    engine: Any = None
    placer: Any = None
    locks: Any = None
    library: Callable[[], Any] | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)
    job_listeners: list[Callable[[str], None]] = dataclasses.field(default_factory=list)

    def job_finished(self, loadbalancer_id: str) -> None:
        """Tell tasks that a job on this load balancer finished in this process."""
        for listener in list(self.job_listeners):
            try:
                listener(loadbalancer_id)
            except Exception:
                LOG.exception("Job-finished listener failed")


@dataclasses.dataclass
class TaskSpec:
    name: str
    interval_opt: str
    factory: Callable[[TaskContext], TaskFunc]


class _TaskLoop:
    """One task's thread: runs the task every interval while this process leads."""

    def __init__(self, spec: TaskSpec, runner: PeriodicRunner) -> None:
        self.spec = spec
        self.runner = runner
        self.func: TaskFunc | None = None
        self.run_lock = threading.Lock()
        self.wake = threading.Event()
        self.runs = 0
        self.thread = threading.Thread(target=self._loop, name=f"loxilb-periodic-{spec.name}",
                                       daemon=True)

    def interval(self) -> float:
        return float(getattr(self.runner.context.conf.loxilb, self.spec.interval_opt))

    def run_once(self) -> bool:
        """Run the task now if this process leads; True when it ran."""
        with self.run_lock:
            func = self.func
            if func is None or not self.runner.election.is_leader:
                return False
            started = time.monotonic()
            try:
                func()
            except Exception:
                LOG.exception("Periodic task %s failed", self.spec.name)
            self.runs += 1
            LOG.debug("Periodic task %s ran in %.3fs", self.spec.name,
                      time.monotonic() - started)
            return True

    def _loop(self) -> None:
        stopping = self.runner.stopping
        while not stopping.is_set():
            interval = self.interval()
            if interval <= 0:
                stopping.wait(5.0)
                continue
            self.wake.wait(interval)
            self.wake.clear()
            if not stopping.is_set():
                self.run_once()


def leader_lock_name(rpc_topic: str) -> bytes:
    """One leader per deployment: the workers serving one topic share one lock."""
    return LEADER_LOCK + b"-" + rpc_topic.encode()


class PeriodicRunner:
    """Register tasks, ``start()`` campaigning and running, ``stop()`` to leave."""

    def __init__(self, context: TaskContext, election: LeaderElection | None = None,
                 *, member_id: str = "worker") -> None:
        self.context = context
        loxilb = context.conf.loxilb
        self.election = election or LeaderElection(
            loxilb.coordination_url, member_id,
            retry_interval=loxilb.leader_retry_interval,
            heartbeat_interval=loxilb.coordination_heartbeat_interval,
            lock_name=leader_lock_name(loxilb.rpc_topic))
        self.election.on_elected = self._elected
        self.election.on_deposed = self._deposed
        self.stopping = threading.Event()
        self._loops: dict[str, _TaskLoop] = {}
        self._started = False

    def register(self, name: str, interval_opt: str,
                 factory: Callable[[TaskContext], TaskFunc]) -> None:
        """Add a task; ``interval_opt`` names a ``[loxilb]`` option in seconds."""
        if self._started:
            raise RuntimeError("register tasks before start()")
        if name in self._loops:
            raise ValueError(f"periodic task {name!r} is already registered")
        self._loops[name] = _TaskLoop(TaskSpec(name, interval_opt, factory), self)

    @property
    def task_names(self) -> list[str]:
        return list(self._loops)

    @property
    def is_leader(self) -> bool:
        return self.election.is_leader

    def runs(self, name: str) -> int:
        return self._loops[name].runs

    def tick(self, name: str) -> bool:
        """Run one task now, in the caller's thread; False unless this process leads."""
        return self._loops[name].run_once()

    def start(self) -> None:
        self._started = True
        self.stopping.clear()
        for loop in self._loops.values():
            loop.thread.start()
        self.election.start()

    def stop(self) -> None:
        self.stopping.set()
        for loop in self._loops.values():
            loop.wake.set()
        for loop in self._loops.values():
            if loop.thread.is_alive():
                loop.thread.join(timeout=30)
        self.election.stop()

    def _elected(self) -> None:
        for loop in self._loops.values():
            with loop.run_lock:
                try:
                    loop.func = loop.spec.factory(self.context)
                except Exception:
                    LOG.exception("Periodic task %s could not be set up", loop.spec.name)
                    loop.func = None

    def _deposed(self) -> None:
        for loop in self._loops.values():
            loop.func = None
