"""The OpenStack rig: real Keystone/Neutron/Nova/Glance/Placement and emulated appliances.

An appliance server is booted the way the driver boots one (pre-created management port,
certificates for its address, user data per doc/appliance-user-data.md); the emulator that
the rig's virt driver starts must then answer only over mutual TLS at the port's address, with
the certificate from the user data, reporting the server's Neutron ports by MAC and following
interface attach/detach and delete.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.openstack.conftest import MiniCA

API_PORT = 8091
BOOT_TIMEOUT = 60.0


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _active(conn: Any, server: Any) -> Any:
    return conn.compute.wait_for_server(server, status="ACTIVE", wait=BOOT_TIMEOUT,
                                        interval=0.5)


class Appliance:
    """A booted appliance server and a mutual-TLS client for its emulated LoxiLB API."""

    def __init__(self, rig: Any, ca: MiniCA, tmp: Path, name: str) -> None:
        self.rig, self.conn = rig, rig.connection("admin")
        mgmt = rig.network("mgmt")
        self.port = self.conn.network.create_port(network_id=mgmt.network_id, name=name)
        self.address = self.port.fixed_ips[0]["ip_address"]
        server_cert = ca.issue(name, ip=self.address)
        self.client = ca.issue("octavia-loxilb-driver", client=True).write(tmp, "client")
        self.ca_file = str(tmp / "ca.pem")
        Path(self.ca_file).write_text(ca.cert_pem)
        self.server_cert_pem = server_cert.cert_pem
        user_data = {"loxilb_appliance": 1, "api_port": API_PORT,
                     "management_network_id": mgmt.network_id,
                     "tls": {"cert": server_cert.cert_pem, "key": server_cert.key_pem,
                             "client_ca": ca.cert_pem}}
        self.server = self.conn.compute.create_server(
            name=name, image_id=rig.image_id, flavor_id=rig.flavor_id,
            networks=[{"port": self.port.id}],
            user_data=_b64("#cloud-config\n" + json.dumps(user_data)))

    @property
    def base(self) -> str:
        return f"https://{self.address}:{API_PORT}/netlox/v1"

    def get(self, path: str, cert: tuple[str, str] | None = None) -> Any:
        resp = requests.get(self.base + path, cert=cert or self.client, verify=self.ca_file,
                            timeout=5)
        resp.raise_for_status()
        return resp.json()

    def answers(self) -> bool:
        try:
            self.get("/version")
            return True
        except (requests.ConnectionError, requests.HTTPError):
            return False

    def macs(self) -> dict[str, str]:
        return {p["portHardwareInformation"]["macAddress"]: p["portName"]
                for p in self.get("/config/port/all")["portAttr"]}

    def delete(self) -> None:
        self.conn.compute.delete_server(self.server, ignore_missing=True)
        self.conn.compute.wait_for_delete(self.server, wait=BOOT_TIMEOUT)
        self.conn.network.delete_port(self.port, ignore_missing=True)


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def appliance(openstack_rig: Any, appliance_pki: dict[str, MiniCA],
              tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Appliance]:
    node = Appliance(openstack_rig, appliance_pki["driver"], tmp_path, request.node.name[:40])
    try:
        node.server = _active(node.conn, node.server)
        _wait(node.answers, 30, f"appliance API at {node.base}\n{openstack_rig.logs_tail(10)}")
        yield node
    finally:
        node.delete()


def test_rig_has_catalog_image_flavor_and_loopback_networks(openstack_rig: Any) -> None:
    admin = openstack_rig.connection("admin")
    types = {s.type for s in admin.identity.services()}
    assert {"identity", "compute", "network", "image", "placement"} <= types
    image = admin.image.find_image("loxilb-appliance")
    assert image is not None and image.status == "active" and image.size == 1024
    assert admin.compute.find_flavor("loxilb.small") is not None
    octet = openstack_rig.third_octet
    for key, second in (("mgmt", 42), ("vip", 43), ("member1", 44), ("member2", 45)):
        subnet = admin.network.get_subnet(openstack_rig.network(key).subnet_id)
        assert subnet.cidr == f"127.{second}.{octet}.0/24"
        assert subnet.is_dhcp_enabled is False
    hosts = {h.name for h in admin.compute.hypervisors()}
    assert hosts >= {"compute1", "compute2"}

    tenant = openstack_rig.connection("tenant")
    assert openstack_rig.network("vip").network_id in {n.id for n in tenant.network.networks()}
    assert tenant.current_project_id == openstack_rig.tenant_project_id


def test_appliance_serves_mutual_tls_with_the_user_data_certificate(
        appliance: Appliance, appliance_pki: dict[str, MiniCA], tmp_path: Path) -> None:
    assert appliance.get("/version")
    served = ssl.get_server_certificate((appliance.address, API_PORT))
    assert served.strip() == appliance.server_cert_pem.strip()

    with pytest.raises(requests.exceptions.RequestException):
        requests.get(appliance.base + "/version", verify=appliance.ca_file, timeout=5)
    stranger = appliance_pki["stranger"].issue("intruder", client=True).write(tmp_path, "x")
    with pytest.raises(requests.exceptions.RequestException):
        appliance.get("/version", cert=stranger)


def test_appliance_reports_ports_by_mac_and_follows_interface_attach_and_detach(
        appliance: Appliance, openstack_rig: Any) -> None:
    conn = appliance.conn
    assert appliance.macs() == {appliance.port.mac_address: "eth0"}

    member = openstack_rig.network("member1")
    attached = conn.compute.create_server_interface(appliance.server, net_id=member.network_id)
    new_mac = attached.mac_addr
    _wait(lambda: new_mac in appliance.macs(), 30, "the attached port in /config/port/all")
    assert appliance.macs()[new_mac] == "eth1"
    addresses = {p["portName"]: p["portL3Information"]["IPv4Address"][0]
                 for p in appliance.get("/config/port/all")["portAttr"]}
    assert addresses["eth1"].startswith(attached.fixed_ips[0]["ip_address"] + "/24")

    conn.compute.delete_server_interface(attached, server=appliance.server)
    _wait(lambda: new_mac not in appliance.macs(), 30, "the detached port to disappear")
    assert appliance.macs() == {appliance.port.mac_address: "eth0"}


def test_deleting_the_server_stops_its_appliance(openstack_rig: Any,
                                                 appliance_pki: dict[str, MiniCA],
                                                 tmp_path: Path) -> None:
    node = Appliance(openstack_rig, appliance_pki["driver"], tmp_path, "doomed")
    try:
        node.server = _active(node.conn, node.server)
        _wait(node.answers, 30, "appliance API")
        assert openstack_rig.appliance(node.server.id) is not None
    finally:
        node.delete()
    assert openstack_rig.appliance(node.server.id) is None
    assert not node.answers()


def test_killed_appliance_stops_answering_while_nova_keeps_the_server_active(
        appliance: Appliance, openstack_rig: Any) -> None:
    openstack_rig.kill_appliance(appliance.server.id)
    _wait(lambda: not appliance.answers(), 10, "the killed appliance to stop answering")
    assert appliance.conn.compute.get_server(appliance.server.id).status == "ACTIVE"


def test_anti_affinity_group_puts_two_servers_on_two_hosts(openstack_rig: Any) -> None:
    admin = openstack_rig.connection("admin")
    group = admin.compute.create_server_group(name="aa", policy="anti-affinity")
    mgmt = openstack_rig.network("mgmt")
    servers = [admin.compute.create_server(
        name=f"aa-{i}", image_id=openstack_rig.image_id, flavor_id=openstack_rig.flavor_id,
        networks=[{"uuid": mgmt.network_id}], scheduler_hints={"group": group.id})
        for i in range(2)]
    try:
        hosts = {_active(admin, s).compute_host for s in servers}
        assert hosts == {"compute1", "compute2"}
    finally:
        for server in servers:
            admin.compute.delete_server(server, ignore_missing=True)
        for server in servers:
            admin.compute.wait_for_delete(server, wait=BOOT_TIMEOUT)
        admin.compute.delete_server_group(group, ignore_missing=True)
