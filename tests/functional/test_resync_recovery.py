"""Restart detection, the PENDING sweeper and ``manage lb`` on the resync test rig.

Same real parts as ``test_resync.py`` (emulator, ``DriverLibrary`` on a driver-agent
stand-in, file locks, SQLite), plus the real ``JobRunner`` the sweeper re-runs jobs with.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from oslo_config import cfg

from octavia_loxilb.cmd import manage
from octavia_loxilb.common.jobs import Job
from octavia_loxilb.db import jobs as db_jobs
from octavia_loxilb.db.session import session_scope
from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.worker import octavia_reader, restart_detect, resync, sweeper
from octavia_loxilb.worker.runner import JobRunner
from tests.functional.test_resync import Rig, build, lb_id, listener_id, name_of
from tests.functional.test_worker import FakeDriverAgent


@pytest.fixture
def rig(tmp_path: Path, emulator: Emulator) -> Iterator[Rig]:
    agent = FakeDriverAgent(tmp_path).start()
    octavia_reader.reset_driver_library()
    built = Rig(tmp_path, emulator, agent)
    built.conf.set_override("pending_deadline", 5.0, group="loxilb")
    built.conf.set_override("tree_read_deadline", 2.0, group="loxilb")
    yield built
    built.close()
    octavia_reader.reset_driver_library()
    agent.stop()


def runner_of(rig: Rig) -> JobRunner:
    return JobRunner(rig.conf, locks=rig.locks, placer=rig.placer,
                     library=lambda: octavia_reader.driver_library(rig.conf))


def age(rig: Rig, entry_id: str, seconds: float) -> None:
    """Make a journal entry look as if its owner stopped beating ``seconds`` ago."""
    then = (datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
            - datetime.timedelta(seconds=seconds))
    with session_scope(rig.engine) as session:
        session.execute(sa.update(db_jobs.JobRecord).where(db_jobs.JobRecord.id == entry_id)
                        .values(heartbeat_at=then, owner="dead-worker"))


def test_restart_is_detected_and_every_rule_restored(rig: Rig) -> None:
    for n in range(4):
        rig.add(build(n, monitor=True))
    detector = restart_detect.RestartDetector(rig.resyncer)
    first = detector.check()            # no resync has run yet: one now
    assert [r.count(resync.REPAIRED) for r in first] == [4]
    assert detector.check() == []       # nothing happened: only a rule listing
    before = set(rig.rules())

    requests.post(rig.node.base_url + "/_emulator/restart", timeout=5)
    reports = detector.check()

    assert [r.count(resync.REPAIRED) for r in reports] == [4]
    assert set(rig.rules()) == before
    assert "expected rules missing" in detector.triggered[-1][1]
    assert not rig.agent.pushes


def test_an_unreachable_node_coming_back_is_resynced(rig: Rig) -> None:
    rig.add(build(1))
    detector = restart_detect.RestartDetector(rig.resyncer)
    detector.check()
    requests.post(rig.node.base_url + "/_emulator/faults",
                  json={"method": "GET", "path_prefix": "/config/loadbalancer/all",
                        "status": 503, "count": 1}, timeout=5)
    assert detector.check() == []
    reports = detector.check()
    assert len(reports) == 1 and "answers again" in detector.triggered[-1][1]


def test_sweeper_reruns_the_job_of_a_dead_worker(rig: Rig) -> None:
    lb = build(1)
    rig.agent.set_tree(lb)
    job = Job(op="loadbalancer_create", loadbalancer_id=lb_id(1),
              subject=("loadbalancers", lb_id(1)))
    entry = rig.journal.record(job)
    assert entry is not None
    sweep = sweeper.Sweeper(rig.conf, journal=rig.journal, runner=runner_of(rig))
    assert sweep.sweep() == []          # its owner is still beating
    age(rig, entry, 60)

    [result] = sweep.sweep()

    assert result.action == "rerun" and result.succeeded, result
    assert name_of(1) in rig.rules()
    assert rig.agent.status_of(lb_id(1))[0] == "ACTIVE"
    assert rig.agent.status_of(listener_id(1))[0] == "ACTIVE"
    done = rig.journal.get(entry)
    assert done is not None and done.state == "done" and done.attempts == 2
    assert sweep.sweep() == []


def test_sweeper_gives_up_after_max_attempts_and_reports_failure(rig: Rig) -> None:
    lb = build(1)
    rig.agent.set_tree(lb)
    rig.conf.set_override("sweep_max_attempts", 1, group="loxilb")
    job = Job(op="listener_create", loadbalancer_id=lb_id(1),
              subject=("listeners", listener_id(1)),
              locked={"listeners": [listener_id(1)]})
    entry = rig.journal.record(job)
    assert entry is not None
    age(rig, entry, 60)

    [result] = sweeper.Sweeper(rig.conf, journal=rig.journal, runner=runner_of(rig)).sweep()

    assert result.action == "failed"
    assert rig.agent.status_of(listener_id(1))[0] == "ERROR"
    assert rig.agent.status_of(lb_id(1))[0] == "ACTIVE"
    assert rig.rules() == {}, "a given-up job is not converged"
    final = rig.journal.get(entry)
    assert final is not None and final.state == "abandoned"


def test_manage_lb_diff_resync_status_and_unstick(rig: Rig, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    for n in (1, 2):
        rig.add(build(n))
    rig.cycle()
    rig.api.delete_rule(rig.rules()[name_of(2)].key)
    conf_file = tmp_path / "manage.conf"
    loxilb = {k: getattr(rig.conf.loxilb, k) for k in (
        "status_socket_path", "stats_socket_path", "get_socket_path", "coordination_url")}
    loxilb["api_endpoints"] = rig.node.base_url
    conf_file.write_text(
        "[loxilb]\n" + "".join(f"{k} = {v}\n" for k, v in loxilb.items())
        + f"[loxilb_database]\nconnection = sqlite:///{tmp_path}/state.sqlite\n")

    def cli(*args: str) -> tuple[int, str]:
        try:
            code = manage.main(["--config-file", str(conf_file), "lb", *args])
        finally:
            cfg.CONF.reset()
        return code, capsys.readouterr().out

    code, out = cli("diff", "--all")
    assert code == 0
    assert f"{lb_id(1)}: in-sync" in out and f"{lb_id(2)}: drifted" in out
    assert f"create rule {name_of(2)}" in out
    assert name_of(2) not in rig.rules()

    code, out = cli("status", lb_id(2))
    assert code == 0 and "MISSING" in out and listener_id(2) in out

    code, out = cli("resync", lb_id(2))
    assert code == 0 and f"{lb_id(2)}: repaired" in out and "1 repaired" in out
    assert name_of(2) in rig.rules()

    code, out = cli("status", lb_id(2))
    assert "in sync" in out and "MISSING" not in out

    code, out = cli("unstick", lb_id(1))
    assert code == 0 and "converged and reported" in out
    assert rig.agent.status_of(listener_id(1))[0] == "ACTIVE"
    assert rig.agent.status_of(lb_id(1))[0] == "ACTIVE"
