"""Nova virt driver for the rig: fake servers, and a LoxiLB emulator for each appliance server.

Nothing boots inside a fake server, so this driver plays the appliance image: when a server's
user data is an appliance document (``doc/appliance-user-data.md``) it starts the project's
``loxilb-emulator`` bound to the fixed IP Neutron gave the management port, serving mutual TLS
with the certificates from the user data and reporting one interface per Neutron port (by
MAC). Interface attach/detach rewrite the emulator's ports file and SIGHUP it; ``destroy``
stops it. Everything about a running appliance sits in ``$LOXILB_RIG_APPLIANCE_DIR/<uuid>/``
(PEMs, ``ports.json``, ``appliance.json`` with pid and address, ``emulator.log``), which is
how the rig finds and can kill an appliance behind Nova's back.

A test makes boots fail the way real appliances do through ``$LOXILB_RIG_APPLIANCE_DIR/
boot-control.json`` (written by ``OpenStackRig.boot_control``, read at every spawn): the
server goes ACTIVE without an emulator (an image that never brings its API up), or its
emulator starts with API faults armed before Nova reports the server ACTIVE. Nothing in the
server's own user data or metadata selects this, so the driver under test boots exactly as in
production.

Nova's own ``FakeDriver`` gets a random node UUID per process and writes no ``compute_id``,
so nova-compute could not restart; this subclass derives the node UUID from the host name and
writes ``compute_id`` once.

Runs inside nova-compute (OpenStack virtualenv); Nova imports it as
``nova.virt.loxilb_rig.LoxiLBApplianceDriver`` through ``rig/openstack/plugins``. The parts
that need no Nova (user-data parsing, port naming) are plain functions, tested without it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import logging
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

APPLIANCE_DIR_ENV = "LOXILB_RIG_APPLIANCE_DIR"
EMULATOR_ENV = "LOXILB_RIG_EMULATOR"
USER_DATA_VERSION = 1
DEFAULT_TLS_PORT = 8091
DEFAULT_PLAIN_PORT = 11111
NODE_NAMESPACE = uuid.UUID("6b0d3c5e-4c1e-4f0a-9a55-1f3b7c2d9e10")
BOOT_CONTROL_FILE = "boot-control.json"
FAULTS_PATH = "/_emulator/faults"
ARM_TIMEOUT = 60.0

LOG = logging.getLogger(__name__)


# -- pure helpers (no Nova) -----------------------------------------------------------------

def parse_user_data(raw: str | bytes | None) -> dict[str, Any] | None:
    """The appliance document in a server's user data, or None if it is not an appliance.

    Nova stores user data base64-encoded; plain text is accepted too. A leading
    ``#cloud-config`` line is skipped (the JSON after it is the document).
    """
    if not raw:
        return None
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = data.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("#cloud-config"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
    try:
        doc = json.loads(stripped)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("loxilb_appliance") != USER_DATA_VERSION:
        return None
    return doc


def read_boot_control(root: Path) -> dict[str, Any]:
    """What the rig wants of appliances booted now: ``silent`` (start no emulator),
    ``faults`` (hook fault bodies to arm) with ``client_tls`` ({ca, cert, key} file paths of
    a client the appliance trusts); {} when the rig asks nothing."""
    try:
        loaded = json.loads((root / BOOT_CONTROL_FILE).read_text())
    except FileNotFoundError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def vif_addresses(vif: Mapping[str, Any]) -> list[str]:
    """CIDR texts (``ip/prefix``) of a Nova VIF's fixed IPs, in subnet order."""
    found = []
    for subnet in vif.get("network", {}).get("subnets", []):
        prefix = ipaddress.ip_network(subnet["cidr"]).prefixlen
        for ip in subnet.get("ips", []):
            if ip.get("type", "fixed") == "fixed":
                found.append(f"{ip['address']}/{prefix}")
    return found


def next_port_name(taken: Iterable[str], mac: str, names_by_mac: Mapping[str, str]) -> str:
    """The user data's name for ``mac``, else the lowest free ``eth<n>``."""
    wanted = names_by_mac.get(mac.lower())
    used = set(taken)
    if wanted and wanted not in used:
        return wanted
    n = 0
    while f"eth{n}" in used:
        n += 1
    return f"eth{n}"


def names_by_mac(doc: Mapping[str, Any]) -> dict[str, str]:
    return {str(i["mac"]).lower(): str(i["name"]) for i in doc.get("interfaces", [])
            if "mac" in i and "name" in i}


