"""Notice a LoxiLB restart within seconds and refill the node at once.

LoxiLB deletes every rule when it stops and restores nothing when it starts (API-NOTES §0.16,
§10), and neither ``/version`` nor ``/status/device`` (host uptime, not process uptime)
changes when only the process restarts. What does change is the rule table, so the check
compares each node's rules with what the last resync left there:

* a node that lost any rule key of ours the last cycle expected (a restart wipes all of
  them; someone deleting one by hand is drift just the same), or
* a node that answers again after failing (it may have restarted while unreachable)

gets an immediate resync of its group. One ``GET /config/loadbalancer/all`` per node per
check is the whole cost while nothing happened. A key that legitimately went away (a job
deleted a listener) costs one resync that finds nothing to do and refreshes the expectation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from octavia_loxilb.loxilb.models import RuleKey
from octavia_loxilb.worker.resync import BUSY, GroupReport, Resyncer

LOG = logging.getLogger(__name__)

BUSY_RETRIES = 5
BUSY_RETRY_DELAY = 0.2
"""Seconds before the first retry of a busy load balancer; later retries wait longer."""


class RestartDetector:
    """``check()`` once per interval; resyncs the groups whose nodes show a restart."""

    def __init__(self, resyncer: Resyncer) -> None:
        self.resyncer = resyncer
        self._down: set[str] = set()
        self.triggered: list[tuple[str, str]] = []
        """(group name, reason) of every resync this detector started, for logs and tests."""

    def check(self) -> list[GroupReport]:
        """Look at every node once; resync each group with a node that lost our rules."""
        reasons: dict[str, str] = {}
        names: dict[str, str] = {}
        for group in self.resyncer.groups():
            names[group.id] = group.name
            last = self.resyncer.last.get(group.id)
            for api in self.resyncer.placer.nodes(group):
                reason = self._node(api, last.expected.get(api.node) if last else None)
                if reason is not None:
                    reasons.setdefault(group.id, f"{api.node}: {reason}")
            if last is None and group.id not in reasons:
                reasons[group.id] = "no resync has run on this group yet"
        if not reasons:
            return []
        for group_id, reason in reasons.items():
            LOG.warning("LoxiLB group %s needs a resync: %s", names[group_id], reason)
            self.triggered.append((names[group_id], reason))
        reports = self.resyncer.run(group_ids=list(reasons))
        self._log(reports)
        self._retry_busy(reports)
        return reports

    def _retry_busy(self, reports: list[GroupReport]) -> None:
        """Refill the load balancers a job held during the refill as soon as it lets go.

        Their rules are still missing, and the next periodic resync may be a whole interval
        away; the job itself converges only what it changes when it runs on a wiped node
        after our snapshot, so retry them alone, briefly.
        """
        for attempt in range(BUSY_RETRIES):
            busy = [lb.loadbalancer_id for r in reports for lb in r.loadbalancers
                    if lb.state == BUSY]
            if not busy:
                return
            time.sleep(BUSY_RETRY_DELAY * (attempt + 1))
            reports = self.resyncer.run(loadbalancer_ids=busy)
            self._log(reports)

    @staticmethod
    def _log(reports: list[GroupReport]) -> None:
        for report in reports:
            states: dict[str, int] = {}
            for lb in report.loadbalancers:
                states[lb.state] = states.get(lb.state, 0) + 1
            LOG.warning("Resync of group %s after a detected restart: %s in %.2fs",
                        report.group, ", ".join(f"{n} {s}" for s, n in sorted(states.items())),
                        report.seconds)
            for lb in report.loadbalancers:
                if lb.error:
                    LOG.warning("Resync of %s: %s (%s)", lb.loadbalancer_id, lb.state, lb.error)

    def _node(self, api: Any, expected: frozenset[RuleKey] | None) -> str | None:
        """Why this node needs a resync, or None."""
        try:
            present = {rule.key for rule in api.list_rules()}
        except Exception as exc:
            if api.node not in self._down:
                LOG.warning("LoxiLB node %s is unreachable: %s", api.node, exc)
            self._down.add(api.node)
            return None
        if api.node in self._down:
            self._down.discard(api.node)
            return "answers again after being unreachable"
        if expected:
            missing = expected - present
            if missing:
                return f"{len(missing)} of {len(expected)} expected rules missing"
        return None


def make_task(context: Any) -> Callable[[], None]:
    """Periodic-runner factory; shares the resync task's ``Resyncer`` (same election)."""
    resyncer = context.extras.get("resyncer")
    if resyncer is None:
        from octavia_loxilb.worker import resync

        resync.make_task(context)
        resyncer = context.extras["resyncer"]
    detector = RestartDetector(resyncer)
    context.extras["restart_detector"] = detector

    def task() -> None:
        detector.check()

    return task
