"""Queries and updates on the driver's state, each taking an open session.

Callers own the transaction (``session.session_scope``); results are plain frozen records
so nothing lazy-loads after the session is closed.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy import orm

from octavia_loxilb.db import models


@dataclasses.dataclass(frozen=True)
class Node:
    id: str
    api_url: str
    role: str | None


@dataclasses.dataclass(frozen=True)
class Group:
    id: str
    name: str
    kind: str
    topology: str
    nodes: tuple[Node, ...]


@dataclasses.dataclass(frozen=True)
class Placement:
    loadbalancer_id: str
    group: Group
    vip_address: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime


class DuplicateGroup(Exception):
    """A group of that name already exists."""


def _group(row: models.LoxiLBGroup) -> Group:
    return Group(
        id=row.id, name=row.name, kind=row.kind, topology=row.topology,
        nodes=tuple(Node(n.id, n.api_url, n.role) for n in row.nodes),
    )


def _placement(row: models.LBPlacement) -> Placement:
    return Placement(
        loadbalancer_id=row.loadbalancer_id, group=_group(row.group),
        vip_address=row.vip_address, created_at=row.created_at, updated_at=row.updated_at,
    )


def create_group(
    session: orm.Session, name: str, kind: str, topology: str,
    api_urls: Sequence[str] = (), roles: Sequence[str | None] | None = None,
) -> Group:
    """Add a group with its nodes; ``DuplicateGroup`` when the name is taken."""
    if kind not in models.GROUP_KINDS:
        raise ValueError(f"group kind must be one of {models.GROUP_KINDS}, not {kind!r}")
    if topology not in models.TOPOLOGIES:
        raise ValueError(f"topology must be one of {models.TOPOLOGIES}, not {topology!r}")
    if session.scalar(sa.select(models.LoxiLBGroup.id).where(models.LoxiLBGroup.name == name)):
        raise DuplicateGroup(name)
    row = models.LoxiLBGroup(name=name, kind=kind, topology=topology)
    node_roles = list(roles) if roles is not None else [None] * len(api_urls)
    row.nodes = [models.LoxiLBNode(api_url=u, role=r) for u, r in zip(api_urls, node_roles,
                                                                          strict=True)]
    session.add(row)
    session.flush()
    return _group(row)


def get_group_by_name(session: orm.Session, name: str) -> Group | None:
    row = session.scalar(sa.select(models.LoxiLBGroup).where(models.LoxiLBGroup.name == name))
    return _group(row) if row else None


def get_group(session: orm.Session, group_id: str) -> Group | None:
    row = session.get(models.LoxiLBGroup, group_id)
    return _group(row) if row else None


def list_groups(session: orm.Session) -> list[Group]:
    rows = session.scalars(sa.select(models.LoxiLBGroup).order_by(models.LoxiLBGroup.name))
    return [_group(r) for r in rows]


def set_group_nodes(session: orm.Session, group_id: str, api_urls: Sequence[str]) -> Group:
    """Make the group's node list exactly ``api_urls`` (roles of kept nodes are kept)."""
    row = session.get(models.LoxiLBGroup, group_id)
    if row is None:
        raise LookupError(f"no LoxiLB group {group_id}")
    wanted = list(dict.fromkeys(api_urls))
    row.nodes = [n for n in row.nodes if n.api_url in wanted]
    have = {n.api_url for n in row.nodes}
    row.nodes.extend(models.LoxiLBNode(api_url=u) for u in wanted if u not in have)
    session.flush()
    session.refresh(row)
    return _group(row)


def delete_group(session: orm.Session, group_id: str) -> bool:
    """Remove a group and its nodes; fails (IntegrityError) while placements use it."""
    row = session.get(models.LoxiLBGroup, group_id)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def get_placement(session: orm.Session, loadbalancer_id: str) -> Placement | None:
    row = session.get(models.LBPlacement, loadbalancer_id)
    return _placement(row) if row else None


def create_placement(
    session: orm.Session, loadbalancer_id: str, group_id: str, vip_address: str | None
) -> Placement:
    row = models.LBPlacement(
        loadbalancer_id=loadbalancer_id, group_id=group_id, vip_address=vip_address
    )
    session.add(row)
    session.flush()
    session.refresh(row)
    return _placement(row)


def update_placement_vip(
    session: orm.Session, loadbalancer_id: str, vip_address: str | None
) -> Placement:
    row = session.get(models.LBPlacement, loadbalancer_id)
    if row is None:
        raise LookupError(f"load balancer {loadbalancer_id} is not placed")
    if row.vip_address != vip_address:
        row.vip_address = vip_address
        session.flush()
    return _placement(row)


