"""The worker's only link to Octavia: reads and status pushes through the driver-agent.

Octavia's DB is the source of intent, reached only through octavia-lib's ``DriverLibrary``
(never private ``octavia.*`` modules). The library is module-level and built lazily: its
constructor waits minutes for missing sockets, so it must not run at import time, and one
instance serves every job thread (each call opens its own socket).

A job can arrive before the API has committed the change it describes (the provider call
runs inside the API's transaction), so ``read_tree`` re-reads until the change is visible.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from octavia_lib.api.drivers import driver_lib
from octavia_lib.api.drivers import exceptions as driver_exceptions

from octavia_loxilb.common.jobs import Job
from octavia_loxilb.conf import CONF
from octavia_loxilb.worker import agent_client
from octavia_loxilb.worker.status import REPORT_ORDER, StatusDocument, TreeIndex

LOG = logging.getLogger(__name__)

_library: driver_lib.DriverLibrary | None = None
_library_lock = threading.Lock()

READ_BACKOFF_START = 0.05
READ_BACKOFF_MAX = 0.25
"""The commit wait re-reads at most this far apart: the API commits within milliseconds of
the cast, so a long pause only adds to the job's latency."""
POOL_CACHE_SIZE = 100_000
PUSH_BACKOFF = 0.5

Tree = dict[str, Any]


class TreeUnavailable(Exception):
    """The driver-agent did not answer usefully before the read deadline."""


def driver_library(conf: Any = CONF) -> driver_lib.DriverLibrary:
    """The process-wide ``DriverLibrary`` on the ``[loxilb] *_socket_path`` sockets."""
    global _library
    with _library_lock:
        if _library is None:
            _library = agent_client.DriverLibrary(
                status_socket=conf.loxilb.status_socket_path,
                stats_socket=conf.loxilb.stats_socket_path,
                get_socket=conf.loxilb.get_socket_path,
            )
        return _library


def reset_driver_library() -> None:
    """Forget the library so the next use re-reads the socket options."""
    global _library
    with _library_lock:
        _library = None


class PoolOwners:
    """Which load balancer each pool belongs to, as seen in trees this process has read.

    A pool never moves to another load balancer and its id is never reused, so an entry
    stays true for as long as it is kept. Member and monitor jobs name only their pool:
    knowing its load balancer saves a driver-agent round trip (a process fork on the agent's
    side) per job. Bounded, least recently used first out.
    """

    def __init__(self, size: int = POOL_CACHE_SIZE) -> None:
        self.size = size
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, pool_id: str) -> str | None:
        with self._lock:
            owner = self._owners.get(pool_id)
            if owner is not None:
                self._owners.move_to_end(pool_id)
            return owner

    def remember(self, tree: Mapping[str, Any]) -> None:
        """Record every pool of a load balancer tree (``get_loadbalancer`` rendered)."""
        lb_id = tree.get("loadbalancer_id")
        if not lb_id:
            return
        pool_ids = [p.get("pool_id") for p in tree.get("pools") or ()]
        for listener in tree.get("listeners") or ():
            default = listener.get("default_pool") or {}
            pool_ids.append(default.get("pool_id"))
        with self._lock:
            for pool_id in pool_ids:
                if pool_id:
                    self._owners[pool_id] = str(lb_id)
                    self._owners.move_to_end(pool_id)
            while len(self._owners) > self.size:
                self._owners.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._owners.clear()


pool_owners = PoolOwners()


def _lb_dict(library: driver_lib.DriverLibrary, lb_id: str) -> Tree | None:
    lb = library.get_loadbalancer(lb_id)
    if lb is None:
        return None
    rendered: Tree = lb.to_dict(recurse=True, render_unsets=True)
    return rendered


def _find(index: TreeIndex, obj_id: str) -> Mapping[str, Any] | None:
    node = index.nodes.get(obj_id)
    return node.body if node else None


def _mismatches(job: Job, tree: Tree) -> list[str]:
    """Why ``tree`` does not yet show the job's change ([] once it does)."""
    index = TreeIndex(tree)
    subject = _find(index, job.subject[1])
    if job.op == "member_batch_update":
        return [f"member {m} not yet visible" for m in job.members or [] if m not in index]
    if job.op.endswith("_create"):
        return [] if subject is not None else [f"{job.subject[0]} {job.subject[1]} not visible"]
    if job.op.endswith("_update"):
        if subject is None:
            return [f"{job.subject[0]} {job.subject[1]} not visible"]
        return [
            f"{field}={subject.get(field)!r}, expecting {want!r}"
            for field, want in job.expect.items()
            if field in subject and subject.get(field) != want
        ]
    return []


