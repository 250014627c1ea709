"""Probe ownership between load balancers sharing a backend: the policy of doc/health.md.

Claims are kept in a real SQLite driver DB built by the migrations; trees are translated by
the real translator, and the convergence tests apply the settled states with the real
Reconciler to an in-process emulator and read its probe table back.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from octavia_lib.api.drivers import data_models as dm

from octavia_loxilb.db import api as db_api
from octavia_loxilb.db import migrations, session
from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.models import EndpointProbe
from octavia_loxilb.loxilb.transport import NodeConfig
from octavia_loxilb.reconcile.apply import Reconciler
from octavia_loxilb.reconcile.translate import translate
from octavia_loxilb.worker.probe_owners import ProbeOwners, Settled

SHARED = "10.0.0.1_tcp_8080"
"""The probe key of the backend both load balancers' pools contain."""
OWN_B = "10.0.0.2_tcp_8080"
"""A backend only load balancer B uses."""


def monitor(hm_id: str, kind: str = "TCP", **fields: Any) -> dm.HealthMonitor:
    values: dict[str, Any] = dict(healthmonitor_id=hm_id, type=kind, delay=5, timeout=3,
                                  max_retries=2, max_retries_down=2, admin_state_up=True)
    if kind in ("HTTP", "HTTPS"):
        values.update(url_path="/healthz", http_method="GET", expected_codes="200")
    values.update(fields)
    return dm.HealthMonitor(**values)


def lb_tree(name: str, vip: str, addresses: list[str],
            hm: dm.HealthMonitor | None = None) -> dict[str, Any]:
    """Load balancer ``name``: one TCP listener on ``vip``:80, one pool of ``addresses``."""
    members = [dm.Member(member_id=f"{name}-m{i}", address=a, protocol_port=8080, weight=1)
               for i, a in enumerate(addresses)]
    pool = dm.Pool(pool_id=f"{name}-pool", lb_algorithm="ROUND_ROBIN", protocol="TCP",
                   members=members, healthmonitor=hm)
    listener = dm.Listener(listener_id=f"{name}-l", protocol="TCP", protocol_port=80,
                           default_pool=pool, default_pool_id=pool.pool_id)
    lb = dm.LoadBalancer(loadbalancer_id=name, vip_address=vip, listeners=[listener],
                         pools=[pool])
    rendered: dict[str, Any] = lb.to_dict(recurse=True, render_unsets=True)
    return rendered


A_TCP = lambda: lb_tree("lb-a", "192.0.2.1", ["10.0.0.1"], monitor("hm-a"))  # noqa: E731


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    eng = session.create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    migrations.upgrade(eng)
    return eng


@pytest.fixture
def group(engine: sa.Engine) -> str:
    with session.session_scope(engine) as s:
        return db_api.create_group(s, "g", "external", "SINGLE", ["http://n1"]).id


@pytest.fixture
def owners(engine: sa.Engine) -> ProbeOwners:
    return ProbeOwners(engine)


def settle(owners: ProbeOwners, group: str, tree: dict[str, Any],
           deleting: dict[str, list[str]] | None = None) -> Settled:
    return owners.settle(group, tree, translate(tree, deleting=deleting), deleting)


def claims(owners: ProbeOwners, group: str) -> set[tuple[str, str]]:
    return {(c.probe_key, c.pool_id) for c in owners.claims(group)}


def test_first_monitor_owns_identical_shares_conflicting_is_refused(
        owners: ProbeOwners, group: str) -> None:
    first = settle(owners, group, A_TCP())
    assert first.refused == {}
    assert first.desired.probes[SHARED].probe_type == "tcp"

    same = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1"], monitor("hm-b"))
    shared = settle(owners, group, same)
    assert shared.refused == {}
    assert claims(owners, group) == {(SHARED, "lb-a-pool"), (SHARED, "lb-b-pool")}

    http = lb_tree("lb-c", "192.0.2.3", ["10.0.0.1", "10.0.0.2"], monitor("hm-c", "HTTP"))
    refused = settle(owners, group, http)
    assert set(refused.refused) == {"hm-c"}
    reason = refused.refused["hm-c"]
    assert SHARED in reason and "lb-a-pool" in reason and "lb-a" in reason
    assert "http" in reason and "tcp" in reason
    # The shared key converges the owner's TCP settings; the unshared one C's own HTTP probe.
    assert refused.desired.probes[SHARED] == first.desired.probes[SHARED]
    assert refused.desired.probes[OWN_B].probe_type == "http"
    assert (SHARED, "lb-c-pool") not in claims(owners, group)
    assert (OWN_B, "lb-c-pool") in claims(owners, group)


