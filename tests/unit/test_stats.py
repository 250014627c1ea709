"""Listener statistics: counters that never go back across LoxiLB and worker restarts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from oslo_config import cfg

from octavia_loxilb.conf import register_opts
from octavia_loxilb.db import api as db_api
from octavia_loxilb.db import migrations, session
from octavia_loxilb.loxilb import models
from octavia_loxilb.worker.periodic import TaskContext
from octavia_loxilb.worker.stats import StatsPoller, absolute_bytes, advance

EMPTY = db_api.ListenerNodeCounters("l1", "n1")


def test_growing_counters_are_taken_as_they_are() -> None:
    one = advance(EMPTY, {"a": 100, "b": 50}, new_flows=2)
    two = advance(one, {"a": 150, "b": 50}, new_flows=1)
    assert absolute_bytes(two) == 200
    assert two.total_connections == 3


def test_a_loxilb_restart_keeps_what_was_counted() -> None:
    before = advance(EMPTY, {"a": 100, "b": 50}, 0)
    wiped = advance(before, {}, 0)  # rules gone until restored
    assert absolute_bytes(wiped) == 150
    restored = advance(wiped, {"a": 0, "b": 0}, 0)
    more = advance(restored, {"a": 30, "b": 0}, 0)
    assert absolute_bytes(more) == 180


def test_one_endpoint_reset_does_not_double_count_the_others() -> None:
    before = advance(EMPTY, {"a": 100, "b": 50}, 0)
    after = advance(before, {"a": 120, "b": 5}, 0)  # b's slot changed: its counter restarted
    assert absolute_bytes(after) == 100 + 50 + 20 + 5


@given(st.lists(st.dictionaries(st.sampled_from("abcd"), st.integers(0, 10**9), max_size=4),
                max_size=12))
def test_absolute_bytes_never_go_back(raws: list[dict[str, int]]) -> None:
    state = EMPTY
    for raw in raws:
        nxt = advance(state, raw, 0)
        assert absolute_bytes(nxt) >= absolute_bytes(state)
        state = nxt


@dataclasses.dataclass
class FakeNode:
    """A LoxiLB node's counter view: the parts of the client the poller reads."""

    node: str
    rules: list[models.LoadBalancerRule]
    flows: list[models.ConntrackEntry]

    def list_rules(self) -> list[models.LoadBalancerRule]:
        return self.rules

    def list_conntrack(self) -> list[models.ConntrackEntry]:
        return self.flows


class FakePlacer:
    def __init__(self, node: FakeNode) -> None:
        self.node = node

    def nodes(self, group: db_api.Group) -> list[FakeNode]:
        return [self.node]


class RecordingLibrary:
    def __init__(self) -> None:
        self.pushed: list[dict[str, Any]] = []

    def update_listener_statistics(self, statistics: dict[str, Any]) -> None:
        self.pushed.append(statistics)


def rule(name: str, counters: list[int]) -> models.LoadBalancerRule:
    return models.LoadBalancerRule(
        service=models.ServiceArguments(external_ip="10.1.0.1", port=80, protocol="tcp",
                                        name=name),
        endpoints=tuple(models.Endpoint(ip=f"10.2.0.{i}", port=80, bytes=b)
                        for i, b in enumerate(counters, start=1)),
    )


def flow(name: str, ident: int) -> models.ConntrackEntry:
    return models.ConntrackEntry(ident=str(ident), serv_name=name, protocol="tcp",
                                 source_ip="10.9.0.1", source_port=40000 + ident,
                                 destination_ip="10.1.0.1", destination_port=80)


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    eng = session.create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    migrations.upgrade(eng)
    with session.session_scope(eng) as s:
        group = db_api.create_group(s, "g", "external", "SINGLE", ["n1"])
        db_api.create_placement(s, "lb", group.id, "10.1.0.1")
    return eng


def poller(engine: sa.Engine, node: FakeNode, library: RecordingLibrary) -> StatsPoller:
    conf = register_opts(cfg.ConfigOpts())
    conf([], project="octavia-loxilb-test")
    return StatsPoller(TaskContext(conf=conf, engine=engine, placer=FakePlacer(node),
                                   library=lambda: library))


def test_poller_survives_loxilb_and_worker_restarts(engine: sa.Engine) -> None:
    name = "oct-l1"
    node = FakeNode("n1", [rule(name, [100, 50]), rule("someone-else", [7])],
                    [flow(name, 1), flow(name, 2)])
    library = RecordingLibrary()
    first = poller(engine, node, library)
    [stats] = first.poll()
    assert stats == {"id": "l1", "bytes_in": 150, "bytes_out": 0, "active_connections": 2,
                     "total_connections": 0, "request_errors": 0}, "open flows at takeover"
    node.flows = [flow(name, 2), flow(name, 3), flow(name, 4)]
    node.rules = [rule(name, [200, 60])]
    assert first.poll()[0]["total_connections"] == 2
    node.rules, node.flows = [], []  # LoxiLB restarted: everything wiped
    assert first.poll() == [], "a listener without a rule is not reported"
    node.rules = [rule(name, [10, 0])]  # restored, counters from zero
    [after_restart] = first.poll()
    assert after_restart["bytes_in"] == 270
    assert after_restart["total_connections"] == 2
    second = poller(engine, node, library)  # a new leader / restarted worker
    node.rules = [rule(name, [15, 0])]
    node.flows = [flow(name, 1)]
    [continued] = second.poll()
    assert continued["bytes_in"] == 275
    assert continued["total_connections"] == 2
    assert continued["active_connections"] == 1
    assert [p["listeners"][0]["bytes_in"] for p in library.pushed] == [150, 260, 270, 275]
