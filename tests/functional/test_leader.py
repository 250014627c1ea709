"""Leader election across processes: one runs periodic tasks, another takes over on death."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from oslo_config import cfg

from octavia_loxilb.conf import register_opts
from octavia_loxilb.worker.leader import LeaderElection
from octavia_loxilb.worker.periodic import PeriodicRunner, TaskContext


def redis_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_running(), reason="Redis is not running here")

LOCK_EXPIRY = 2  # seconds: Redis lock_timeout, bounds takeover after a kill


def make_conf(url: str) -> cfg.ConfigOpts:
    conf = register_opts(cfg.ConfigOpts())
    conf([], project="octavia-loxilb-test")
    conf.set_override("coordination_url", url, group="loxilb")
    conf.set_override("leader_retry_interval", 0.1, group="loxilb")
    conf.set_override("coordination_heartbeat_interval", 0.2, group="loxilb")
    conf.set_override("health_interval", 0.05, group="loxilb")
    return conf


def serve_ticks(url: str, lock_name: str, log_path: str) -> None:
    """Child process: a periodic runner whose one task logs ``pid monotonic-time``."""
    conf = make_conf(url)
    me = os.getpid()

    def factory(_: TaskContext) -> Callable[[], None]:
        def tick() -> None:
            with open(log_path, "a") as log:
                log.write(f"{me} {time.monotonic():.6f}\n")
        return tick

    election = LeaderElection(url, f"test-{me}", retry_interval=0.1, heartbeat_interval=0.2,
                              lock_name=lock_name.encode())
    runner = PeriodicRunner(TaskContext(conf=conf), election)
    runner.register("tick", "health_interval", factory)
    runner.start()
    signal.sigwait({signal.SIGTERM})
    runner.stop()


def ticks(log: Path) -> list[tuple[int, float]]:
    if not log.exists():
        return []
    return [(int(p), float(t)) for p, t in (line.split() for line in log.read_text().splitlines()
                                            if line.count(" ") == 1)]


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def start_children(url: str, log: Path, count: int = 2) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    lock_name = f"test-leader-{uuid.uuid4().hex}"
    procs = []
    for _ in range(count):
        proc = ctx.Process(target=serve_ticks, args=(url, lock_name, str(log)))
        proc.start()
        procs.append(proc)
    return procs


def stop_children(procs: list[Any]) -> None:
    for proc in procs:
        if proc.is_alive():
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()


def check_takeover(url: str, log: Path, expiry: float) -> None:
    procs = start_children(url, log)
    try:
        assert wait_for(lambda: len(ticks(log)) >= 20, 60), "a leader runs the task"
        time.sleep(0.5)
        seen = ticks(log)
        leaders = {pid for pid, _ in seen}
        assert len(leaders) == 1, f"exactly one process runs the task, saw {leaders}"
        leader = leaders.pop()
        follower = next(p for p in procs if p.pid != leader)
        killed_at = time.monotonic()
        os.kill(leader, signal.SIGKILL)
        assert wait_for(lambda: any(pid == follower.pid for pid, _ in ticks(log)),
                        expiry + 10), "the follower took over"
        first = min(t for pid, t in ticks(log) if pid == follower.pid)
        assert first - killed_at <= expiry + 2.0, "takeover is bounded by the lock expiry"
        last_of_dead = max(t for pid, t in ticks(log) if pid == leader)
        assert last_of_dead < first, "the two leaders never ran the task at the same time"
    finally:
        stop_children(procs)


@needs_redis
def test_redis_one_leader_and_takeover_after_kill(tmp_path: Path) -> None:
    check_takeover(f"redis://127.0.0.1:6379?lock_timeout={LOCK_EXPIRY}", tmp_path / "ticks",
                   LOCK_EXPIRY)


def test_file_backend_one_leader_and_takeover_after_kill(tmp_path: Path) -> None:
    check_takeover(f"file://{tmp_path / 'locks'}", tmp_path / "ticks", 0.0)


@needs_redis
def test_stopping_leader_hands_over_without_waiting_for_expiry(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:6379?lock_timeout=30"
    lock = f"test-leader-{uuid.uuid4().hex}".encode()
    first = LeaderElection(url, "first", retry_interval=0.05, heartbeat_interval=0.1,
                           lock_name=lock)
    second = LeaderElection(url, "second", retry_interval=0.05, heartbeat_interval=0.1,
                            lock_name=lock)
    first.start()
    try:
        assert first.wait_until_leader(10)
        second.start()
        time.sleep(0.5)
        assert not second.is_leader
        first.stop()
        assert not first.is_leader
        assert second.wait_until_leader(5), "a clean stop releases the lock at once"
    finally:
        first.stop()
        second.stop()


def test_tasks_run_only_while_leading_and_restart_fresh_on_election(tmp_path: Path) -> None:
    url = f"file://{tmp_path / 'locks'}"
    conf = make_conf(url)
    conf.set_override("health_interval", 3600, group="loxilb")
    built: list[list[int]] = []

    def factory(_: TaskContext) -> Callable[[], None]:
        state: list[int] = []
        built.append(state)
        return lambda: state.append(1)

    lock = f"test-leader-{uuid.uuid4().hex}".encode()
    holder = LeaderElection(url, "holder", retry_interval=0.05, lock_name=lock)
    holder.start()
    try:
        assert holder.wait_until_leader(5)
        runner = PeriodicRunner(TaskContext(conf=conf), LeaderElection(
            url, "runner", retry_interval=0.05, heartbeat_interval=0.05, lock_name=lock))
        runner.register("t", "health_interval", factory)
        with pytest.raises(ValueError):
            runner.register("t", "health_interval", factory)
        runner.start()
        try:
            time.sleep(0.3)
            assert not runner.tick("t"), "a follower does not run tasks"
            assert built == []
            holder.stop()
            assert runner.election.wait_until_leader(5)
            assert wait_for(lambda: len(built) == 1, 5)
            assert runner.tick("t") and runner.tick("t")
            assert built == [[1, 1]]
        finally:
            runner.stop()
        assert not runner.is_leader
    finally:
        holder.stop()