def delete_placement(session: orm.Session, loadbalancer_id: str) -> bool:
    """Forget where a load balancer lived; False when it was not placed."""
    result = session.execute(
        sa.delete(models.LBPlacement).where(
            models.LBPlacement.loadbalancer_id == loadbalancer_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_placements(session: orm.Session, group_id: str | None = None) -> list[Placement]:
    query = sa.select(models.LBPlacement).order_by(models.LBPlacement.loadbalancer_id)
    if group_id is not None:
        query = query.where(models.LBPlacement.group_id == group_id)
    return [_placement(r) for r in session.scalars(query)]


@dataclasses.dataclass(frozen=True)
class ListenerNodeCounters:
    """Persisted counter state of one listener on one LoxiLB node (see ``stats.py``)."""

    listener_id: str
    node_url: str
    base_bytes: int = 0
    last_raw: Mapping[str, int] = dataclasses.field(default_factory=dict)
    total_connections: int = 0


def list_listener_counters(session: orm.Session) -> list[ListenerNodeCounters]:
    return [
        ListenerNodeCounters(r.listener_id, r.node_url, r.base_bytes,
                             json.loads(r.last_raw or "{}"), r.total_connections)
        for r in session.scalars(sa.select(models.ListenerStatsOffset))
    ]


def save_listener_counters(session: orm.Session, counters: ListenerNodeCounters) -> None:
    """Insert or replace one listener's counter state on one node."""
    row = session.get(models.ListenerStatsOffset, (counters.listener_id, counters.node_url))
    if row is None:
        row = models.ListenerStatsOffset(listener_id=counters.listener_id,
                                         node_url=counters.node_url)
        session.add(row)
    row.base_bytes = counters.base_bytes
    row.last_raw = json.dumps(dict(counters.last_raw), sort_keys=True)
    row.total_connections = counters.total_connections
    session.flush()


@dataclasses.dataclass(frozen=True)
class ProbeClaim:
    """One pool's monitor on a shared probe host (see ``worker/probe_owners.py``)."""

    group_id: str
    probe_key: str
    pool_id: str
    loadbalancer_id: str
    healthmonitor_id: str
    fingerprint: str
    created_at: datetime.datetime | None = None


def _claim(row: models.ProbeClaim) -> ProbeClaim:
    return ProbeClaim(row.group_id, row.probe_key, row.pool_id, row.loadbalancer_id,
                      row.healthmonitor_id, row.fingerprint, row.created_at)


def list_probe_claims(
    session: orm.Session, group_id: str, *, keys: Sequence[str] = (),
    loadbalancer_id: str | None = None, lock: bool = False, all_keys: bool = False,
) -> list[ProbeClaim]:
    """Claims of a group on any of ``keys`` or held by ``loadbalancer_id`` (every claim
    of the group with ``all_keys``), oldest first.

    ``lock`` makes two transactions deciding on the same probe host take turns: the rows
    (and, on InnoDB, the key ranges) are read ``FOR UPDATE``; SQLite has no row locks, so
    there the transaction takes the database's write lock before reading.
    """
    which: list[sa.ColumnElement[bool]] = []
    if keys:
        which.append(models.ProbeClaim.probe_key.in_(sorted(set(keys))))
    if loadbalancer_id is not None:
        which.append(models.ProbeClaim.loadbalancer_id == loadbalancer_id)
    if all_keys:
        which = [sa.true()]
    if not which:
        return []
    query = (
        sa.select(models.ProbeClaim)
        .where(models.ProbeClaim.group_id == group_id, sa.or_(*which))
        .order_by(models.ProbeClaim.created_at, models.ProbeClaim.probe_key,
                  models.ProbeClaim.pool_id)
    )
    if lock:
        query = query.with_for_update()
        if session.get_bind().dialect.name == "sqlite":
            session.execute(sa.update(models.ProbeClaim).where(sa.false())
                            .values(pool_id=models.ProbeClaim.pool_id))
    return [_claim(r) for r in session.scalars(query)]


def add_probe_claim(session: orm.Session, claim: ProbeClaim) -> ProbeClaim:
    row = models.ProbeClaim(
        group_id=claim.group_id, probe_key=claim.probe_key, pool_id=claim.pool_id,
        loadbalancer_id=claim.loadbalancer_id, healthmonitor_id=claim.healthmonitor_id,
        fingerprint=claim.fingerprint,
    )
    session.add(row)
    session.flush()
    return _claim(row)


def delete_probe_claim(session: orm.Session, group_id: str, probe_key: str,
                       pool_id: str) -> None:
    session.execute(sa.delete(models.ProbeClaim).where(
        models.ProbeClaim.group_id == group_id, models.ProbeClaim.probe_key == probe_key,
        models.ProbeClaim.pool_id == pool_id))


def delete_loadbalancer_probe_claims(session: orm.Session, loadbalancer_id: str) -> int:
    """Drop every claim of a load balancer (it is gone); returns how many there were."""
    result = session.execute(sa.delete(models.ProbeClaim).where(
        models.ProbeClaim.loadbalancer_id == loadbalancer_id))
    return int(result.rowcount)  # type: ignore[attr-defined]
