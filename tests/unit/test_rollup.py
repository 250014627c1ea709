"""Operating-status roll-up, case by case against Octavia's amphora health driver rules."""

from __future__ import annotations

from typing import Any

import pytest

from octavia_loxilb.worker.rollup import (
    DEGRADED,
    ERROR,
    NO_MONITOR,
    OFFLINE,
    ONLINE,
    Observed,
    as_document,
    changes,
    rollup,
)


def member(mid: str, up: bool = True) -> dict[str, Any]:
    return {"member_id": mid, "admin_state_up": up, "address": "10.0.0.1",
            "protocol_port": 80}


def tree(members: list[dict[str, Any]], *, monitor: dict[str, Any] | None = None,
         lb_up: bool = True, listener_up: bool = True,
         extra_pool: bool = False) -> dict[str, Any]:
    pool = {"pool_id": "p1", "admin_state_up": True, "members": members,
            "healthmonitor": monitor}
    pools = [pool]
    if extra_pool:
        pools.append({"pool_id": "p2", "admin_state_up": True, "members": [member("x")],
                      "healthmonitor": None})
    return {"loadbalancer_id": "lb", "admin_state_up": lb_up,
            "listeners": [{"listener_id": "l1", "admin_state_up": listener_up,
                           "default_pool_id": "p1"}],
            "pools": pools}


TCP = {"healthmonitor_id": "hm", "type": "TCP", "admin_state_up": True}


def seen(health: dict[str, bool], listeners: tuple[str, ...] = ("l1",),
         pools: tuple[str, ...] = ("p1",)) -> Observed:
    return Observed(listeners_with_rule=frozenset(listeners), pools_with_rule=frozenset(pools),
                    members=health)


CASES = [
    # id, members, monitor, observed members, expected member statuses, pool, lb
    ("all healthy", ["a", "b"], TCP, {"a": True, "b": True},
     {"a": ONLINE, "b": ONLINE}, ONLINE, ONLINE),
    ("one down", ["a", "b", "c"], TCP, {"a": True, "b": False, "c": True},
     {"a": ONLINE, "b": ERROR, "c": ONLINE}, DEGRADED, DEGRADED),
    ("all down", ["a", "b"], TCP, {"a": False, "b": False},
     {"a": ERROR, "b": ERROR}, ERROR, ERROR),
    ("no monitor ignores endpoint state", ["a"], None, {"a": False},
     {"a": NO_MONITOR}, ONLINE, ONLINE),
    ("monitor admin-down is no monitor", ["a"], {**TCP, "admin_state_up": False},
     {"a": False}, {"a": NO_MONITOR}, ONLINE, ONLINE),
    ("member not carried by the rule", ["a", "b"], TCP, {"a": True},
     {"a": ONLINE, "b": OFFLINE}, ONLINE, ONLINE),
    ("empty pool is online", [], TCP, {}, {}, ONLINE, ONLINE),
]


@pytest.mark.parametrize(("name", "ids", "monitor", "health", "want_members", "want_pool",
                          "want_lb"), CASES, ids=[c[0] for c in CASES])
def test_member_pool_lb(name: str, ids: list[str], monitor: dict[str, Any] | None,
                        health: dict[str, bool], want_members: dict[str, str], want_pool: str,
                        want_lb: str) -> None:
    out = rollup(tree([member(i) for i in ids], monitor=monitor), seen(health))
    assert out["members"] == want_members
    assert out["pools"] == {"p1": want_pool}
    assert out["loadbalancers"] == {"lb": want_lb}
    assert out["listeners"] == {"l1": ONLINE}


def test_admin_down_member_is_offline_and_does_not_degrade() -> None:
    out = rollup(tree([member("a"), member("b", up=False)], monitor=TCP),
                 seen({"a": True}))
    assert out["members"] == {"a": ONLINE, "b": OFFLINE}
    assert out["pools"]["p1"] == ONLINE
    assert out["loadbalancers"]["lb"] == ONLINE


def test_every_member_admin_down_leaves_no_usable_member() -> None:
    out = rollup(tree([member("a", up=False)], monitor=TCP), seen({}))
    assert out["members"] == {"a": OFFLINE}
    assert out["pools"]["p1"] == ERROR
    assert out["loadbalancers"]["lb"] == ERROR


def test_mixed_down_and_no_monitor_pools() -> None:
    out = rollup(tree([member("a"), member("b")], monitor=TCP, extra_pool=True),
                 seen({"a": False, "b": True, "x": False}, pools=("p1", "p2")))
    assert out["members"] == {"a": ERROR, "b": ONLINE, "x": NO_MONITOR}
    assert out["pools"] == {"p1": DEGRADED, "p2": ONLINE}
    assert out["loadbalancers"]["lb"] == DEGRADED


def test_admin_down_lb_is_offline_but_an_all_down_pool_still_errors_it() -> None:
    healthy = rollup(tree([member("a")], monitor=TCP, lb_up=False), seen({"a": False}))
    assert healthy["loadbalancers"]["lb"] == ERROR
    degraded = rollup(tree([member("a"), member("b")], monitor=TCP, lb_up=False),
                      seen({"a": False, "b": True}))
    assert degraded["pools"]["p1"] == DEGRADED
    assert degraded["loadbalancers"]["lb"] == OFFLINE, "DEGRADED only replaces ONLINE"


def test_missing_rule_listener_error_or_offline_and_pool_offline() -> None:
    missing = seen({}, listeners=(), pools=())
    out = rollup(tree([member("a")], monitor=TCP), missing)
    assert out["listeners"] == {"l1": ERROR}
    assert out["pools"] == {"p1": OFFLINE}
    assert out["members"] == {}, "members of an unreported pool are left alone"
    assert out["loadbalancers"]["lb"] == ONLINE, "a listener's status does not lower the LB"
    disabled = rollup(tree([member("a")], monitor=TCP, listener_up=False), missing)
    assert disabled["listeners"] == {"l1": OFFLINE}


def test_changes_and_document_hold_only_differences() -> None:
    before = rollup(tree([member("a"), member("b")], monitor=TCP),
                    seen({"a": True, "b": True}))
    after = rollup(tree([member("a"), member("b")], monitor=TCP),
                   seen({"a": True, "b": False}))
    delta = changes(after, before)
    assert as_document(delta) == {
        "loadbalancers": [{"id": "lb", "operating_status": DEGRADED}],
        "members": [{"id": "b", "operating_status": ERROR}],
        "pools": [{"id": "p1", "operating_status": DEGRADED}],
    }
    assert as_document(changes(after, after)) == {}
