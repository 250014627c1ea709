"""Appliance load balancers as a tenant sees them: Octavia's API on an ``OpenStackRig``.

What a benchmark (or test) of driver-managed appliances needs once ``rig.stack.LocalStack``
runs with ``octavia_link.sections(rig)``: appliance flavors for the loxilb provider, load
balancers created as the rig's tenant on the ``vip`` network, a TCP listener and pool to
send traffic through, and the worker's database view of which server plays which role.
Admin Nova/Neutron calls count what is left over, so a caller can wait for a deleted load
balancer's appliances to be gone before its next create.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from rig import services
from rig.backends import send_tcp
from rig.clients import sdk_connection
from rig.octavia_api import Octavia
from rig.openstack.cloud import OpenStackRig
from rig.stack import LocalStack

LB = "/lbaas/loadbalancers"
LISTENER_PORT = 8080


class TenantLBs:
    """Octavia as the rig's tenant, Nova/Neutron as admin, and the worker's database."""

    def __init__(self, rig: OpenStackRig, stack: LocalStack, timeout: float = 240.0) -> None:
        assert rig.tenant_project_id is not None, "rig not started"
        self.rig = rig
        self.stack = stack
        self.octavia = Octavia(sdk_connection(stack.api_url, rig.tenant_project_id),
                               timeout=timeout)
        self.conn = rig.connection("admin")
        self.engine = sa.create_engine(services.database_url(stack.database_name))
        self.vip = rig.network("vip")

    def address(self, host: int, key: str = "vip") -> str:
        """``host`` in the rig network ``key``'s /24."""
        return self.rig.network(key).cidr.rsplit(".", 1)[0] + f".{host}"

    def flavor(self, **metadata: Any) -> str:
        """A flavor (and its profile) for the loxilb provider with ``metadata``."""
        name = f"loxilb-{uuid.uuid4().hex[:8]}"
        profile = self.octavia.create("/lbaas/flavorprofiles", "flavorprofile", name=name,
                                      provider_name="loxilb",
                                      flavor_data=json.dumps(metadata))
        flavor = self.octavia.create("/lbaas/flavors", "flavor", name=name,
                                     flavor_profile_id=profile["id"], enabled=True)
        return str(flavor["id"])

    def post_lb(self, host: int, flavor_id: str) -> dict[str, Any]:
        """POST a load balancer with its VIP at ``host`` on the vip network; no wait."""
        return self.octavia.create(LB, "loadbalancer", name=f"lb-{host}",
                                   vip_subnet_id=self.vip.subnet_id,
                                   vip_address=self.address(host), flavor_id=flavor_id,
                                   provider="loxilb")

    def wait_lb(self, lb_id: str, status: str = "ACTIVE") -> dict[str, Any]:
        return self.octavia.wait(f"{LB}/{lb_id}", "loadbalancer", status)

    def create_lb(self, host: int, flavor_id: str, status: str = "ACTIVE") -> dict[str, Any]:
        """POST a load balancer and wait until it is ``status``."""
        return self.wait_lb(self.post_lb(host, flavor_id)["id"], status)

    def serve(self, lb: dict[str, Any], member_ip: str, member_port: int,
              subnet_id: str | None = None) -> tuple[str, str]:
        """A TCP listener on ``LISTENER_PORT`` and a pool with one member (on
        ``subnet_id`` when given); returns the pool's and the member's ids."""
        lsn = self.octavia.create_listener(lb["id"], "TCP", LISTENER_PORT)
        pool = self.octavia.create_pool(lb["id"], lsn["id"], "TCP")
        extra = {"subnet_id": subnet_id} if subnet_id else {}
        member = self.octavia.create_member(lb["id"], pool["id"], member_ip, member_port,
                                            **extra)
        return pool["id"], member["id"]

    def delete_lb(self, lb_id: str) -> None:
        self.octavia.request("DELETE", f"{LB}/{lb_id}?cascade=true")
        self.octavia.wait_gone(f"{LB}/{lb_id}", "loadbalancer")

    def servers(self) -> int:
        return len(list(self.conn.compute.servers(all_projects=True)))

    def counts(self) -> dict[str, int]:
        """What a load balancer can leave behind in Nova and Neutron, in every project."""
        return {
            "servers": self.servers(),
            "ports": len(list(self.conn.network.ports())),
            "security_groups": len([g for g in self.conn.network.security_groups()
                                    if g.name != "default"]),
            "server_groups": len(list(self.conn.compute.server_groups(all_projects=True))),
        }

    def appliances(self, lb_id: str) -> dict[str, dict[str, Any]]:
        """The worker's record of the load balancer's appliances: server id → role, status."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT a.server_id, a.role, a.status FROM appliances a "
                "JOIN lb_placements p ON p.group_id = a.group_id "
                "WHERE p.loadbalancer_id = :lb"), {"lb": lb_id}).all()
        return {r.server_id: {"role": r.role, "status": r.status} for r in rows}

    def group_of(self, lb_id: str) -> str | None:
        """The id of the appliance group the worker placed the load balancer on."""
        with self.engine.connect() as conn:
            group = conn.execute(sa.text(
                "SELECT group_id FROM lb_placements WHERE loadbalancer_id = :lb"),
                {"lb": lb_id}).scalar()
        return None if group is None else str(group)

    def answers(self, server_id: str) -> bool:
        """Whether the server's appliance accepts connections on its API port."""
        info = self.rig.appliance(server_id)
        if info is None:
            return False
        try:
            socket.create_connection((info["address"], int(info["api_port"])), 1).close()
        except OSError:
            return False
        return True

    def pair_in_service(self, lb_id: str) -> bool:
        """A MASTER and a BACKUP, both ACTIVE in the worker's records, both answering."""
        now = self.appliances(lb_id)
        return (sorted(a["role"] for a in now.values()) == ["BACKUP", "MASTER"]
                and all(a["status"] == "ACTIVE" for a in now.values())
                and all(self.answers(s) for s in now))

    def close(self) -> None:
        self.engine.dispose()
        self.conn.close()


def served(vip: str, name: str, timeout: float = 1.0) -> bool:
    """Whether ``vip``'s listener passes one request to the backend called ``name``."""
    try:
        return send_tcp(vip, LISTENER_PORT, "ping", timeout=timeout).startswith(f"{name} ping")
    except OSError:
        return False


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60.0,
             interval: float = 0.2) -> float:
    """Seconds until ``predicate`` holds, polled every ``interval``; raises on timeout."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - began
