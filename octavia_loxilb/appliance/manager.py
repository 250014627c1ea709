"""The appliance side of a job: make sure a load balancer's appliances exist and carry its
VIP and member networks before its rules are converged, and take them down after its last
load balancer is gone. Called by the worker's ``JobRunner`` under the load balancer's lock.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import sqlalchemy as sa

from octavia_loxilb.appliance import flows, groups
from octavia_loxilb.appliance.services import Services
from octavia_loxilb.appliance.tasks import network
from octavia_loxilb.db import api as db_api
from octavia_loxilb.db.session import session_scope

LOG = logging.getLogger(__name__)

GroupLock = Callable[[str], contextlib.AbstractContextManager[Any]]


def _no_lock(_name: str) -> contextlib.AbstractContextManager[Any]:
    return contextlib.nullcontext()


class ApplianceManager:
    """Appliance groups for load balancers whose flavor says ``deployment: appliance``."""

    def __init__(self, services: Services, engine: sa.Engine,
                 group_lock: GroupLock = _no_lock) -> None:
        self.services = services
        self.engine = engine
        self.group_lock = group_lock
        self.last_build: dict[str, float] = {}
        """Seconds of the last group build: ``total``, ``boot`` and ``ready`` (of the
        slowest appliance, as they come up side by side), ``driver`` (the rest: records,
        certificates, ports, API calls)."""

    def _placement(self, loadbalancer_id: str) -> db_api.Placement | None:
        with session_scope(self.engine) as session:
            return db_api.get_placement(session, loadbalancer_id)

    def _group(self, group_id: str) -> db_api.Group:
        with session_scope(self.engine) as session:
            group = db_api.get_group(session, group_id)
        assert group is not None
        return group

    def ensure(self, loadbalancer_id: str, tree: Mapping[str, Any],
               leaving: Collection[str] = ()) -> db_api.Group:
        """The load balancer's ready appliance group, built or joined on first sight; its
        VIP allowed on the appliance ports and its member subnets attached."""
        vip = str(tree.get("vip_address") or "")
        subnets = groups.member_subnets(tree, leaving)
        spec = groups.spec_for(tree, self.services.conf,
                               self.services.store.topology_override(loadbalancer_id))
        placement = self._placement(loadbalancer_id)
        if placement is not None:
            group_id = placement.group.id
            record = self.services.store.group(group_id)
            if record is not None and record.flavor_key != spec.key:
                return self._move(loadbalancer_id, tree, leaving, spec, group_id)
            with self.group_lock(f"appliance-group-{group_id}"):
                self.services.store.set_member_subnets(group_id, loadbalancer_id, subnets)
                flows.attach(self.services, group_id, vip)
                network.detach_unused_member_networks(self.services, group_id)
            return self._group(group_id)
        return self._place(loadbalancer_id, tree, spec, vip, subnets)

    def failover(self, loadbalancer_id: str) -> None:
        """On-demand health pass over the load balancer's appliances: a dead MASTER's
        BACKUP is promoted and dead appliances are rebuilt (the caller then converges)."""
        from octavia_loxilb.appliance.health import ApplianceMonitor

        placement = self._placement(loadbalancer_id)
        if placement is None or placement.group.kind != "appliance":
            return
        with self.group_lock(f"appliance-group-{placement.group.id}"):
            ApplianceMonitor(self.services, self.engine).check(placement.group.id)

    def is_last_on_group(self, loadbalancer_id: str) -> bool:
        """True when the load balancer is the only one on its appliance group: deleting it
        destroys the appliances, so its rules need not be removed from them first (and a
        dead appliance of the group cannot block the delete)."""
        placement = self._placement(loadbalancer_id)
        return (placement is not None and placement.group.kind == "appliance"
                and self.services.store.placement_count(placement.group.id) == 1)

    def set_topology(self, loadbalancer_id: str, topology: str | None) -> None:
        """Choose a topology for one load balancer over its flavor's (``None``: the
        flavor's again); the next job on it moves it (``ensure``)."""
        self.services.store.set_topology_override(loadbalancer_id, topology)

    def _move(self, loadbalancer_id: str, tree: Mapping[str, Any], leaving: Collection[str],
              spec: groups.ApplianceSpec, old_group_id: str) -> db_api.Group:
        """Move the load balancer to a group of its new spec: its VIP pair leaves the old
        appliances first (in ARP mode only one group may answer for the VIP), then it is
        placed on a fitting or new group with its VIP and member networks, and the old
        group loses its rules (or is destroyed when this was its last load balancer). A
        failed placement puts it back on the old group. Its rules follow from the caller's
        converge on the returned group; the configuration lives in Octavia, so nothing is
        lost."""
        LOG.info("Moving load balancer %s off appliance group %s (spec changed)",
                 loadbalancer_id, old_group_id)
        vip = str(tree.get("vip_address") or "")
        with self.group_lock(f"appliance-group-{old_group_id}"):
            self._unplace(loadbalancer_id, old_group_id, vip)
        try:
            group = self._place(loadbalancer_id, tree, spec, vip,
                                groups.member_subnets(tree, leaving))
        except Exception:
            LOG.exception("Moving load balancer %s failed; it stays on group %s",
                          loadbalancer_id, old_group_id)
            with session_scope(self.engine) as session:
                db_api.create_placement(session, loadbalancer_id, old_group_id, vip or None)
            self.services.store.set_member_subnets(old_group_id, loadbalancer_id,
                                                   groups.member_subnets(tree, leaving))
            flows.attach(self.services, old_group_id, vip)
            raise
        with self.group_lock(f"appliance-group-{old_group_id}"):
            if self.services.store.placement_count(old_group_id) == 0:
                flows.destroy_group(self.services, old_group_id)
            else:
                self._delete_rules_of(tree, old_group_id)
                network.detach_unused_member_networks(self.services, old_group_id)
        return group

    def _delete_rules_of(self, tree: Mapping[str, Any], group_id: str) -> None:
        """The moved load balancer's rules off a group that keeps serving others."""
        from octavia_loxilb.reconcile.apply import Reconciler
        from octavia_loxilb.reconcile.translate import translate

        clients = [self.services.client(a.management_address or "")
                   for a in self.services.store.appliances(group_id)]
        gone = translate(tree, deleting={"loadbalancers": [str(tree["loadbalancer_id"])]})
        Reconciler(clients).converge(gone)

    def _place(self, loadbalancer_id: str, tree: Mapping[str, Any],
               spec: groups.ApplianceSpec, vip: str, subnets: set[str]) -> db_api.Group:
        """Join a fitting group or build one, then attach the load balancer to it."""
        chosen = groups.choose_group(self.services.store, spec, self.services.conf)
        created = chosen is None
        if chosen is not None:
            group_id = chosen
        else:
            shared = self.services.opts.group_sharing == "shared"
            started = time.monotonic()
            results = flows.create_group(self.services, spec, shared,
                                         tree.get("vip_subnet_id"))
            self.last_build = _build_timings(results, time.monotonic() - started)
            group_id = str(results["group_id"])
            LOG.info("Built appliance group %s for load balancer %s "
                     "(boot %s s, ready %s s, flow %.2f s)", group_id, loadbalancer_id,
                     _timings(results, "boot_seconds"), _timings(results, "ready_seconds"),
                     self.last_build["total"])
        try:
            with self.group_lock(f"appliance-group-{group_id}"):
                with session_scope(self.engine) as session:
                    db_api.create_placement(session, loadbalancer_id, group_id, vip or None)
                self.services.store.set_member_subnets(group_id, loadbalancer_id, subnets)
                flows.attach(self.services, group_id, vip)
        except Exception:
            LOG.exception("Attaching load balancer %s to appliance group %s failed",
                          loadbalancer_id, group_id)
            self._drop(loadbalancer_id, group_id, vip, destroy_if_empty=created)
            raise
        return self._group(group_id)

    def release(self, loadbalancer_id: str) -> None:
        """After the load balancer's rules are gone: its VIP and member networks leave the
        appliances, its placement is dropped, and an emptied group is destroyed."""
        placement = self._placement(loadbalancer_id)
        if placement is None:
            return
        self._drop(loadbalancer_id, placement.group.id, placement.vip_address or "",
                   destroy_if_empty=True)

    def _unplace(self, loadbalancer_id: str, group_id: str, vip: str) -> None:
        """Take the load balancer off the group (the caller holds the group's lock): its
        VIP pair off the appliance ports, its member subnets released, its placement
        dropped."""
        if vip:
            network.remove_vip_address_pairs(self.services, group_id, vip)
        self.services.store.set_member_subnets(group_id, loadbalancer_id, ())
        with session_scope(self.engine) as session:
            db_api.delete_placement(session, loadbalancer_id)

    def _drop(self, loadbalancer_id: str, group_id: str, vip: str,
              destroy_if_empty: bool) -> None:
        with self.group_lock(f"appliance-group-{group_id}"):
            self._unplace(loadbalancer_id, group_id, vip)
            if destroy_if_empty and self.services.store.placement_count(group_id) == 0:
                LOG.info("Destroying appliance group %s: its last load balancer is gone",
                         group_id)
                flows.destroy_group(self.services, group_id)
            else:
                network.detach_unused_member_networks(self.services, group_id)


