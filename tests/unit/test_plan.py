"""The planner, case by case: the fewest calls, and DELETE only where nothing else works."""

from __future__ import annotations

import dataclasses
from typing import Any

from octavia_loxilb.loxilb.models import Endpoint, LoadBalancerRule, Mode, Oper, ServiceArguments
from octavia_loxilb.reconcile.apply import Reconciler
from octavia_loxilb.reconcile.desired import TranslateSettings
from octavia_loxilb.reconcile.plan import Plan, plan
from octavia_loxilb.reconcile.steps import (
    AttachEndpoints,
    CreateRule,
    DeleteRule,
    DetachEndpoints,
    RecreateRule,
    SetProbe,
    UpdateRule,
    describe,
)
from octavia_loxilb.reconcile.translate import translate
from tests.unit.test_plan_properties import MemoryLoxiLB
from tests.unit.test_translate import VIP, hm, listener, member, pool, tree


def lb(members: list | None = None, **pool_fields: Any) -> dict[str, Any]:
    listener_fields = pool_fields.pop("listener", {})
    p = pool(members=members if members is not None else [member(1), member(2)], **pool_fields)
    return tree([listener(default_pool=p, **listener_fields)], [p])


def deployed(tree_: dict[str, Any], **kwargs: Any) -> MemoryLoxiLB:
    node = MemoryLoxiLB()
    result = Reconciler([node]).converge(translate(tree_, **kwargs))
    assert result.verified
    node.calls.clear()
    return node


def plan_for(node: MemoryLoxiLB, tree_: dict[str, Any], **kwargs: Any) -> Plan:
    desired = translate(tree_, **kwargs)
    return plan(desired, node.list_rules(), node.list_endpoint_probes(), scope=desired.scope)


def apply_and_check(node: MemoryLoxiLB, tree_: dict[str, Any], **kwargs: Any) -> Plan:
    """Plan, converge, and check the converged node needs nothing more."""
    planned = plan_for(node, tree_, **kwargs)
    result = Reconciler([node]).converge(translate(tree_, **kwargs))
    assert result.verified, result.nodes[0].report
    assert result.writes == planned.writes
    assert not plan_for(node, tree_, **kwargs).steps
    assert node.rebuilds == 0
    return planned


def kinds(planned: Plan) -> list[type]:
    return [type(step) for step in planned.steps]


def test_empty_node_gets_one_create_per_listener() -> None:
    planned = apply_and_check(MemoryLoxiLB(), lb())
    assert kinds(planned) == [CreateRule]
    assert planned.writes == 1 and planned.rule_deletes == 0


def test_converged_node_plans_nothing() -> None:
    node = deployed(lb())
    assert not plan_for(node, lb()).steps


def test_member_add_is_exactly_one_attach() -> None:
    node = deployed(lb())
    planned = apply_and_check(node, lb([member(1), member(2), member(3)]))
    assert kinds(planned) == [AttachEndpoints]
    (step,) = planned.steps
    assert isinstance(step, AttachEndpoints)
    assert step.rule.service.oper == Oper.ATTACH
    assert [(e.ip, e.port) for e in step.rule.endpoints] == [("10.0.0.3", 8080)]
    assert planned.writes == 1


def test_member_remove_is_exactly_one_detach() -> None:
    node = deployed(lb([member(1), member(2), member(3)]))
    planned = apply_and_check(node, lb([member(1), member(3)]))
    assert kinds(planned) == [DetachEndpoints]
    (step,) = planned.steps
    assert isinstance(step, DetachEndpoints)
    assert step.rule.service.oper == Oper.DETACH
    assert [e.ip for e in step.rule.endpoints] == ["10.0.0.2"]


def test_member_swap_is_detach_then_attach() -> None:
    node = deployed(lb([member(1), member(2)]))
    planned = apply_and_check(node, lb([member(1), member(3)]))
    assert kinds(planned) == [DetachEndpoints, AttachEndpoints]


