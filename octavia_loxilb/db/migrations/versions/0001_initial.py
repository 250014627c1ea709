"""Groups, nodes and load balancer placements.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loxilb_groups",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("topology", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("name", name="uq_loxilb_groups_name"),
        sa.CheckConstraint("kind IN ('external', 'appliance')", name="ck_loxilb_groups_kind"),
        mysql_engine="InnoDB",
    )
    op.create_table(
        "loxilb_nodes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "group_id", sa.String(36),
            sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE",
                          name="fk_loxilb_nodes_group_id"),
            nullable=False,
        ),
        sa.Column("api_url", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("group_id", "api_url", name="uq_loxilb_nodes_group_url"),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_loxilb_nodes_group_id", "loxilb_nodes", ["group_id"])
    op.create_table(
        "lb_placements",
        sa.Column("loadbalancer_id", sa.String(36), primary_key=True),
        sa.Column(
            "group_id", sa.String(36),
            sa.ForeignKey("loxilb_groups.id", ondelete="RESTRICT",
                          name="fk_lb_placements_group_id"),
            nullable=False,
        ),
        sa.Column("vip_address", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_lb_placements_group_id", "lb_placements", ["group_id"])
