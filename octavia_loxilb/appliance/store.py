"""The driver's records of appliance groups, appliances, their ports and member subnets.

Each lifecycle task records what it made here as soon as it made it, so a revert, a later
destroy, or a worker that picks the group up after a crash can find every cloud resource.
Results are frozen records (nothing lazy-loads after the session closes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

import sqlalchemy as sa

from octavia_loxilb.db import models
from octavia_loxilb.db.session import session_scope

BUILDING = "BUILDING"
ACTIVE = "ACTIVE"
DELETING = "DELETING"
ERROR = "ERROR"


@dataclasses.dataclass(frozen=True)
class GroupRecord:
    group_id: str
    name: str
    topology: str
    vip_network_id: str
    flavor_key: str
    shared: bool
    security_group_id: str | None
    """Management ports: the API port from the workers, ICMP, BFD."""
    data_security_group_id: str | None
    """VIP and member ports: client traffic to the listeners."""
    server_group_id: str | None
    status: str


@dataclasses.dataclass(frozen=True)
class PortRecord:
    port_id: str
    appliance_id: str
    purpose: str
    network_id: str
    subnet_id: str | None
    mac_address: str | None
    ip_address: str | None
    prefix_length: int | None

    @property
    def cidr(self) -> str | None:
        if self.ip_address is None or self.prefix_length is None:
            return None
        return f"{self.ip_address}/{self.prefix_length}"


@dataclasses.dataclass(frozen=True)
class ApplianceRecord:
    id: str
    group_id: str
    server_id: str | None
    management_address: str | None
    role: str | None
    cert_serial: str | None
    status: str
    ports: tuple[PortRecord, ...] = ()

    def ports_for(self, purpose: str) -> list[PortRecord]:
        return [p for p in self.ports if p.purpose == purpose]


def _port(row: models.AppliancePort) -> PortRecord:
    return PortRecord(row.port_id, row.appliance_id, row.purpose, row.network_id,
                      row.subnet_id, row.mac_address, row.ip_address, row.prefix_length)


class ApplianceStore:
    """Queries and updates on the appliance tables, each in its own transaction."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- groups ------------------------------------------------------------------------------

    def create_group(self, name: str, topology: str, vip_network_id: str, flavor_key: str,
                     shared: bool, spec: str) -> GroupRecord:
        with session_scope(self.engine) as session:
            group = models.LoxiLBGroup(name=name, kind="appliance", topology=topology)
            session.add(group)
            session.flush()
            session.add(models.ApplianceGroup(
                group_id=group.id, vip_network_id=vip_network_id, flavor_key=flavor_key,
                spec=spec, shared=shared, status=BUILDING))
            group_id = group.id
        found = self.group(group_id)
        assert found is not None
        return found

    def group(self, group_id: str) -> GroupRecord | None:
        with session_scope(self.engine) as session:
            row = session.get(models.ApplianceGroup, group_id)
            group = session.get(models.LoxiLBGroup, group_id)
            if row is None or group is None:
                return None
            return GroupRecord(group_id, group.name, group.topology, row.vip_network_id,
                               row.flavor_key, row.shared, row.security_group_id,
                               row.data_security_group_id,
                               row.server_group_id, row.status)

    def spec_json(self, group_id: str) -> str:
        with session_scope(self.engine) as session:
            row = session.get(models.ApplianceGroup, group_id)
            if row is None:
                raise LookupError(f"no appliance group {group_id}")
            return row.spec

    def update_group(self, group_id: str, **values: object) -> None:
        with session_scope(self.engine) as session:
            session.execute(sa.update(models.ApplianceGroup)
                            .where(models.ApplianceGroup.group_id == group_id).values(**values))

    def delete_group(self, group_id: str) -> None:
        """Drop the group and everything recorded under it (placements must be gone)."""
        with session_scope(self.engine) as session:
            for table in (models.ApplianceMemberSubnet, models.Appliance,
                          models.ApplianceGroup):
                session.execute(sa.delete(table).where(table.group_id == group_id))
            session.execute(sa.delete(models.LoxiLBNode)
                            .where(models.LoxiLBNode.group_id == group_id))
            session.execute(sa.delete(models.LoxiLBGroup)
                            .where(models.LoxiLBGroup.id == group_id))

    def fitting_groups(self, flavor_key: str, max_loadbalancers: int) -> list[str]:
        """ACTIVE shared groups of this flavor key with room, fullest first (packs them)."""
        with session_scope(self.engine) as session:
            used = (sa.select(sa.func.count(models.LBPlacement.loadbalancer_id))
                    .where(models.LBPlacement.group_id == models.ApplianceGroup.group_id)
                    .scalar_subquery())
            rows = session.execute(
                sa.select(models.ApplianceGroup.group_id, used)
                .where(models.ApplianceGroup.flavor_key == flavor_key,
                       models.ApplianceGroup.shared.is_(True),
                       models.ApplianceGroup.status == ACTIVE)).all()
        open_groups = [(count, gid) for gid, count in rows if count < max_loadbalancers]
        return [gid for _, gid in sorted(open_groups, key=lambda r: (-r[0], r[1]))]

    def placement_count(self, group_id: str) -> int:
        with session_scope(self.engine) as session:
            return int(session.scalar(
                sa.select(sa.func.count(models.LBPlacement.loadbalancer_id))
                .where(models.LBPlacement.group_id == group_id)) or 0)

    def set_nodes(self, group_id: str, nodes: Sequence[tuple[str, str | None]]) -> None:
        """The group's LoxiLB nodes: (api_url, role) of each appliance."""
        with session_scope(self.engine) as session:
            session.execute(sa.delete(models.LoxiLBNode)
                            .where(models.LoxiLBNode.group_id == group_id))
            for url, role in nodes:
                session.add(models.LoxiLBNode(group_id=group_id, api_url=url, role=role))

    # -- appliances --------------------------------------------------------------------------

    def create_appliance(self, group_id: str, role: str | None) -> str:
        with session_scope(self.engine) as session:
            row = models.Appliance(group_id=group_id, role=role, status=BUILDING)
            session.add(row)
            session.flush()
            return row.id

    def update_appliance(self, appliance_id: str, **values: object) -> None:
        with session_scope(self.engine) as session:
            session.execute(sa.update(models.Appliance)
                            .where(models.Appliance.id == appliance_id).values(**values))

    def delete_appliance(self, appliance_id: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(sa.delete(models.AppliancePort)
                            .where(models.AppliancePort.appliance_id == appliance_id))
            session.execute(sa.delete(models.Appliance)
                            .where(models.Appliance.id == appliance_id))

    def appliances(self, group_id: str) -> list[ApplianceRecord]:
        with session_scope(self.engine) as session:
            rows = session.scalars(sa.select(models.Appliance)
                                   .where(models.Appliance.group_id == group_id)
                                   .order_by(models.Appliance.role, models.Appliance.id))
            result = []
            for row in rows:
                ports = session.scalars(
                    sa.select(models.AppliancePort)
                    .where(models.AppliancePort.appliance_id == row.id)
                    .order_by(models.AppliancePort.created_at, models.AppliancePort.port_id))
                result.append(ApplianceRecord(
                    row.id, row.group_id, row.server_id, row.management_address, row.role,
                    row.cert_serial, row.status, tuple(_port(p) for p in ports)))
            return result

    def appliance(self, appliance_id: str) -> ApplianceRecord | None:
        with session_scope(self.engine) as session:
            group_id = session.scalar(sa.select(models.Appliance.group_id)
                                      .where(models.Appliance.id == appliance_id))
        if group_id is None:
            return None
        return next(a for a in self.appliances(group_id) if a.id == appliance_id)

    def add_port(self, record: PortRecord) -> None:
        with session_scope(self.engine) as session:
            session.add(models.AppliancePort(**dataclasses.asdict(record)))

    def delete_port(self, port_id: str) -> None:
        with session_scope(self.engine) as session:
            session.execute(sa.delete(models.AppliancePort)
                            .where(models.AppliancePort.port_id == port_id))

    # -- member subnets ----------------------------------------------------------------------

    def set_member_subnets(self, group_id: str, loadbalancer_id: str,
                           subnet_ids: Collection[str]) -> None:
        """What one load balancer needs now (replaces its previous set)."""
        with session_scope(self.engine) as session:
            session.execute(sa.delete(models.ApplianceMemberSubnet).where(
                models.ApplianceMemberSubnet.loadbalancer_id == loadbalancer_id))
            for subnet_id in sorted(set(subnet_ids)):
                session.add(models.ApplianceMemberSubnet(
                    loadbalancer_id=loadbalancer_id, subnet_id=subnet_id, group_id=group_id))

    def member_subnets(self, group_id: str) -> set[str]:
        """Every member subnet some load balancer of the group still needs."""
        with session_scope(self.engine) as session:
            return set(session.scalars(
                sa.select(models.ApplianceMemberSubnet.subnet_id)
                .where(models.ApplianceMemberSubnet.group_id == group_id)))

    # -- topology overrides ------------------------------------------------------------------

    def topology_override(self, loadbalancer_id: str) -> str | None:
        with session_scope(self.engine) as session:
            row = session.get(models.ApplianceTopologyOverride, loadbalancer_id)
            return row.topology if row else None

    def set_topology_override(self, loadbalancer_id: str, topology: str | None) -> None:
        with session_scope(self.engine) as session:
            session.execute(sa.delete(models.ApplianceTopologyOverride).where(
                models.ApplianceTopologyOverride.loadbalancer_id == loadbalancer_id))
            if topology is not None:
                session.add(models.ApplianceTopologyOverride(
                    loadbalancer_id=loadbalancer_id, topology=topology))
