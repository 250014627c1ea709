"""The RPC endpoint the provider driver casts to: ``run_job(ctxt, job)``.

The namespace and version are the RPC contract shared with ``driver/rpc.py``; a worker of
an incompatible version does not match the target and never sees the job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import oslo_messaging

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.driver.rpc import RPC_NAMESPACE, RPC_VERSION
from octavia_loxilb.worker.journal import JobJournal

LOG = logging.getLogger(__name__)


class WorkerEndpoint:
    """Hands each cast job to ``run`` (which runs it to its status push)."""

    target = oslo_messaging.Target(namespace=RPC_NAMESPACE, version=RPC_VERSION)

    def __init__(self, run: Callable[[Job], Any], journal: JobJournal | None = None) -> None:
        self._run = run
        self._journal = journal

    def run_job(self, ctxt: Any, job: dict[str, Any]) -> None:
        """Run one job; nothing is returned (it is a cast) and nothing may escape."""
        try:
            parsed = Job.from_dict(job)
        except Exception:
            LOG.exception("Dropping a malformed job: %r", job)
            return
        LOG.info("Job %s on %s %s received", parsed.op, *parsed.subject)
        # Journaled until its status push, so the sweeper can finish it if we die mid-job.
        entry = self._journal.record(parsed) if self._journal else None
        try:
            result = self._run(parsed)
        except Exception:
            LOG.exception("Job %s on %s %s crashed", parsed.op, *parsed.subject)
            return
        if entry is not None and self._journal is not None:
            ran = getattr(result, "job", parsed)
            self._journal.finish(entry, loadbalancer_id=ran.loadbalancer_id,
                                 result=getattr(result, "reason", ""))