def test_differences_in_timing_port_or_path_conflict(owners: ProbeOwners, group: str) -> None:
    settle(owners, group, A_TCP())
    variants = [monitor("hm-b", delay=7), monitor("hm-b", max_retries_down=5),
                monitor("hm-b", "PING")]
    for hm in variants:
        other = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1"], hm)
        assert set(settle(owners, group, other).refused) == {"hm-b"}, hm
    moved = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1"], monitor("hm-b"))
    moved["pools"][0]["members"][0]["monitor_port"] = 9000
    moved["listeners"][0]["default_pool"]["members"][0]["monitor_port"] = 9000
    assert set(settle(owners, group, moved).refused) == {"hm-b"}


def test_pool_without_monitor_converges_the_owners_probe_not_none(
        owners: ProbeOwners, group: str) -> None:
    owned = settle(owners, group, A_TCP()).desired.probes[SHARED]
    bare = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1", "10.0.0.2"])
    assert translate(bare).probes[SHARED].probe_type == "none"
    settled = settle(owners, group, bare)
    assert settled.refused == {}
    assert settled.desired.probes[SHARED] == owned
    assert settled.desired.probes[OWN_B].probe_type == "none"
    assert claims(owners, group) == {(SHARED, "lb-a-pool")}


def test_owner_leaving_hands_the_probe_to_the_identical_sharer(
        owners: ProbeOwners, group: str) -> None:
    owned = settle(owners, group, A_TCP()).desired.probes[SHARED]
    settle(owners, group, lb_tree("lb-b", "192.0.2.2", ["10.0.0.1"], monitor("hm-b")))

    gone = settle(owners, group, A_TCP(), {"healthmonitors": ["hm-a"]})
    assert gone.desired.probes[SHARED] == owned, "B still monitors it: no switch to none"
    assert claims(owners, group) == {(SHARED, "lb-b-pool")}

    # With B the owner, A may monitor it again only the same way.
    assert set(settle(owners, group, lb_tree(
        "lb-a", "192.0.2.1", ["10.0.0.1"], monitor("hm-a2", "HTTP"))).refused) == {"hm-a2"}


def test_last_claim_released_lets_none_through_and_a_new_owner_in(
        owners: ProbeOwners, group: str) -> None:
    settle(owners, group, A_TCP())
    deleted = settle(owners, group, A_TCP(), {"loadbalancers": ["lb-a"]})
    assert deleted.desired.rules == ()
    assert claims(owners, group) == set()
    bare = settle(owners, group, lb_tree("lb-b", "192.0.2.2", ["10.0.0.1"]))
    assert bare.desired.probes[SHARED].probe_type == "none"
    http = settle(owners, group, lb_tree("lb-c", "192.0.2.3", ["10.0.0.1"],
                                         monitor("hm-c", "HTTP")))
    assert http.refused == {} and http.desired.probes[SHARED].probe_type == "http"


def test_member_removal_and_monitor_update_follow_the_tree(
        owners: ProbeOwners, group: str) -> None:
    settle(owners, group, A_TCP())
    two = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1", "10.0.0.2"], monitor("hm-b"))
    settle(owners, group, two)
    assert claims(owners, group) == {(SHARED, "lb-a-pool"), (SHARED, "lb-b-pool"),
                                     (OWN_B, "lb-b-pool")}
    settle(owners, group, two, {"members": ["lb-b-m0"]})
    assert claims(owners, group) == {(SHARED, "lb-a-pool"), (OWN_B, "lb-b-pool")}

    # The owner may retune a probe nobody shares, but not one another pool relies on.
    slower = lb_tree("lb-b", "192.0.2.2", ["10.0.0.2"], monitor("hm-b", delay=30))
    assert settle(owners, group, slower).desired.probes[OWN_B].probe_duration == 30
    settle(owners, group, lb_tree("lb-b", "192.0.2.2", ["10.0.0.1"], monitor("hm-b")))
    retuned = settle(owners, group, lb_tree("lb-a", "192.0.2.1", ["10.0.0.1"],
                                            monitor("hm-a", delay=30)))
    assert set(retuned.refused) == {"hm-a"}
    assert retuned.desired.probes[SHARED].probe_duration == 5


