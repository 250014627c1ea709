"""Two worker processes on one topic, locking through real Redis: jobs for one load balancer
never overlap, jobs for different load balancers are spread over both processes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from octavia_lib.api.drivers import data_models as dm

from octavia_loxilb.db import migrations
from octavia_loxilb.db.session import dispose_engines, get_engine
from octavia_loxilb.driver import job_builder
from octavia_loxilb.emulator.server import Emulator
from tests.functional.test_worker import (
    Caster,
    FakeDriverAgent,
    _reset_global_conf,  # noqa: F401 - autouse fixture: the global CONF is reset after each test
    agent,  # noqa: F401 - fixture
    build_lb,
    load_conf,
    member,
    needs_rabbit,
    service_up,
    start_worker,
    wait_for_log,
    worker_conf,
    write_conf,
)

LB_A = "aaaaaaaa-aaaa-4aaa-8aaa-000000000001"
LB_B = "bbbbbbbb-bbbb-4bbb-8bbb-000000000001"
JOBS_PER_LB = 10


def check_serialized(events: list[tuple[float, str, str, int]], lb_id: str) -> set[int]:
    """Every job is get(s) then one push; a second job may not read before that push."""
    owner: int | None = None
    pushers: set[int] = set()
    for _, what, event_lb, pid in sorted(events):
        if event_lb != lb_id:
            continue
        if what == "get":
            assert owner in (None, pid), f"{pid} read {lb_id} while {owner} held it"
            owner = pid
        else:
            assert owner == pid, f"{pid} pushed {lb_id} without reading it first"
            pushers.add(pid)
            owner = None
    return pushers


@needs_rabbit
@pytest.mark.skipif(not service_up(6379), reason="Redis is not running here")
def test_two_workers_serialize_each_load_balancer(
        tmp_path: Path, agent: FakeDriverAgent, emulator: Emulator) -> None:  # noqa: F811
    sections = worker_conf(tmp_path, agent, [emulator], topic=f"t-{uuid.uuid4().hex[:8]}",
                           coordination="redis://127.0.0.1:6379", threads=4)
    conf_path = write_conf(tmp_path / "octavia.conf", sections)
    conf = load_conf(conf_path)
    migrations.upgrade(get_engine(conf))
    dispose_engines()
    for lb_id, vip, port in ((LB_A, "127.0.42.11", 9101), (LB_B, "127.0.42.12", 9102)):
        agent.set_tree(build_lb([member(f"{lb_id[:8]}-m", f"{lb_id[:-4]}p001", port)],
                                lb_id=lb_id, vip=vip))
    agent.get_delay = 0.03
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    procs = [start_worker(conf_path, log) for log in logs]
    caster = Caster(conf)
    try:
        for log in logs:
            wait_for_log(log, "serving topic")
        for _ in range(JOBS_PER_LB):
            for lb_id in (LB_A, LB_B):
                caster.cast(job_builder.loadbalancer_update(
                    dm.LoadBalancer(loadbalancer_id=lb_id, name="old"),
                    dm.LoadBalancer(loadbalancer_id=lb_id, name="lb")))
        pushes = agent.wait_pushes(2 * JOBS_PER_LB, timeout=120)
        assert all(p["loadbalancers"][0]["provisioning_status"] == "ACTIVE" for p in pushes)
        pushers = check_serialized(agent.events, LB_A) | check_serialized(agent.events, LB_B)
        assert pushers == {p.pid for p in procs}, "both worker processes ran jobs"
    finally:
        caster.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            assert proc.wait(60) == 0
