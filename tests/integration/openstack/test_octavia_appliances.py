"""Driver-managed appliances end to end: the Octavia API, its driver-agent and our worker,
on real Keystone, Neutron and Nova (``openstack_rig``).

A tenant creates load balancers through the Octavia v2 API with a flavor whose profile asks
for ``deployment: appliance``. Octavia allocates the VIP port in Neutron (its
``allowed_address_pairs_driver``), the provider casts to the worker, the worker boots LoxiLB
appliances through Nova, gives their VIP-network ports the VIP as an allowed address pair,
converges the rules over mutual TLS and reports ACTIVE through the driver-agent; deleting the
load balancer destroys the appliances and Octavia deallocates its VIP port. Traffic goes
client → VIP → member on loopback throughout.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.backends import TcpBackend
from rig.openstack import octavia_link
from rig.openstack.tenant_lbs import LB, TenantLBs, served, wait_for
from rig.stack import LocalStack

pytestmark = pytest.mark.timeout(900)



class Cloud(TenantLBs):
    """The tenant's view (``TenantLBs``) plus what only these tests look at."""

    def vip_pair_holders(self, vip_address: str) -> set[str]:
        """Servers whose VIP-network port lets ``vip_address`` through (ARP mode)."""
        return {p.device_id for p in self.conn.network.ports(network_id=self.vip.network_id)
                if any(a["ip_address"] == vip_address for a in p.allowed_address_pairs)}

    def manage(self, *args: str) -> str:
        manage = Path(sys.executable).parent / "octavia-loxilb-manage"
        done = subprocess.run([str(manage), "--config-file", str(self.stack.conf_path), *args],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def cloud(openstack_rig: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    stack = LocalStack(tmp_path_factory.mktemp("octavia-on-openstack"),
                       loxilb={"appliance_health_interval": 1.0},
                       extra_config=octavia_link.sections(openstack_rig))
    stack.start()
    built = Cloud(openstack_rig, stack)
    try:
        yield built
    finally:
        built.close()
        stack.stop()


@pytest.fixture(scope="module")
def single(cloud: Cloud) -> str:
    return cloud.flavor(deployment="appliance", topology="SINGLE")


def test_flavor_profiles_are_validated_by_the_provider(cloud: Cloud) -> None:
    caps = cloud.octavia.request("GET", "/lbaas/providers/loxilb/flavor_capabilities")
    names = {c["name"] for c in caps["flavor_capabilities"]}
    assert {"deployment", "topology"} <= names
    refused = cloud.octavia.rejected("POST", "/lbaas/flavorprofiles", {"flavorprofile": {
        "name": "aa", "provider_name": "loxilb",
        "flavor_data": json.dumps({"deployment": "appliance", "topology": "ACTIVE_ACTIVE"})}})
    # Octavia answers a provider's UnsupportedOptionError with 501 and its message.
    assert refused.status == 501 and "ACTIVE_ACTIVE" in refused.body


def test_single_appliance_lb_through_the_octavia_api(cloud: Cloud, single: str) -> None:
    before = cloud.counts()
    member_ip, second_ip = cloud.address(60), cloud.address(60, "member1")
    with TcpBackend(member_ip, 9000, "b1").start(), \
            TcpBackend(second_ip, 9001, "m1").start():
        began = time.monotonic()
        lb = cloud.create_lb(210, single)
        print(f"SINGLE appliance LB created through Octavia in {time.monotonic() - began:.1f}s")
        vip = lb["vip_address"]
        vip_port = cloud.conn.network.get_port(lb["vip_port_id"])
        assert vip_port.device_owner == "Octavia"
        assert [ip["ip_address"] for ip in vip_port.fixed_ips] == [vip]
        appliances = cloud.appliances(lb["id"])
        assert len(appliances) == 1
        [server_id] = appliances
        assert cloud.conn.compute.get_server(server_id).status == "ACTIVE"
        assert cloud.vip_pair_holders(vip) == {server_id}

        pool_id, _ = cloud.serve(lb, member_ip, 9000)
        assert served(vip, "b1")

        member2 = cloud.octavia.create_member(lb["id"], pool_id, second_ip, 9001,
                                              subnet_id=cloud.rig.network("member1").subnet_id)
        server_ports = {p.network_id for p in cloud.conn.network.ports(device_id=server_id)}
        assert cloud.rig.network("member1").network_id in server_ports
        wait_for(lambda: served(vip, "m1"), "traffic to the member on the second subnet")
        cloud.octavia.request("DELETE", f"/lbaas/pools/{pool_id}/members/{member2['id']}")
        cloud.octavia.wait_mutable(lb["id"])
        server_ports = {p.network_id for p in cloud.conn.network.ports(device_id=server_id)}
        assert cloud.rig.network("member1").network_id not in server_ports

        cloud.octavia.request("PUT", f"{LB}/{lb['id']}/failover")
        cloud.octavia.wait_mutable(lb["id"])
        assert served(vip, "b1")
        cloud.delete_lb(lb["id"])
    wait_for(lambda: cloud.counts() == before, "servers, ports and groups all gone")
    assert cloud.appliances(lb["id"]) == {}


def test_active_standby_takes_over_through_the_worker(cloud: Cloud) -> None:
    before = cloud.counts()
    flavor = cloud.flavor(deployment="appliance", topology="ACTIVE_STANDBY")
    member_ip = cloud.address(61)
    with TcpBackend(member_ip, 9000, "b1").start():
        lb = cloud.create_lb(211, flavor)
        cloud.serve(lb, member_ip, 9000)
        vip = lb["vip_address"]
        assert served(vip, "b1")
        roles = {a["role"]: s for s, a in cloud.appliances(lb["id"]).items()}
        assert set(roles) == {"MASTER", "BACKUP"}
        hosts = {cloud.conn.compute.get_server(s).compute_host for s in roles.values()}
        assert len(hosts) == 2, "anti-affinity puts the pair on two hosts"
        assert cloud.vip_pair_holders(vip) == set(roles.values())

        killed = time.monotonic()
        cloud.rig.kill_appliance(roles["MASTER"])
        takeover = wait_for(lambda: served(vip, "b1"), "traffic through the standby")
        print(f"A/S through the worker: traffic back {takeover:.2f}s after the MASTER died "
              "(health interval 1 s)")

        wait_for(lambda: cloud.pair_in_service(lb["id"]), "the dead appliance rebuilt as BACKUP",
                 timeout=180)
        print(f"A/S: dead appliance rebuilt and rejoined {time.monotonic() - killed:.1f}s "
              "after it died")
        assert served(vip, "b1")
        got = cloud.octavia.get(f"{LB}/{lb['id']}", "loadbalancer")
        assert got is not None and got["provisioning_status"] == "ACTIVE"
        cloud.delete_lb(lb["id"])
    wait_for(lambda: cloud.counts() == before, "servers, ports and groups all gone")


def test_a_failed_boot_ends_error_and_leaves_only_octavias_vip_port(cloud: Cloud) -> None:
    before = cloud.counts()
    broken = cloud.flavor(deployment="appliance", image=str(uuid.uuid4()))
    lb = cloud.create_lb(212, broken, status="ERROR")
    after = cloud.counts()
    assert after == dict(before, ports=before["ports"] + 1), "only Octavia's VIP port is left"
    assert cloud.appliances(lb["id"]) == {}
    cloud.delete_lb(lb["id"])
    wait_for(lambda: cloud.counts() == before, "Octavia's VIP port deallocated")


def test_two_lbs_share_one_appliance_group_and_survive_its_death(
        cloud: Cloud, single: str) -> None:
    before = cloud.counts()
    ips = cloud.address(62), cloud.address(63)
    with TcpBackend(ips[0], 9000, "s1").start(), TcpBackend(ips[1], 9000, "s2").start():
        first, second = cloud.create_lb(213, single), cloud.create_lb(214, single)
        cloud.serve(first, ips[0], 9000)
        cloud.serve(second, ips[1], 9000)
        [server] = cloud.appliances(first["id"])
        assert set(cloud.appliances(second["id"])) == {server}
        assert cloud.counts()["servers"] == before["servers"] + 1

        killed = time.monotonic()
        cloud.rig.kill_appliance(server)
        wait_for(lambda: served(first["vip_address"], "s1")
                 and served(second["vip_address"], "s2"),
                 "both load balancers replayed on the rebuilt appliance", timeout=180)
        print(f"SINGLE appliance of two LBs killed: rebuilt and both replayed "
              f"{time.monotonic() - killed:.1f}s later")
        assert len(cloud.appliances(first["id"])) == 1
        assert cloud.counts()["servers"] == before["servers"] + 1
        cloud.delete_lb(first["id"])
        assert served(second["vip_address"], "s2")
        assert not served(first["vip_address"], "s1")
        assert cloud.counts()["servers"] == before["servers"] + 1
        cloud.delete_lb(second["id"])
    wait_for(lambda: cloud.counts() == before, "the shared group destroyed with its last LB")


def test_topology_change_through_manage_and_failover(cloud: Cloud, single: str) -> None:
    before = cloud.counts()
    member_ip = cloud.address(64)
    with TcpBackend(member_ip, 9000, "t1").start():
        lb = cloud.create_lb(215, single)
        cloud.serve(lb, member_ip, 9000)
        vip = lb["vip_address"]
        [single_server] = cloud.appliances(lb["id"])
        assert served(vip, "t1")

        out = cloud.manage("lb", "topology", lb["id"], "ACTIVE_STANDBY")
        assert "failover" in out
        began = time.monotonic()
        cloud.octavia.request("PUT", f"{LB}/{lb['id']}/failover")
        cloud.octavia.wait_mutable(lb["id"])
        print(f"SINGLE -> ACTIVE_STANDBY through failover: {time.monotonic() - began:.1f}s")
        pair = cloud.appliances(lb["id"])
        assert sorted(a["role"] for a in pair.values()) == ["BACKUP", "MASTER"]
        assert single_server not in pair
        assert cloud.vip_pair_holders(vip) == set(pair)
        assert served(vip, "t1")

        cloud.manage("lb", "topology", lb["id"], "flavor")
        cloud.octavia.request("PUT", f"{LB}/{lb['id']}/failover")
        cloud.octavia.wait_mutable(lb["id"])
        back = cloud.appliances(lb["id"])
        assert len(back) == 1 and not set(back) & set(pair)
        assert cloud.vip_pair_holders(vip) == set(back)
        assert served(vip, "t1")
        cloud.delete_lb(lb["id"])
    wait_for(lambda: cloud.counts() == before, "every appliance of both topologies gone")


def test_topology_command_refuses_a_cluster_load_balancer(cloud: Cloud) -> None:
    manage = Path(sys.executable).parent / "octavia-loxilb-manage"
    done = subprocess.run([str(manage), "--config-file", str(cloud.stack.conf_path), "lb",
                           "topology", str(uuid.uuid4()), "ACTIVE_STANDBY"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and "not on driver-managed appliances" in done.stdout