def api_port(doc: Mapping[str, Any]) -> int:
    default = DEFAULT_TLS_PORT if doc.get("tls", {}).get("cert") else DEFAULT_PLAIN_PORT
    return int(doc.get("api_port", default))


def management_address(doc: Mapping[str, Any], vifs: list[Mapping[str, Any]]) -> str:
    """First fixed IPv4 of the management port (``management_network_id`` or the first)."""
    wanted = doc.get("management_network_id")
    chosen = [v for v in vifs if v.get("network", {}).get("id") == wanted] if wanted else vifs
    for vif in chosen:
        for cidr in vif_addresses(vif):
            iface = ipaddress.ip_interface(cidr)
            if iface.version == 4:
                return str(iface.ip)
    raise ValueError(f"no IPv4 fixed IP on the management port (network {wanted or 'first'})")


# -- one emulated appliance -----------------------------------------------------------------

class Appliance:
    """The emulator process of one server and the files that describe it."""

    def __init__(self, root: Path, instance_uuid: str, doc: dict[str, Any]) -> None:
        self.dir = root / instance_uuid
        self.doc = doc
        self.names_by_mac = names_by_mac(doc)
        self.ports: dict[str, dict[str, Any]] = {}  # Neutron port id -> {name, mac, addresses}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ports_file(self) -> Path:
        return self.dir / "ports.json"

    def add_vif(self, vif: Mapping[str, Any]) -> None:
        mac = str(vif["address"]).lower()
        name = next_port_name((p["name"] for p in self.ports.values()), mac, self.names_by_mac)
        self.ports[str(vif["id"])] = {"name": name, "mac": mac,
                                      "addresses": vif_addresses(vif)}

    def remove_vif(self, vif: Mapping[str, Any]) -> None:
        self.ports.pop(str(vif["id"]), None)

    def write_ports(self) -> None:
        tmp = self.ports_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(list(self.ports.values()), indent=1))
        tmp.replace(self.ports_file)

    def start(self, vifs: list[Mapping[str, Any]]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for vif in vifs:
            self.add_vif(vif)
        self.write_ports()
        address = management_address(self.doc, vifs)
        port = api_port(self.doc)
        argv = [_emulator_path(), "--listen", f"{address}:{port}",
                "--ports-file", str(self.ports_file), "--probe-tick", "1"]
        tls = self.doc.get("tls") or {}
        for key, flag in (("cert", "--tls-cert"), ("key", "--tls-key"),
                          ("client_ca", "--tls-client-ca")):
            if tls.get(key):
                path = self.dir / f"{key}.pem"
                path.write_text(tls[key])
                path.chmod(0o600)
                argv += [flag, str(path)]
        settings = self.doc.get("loxilb") or {}
        if "version" in settings:
            argv += ["--version", str(settings["version"])]
        if "wrr_slots" in settings:
            argv += ["--wrr-slots", str(int(settings["wrr_slots"]))]
        with open(self.dir / "emulator.log", "ab") as log:
            # Same process group as nova-compute: stopping nova-compute's group ends these too.
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir)
        info = {"pid": self.proc.pid, "address": address, "api_port": port,
                "scheme": "https" if tls.get("cert") else "http", "argv": argv,
                "ha": self.doc.get("ha")}
        (self.dir / "appliance.json").write_text(json.dumps(info, indent=1))
        LOG.info("appliance %s: emulator pid %d on %s:%d", self.dir.name, self.proc.pid,
                 address, port)

    def arm_faults(self, faults: list[Mapping[str, Any]], client_tls: Mapping[str, str],
                   timeout: float = ARM_TIMEOUT) -> None:
        """POST each fault to the running emulator's ``/_emulator/faults`` over its mutual
        TLS, retrying until it listens; before ``spawn`` returns, so before the server is
        ACTIVE and before any driver call can reach it."""
        info = json.loads((self.dir / "appliance.json").read_text())
        context = ssl.create_default_context(cafile=client_tls["ca"])
        context.load_cert_chain(client_tls["cert"], client_tls["key"])
        url = f"{info['scheme']}://{info['address']}:{info['api_port']}{FAULTS_PATH}"
        deadline = time.monotonic() + timeout
        for fault in faults:
            request = urllib.request.Request(url, data=json.dumps(dict(fault)).encode(),
                                             headers={"Content-Type": "application/json"},
                                             method="POST")
            while True:
                try:
                    with urllib.request.urlopen(request, timeout=5, context=context):
                        break
                except urllib.error.HTTPError:
                    raise  # the emulator answered and refused the fault: no retry helps
                except OSError:
                    if self.proc is None or self.proc.poll() is not None:
                        raise RuntimeError(f"appliance {self.dir.name}: emulator exited "
                                           "before its faults were armed") from None
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(0.1)
        LOG.info("appliance %s: %d fault(s) armed", self.dir.name, len(faults))

    def hotplug(self) -> None:
        """Tell the running emulator its NICs changed (ports file + SIGHUP)."""
        self.write_ports()
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "appliance.json").unlink()


