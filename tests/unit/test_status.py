"""The status document: every rule of PROVIDER-CONTRACT.md's "Status through the driver-agent".

Trees are built with octavia-lib's own provider data models and rendered the way the
driver-agent's ``get`` renders them (``to_dict(recurse=True, render_unsets=True)``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from octavia_lib.api.drivers import data_models as dm

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.worker.status import Outcome, TreeIndex, build_status

LB = "lb-1"


def member(mid: str, pool: str, up: bool = True) -> dm.Member:
    return dm.Member(member_id=mid, pool_id=pool, address="127.0.0.10", protocol_port=80,
                     admin_state_up=up, weight=1)


def pool(pid: str, members: list[dm.Member], hm: dm.HealthMonitor | None = None,
         up: bool = True) -> dm.Pool:
    return dm.Pool(pool_id=pid, loadbalancer_id=LB, protocol="TCP", lb_algorithm="ROUND_ROBIN",
                   admin_state_up=up, members=members, healthmonitor=hm)


def listener(lid: str, default_pool: dm.Pool | None, up: bool = True,
             l7policies: list[dm.L7Policy] | None = None) -> dm.Listener:
    return dm.Listener(listener_id=lid, loadbalancer_id=LB, protocol="TCP", protocol_port=80,
                       admin_state_up=up, default_pool=default_pool,
                       default_pool_id=default_pool.pool_id if default_pool else None,
                       l7policies=l7policies or [])


def render(lb: dm.LoadBalancer) -> dict[str, Any]:
    return lb.to_dict(recurse=True, render_unsets=True)


def standard_tree(*, hm: bool = False, lb_up: bool = True,
                  member_up: bool = True) -> dict[str, Any]:
    """LB → listener L1 (default pool P1: members M1, M2) + unattached pool P2 (member M3)."""
    monitor = (dm.HealthMonitor(healthmonitor_id="H1", pool_id="P1", type="TCP",
                                admin_state_up=True) if hm else None)
    p1 = pool("P1", [member("M1", "P1"), member("M2", "P1", up=member_up)], monitor)
    p2 = pool("P2", [member("M3", "P2")])
    lb = dm.LoadBalancer(loadbalancer_id=LB, admin_state_up=lb_up, vip_address="127.0.0.5",
                         listeners=[listener("L1", p1)], pools=[p1, p2])
    return render(lb)


def records(doc: dict[str, list[dict[str, str]]]) -> dict[str, tuple[str, str]]:
    return {r["id"]: (r["provisioning_status"], r["operating_status"])
            for recs in doc.values() for r in recs}


def prov(doc: dict[str, list[dict[str, str]]]) -> dict[str, str]:
    return {k: v[0] for k, v in records(doc).items()}


OK = Outcome(succeeded=True)
FAILED = Outcome(succeeded=False)


def test_member_create_reports_member_pool_listener_and_lb_active() -> None:
    job = Job(op="member_create", loadbalancer_id=LB, subject=("members", "M2"),
              locked={"loadbalancers": [LB], "listeners": ["L1"], "pools": ["P1"],
                      "members": ["M2"]})
    doc = build_status(job, standard_tree(), OK)
    assert records(doc) == {
        "M2": ("ACTIVE", "NO_MONITOR"),
        "P1": ("ACTIVE", "ONLINE"),
        "L1": ("ACTIVE", "ONLINE"),
        LB: ("ACTIVE", "ONLINE"),
    }
    assert list(doc) == ["members", "pools", "listeners", "loadbalancers"]
    assert all(list(r) == ["id", "provisioning_status", "operating_status"]
               for recs in doc.values() for r in recs)


def test_parents_found_in_tree_even_when_job_did_not_list_them() -> None:
    job = Job(op="member_update", loadbalancer_id=LB, subject=("members", "M1"))
    assert prov(build_status(job, standard_tree(), OK)) == {
        "M1": "ACTIVE", "P1": "ACTIVE", "L1": "ACTIVE", LB: "ACTIVE"}


def test_failed_member_goes_error_and_parents_back_to_active() -> None:
    job = Job(op="member_create", loadbalancer_id=LB, subject=("members", "M2"),
              locked={"loadbalancers": [LB], "listeners": ["L1"], "pools": ["P1"],
                      "members": ["M2"]})
    doc = build_status(job, standard_tree(), FAILED)
    assert records(doc)["M2"] == ("ERROR", "ERROR")
    assert prov(doc) == {"M2": "ERROR", "P1": "ACTIVE", "L1": "ACTIVE", LB: "ACTIVE"}


def test_member_with_health_monitor_is_offline_until_probed() -> None:
    job = Job(op="member_create", loadbalancer_id=LB, subject=("members", "M1"))
    assert records(build_status(job, standard_tree(hm=True), OK))["M1"] == ("ACTIVE", "OFFLINE")
    probed = Outcome(succeeded=True, observed={"M1": "ONLINE"})
    assert records(build_status(job, standard_tree(hm=True), probed))["M1"] == (
        "ACTIVE", "ONLINE")


def test_probe_results_roll_up_to_pool_and_lb() -> None:
    job = Job(op="member_update", loadbalancer_id=LB, subject=("members", "M1"))
    one_down = Outcome(succeeded=True, observed={"M1": "ERROR", "M2": "ONLINE"})
    doc = records(build_status(job, standard_tree(hm=True), one_down))
    assert doc["P1"] == ("ACTIVE", "DEGRADED")
    assert doc[LB] == ("ACTIVE", "DEGRADED")
    all_down = Outcome(succeeded=True, observed={"M1": "ERROR", "M2": "ERROR"})
    doc = records(build_status(job, standard_tree(hm=True), all_down))
    assert doc["P1"] == ("ACTIVE", "ERROR")
    assert doc[LB] == ("ACTIVE", "ERROR")


def test_admin_down_objects_are_offline() -> None:
    job = Job(op="member_update", loadbalancer_id=LB, subject=("members", "M2"))
    assert records(build_status(job, standard_tree(member_up=False), OK))["M2"] == (
        "ACTIVE", "OFFLINE")
    doc = records(build_status(job, standard_tree(lb_up=False), OK))
    assert doc[LB] == ("ACTIVE", "OFFLINE")
    assert doc["L1"] == ("ACTIVE", "OFFLINE")
    assert doc["P1"] == ("ACTIVE", "OFFLINE")


def test_pool_used_by_no_listener_is_offline() -> None:
    job = Job(op="pool_create", loadbalancer_id=LB, subject=("pools", "P2"))
    doc = records(build_status(job, standard_tree(), OK))
    assert doc == {"P2": ("ACTIVE", "OFFLINE"), LB: ("ACTIVE", "ONLINE")}


def test_fully_populated_create_reports_every_nested_object() -> None:
    job = Job(op="loadbalancer_create", loadbalancer_id=LB, subject=("loadbalancers", LB),
              locked={"loadbalancers": [LB]})
    doc = build_status(job, standard_tree(hm=True), OK)
    assert prov(doc) == {i: "ACTIVE" for i in (LB, "L1", "P1", "P2", "M1", "M2", "M3", "H1")}
    assert records(doc)["H1"] == ("ACTIVE", "ONLINE")
    assert records(doc)["M3"] == ("ACTIVE", "NO_MONITOR")


def test_failed_populated_create_leaves_nothing_pending() -> None:
    job = Job(op="loadbalancer_create", loadbalancer_id=LB, subject=("loadbalancers", LB))
    doc = build_status(job, standard_tree(hm=True), FAILED)
    assert prov(doc) == {i: "ERROR" for i in (LB, "L1", "P1", "P2", "M1", "M2", "M3", "H1")}


def test_cascade_delete_reports_every_child_deleted() -> None:
    job = Job(op="loadbalancer_delete", loadbalancer_id=LB, subject=("loadbalancers", LB),
              cascade=True, locked={"loadbalancers": [LB]})
    doc = build_status(job, standard_tree(hm=True), OK)
    assert records(doc) == {
        i: ("DELETED", "OFFLINE") for i in (LB, "L1", "P1", "P2", "M1", "M2", "M3", "H1")}
    assert list(doc) == ["members", "healthmonitors", "pools", "listeners", "loadbalancers"]


def test_failed_lb_delete_puts_only_the_lb_in_error() -> None:
    job = Job(op="loadbalancer_delete", loadbalancer_id=LB, subject=("loadbalancers", LB),
              cascade=True)
    assert prov(build_status(job, standard_tree(), FAILED)) == {LB: "ERROR"}


def test_plain_member_delete_reports_member_deleted_and_parents_active() -> None:
    job = Job(op="member_delete", loadbalancer_id=LB, subject=("members", "M1"),
              deleting={"members": ["M1"]})
    doc = build_status(job, standard_tree(), OK)
    assert prov(doc) == {"M1": "DELETED", "P1": "ACTIVE", "L1": "ACTIVE", LB: "ACTIVE"}


def test_health_monitor_delete_leaves_members_without_monitor() -> None:
    job = Job(op="health_monitor_delete", loadbalancer_id=LB,
              subject=("healthmonitors", "H1"), deleting={"healthmonitors": ["H1"]},
              locked={"members": ["M1"]})
    doc = records(build_status(job, standard_tree(hm=True), OK))
    assert doc["H1"] == ("DELETED", "OFFLINE")
    assert doc["P1"] == ("ACTIVE", "ONLINE")
    assert doc["M1"] == ("ACTIVE", "NO_MONITOR")


def test_pool_delete_reports_its_members_and_monitor_deleted() -> None:
    job = Job(op="pool_delete", loadbalancer_id=LB, subject=("pools", "P1"),
              deleting={"pools": ["P1"], "members": ["M1", "M2"], "healthmonitors": ["H1"]})
    doc = prov(build_status(job, standard_tree(hm=True), OK))
    assert doc == {"P1": "DELETED", "M1": "DELETED", "M2": "DELETED", "H1": "DELETED",
                   "L1": "ACTIVE", LB: "ACTIVE"}


def test_member_batch_update_reports_removed_members_deleted() -> None:
    job = Job(op="member_batch_update", loadbalancer_id=LB, subject=("pools", "P1"),
              members=["M2"], locked={"loadbalancers": [LB], "listeners": ["L1"],
                                      "pools": ["P1"], "members": ["M2", "M1"]})
    doc = prov(build_status(job, standard_tree(), OK))
    assert doc == {"M1": "DELETED", "M2": "ACTIVE", "P1": "ACTIVE", "L1": "ACTIVE",
                   LB: "ACTIVE"}


def test_failed_member_batch_update_keeps_pool_mutable() -> None:
    job = Job(op="member_batch_update", loadbalancer_id=LB, subject=("pools", "P1"),
              members=["M2"])
    doc = prov(build_status(job, standard_tree(), FAILED))
    assert doc == {"M1": "ERROR", "M2": "ERROR", "P1": "ACTIVE", "L1": "ACTIVE",
                   LB: "ACTIVE"}


def test_failover_active_only_when_verified() -> None:
    job = Job(op="loadbalancer_failover", loadbalancer_id=LB, subject=("loadbalancers", LB))
    assert prov(build_status(job, standard_tree(), OK)) == {LB: "ACTIVE"}
    assert records(build_status(job, standard_tree(), FAILED)) == {LB: ("ERROR", "ERROR")}


def test_listener_update_reports_listener_and_lb() -> None:
    job = Job(op="listener_update", loadbalancer_id=LB, subject=("listeners", "L1"),
              expect={"connection_limit": 5})
    assert prov(build_status(job, standard_tree(), OK)) == {"L1": "ACTIVE", LB: "ACTIVE"}


def test_l7_redirect_listener_is_a_pool_parent() -> None:
    rule = dm.L7Rule(l7rule_id="R1", l7policy_id="PO1", type="PATH", compare_type="EQUAL_TO",
                     value="/", admin_state_up=True)
    policy = dm.L7Policy(l7policy_id="PO1", listener_id="L2", action="REDIRECT_TO_POOL",
                         redirect_pool_id="P2", rules=[rule], admin_state_up=True)
    p1 = pool("P1", [member("M1", "P1")])
    p2 = pool("P2", [member("M3", "P2")])
    tree = render(dm.LoadBalancer(
        loadbalancer_id=LB, admin_state_up=True,
        listeners=[listener("L1", p1), listener("L2", None, l7policies=[policy])],
        pools=[p1, p2]))
    job = Job(op="member_update", loadbalancer_id=LB, subject=("members", "M3"))
    doc = records(build_status(job, tree, OK))
    assert doc == {"M3": ("ACTIVE", "NO_MONITOR"), "P2": ("ACTIVE", "ONLINE"),
                   "L2": ("ACTIVE", "ONLINE"), LB: ("ACTIVE", "ONLINE")}
    rule_job = Job(op="l7rule_create", loadbalancer_id=LB, subject=("l7rules", "R1"))
    assert prov(build_status(rule_job, tree, OK)) == {
        "R1": "ACTIVE", "PO1": "ACTIVE", "L2": "ACTIVE", LB: "ACTIVE"}


@pytest.mark.parametrize("tree", [None, {"loadbalancer_id": "other", "listeners": None,
                                         "pools": None}])
def test_missing_or_foreign_tree_reports_nothing(tree: dict[str, Any] | None) -> None:
    job = Job(op="loadbalancer_update", loadbalancer_id=LB, subject=("loadbalancers", LB))
    assert build_status(job, tree, OK) == {}


def test_subject_rolled_back_by_the_api_reports_nothing() -> None:
    job = Job(op="member_create", loadbalancer_id=LB, subject=("members", "gone"),
              locked={"loadbalancers": [LB], "pools": ["P1"], "members": ["gone"]})
    assert build_status(job, standard_tree(), OK) == {}


def test_stale_ids_in_the_job_are_never_reported() -> None:
    job = Job(op="member_batch_update", loadbalancer_id=LB, subject=("pools", "P1"),
              members=["M1", "stale"], locked={"members": ["stale", "M1"],
                                                "listeners": ["old-listener"]},
              deleting={"members": ["stale2"]})
    doc = records(build_status(job, standard_tree(), OK))
    assert "stale" not in doc and "stale2" not in doc and "old-listener" not in doc
    assert doc["M2"] == ("DELETED", "OFFLINE")


# Properties over random trees and jobs ---------------------------------------------------


@st.composite
def trees_and_jobs(draw: st.DrawFn) -> tuple[dict[str, Any], Job, bool]:
    n_pools = draw(st.integers(0, 3))
    pools: list[dm.Pool] = []
    for p in range(n_pools):
        members = [member(f"M{p}{m}", f"P{p}", up=draw(st.booleans()))
                   for m in range(draw(st.integers(0, 3)))]
        hm = (dm.HealthMonitor(healthmonitor_id=f"H{p}", pool_id=f"P{p}",
                               admin_state_up=draw(st.booleans()))
              if draw(st.booleans()) else None)
        pools.append(pool(f"P{p}", members, hm, up=draw(st.booleans())))
    listeners = [
        listener(f"L{i}", draw(st.sampled_from([None, *pools])), up=draw(st.booleans()))
        for i in range(draw(st.integers(0, 3)))
    ]
    tree = render(dm.LoadBalancer(loadbalancer_id=LB, admin_state_up=draw(st.booleans()),
                                  listeners=listeners, pools=pools))
    index = TreeIndex(tree)
    subject_id = draw(st.sampled_from(index.order))
    kind = index.kind(subject_id)
    verb = draw(st.sampled_from(["create", "update", "delete"]))
    singular = {"loadbalancers": "loadbalancer", "listeners": "listener", "pools": "pool",
                "members": "member", "healthmonitors": "health_monitor"}[kind]
    deleting = {kind: [subject_id]} if verb == "delete" else {}
    locked = {"loadbalancers": [LB], kind: [subject_id, "not-in-tree"]}
    job = Job(op=f"{singular}_{verb}", loadbalancer_id=LB, subject=(kind, subject_id),
              locked=locked, deleting=deleting, cascade=verb == "delete")
    return tree, job, draw(st.booleans())


VALID_OPER = {"ONLINE", "OFFLINE", "DEGRADED", "ERROR", "NO_MONITOR"}


@settings(max_examples=300, deadline=None)
@given(trees_and_jobs())
def test_properties_of_every_document(case: tuple[dict[str, Any], Job, bool]) -> None:
    tree, job, succeeded = case
    index = TreeIndex(tree)
    doc = build_status(job, tree, Outcome(succeeded=succeeded))
    seen = [r["id"] for recs in doc.values() for r in recs]
    assert len(seen) == len(set(seen)), "one record per object"
    assert set(seen) <= set(index.order), "never an id the tree does not hold"
    for kind, recs in doc.items():
        for record in recs:
            assert index.kind(record["id"]) == kind
            assert record["provisioning_status"] in {"ACTIVE", "ERROR", "DELETED"}
            assert record["operating_status"] in VALID_OPER
    status = prov(doc)
    subject_id = job.subject[1]
    assert status[LB] in {"ACTIVE", "ERROR", "DELETED"}
    for parent in index.parents(subject_id):
        assert status[parent] == "ACTIVE" or job.op == "loadbalancer_delete"
    if not succeeded:
        assert status[subject_id] == "ERROR"
        errors = {i for i, s in status.items() if s == "ERROR"}
        expected = set(index.order) if job.op == "loadbalancer_create" else {subject_id}
        assert errors == expected
    elif job.op.endswith("_delete"):
        assert status[subject_id] == "DELETED"
    else:
        assert status[subject_id] == "ACTIVE"