def test_member_disable_is_one_detach_and_enable_one_attach() -> None:
    node = deployed(lb())
    disabled = lb([member(1), member(2, admin_state_up=False)])
    assert kinds(apply_and_check(node, disabled)) == [DetachEndpoints]
    assert kinds(apply_and_check(node, lb())) == [AttachEndpoints]


def test_weight_change_is_one_write() -> None:
    node = deployed(lb([member(1, weight=1), member(2, weight=1)]))
    planned = apply_and_check(node, lb([member(1, weight=1), member(2, weight=3)]))
    assert kinds(planned) == [AttachEndpoints]
    planned = apply_and_check(node, lb([member(1, weight=1), member(2, weight=4)]))
    assert kinds(planned) == [AttachEndpoints] and planned.writes == 1


def test_weight_zero_is_one_detach() -> None:
    node = deployed(lb())
    planned = apply_and_check(node, lb([member(1), member(2, weight=0)]))
    assert kinds(planned) == [DetachEndpoints]


def test_algorithm_change_is_one_write() -> None:
    node = deployed(lb())
    planned = apply_and_check(node, lb(lb_algorithm="LEAST_CONNECTIONS"))
    assert kinds(planned) == [UpdateRule]
    (step,) = planned.steps
    assert isinstance(step, UpdateRule)
    assert step.writes == 1 and step.reasons == ("sel",)
    assert {(e.ip, e.port) for e in step.bodies[0].endpoints} == {
        ("10.0.0.1", 8080),
        ("10.0.0.2", 8080),
    }


def test_proxy_protocol_and_allowed_sources_count_are_one_write() -> None:
    node = deployed(lb())
    assert apply_and_check(node, lb(protocol="PROXYV2")).writes == 1
    assert apply_and_check(node, lb(listener={"allowed_cidrs": ["10.0.0.0/8"]})).writes == 1


def test_idle_timeout_alone_is_two_in_place_posts_not_a_recreate() -> None:
    node = deployed(lb())
    planned = apply_and_check(node, lb(listener={"timeout_client_data": 9000}))
    (step,) = planned.steps
    assert isinstance(step, UpdateRule)
    assert step.reasons == ("inactive-timeout",) and step.writes == 2
    assert step.bodies[0].service.probetype != step.bodies[1].service.probetype == "none"
    assert planned.rule_deletes == 0


def test_allowed_sources_same_count_swap_is_applied() -> None:
    node = deployed(lb(listener={"allowed_cidrs": ["10.0.0.0/8"]}))
    planned = apply_and_check(node, lb(listener={"allowed_cidrs": ["192.168.0.0/16"]}))
    (step,) = planned.steps
    assert isinstance(step, UpdateRule) and step.reasons == ("allowed-sources-swap",)


def test_idle_timeout_rides_along_with_a_member_change() -> None:
    node = deployed(lb())
    planned = apply_and_check(
        node, lb([member(1), member(2), member(3)], listener={"timeout_client_data": 9000})
    )
    assert kinds(planned) == [AttachEndpoints]


def test_mode_change_recreates_and_says_why() -> None:
    node = deployed(lb())
    planned = apply_and_check(node, lb(), settings=TranslateSettings(mode=Mode.DNAT))
    (step,) = planned.recreates
    assert step.reasons == ("mode",) and planned.rule_deletes == 1 and planned.writes == 2


def test_rule_without_monitor_or_with_a_stale_name_is_recreated() -> None:
    desired = translate(lb())
    rule = desired.rules[0].rule
    for changes, reason in [({"monitor": False}, "monitor"), ({"name": "oct-old"}, "name")]:
        node = MemoryLoxiLB()
        node.apply_rule(
            dataclasses.replace(rule, service=dataclasses.replace(rule.service, **changes))
        )
        planned = plan(desired, node.list_rules(), [], scope=desired.scope)
        assert [s.reasons for s in planned.recreates] == [(reason,)]


