"""An in-memory Nova/Neutron for appliance flow tests whose servers are real emulated
appliances: booting a server starts an in-process ``Emulator`` configured from the server's
user data (mutual TLS with the driver-issued certificates, interfaces by MAC), bound to the
management port's loopback address, exactly as the OpenStack rig's fake virt driver does.

Only the cloud's bookkeeping is simulated; every LoxiLB call the flows make goes over
HTTPS to a real emulator. Failures can be injected per cloud call.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import os
import pathlib
import uuid
from collections.abc import Sequence
from typing import Any

from octavia_loxilb.appliance import userdata
from octavia_loxilb.appliance.compute import CloudError, PortInfo, SubnetInfo
from octavia_loxilb.emulator.hooks import Fault
from octavia_loxilb.emulator.model import EmulatorConfig, PortSpec
from octavia_loxilb.emulator.server import Emulator

OCTET = 100 + os.getpid() % 150
"""Second octet of this process's loopback networks, so parallel runs never collide."""


@dataclasses.dataclass
class FakePort:
    info: PortInfo
    name: str
    device_id: str = ""
    allowed: list[str] = dataclasses.field(default_factory=list)
    security_groups: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class FakeServer:
    id: str
    port_ids: list[str]
    names_by_mac: dict[str, str]
    emulator: Emulator | None
    server_group_id: str | None


