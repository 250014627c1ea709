"""Listener statistics offsets: counters that survive LoxiLB and worker restarts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loxilb_listener_stats",
        sa.Column("listener_id", sa.String(36), primary_key=True),
        sa.Column("node_url", sa.String(255), primary_key=True),
        sa.Column("base_bytes", sa.BigInteger, nullable=False),
        sa.Column("last_raw", sa.Text, nullable=False),
        sa.Column("total_connections", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        mysql_engine="InnoDB",
    )