def test_replacing_every_endpoint_attaches_before_detaching() -> None:
    node = deployed(lb([member(1), member(2)]))
    planned = apply_and_check(node, lb([member(3), member(4)]))
    assert kinds(planned) == [AttachEndpoints, DetachEndpoints]
    assert planned.rule_deletes == 0
    assert not [c for c in node.calls if c[0] == "DELETE"]


def test_replacing_more_than_32_endpoints_recreates() -> None:
    old = [member(n, address=f"10.1.0.{n + 1}") for n in range(20)]
    new = [member(n + 100, address=f"10.2.0.{n + 1}") for n in range(20)]
    node = deployed(lb(old))
    planned = apply_and_check(node, lb(new))
    assert [s.reasons for s in planned.recreates] == [("endpoint-replacement",)]


def test_deletes_only_for_removed_listener_pool_lb_or_last_member() -> None:
    for gone in [
        {"deleting": {"listeners": {"l1"}}},
        {"deleting": {"pools": {"p1"}}},
        {"deleting": {"loadbalancers": {"lb1"}}},
        {"deleting": {"members": {"m1", "m2"}}},
    ]:
        node = deployed(lb())
        planned = apply_and_check(node, lb(), **gone)
        assert kinds(planned) == [DeleteRule] and planned.rule_deletes == 1
        assert not node.list_rules()


def test_member_weight_algorithm_and_admin_changes_never_delete() -> None:
    node = deployed(lb([member(1), member(2), member(3)]))
    for variant in [
        lb([member(1), member(2)]),
        lb([member(1), member(2), member(4)]),
        lb([member(1, weight=9), member(2), member(4)]),
        lb([member(1, weight=9), member(2, admin_state_up=False), member(4)]),
        lb([member(1)], lb_algorithm="SOURCE_IP"),
        lb([member(1), member(5)], lb_algorithm="SOURCE_IP", healthmonitor=hm()),
    ]:
        assert apply_and_check(node, variant).rule_deletes == 0
    assert not [c for c in node.calls if c[0] == "DELETE"]


def test_rules_outside_scope_are_never_touched() -> None:
    node = MemoryLoxiLB()
    desired = translate(lb())
    key = desired.rules[0].key
    foreign = LoadBalancerRule(
        ServiceArguments(external_ip=VIP, port=80, protocol="tcp", name="someone-else"),
        (Endpoint("10.9.0.1", 80, 1),),
    )
    other_vip = LoadBalancerRule(
        ServiceArguments(external_ip="192.0.2.77", port=81, protocol="tcp", name="oct-zz"),
        (Endpoint("10.9.0.1", 80, 1),),
    )
    node.apply_rule(foreign)
    node.apply_rule(other_vip)
    planned = plan(desired, node.list_rules(), [], scope=desired.scope)
    assert not planned.steps
    assert "someone-else" in planned.conflicts["l1"]
    result = Reconciler([node]).converge(desired)
    assert not result.listeners["l1"].verified
    assert "someone-else" in (result.listeners["l1"].error or "")
    assert {r.key: r.name for r in node.list_rules()} == {
        key: "someone-else",
        other_vip.key: "oct-zz",
    }


def test_stray_in_scope_rule_is_deleted() -> None:
    node = deployed(lb())
    stray = LoadBalancerRule(
        ServiceArguments(external_ip=VIP, port=81, protocol="tcp", name="oct-gone", monitor=True),
        (Endpoint("10.9.0.1", 80, 1),),
    )
    node.apply_rule(stray)
    planned = apply_and_check(node, lb())
    assert planned.steps == (DeleteRule(key=stray.key, name="oct-gone", listener_id="gone"),)


def test_health_monitor_added_is_probe_writes_only() -> None:
    node = deployed(lb())
    planned = apply_and_check(node, lb(healthmonitor=hm(type="HTTP", url_path="/h")))
    assert kinds(planned) == [SetProbe, SetProbe]
    assert {s.key for s in planned.steps if isinstance(s, SetProbe)} == {
        "10.0.0.1_tcp_8080",
        "10.0.0.2_tcp_8080",
    }
    probe = node.hosts["10.0.0.1_tcp_8080"].probe
    assert (probe.probe_type, probe.probe_req) == ("http", "h")


