"""Nothing stays PENDING: a worker killed mid-job, and a cast that never reached a worker.

LocalStack with one worker at a time, file-based coordination (a killed leader's lock dies
with it) and short deadlines. A worker SIGKILLed while LoxiLB is slow leaves a job in the
journal that stops heart-beating: the next leader's sweeper re-runs it. A cast published
while the worker queue does not exist is dropped by RabbitMQ and leaves no trace on our
side: the leader's scan of Octavia's own API finds the load balancer PENDING past the
deadline and finishes it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rig.backends import TcpBackend
from rig.octavia_api import Emulator, Octavia

_SECOND_OCTET = 100 + (os.getpid() + 61) % 100
DEADLINE = 3.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from rig.stack import LocalStack

    workdir = tmp_path_factory.mktemp("sweeper")
    options = {"pending_deadline": DEADLINE, "sweep_interval": 0.5,
               "job_heartbeat_interval": 0.3, "pending_scan_interval": 1.0,
               "leader_retry_interval": 0.3, "coordination_url": f"file://{workdir}/locks"}
    with LocalStack(workdir, workers=1, loxilb=options) as running:
        yield running


@pytest.fixture(scope="module")
def octavia(stack: Any) -> Octavia:
    from rig.clients import sdk_connection

    return Octavia(sdk_connection(stack.api_url), timeout=90)


@pytest.fixture(scope="module")
def backends() -> Iterator[list[TcpBackend]]:
    started = [TcpBackend(f"127.{_SECOND_OCTET}.200.{i}", 8080, f"b{i}").start()
               for i in (1, 2, 3)]
    yield started
    for b in started:
        b.stop()


def _pool(octavia: Octavia, vip: str) -> tuple[str, str]:
    lb = octavia.create_lb(vip)
    lsn = octavia.create_listener(lb["id"], "TCP", 80)
    pool = octavia.create_pool(lb["id"], lsn["id"], "TCP")
    return lb["id"], pool["id"]


def _wait_log(stack: Any, index: int, text: str, timeout: float = 30.0) -> None:
    path = stack.workdir / f"worker-{index}.log"
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} not in {path.name}\n" + stack.logs_tail()
        time.sleep(0.05)


def _live_worker(stack: Any) -> int:
    live = [i for i, w in enumerate(stack.workers) if w.poll() is None]
    assert len(live) == 1, live
    return live[0]


def test_worker_killed_mid_job_is_finished_by_the_sweeper(
        stack: Any, octavia: Octavia, backends: list[TcpBackend]) -> None:
    emulator = Emulator(stack.emulator_url)
    vip = f"127.{_SECOND_OCTET}.1.10"
    lb_id, pool_id = _pool(octavia, vip)
    emulator._call("POST", "/_emulator/faults", {"method": "POST",
                                                 "path_prefix": "/config/loadbalancer",
                                                 "latency": 60, "count": 1})
    member = octavia.create(f"/lbaas/pools/{pool_id}/members", "member",
                            address=backends[0].ip, protocol_port=8080)
    index = _live_worker(stack)
    _wait_log(stack, index, f"Job member_create on members {member['id']} received")
    time.sleep(0.5)  # the job is now inside the slow POST
    stack.stop_worker(index, kill=True)
    emulator.clear_faults()
    assert octavia.get(f"/lbaas/pools/{pool_id}/members/{member['id']}",
                       "member")["provisioning_status"] == "PENDING_CREATE"  # type: ignore[index]

    stack.start_worker()
    stack.wait_worker_serving(len(stack.workers) - 1)
    octavia.wait(f"/lbaas/pools/{pool_id}/members/{member['id']}", "member")
    octavia.wait_mutable(lb_id)
    assert emulator.endpoints(vip, 80) == {(backends[0].ip, 8080, 1)}


def test_lost_cast_is_found_through_octavia_and_finished(
        stack: Any, octavia: Octavia, backends: list[TcpBackend]) -> None:
    emulator = Emulator(stack.emulator_url)
    vip = f"127.{_SECOND_OCTET}.2.10"
    lb_id, pool_id = _pool(octavia, vip)
    octavia.create_member(lb_id, pool_id, backends[1].ip, 8080)

    index = _live_worker(stack)
    stack.stop_worker(index)
    assert stack.rig is not None and stack.rig.vhost
    subprocess.run(["rabbitmqctl", "-q", "delete_queue", "-p", stack.rig.vhost, stack.topic],
                   check=True, capture_output=True, timeout=60)
    # No queue: RabbitMQ drops the cast, nothing anywhere records it.
    member = octavia.create(f"/lbaas/pools/{pool_id}/members", "member",
                            address=backends[2].ip, protocol_port=8080)
    time.sleep(1.0)
    assert octavia.get(f"/lbaas/loadbalancers/{lb_id}",
                       "loadbalancer")["provisioning_status"] == "PENDING_UPDATE"  # type: ignore[index]

    stack.start_worker()
    new = len(stack.workers) - 1
    stack.wait_worker_serving(new)
    octavia.wait(f"/lbaas/pools/{pool_id}/members/{member['id']}", "member")
    octavia.wait_mutable(lb_id)
    assert emulator.endpoints(vip, 80) == {(backends[1].ip, 8080, 1), (backends[2].ip, 8080, 1)}
    _wait_log(stack, new, "a lost cast")
