"""The lost-cast recovery job: what it converges and what it reports going away."""

from __future__ import annotations

import datetime
from typing import Any

from octavia_lib.api.drivers import data_models as dm

from octavia_loxilb.worker.pending_scan import PendingScan, StuckLoadBalancer, lost_cast_job


def _tree() -> dict[str, Any]:
    members = [dm.Member(member_id=f"m{i}", address=f"10.0.0.{i}", protocol_port=80)
               for i in (1, 2)]
    pool = dm.Pool(pool_id="p1", lb_algorithm="ROUND_ROBIN", protocol="TCP", members=members,
                   healthmonitor=dm.HealthMonitor(healthmonitor_id="h1", type="TCP"))
    listener = dm.Listener(listener_id="l1", protocol="TCP", protocol_port=80,
                           default_pool=pool, default_pool_id="p1")
    lb = dm.LoadBalancer(loadbalancer_id="lb1", vip_address="192.0.2.1",
                         listeners=[listener], pools=[pool])
    tree: dict[str, Any] = lb.to_dict(recurse=True, render_unsets=True)
    return tree


def test_pending_delete_runs_a_cascade_delete_of_everything() -> None:
    job = lost_cast_job(_tree(), "PENDING_DELETE", {})
    assert job.op == "loadbalancer_delete" and job.cascade
    assert job.subject == ("loadbalancers", "lb1")
    assert job.deleting == {"listeners": ["l1"], "pools": ["p1"], "members": ["m1", "m2"],
                            "healthmonitors": ["h1"]}


def test_pending_update_converges_all_and_drops_pending_deletes() -> None:
    job = lost_cast_job(_tree(), "PENDING_UPDATE", {"members": ["m2"]})
    assert job.op == "loadbalancer_update"
    assert job.subject == ("loadbalancers", "lb1")
    assert job.deleting == {"members": ["m2"]}
    assert set(job.locked["members"]) == {"m1", "m2"}


class _Api:
    def __init__(self, stuck: list[StuckLoadBalancer]) -> None:
        self.stuck = stuck

    def pending(self) -> list[StuckLoadBalancer]:
        return self.stuck


class _Journal:
    def __init__(self, running: set[str]) -> None:
        self.running = running

    def entries_for(self, lb_id: str) -> list[Any]:
        state = "running" if lb_id in self.running else "done"
        return [type("Entry", (), {"state": state})()]


class _Conf:
    class loxilb:  # noqa: N801 - mirrors conf.loxilb
        pending_deadline = 60.0


def test_only_old_load_balancers_without_a_received_job_are_finished() -> None:
    now = datetime.datetime(2026, 1, 1, 12, 0, 0)
    old = now - datetime.timedelta(seconds=120)
    young = now - datetime.timedelta(seconds=10)
    api = _Api([StuckLoadBalancer("old", "PENDING_UPDATE", old),
                StuckLoadBalancer("young", "PENDING_UPDATE", young),
                StuckLoadBalancer("received", "PENDING_UPDATE", old)])
    scan = PendingScan(_Conf(), api=api, runner=None,  # type: ignore[arg-type]
                       journal=_Journal({"received"}), library=lambda: None)
    tried: list[str] = []
    scan._finish = lambda stuck: tried.append(stuck.id) or True  # type: ignore[method-assign]
    assert scan.scan(now) == ["old"]
    assert tried == ["old"]