def _emulator_path() -> str:
    path = os.environ.get(EMULATOR_ENV)
    if not path:
        raise RuntimeError(f"{EMULATOR_ENV} is not set: the rig names the project's "
                           "loxilb-emulator console script there")
    return path


def _appliance_root() -> Path:
    root = os.environ.get(APPLIANCE_DIR_ENV)
    if not root:
        raise RuntimeError(f"{APPLIANCE_DIR_ENV} is not set")
    return Path(root)


def node_uuid(nodename: str) -> str:
    """A node UUID that is the same every time this host starts (uuid5 of its name)."""
    return str(uuid.uuid5(NODE_NAMESPACE, nodename))


# -- the Nova driver ------------------------------------------------------------------------

try:
    from nova.virt import fake as _nova_fake
    from nova.virt import node as _nova_node
except ImportError:  # imported outside nova-compute (tests of the pure helpers)
    _nova_fake = None
    _nova_node = None

if _nova_fake is not None:

    class LoxiLBApplianceDriver(_nova_fake.FakeDriver):
        """``FakeDriver`` with a stable node identity and an emulated appliance per server."""

        def __init__(self, virtapi: Any, read_only: bool = False) -> None:
            super().__init__(virtapi, read_only=read_only)
            self._appliances: dict[str, Appliance] = {}

        def init_host(self, host: str) -> None:
            super().init_host(host)
            if _nova_node.read_local_node_uuid() is None:
                _nova_node.write_local_node_uuid(node_uuid(self._nodes[0]))

        def get_available_resource(self, nodename: str) -> dict[str, Any]:
            resources: dict[str, Any] = super().get_available_resource(nodename)
            if resources:
                resources["uuid"] = node_uuid(nodename)
            return resources

        def get_nodenames_by_uuid(self, refresh: bool = False) -> dict[str, str]:
            return {node_uuid(n): n for n in self.get_available_nodes()}

        def spawn(self, context: Any, instance: Any, image_meta: Any, injected_files: Any,
                  admin_password: Any, allocations: Any, network_info: Any = None,
                  block_device_info: Any = None, power_on: bool = True,
                  accel_info: Any = None) -> None:
            super().spawn(context, instance, image_meta, injected_files, admin_password,
                          allocations, network_info=network_info,
                          block_device_info=block_device_info, power_on=power_on,
                          accel_info=accel_info)
            doc = parse_user_data(instance.user_data)
            if doc is None:
                return
            control = read_boot_control(_appliance_root())
            if control.get("silent"):
                LOG.info("appliance %s: no emulator started (boot control: silent)",
                         instance.uuid)
                return
            appliance = Appliance(_appliance_root(), instance.uuid, doc)
            appliance.start(list(network_info or []))
            self._appliances[instance.uuid] = appliance
            if control.get("faults"):
                appliance.arm_faults(control["faults"], control["client_tls"])

        def destroy(self, context: Any, instance: Any, network_info: Any,
                    block_device_info: Any = None, destroy_disks: bool = True,
                    destroy_secrets: bool = True) -> None:
            appliance = self._appliances.pop(instance.uuid, None)
            if appliance is not None:
                appliance.stop()
            super().destroy(context, instance, network_info, block_device_info,
                            destroy_disks, destroy_secrets)

        def attach_interface(self, context: Any, instance: Any, image_meta: Any,
                             vif: Any) -> None:
            super().attach_interface(context, instance, image_meta, vif)
            appliance = self._appliances.get(instance.uuid)
            if appliance is not None:
                appliance.add_vif(vif)
                appliance.hotplug()

        def detach_interface(self, context: Any, instance: Any, vif: Any) -> None:
            super().detach_interface(context, instance, vif)
            appliance = self._appliances.get(instance.uuid)
            if appliance is not None:
                appliance.remove_vif(vif)
                appliance.hotplug()