class FakeCloud:
    """``CloudAPI`` with loopback subnets ``127.<OCTET>.<n>.0/24`` and emulated appliances."""

    def __init__(self, workdir: pathlib.Path) -> None:
        self.workdir = workdir
        self.security_groups: dict[str, str] = {}
        self.server_groups: dict[str, bool] = {}
        self.ports: dict[str, FakePort] = {}
        self.servers: dict[str, FakeServer] = {}
        self.subnets: dict[str, SubnetInfo] = {}
        self._hosts: dict[str, itertools.count[int]] = {}
        self.fail: dict[str, int] = {}
        """Cloud call name → which call (1-based) raises ``CloudError``."""
        self.calls: dict[str, int] = {}
        self.silent_boot = False
        self.boot_events: list[tuple[str, str]] = []
        """("boot" | "placed", server id) in the order the driver asked for them."""
        """Boot servers without starting their appliance (it never answers)."""
        self.boot_faults: list[Fault] = []
        """Faults every newly booted appliance's API starts with."""
        self.booted: list[Emulator] = []
        """Every appliance started, stopped ones included (their API call logs stay)."""

    # -- set-up and inspection ---------------------------------------------------------------

    def add_subnet(self, third_octet: int, gateway: bool = True,
                   host_routes: Sequence[tuple[str, str]] = ()) -> SubnetInfo:
        """A subnet with Neutron's default gateway ``.1`` (unless ``gateway`` is false) and
        ``host_routes`` as (destination, nexthop)."""
        subnet_id = str(uuid.uuid4())
        prefix = f"127.{OCTET}.{third_octet}"
        info = SubnetInfo(subnet_id, str(uuid.uuid4()), f"{prefix}.0/24",
                          f"{prefix}.1" if gateway else None, tuple(host_routes))
        self.subnets[subnet_id] = info
        self._hosts[subnet_id] = itertools.count(10)
        return info

    def counts(self) -> dict[str, int]:
        return {"servers": len(self.servers), "ports": len(self.ports),
                "security_groups": len(self.security_groups),
                "server_groups": len(self.server_groups)}

    def stop(self) -> None:
        for server in self.servers.values():
            if server.emulator is not None:
                server.emulator.stop()

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.fail.get(name) == self.calls[name]:
            raise CloudError(f"injected failure of {name}")

    # -- CloudAPI ----------------------------------------------------------------------------

    def create_security_group(self, name: str, api_port: int, cidrs: Sequence[str]) -> str:
        self._call("create_security_group")
        group_id = str(uuid.uuid4())
        self.security_groups[group_id] = name
        return group_id

    def create_data_security_group(self, name: str) -> str:
        self._call("create_data_security_group")
        group_id = str(uuid.uuid4())
        self.security_groups[group_id] = name
        return group_id

    def delete_security_group(self, group_id: str) -> None:
        assert not any(group_id in p.security_groups for p in self.ports.values()), (
            f"security group {group_id} deleted while a port uses it")
        self.security_groups.pop(group_id, None)

    def create_server_group(self, name: str, anti_affinity: bool) -> str:
        self._call("create_server_group")
        group_id = str(uuid.uuid4())
        self.server_groups[group_id] = anti_affinity
        return group_id

    def delete_server_group(self, group_id: str) -> None:
        assert not any(s.server_group_id == group_id for s in self.servers.values())
        self.server_groups.pop(group_id, None)

    def get_subnet(self, subnet_id: str) -> SubnetInfo:
        return self.subnets[subnet_id]

    def create_port(self, name: str, network_id: str, subnet_id: str | None,
                    security_group_ids: Sequence[str]) -> PortInfo:
        self._call("create_port")
        if subnet_id is None:
            subnet_id = next(s.id for s in self.subnets.values() if s.network_id == network_id)
        subnet = self.subnets[subnet_id]
        network = ipaddress.ip_network(subnet.cidr)
        address = str(network.network_address + next(self._hosts[subnet_id]))
        port_id = str(uuid.uuid4())
        mac = "fa:16:3e:" + ":".join(port_id.replace("-", "")[i:i + 2] for i in (0, 2, 4))
        info = PortInfo(port_id, subnet.network_id, subnet_id, mac, address,
                        network.prefixlen)
        self.ports[port_id] = FakePort(info, name, security_groups=list(security_group_ids))
        return info

    def delete_port(self, port_id: str) -> None:
        port = self.ports.get(port_id)
        if port is not None and port.device_id:
            raise AssertionError(f"port {port_id} deleted while attached to {port.device_id}")
        self.ports.pop(port_id, None)

    def boot_server(self, name: str, image_id: str, flavor_id: str, port_ids: Sequence[str],
                    user_data: str, server_group_id: str | None,
                    availability_zone: str | None) -> str:
        self._call("boot_server")
        document = userdata.parse(user_data)
        server_id = str(uuid.uuid4())
        self.boot_events.append(("boot", server_id))
        names = {i["mac"]: i["name"] for i in document["interfaces"]}  # type: ignore[index]
        for port_id in port_ids:
            self.ports[port_id].device_id = server_id
        server = FakeServer(server_id, list(port_ids), names, None, server_group_id)
        self.servers[server_id] = server
        if not self.silent_boot:
            server.emulator = self._start_appliance(server, document)
        return server_id

    def _port_specs(self, server: FakeServer) -> list[PortSpec]:
        specs = []
        for index, port_id in enumerate(server.port_ids):
            info = self.ports[port_id].info
            specs.append(PortSpec(server.names_by_mac.get(info.mac_address, f"eth{index}"),
                                  info.mac_address,
                                  [f"{info.ip_address}/{info.prefix_length}"]))
        return specs

    def _start_appliance(self, server: FakeServer, document: dict[str, Any]) -> Emulator:
        tls: dict[str, str] = document["tls"]  # type: ignore[assignment]
        files = {}
        for key in ("cert", "key", "client_ca"):
            path = self.workdir / f"{server.id}-{key}.pem"
            path.write_text(tls[key])
            files[key] = str(path)
        management = self.ports[server.port_ids[0]].info.ip_address
        emulator = Emulator(EmulatorConfig(
            host=str(management), port=int(document["api_port"]),  # type: ignore[call-overload]
            tls_cert=files["cert"], tls_key=files["key"], tls_client_ca=files["client_ca"],
            ports=self._port_specs(server), datapath=False)).start()
        assert emulator.hooks is not None
        emulator.hooks.faults.extend(dataclasses.replace(f) for f in self.boot_faults)
        self.booted.append(emulator)
        return emulator

    def wait_server_active(self, server_id: str, timeout: float, interval: float) -> None:
        self._call("wait_server_active")

    def wait_server_placed(self, server_id: str, timeout: float, interval: float) -> None:
        self._call("wait_server_placed")
        self.boot_events.append(("placed", server_id))

    def delete_server(self, server_id: str) -> None:
        server = self.servers.pop(server_id, None)
        if server is None:
            return
        if server.emulator is not None:
            server.emulator.stop()
        for port_id in server.port_ids:
            if port_id in self.ports:
                self.ports[port_id].device_id = ""

    def server_exists(self, server_id: str) -> bool:
        return server_id in self.servers

    def attach_port(self, server_id: str, port_id: str) -> None:
        self._call("attach_port")
        server = self.servers[server_id]
        self.ports[port_id].device_id = server_id
        server.port_ids.append(port_id)
        if server.emulator is not None:
            server.emulator.set_ports(self._port_specs(server))

    def detach_port(self, server_id: str, port_id: str) -> None:
        server = self.servers.get(server_id)
        if server is None or port_id not in server.port_ids:
            return
        server.port_ids.remove(port_id)
        self.ports[port_id].device_id = ""
        if server.emulator is not None:
            server.emulator.set_ports(self._port_specs(server))

    def add_allowed_address(self, port_id: str, ip_address: str) -> bool:
        self._call("add_allowed_address")
        allowed = self.ports[port_id].allowed
        if ip_address in allowed:
            return False
        allowed.append(ip_address)
        return True

    def remove_allowed_address(self, port_id: str, ip_address: str) -> None:
        port = self.ports.get(port_id)
        if port is not None and ip_address in port.allowed:
            port.allowed.remove(ip_address)