def resolve_loadbalancer_id(
    job: Job, library: driver_lib.DriverLibrary, *, deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """The job's load balancer; member and monitor jobs name only their pool."""
    if job.loadbalancer_id:
        return job.loadbalancer_id
    pool_ids = list(job.locked.get("pools", []))
    if job.subject[0] == "pools":
        pool_ids.insert(0, job.subject[1])
    for pool_id in pool_ids:
        owner = pool_owners.get(pool_id)
        if owner is not None:
            return owner
    wait = READ_BACKOFF_START
    while True:
        for pool_id in dict.fromkeys(pool_ids):
            try:
                pool = library.get_pool(pool_id)
            except (driver_exceptions.DriverAgentTimeout, driver_exceptions.DriverError) as exc:
                LOG.warning("Reading pool %s failed: %s", pool_id, exc)
                continue
            if pool is not None and pool.loadbalancer_id:
                return str(pool.loadbalancer_id)
        if time.monotonic() >= deadline:
            LOG.error("Job %s on pools %s: no pool found, nothing to converge or report",
                      job.op, pool_ids)
            return None
        sleep(wait)
        wait = min(wait * 2, READ_BACKOFF_MAX)


def current_tree(library: Any, loadbalancer_id: str) -> Tree | None:
    """The load balancer's tree as the driver-agent has it now; None when it is gone.

    For periodic work (health, resync, sweeps), which wants what is committed, unlike a
    job that must wait for its own commit (``read_tree``).
    """
    lb = library.get_loadbalancer(loadbalancer_id)
    if lb is None:
        return None
    tree: Tree = lb.to_dict(recurse=True, render_unsets=True)
    return tree


def read_tree(
    job: Job, library: driver_lib.DriverLibrary, *, deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Tree | None:
    """The load balancer's tree once the API's commit of ``job`` is visible.

    ``None`` means there is nothing to report: the load balancer is gone, or the created
    objects never appeared (the API rolled the call back). An update whose fields still
    differ at the deadline proceeds with what it read: its objects exist, and holding back
    the push would leave them PENDING forever.
    """
    lb_id = job.loadbalancer_id
    wait = READ_BACKOFF_START
    last_error: Exception | None = None
    while True:
        try:
            tree = _lb_dict(library, lb_id)
            last_error = None
        except (driver_exceptions.DriverAgentTimeout, driver_exceptions.DriverError) as exc:
            tree, last_error = None, exc
        if last_error is None:
            if tree is None and not job.op.endswith("_create"):
                LOG.warning("Job %s: load balancer %s is gone, nothing to report",
                            job.op, lb_id)
                return None
            problems = _mismatches(job, tree) if tree is not None else ["load balancer absent"]
            if tree is not None:
                pool_owners.remember(tree)
            if not problems:
                return tree
        if time.monotonic() >= deadline:
            if last_error is not None:
                raise TreeUnavailable(f"driver-agent get of {lb_id} failed: {last_error}")
            if tree is not None and job.op.endswith("_update") and job.op != (
                    "member_batch_update") and job.subject[1] in TreeIndex(tree):
                LOG.warning("Job %s on %s: proceeding although the read still shows %s",
                            job.op, job.subject[1], "; ".join(problems))
                return tree
            LOG.error("Job %s on %s %s: gave up waiting for the API's commit (%s); the API "
                      "most likely rolled the call back, so there is nothing to report",
                      job.op, job.subject[0], job.subject[1], "; ".join(problems))
            return None
        sleep(wait)
        wait = min(wait * 2, READ_BACKOFF_MAX)


def _without(document: StatusDocument, kind: str | None, obj_id: str | None) -> bool:
    """Drop the record the agent rejected; False when there is none to drop."""
    for k in REPORT_ORDER if kind is None else (kind,):
        records = document.get(k, [])
        for i, record in enumerate(records):
            if record["id"] == obj_id:
                del records[i]
                if not records:
                    del document[k]
                return True
    return False


def push_status(
    document: StatusDocument, library: driver_lib.DriverLibrary, *, attempts: int = 5,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Push one status document; True when the agent accepted all of it.

    Transport errors are retried. A record the agent rejects (it stops at the first bad
    one) is dropped and the rest pushed again, so one stale id cannot leave the load
    balancer PENDING; records applied before it are applied again harmlessly.
    """
    remaining = {kind: [dict(r) for r in records] for kind, records in document.items()}
    complete = True
    for attempt in range(1, attempts + 1):
        if not remaining:
            return complete
        try:
            library.update_loadbalancer_status(
                {kind: [dict(r) for r in records] for kind, records in remaining.items()})
            return complete
        except driver_exceptions.UpdateStatusError as exc:
            if exc.status_object_id and _without(remaining, exc.status_object,
                                                 exc.status_object_id):
                LOG.error("Driver-agent rejected %s %s: %s", exc.status_object,
                          exc.status_object_id, exc.fault_string)
                complete = False
                continue
            LOG.warning("Status push attempt %d/%d failed: %s", attempt, attempts,
                        exc.fault_string)
        if attempt < attempts:
            sleep(PUSH_BACKOFF * attempt)
    LOG.error("Status push failed after %d attempts: %s", attempts, document)
    return False
