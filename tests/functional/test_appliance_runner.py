"""The worker's JobRunner with appliance flavors: a create builds the appliances and
converges the rules on them over mutual TLS; the delete takes everything down; a failed
build ends the load balancer ERROR with nothing left in the cloud."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from octavia_lib.api.drivers import data_models as dm
from oslo_config import cfg

from octavia_loxilb.appliance.cert_store import CertificateStore
from octavia_loxilb.appliance.manager import ApplianceManager
from octavia_loxilb.appliance.services import Services
from octavia_loxilb.appliance.store import ApplianceStore
from octavia_loxilb.conf import register_opts
from octavia_loxilb.db import migrations
from octavia_loxilb.db.session import create_engine
from octavia_loxilb.driver import job_builder
from octavia_loxilb.worker import octavia_reader
from octavia_loxilb.worker.locking import LoadBalancerLocks
from octavia_loxilb.worker.placement import Placer
from octavia_loxilb.worker.runner import JobRunner
from tests.functional.appliance_cloud import FakeCloud
from tests.functional.test_worker import FakeDriverAgent, build_lb, member

EMPTY = {"servers": 0, "ports": 0, "security_groups": 0, "server_groups": 0}
LB_ID = "a0000000-0000-0000-0000-00000000a001"


@pytest.fixture
def agent(tmp_path: pathlib.Path) -> Iterator[FakeDriverAgent]:
    fake = FakeDriverAgent(tmp_path).start()
    octavia_reader.reset_driver_library()
    yield fake
    octavia_reader.reset_driver_library()
    fake.stop()


@pytest.fixture
def cloud(tmp_path: pathlib.Path) -> Iterator[FakeCloud]:
    fake = FakeCloud(tmp_path)
    yield fake
    fake.stop()


@pytest.fixture
def runner(tmp_path: pathlib.Path, agent: FakeDriverAgent,
           cloud: FakeCloud) -> Iterator[JobRunner]:
    management = cloud.add_subnet(1)
    conf = register_opts(cfg.ConfigOpts())
    conf([], project="octavia-loxilb-test")
    loxilb: dict[str, Any] = {
        "state_path": str(tmp_path / "state"), "api_retries": 0,
        "status_socket_path": agent.paths["status"], "stats_socket_path": agent.paths["stats"],
        "get_socket_path": agent.paths["get"], "tree_read_deadline": 3.0,
        "status_push_attempts": 2}
    appliance: dict[str, Any] = {
        "ca_key_passphrase": "test", "management_network_id": management.network_id,
        "image_id": "image-1", "compute_flavor_id": "flavor-1", "api_timeout": 2.0,
        "ping_timeout": 2.0, "poll_interval": 0.05}
    for group, values in (("loxilb", loxilb), ("loxilb_appliance", appliance)):
        for key, value in values.items():
            conf.set_override(key, value, group=group)
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.sqlite'}")
    migrations.upgrade(engine)
    services = Services(conf, cloud, ApplianceStore(engine), CertificateStore(engine, conf))
    locks = LoadBalancerLocks(f"file://{tmp_path}/locks", "test", timeout=10)
    locks.start()
    placer = Placer(engine, conf)
    yield JobRunner(conf, locks=locks, placer=placer,
                    appliances=lambda: ApplianceManager(services, engine, locks.hold))
    placer.close()
    services.close()
    locks.stop()


def _lb(cloud: FakeCloud) -> dm.LoadBalancer:
    vip_subnet = cloud.add_subnet(2)
    prefix = vip_subnet.cidr.rsplit(".", 1)[0]
    lb = build_lb([member("m1", f"{LB_ID[:-4]}p001", 9001)], lb_id=LB_ID,
                  vip=f"{prefix}.200")
    lb.flavor = {"deployment": "appliance"}
    lb.vip_network_id = vip_subnet.network_id
    lb.vip_subnet_id = vip_subnet.id
    return lb


def _create_and_kill_the_appliance(runner: JobRunner, agent: FakeDriverAgent,
                                   cloud: FakeCloud) -> tuple[dm.LoadBalancer, Any, str]:
    """A created appliance load balancer whose one appliance was then killed; returns the
    load balancer, the dead server and its management address."""
    lb = _lb(cloud)
    agent.set_tree(lb)
    assert runner.run(job_builder.loadbalancer_create(lb)).succeeded
    [dead] = cloud.servers.values()
    assert dead.emulator is not None
    address = dead.emulator.config.host
    dead.emulator.stop()
    return lb, dead, address


def test_create_builds_appliances_and_converges_rules_on_them(
        runner: JobRunner, agent: FakeDriverAgent, cloud: FakeCloud) -> None:
    lb = _lb(cloud)
    agent.set_tree(lb)
    created = runner.run(job_builder.loadbalancer_create(lb))
    assert created.succeeded, created.reason
    assert agent.status_of(LB_ID)[0] == "ACTIVE"
    assert cloud.counts() == {"servers": 1, "ports": 2, "security_groups": 2,
                              "server_groups": 0}
    [server] = cloud.servers.values()
    assert server.emulator is not None
    [rule] = runner.appliances.services.client(
        server.emulator.config.host).list_rules()
    assert rule.service.external_ip == lb.vip_address

    deleted = runner.run(job_builder.loadbalancer_delete(lb, cascade=True))
    assert deleted.succeeded, deleted.reason
    assert cloud.counts() == EMPTY
    assert runner.placer.placed_group(LB_ID) is None


def test_a_failed_build_ends_error_and_leaves_nothing(
        runner: JobRunner, agent: FakeDriverAgent, cloud: FakeCloud) -> None:
    lb = _lb(cloud)
    agent.set_tree(lb)
    cloud.fail["boot_server"] = 1
    created = runner.run(job_builder.loadbalancer_create(lb))
    assert not created.succeeded
    assert "injected failure of boot_server" in created.reason
    assert agent.status_of(LB_ID)[0] == "ERROR"
    assert cloud.counts() == EMPTY
    # The ERROR load balancer is deleted without any appliance ever having existed.
    deleted = runner.run(job_builder.loadbalancer_delete(lb, cascade=True))
    assert deleted.succeeded, deleted.reason
    assert cloud.counts() == EMPTY


def test_failover_rebuilds_a_dead_appliance_and_restores_the_rules(
        runner: JobRunner, agent: FakeDriverAgent, cloud: FakeCloud) -> None:
    lb, dead, address = _create_and_kill_the_appliance(runner, agent, cloud)
    failover = runner.run(job_builder.loadbalancer_failover(LB_ID))
    assert failover.succeeded, failover.reason
    [rebuilt] = cloud.servers.values()
    assert rebuilt.id != dead.id
    assert rebuilt.emulator is not None and rebuilt.emulator.config.host == address
    [rule] = runner.appliances.services.client(address).list_rules()
    assert rule.service.external_ip == lb.vip_address


def test_deleting_the_last_lb_of_a_dead_appliance_destroys_it_without_reaching_it(
        runner: JobRunner, agent: FakeDriverAgent, cloud: FakeCloud) -> None:
    lb, _dead, _address = _create_and_kill_the_appliance(runner, agent, cloud)
    deleted = runner.run(job_builder.loadbalancer_delete(lb, cascade=True))
    assert deleted.succeeded, deleted.reason
    assert agent.status_of(LB_ID)[0] == "DELETED"
    assert cloud.counts() == EMPTY
    assert runner.placer.placed_group(LB_ID) is None
