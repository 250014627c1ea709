"""The appliance lifecycle as TaskFlow flows: create a group, attach a load balancer to it,
destroy a group. A failed create or attach reverts every completed task in reverse order.
"""

from __future__ import annotations

from typing import Any

import taskflow.engines
from taskflow.patterns import linear_flow, unordered_flow

from octavia_loxilb.appliance import topology
from octavia_loxilb.appliance.groups import ApplianceSpec
from octavia_loxilb.appliance.services import Services
from octavia_loxilb.appliance.tasks import appliance, destroy, group, ha, network


def create_group_flow(spec: ApplianceSpec) -> linear_flow.Flow:
    """Records → security group → server group → per appliance: record, ports,
    certificate → boot each, one placed on its host before the next is asked for → every
    appliance at once: ACTIVE, ready (ping, then mTLS API), interfaces → HA → publish the
    group's nodes.

    The appliances come up side by side (an unordered flow run by the parallel engine), so
    an ACTIVE_STANDBY pair takes about one Nova boot, not two; their ports and addresses are
    all made before, so each one's user data already names its peer."""
    roles = topology.roles(spec.topology)
    flow = linear_flow.Flow("create-appliance-group")
    flow.add(group.ReserveGroup(), group.CreateSecurityGroup(), group.CreateServerGroup())
    for index, role in enumerate(roles):
        flow.add(appliance.CreateApplianceRecord(index, role), appliance.CreatePorts(index),
                 appliance.IssueServerCertificate(index))
    for index in range(len(roles)):
        flow.add(appliance.PlaceServer(index, provides="boot_started"))
    bring_up = unordered_flow.Flow("bring-up-appliances")
    for index in range(len(roles)):
        bring_up.add(linear_flow.Flow(f"bring-up-appliance-{index}").add(
            appliance.WaitServerActive(index, provides="boot_seconds"),
            appliance.WaitReady(index, provides="ready_seconds"),
            appliance.ConfigureInterfaces(index)))
    flow.add(bring_up, ha.ConfigureHA(), group.ActivateGroup())
    return flow


def attach_flow() -> linear_flow.Flow:
    """A load balancer on a ready group: its VIP on the appliance ports, its member
    networks attached."""
    flow = linear_flow.Flow("attach-loadbalancer")
    flow.add(network.AddVIPAddressPairs(), network.AttachMemberNetworks())
    return flow


def destroy_group_flow() -> linear_flow.Flow:
    flow = linear_flow.Flow("destroy-appliance-group")
    flow.add(destroy.MarkGroupDeleting(), destroy.DeleteServers(), destroy.DeletePorts(),
             destroy.RevokeCertificates(), destroy.DeleteGroupResources(),
             destroy.DeleteGroupRecords())
    return flow


def run(flow: linear_flow.Flow, store: dict[str, Any], parallel: int = 0) -> dict[str, Any]:
    """Run a flow to completion, serially in this thread or, with ``parallel`` > 1, its
    unordered parts on that many threads; raises the first failure after every completed
    task was reverted."""
    if parallel > 1:
        engine = taskflow.engines.load(flow, store=store, engine="parallel",
                                       max_workers=parallel)
    else:
        engine = taskflow.engines.load(flow, store=store, engine="serial")
    engine.run()
    return dict(engine.storage.fetch_all())


def create_group(services: Services, spec: ApplianceSpec, shared: bool,
                 vip_subnet_id: str | None) -> dict[str, Any]:
    """Build a new appliance group; its results include ``group_id``."""
    return run(create_group_flow(spec), {"services": services, "spec": spec,
                                         "shared": shared, "vip_subnet_id": vip_subnet_id},
               parallel=len(topology.roles(spec.topology)))


def attach(services: Services, group_id: str, vip_address: str) -> dict[str, Any]:
    return run(attach_flow(), {"services": services, "group_id": group_id,
                               "vip_address": vip_address})


def destroy_group(services: Services, group_id: str) -> None:
    run(destroy_group_flow(), {"services": services, "group_id": group_id})
