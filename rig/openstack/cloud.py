"""``OpenStackRig``: Keystone, Placement, Glance, Neutron and Nova on loopback, with appliances.

One rig owns seven MariaDB databases reached over TCP by a dedicated user, two RabbitMQ
virtual hosts (Nova's and Neutron's), free ports on 127.0.0.1 and a work directory with every
config file and log. Start order is chosen for speed on two cores: all schemas migrate in
parallel, all APIs start while Keystone is bootstrapped, and nova-compute starts only once
Placement is in the catalog (it registers its resource provider at start). Servers booted with
appliance user data get a LoxiLB emulator (``rig/openstack/fake_virt.py``).

Resources made at start: image ``loxilb-appliance`` (1 KiB raw), flavor ``loxilb.small``, a
``tenant`` project and user, and four shared loopback networks with DHCP off: ``lb-mgmt``
(127.42.x.0/24), ``lb-vip`` (127.43.x.0/24), ``lb-member-1`` and ``lb-member-2``
(127.44.x.0/24, 127.45.x.0/24), where x is ``third_octet`` (0 by default).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import openstack
import pymysql
from cryptography.fernet import Fernet

from rig import services
from rig.octavia import free_port, render_config
from rig.openstack import config as cfg
from rig.openstack import fake_virt
from rig.openstack.processes import (
    OPENSTACK_VENV,
    ProcessError,
    Processes,
    ensure_venv,
    project_emulator,
    venv_bin,
)
from rig.openstack.schema_cache import SchemaCache, cache_key

DATABASES = ("keystone", "placement", "glance", "neutron", "nova_api", "nova_cell0",
             "nova_cell1")
VHOSTS = ("nova", "neutron")
IMAGE_NAME = "loxilb-appliance"
FLAVOR_NAME = "loxilb.small"
TENANT = "tenant"
NETWORKS = {"mgmt": ("lb-mgmt", 42), "vip": ("lb-vip", 43), "member1": ("lb-member-1", 44),
            "member2": ("lb-member-2", 45)}
CATALOG = {
    "compute": ("nova", "nova-api", "/v2.1"),
    "network": ("neutron", "neutron", ""),
    "image": ("glance", "glance", ""),
    "placement": ("placement", "placement", ""),
}


class OpenStackRigError(RuntimeError):
    """The rig could not start or a request to it failed; carries the logs' tails."""


@dataclasses.dataclass(frozen=True)
class NetworkInfo:
    name: str
    network_id: str
    subnet_id: str
    cidr: str


