"""How the runner judges a converge and what it waits for before trusting a read."""

from __future__ import annotations

from typing import Any

from octavia_lib.api.drivers import data_models as dm

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.reconcile.apply import ConvergeResult, ListenerResult, NodeResult
from octavia_loxilb.reconcile.plan import Plan
from octavia_loxilb.reconcile.translate import translate
from octavia_loxilb.reconcile.verify import VerifyReport
from octavia_loxilb.worker.octavia_reader import _mismatches
from octavia_loxilb.worker.runner import outcome_of, relevant_listeners
from octavia_loxilb.worker.status import TreeIndex, build_blind_status, going_away

LB = "lb-1"


def tree() -> dict[str, Any]:
    """Listener L1 → pool P1 (M1); listener L2 → pool P2 (M2); pool P3 unused (M3)."""
    def pool(pid: str, mid: str, port: int) -> dm.Pool:
        return dm.Pool(pool_id=pid, loadbalancer_id=LB, protocol="TCP",
                       lb_algorithm="ROUND_ROBIN", admin_state_up=True, healthmonitor=None,
                       members=[dm.Member(member_id=mid, pool_id=pid, address="127.0.0.20",
                                          protocol_port=port, admin_state_up=True,
                                          weight=1)])
    p1, p2, p3 = pool("P1", "M1", 81), pool("P2", "M2", 82), pool("P3", "M3", 83)
    listeners = [
        dm.Listener(listener_id=lid, loadbalancer_id=LB, protocol="TCP", protocol_port=port,
                    admin_state_up=True, default_pool=p, default_pool_id=p.pool_id,
                    l7policies=[], connection_limit=-1)
        for lid, p, port in (("L1", p1, 80), ("L2", p2, 90))
    ]
    return dm.LoadBalancer(loadbalancer_id=LB, admin_state_up=True, vip_address="127.0.0.5",
                           listeners=listeners, pools=[p1, p2, p3],
                           name="lb").to_dict(recurse=True, render_unsets=True)


def converged(*, broken: dict[str, str] | None = None, unreachable: bool = False,
              strays: tuple[str, ...] = ()) -> ConvergeResult:
    broken = broken or {}
    if unreachable:
        node = NodeResult(node="n1", error="read failed: refused")
    else:
        node = NodeResult(node="n1", plan=Plan(),
                          report=VerifyReport(problems={k: [v] for k, v in broken.items()},
                                              stray_rules=strays))
    listeners = {lid: ListenerResult(lid, lid not in broken and not unreachable,
                                     broken.get(lid, "unreachable" if unreachable else None))
                 for lid in ("L1", "L2")}
    return ConvergeResult(dry_run=False, nodes=[node], listeners=listeners)


def job(op: str, kind: str, subject: str, **extra: Any) -> Job:
    return Job(op=op, loadbalancer_id=LB, subject=(kind, subject), **extra)


def test_relevant_listeners_follow_the_subject() -> None:
    index = TreeIndex(tree())
    assert relevant_listeners(job("loadbalancer_update", "loadbalancers", LB), index) == [
        "L1", "L2"]
    assert relevant_listeners(job("listener_update", "listeners", "L2"), index) == ["L2"]
    assert relevant_listeners(job("member_create", "members", "M1"), index) == ["L1"]
    assert relevant_listeners(job("pool_update", "pools", "P2"), index) == ["L2"]
    assert relevant_listeners(job("member_create", "members", "M3"), index) == []


def test_a_broken_unrelated_listener_does_not_fail_a_member() -> None:
    t = tree()
    j = job("member_create", "members", "M1")
    outcome = outcome_of(j, t, translate(t), converged(broken={"L2": "rule rejected"}))
    assert outcome.succeeded
    assert outcome.failed == {"L2": "rule rejected"}


