"""Probe ownership across load balancers that share a backend on one LoxiLB node group.

LoxiLB keys probe hosts ``<ip>_<proto>_<port>`` per node (API-NOTES §2.10, §3), so two pools,
possibly of different tenants, whose members share a backend ``ip:port`` share **one** probe.
Each load balancer's desired state is translated on its own, so without a record of who set
a probe the last converge would rewrite it. The policy (doc/health.md):

- the first pool whose enabled monitor needs a probe host claims it and owns its settings;
- a later pool whose monitor wants the *same* settings shares it (a second claim);
- a later pool whose monitor wants *different* settings is refused: its probe is left out
  of the converge and its health monitor is reported ERROR with the conflicting key;
- a pool without a monitor (or a disabled or deleted one) never switches off a probe that
  another pool's monitor claims; it converges the claimed settings instead, which also
  restores them after a LoxiLB restart whichever load balancer converges first;
- claims follow the Octavia tree: a monitor, member, pool or load balancer that goes away
  releases them, and the probe then belongs to whoever still claims it.

Claims live in the driver DB (``loxilb_probe_claims``) per node group. ``settle`` adjusts a
``DesiredState`` after ``translate`` and before ``converge``, so translation and planning
stay pure; jobs and drift repair both call it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from octavia_loxilb.db import api as db_api
from octavia_loxilb.db.session import session_scope
from octavia_loxilb.loxilb.models import EndpointProbe
from octavia_loxilb.reconcile import naming
from octavia_loxilb.reconcile.desired import DesiredState
from octavia_loxilb.reconcile.translate import endpoint_probe
from octavia_loxilb.worker.status import HEALTHMONITORS, MEMBERS, TreeIndex

LOG = logging.getLogger(__name__)

ATTEMPTS = 4
"""Tries of one settlement: concurrent settlements on the same probe hosts can deadlock on
MariaDB or find SQLite busy; the loser starts over and then sees the winner's claims."""


@dataclasses.dataclass(frozen=True)
class WantedClaim:
    """A probe host one pool's monitor needs, with the settings it needs there."""

    probe_key: str
    pool_id: str
    healthmonitor_id: str
    probe: EndpointProbe

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.probe)


@dataclasses.dataclass(frozen=True)
class Settled:
    """The desired state to converge and the monitors that were refused."""

    desired: DesiredState
    refused: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Health monitor id → why its probe settings were not applied (ERROR in the report)."""


def fingerprint(probe: EndpointProbe) -> str:
    """What two monitors must agree on to share a probe host: its wire form, canonical."""
    return json.dumps(probe.to_wire(), sort_keys=True)


def probe_of(fingerprint_json: str) -> EndpointProbe:
    return EndpointProbe.from_wire(json.loads(fingerprint_json))


def describe(fingerprint_json: str) -> str:
    """A probe's settings in words, for refusal messages."""
    probe = probe_of(fingerprint_json)
    where = f"{probe.host}:{probe.probe_port}" if probe.probe_port else probe.host
    path = f" /{probe.probe_req}" if probe.probe_type in ("http", "https") else ""
    return (f"{probe.probe_type} {where}{path} every {probe.probe_duration}s, "
            f"down after {probe.inactive_retries}")


def wanted_claims(
    tree: Mapping[str, Any], desired: DesiredState,
    deleting: Mapping[str, Iterable[str]] | None = None,
) -> tuple[list[WantedClaim], set[str]]:
    """The claims the load balancer's realized pools need, and every probe key its rules use.

    Only members that are endpoints of a desired rule count: a member LoxiLB does not carry
    references no probe host. Claims come in rule order (listener id), the order in which
    ``translate`` picks between two of the load balancer's own pools on one key.
    """
    index = TreeIndex(tree)
    gone_monitors = frozenset((deleting or {}).get(HEALTHMONITORS) or ())
    claims: dict[tuple[str, str], WantedClaim] = {}
    touched: set[str] = set()
    for rule in desired.rules:
        protocol = rule.rule.service.protocol
        pool = index.nodes[rule.pool_id].body if rule.pool_id in index else {}
        monitor = pool.get("healthmonitor")
        if not isinstance(monitor, Mapping) or monitor.get("healthmonitor_id") in gone_monitors:
            monitor = None
        for member_id in rule.member_ids:
            if member_id not in index or index.kind(member_id) != MEMBERS:
                continue
            member = index.nodes[member_id].body
            key = naming.probe_key(member["address"], protocol, int(member["protocol_port"]))
            touched.add(key)
            probe = endpoint_probe(monitor, member, key)
            if monitor is None or probe.probe_type == "none":
                continue
            claims.setdefault((key, rule.pool_id), WantedClaim(
                key, rule.pool_id, str(monitor["healthmonitor_id"]), probe))
    return list(claims.values()), touched


@dataclasses.dataclass(frozen=True)
class Decision:
    """What settling one load balancer changes: the result and the claim rows to write."""

    settled: Settled
    drop: tuple[db_api.ProbeClaim, ...] = ()
    add: tuple[db_api.ProbeClaim, ...] = ()