def test_health_monitor_removed_sets_probes_back_to_none() -> None:
    node = deployed(lb(healthmonitor=hm()))
    planned = apply_and_check(node, lb())
    assert kinds(planned) == [SetProbe, SetProbe]
    assert all(s.probe.probe_type == "none" for s in planned.steps if isinstance(s, SetProbe))
    assert {h.probe.probe_type for h in node.hosts.values()} == {"none"}


def test_probe_is_set_before_the_attach_that_adds_its_endpoint() -> None:
    node = deployed(lb(healthmonitor=hm()))
    planned = apply_and_check(node, lb([member(1), member(2), member(3)], healthmonitor=hm()))
    assert kinds(planned) == [SetProbe, AttachEndpoints]
    assert planned.steps[0].key == "10.0.0.3_tcp_8080"  # type: ignore[union-attr]
    assert node.hosts["10.0.0.3_tcp_8080"].probe.probe_type == "tcp"


def test_probe_restored_after_a_recreate_wipes_it() -> None:
    node = deployed(lb(healthmonitor=hm()))
    planned = apply_and_check(
        node, lb(healthmonitor=hm()), settings=TranslateSettings(mode=Mode.ONEARM)
    )
    assert kinds(planned) == [RecreateRule, SetProbe, SetProbe]
    assert {h.probe.probe_type for h in node.hosts.values()} == {"tcp"}


def test_describe_names_every_step() -> None:
    node = deployed(lb())
    planned = plan_for(node, lb([member(1), member(3)], lb_algorithm="SOURCE_IP"))
    lines = [describe(step) for step in planned.steps]
    assert lines[0].startswith("detach rule oct-l1") and lines[1].startswith("attach rule oct-l1")


def test_dry_run_plans_without_writing() -> None:
    node = deployed(lb())
    result = Reconciler([node]).converge(translate(lb([member(1)])), dry_run=True)
    assert result.planned_writes == 1 and result.writes == 0 and not node.calls
    assert not result.verified and not result.listeners["l1"].verified


class FailingPosts(MemoryLoxiLB):
    """Refuses every rule POST; counts how many it was sent."""

    def apply_rule(self, rule: LoadBalancerRule) -> bool:
        self.calls.append(("POST", rule))
        raise RuntimeError("HTTP 500: emulated")


class Unreachable(MemoryLoxiLB):
    def list_rules(self) -> list[LoadBalancerRule]:
        raise ConnectionError("connection refused")


def two_listeners() -> dict[str, Any]:
    p, q = pool("p1"), pool("p2", members=[member(5)])
    return tree([listener("l1", p), listener("l2", q, protocol_port=81)], [p, q])


def test_a_failing_step_stops_that_node_and_blames_its_listener() -> None:
    node = FailingPosts()
    result = Reconciler([node]).converge(translate(two_listeners()))
    (node_result,) = result.nodes
    assert node_result.applied == 0 and len(node.calls) == 1
    assert isinstance(node_result.failed_step, CreateRule)
    assert node_result.failed_step.listener_id == "l1"
    assert "HTTP 500" in (result.listeners["l1"].error or "")
    assert "missing" in (result.listeners["l2"].error or "")
    assert not result.verified


def test_an_unreachable_node_leaves_every_listener_unverified() -> None:
    good = MemoryLoxiLB("good")
    result = Reconciler([good, Unreachable("bad")]).converge(translate(two_listeners()))
    assert {n.node: n.verified for n in result.nodes} == {"good": True, "bad": False}
    for listener_id in ("l1", "l2"):
        assert not result.listeners[listener_id].verified
        assert "connection refused" in (result.listeners[listener_id].error or "")
    assert len(good.list_rules()) == 2