class OpenStackRig:
    """Real OpenStack control plane for the appliance tests; a context manager."""

    def __init__(self, workdir: str | os.PathLike[str], compute_hosts: int = 2,
                 third_octet: int = 0, startup_timeout: float = 240.0) -> None:
        self.workdir = Path(workdir).resolve()
        self.compute_hosts = [f"compute{i}" for i in range(1, compute_hosts + 1)]
        self.third_octet = third_octet
        self.startup_timeout = startup_timeout
        self.name = f"osr_{uuid.uuid4().hex[:10]}"
        self.db_user = self.name
        self.db_password = secrets.token_hex(12)
        self.admin_password = secrets.token_hex(12)
        self.tenant_password = secrets.token_hex(12)
        self.service_password = secrets.token_hex(12)
        self.layout = cfg.Layout(
            workdir=self.workdir,
            name=self.name,
            admin_password=self.admin_password,
            service_password=self.service_password,
            ports={s: free_port() for s in cfg.SERVICES},
            db_urls={d: self._db_url(d) for d in DATABASES},
            transport_urls={v: services.transport_url(self._vhost(v)) for v in VHOSTS},
        )
        self.appliance_dir = self.workdir / "appliances"
        self.networks: dict[str, NetworkInfo] = {}
        self.image_id: str | None = None
        self.flavor_id: str | None = None
        self.tenant_project_id: str | None = None
        self.timings: dict[str, float] = {}
        self._procs = Processes(self.workdir / "logs", {})
        self._made_dbs: list[str] = []
        self._made_vhosts: list[str] = []
        self._db_user_made = False
        self.schemas_from_cache: bool | None = None

    # -- names ----------------------------------------------------------------------------

    def _db_name(self, short: str) -> str:
        return f"{self.name}_{short}"

    def _vhost(self, short: str) -> str:
        return f"{self.name}-{short}".replace("_", "-")

    def _db_url(self, short: str) -> str:
        return (f"mysql+pymysql://{self.db_user}:{self.db_password}@127.0.0.1:3306/"
                f"{self._db_name(short)}?charset=utf8mb4")

    # -- public ---------------------------------------------------------------------------

    @property
    def auth_url(self) -> str:
        return self.layout.auth_url

    def url(self, service: str) -> str:
        return self.layout.url(service)

    def auth(self, project: str = "admin") -> dict[str, str]:
        """openstacksdk / keystoneauth password-auth arguments.

        ``admin``: the bootstrap admin; ``tenant``: a member of project ``tenant``;
        ``service``: the user the services call each other as (roles ``admin`` and
        ``service``), the one to give another service's ``[service_auth]``.
        """
        user, password, project_name = {
            "admin": (cfg.ADMIN_USER, self.admin_password, cfg.ADMIN_PROJECT),
            "tenant": (TENANT, self.tenant_password, TENANT),
            "service": (cfg.SERVICE_USER, self.service_password, cfg.SERVICE_PROJECT),
        }[project]
        return {"auth_url": self.auth_url, "username": user, "password": password,
                "project_name": project_name,
                "user_domain_name": cfg.DOMAIN, "project_domain_name": cfg.DOMAIN}

    def connection(self, project: str = "admin") -> openstack.connection.Connection:
        """An openstacksdk connection as ``"admin"``, ``"tenant"`` or ``"service"``."""
        options: dict[str, Any] = {**self.auth(project), "region_name": cfg.REGION}
        return openstack.connect(**options)

    def network(self, key: str) -> NetworkInfo:
        """``mgmt``, ``vip``, ``member1`` or ``member2``."""
        return self.networks[key]

    def appliance(self, server_id: str) -> dict[str, Any] | None:
        """What the virt driver recorded for a server's emulator (pid, address, api_port,
        scheme), or None when the server has no running appliance."""
        path = self.appliance_dir / server_id / "appliance.json"
        try:
            info: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        info["dir"] = str(path.parent)
        return info

    def kill_appliance(self, server_id: str) -> None:
        """SIGKILL a server's emulator behind Nova's back (a dead appliance)."""
        info = self.appliance(server_id)
        if info is None:
            raise KeyError(f"server {server_id} has no appliance")
        pid = int(info["pid"])
        if _is_emulator(pid):
            os.kill(pid, signal.SIGKILL)

    @contextlib.contextmanager
    def boot_control(self, *, silent: bool = False,
                     faults: Sequence[Mapping[str, Any]] = (),
                     client_tls: tuple[str, str, str] | None = None) -> Iterator[None]:
        """Appliance servers Nova boots inside this block misbehave as the test asks.

        ``silent``: the server goes ACTIVE but no emulator starts (an appliance whose API
        never comes up). ``faults``: bodies for the emulator's ``/_emulator/faults``
        (``octavia_loxilb.emulator.hooks.Fault`` fields), armed by the virt driver before
        the server goes ACTIVE, as the client whose (CA, certificate, key) files are
        ``client_tls`` (the driver's: the appliance trusts no other).
        """
        if faults and client_tls is None:
            raise ValueError("arming faults needs client_tls the appliance trusts")
        ca, cert, key = client_tls or ("", "", "")
        control = {"silent": silent, "faults": [dict(f) for f in faults],
                   "client_tls": {"ca": ca, "cert": cert, "key": key}}
        path = self.appliance_dir / fake_virt.BOOT_CONTROL_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(control, indent=1))
        tmp.replace(path)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def start(self) -> OpenStackRig:
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began
        return self

    def stop(self) -> None:
        """End every process and emulator; drop databases, the DB user and the vhosts."""
        self._procs.stop_all()
        for info_path in self.appliance_dir.glob("*/appliance.json"):
            with contextlib.suppress(ValueError, KeyError, OSError):
                pid = int(json.loads(info_path.read_text())["pid"])
                if _is_emulator(pid):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception), _root_db() as conn, conn.cursor() as cur:
            for db in self._made_dbs:
                cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            if self._db_user_made:
                for host in ("127.0.0.1", "localhost"):
                    cur.execute(f"DROP USER IF EXISTS '{self.db_user}'@'{host}'")
        self._made_dbs.clear()
        self._db_user_made = False
        for vhost in self._made_vhosts:
            with contextlib.suppress(Exception):
                services.delete_vhost(vhost)
        self._made_vhosts.clear()

    def logs_tail(self, lines: int = 30) -> str:
        parts = [self._procs.logs_tail(lines)]
        for log in sorted(self.appliance_dir.glob("*/emulator.log")):
            parts.append(f"--- appliance {log.parent.name} ---\n"
                         + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)

    def __enter__(self) -> OpenStackRig:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"OpenStackRig({self.auth_url}, workdir={self.workdir})"

    # -- start ----------------------------------------------------------------------------

    def _timed(self, label: str, fn: Callable[[], Any]) -> Any:
        began = time.monotonic()
        result = fn()
        self.timings[label] = time.monotonic() - began
        return result

    def _start(self) -> None:
        self._timed("venv", ensure_venv)
        services.require_services(redis=False)
        for sub in ("logs", "keystone", "placement", "glance", "neutron", "nova",
                    "appliances", *self.compute_hosts):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self._timed("databases", self._make_databases)
        self._write_configs()
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            vhosts = pool.submit(self._make_vhosts)
            self._timed("schemas", self._make_schemas)
            vhosts.result()
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            bootstrap = pool.submit(self._timed, "keystone_bootstrap", self._bootstrap_keystone)
            self._start_apis()
            bootstrap.result()
        self._timed("keystone_ready", lambda: self._wait_http("keystone", "/v3"))
        admin = self.connection("admin")
        self._timed("catalog", lambda: self._make_catalog(admin))
        self._timed("apis_ready", self._wait_apis)
        self._start_nova_control()
        self._timed("resources", lambda: self._make_resources(admin))
        self._timed("conductor", lambda: self._wait(self._conductor_up, "nova-conductor up"))
        self._start_computes()
        self._timed("computes", lambda: self._wait_computes(admin))

    def _wait_apis(self) -> None:
        for service in ("placement", "glance", "neutron", "nova-api"):
            self._wait_http(service, "/")

    def _make_schemas(self) -> None:
        """Load the cached migrated schemas, or migrate (in parallel) and fill the cache."""
        databases = {short: self._db_name(short) for short in DATABASES}
        cache = SchemaCache(OPENSTACK_VENV / "schema-cache",
                            cache_key(OPENSTACK_VENV, _server_version()),
                            services.find_mariadb_socket())
        self.schemas_from_cache = cache.complete(DATABASES)
        if self.schemas_from_cache:
            cache.load(databases)
            self._remap_cells()
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
            futures = [pool.submit(self._migrate_keystone), pool.submit(self._setup_placement),
                       pool.submit(self._setup_glance), pool.submit(self._setup_neutron),
                       pool.submit(self._setup_nova)]
            for future in futures:
                future.result()
        self._timed("schema_dump", lambda: cache.save(databases))

    def _remap_cells(self) -> None:
        """Point the loaded Nova API database's cell mappings at this rig's cells.

        The cached dump holds the mappings ``cell_v2 map_cell0`` and ``create_cell`` wrote for
        the rig that made it; the same two rows with this rig's database URLs and transport
        URL are what those commands would write here, without two Nova start-ups.
        """
        urls = self.layout.db_urls
        with _root_db() as conn, conn.cursor() as cur:
            table = f"`{self._db_name('nova_api')}`.cell_mappings"
            cur.execute(f"UPDATE {table} SET database_connection = %s WHERE name = 'cell0'",
                        (urls["nova_cell0"],))
            cur.execute(f"UPDATE {table} SET database_connection = %s, transport_url = %s "
                        f"WHERE name = 'cell1'",
                        (urls["nova_cell1"], self.layout.transport_urls["nova"]))
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            row = cur.fetchone()
            if row is None or row[0] != 2:
                raise OpenStackRigError(f"cached nova_api holds {row} cell mappings, not 2")

    def _make_databases(self) -> None:
        with _root_db() as conn, conn.cursor() as cur:
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"CREATE USER IF NOT EXISTS '{self.db_user}'@'{host}' "
                            f"IDENTIFIED BY '{self.db_password}'")
            self._db_user_made = True
            for short in DATABASES:
                db = self._db_name(short)
                cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
                cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
                self._made_dbs.append(db)
                for host in ("127.0.0.1", "localhost"):
                    cur.execute(f"GRANT ALL PRIVILEGES ON `{db}`.* TO "
                                f"'{self.db_user}'@'{host}'")

    def _make_vhosts(self) -> None:
        for short in VHOSTS:
            services.create_vhost(self._vhost(short))
            self._made_vhosts.append(self._vhost(short))

    def _conf(self, service: str, filename: str, sections: cfg.Sections) -> Path:
        path = self.workdir / service / filename
        path.write_text(render_config(sections))
        return path

    def _write_configs(self) -> None:
        lay = self.layout
        self.keystone_conf = self._conf("keystone", "keystone.conf", cfg.keystone(lay))
        self.placement_conf = self._conf("placement", "placement.conf", cfg.placement(lay))
        self.glance_conf = self._conf("glance", "glance-api.conf", cfg.glance(lay))
        shutil.copy(OPENSTACK_VENV / "etc/glance/glance-api-paste.ini",
                    self.workdir / "glance" / "glance-api-paste.ini")
        self.neutron_conf = self._conf("neutron", "neutron.conf", cfg.neutron(lay))
        self.ml2_conf = self._conf("neutron", "ml2_conf.ini", cfg.ml2(lay))
        shutil.copy(OPENSTACK_VENV / "etc/neutron/api-paste.ini",
                    self.workdir / "neutron" / "api-paste.ini")
        self.nova_conf = self._conf("nova", "nova.conf", cfg.nova(lay))
        shutil.copy(OPENSTACK_VENV / "etc/nova/api-paste.ini",
                    self.workdir / "nova" / "api-paste.ini")
        self.compute_confs = {h: self._conf(h, "compute.conf", cfg.nova_compute(lay, h))
                              for h in self.compute_hosts}

    def _keystone_manage(self, *args: str) -> None:
        self._procs.run("keystone-manage", [venv_bin("keystone-manage"), "--config-file",
                                            str(self.keystone_conf), *args])

    def _migrate_keystone(self) -> None:
        self._keystone_manage("db_sync")

    def _bootstrap_keystone(self) -> None:
        """Key repositories and the admin user, region and identity endpoint of this rig."""
        kdir = self.workdir / "keystone"
        for repository in ("fernet-keys", "credential-keys"):
            _write_key_repository(kdir / repository)
        url = self.auth_url
        self._keystone_manage("bootstrap", "--bootstrap-password", self.admin_password,
                              "--bootstrap-admin-url", url, "--bootstrap-internal-url", url,
                              "--bootstrap-public-url", url,
                              "--bootstrap-region-id", cfg.REGION)

    def _setup_placement(self) -> None:
        self._procs.run("placement-manage", [venv_bin("placement-manage"), "--config-file",
                                             str(self.placement_conf), "db", "sync"])

    def _setup_glance(self) -> None:
        self._procs.run("glance-manage", [venv_bin("glance-manage"), "--config-file",
                                          str(self.glance_conf), "db_sync"])

    def _setup_neutron(self) -> None:
        self._procs.run("neutron-db-manage", [
            venv_bin("neutron-db-manage"), "--config-file", str(self.neutron_conf),
            "--config-file", str(self.ml2_conf), "upgrade", "heads"])

    def _setup_nova(self) -> None:
        manage = [venv_bin("nova-manage"), "--config-file", str(self.nova_conf)]
        run = self._procs.run
        run("nova-manage", [*manage, "api_db", "sync"])
        run("nova-manage", [*manage, "cell_v2", "map_cell0", "--database_connection",
                            self.layout.db_urls["nova_cell0"]])
        run("nova-manage", [*manage, "cell_v2", "create_cell", "--name", "cell1"])
        run("nova-manage", [*manage, "db", "sync"])

    def _start_apis(self) -> None:
        procs, lay = self._procs, self.layout
        procs.start_wsgi("keystone", "keystone.wsgi.api:application", lay.ports["keystone"],
                         {"OS_KEYSTONE_CONFIG_FILES": str(self.keystone_conf)})
        procs.start_wsgi("placement", "placement.wsgi.api:application", lay.ports["placement"],
                         {"OS_PLACEMENT_CONFIG_DIR": str(self.workdir / "placement")})
        procs.start_wsgi("glance", "glance.wsgi.api:application", lay.ports["glance"],
                         {"OS_GLANCE_CONFIG_DIR": str(self.workdir / "glance")})
        procs.start_wsgi("neutron", "neutron.wsgi.api:application", lay.ports["neutron"],
                         {"OS_NEUTRON_CONFIG_DIR": str(self.workdir / "neutron"),
                          "OS_NEUTRON_CONFIG_FILES": "neutron.conf;ml2_conf.ini"})
        procs.start_wsgi("nova-api", "nova.wsgi.osapi_compute:application",
                         lay.ports["nova-api"],
                         {"OS_NOVA_CONFIG_DIR": str(self.workdir / "nova"),
                          "OS_NOVA_CONFIG_FILES": "api-paste.ini;nova.conf"})

    def _start_nova_control(self) -> None:
        """Conductor and scheduler, once the service user exists (the conductor logs in to
        Placement as it starts); the rig's resources are made while they start."""
        nc = ["--config-file", str(self.nova_conf)]
        self._procs.start("nova-conductor", [venv_bin("nova-conductor"), *nc])
        self._procs.start("nova-scheduler", [venv_bin("nova-scheduler"), *nc])

    def _start_computes(self) -> None:
        """Once the conductor serves: a nova-compute that pings it earlier waits 10 s per
        try, and one that cannot reach Placement at start retries only a minute later."""
        nc = ["--config-file", str(self.nova_conf)]
        env = {fake_virt.APPLIANCE_DIR_ENV: str(self.appliance_dir),
               fake_virt.EMULATOR_ENV: project_emulator()}
        for host, conf in self.compute_confs.items():
            self._procs.start(f"nova-compute-{host}", [venv_bin("nova-compute"), *nc,
                                                        "--config-file", str(conf)], env)

    def _wait_http(self, service: str, path: str) -> None:
        url = self.url(service) + path

        def answers() -> bool:
            if not self._procs.alive(service):
                raise OpenStackRigError(f"{service} exited during start\n" + self.logs_tail())
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    return int(resp.status) < 500
            except urllib.error.HTTPError as exc:
                return exc.code < 500
            except OSError:
                return False

        self._wait(answers, f"{service} answering at {url}")

    def _wait(self, predicate: Callable[[], object], what: str) -> None:
        try:
            services.wait_until(predicate, self.startup_timeout, interval=0.2, what=what)
        except TimeoutError as exc:
            raise OpenStackRigError(f"{exc}\n{self.logs_tail()}") from None

    def _make_catalog(self, admin: Any) -> None:
        for stype, (name, port_key, suffix) in CATALOG.items():
            service = admin.identity.create_service(name=name, type=stype, enabled=True)
            for interface in ("public", "internal"):
                admin.identity.create_endpoint(service_id=service.id, interface=interface,
                                               url=self.url(port_key) + suffix,
                                               region_id=cfg.REGION)
        self._make_service_user(admin)
        project = admin.identity.create_project(name=TENANT, domain_id="default")
        user = admin.identity.create_user(name=TENANT, password=self.tenant_password,
                                          domain_id="default", default_project_id=project.id)
        member = admin.identity.find_role("member")
        admin.identity.assign_project_role_to_user(project, user, member)
        self.tenant_project_id = project.id
        admin.close()

    def _make_service_user(self, admin: Any) -> None:
        """The user every service authenticates as, before any service calls another."""
        project = admin.identity.create_project(name=cfg.SERVICE_PROJECT, domain_id="default")
        user = admin.identity.create_user(name=cfg.SERVICE_USER,
                                          password=self.service_password,
                                          domain_id="default", default_project_id=project.id)
        for name in cfg.SERVICE_ROLES:
            role = (admin.identity.find_role(name)
                    or admin.identity.create_role(name=name))
            admin.identity.assign_project_role_to_user(project, user, role)

    def _make_resources(self, admin: Any) -> None:
        admin = self.connection("admin")
        flavor = admin.compute.create_flavor(name=FLAVOR_NAME, ram=512, vcpus=1, disk=1,
                                             is_public=True)
        self.flavor_id = flavor.id
        image = admin.image.create_image(name=IMAGE_NAME, data=b"\0" * 1024,
                                         disk_format="raw", container_format="bare",
                                         visibility="public", wait=True)
        self.image_id = image.id
        for key, (name, second) in NETWORKS.items():
            cidr = f"127.{second}.{self.third_octet}.0/24"
            net = admin.network.create_network(name=name, shared=True)
            subnet = admin.network.create_subnet(network_id=net.id, name=f"{name}-subnet",
                                                 ip_version=4, cidr=cidr, enable_dhcp=False)
            self.networks[key] = NetworkInfo(name, net.id, subnet.id, cidr)
        admin.close()

    def _wait_computes(self, admin: Any) -> None:
        admin = self.connection("admin")

        def all_up() -> bool:
            for host in self.compute_hosts:
                if not self._procs.alive(f"nova-compute-{host}"):
                    raise OpenStackRigError(f"nova-compute on {host} exited\n"
                                            + self.logs_tail())
            up = {s.host for s in admin.compute.services(binary="nova-compute")
                  if s.state == "up"}
            hypervisors = {h.name for h in admin.compute.hypervisors()}
            return up >= set(self.compute_hosts) and hypervisors >= set(self.compute_hosts)

        self._wait(all_up, "nova-compute services up and listed as hypervisors")
        admin.close()
        self._wait(self._hosts_mapped, "compute hosts mapped to cell1 by nova-scheduler")

    def _conductor_up(self) -> bool:
        """True once nova-conductor registered its service (it consumes RPC right after)."""
        if not self._procs.alive("nova-conductor"):
            raise OpenStackRigError("nova-conductor exited during start\n" + self.logs_tail())
        with _root_db() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM `{self._db_name('nova_cell1')}`.services "
                        "WHERE `binary` = 'nova-conductor' AND deleted = 0")
            row = cur.fetchone()
        return bool(row and row[0])

    def _hosts_mapped(self) -> bool:
        """True once the scheduler's periodic ``discover_hosts`` mapped every compute host
        (without a host mapping the scheduler cannot place a server there)."""
        with _root_db() as conn, conn.cursor() as cur:
            cur.execute(f"SELECT host FROM `{self._db_name('nova_api')}`.host_mappings")
            mapped = {row[0] for row in cur.fetchall()}
        return mapped >= set(self.compute_hosts)


def _write_key_repository(path: Path) -> None:
    """A Fernet key repository as ``keystone-manage fernet_setup``/``credential_setup`` leave
    it (``0`` staged, ``1`` primary, owner-only), without a keystone-manage start-up each."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for index in ("0", "1"):
        key_file = path / index
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(Fernet.generate_key())


def _server_version() -> str:
    with _root_db() as conn, conn.cursor() as cur:
        cur.execute("SELECT VERSION()")
        row = cur.fetchone()
    return str(row[0]) if row else ""


def _root_db() -> pymysql.connections.Connection:
    return pymysql.connect(unix_socket=services.find_mariadb_socket(), user="root",
                           charset="utf8mb4", connect_timeout=5, autocommit=True)


def _is_emulator(pid: int) -> bool:
    """True when ``pid`` is a live loxilb-emulator (not a recycled pid, not a zombie)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return b"loxilb-emulator" in cmdline and "State:\tZ" not in status


__all__ = ["OpenStackRig", "OpenStackRigError", "NetworkInfo", "ProcessError"]
