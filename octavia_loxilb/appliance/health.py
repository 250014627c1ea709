"""Periodic appliance checks (API over mutual TLS, HA state) and what follows from them:
a dead MASTER's BACKUP is promoted at once, a dead appliance is rebuilt in place and rejoins,
and the group's load balancers are replayed onto a rebuilt appliance (it boots empty).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from taskflow.patterns import linear_flow

from octavia_loxilb.appliance import flows, topology
from octavia_loxilb.appliance import store as records
from octavia_loxilb.appliance.groups import ApplianceSpec
from octavia_loxilb.appliance.services import Services, api_url
from octavia_loxilb.appliance.tasks import appliance as appliance_tasks
from octavia_loxilb.appliance.tasks import rebuild
from octavia_loxilb.db.models import ApplianceGroup
from octavia_loxilb.db.session import session_scope
from octavia_loxilb.loxilb import errors

LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ApplianceHealth:
    appliance_id: str
    address: str
    role: str | None
    alive: bool
    state: str | None
    error: str | None = None


@dataclasses.dataclass
class GroupOutcome:
    """What one check of a group did (for logs, tests and the takeover time)."""

    group_id: str
    health: list[ApplianceHealth]
    promoted: str | None = None
    takeover_seconds: float | None = None
    rebuilt: list[str] = dataclasses.field(default_factory=list)


def check_group(services: Services, group_id: str) -> list[ApplianceHealth]:
    """Each appliance's API answer over mutual TLS and its HA instance state."""
    result = []
    for appliance in services.store.appliances(group_id):
        address = appliance.management_address or ""
        client = services.health_client(address)
        try:
            states = {s.instance: s.state for s in client.list_cluster_states()}
            result.append(ApplianceHealth(appliance.id, address, appliance.role, True,
                                          states.get(topology.INSTANCE)))
        except errors.LoxiLBError as exc:
            result.append(ApplianceHealth(appliance.id, address, appliance.role, False, None,
                                          str(exc)))
    return result


def rebuild_flow() -> linear_flow.Flow:
    flow = linear_flow.Flow("rebuild-appliance")
    flow.add(rebuild.DeleteDeadServer(), appliance_tasks.IssueServerCertificate(0),
             appliance_tasks.PlaceServer(0, provides="boot_started"),
             appliance_tasks.WaitServerActive(0, provides="boot_seconds"),
             appliance_tasks.WaitReady(0, provides="ready_seconds"),
             appliance_tasks.ConfigureInterfaces(0), rebuild.RejoinGroup())
    return flow


class ApplianceMonitor:
    """One pass over every ACTIVE appliance group per ``run_once``."""

    def __init__(self, services: Services, engine: sa.Engine,
                 replay: Callable[[str], Any] | None = None,
                 after_takeover: Callable[[GroupOutcome], Any] | None = None) -> None:
        self.services = services
        self.engine = engine
        self.replay = replay or (lambda group_id: None)
        """Re-converge every load balancer of a group (a rebuilt appliance boots empty)."""
        self.after_takeover = after_takeover or (lambda outcome: None)
        """Called once the BACKUP is promoted, before the dead appliance is rebuilt."""

    def groups(self) -> list[str]:
        with session_scope(self.engine) as session:
            return list(session.scalars(sa.select(ApplianceGroup.group_id)
                                        .where(ApplianceGroup.status == records.ACTIVE)))

    def run_once(self) -> list[GroupOutcome]:
        outcomes = []
        for group_id in self.groups():
            try:
                outcomes.append(self.check(group_id))
            except Exception:  # one broken group must not stop the others' checks
                LOG.exception("Checking appliance group %s failed", group_id)
        return outcomes

    def check(self, group_id: str) -> GroupOutcome:
        health = check_group(self.services, group_id)
        outcome = GroupOutcome(group_id, health)
        dead = [h for h in health if not h.alive]
        if not dead:
            return outcome
        alive = [h for h in health if h.alive]
        if any(h.role == topology.MASTER for h in dead) and alive:
            started = time.monotonic()
            survivor = alive[0]
            topology.promote(self.services.client(survivor.address))
            self._swap_roles(group_id, survivor.appliance_id)
            outcome.promoted = survivor.appliance_id
            outcome.takeover_seconds = time.monotonic() - started
            LOG.warning("Appliance group %s: MASTER dead, %s promoted in %.2fs", group_id,
                        survivor.appliance_id, outcome.takeover_seconds)
            self.after_takeover(outcome)
        for appliance in dead:
            role = topology.BACKUP if alive else None
            if not alive and appliance.role is not None:
                role = topology.MASTER
            self.rebuild(group_id, appliance.appliance_id, role)
            outcome.rebuilt.append(appliance.appliance_id)
        self.replay(group_id)
        return outcome

    def _swap_roles(self, group_id: str, new_master: str) -> None:
        for appliance in self.services.store.appliances(group_id):
            role = topology.MASTER if appliance.id == new_master else topology.BACKUP
            self.services.store.update_appliance(appliance.id, role=role)
        self._publish_nodes(group_id)

    def _publish_nodes(self, group_id: str) -> None:
        port = self.services.opts.api_port
        self.services.store.set_nodes(group_id, [
            (api_url(a.management_address or "", port), a.role)
            for a in self.services.store.appliances(group_id)])

    def rebuild(self, group_id: str, appliance_id: str, role: str | None) -> dict[str, Any]:
        """Replace the appliance's server in place; the group's spec comes from its group
        record (flavor and image of its first build)."""
        group = self.services.store.group(group_id)
        assert group is not None
        spec = ApplianceSpec.from_json(self.services.store.spec_json(group_id))
        results = flows.run(rebuild_flow(), {
            "services": self.services, "group_id": group_id, "appliance_id_0": appliance_id,
            "role": role, "spec": spec, "server_group_id": group.server_group_id})
        self._publish_nodes(group_id)
        LOG.warning("Appliance %s of group %s rebuilt as %s", appliance_id, group_id,
                    role or "standalone")
        return results


def make_task(context: Any) -> Callable[[], None]:
    """Periodic-runner factory (``register("appliance_health", "appliance_health_interval",
    make_task)``): a monitor over the ``[loxilb_appliance]`` cloud that replays a group's
    load balancers through the resyncer after a rebuild. Does nothing where no appliance
    cloud is configured."""
    if not context.conf.loxilb_appliance.auth_url:
        return lambda: None
    from octavia_loxilb.appliance import manager
    from octavia_loxilb.worker.resync import Resyncer

    services = manager.from_conf(context.conf, context.engine).services

    def replay(group_id: str) -> None:
        resyncer = context.extras.get("resyncer") or Resyncer(
            context.conf, engine=context.engine, placer=context.placer,
            locks=context.locks, library=context.library)
        resyncer.run(group_ids=[group_id])

    monitor = ApplianceMonitor(services, context.engine, replay)

    def run() -> None:
        monitor.run_once()

    return run
