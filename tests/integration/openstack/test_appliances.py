"""Driver-managed appliances on real Keystone, Neutron and Nova (``openstack_rig``): the
rig's virt driver starts an emulated appliance for each server from the user data the driver
wrote, on the management port's loopback address, with the driver-issued certificates.

The appliance manager and the worker's placement are driven directly (not through the Octavia
API) with real openstacksdk calls; rules are converged with the project's ``Reconciler``, and
traffic goes client → VIP → member on loopback. Failures are injected at each step of a
create on the real services: Nova refuses the boot, the booted appliance never answers, or its
API fails during configuration (the rig's ``boot_control``); each must leave nothing behind.

VIP hosts 200-209 and 216-219 and member hosts 50-59 are this module's: the session's rig is
shared with ``test_octavia_appliances.py``, which uses others.
"""

from __future__ import annotations

import contextlib
import pathlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from octavia_lib.api.drivers import data_models as dm
from openstack import exceptions as sdk_exceptions
from oslo_config import cfg

from octavia_loxilb.appliance import compute
from octavia_loxilb.appliance import manager as appliance_manager
from octavia_loxilb.appliance.health import ApplianceMonitor, check_group
from octavia_loxilb.appliance.manager import ApplianceManager
from octavia_loxilb.conf import register_opts
from octavia_loxilb.db import migrations
from octavia_loxilb.db.session import create_engine
from octavia_loxilb.reconcile.apply import Reconciler
from octavia_loxilb.reconcile.translate import translate
from octavia_loxilb.worker.placement import Placer
from rig.backends import TcpBackend, send_tcp

pytestmark = pytest.mark.timeout(900)


class Env:
    """A driver's view of the rig: options, its database, the manager and placement."""

    def __init__(self, rig: Any, workdir: pathlib.Path) -> None:
        self.rig = rig
        self.conf = register_opts(cfg.ConfigOpts())
        self.conf([], project="octavia-loxilb-test")
        self.conf.set_override("state_path", str(workdir / "state"), group="loxilb")
        self.conf.set_override("api_retries", 0, group="loxilb")
        options = dict(rig.auth("admin"), region_name="RegionOne", ca_key_passphrase="test",
                       management_network_id=rig.network("mgmt").network_id,
                       image_id=rig.image_id, compute_flavor_id=rig.flavor_id,
                       api_timeout=60.0, ping_timeout=30.0, boot_timeout=120.0,
                       poll_interval=0.3)
        for key, value in options.items():
            self.conf.set_override(key, value, group="loxilb_appliance")
        self.engine = create_engine(f"sqlite:///{workdir / 'driver.sqlite'}")
        migrations.upgrade(self.engine)
        self.conn = rig.connection("admin")
        self.manager: ApplianceManager = appliance_manager.from_conf(self.conf, self.engine)
        self.placer = Placer(self.engine, self.conf)

    def counts(self) -> dict[str, int]:
        return {
            "servers": len(list(self.conn.compute.servers())),
            "ports": len(list(self.conn.network.ports())),
            "security_groups": len([g for g in self.conn.network.security_groups()
                                    if g.name != "default"]),
            "server_groups": len(list(self.conn.compute.server_groups())),
        }

    def tree(self, vip_host: int, members: list[tuple[str, str | None]] | None = None,
             flavor: dict[str, Any] | None = None, port: int = 8080) -> dict[str, Any]:
        """An LB tree as the driver-agent renders it; members are (address, subnet id)."""
        vip = self.rig.network("vip")
        lb_id = str(uuid.uuid4())
        pool_id = str(uuid.uuid4())
        pool = dm.Pool(pool_id=pool_id, loadbalancer_id=lb_id, protocol="TCP",
                       lb_algorithm="ROUND_ROBIN", admin_state_up=True, healthmonitor=None,
                       members=[dm.Member(member_id=str(uuid.uuid4()), pool_id=pool_id,
                                          address=address, protocol_port=9000 + i,
                                          subnet_id=subnet, admin_state_up=True, weight=1,
                                          backup=False)
                                for i, (address, subnet) in enumerate(members or [])])
        listener = dm.Listener(listener_id=str(uuid.uuid4()), loadbalancer_id=lb_id,
                               protocol="TCP", protocol_port=port, admin_state_up=True,
                               default_pool=pool, default_pool_id=pool_id, l7policies=[],
                               connection_limit=-1)
        lb = dm.LoadBalancer(
            loadbalancer_id=lb_id, admin_state_up=True,
            vip_address=vip.cidr.rsplit(".", 1)[0] + f".{vip_host}",
            vip_network_id=vip.network_id, vip_subnet_id=vip.subnet_id,
            listeners=[listener], pools=[pool], project_id="p", name="lb",
            flavor=flavor or {"deployment": "appliance"})
        tree: dict[str, Any] = lb.to_dict(recurse=True, render_unsets=True)
        return tree

    def converge(self, tree: dict[str, Any]) -> None:
        group = self.manager.ensure(tree["loadbalancer_id"], tree)
        result = Reconciler(self.placer.nodes(group)).converge(translate(tree))
        assert result.verified, result

    def appliance_options(self, **options: Any) -> contextlib.AbstractContextManager[None]:
        """``[loxilb_appliance]`` overrides for one block (a test's short timeouts)."""
        return _overridden(self.conf, "loxilb_appliance", options)

    def driver_records(self) -> dict[str, set[str]]:
        """What the driver DB holds about groups and appliances, by table, as row texts."""
        tables = ("loxilb_groups", "appliance_groups", "appliances", "appliance_ports",
                  "appliance_member_subnets", "lb_placements")
        with self.engine.connect() as conn:
            return {t: {repr(tuple(row)) for row in conn.execute(sa.text(f"SELECT * FROM {t}"))}
                    for t in tables}

    def server_certificates(self) -> dict[str, bool]:
        """Serial → revoked, for every server certificate the driver issued."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT serial, revoked_at FROM appliance_certificates "
                                        "WHERE kind = 'server'"))
            return {serial: revoked is not None for serial, revoked in rows}

    def emulators(self) -> set[str]:
        """Servers whose emulator the rig's virt driver runs (``appliance.json`` present)."""
        return {p.parent.name for p in self.rig.appliance_dir.glob("*/appliance.json")}

    def close(self) -> None:
        self.placer.close()
        self.manager.services.close()
        self.conn.close()


