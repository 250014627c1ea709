"""Per-load-balancer locks across processes: real Redis, and the file:// default."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from octavia_loxilb.worker.locking import LoadBalancerLocks, LockTimeout

REDIS = "redis://127.0.0.1:6379"


def redis_running() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_running(), reason="Redis is not running here")


def hold_repeatedly(url: str, lb_ids: list[str], rounds: int, log_path: str,
                    ready: multiprocessing.synchronize.Barrier) -> None:
    """Child process: take each LB's lock ``rounds`` times, logging start/end of each hold."""
    me = f"{os.getpid()}"
    with LoadBalancerLocks(url, f"test-{me}", timeout=30, heartbeat_interval=0.2) as locks:
        ready.wait()
        for _ in range(rounds):
            for lb_id in lb_ids:
                with locks.hold(lb_id):
                    with open(log_path, "a") as log:
                        log.write(f"{lb_id} start {time.monotonic():.6f} {me}\n")
                    time.sleep(0.02)
                    with open(log_path, "a") as log:
                        log.write(f"{lb_id} end {time.monotonic():.6f} {me}\n")


def intervals(log_path: Path) -> dict[str, list[tuple[float, float, str]]]:
    opened: dict[tuple[str, str], float] = {}
    found: dict[str, list[tuple[float, float, str]]] = {}
    for line in log_path.read_text().splitlines():
        lb_id, what, stamp, pid = line.split()
        if what == "start":
            opened[(lb_id, pid)] = float(stamp)
        else:
            found.setdefault(lb_id, []).append((opened.pop((lb_id, pid)), float(stamp), pid))
    assert not opened, "every hold ended"
    return found


def run_two_processes(url: str, lb_ids: list[str], log: Path, rounds: int = 15) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(2)
    procs = [ctx.Process(target=hold_repeatedly, args=(url, lb_ids, rounds, str(log), ready))
             for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0


def assert_never_overlapping(found: dict[str, list[tuple[float, float, str]]]) -> None:
    for lb_id, holds in found.items():
        holds.sort()
        for (_, end, _), (start, _, _) in zip(holds, holds[1:], strict=False):
            assert start >= end, f"two holds of {lb_id} overlapped"
        assert len({pid for _, _, pid in holds}) == 2, "both processes got the lock"


@needs_redis
def test_two_processes_never_hold_one_lb_at_once_on_redis(tmp_path: Path) -> None:
    lb_id = str(uuid.uuid4())
    run_two_processes(REDIS, [lb_id], tmp_path / "holds.log")
    found = intervals(tmp_path / "holds.log")
    assert len(found[lb_id]) == 30
    assert_never_overlapping(found)


def test_two_processes_never_hold_one_lb_at_once_on_files(tmp_path: Path) -> None:
    lb_id = str(uuid.uuid4())
    run_two_processes(f"file://{tmp_path}/locks", [lb_id], tmp_path / "holds.log")
    assert_never_overlapping(intervals(tmp_path / "holds.log"))


@needs_redis
def test_different_load_balancers_run_in_parallel() -> None:
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    with LoadBalancerLocks(REDIS, "one") as one, LoadBalancerLocks(REDIS, "two") as two:
        with one.hold(a), two.hold(b):
            pass  # both held at once: no LockTimeout
        with one.hold(a), pytest.raises(LockTimeout), two.hold(a, timeout=0.3):
            pass


def test_threads_of_one_worker_queue_on_the_local_lock(tmp_path: Path) -> None:
    lb_id = str(uuid.uuid4())
    inside = 0
    most = 0
    guard = threading.Lock()

    def job(locks: LoadBalancerLocks) -> None:
        nonlocal inside, most
        with locks.hold(lb_id):
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.01)
            with guard:
                inside -= 1

    with LoadBalancerLocks(f"file://{tmp_path}/locks", "w") as locks:
        threads = [threading.Thread(target=job, args=(locks,)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert most == 1


def hold_forever(url: str, lb_id: str, ready: multiprocessing.synchronize.Event) -> None:
    locks = LoadBalancerLocks(url, f"doomed-{os.getpid()}", heartbeat_interval=0.2)
    locks.start()
    with locks.hold(lb_id):
        ready.set()
        time.sleep(600)


@needs_redis
def test_a_killed_workers_lock_expires(tmp_path: Path) -> None:
    url = REDIS + "?timeout=2&lock_timeout=2"
    lb_id = str(uuid.uuid4())
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=hold_forever, args=(url, lb_id, ready))
    proc.start()
    try:
        assert ready.wait(60)
        with LoadBalancerLocks(url, "survivor") as locks:
            with pytest.raises(LockTimeout), locks.hold(lb_id, timeout=2.5):
                pass  # still held: the holder's heartbeat keeps it alive
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGKILL)
            proc.join(10)
            with locks.hold(lb_id, timeout=10):
                pass
    finally:
        if proc.is_alive():
            proc.kill()
