"""Which LoxiLB group hosts a load balancer, and the node clients to reach it.

A load balancer is placed once, on first sight, and the decision is stored so every later job
(on any worker) converges the same group. Today every load balancer goes to the default
group: the operator-run cluster of ``[loxilb] api_endpoints`` (kind ``external``). Groups of
kind ``appliance`` (driver-booted VMs, chosen by flavor) fit the same records: a group has a
kind, a topology and nodes; ``appliance/manager.py`` builds them and places load balancers on
them, and their nodes are reached over mutual TLS with the driver's client certificate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from octavia_loxilb.db import api as db_api
from octavia_loxilb.db.session import session_scope
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.interface import LoxiLBNodeAPI
from octavia_loxilb.loxilb.transport import NodeConfig

LOG = logging.getLogger(__name__)


class PlacementError(Exception):
    """The load balancer cannot be placed or its group cannot be reached."""


class Placer:
    """Placement decisions over the driver's database, plus cached node clients."""

    def __init__(self, engine: sa.Engine, conf: Any) -> None:
        self.engine = engine
        self.conf = conf
        self._clients: dict[str, LoxiLBClient] = {}
        self._clients_lock = threading.Lock()
        self._default_synced = False
        self._appliance_certs: Any = None

    def default_group(self) -> db_api.Group:
        """The operator-run cluster's group, its nodes kept equal to ``api_endpoints``."""
        name = self.conf.loxilb.default_group_name
        urls = list(self.conf.loxilb.api_endpoints)
        for _ in range(2):
            try:
                with session_scope(self.engine) as session:
                    group = db_api.get_group_by_name(session, name)
                    if group is None:
                        return db_api.create_group(
                            session, name, "external",
                            self.conf.loxilb.default_group_topology, urls)
                    if group.kind != "external":
                        raise PlacementError(f"group {name!r} is not an external group")
                    if not self._default_synced or sorted(
                            n.api_url for n in group.nodes) != sorted(urls):
                        group = db_api.set_group_nodes(session, group.id, urls)
                        self._default_synced = True
                    return group
            except (db_api.DuplicateGroup, sa.exc.IntegrityError):
                LOG.info("Another worker created group %s at the same time; re-reading", name)
        raise PlacementError(f"could not create or read group {name!r}")

    def place(self, loadbalancer_id: str, vip_address: str | None) -> db_api.Group:
        """The group hosting the load balancer, placing it on the default group if new.

        Callers hold the load balancer's lock, so no other worker places it concurrently.
        """
        with session_scope(self.engine) as session:
            placement = db_api.get_placement(session, loadbalancer_id)
            if placement is not None:
                if placement.vip_address != vip_address:
                    placement = db_api.update_placement_vip(session, loadbalancer_id,
                                                            vip_address)
                if placement.group.kind == "external" and placement.group.name == (
                        self.conf.loxilb.default_group_name):
                    return self.default_group()
                return placement.group
        group = self.default_group()
        with session_scope(self.engine) as session:
            db_api.create_placement(session, loadbalancer_id, group.id, vip_address)
        LOG.info("Placed load balancer %s on LoxiLB group %s", loadbalancer_id, group.name)
        return group

    def placed_group(self, loadbalancer_id: str) -> db_api.Group | None:
        """Where the load balancer lives, without placing it."""
        with session_scope(self.engine) as session:
            placement = db_api.get_placement(session, loadbalancer_id)
        return placement.group if placement else None

    def forget(self, loadbalancer_id: str) -> None:
        """Drop the placement of a deleted load balancer."""
        with session_scope(self.engine) as session:
            db_api.delete_placement(session, loadbalancer_id)

    def nodes(self, group: db_api.Group) -> Sequence[LoxiLBNodeAPI]:
        """Clients for the group's nodes (shared between jobs: they pool connections)."""
        if group.kind not in ("external", "appliance"):
            raise PlacementError(f"group {group.name} of kind {group.kind} is not supported")
        if not group.nodes:
            raise PlacementError(f"group {group.name} has no nodes")
        with self._clients_lock:
            clients = []
            for node in group.nodes:
                client = self._clients.get(node.api_url)
                if client is None:
                    client = LoxiLBClient(self._node_config(group, node.api_url))
                    self._clients[node.api_url] = client
                clients.append(client)
            return clients

    def _node_config(self, group: db_api.Group, url: str) -> NodeConfig:
        """External nodes use the ``[loxilb]`` client options; appliances mutual TLS with
        the driver's client certificate from its CA (``appliance/cert_store.py``)."""
        if group.kind != "appliance":
            return NodeConfig.from_conf(self.conf, url)
        from octavia_loxilb.appliance.cert_store import CertificateStore
        from octavia_loxilb.appliance.services import appliance_node_config

        if self._appliance_certs is None:
            self._appliance_certs = CertificateStore(self.engine, self.conf)
        return appliance_node_config(self.conf, self._appliance_certs, url)

    def close(self) -> None:
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
