"""The job journal: jobs received by a worker until their status push.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loxilb_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("loadbalancer_id", sa.String(36), nullable=False),
        sa.Column("op", sa.String(64), nullable=False),
        sa.Column("subject_kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(36), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        mysql_engine="InnoDB",
    )
    op.create_index("ix_loxilb_jobs_loadbalancer_id", "loxilb_jobs", ["loadbalancer_id"])
    op.create_index("ix_loxilb_jobs_state", "loxilb_jobs", ["state"])
