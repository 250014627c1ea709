"""Nothing stays PENDING: finish the jobs of workers that died, and unstick by hand.

How an object of ours can be left PENDING_* and what covers it:

* **A worker dies mid-job** (crash, SIGKILL, host loss): oslo.messaging acknowledged the cast
  when the worker took it, so RabbitMQ will not redeliver it. The job journal
  (``journal.py``) still holds it as ``running`` and its heartbeat stops; past
  ``[loxilb] pending_deadline`` the leader's sweeper claims it and runs it again. Re-running
  is safe: every job is an idempotent reconcile followed by a status push. A job that keeps
  failing to finish (``sweep_max_attempts``) is not converged again: its objects are
  reported failed (the subject ERROR, its parents ACTIVE), which is terminal and mutable.
  A job whose load balancer is gone is dropped by the runner itself.
* **No worker is running when the API casts**: the cast waits in the topic's queue, which
  the workers declared and which outlives its consumers; the first worker to start takes it.
  To survive a RabbitMQ restart as well, set ``[oslo_messaging_rabbit]
  amqp_durable_queues = true`` (or ``rabbit_quorum_queue``) in the configuration both
  octavia-api and the workers read.
* **RabbitMQ itself loses the message** (a broker crash with non-durable queues): nothing
  in the driver saw the job, and the driver may not read Octavia's database. The operator
  finds the load balancer stuck and runs ``octavia-loxilb-manage lb unstick <id>``
  (``unstick`` below): it converges the load balancer from Octavia's current intent and
  pushes a terminal status for every one of its objects.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

from octavia_loxilb.common.jobs import OBJECT_KINDS, Job
from octavia_loxilb.worker import octavia_reader
from octavia_loxilb.worker.journal import ABANDONED, DONE, JobJournal, JournalEntry
from octavia_loxilb.worker.status import Outcome, TreeIndex, build_status

LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class SweepResult:
    """What the sweeper did with one abandoned journal entry."""

    entry_id: str
    job: Job
    action: str
    """``rerun`` (converged and reported), ``failed`` (reported ERROR without converging)."""
    succeeded: bool = False
    reason: str = ""


class Sweeper:
    """Re-runs the journal's abandoned jobs; ``sweep()`` is the periodic task."""

    def __init__(self, conf: Any, *, journal: JobJournal, runner: Any,
                 library: Callable[[], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conf = conf
        self.journal = journal
        self.runner = runner
        self.library = library or (lambda: octavia_reader.driver_library(conf))
        self.clock = clock

    def sweep(self) -> list[SweepResult]:
        """Claim and finish every job whose owner stopped heart-beating."""
        results = []
        for entry in self.journal.stale(self.conf.loxilb.pending_deadline):
            if not self.journal.claim(entry):
                continue
            LOG.warning("Job %s on %s %s (journal %s) was abandoned by %s; attempt %d",
                        entry.job.op, entry.job.subject[0], entry.job.subject[1], entry.id,
                        entry.owner, entry.attempts + 1)
            results.append(self._finish(entry))
        try:
            self.journal.purge(self.conf.loxilb.journal_retention)
        except Exception:
            LOG.exception("Purging the job journal failed")
        return results

    __call__ = sweep

    def _finish(self, entry: JournalEntry) -> SweepResult:
        if entry.attempts + 1 > self.conf.loxilb.sweep_max_attempts:
            return self._give_up(entry)
        try:
            run = self.runner.run(entry.job)
        except Exception as exc:  # leave it running: the next sweep tries again
            LOG.exception("Re-running journal entry %s failed", entry.id)
            return SweepResult(entry.id, entry.job, "rerun", reason=str(exc))
        self.journal.finish(entry.id, loadbalancer_id=run.job.loadbalancer_id,
                            result=("succeeded" if run.succeeded else "failed")
                            + (f": {run.reason}" if run.reason else ""))
        return SweepResult(entry.id, run.job, "rerun", succeeded=run.succeeded,
                           reason=run.reason)

    def _give_up(self, entry: JournalEntry) -> SweepResult:
        """Report the job's objects failed without converging: terminal and mutable."""
        job = entry.job
        reason = f"abandoned after {entry.attempts} runs"
        library = self.library()
        deadline = self.clock() + self.conf.loxilb.tree_read_deadline
        try:
            lb_id = octavia_reader.resolve_loadbalancer_id(job, library, deadline=deadline)
            if lb_id:
                job = dataclasses.replace(job, loadbalancer_id=lb_id)
                tree = octavia_reader.read_tree(job, library, deadline=deadline)
                document = build_status(job, tree, Outcome(succeeded=False))
                if document:
                    octavia_reader.push_status(
                        document, library, attempts=self.conf.loxilb.status_push_attempts)
        except Exception as exc:
            LOG.exception("Reporting abandoned job %s failed", entry.id)
            return SweepResult(entry.id, job, "failed", reason=f"{reason}; {exc}")
        LOG.error("Job %s on %s %s %s: reported failed", job.op, job.subject[0],
                  job.subject[1], reason)
        self.journal.finish(entry.id, loadbalancer_id=job.loadbalancer_id, result=reason,
                            state=ABANDONED)
        return SweepResult(entry.id, job, "failed", reason=reason)


def full_report_job(tree: dict[str, Any]) -> Job:
    """A job that converges the whole load balancer and reports every object in it.

    Used by ``unstick`` when the job that left objects PENDING is unknown (its cast was
    lost). Objects still in the tree are converged and reported ACTIVE (or ERROR where
    LoxiLB refuses them); an object the user was deleting is kept and comes back ACTIVE, so
    the user can delete it again.
    """
    index = TreeIndex(tree)
    locked: dict[str, list[str]] = {kind: index.of_kind(kind) for kind in OBJECT_KINDS}
    return Job(op="loadbalancer_update", loadbalancer_id=index.lb_id,
               subject=("loadbalancers", index.lb_id),
               locked={k: v for k, v in locked.items() if v and k != "loadbalancers"})


def unstick(loadbalancer_id: str, *, journal: JobJournal, runner: Any, library: Any,
            force: bool = False) -> list[str]:
    """Drive a stuck load balancer to terminal states; returns what was done, line by line.

    Unfinished journal jobs of the load balancer are claimed and re-run (a job whose owner
    still heart-beats is left alone unless ``force``). Then the whole load balancer is
    converged and every object reported, which also releases objects of a lost cast.
    """
    done: list[str] = []
    for entry in journal.entries_for(loadbalancer_id):
        if entry.state != "running":
            continue
        if not force and entry.heartbeat_at > _stale_before(runner.conf):
            done.append(f"job {entry.job.op} ({entry.id}) is running on {entry.owner}; "
                        "left alone (use --force to take it over)")
            continue
        if not journal.claim(entry):
            continue
        run = runner.run(entry.job)
        journal.finish(entry.id, loadbalancer_id=loadbalancer_id,
                       result="succeeded" if run.succeeded else f"failed: {run.reason}",
                       state=DONE)
        done.append(f"re-ran job {entry.job.op} on {entry.job.subject[0]} "
                    f"{entry.job.subject[1]}: {'succeeded' if run.succeeded else run.reason}")
    tree = octavia_reader.current_tree(library, loadbalancer_id)
    if tree is None:
        done.append(f"load balancer {loadbalancer_id} is not known to Octavia")
        return done
    run = runner.run(full_report_job(tree))
    pushed = sum(len(records) for document in run.pushed for records in document.values())
    done.append(f"converged and reported {pushed} objects: "
                + ("succeeded" if run.succeeded else f"failed ({run.reason})"))
    return done


def _stale_before(conf: Any) -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now - datetime.timedelta(seconds=conf.loxilb.pending_deadline)


def make_task(context: Any) -> Callable[[], Any]:
    """Periodic-runner factory: sweeps with the worker's journal (its heartbeat covers the
    jobs the sweeper claims) and a job runner on the worker's locks and placer."""
    from octavia_loxilb.worker.runner import JobRunner

    journal = context.extras.get("journal") or JobJournal(context.engine, owner="sweeper")
    runner = context.extras.get("runner") or JobRunner(
        context.conf, locks=context.locks, placer=context.placer, library=context.library)
    return Sweeper(context.conf, journal=journal, runner=runner, library=context.library)
