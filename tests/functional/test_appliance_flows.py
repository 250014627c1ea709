"""Appliance lifecycle flows against emulated appliances (``appliance_cloud.FakeCloud``):
what a create builds, that every failure leaves nothing behind, shared groups, member
networks and the routes of their subnets, ACTIVE_STANDBY."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from octavia_loxilb.appliance import flows, groups, topology
from octavia_loxilb.appliance.cert_store import CertificateStore
from octavia_loxilb.appliance.health import ApplianceMonitor, check_group
from octavia_loxilb.appliance.manager import ApplianceManager
from octavia_loxilb.appliance.services import Services
from octavia_loxilb.appliance.store import ApplianceStore
from octavia_loxilb.conf import register_opts
from octavia_loxilb.db import api as db_api
from octavia_loxilb.db import migrations
from octavia_loxilb.db.session import create_engine, session_scope
from octavia_loxilb.emulator.hooks import Fault
from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb import models
from tests.functional.appliance_cloud import OCTET, FakeCloud

EMPTY = {"servers": 0, "ports": 0, "security_groups": 0, "server_groups": 0}


@pytest.fixture
def cloud(tmp_path: pathlib.Path) -> Iterator[FakeCloud]:
    fake = FakeCloud(tmp_path)
    yield fake
    fake.stop()


@pytest.fixture
def services(tmp_path: pathlib.Path, cloud: FakeCloud) -> Iterator[Services]:
    management = cloud.add_subnet(1)
    conf = register_opts(cfg.ConfigOpts())
    conf([], project="octavia-loxilb-test")
    conf.set_override("state_path", str(tmp_path / "state"), group="loxilb")
    conf.set_override("api_retries", 0, group="loxilb")
    overrides: dict[str, Any] = {
        "ca_key_passphrase": "test", "management_network_id": management.network_id,
        "image_id": "image-1", "compute_flavor_id": "flavor-1", "api_timeout": 2.0,
        "ping_timeout": 2.0, "poll_interval": 0.05}
    for key, value in overrides.items():
        conf.set_override(key, value, group="loxilb_appliance")
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.sqlite'}")
    migrations.upgrade(engine)
    built = Services(conf, cloud, ApplianceStore(engine), CertificateStore(engine, conf))
    yield built
    built.close()


@pytest.fixture
def vip_subnet(cloud: FakeCloud) -> Any:
    return cloud.add_subnet(2)


def _spec(services: Services, vip_subnet: Any, topology_name: str = "SINGLE"
          ) -> groups.ApplianceSpec:
    return groups.spec_for(_tree(vip_subnet, topology=topology_name), services.conf)


def _tree(vip_subnet: Any, vip_host: int = 200, topology: str = "SINGLE",
          members: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    prefix = vip_subnet.cidr.rsplit(".", 1)[0]
    return {"loadbalancer_id": str(uuid.uuid4()), "vip_address": f"{prefix}.{vip_host}",
            "vip_network_id": vip_subnet.network_id, "vip_subnet_id": vip_subnet.id,
            "flavor": {"deployment": "appliance", "topology": topology},
            "availability_zone": None,
            "pools": [{"pool_id": "p1", "members": members or []}]}


def _engine(services: Services) -> sa.Engine:
    return services.store.engine


def _tables_empty(services: Services) -> bool:
    with _engine(services).connect() as conn:
        return all(conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar() == 0
                   for t in ("loxilb_groups", "appliances", "appliance_ports",
                             "appliance_groups", "lb_placements"))


def test_single_group_boots_one_appliance_reached_over_mtls(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    results = flows.create_group(services, _spec(services, vip_subnet), True, vip_subnet.id)
    group_id = results["group_id"]
    assert cloud.counts() == {"servers": 1, "ports": 2, "security_groups": 2,
                              "server_groups": 0}
    [appliance] = services.store.appliances(group_id)
    assert appliance.status == "ACTIVE" and appliance.role is None
    assert appliance.management_address is not None
    assert appliance.management_address.startswith(cloud.subnets[
        next(iter(cloud.subnets))].cidr.rsplit(".", 1)[0])
    client = services.client(appliance.management_address)
    assert client.version().version
    [vip_port] = appliance.ports_for("vip")
    [management_port] = appliance.ports_for("management")
    group_record = services.store.group(group_id)
    assert group_record is not None
    assert cloud.ports[management_port.port_id].security_groups == [
        group_record.security_group_id]
    assert cloud.ports[vip_port.port_id].security_groups == [
        group_record.data_security_group_id]
    dev = next(p.name for p in client.list_ports() if p.mac == vip_port.mac_address)
    assert vip_port.cidr in client.list_ipv4_addresses()[dev]
    assert topology.current_roles([topology.HAMember(client, "", None)]) == ["NOT_DEFINED"]
    with session_scope(_engine(services)) as session:
        group = db_api.get_group(session, group_id)
    assert group is not None and group.kind == "appliance"
    assert [n.api_url for n in group.nodes] == [
        f"https://{appliance.management_address}:8091"]
    assert not services.certs.is_revoked(appliance.cert_serial or "")


def test_active_standby_pairs_master_and_backup_with_bfd(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    results = flows.create_group(services, _spec(services, vip_subnet, "ACTIVE_STANDBY"),
                                 True, vip_subnet.id)
    assert cloud.counts() == {"servers": 2, "ports": 4, "security_groups": 2,
                              "server_groups": 1}
    assert list(cloud.server_groups.values()) == [True]  # anti-affinity
    first, second = (server for kind, server in cloud.boot_events if kind == "boot")
    # The second member is asked for only once Nova placed the first (anti-affinity race).
    assert cloud.boot_events == [("boot", first), ("placed", first), ("boot", second),
                                 ("placed", second)]
    appliances = services.store.appliances(results["group_id"])
    by_role = {a.role: a for a in appliances}
    assert set(by_role) == {"MASTER", "BACKUP"}
    for role, appliance in by_role.items():
        client = services.client(appliance.management_address or "")
        states = {s.instance: s.state for s in client.list_cluster_states()}
        assert states[topology.INSTANCE] == role
        peer = by_role["BACKUP" if role == "MASTER" else "MASTER"]
        assert [s.remote_ip for s in client.list_bfd_sessions()] == [peer.management_address]


STEPS = [
    ("create_security_group", 1, "SINGLE"),
    ("create_data_security_group", 1, "SINGLE"),
    ("create_server_group", 1, "ACTIVE_STANDBY"),
    ("create_port", 2, "SINGLE"),
    ("create_port", 4, "ACTIVE_STANDBY"),
    ("boot_server", 1, "SINGLE"),
    ("boot_server", 2, "ACTIVE_STANDBY"),
    ("wait_server_active", 1, "SINGLE"),
    ("wait_server_placed", 1, "ACTIVE_STANDBY"),
    ("wait_server_placed", 2, "ACTIVE_STANDBY"),
    ("wait_server_active", 2, "ACTIVE_STANDBY"),
]


@pytest.mark.parametrize(("call", "nth", "topology_name"), STEPS)
def test_a_failed_cloud_step_leaves_nothing_behind(
        services: Services, cloud: FakeCloud, vip_subnet: Any, call: str, nth: int,
        topology_name: str) -> None:
    cloud.fail[call] = nth
    with pytest.raises(Exception, match=f"injected failure of {call}"):
        flows.create_group(services, _spec(services, vip_subnet, topology_name), True,
                           vip_subnet.id)
    assert cloud.counts() == EMPTY
    assert _tables_empty(services)
    with _engine(services).connect() as conn:
        unrevoked = conn.execute(sa.text(
            "SELECT COUNT(*) FROM appliance_certificates WHERE kind = 'server' "
            "AND revoked_at IS NULL")).scalar()
    assert unrevoked == 0


def test_an_appliance_that_never_answers_fails_the_create_cleanly(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    cloud.silent_boot = True
    with pytest.raises(Exception, match="not answering over mutual TLS"):
        flows.create_group(services, _spec(services, vip_subnet), True, vip_subnet.id)
    assert cloud.counts() == EMPTY
    assert _tables_empty(services)


@pytest.mark.parametrize(("path", "topology_name"), [("/config/cistate", "ACTIVE_STANDBY"),
                                                     ("/config/bfd", "ACTIVE_STANDBY")])
def test_an_api_error_during_configuration_reverts_everything(
        services: Services, cloud: FakeCloud, vip_subnet: Any, path: str,
        topology_name: str) -> None:
    cloud.boot_faults = [Fault(method="POST", path_prefix=path, status=500, count=0)]
    with pytest.raises(Exception, match="emulated fault"):
        flows.create_group(services, _spec(services, vip_subnet, topology_name), True,
                           vip_subnet.id)
    assert cloud.counts() == EMPTY
    assert _tables_empty(services)


def test_shared_group_carries_two_vips_and_goes_with_its_last_lb(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    manager = ApplianceManager(services, _engine(services))
    first, second = _tree(vip_subnet, 200), _tree(vip_subnet, 201)
    group_a = manager.ensure(first["loadbalancer_id"], first)
    group_b = manager.ensure(second["loadbalancer_id"], second)
    assert group_a.id == group_b.id
    assert cloud.counts()["servers"] == 1
    [vip_port] = [p for p in cloud.ports.values() if p.name.endswith("-vip")]
    assert vip_port.allowed == [first["vip_address"], second["vip_address"]]
    manager.release(first["loadbalancer_id"])
    assert vip_port.allowed == [second["vip_address"]]
    assert cloud.counts()["servers"] == 1
    manager.release(second["loadbalancer_id"])
    assert cloud.counts() == EMPTY
    assert _tables_empty(services)


def test_per_lb_sharing_builds_a_group_each(services: Services, cloud: FakeCloud,
                                            vip_subnet: Any) -> None:
    services.conf.set_override("group_sharing", "per_lb", group="loxilb_appliance")
    manager = ApplianceManager(services, _engine(services))
    first, second = _tree(vip_subnet, 200), _tree(vip_subnet, 201)
    assert manager.ensure(first["loadbalancer_id"], first).id != manager.ensure(
        second["loadbalancer_id"], second).id
    assert cloud.counts()["servers"] == 2


def test_member_subnet_is_attached_configured_and_detached(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    members_subnet = cloud.add_subnet(3)
    manager = ApplianceManager(services, _engine(services))
    member = {"member_id": "m1", "subnet_id": members_subnet.id,
              "address": members_subnet.cidr.rsplit(".", 1)[0] + ".50"}
    tree = _tree(vip_subnet, members=[member])
    group = manager.ensure(tree["loadbalancer_id"], tree)
    [appliance] = services.store.appliances(group.id)
    [member_port] = appliance.ports_for("member")
    assert member_port.subnet_id == members_subnet.id
    server = cloud.servers[appliance.server_id or ""]
    assert member_port.port_id in server.port_ids
    client = services.client(appliance.management_address or "")
    dev = next(p.name for p in client.list_ports() if p.mac == member_port.mac_address)
    assert member_port.cidr in client.list_ipv4_addresses()[dev]

    manager.ensure(tree["loadbalancer_id"], tree, leaving={"m1"})
    [appliance] = services.store.appliances(group.id)
    assert appliance.ports_for("member") == []
    assert member_port.port_id not in cloud.ports
    assert member_port.mac_address not in {p.mac for p in client.list_ports()}


def test_failed_member_attach_leaves_no_port(services: Services, cloud: FakeCloud,
                                             vip_subnet: Any) -> None:
    members_subnet = cloud.add_subnet(3)
    manager = ApplianceManager(services, _engine(services))
    tree = _tree(vip_subnet, members=[{"member_id": "m1", "subnet_id": members_subnet.id}])
    cloud.fail["attach_port"] = 1
    with pytest.raises(Exception, match="injected failure of attach_port"):
        manager.ensure(tree["loadbalancer_id"], tree)
    assert cloud.counts() == EMPTY
    assert _tables_empty(services)


def test_emulated_appliance_refuses_the_api_without_the_driver_certificate(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    import requests

    results = flows.create_group(services, _spec(services, vip_subnet), True, vip_subnet.id)
    [appliance] = services.store.appliances(results["group_id"])
    files = services.certs.client_tls_files()
    url = f"https://{appliance.management_address}:8091/netlox/v1/version"
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, verify=files.ca_file, timeout=3)
    assert requests.get(url, verify=files.ca_file, cert=(files.cert_file, files.key_file),
                        timeout=3).ok


def _kill(cloud: FakeCloud, server_id: str | None) -> None:
    emulator = cloud.servers[server_id or ""].emulator
    assert emulator is not None
    emulator.stop()


def test_dead_master_standby_takes_over_and_the_dead_one_rejoins_as_backup(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    results = flows.create_group(services, _spec(services, vip_subnet, "ACTIVE_STANDBY"),
                                 True, vip_subnet.id)
    group_id = results["group_id"]
    by_role = {a.role: a for a in services.store.appliances(group_id)}
    master, backup = by_role["MASTER"], by_role["BACKUP"]
    replayed: list[str] = []
    monitor = ApplianceMonitor(services, _engine(services), replay=replayed.append)
    assert monitor.run_once()[0].rebuilt == []

    _kill(cloud, master.server_id)
    [outcome] = monitor.run_once()
    assert outcome.promoted == backup.id
    assert outcome.takeover_seconds is not None
    assert outcome.rebuilt == [master.id]
    assert replayed == [group_id]
    after = {a.id: a for a in services.store.appliances(group_id)}
    assert after[backup.id].role == "MASTER" and after[master.id].role == "BACKUP"
    assert after[master.id].server_id not in (None, master.server_id)
    assert services.certs.is_revoked(master.cert_serial or "")
    states = {h.appliance_id: h.state for h in check_group(services, group_id)}
    assert states == {backup.id: "MASTER", master.id: "BACKUP"}
    rebuilt = services.client(master.management_address or "")
    assert [s.remote_ip for s in rebuilt.list_bfd_sessions()] == [backup.management_address]
    with session_scope(_engine(services)) as session:
        group = db_api.get_group(session, group_id)
    assert group is not None
    assert {n.role for n in group.nodes} == {"MASTER", "BACKUP"}
    assert cloud.counts() == {"servers": 2, "ports": 4, "security_groups": 2,
                              "server_groups": 1}


def test_dead_single_appliance_is_rebuilt_and_its_lbs_replayed(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    results = flows.create_group(services, _spec(services, vip_subnet), True, vip_subnet.id)
    [appliance] = services.store.appliances(results["group_id"])
    replayed: list[str] = []
    monitor = ApplianceMonitor(services, _engine(services), replay=replayed.append)
    _kill(cloud, appliance.server_id)
    [outcome] = monitor.run_once()
    assert outcome.promoted is None and outcome.rebuilt == [appliance.id]
    assert replayed == [results["group_id"]]
    assert services.client(appliance.management_address or "").version().version
    assert cloud.counts()["servers"] == 1


def _lb_tree(vip_subnet: Any, lb_id: str, vip_host: int) -> dict[str, Any]:
    """A full tree (listener, pool, member) as the driver-agent renders it."""
    from octavia_lib.api.drivers import data_models as dm

    prefix = vip_subnet.cidr.rsplit(".", 1)[0]
    pool = dm.Pool(pool_id=f"{lb_id}-p", loadbalancer_id=lb_id, protocol="TCP",
                   lb_algorithm="ROUND_ROBIN", admin_state_up=True, healthmonitor=None,
                   members=[dm.Member(member_id=f"{lb_id}-m", pool_id=f"{lb_id}-p",
                                      address=f"{prefix}.50", protocol_port=9000,
                                      admin_state_up=True, weight=1, backup=False)])
    listener = dm.Listener(listener_id=f"{lb_id}-l", loadbalancer_id=lb_id, protocol="TCP",
                           protocol_port=8080, admin_state_up=True, default_pool=pool,
                           default_pool_id=pool.pool_id, l7policies=[], connection_limit=-1)
    lb = dm.LoadBalancer(loadbalancer_id=lb_id, admin_state_up=True,
                         vip_address=f"{prefix}.{vip_host}",
                         vip_network_id=vip_subnet.network_id, vip_subnet_id=vip_subnet.id,
                         listeners=[listener], pools=[pool], project_id="p", name="lb",
                         flavor={"deployment": "appliance"})
    tree: dict[str, Any] = lb.to_dict(recurse=True, render_unsets=True)
    return tree


def test_topology_change_single_to_active_standby_and_back_keeps_the_rules(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    from octavia_loxilb.reconcile.apply import Reconciler
    from octavia_loxilb.reconcile.translate import translate
    from octavia_loxilb.worker.placement import Placer

    engine = _engine(services)
    manager = ApplianceManager(services, engine)
    placer = Placer(engine, services.conf)
    moving = _lb_tree(vip_subnet, "lb-moving", 200)
    staying = _lb_tree(vip_subnet, "lb-staying", 201)

    def converge(tree: dict[str, Any]) -> list[str]:
        group = manager.ensure(tree["loadbalancer_id"], tree)
        assert Reconciler(placer.nodes(group)).converge(translate(tree)).verified
        return [a.management_address or "" for a in services.store.appliances(group.id)]

    def vips_on(address: str) -> set[str]:
        return {r.service.external_ip for r in services.client(address).list_rules()}

    try:
        [single] = converge(moving)
        assert converge(staying) == [single]
        manager.set_topology("lb-moving", "ACTIVE_STANDBY")
        pair = converge(moving)
        assert len(pair) == 2 and single not in pair
        assert all(vips_on(a) == {moving["vip_address"]} for a in pair)
        assert vips_on(single) == {staying["vip_address"]}  # moved off the shared group
        assert cloud.counts()["servers"] == 3

        manager.set_topology("lb-moving", None)
        [back] = converge(moving)
        assert back == single  # rejoins the fitting SINGLE group
        assert vips_on(single) == {moving["vip_address"], staying["vip_address"]}
        assert cloud.counts() == {"servers": 1, "ports": 2, "security_groups": 2,
                                  "server_groups": 0}  # the emptied pair was destroyed
    finally:
        placer.close()


# -- routes --------------------------------------------------------------------------------


def _routes(services: Services, address: str | None) -> dict[str, str]:
    """Destination → gateway, from the appliance's ``GET /config/route/all``."""
    return {r.destination: r.gateway
            for r in services.client(address or "").list_route_entries()}


