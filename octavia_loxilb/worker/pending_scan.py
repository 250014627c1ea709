"""Find load balancers left PENDING by a cast no worker ever received, and finish them.

The job journal only knows jobs a worker received; a cast RabbitMQ lost (or one published
to a queue that was deleted) leaves Octavia objects PENDING with no trace on our side. The
only public contract that shows provisioning status is Octavia's own v2 API, so the leader
asks it, as a service user, for this provider's load balancers in ``PENDING_*`` whose last
change is older than ``[loxilb] pending_deadline``. Every provider call locks the load
balancer itself, so scanning load balancers finds every stuck operation.

A stuck load balancer with no journal entry and a free lock is then driven to a terminal
state with the same runner every job uses: ``PENDING_DELETE`` runs the (cascade) delete;
anything else converges the whole tree and reports every object, with the children Octavia
shows ``PENDING_DELETE`` left out of LoxiLB and reported ``DELETED``.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session
from oslo_config import cfg

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.conf.octavia_api import GROUP as AUTH_GROUP
from octavia_loxilb.worker import octavia_reader
from octavia_loxilb.worker.locking import LockTimeout
from octavia_loxilb.worker.status import TreeIndex
from octavia_loxilb.worker.sweeper import full_report_job

LOG = logging.getLogger(__name__)

PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")
_KINDS = {"listeners": "listeners", "pools": "pools", "members": "members",
          "health_monitor": "healthmonitors", "l7policies": "l7policies",
          "rules": "l7rules"}


@dataclasses.dataclass(frozen=True)
class StuckLoadBalancer:
    """A load balancer Octavia shows PENDING since ``since`` (UTC, naive)."""

    id: str
    status: str
    since: datetime.datetime


class OctaviaApi:
    """The few read-only calls the scan makes to Octavia's v2 API."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        auth = ks_loading.load_auth_from_conf_options(conf, AUTH_GROUP)
        self.session = ks_loading.load_session_from_conf_options(conf, AUTH_GROUP, auth=auth)
        self.endpoint = conf.loxilb.octavia_api_endpoint
        self.provider = conf.loxilb.provider_name

    def _get(self, path: str) -> Any:
        kwargs: dict[str, Any] = {"raise_exc": True}
        if self.endpoint:
            kwargs["endpoint_override"] = self.endpoint
        else:
            kwargs["endpoint_filter"] = {"service_type": "load-balancer", "interface": "public"}
        return ks_session.Session.get(self.session, path, **kwargs).json()

    def pending(self) -> Iterator[StuckLoadBalancer]:
        """This provider's load balancers in any PENDING_* state."""
        for status in PENDING:
            found = self._get(f"/v2/lbaas/loadbalancers?provider={self.provider}"
                              f"&provisioning_status={status}")["loadbalancers"]
            for lb in found:
                stamp = lb.get("updated_at") or lb.get("created_at")
                yield StuckLoadBalancer(lb["id"], status,
                                        datetime.datetime.fromisoformat(stamp))

    def pending_deletes(self, loadbalancer_id: str) -> dict[str, list[str]]:
        """Children Octavia shows PENDING_DELETE, by job kind (from the status tree)."""
        tree = self._get(f"/v2/lbaas/loadbalancers/{loadbalancer_id}/status")
        found: dict[str, list[str]] = {}
        for kind, obj in _walk(tree["statuses"]["loadbalancer"]):
            if obj.get("provisioning_status") == "PENDING_DELETE":
                found.setdefault(kind, []).append(obj["id"])
        return found


def _walk(node: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, kind in _KINDS.items():
        value = node.get(key)
        children: Iterable[dict[str, Any]] = (
            [value] if isinstance(value, dict) else value or [])
        for child in children:
            yield kind, child
            yield from _walk(child)


def lost_cast_job(tree: dict[str, Any], status: str,
                  deleting: dict[str, list[str]]) -> Job:
    """The job that finishes a load balancer whose cast was lost."""
    index = TreeIndex(tree)
    if status == "PENDING_DELETE":
        everything = {kind: index.of_kind(kind) for kind in _KINDS.values()}
        return Job(op="loadbalancer_delete", loadbalancer_id=index.lb_id,
                   subject=("loadbalancers", index.lb_id), cascade=True,
                   deleting={k: v for k, v in everything.items() if v})
    return dataclasses.replace(full_report_job(tree), deleting=deleting)


class PendingScan:
    """The leader's periodic scan; ``scan()`` returns the ids it finished."""

    def __init__(self, conf: Any, *, api: OctaviaApi, runner: Any, journal: Any,
                 library: Callable[[], Any]) -> None:
        self.conf = conf
        self.api = api
        self.runner = runner
        self.journal = journal
        self.library = library

    def scan(self, now: datetime.datetime | None = None) -> list[str]:
        now = now or datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        deadline = now - datetime.timedelta(seconds=self.conf.loxilb.pending_deadline)
        finished = []
        for stuck in self.api.pending():
            if stuck.since > deadline:
                continue
            if any(e.state == "running" for e in self.journal.entries_for(stuck.id)):
                continue  # a received job: the journal sweep owns it
            if self._finish(stuck):
                finished.append(stuck.id)
        return finished

    def _finish(self, stuck: StuckLoadBalancer) -> bool:
        try:
            with self.runner.locks.hold(stuck.id, timeout=0):
                pass  # a job holds it: it will report, nothing is lost
        except LockTimeout:
            return False
        tree = octavia_reader.current_tree(self.library(), stuck.id)
        if tree is None:
            return False
        job = lost_cast_job(tree, stuck.status, self.api.pending_deletes(stuck.id))
        LOG.warning("Load balancer %s has been %s since %s with no job on any worker "
                    "(a lost cast): running %s", stuck.id, stuck.status, stuck.since, job.op)
        run = self.runner.run(job)
        LOG.warning("Lost-cast recovery of %s: %s", stuck.id,
                    "succeeded" if run.succeeded else f"failed ({run.reason})")
        return True


def make_task(context: Any) -> Callable[[], Any]:
    """Periodic-runner factory (``pending_scan_interval``); a no-op until configured."""
    from octavia_loxilb.worker.journal import JobJournal
    from octavia_loxilb.worker.runner import JobRunner

    conf = context.conf
    journal = context.extras.get("journal") or JobJournal(context.engine, owner="pending-scan")
    runner = context.extras.get("runner") or JobRunner(
        conf, locks=context.locks, placer=context.placer, library=context.library)
    scanner = PendingScan(conf, api=OctaviaApi(conf), runner=runner, journal=journal,
                          library=context.library)
    return scanner.scan