def test_a_broken_listener_fails_its_members() -> None:
    t = tree()
    outcome = outcome_of(job("member_update", "members", "M1"), t, translate(t),
                         converged(broken={"L1": "endpoint missing"}))
    assert not outcome.succeeded


def test_unreachable_nodes_fail_every_job() -> None:
    t = tree()
    for j in (job("member_create", "members", "M3"), job("listener_delete", "listeners", "L1"),
              job("loadbalancer_update", "loadbalancers", LB)):
        assert not outcome_of(j, t, translate(t), converged(unreachable=True)).succeeded


def test_lb_create_survives_one_bad_listener_and_names_it() -> None:
    t = tree()
    outcome = outcome_of(job("loadbalancer_create", "loadbalancers", LB), t, translate(t),
                         converged(broken={"L2": "port clash"}))
    assert outcome.succeeded and set(outcome.failed) == {"L2"}


def test_failover_and_lb_delete_need_everything_verified() -> None:
    t = tree()
    for op in ("loadbalancer_failover", "loadbalancer_delete"):
        j = job(op, "loadbalancers", LB)
        assert outcome_of(j, t, translate(t), converged()).succeeded
        assert not outcome_of(j, t, translate(t), converged(broken={"L2": "x"})).succeeded


def test_a_delete_that_left_a_stray_rule_failed() -> None:
    t = tree()
    j = job("listener_delete", "listeners", "L1", deleting={"listeners": ["L1"]})
    desired = translate(t, deleting=j.deleting)
    assert outcome_of(j, t, desired, converged()).succeeded
    assert not outcome_of(j, t, desired, converged(strays=("oct-L1",))).succeeded


def test_unplaceable_subject_member_fails() -> None:
    t = tree()
    t["pools"][0]["members"][0]["address"] = "::1"  # IPv6 member behind an IPv4 VIP
    desired = translate(t)
    assert "M1" in desired.unplaceable
    outcome = outcome_of(job("member_create", "members", "M1"), t, desired, converged())
    assert not outcome.succeeded


def test_read_waits_for_created_and_updated_fields() -> None:
    t = tree()
    assert _mismatches(job("member_create", "members", "M9"), t) == ["members M9 not visible"]
    assert _mismatches(job("member_create", "members", "M1"), t) == []
    update = job("listener_update", "listeners", "L1", expect={"connection_limit": 5,
                                                               "not_rendered": 1})
    assert _mismatches(update, t) == ["connection_limit=-1, expecting 5"]
    t["listeners"][0]["connection_limit"] = 5
    assert _mismatches(update, t) == []
    batch = job("member_batch_update", "pools", "P1", members=["M1", "M7"])
    assert _mismatches(batch, t) == ["member M7 not yet visible"]
    assert _mismatches(job("member_delete", "members", "M1"), t) == []


def test_blind_status_releases_the_lb_last_and_fails_the_subject() -> None:
    j = job("member_create", "members", "M1",
            locked={"pools": ["P1"], "members": ["M1"], "listeners": ["L1"]})
    docs = build_blind_status(j)
    assert docs == [
        {"members": [{"id": "M1", "provisioning_status": "ERROR"}]},
        {"pools": [{"id": "P1", "provisioning_status": "ACTIVE"}]},
        {"listeners": [{"id": "L1", "provisioning_status": "ACTIVE"}]},
        {"loadbalancers": [{"id": LB, "provisioning_status": "ACTIVE"}]},
    ]


def test_batch_update_takes_dropped_members_off_loxilb() -> None:
    t = tree()
    batch = job("member_batch_update", "pools", "P1", members=[])
    deleting = going_away(batch, TreeIndex(t))
    assert deleting == {"members": ["M1"]}
    desired = translate(t, deleting=deleting)
    assert all("M1" not in rule.member_ids for rule in desired.rules)
    assert going_away(job("member_delete", "members", "M2", deleting={"members": ["M2"]}),
                      TreeIndex(t)) == {"members": ["M2"]}