def _route_calls(emulator: Emulator | None, method: str) -> list[str]:
    """Destinations of the appliance's successful route POSTs or DELETEs, in order."""
    assert emulator is not None and emulator.hooks is not None
    found = []
    for call in emulator.hooks.calls:
        if call["method"] != method or call["status"] != 200:
            continue
        if method == "POST" and call["path"].endswith("/config/route"):
            found.append(call["body"]["destinationIPNet"])
        elif method == "DELETE" and "/config/route/destinationIPNet/" in call["path"]:
            found.append("/".join(call["path"].rsplit("/", 2)[1:]))
    return found


def _host(subnet: Any, host: int) -> str:
    return f"{subnet.cidr.rsplit('.', 1)[0]}.{host}"


def _at(third_octet: int, host: int) -> str:
    """An address of the subnet ``cloud.add_subnet(third_octet)`` makes."""
    return f"127.{OCTET}.{third_octet}.{host}"


@pytest.mark.parametrize("default_route", [True, False])
def test_build_routes_the_vip_subnet(services: Services, cloud: FakeCloud,
                                     default_route: bool) -> None:
    """Host routes with an on-link nexthop, and the default via the gateway unless turned
    off; a host route whose nexthop the appliance cannot reach is skipped."""
    subnet = cloud.add_subnet(4, host_routes=[("10.61.0.0/16", _at(4, 254)),
                                              ("10.62.0.0/16", "192.0.2.1")])
    services.conf.set_override("vip_default_route", default_route, group="loxilb_appliance")
    results = flows.create_group(services, _spec(services, subnet), True, subnet.id)
    [appliance] = services.store.appliances(results["group_id"])
    expected = {"10.61.0.0/16": _host(subnet, 254)}
    if default_route:
        expected["0.0.0.0/0"] = _host(subnet, 1)
    assert _routes(services, appliance.management_address) == expected


