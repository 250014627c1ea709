"""One lock per load balancer, shared by every worker process on every host.

Jobs for one load balancer must never overlap: two converges racing on the same LoxiLB rules
would each verify the other's half-done state, and two status pushes could report an older
state last. Different load balancers proceed in parallel.

A tooz coordinator provides the cross-process lock (Redis in production; ``file://`` for a
single host). In front of it sits a process-local lock per load balancer, so threads of one
worker queue cheaply instead of polling the back end. A heartbeat thread keeps the
coordinator's session, and with it every held lock, alive; a worker that dies stops beating
and its locks expire.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

from tooz import coordination

LOG = logging.getLogger(__name__)

LOCK_PREFIX = "octavia-loxilb-lb-"



def leave_backend(coordinator: coordination.CoordinationDriver) -> None:
    """Stop a tooz coordinator; best effort, since the back end expires us anyway."""
    try:
        coordinator.stop()
    except Exception:
        LOG.exception("Leaving the coordination back end failed")

class LockTimeout(Exception):
    """The load balancer's lock was not obtained in time."""


class _LocalLocks:
    """Process-local locks by name, dropped again when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextlib.contextmanager
    def hold(self, name: str, timeout: float) -> Iterator[bool]:
        with self._guard:
            lock, users = self._locks.get(name, (threading.Lock(), 0))
            self._locks[name] = (lock, users + 1)
        got = lock.acquire(timeout=timeout)
        try:
            yield got
        finally:
            if got:
                lock.release()
            with self._guard:
                lock, users = self._locks[name]
                if users == 1:
                    del self._locks[name]
                else:
                    self._locks[name] = (lock, users - 1)


class LoadBalancerLocks:
    """``hold(lb_id)``: exclusive ownership of one load balancer across the deployment."""

    def __init__(
        self, url: str, member_id: str, *, timeout: float = 600.0,
        heartbeat_interval: float = 1.0,
    ) -> None:
        self.url = url
        self.member_id = member_id
        self.timeout = timeout
        self.heartbeat_interval = heartbeat_interval
        self._coordinator: coordination.CoordinationDriver | None = None
        self._local = _LocalLocks()
        self._stopping = threading.Event()
        self._heart: threading.Thread | None = None

    def start(self) -> None:
        """Connect to the back end and start heart-beating."""
        self._coordinator = coordination.get_coordinator(self.url, self.member_id.encode())
        self._coordinator.start(start_heart=False)
        self._stopping.clear()
        self._heart = threading.Thread(
            target=self._beat, name="loxilb-lock-heartbeat", daemon=True
        )
        self._heart.start()

    def stop(self) -> None:
        """Stop heart-beating and leave the back end (held locks are released by it)."""
        self._stopping.set()
        if self._heart is not None:
            self._heart.join(timeout=10)
            self._heart = None
        if self._coordinator is not None:
            leave_backend(self._coordinator)
            self._coordinator = None

    def __enter__(self) -> LoadBalancerLocks:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _beat(self) -> None:
        while not self._stopping.wait(self.heartbeat_interval):
            coordinator = self._coordinator
            if coordinator is None:
                return
            try:
                coordinator.heartbeat()
            except Exception:  # keep beating: the back end may come back before locks expire
                LOG.warning("Coordination heartbeat failed", exc_info=True)

    @contextlib.contextmanager
    def hold(self, loadbalancer_id: str, timeout: float | None = None) -> Iterator[None]:
        """Hold the load balancer's lock for the ``with`` body; ``LockTimeout`` if not got."""
        if self._coordinator is None:
            raise RuntimeError("LoadBalancerLocks.start() was not called")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        name = LOCK_PREFIX + loadbalancer_id
        with self._local.hold(name, max(0.0, deadline - time.monotonic())) as got_local:
            if not got_local:
                raise LockTimeout(f"load balancer {loadbalancer_id} is busy in this worker")
            lock = self._coordinator.get_lock(name.encode())
            left = max(0.01, deadline - time.monotonic())
            if not lock.acquire(blocking=True, timeout=left):  # type: ignore[arg-type]
                raise LockTimeout(f"load balancer {loadbalancer_id} is busy in another worker")
            try:
                yield
            finally:
                try:
                    lock.release()
                except Exception:  # the lock expires on its own; never mask the body's error
                    LOG.warning("Releasing the lock of %s failed", loadbalancer_id,
                                exc_info=True)
