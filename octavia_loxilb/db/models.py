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
