"""Per-appliance tasks: record, ports, certificate, boot, readiness, interfaces and routes.

Tasks are built per appliance index; their inputs and outputs carry the index in their
names (``appliance_id_0``...) so the appliances of one group flow side by side.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import Any

from taskflow import task

from octavia_loxilb.appliance import network_config, readiness, userdata
from octavia_loxilb.appliance import store as records
from octavia_loxilb.appliance.certs import Issued
from octavia_loxilb.appliance.groups import ApplianceSpec
from octavia_loxilb.appliance.services import Services

LOG = logging.getLogger(__name__)

MANAGEMENT = "management"
VIP = "vip"
MEMBER = "member"


_PER_APPLIANCE = ("appliance_id", "server_cert", "boot_started")


class _ApplianceTask(task.Task):
    """A task of appliance ``index``: its per-appliance inputs (``appliance_id``,
    ``server_cert``) are rebound to ``<name>_<index>``, and so is what it provides."""

    def __init__(self, index: int, provides: str | None = None) -> None:
        self.index = index
        arguments = inspect.signature(self.execute).parameters
        rebind = {n: f"{n}_{index}" for n in _PER_APPLIANCE if n in arguments}
        super().__init__(name=f"{type(self).__name__}-{index}",
                         provides=f"{provides}_{index}" if provides else None,
                         rebind=rebind)


class CreateApplianceRecord(task.Task):
    """The appliance's row (BUILDING), owner of its ports, certificate and server."""

    def __init__(self, index: int, role: str | None) -> None:
        self.role = role
        super().__init__(name=f"CreateApplianceRecord-{index}",
                         provides=f"appliance_id_{index}")

    def execute(self, services: Services, group_id: str) -> str:
        return services.store.create_appliance(group_id, self.role)

    def revert(self, services: Services, result: Any, **kwargs: Any) -> None:
        if isinstance(result, str):
            services.store.delete_appliance(result)


class CreatePorts(_ApplianceTask):
    """A management port and a port on the VIP network, made before boot so their MACs and
    addresses are known to the user data and the server certificate."""

    def execute(self, services: Services, appliance_id: str, spec: ApplianceSpec,
                vip_subnet_id: str | None, security_group_id: str, group_id: str) -> None:
        management = self._port(services, appliance_id, MANAGEMENT,
                                services.opts.management_network_id, None, security_group_id)
        services.store.update_appliance(appliance_id,
                                        management_address=management.ip_address)
        group = services.store.group(group_id)
        assert group is not None and group.data_security_group_id
        self._port(services, appliance_id, VIP, spec.vip_network_id, vip_subnet_id,
                   group.data_security_group_id)

    @staticmethod
    def _port(services: Services, appliance_id: str, purpose: str, network_id: str,
              subnet_id: str | None, security_group_id: str) -> records.PortRecord:
        port = services.cloud.create_port(f"loxilb-appliance-{appliance_id}-{purpose}",
                                          network_id, subnet_id, [security_group_id])
        record = records.PortRecord(port.id, appliance_id, purpose, port.network_id,
                                    port.subnet_id, port.mac_address, port.ip_address,
                                    port.prefix_length)
        services.store.add_port(record)
        return record

    def revert(self, services: Services, appliance_id: str, **kwargs: Any) -> None:
        appliance = services.store.appliance(appliance_id)
        for port in appliance.ports if appliance else ():
            services.cloud.delete_port(port.port_id)
            services.store.delete_port(port.port_id)


class IssueServerCertificate(_ApplianceTask):
    """The appliance's own TLS server certificate for its management address."""

    def __init__(self, index: int) -> None:
        super().__init__(index, provides="server_cert")

    def execute(self, services: Services, appliance_id: str) -> Issued:
        appliance = services.store.appliance(appliance_id)
        assert appliance is not None and appliance.management_address
        issued = services.certs.issue_server(appliance_id, appliance.management_address)
        services.store.update_appliance(appliance_id, cert_serial=issued.serial)
        return issued

    def revert(self, services: Services, appliance_id: str, **kwargs: Any) -> None:
        appliance = services.store.appliance(appliance_id)
        if appliance is not None and appliance.cert_serial:
            services.certs.revoke(appliance.cert_serial)
            services.store.update_appliance(appliance_id, cert_serial=None)


def _boot(services: Services, appliance_id: str, index: int, spec: ApplianceSpec,
          server_cert: Issued, server_group_id: str | None, group_id: str) -> str:
    """Ask Nova for the appliance's server with its ports and user data; its id. A rebuilt
    appliance boots with its member ports as well (they outlive the dead server)."""
    appliance = services.store.appliance(appliance_id)
    assert appliance is not None
    ports = [p for purpose in (MANAGEMENT, VIP, MEMBER) for p in appliance.ports_for(purpose)]
    macs = [p.mac_address or "" for p in ports]
    peers = tuple(a.management_address or "" for a in services.store.appliances(group_id)
                  if a.id != appliance_id)
    ha = userdata.HASettings("llb-inst0", peers, index) if peers else None
    document = userdata.render(
        api_port=services.opts.api_port,
        management_network_id=services.opts.management_network_id,
        server=server_cert, client_ca_pem=services.certs.ca().cert_pem,
        interfaces=userdata.interface_names(macs), ha=ha)
    server_id = services.cloud.boot_server(
        f"loxilb-appliance-{appliance_id}", spec.image, spec.compute_flavor,
        [p.port_id for p in ports], document, server_group_id, spec.availability_zone)
    services.store.update_appliance(appliance_id, server_id=server_id)
    return server_id


