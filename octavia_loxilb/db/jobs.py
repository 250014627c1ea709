"""The job journal's table (queries live in ``worker/journal.py``).

Kept beside ``models.py`` on the same declarative base; the migration ``0002_job_journal``
creates it.
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from octavia_loxilb.db.models import Base, _now, _uuid

JOB_STATES = ("running", "done", "abandoned")


class JobRecord(Base):
    """A job a worker received, kept until it has pushed its status (the job journal).

    RabbitMQ forgets a cast once a worker takes it, so a worker that dies mid-job would leave
    the job's objects PENDING for ever; the sweeper finds ``running`` records whose owner
    stopped heart-beating and runs them again (the reconcile is idempotent).
    """

    __tablename__ = "loxilb_jobs"

    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True, default=_uuid)
    loadbalancer_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), index=True)
    op: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    subject_kind: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    subject_id: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    body: orm.Mapped[str] = orm.mapped_column(sa.Text)
    """The job dict (``Job.to_dict``) as JSON."""
    state: orm.Mapped[str] = orm.mapped_column(sa.String(16), index=True)
    owner: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    """The worker (coordination member id) running it."""
    attempts: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=1)
    received_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)
    heartbeat_at: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime, default=_now)
    finished_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(
        sa.DateTime, nullable=True
    )
    result: orm.Mapped[str | None] = orm.mapped_column(sa.Text, nullable=True)
