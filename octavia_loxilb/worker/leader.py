"""One leader across every worker process on every host, for work that must not run twice.

The leader is whoever holds one named tooz lock on ``[loxilb] coordination_url``. A
background thread tries to take it every ``leader_retry_interval`` seconds while following
and, while leading, heart-beats it (Redis locks expire unless re-acquired; ``file://`` locks
are released by the kernel when the process dies). A leader that dies stops beating, its lock
expires, and the next follower attempt takes over: takeover is bounded by the lock expiry
(Redis: the URL's ``lock_timeout``) plus one retry interval. A leader whose heartbeat finds
the lock gone (it was too slow and someone else took it) steps down at once.

Listeners hear ``on_elected()`` / ``on_deposed()`` from the election thread, so per-leader
state (what a poller last pushed) can start fresh on every election.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tooz import coordination

from octavia_loxilb.worker.locking import leave_backend

LOG = logging.getLogger(__name__)

LEADER_LOCK = b"octavia-loxilb-periodic-leader"


class LeaderElection:
    """``is_leader`` says whether this process leads now; ``start()``/``stop()`` join/leave."""

    def __init__(
        self, url: str, member_id: str, *, retry_interval: float = 2.0,
        heartbeat_interval: float = 1.0, lock_name: bytes = LEADER_LOCK,
        on_elected: Callable[[], None] | None = None,
        on_deposed: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.member_id = member_id
        self.retry_interval = retry_interval
        self.heartbeat_interval = heartbeat_interval
        self.lock_name = lock_name
        self.on_elected = on_elected
        self.on_deposed = on_deposed
        self._coordinator: coordination.CoordinationDriver | None = None
        self._lock: object | None = None
        self._leading = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def wait_until_leader(self, timeout: float | None = None) -> bool:
        return self._leading.wait(timeout)

    def start(self) -> None:
        """Connect to the coordination back end and begin campaigning."""
        self._coordinator = coordination.get_coordinator(
            self.url, f"{self.member_id}-leader".encode())
        self._coordinator.start(start_heart=False)
        self._lock = self._coordinator.get_lock(self.lock_name)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._campaign, name="loxilb-leader",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Step down (listeners hear ``on_deposed``) and leave the back end."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self._coordinator is not None:
            leave_backend(self._coordinator)
            self._coordinator = None

    def _campaign(self) -> None:
        try:
            while not self._stopping.is_set():
                if self.is_leader:
                    if not self._still_holding():
                        LOG.warning("Leader %s lost its lock; stepping down", self.member_id)
                        self._step_down(release=False)
                    wait = self.heartbeat_interval
                else:
                    if self._try_take():
                        self._leading.set()
                        LOG.info("Worker %s is now the periodic-task leader", self.member_id)
                        self._notify(self.on_elected)
                    wait = self.heartbeat_interval if self.is_leader else self.retry_interval
                self._stopping.wait(wait)
        finally:
            if self.is_leader:
                self._step_down(release=True)

    def _try_take(self) -> bool:
        try:
            return bool(self._lock.acquire(blocking=False))  # type: ignore[union-attr]
        except Exception:  # the back end may be down; try again next round
            LOG.warning("Leader election attempt failed", exc_info=True)
            return False

    def _still_holding(self) -> bool:
        """Heartbeat the session and the lock; False once the lock is someone else's."""
        coordinator = self._coordinator
        try:
            if coordinator is not None:
                coordinator.heartbeat()
            beat = getattr(self._lock, "heartbeat", None)
            return True if beat is None else bool(beat())  # file:// locks need no beat
        except Exception:
            LOG.warning("Leader heartbeat failed", exc_info=True)
            return False

    def _step_down(self, *, release: bool) -> None:
        self._leading.clear()
        self._notify(self.on_deposed)
        if release:
            try:
                self._lock.release()  # type: ignore[union-attr]
            except Exception:  # the lock expires on its own
                LOG.warning("Releasing the leader lock failed", exc_info=True)

    @staticmethod
    def _notify(listener: Callable[[], None] | None) -> None:
        if listener is None:
            return
        try:
            listener()
        except Exception:
            LOG.exception("Leadership listener failed")