def test_groups_do_not_share(owners: ProbeOwners, engine: sa.Engine, group: str) -> None:
    with session.session_scope(engine) as s:
        other = db_api.create_group(s, "g2", "external", "SINGLE", ["http://n2"]).id
    settle(owners, group, A_TCP())
    http = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1"], monitor("hm-b", "HTTP"))
    assert settle(owners, other, http).refused == {}


def test_preview_decides_like_settle_without_writing(owners: ProbeOwners, group: str) -> None:
    settle(owners, group, A_TCP())
    before = owners.claims(group)
    http = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1"], monitor("hm-b", "HTTP"))
    preview = owners.preview(before, group, http, translate(http))
    assert owners.claims(group) == before
    assert preview == settle(owners, group, http)


def test_resolved_conflict_lets_the_refused_monitor_claim_on_its_next_settle(
        owners: ProbeOwners, group: str) -> None:
    settle(owners, group, A_TCP())
    http = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1"], monitor("hm-b", "HTTP"))
    assert settle(owners, group, http).refused
    owners.release("lb-a")
    after = settle(owners, group, http)
    assert after.refused == {} and after.desired.probes[SHARED].probe_type == "http"


def test_concurrent_first_claims_pick_exactly_one_owner(owners: ProbeOwners,
                                                        group: str) -> None:
    trees = [lb_tree(f"lb-{i}", f"192.0.2.{10 + i}", ["10.0.0.1"],
                     monitor(f"hm-{i}", delay=1 + i)) for i in range(6)]
    results: dict[str, Settled] = {}
    start = threading.Barrier(len(trees))

    def run(tree: dict[str, Any]) -> None:
        start.wait()
        results[tree["loadbalancer_id"]] = settle(owners, group, tree)

    threads = [threading.Thread(target=run, args=(t,)) for t in trees]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    accepted = [lb for lb, r in results.items() if not r.refused]
    assert len(accepted) == 1, results
    assert [c.loadbalancer_id for c in owners.claims(group)] == accepted


def converge(node: Emulator, settled: Settled) -> None:
    client = LoxiLBClient(NodeConfig(node.base_url, retries=0, timeout_read=10))
    result = Reconciler([client]).converge(settled.desired)
    assert result.verified, result


def probe_table(node: Emulator) -> dict[str, EndpointProbe]:
    client = LoxiLBClient(NodeConfig(node.base_url, retries=0, timeout_read=10))
    return {p.name: p for p in client.list_endpoint_probes()}


def test_converging_both_load_balancers_keeps_the_owners_probe(
        owners: ProbeOwners, group: str, emulator: Emulator) -> None:
    converge(emulator, settle(owners, group, A_TCP()))
    owned = probe_table(emulator)[SHARED]
    assert owned.probe_type == "tcp"

    http = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1", "10.0.0.2"], monitor("hm-b", "HTTP"))
    converge(emulator, settle(owners, group, http))
    table = probe_table(emulator)
    assert table[SHARED] == owned
    assert table[OWN_B].probe_type == "http"

    bare = lb_tree("lb-b", "192.0.2.2", ["10.0.0.1", "10.0.0.2"])
    converge(emulator, settle(owners, group, bare))
    table = probe_table(emulator)
    assert table[SHARED] == owned
    assert table[OWN_B].probe_type == "none"

    converge(emulator, settle(owners, group, A_TCP(), {"loadbalancers": ["lb-a"]}))
    converge(emulator, settle(owners, group, bare))
    assert probe_table(emulator)[SHARED].probe_type == "none", "nobody monitors it any more"