def test_a_failed_step_after_the_routes_reverts_them(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    """ACTIVE_STANDBY fails at its HA step: each appliance's routes are removed by the
    revert (before its server goes), exactly the ones that create added."""
    cloud.boot_faults = [Fault(method="POST", path_prefix="/config/cistate", status=500,
                               count=0)]
    with pytest.raises(Exception, match="emulated fault"):
        flows.create_group(services, _spec(services, vip_subnet, "ACTIVE_STANDBY"), True,
                           vip_subnet.id)
    assert len(cloud.booted) == 2
    for emulator in cloud.booted:
        assert _route_calls(emulator, "POST") == ["0.0.0.0/0"]
        assert _route_calls(emulator, "DELETE") == ["0.0.0.0/0"]
    assert cloud.counts() == EMPTY
    assert _tables_empty(services)


def test_a_member_subnet_brings_its_host_routes_and_takes_them_along(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    """Attach adds the member subnet's host routes (never a second default); a route the
    appliance already held stays as it was; detach removes exactly the routes it added."""
    members_subnet = cloud.add_subnet(3, host_routes=[("10.63.0.0/16", _at(3, 254)),
                                                      ("10.64.0.0/16", _at(3, 254))])
    manager = ApplianceManager(services, _engine(services))
    tree = _tree(vip_subnet)
    group = manager.ensure(tree["loadbalancer_id"], tree)
    [appliance] = services.store.appliances(group.id)
    vip_gateway = _host(vip_subnet, 1)
    services.client(appliance.management_address or "").add_route(
        models.Route("10.64.0.0/16", vip_gateway))
    before = _routes(services, appliance.management_address)
    assert before == {"0.0.0.0/0": vip_gateway, "10.64.0.0/16": vip_gateway}

    tree["pools"][0]["members"] = [{"member_id": "m1", "subnet_id": members_subnet.id,
                                    "address": _host(members_subnet, 50)}]
    manager.ensure(tree["loadbalancer_id"], tree)
    assert _routes(services, appliance.management_address) == {
        **before, "10.63.0.0/16": _host(members_subnet, 254)}

    emulator = cloud.servers[appliance.server_id or ""].emulator
    assert emulator is not None and emulator.hooks is not None
    emulator.hooks.calls.clear()
    manager.ensure(tree["loadbalancer_id"], tree, leaving={"m1"})
    [appliance] = services.store.appliances(group.id)
    assert appliance.ports_for("member") == []
    assert _routes(services, appliance.management_address) == before
    assert _route_calls(emulator, "DELETE") == ["10.63.0.0/16"]


def test_a_failed_member_attach_removes_the_routes_it_added(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    """The second of two member attaches fails: the first one's routes go with its port,
    and a route the appliance held before stays."""
    subnets = [cloud.add_subnet(octet, host_routes=[(destination, _at(octet, 254)),
                                                    ("10.67.0.0/16", _at(octet, 254))])
               for octet, destination in ((3, "10.65.0.0/16"), (4, "10.66.0.0/16"))]
    first = min(subnets, key=lambda s: s.id)  # attached in subnet ID order
    manager = ApplianceManager(services, _engine(services))
    tree = _tree(vip_subnet)
    group = manager.ensure(tree["loadbalancer_id"], tree)
    [appliance] = services.store.appliances(group.id)
    services.client(appliance.management_address or "").add_route(
        models.Route("10.67.0.0/16", _host(vip_subnet, 1)))
    before = _routes(services, appliance.management_address)

    tree["pools"][0]["members"] = [
        {"member_id": f"m{i}", "subnet_id": s.id, "address": _host(s, 50)}
        for i, s in enumerate(subnets)]
    cloud.fail["attach_port"] = 2
    with pytest.raises(Exception, match="injected failure of attach_port"):
        manager.ensure(tree["loadbalancer_id"], tree)
    emulator = cloud.servers[appliance.server_id or ""].emulator
    added = [first.host_routes[0][0]]
    assert _route_calls(emulator, "POST") == ["0.0.0.0/0", "10.67.0.0/16", *added]
    assert _route_calls(emulator, "DELETE") == added
    assert _routes(services, appliance.management_address) == before
    [appliance] = services.store.appliances(group.id)
    assert appliance.ports_for("member") == []


def test_a_rebuilt_appliance_gets_its_routes_again(
        services: Services, cloud: FakeCloud, vip_subnet: Any) -> None:
    """The VIP default and the member subnet's host routes, on the new server."""
    members_subnet = cloud.add_subnet(3, host_routes=[("10.68.0.0/16", _at(3, 254))])
    manager = ApplianceManager(services, _engine(services))
    tree = _tree(vip_subnet, members=[{"member_id": "m1", "subnet_id": members_subnet.id,
                                       "address": _host(members_subnet, 50)}])
    group = manager.ensure(tree["loadbalancer_id"], tree)
    [appliance] = services.store.appliances(group.id)
    expected = {"0.0.0.0/0": _host(vip_subnet, 1), "10.68.0.0/16": _host(members_subnet, 254)}
    assert _routes(services, appliance.management_address) == expected

    _kill(cloud, appliance.server_id)
    [outcome] = ApplianceMonitor(services, _engine(services)).run_once()
    assert outcome.rebuilt == [appliance.id]
    [rebuilt] = services.store.appliances(group.id)
    assert rebuilt.server_id != appliance.server_id
    assert _routes(services, rebuilt.management_address) == expected
    server = cloud.servers[rebuilt.server_id or ""]
    assert set(server.port_ids) == {p.port_id for p in rebuilt.ports}