def decide(
    existing: Iterable[db_api.ProbeClaim], group_id: str, desired: DesiredState,
    wanted: Iterable[WantedClaim], touched: Iterable[str],
) -> Decision:
    """The policy, pure: ``existing`` holds the group's claims on ``touched`` keys and the
    load balancer's own, oldest first.

    The load balancer's claims that its tree no longer wants (or wants with other settings)
    are dropped; each wanted claim is added unless another pool holds the key with different
    settings; every touched key that some pool claims is converged with the claimed settings.
    """
    lb_id = desired.loadbalancer_id
    touched = set(touched)
    wanted = list(wanted)
    wanted_by = {(w.probe_key, w.pool_id): w for w in wanted}
    holders: dict[str, dict[str, db_api.ProbeClaim]] = {}
    drop: list[db_api.ProbeClaim] = []
    for claim in existing:
        if claim.probe_key not in touched and claim.loadbalancer_id != lb_id:
            continue
        want = wanted_by.get((claim.probe_key, claim.pool_id))
        if claim.loadbalancer_id == lb_id and (
                want is None or want.fingerprint != claim.fingerprint):
            drop.append(claim)
            continue
        holders.setdefault(claim.probe_key, {})[claim.pool_id] = claim
    refused: dict[str, list[str]] = {}
    add: list[db_api.ProbeClaim] = []
    for want in wanted:
        on_key = holders.setdefault(want.probe_key, {})
        if want.pool_id in on_key:
            continue
        conflicting = [c for c in on_key.values() if c.fingerprint != want.fingerprint]
        if conflicting:
            owner = conflicting[0]
            refused.setdefault(want.healthmonitor_id, []).append(
                f"probe host {want.probe_key} is owned by the monitor of pool "
                f"{owner.pool_id} (load balancer {owner.loadbalancer_id}): "
                f"{describe(owner.fingerprint)}, not {describe(want.fingerprint)}")
            continue
        claim = db_api.ProbeClaim(group_id, want.probe_key, want.pool_id, lb_id,
                                  want.healthmonitor_id, want.fingerprint)
        on_key[want.pool_id] = claim
        add.append(claim)
    probes = dict(desired.probes)
    for key in touched:
        claims = list(holders.get(key, {}).values())
        if claims:
            probes[key] = dataclasses.replace(probe_of(claims[0].fingerprint), name=key)
    reasons = {
        hm_id: "health monitor refused: LoxiLB shares a probe host between pools with the "
        "same backend, and " + "; ".join(found)
        for hm_id, found in refused.items()
    }
    settled = Settled(dataclasses.replace(desired, probes=probes), reasons)
    return Decision(settled, tuple(drop), tuple(add))


class ProbeOwners:
    """Settles a load balancer's probes against the claims of every other one on its group."""

    def __init__(self, engine: sa.Engine, *, sleep: Any = time.sleep) -> None:
        self.engine = engine
        self.sleep = sleep

    def settle(
        self, group_id: str, tree: Mapping[str, Any], desired: DesiredState,
        deleting: Mapping[str, Iterable[str]] | None = None,
    ) -> Settled:
        """``desired`` with shared probes set to their owners' settings; claims updated.

        Afterwards the load balancer's claims are exactly those its tree (minus
        ``deleting``) still needs and that did not conflict, so a delete job releases
        everything it held. Runs in one transaction with the claims read ``FOR UPDATE``.
        """
        wanted, touched = wanted_claims(tree, desired, deleting)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with session_scope(self.engine) as session:
                    existing = db_api.list_probe_claims(
                        session, group_id, keys=sorted(touched),
                        loadbalancer_id=desired.loadbalancer_id, lock=True)
                    decision = decide(existing, group_id, desired, wanted, touched)
                    for claim in decision.drop:
                        db_api.delete_probe_claim(session, group_id, claim.probe_key,
                                                  claim.pool_id)
                    for claim in decision.add:
                        db_api.add_probe_claim(session, claim)
                    return decision.settled
            except sa.exc.DBAPIError as exc:
                if attempt == ATTEMPTS:
                    raise
                LOG.info("Probe ownership for %s collided (%s); retrying",
                         desired.loadbalancer_id, exc.orig)
                self.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def claims(self, group_id: str) -> list[db_api.ProbeClaim]:
        """Every claim of a group, oldest first: one read for planning many load balancers."""
        with session_scope(self.engine) as session:
            return db_api.list_probe_claims(session, group_id, all_keys=True)

    @staticmethod
    def preview(claims: Iterable[db_api.ProbeClaim], group_id: str,
                tree: Mapping[str, Any], desired: DesiredState) -> Settled:
        """What ``settle`` would converge, from claims read earlier; writes nothing."""
        wanted, touched = wanted_claims(tree, desired)
        return decide(claims, group_id, desired, wanted, touched).settled

    def release(self, loadbalancer_id: str) -> None:
        """Forget every claim of a load balancer that no longer exists."""
        with session_scope(self.engine) as session:
            db_api.delete_loadbalancer_probe_claims(session, loadbalancer_id)
