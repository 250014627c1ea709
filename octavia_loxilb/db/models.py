"""The driver's own state: which LoxiLB groups exist, their nodes, and where each LB lives.

Only what cannot be derived from Octavia (the intent) and LoxiLB (the actual rules) is kept
here: the placement decision has to survive worker restarts so a load balancer is never
programmed onto a second group by accident.
"""

from __future__ import annotations

import datetime
import uuid

import sqlalchemy as sa
from sqlalchemy import orm

GROUP_KINDS = ("external", "appliance")
TOPOLOGIES = ("SINGLE", "ACTIVE_STANDBY", "ACTIVE_ACTIVE")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _uuid() -> str:
    return str(uuid.uuid4())


class Base(orm.DeclarativeBase):
    """Declarative base; its metadata is what the Alembic migrations build."""


class LoxiLBGroup(Base):
    """A set of LoxiLB nodes that hold the same rules.

    ``external``: an operator-run cluster (``[loxilb] api_endpoints``); ``appliance``:
    driver-booted VMs. ``topology`` says how its nodes share the VIPs.
    """

    __tablename__ = "loxilb_groups"

    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True, default=_uuid)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    topology: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)

    nodes: orm.Mapped[list[LoxiLBNode]] = orm.relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="LoxiLBNode.api_url"
    )

    __table_args__ = (
        sa.CheckConstraint("kind IN ('external', 'appliance')", name="ck_loxilb_groups_kind"),
    )


class LoxiLBNode(Base):
    """One LoxiLB API endpoint of a group; ``role`` is its HA role where the topology has one."""

    __tablename__ = "loxilb_nodes"

    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True, default=_uuid)
    group_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE"), index=True
    )
    api_url: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    role: orm.Mapped[str | None] = orm.mapped_column(sa.String(32), nullable=True)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)

    group: orm.Mapped[LoxiLBGroup] = orm.relationship(back_populates="nodes")

    __table_args__ = (
        sa.UniqueConstraint("group_id", "api_url", name="uq_loxilb_nodes_group_url"),
    )


class LBPlacement(Base):
    """The group an Octavia load balancer is programmed on."""

    __tablename__ = "lb_placements"

    loadbalancer_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    group_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), sa.ForeignKey("loxilb_groups.id", ondelete="RESTRICT"), index=True
    )
    vip_address: orm.Mapped[str | None] = orm.mapped_column(sa.String(64), nullable=True)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        sa.DateTime, default=_now, onupdate=_now
    )

    group: orm.Mapped[LoxiLBGroup] = orm.relationship()


class ApplianceGroup(Base):
    """What makes a group of driver-booted appliances fit a load balancer, and the cloud
    resources it shares between its appliances (so destroy and revert can find them)."""

    __tablename__ = "appliance_groups"

    group_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE"), primary_key=True
    )
    vip_network_id: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    flavor_key: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True)
    spec: orm.Mapped[str] = orm.mapped_column(sa.Text)
    """The appliance spec (JSON) the group was built with, for rebuilds."""
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    security_group_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36),
                                                                  nullable=True)
    data_security_group_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36),
                                                                       nullable=True)
    server_group_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), nullable=True)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)


class Appliance(Base):
    """One LoxiLB appliance (a Nova server) of an appliance group."""

    __tablename__ = "appliances"

    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True, default=_uuid)
    group_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE"), index=True
    )
    server_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), nullable=True)
    management_address: orm.Mapped[str | None] = orm.mapped_column(sa.String(64),
                                                                   nullable=True)
    role: orm.Mapped[str | None] = orm.mapped_column(sa.String(32), nullable=True)
    cert_serial: orm.Mapped[str | None] = orm.mapped_column(sa.String(64), nullable=True)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)


class AppliancePort(Base):
    """A Neutron port the driver made for an appliance (management, VIP network, member
    network), with the MAC that maps it to a LoxiLB interface."""

    __tablename__ = "appliance_ports"

    port_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    appliance_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), sa.ForeignKey("appliances.id", ondelete="CASCADE"), index=True
    )
    purpose: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    network_id: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    subnet_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), nullable=True)
    mac_address: orm.Mapped[str | None] = orm.mapped_column(sa.String(32), nullable=True)
    ip_address: orm.Mapped[str | None] = orm.mapped_column(sa.String(64), nullable=True)
    prefix_length: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, nullable=True)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)


class Certificate(Base):
    """A certificate the driver's CA issued (or the CA itself).

    Private keys of the CA and of the driver's client certificate are kept PKCS#8-encrypted
    with ``[loxilb_appliance] ca_key_passphrase``; appliance server keys are never kept (they
    leave only in the appliance's user data). Rows outlive their appliance as revoked
    serials.
    """

    __tablename__ = "appliance_certificates"

    serial: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    kind: orm.Mapped[str] = orm.mapped_column(sa.String(16), index=True)
    appliance_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), nullable=True)
    common_name: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    cert_pem: orm.Mapped[str] = orm.mapped_column(sa.Text)
    key_pem: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
    not_after: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime)
    revoked_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(sa.DateTime,
                                                                         nullable=True)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)

    __table_args__ = (
        sa.CheckConstraint("kind IN ('ca', 'client', 'server')",
                           name="ck_appliance_certificates_kind"),
    )


class ListenerStatsOffset(Base):
    """What a listener's LoxiLB counters on one node added up to, so totals never go back.

    LoxiLB's per-endpoint byte counters restart at 0 when the node restarts or an endpoint
    leaves its slot. ``last_raw`` holds the raw counter last seen per endpoint (JSON,
    ``"<vip>|<ip>:<port>" → bytes``); when one drops or vanishes its last value moves into
    ``base_bytes``. The listener's total on the node is ``base_bytes`` plus the current raw
    counters; ``total_connections`` is accumulated the same way from new conntrack flows.
    """

    __tablename__ = "loxilb_listener_stats"

    listener_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    node_url: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    base_bytes: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    last_raw: orm.Mapped[str] = orm.mapped_column(sa.Text, default="{}")
    total_connections: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(
        sa.DateTime, default=_now, onupdate=_now
    )


class ApplianceMemberSubnet(Base):
    """A member subnet one load balancer needs on its appliance group: the group's interface
    on that subnet stays attached while any load balancer of the group still needs it."""

    __tablename__ = "appliance_member_subnets"

    loadbalancer_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    subnet_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    group_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE"), index=True
    )


class ProbeClaim(Base):
    """A pool's health monitor applied to a LoxiLB probe host of a node group.

    Probe hosts are keyed ``<ip>_<proto>_<port>`` per node, so pools of several load
    balancers that share a backend share one host. Each pool whose monitor uses the host
    holds a claim with the probe settings it wants (``fingerprint``, the probe's wire JSON);
    claims on one key always agree, and the earliest is the owner named in refusals.
    """

    __tablename__ = "loxilb_probe_claims"

    group_id: orm.Mapped[str] = orm.mapped_column(
        sa.String(36), sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE"), primary_key=True
    )
    probe_key: orm.Mapped[str] = orm.mapped_column(sa.String(96), primary_key=True)
    pool_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    loadbalancer_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), index=True)
    healthmonitor_id: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    fingerprint: orm.Mapped[str] = orm.mapped_column(sa.Text)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)


class ApplianceTopologyOverride(Base):
    """A topology an operator chose for one load balancer over its flavor's (a topology
    change of an existing load balancer, since Octavia flavors cannot change)."""

    __tablename__ = "appliance_topology_overrides"

    loadbalancer_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    topology: orm.Mapped[str] = orm.mapped_column(sa.String(32))