def _delete_server(services: Services, appliance_id: str) -> None:
    appliance = services.store.appliance(appliance_id)
    if appliance is not None and appliance.server_id:
        services.cloud.delete_server(appliance.server_id)
        services.store.update_appliance(appliance_id, server_id=None)


class PlaceServer(_ApplianceTask):
    """Boot the server and, in an anti-affinity server group, wait until Nova has put it on
    a host; returns when the boot started.

    The members of one group are placed one after the other: Nova's scheduler counts a
    member's host only once its compute has claimed it, so two members scheduled at once
    can land on one host, which the compute's late check then refuses ("Anti-affinity
    instance group policy was violated"); with few hosts the reschedule finds none. Once
    placed, the boots proceed side by side (``WaitServerActive``). A rebuild uses the same
    pair of tasks for its one appliance."""

    def execute(self, services: Services, appliance_id: str, spec: ApplianceSpec,
                server_cert: Issued, server_group_id: str | None,
                group_id: str) -> float:
        started = time.monotonic()
        server_id = _boot(services, appliance_id, self.index, spec, server_cert,
                          server_group_id, group_id)
        if server_group_id:
            services.cloud.wait_server_placed(server_id, services.opts.boot_timeout,
                                              services.opts.poll_interval)
        return started

    def revert(self, services: Services, appliance_id: str, **kwargs: Any) -> None:
        _delete_server(services, appliance_id)


class WaitServerActive(_ApplianceTask):
    """Wait for the server ``PlaceServer`` booted to be ACTIVE; the boot's seconds."""

    def execute(self, services: Services, appliance_id: str, boot_started: float) -> float:
        appliance = services.store.appliance(appliance_id)
        assert appliance is not None and appliance.server_id
        services.cloud.wait_server_active(appliance.server_id, services.opts.boot_timeout,
                                          services.opts.poll_interval)
        return time.monotonic() - boot_started


class WaitReady(_ApplianceTask):
    """Ping, then the API over mutual TLS, each within its own timeout."""

    def execute(self, services: Services, appliance_id: str) -> float:
        appliance = services.store.appliance(appliance_id)
        assert appliance is not None and appliance.management_address
        opts = services.opts
        started = time.monotonic()
        if opts.ping_check:
            readiness.wait_ping(appliance.management_address, opts.ping_timeout,
                                opts.poll_interval, services.sleep)
        readiness.wait_api(services.client(appliance.management_address), opts.api_timeout,
                           opts.poll_interval, services.sleep)
        return time.monotonic() - started

    def revert(self, services: Services, appliance_id: str, **kwargs: Any) -> None:
        appliance = services.store.appliance(appliance_id)
        if appliance is not None and appliance.management_address:
            services.forget_client(appliance.management_address)


def data_port_routes(services: Services,
                     port: records.PortRecord) -> list[tuple[str, str]]:
    """The routes a data port brings from its Neutron subnet (``network_config.port_routes``):
    its host routes and, for the VIP port, the default via its gateway
    (``vip_default_route``)."""
    if not port.subnet_id or not port.cidr:
        return []
    subnet = services.cloud.get_subnet(port.subnet_id)
    default = port.purpose == VIP and bool(services.opts.vip_default_route)
    return network_config.port_routes(subnet, port.cidr, default)


class ConfigureInterfaces(_ApplianceTask):
    """Each data port's address on the interface with its MAC, then the routes its subnet
    brings; returns what it added, which is all its revert removes."""

    def execute(self, services: Services,
                appliance_id: str) -> list[network_config.ConfiguredPort]:
        appliance = services.store.appliance(appliance_id)
        assert appliance is not None and appliance.management_address
        client = services.client(appliance.management_address)
        done: list[network_config.ConfiguredPort] = []
        try:
            for port in appliance.ports:
                if port.purpose == MANAGEMENT or not port.cidr or not port.mac_address:
                    continue
                routes = data_port_routes(services, port)
                done.append(network_config.configure_port(client, port.mac_address,
                                                          port.cidr, routes))
        except Exception:
            for configured in reversed(done):
                network_config.unconfigure_port(client, configured)
            raise
        return done

    def revert(self, services: Services, appliance_id: str, result: Any,
               **kwargs: Any) -> None:
        appliance = services.store.appliance(appliance_id)
        if not isinstance(result, list) or appliance is None:
            return
        client = services.client(appliance.management_address or "")
        for configured in reversed(result):
            network_config.unconfigure_port(client, configured)
