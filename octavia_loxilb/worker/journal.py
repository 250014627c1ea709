"""The job journal: every job a worker took, until its status push is done.

oslo.messaging acknowledges a cast when a worker takes it, so RabbitMQ cannot redeliver the
job of a worker that dies mid-job; its objects would stay PENDING for ever. Each worker
therefore writes the job here on receipt, heart-beats its running jobs while alive and marks
them done after the status push. A ``running`` record whose heartbeat is older than
``[loxilb] pending_deadline`` belongs to a dead (or hung) worker: the sweeper claims it and
runs the job again, which is safe because every job ends in an idempotent reconcile.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import threading
from typing import Any

import sqlalchemy as sa

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.db import jobs as db_jobs
from octavia_loxilb.db.session import session_scope

LOG = logging.getLogger(__name__)

RUNNING = "running"
DONE = "done"
ABANDONED = "abandoned"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


@dataclasses.dataclass(frozen=True)
class JournalEntry:
    """One journal record, detached from its session."""

    id: str
    loadbalancer_id: str
    job: Job
    state: str
    owner: str
    attempts: int
    received_at: datetime.datetime
    heartbeat_at: datetime.datetime
    finished_at: datetime.datetime | None
    result: str | None


def _entry(row: db_jobs.JobRecord) -> JournalEntry:
    return JournalEntry(
        id=row.id, loadbalancer_id=row.loadbalancer_id,
        job=Job.from_dict(json.loads(row.body)), state=row.state, owner=row.owner,
        attempts=row.attempts, received_at=row.received_at, heartbeat_at=row.heartbeat_at,
        finished_at=row.finished_at, result=row.result,
    )


class JobJournal:
    """Journal records of one worker process (``owner``); reads see every worker's."""

    def __init__(self, engine: sa.Engine, owner: str) -> None:
        self.engine = engine
        self.owner = owner
        self._stopping = threading.Event()
        self._heart: threading.Thread | None = None

    # -- writing --------------------------------------------------------------------------

    def record(self, job: Job) -> str | None:
        """Journal a received job; None (logged) if the database is unavailable.

        A journal failure never stops the job itself: it only loses crash recovery for it.
        """
        try:
            with session_scope(self.engine) as session:
                row = db_jobs.JobRecord(
                    loadbalancer_id=job.loadbalancer_id, op=job.op,
                    subject_kind=job.subject[0], subject_id=job.subject[1],
                    body=json.dumps(job.to_dict()), state=RUNNING, owner=self.owner,
                    attempts=1, received_at=_now(), heartbeat_at=_now(),
                )
                session.add(row)
                session.flush()
                return row.id
        except Exception:
            LOG.exception("Journaling job %s on %s %s failed", job.op, *job.subject)
            return None

    def finish(self, entry_id: str, *, loadbalancer_id: str = "", result: str = "",
               state: str = DONE) -> None:
        """Mark a job done (its status is pushed) or abandoned."""
        values: dict[str, Any] = {"state": state, "finished_at": _now(),
                                  "result": result[:2000]}
        if loadbalancer_id:
            values["loadbalancer_id"] = loadbalancer_id
        try:
            with session_scope(self.engine) as session:
                session.execute(sa.update(db_jobs.JobRecord)
                                .where(db_jobs.JobRecord.id == entry_id).values(**values))
        except Exception:
            LOG.exception("Marking journal entry %s %s failed", entry_id, state)

    def claim(self, entry: JournalEntry) -> bool:
        """Take over a stale running record; False when someone else did (or it finished).

        The update is conditional on the heartbeat the caller saw, so two sweepers (or a
        worker that was only slow) cannot both own it.
        """
        with session_scope(self.engine) as session:
            result = session.execute(
                sa.update(db_jobs.JobRecord)
                .where(db_jobs.JobRecord.id == entry.id,
                       db_jobs.JobRecord.state == RUNNING,
                       db_jobs.JobRecord.heartbeat_at == entry.heartbeat_at)
                .values(owner=self.owner, attempts=entry.attempts + 1, heartbeat_at=_now())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def beat(self) -> int:
        """Refresh the heartbeat of this worker's running jobs; returns how many."""
        with session_scope(self.engine) as session:
            result = session.execute(
                sa.update(db_jobs.JobRecord)
                .where(db_jobs.JobRecord.owner == self.owner,
                       db_jobs.JobRecord.state == RUNNING)
                .values(heartbeat_at=_now())
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def purge(self, older_than: float) -> int:
        """Forget finished records older than ``older_than`` seconds."""
        cutoff = _now() - datetime.timedelta(seconds=older_than)
        with session_scope(self.engine) as session:
            result = session.execute(
                sa.delete(db_jobs.JobRecord)
                .where(db_jobs.JobRecord.state != RUNNING,
                       db_jobs.JobRecord.finished_at < cutoff)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # -- heart ----------------------------------------------------------------------------

    def start_heartbeat(self, interval: float) -> None:
        """Beat every ``interval`` seconds on a daemon thread until ``stop_heartbeat``."""
        self._stopping.clear()
        self._heart = threading.Thread(target=self._beat_loop, args=(interval,),
                                       name="loxilb-journal-heartbeat", daemon=True)
        self._heart.start()

    def stop_heartbeat(self) -> None:
        self._stopping.set()
        if self._heart is not None:
            self._heart.join(timeout=10)
            self._heart = None

    def _beat_loop(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            try:
                self.beat()
            except Exception:  # the database may come back before the deadline passes
                LOG.warning("Journal heartbeat failed", exc_info=True)

    # -- reading --------------------------------------------------------------------------

    def stale(self, deadline: float) -> list[JournalEntry]:
        """Running records whose owner has not beaten for ``deadline`` seconds."""
        cutoff = _now() - datetime.timedelta(seconds=deadline)
        with session_scope(self.engine) as session:
            rows = session.scalars(
                sa.select(db_jobs.JobRecord)
                .where(db_jobs.JobRecord.state == RUNNING,
                       db_jobs.JobRecord.heartbeat_at < cutoff)
                .order_by(db_jobs.JobRecord.received_at)
            )
            return [_entry(r) for r in rows]

    def running_loadbalancers(self) -> set[str]:
        """Load balancers with a job in flight (resolved ids only)."""
        with session_scope(self.engine) as session:
            ids = session.scalars(
                sa.select(db_jobs.JobRecord.loadbalancer_id)
                .where(db_jobs.JobRecord.state == RUNNING)
            )
            return {i for i in ids if i}

    def entries_for(self, loadbalancer_id: str, limit: int = 20) -> list[JournalEntry]:
        """The load balancer's most recent records, newest first."""
        with session_scope(self.engine) as session:
            rows = session.scalars(
                sa.select(db_jobs.JobRecord)
                .where(db_jobs.JobRecord.loadbalancer_id == loadbalancer_id)
                .order_by(db_jobs.JobRecord.received_at.desc())
                .limit(limit)
            )
            return [_entry(r) for r in rows]

    def get(self, entry_id: str) -> JournalEntry | None:
        with session_scope(self.engine) as session:
            row = session.get(db_jobs.JobRecord, entry_id)
            return _entry(row) if row else None
