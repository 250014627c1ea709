"""Probe ownership: which pools' health monitors use each shared LoxiLB probe host.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loxilb_probe_claims",
        sa.Column("group_id", sa.String(36),
                  sa.ForeignKey("loxilb_groups.id", ondelete="CASCADE",
                                name="fk_loxilb_probe_claims_group_id"),
                  primary_key=True),
        sa.Column("probe_key", sa.String(96), primary_key=True),
        sa.Column("pool_id", sa.String(36), primary_key=True),
        sa.Column("loadbalancer_id", sa.String(36), nullable=False),
        sa.Column("healthmonitor_id", sa.String(36), nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_loxilb_probe_claims_loadbalancer_id", "loxilb_probe_claims",
                    ["loadbalancer_id"])