def _build_timings(results: Mapping[str, Any], total: float) -> dict[str, float]:
    """The build split: the appliances boot and come up side by side, so the slowest
    one's boot and readiness are the group's."""
    boot = max((v for k, v in results.items() if k.startswith("boot_seconds")), default=0.0)
    ready = max((v for k, v in results.items() if k.startswith("ready_seconds")),
                default=0.0)
    return {"total": total, "boot": boot, "ready": ready, "driver": total - boot - ready}


def _timings(results: Mapping[str, Any], prefix: str) -> str:
    values = [f"{v:.2f}" for k, v in sorted(results.items())
              if k.startswith(prefix) and isinstance(v, float)]
    return "/".join(values) or "-"


def from_conf(conf: Any, engine: sa.Engine, group_lock: GroupLock = _no_lock,
              cloud: Any = None) -> ApplianceManager:
    """The manager a worker uses: openstacksdk to the ``[loxilb_appliance]`` cloud."""
    from octavia_loxilb.appliance import compute
    from octavia_loxilb.appliance.cert_store import CertificateStore
    from octavia_loxilb.appliance.store import ApplianceStore

    services = Services(conf, cloud or compute.Cloud(compute.connect(conf)),
                        ApplianceStore(engine), CertificateStore(engine, conf))
    return ApplianceManager(services, engine, group_lock)