@pytest.fixture(scope="module")
def env(openstack_rig: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    built = Env(openstack_rig, tmp_path_factory.mktemp("appliances"))
    yield built
    built.close()


@pytest.fixture(scope="module")
def boots(env: Env) -> None:
    """Skip the boot-dependent tests while the rig's Nova cannot boot a server."""
    try:
        server = env.conn.compute.create_server(
            name="canary", image_id=env.rig.image_id, flavor_id=env.rig.flavor_id,
            networks=[{"uuid": env.rig.network("mgmt").network_id}])
    except sdk_exceptions.HttpException as exc:
        pytest.skip(f"the OpenStack rig cannot boot servers: {exc}")
    env.conn.compute.delete_server(server.id)
    env.conn.compute.wait_for_delete(server, wait=60)


@contextlib.contextmanager
def _overridden(conf: cfg.ConfigOpts, group: str, options: dict[str, Any]) -> Iterator[None]:
    previous = {key: conf[group][key] for key in options}
    for key, value in options.items():
        conf.set_override(key, value, group=group)
    try:
        yield
    finally:
        for key, value in previous.items():
            conf.set_override(key, value, group=group)


def _wait(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.3)


def test_cloud_resources_made_and_undone_on_real_neutron_and_nova(env: Env) -> None:
    cloud = compute.Cloud(env.conn)
    before = env.counts()
    vip = env.rig.network("vip")
    sg = cloud.create_security_group("loxilb-appliance-test", 8091, ["127.0.0.0/8"])
    data_sg = cloud.create_data_security_group("loxilb-appliance-test-data")
    rules = {(r.protocol, r.port_range_min, r.port_range_max)
             for r in env.conn.network.security_group_rules(security_group_id=data_sg)
             if r.direction == "ingress"}
    # Neutron stores the full port range 1-65535 as "any port" (None).
    assert rules == {("tcp", None, None), ("udp", None, None), ("icmp", None, None)}
    server_group = cloud.create_server_group("loxilb-appliance-test", anti_affinity=True)
    port = cloud.create_port("loxilb-appliance-test", vip.network_id, vip.subnet_id, [sg])
    assert port.subnet_id == vip.subnet_id and port.prefix_length == 24
    assert port.ip_address is not None and port.ip_address.startswith(vip.cidr[:-5])
    extra = port.ip_address.rsplit(".", 1)[0] + ".200"
    assert cloud.add_allowed_address(port.id, extra)
    assert not cloud.add_allowed_address(port.id, extra)
    pairs = env.conn.network.get_port(port.id).allowed_address_pairs
    assert [p["ip_address"] for p in pairs] == [extra]
    cloud.remove_allowed_address(port.id, extra)
    assert env.conn.network.get_port(port.id).allowed_address_pairs == []
    assert env.conn.compute.get_server_group(server_group).policy == "anti-affinity"
    for _ in range(2):  # deletes tolerate "already gone"
        cloud.delete_port(port.id)
        cloud.delete_server_group(server_group)
        cloud.delete_security_group(sg)
        cloud.delete_security_group(data_sg)
    assert env.counts() == before


def test_single_appliance_serves_its_vip_over_mtls_only(
        env: Env, boots: None, appliance_pki: Any, tmp_path: pathlib.Path) -> None:
    before = env.counts()
    vip = env.rig.network("vip")
    backend_ip = vip.cidr.rsplit(".", 1)[0] + ".50"
    tree = env.tree(200, [(backend_ip, None)])
    with TcpBackend(backend_ip, 9000, "b1").start() as _backend:
        env.converge(tree)
        split = env.manager.last_build
        assert split["boot"] > 0 and split["ready"] > 0
        print("SINGLE create: " + ", ".join(f"{k} {v:.2f}s" for k, v in split.items()))
        [appliance] = env.manager.services.store.appliances(
            env.placer.placed_group(tree["loadbalancer_id"]).id)  # type: ignore[union-attr]
        server = env.conn.compute.get_server(appliance.server_id)
        assert server.status == "ACTIVE"
        ports = list(env.conn.network.ports(device_id=server.id))
        assert len(ports) == 2
        [vip_port] = [p for p in ports if p.network_id == vip.network_id]
        assert [p["ip_address"] for p in vip_port.allowed_address_pairs] == [
            tree["vip_address"]]
        gateway = env.conn.network.get_subnet(vip.subnet_id).gateway_ip
        assert gateway == vip.cidr.rsplit(".", 1)[0] + ".1"  # Neutron's default
        routes = env.manager.services.client(
            appliance.management_address or "").list_route_entries()
        assert ("0.0.0.0/0", gateway) in {(r.destination, r.gateway) for r in routes}
        assert send_tcp(tree["vip_address"], 8080, "hello").startswith("b1 hello")

        files = env.manager.services.certs.client_tls_files()
        url = f"https://{appliance.management_address}:8091/netlox/v1/version"
        assert requests.get(url, verify=files.ca_file,
                            cert=(files.cert_file, files.key_file), timeout=5).ok
        stranger = appliance_pki["stranger"].issue("stranger", client=True)
        cert, key = stranger.write(tmp_path, "stranger")
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(url, verify=files.ca_file, cert=(cert, key), timeout=5)
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(url, verify=files.ca_file, timeout=5)
    env.manager.release(tree["loadbalancer_id"])
    _wait(lambda: env.counts() == before)


def _create_fails_and_leaves_nothing(env: Env, tree: dict[str, Any], error: type[Exception],
                                     match: str | None, appliances: int) -> float:
    """``ensure`` raises; Nova, Neutron, the virt driver's emulators and the driver DB are
    as before, and the ``appliances`` server certificates the create issued are revoked.
    Seconds until the failure."""
    before = env.counts()
    records = env.driver_records()
    certificates = env.server_certificates()
    emulators = env.emulators()
    started = time.monotonic()
    try:
        env.manager.ensure(tree["loadbalancer_id"], tree)
    except error as exc:
        failed_after = time.monotonic() - started
        assert match is None or re.search(match, str(exc)), exc
    else:
        env.manager.release(tree["loadbalancer_id"])  # spare the later tests its group
        pytest.fail("the create succeeded")
    assert env.counts() == before
    assert env.emulators() == emulators
    assert env.driver_records() == records
    assert env.placer.placed_group(tree["loadbalancer_id"]) is None
    issued = env.server_certificates()
    new = {serial: revoked for serial, revoked in issued.items() if serial not in certificates}
    assert len(new) == appliances and all(new.values()), new
    assert {s for s, r in issued.items() if not r} == {s for s, r in certificates.items()
                                                        if not r}
    return failed_after


def test_a_failed_boot_leaves_nothing_behind(env: Env, boots: None) -> None:
    tree = env.tree(201, flavor={"deployment": "appliance", "image": str(uuid.uuid4())})
    _create_fails_and_leaves_nothing(env, tree, sdk_exceptions.SDKException, None, 1)
    with env.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM appliances")).scalar() == 0


def test_an_appliance_that_never_answers_fails_the_create_cleanly(
        env: Env, boots: None) -> None:
    tree = env.tree(216)
    with env.rig.boot_control(silent=True), env.appliance_options(api_timeout=5.0,
                                                                  ping_timeout=5.0):
        took = _create_fails_and_leaves_nothing(
            env, tree, Exception, "not answering over mutual TLS", 1)
    print(f"silent appliance: create failed and reverted after {took:.2f}s "
          "(API timeout 5 s)")


@pytest.mark.parametrize(("topology_name", "method", "path"), [
    # The rig's appliance already holds its port addresses (as an image that configures
    # its NICs at boot does), so a SINGLE create only reads them: fail that read.
    ("SINGLE", "GET", "/config/ipv4address"),
    ("ACTIVE_STANDBY", "POST", "/config/cistate"),
    ("ACTIVE_STANDBY", "POST", "/config/bfd"),
])
def test_an_api_error_during_configuration_reverts_everything(
        env: Env, boots: None, topology_name: str, method: str, path: str) -> None:
    tree = env.tree(217, flavor={"deployment": "appliance", "topology": topology_name})
    files = env.manager.services.certs.client_tls_files()
    fault = {"method": method, "path_prefix": path, "status": 500, "count": 0}
    with env.rig.boot_control(faults=[fault],
                              client_tls=(files.ca_file, files.cert_file, files.key_file)):
        took = _create_fails_and_leaves_nothing(
            env, tree, Exception, "emulated fault",
            2 if topology_name == "ACTIVE_STANDBY" else 1)
    print(f"{topology_name}, 500 on {method} {path}: create failed and reverted after "
          f"{took:.2f}s")


def test_shared_group_outlives_its_first_lb(env: Env, boots: None) -> None:
    before = env.counts()
    first, second = env.tree(202), env.tree(203)
    env.converge(first)
    env.converge(second)
    group = env.placer.placed_group(first["loadbalancer_id"])
    assert group is not None
    assert env.placer.placed_group(second["loadbalancer_id"]) == group
    assert env.counts()["servers"] == before["servers"] + 1
    env.manager.release(first["loadbalancer_id"])
    assert env.counts()["servers"] == before["servers"] + 1
    env.manager.release(second["loadbalancer_id"])
    _wait(lambda: env.counts() == before)


def test_member_on_a_second_subnet_gets_an_interface(env: Env, boots: None) -> None:
    before = env.counts()
    member_net = env.rig.network("member1")
    backend_ip = member_net.cidr.rsplit(".", 1)[0] + ".50"
    tree = env.tree(204, [(backend_ip, member_net.subnet_id)])
    with TcpBackend(backend_ip, 9000, "m1").start():
        env.converge(tree)
        group = env.placer.placed_group(tree["loadbalancer_id"])
        assert group is not None
        [appliance] = env.manager.services.store.appliances(group.id)
        [member_port] = appliance.ports_for("member")
        assert member_port.subnet_id == member_net.subnet_id
        _wait(lambda: member_port.port_id in {
            p.id for p in env.conn.network.ports(device_id=appliance.server_id)})
        assert send_tcp(tree["vip_address"], 8080, "x").startswith("m1 x")
        member_id = tree["pools"][0]["members"][0]["member_id"]
        env.manager.ensure(tree["loadbalancer_id"], tree, leaving={member_id})
        assert env.conn.network.find_port(member_port.port_id) is None
    env.manager.release(tree["loadbalancer_id"])
    _wait(lambda: env.counts() == before)


def test_active_standby_standby_takes_over_and_the_dead_one_rejoins(
        env: Env, boots: None) -> None:
    before = env.counts()
    vip = env.rig.network("vip")
    backend_ip = vip.cidr.rsplit(".", 1)[0] + ".51"
    tree = env.tree(205, [(backend_ip, None)], flavor={"deployment": "appliance",
                                                       "topology": "ACTIVE_STANDBY"})
    with TcpBackend(backend_ip, 9000, "b1").start():
        env.converge(tree)
        group = env.placer.placed_group(tree["loadbalancer_id"])
        assert group is not None
        appliances = {a.role: a for a in env.manager.services.store.appliances(group.id)}
        assert set(appliances) == {"MASTER", "BACKUP"}
        servers = [env.conn.compute.get_server(a.server_id) for a in appliances.values()]
        assert len({s.compute_host for s in servers}) == 2  # anti-affinity
        server_group = env.conn.compute.get_server_group(
            env.manager.services.store.group(group.id).server_group_id)  # type: ignore[union-attr]
        assert server_group.policy == "anti-affinity"
        assert send_tcp(tree["vip_address"], 8080, "a").startswith("b1 a")

        killed = time.monotonic()
        env.rig.kill_appliance(appliances["MASTER"].server_id)
        def served() -> bool:
            try:
                return send_tcp(tree["vip_address"], 8080, "b", timeout=1).startswith("b1 b")
            except OSError:
                return False

        takeover: list[float] = []

        def after_takeover(_outcome: object) -> None:
            _wait(served)  # through the promoted BACKUP, before any rebuild
            takeover.append(time.monotonic() - killed)

        monitor = ApplianceMonitor(env.manager.services, env.engine,
                                   replay=lambda _group: env.converge(tree),
                                   after_takeover=after_takeover)
        [outcome] = [o for o in monitor.run_once() if o.group_id == group.id]
        assert outcome.promoted == appliances["BACKUP"].id
        assert outcome.rebuilt == [appliances["MASTER"].id]
        assert served()
        print(f"A/S: traffic through the standby {takeover[0]:.2f}s after the MASTER died "
              f"(one health pass; promotion call {outcome.takeover_seconds:.3f}s); rebuilt "
              f"and replayed {time.monotonic() - killed:.2f}s after")
        roles = {h.appliance_id: h.state
                 for h in check_group(env.manager.services, group.id)}
        assert roles == {appliances["BACKUP"].id: "MASTER",
                         appliances["MASTER"].id: "BACKUP"}
    env.manager.release(tree["loadbalancer_id"])
    _wait(lambda: env.counts() == before, timeout=60)


def test_topology_change_single_to_active_standby_and_back_keeps_serving(
        env: Env, boots: None) -> None:
    before = env.counts()
    prefix = env.rig.network("vip").cidr.rsplit(".", 1)[0]
    moving = env.tree(218, [(f"{prefix}.52", None)])
    staying = env.tree(219, [(f"{prefix}.53", None)])
    moving_id = moving["loadbalancer_id"]

    def serves(tree: dict[str, Any], name: str) -> None:
        """Client → VIP → member; the first connection after a move may meet the
        listener a moment before it is up."""
        def answered() -> bool:
            try:
                reply = send_tcp(tree["vip_address"], 8080, "t", timeout=2)
            except OSError:
                return False
            return reply.startswith(f"{name} t")
        _wait(answered, timeout=15)

    def vips_on(group_id: str) -> list[set[str]]:
        return [{r.service.external_ip for r in
                 env.manager.services.client(a.management_address or "").list_rules()}
                for a in env.manager.services.store.appliances(group_id)]

    def converge_timed(tree: dict[str, Any]) -> float:
        started = time.monotonic()
        env.converge(tree)
        return time.monotonic() - started

    with TcpBackend(f"{prefix}.52", 9000, "moving").start(), \
            TcpBackend(f"{prefix}.53", 9000, "staying").start():
        env.converge(moving)
        env.converge(staying)
        single = env.placer.placed_group(moving_id)
        assert single is not None
        assert env.placer.placed_group(staying["loadbalancer_id"]) == single
        serves(moving, "moving")
        serves(staying, "staying")

        env.manager.set_topology(moving_id, "ACTIVE_STANDBY")
        to_pair = converge_timed(moving)
        pair = env.placer.placed_group(moving_id)
        assert pair is not None and pair.id != single.id
        roles = {a.role for a in env.manager.services.store.appliances(pair.id)}
        assert roles == {"MASTER", "BACKUP"}
        assert vips_on(pair.id) == [{moving["vip_address"]}] * 2
        assert vips_on(single.id) == [{staying["vip_address"]}]  # moved off the shared one
        assert env.counts()["servers"] == before["servers"] + 3
        assert env.counts()["server_groups"] == before["server_groups"] + 1
        serves(moving, "moving")
        serves(staying, "staying")

        env.manager.set_topology(moving_id, None)
        to_single = converge_timed(moving)
        back = env.placer.placed_group(moving_id)
        assert back is not None and back.id == single.id  # rejoins the fitting SINGLE group
        assert vips_on(single.id) == [{moving["vip_address"], staying["vip_address"]}]
        assert env.manager.services.store.group(pair.id) is None  # emptied pair destroyed
        assert env.counts()["servers"] == before["servers"] + 1
        assert env.counts()["server_groups"] == before["server_groups"]
        serves(moving, "moving")
        serves(staying, "staying")
    print(f"topology change: SINGLE → ACTIVE_STANDBY {to_pair:.2f}s (two boots, move, "
          f"converge), back to SINGLE {to_single:.2f}s (move, pair destroyed, converge)")
    env.manager.release(moving_id)
    env.manager.release(staying["loadbalancer_id"])
    _wait(lambda: env.counts() == before, timeout=60)
