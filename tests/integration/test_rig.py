"""The rig itself: a real Octavia API and driver-agent answer the SDK, the CLI and octavia-lib.

Octavia's own ``noop_driver`` provider never reports status, so everything a test sees change
went through the path our worker uses: ``DriverLibrary`` over the driver-agent's sockets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import pymysql
import pytest
from octavia_lib.api.drivers import exceptions as driver_exceptions

from rig import services
from rig.backends import TcpBackend, UdpBackend, distribution, send_tcp, send_udp
from rig.clients import DEFAULT_PROJECT, CliError
from rig.octavia import OctaviaRig

NOOP = "noop_driver"
ANY_SUBNET = "6d0d3b1e-2f7a-4d8b-9a53-1c1b2f0e7a11"

FULL_TREE: dict[str, Any] = {
    "listeners": [
        {"name": "tcp80", "protocol": "TCP", "protocol_port": 80,
         "default_pool": {
             "name": "web", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
             "members": [{"address": "127.21.0.1", "protocol_port": 8080, "weight": 2},
                         {"address": "127.21.0.2", "protocol_port": 8080}],
             "healthmonitor": {"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2}}},
        {"name": "http81", "protocol": "HTTP", "protocol_port": 81,
         "l7policies": [{"name": "deny-x", "action": "REJECT",
                         "rules": [{"type": "PATH", "compare_type": "STARTS_WITH",
                                    "value": "/x"}]}]},
    ],
    "pools": [{"name": "dns", "protocol": "UDP", "lb_algorithm": "SOURCE_IP",
               "members": [{"address": "127.21.0.3", "protocol_port": 53}]}],
}


def _create_lb(sdk: Any, vip: str, **extra: Any) -> dict[str, Any]:
    body = {"name": f"lb-{uuid.uuid4().hex[:6]}", "vip_subnet_id": ANY_SUBNET,
            "provider": NOOP, **extra}
    if vip:
        body["vip_address"] = vip
    resp = sdk.load_balancer.post("/lbaas/loadbalancers", json={"loadbalancer": body})
    assert resp.status_code == 201, resp.text
    lb: dict[str, Any] = resp.json()["loadbalancer"]
    return lb


def _api_get(sdk: Any, path: str) -> dict[str, Any]:
    resp = sdk.load_balancer.get(path)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _status_doc(tree: Any, provisioning: str = "ACTIVE") -> dict[str, list[dict[str, str]]]:
    """A status record for every object of a ``get_loadbalancer`` tree."""
    doc: dict[str, list[dict[str, str]]] = {k: [] for k in (
        "loadbalancers", "listeners", "pools", "members", "healthmonitors", "l7policies",
        "l7rules")}

    def add(kind: str, oid: str, operating: str = "ONLINE") -> None:
        doc[kind].append({"id": oid, "provisioning_status": provisioning,
                          "operating_status": operating})

    add("loadbalancers", tree.loadbalancer_id)
    for listener in tree.listeners or []:
        add("listeners", listener["listener_id"])
        for policy in listener["l7policies"]:
            add("l7policies", policy["l7policy_id"])
            for rule in policy["rules"]:
                add("l7rules", rule["l7rule_id"])
    for pool in tree.pools or []:
        add("pools", pool["pool_id"])
        for member in pool["members"]:
            add("members", member["member_id"])
        if pool["healthmonitor"]:
            add("healthmonitors", pool["healthmonitor"]["healthmonitor_id"])
    return doc


def test_sdk_create_keeps_the_loopback_vip_and_stays_pending(rig_sdk: Any) -> None:
    lb = _create_lb(rig_sdk, "127.20.0.10")

    assert lb["vip_address"] == "127.20.0.10"
    assert lb["vip_subnet_id"] == ANY_SUBNET
    assert lb["project_id"] == DEFAULT_PROJECT
    assert lb["provider"] == NOOP
    shown = _api_get(rig_sdk, f"/lbaas/loadbalancers/{lb['id']}")["loadbalancer"]
    assert shown["provisioning_status"] == "PENDING_CREATE"


def test_without_a_vip_address_every_lb_gets_the_same_noop_address(rig_sdk: Any) -> None:
    """noop_driver's own create_vip_port answers 198.0.2.5 whatever the LB."""
    first, second = (_create_lb(rig_sdk, vip="") for _ in range(2))

    assert first["vip_address"] == second["vip_address"] == "198.0.2.5"


def test_cli_create_resolves_through_the_stub_and_uses_the_project(rig_cli: Any) -> None:
    subnet = str(uuid.uuid4())
    lb = rig_cli("loadbalancer", "create", "--name", "from-cli", "--vip-address",
                 "127.20.0.11", "--vip-subnet-id", subnet, "--provider", NOOP)

    assert lb["vip_address"] == "127.20.0.11"
    assert lb["vip_subnet_id"] == subnet
    assert lb["project_id"] == DEFAULT_PROJECT
    assert lb["provisioning_status"] == "PENDING_CREATE"
    assert f"/network/v2.0/subnets?id={subnet}" in rig_cli.stub.requests
    listed = {row["id"] for row in rig_cli("loadbalancer", "list")}
    assert lb["id"] in listed


def test_cli_status_show_set_and_delete(rig_cli: Any, rig_sdk: Any,
                                        rig_driver_lib: Any) -> None:
    lb = _create_lb(rig_sdk, "127.20.0.22")
    rig_driver_lib.update_loadbalancer_status(
        _status_doc(rig_driver_lib.get_loadbalancer(lb["id"])))

    tree = rig_cli("loadbalancer", "status", "show", lb["id"])
    assert tree["loadbalancer"]["provisioning_status"] == "ACTIVE"
    assert rig_cli("loadbalancer", "set", "--description", "d1", lb["id"]) is None
    shown = rig_cli("loadbalancer", "show", lb["id"])
    assert (shown["description"], shown["provisioning_status"]) == ("d1", "PENDING_UPDATE")
    rig_driver_lib.update_loadbalancer_status(
        {"loadbalancers": [{"id": lb["id"], "provisioning_status": "ACTIVE"}]})
    assert rig_cli("loadbalancer", "delete", lb["id"]) is None
    shown = rig_cli("loadbalancer", "show", lb["id"])
    assert shown["provisioning_status"] == "PENDING_DELETE"  # noop never confirms


def test_cli_reports_api_errors(rig_cli: Any) -> None:
    with pytest.raises(CliError) as err:
        rig_cli("loadbalancer", "create", "--vip-address", "127.20.0.12",
                "--vip-subnet-id", ANY_SUBNET, "--provider", "no-such-provider")
    assert "no-such-provider" in str(err.value)


def test_status_pushed_through_the_driver_agent_makes_the_tree_active(
        rig_sdk: Any, rig_driver_lib: Any) -> None:
    lb = _create_lb(rig_sdk, "127.20.0.13", **FULL_TREE)
    tree = rig_driver_lib.get_loadbalancer(lb["id"])

    rig_driver_lib.update_loadbalancer_status(_status_doc(tree))

    shown = _api_get(rig_sdk, f"/lbaas/loadbalancers/{lb['id']}")["loadbalancer"]
    assert (shown["provisioning_status"], shown["operating_status"]) == ("ACTIVE", "ONLINE")
    status = _api_get(rig_sdk, f"/lbaas/loadbalancers/{lb['id']}/status")["statuses"]
    listeners = status["loadbalancer"]["listeners"]
    assert {li["provisioning_status"] for li in listeners} == {"ACTIVE"}
    members = [m for li in listeners for p in li["pools"] for m in p["members"]]
    assert len(members) == 2
    assert {m["operating_status"] for m in members} == {"ONLINE"}


@pytest.mark.parametrize(("kind", "stops"), [
    ("listeners", True), ("l7policies", True), ("l7rules", True),
    ("members", False), ("pools", False), ("healthmonitors", False)])
def test_status_push_with_an_unknown_id(rig_sdk: Any, rig_driver_lib: Any, kind: str,
                                        stops: bool) -> None:
    """Unknown listener/L7 ids abort the push; unknown member/pool/monitor ids are skipped."""
    lb = _create_lb(rig_sdk, "127.20.0.14")
    doc = {kind: [{"id": str(uuid.uuid4()), "provisioning_status": "ACTIVE"}],
           "loadbalancers": [{"id": lb["id"], "provisioning_status": "ACTIVE"}]}

    if stops:
        with pytest.raises(driver_exceptions.UpdateStatusError):
            rig_driver_lib.update_loadbalancer_status(doc)
    else:
        rig_driver_lib.update_loadbalancer_status(doc)

    shown = _api_get(rig_sdk, f"/lbaas/loadbalancers/{lb['id']}")["loadbalancer"]
    assert shown["provisioning_status"] == ("PENDING_CREATE" if stops else "ACTIVE")


def test_status_push_with_an_invalid_status_stops_processing(
        rig_sdk: Any, rig_driver_lib: Any) -> None:
    lb = _create_lb(rig_sdk, "127.20.0.14")
    tree = rig_driver_lib.get_loadbalancer(lb["id"])
    doc = _status_doc(tree)
    doc["loadbalancers"][0]["provisioning_status"] = "BOGUS"

    with pytest.raises(driver_exceptions.UpdateStatusError):
        rig_driver_lib.update_loadbalancer_status(doc)

    shown = _api_get(rig_sdk, f"/lbaas/loadbalancers/{lb['id']}")["loadbalancer"]
    assert shown["provisioning_status"] == "PENDING_CREATE"


def test_get_loadbalancer_returns_the_tree_as_plain_dicts(
        rig_sdk: Any, rig_driver_lib: Any) -> None:
    """The shape recorded in doc/test-rig.md: what the reconciler reads."""
    lb = _create_lb(rig_sdk, "127.20.0.15", **FULL_TREE)

    tree = rig_driver_lib.get_loadbalancer(lb["id"])

    assert tree.loadbalancer_id == lb["id"]
    assert (tree.vip_address, tree.vip_subnet_id) == ("127.20.0.15", ANY_SUBNET)
    assert tree.flavor is None and tree.availability_zone is None
    by_name = {li["name"]: li for li in tree.listeners}
    assert set(by_name) == {"tcp80", "http81"}
    tcp = by_name["tcp80"]
    assert isinstance(tcp, dict)
    assert "provisioning_status" not in tcp and "operating_status" not in tcp
    assert tcp["default_pool_id"] == tcp["default_pool"]["pool_id"]
    pool = tcp["default_pool"]
    assert pool["listener_id"] == tcp["listener_id"]
    assert pool["healthmonitor"]["type"] == "TCP"
    assert sorted((m["address"], m["weight"]) for m in pool["members"]) == [
        ("127.21.0.1", 2), ("127.21.0.2", 1)]
    http = by_name["http81"]
    assert http["default_pool"] is None
    [policy] = http["l7policies"]
    assert policy["rules"][0]["value"] == "/x"
    pools = {p["name"]: p for p in tree.pools}
    assert set(pools) == {"web", "dns"}
    assert pools["dns"]["listener_id"] is None and pools["dns"]["healthmonitor"] is None
    assert pools["web"] == pool


def test_get_loadbalancer_of_a_bare_lb_has_none_not_empty_lists(
        rig_sdk: Any, rig_driver_lib: Any) -> None:
    lb = _create_lb(rig_sdk, "127.20.0.18", listeners=[
        {"name": "bare", "protocol": "TCP", "protocol_port": 82,
         "default_pool": {"name": "empty", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}])
    bare = _create_lb(rig_sdk, "127.20.0.19")

    assert rig_driver_lib.get_loadbalancer(bare["id"]).listeners is None
    assert rig_driver_lib.get_loadbalancer(bare["id"]).pools is None
    [listener] = rig_driver_lib.get_loadbalancer(lb["id"]).listeners
    assert listener["l7policies"] == []
    assert listener["default_pool"]["members"] == []
    assert listener["default_pool"]["healthmonitor"] is None


def test_member_pending_delete_is_still_in_the_tree_until_reported_deleted(
        rig_sdk: Any, rig_driver_lib: Any) -> None:
    lb = _create_lb(rig_sdk, "127.20.0.16", **FULL_TREE)
    tree = rig_driver_lib.get_loadbalancer(lb["id"])
    rig_driver_lib.update_loadbalancer_status(_status_doc(tree))
    pool = next(p for p in tree.pools if p["name"] == "web")
    gone = pool["members"][0]["member_id"]

    resp = rig_sdk.load_balancer.delete(f"/lbaas/pools/{pool['pool_id']}/members/{gone}")
    assert resp.status_code == 204, resp.text

    during = rig_driver_lib.get_pool(pool["pool_id"])
    assert gone in {m["member_id"] for m in during.members}
    during_tree = rig_driver_lib.get_loadbalancer(lb["id"])
    web = next(p for p in during_tree.pools if p["pool_id"] == pool["pool_id"])
    assert gone in {m["member_id"] for m in web["members"]}
    rig_driver_lib.update_loadbalancer_status({
        "members": [{"id": gone, "provisioning_status": "DELETED"}],
        "pools": [{"id": pool["pool_id"], "provisioning_status": "ACTIVE"}],
        "listeners": [{"id": pool["listener_id"], "provisioning_status": "ACTIVE"}],
        "loadbalancers": [{"id": lb["id"], "provisioning_status": "ACTIVE"}]})
    after = rig_driver_lib.get_pool(pool["pool_id"])
    assert gone not in {m["member_id"] for m in after.members}
    assert rig_sdk.load_balancer.get(
        f"/lbaas/pools/{pool['pool_id']}/members/{gone}").status_code == 404


def test_listener_statistics_pushed_are_served_by_the_api(
        rig_sdk: Any, rig_driver_lib: Any) -> None:
    lb = _create_lb(rig_sdk, "127.20.0.17", **FULL_TREE)
    listener_id = rig_driver_lib.get_loadbalancer(lb["id"]).listeners[0]["listener_id"]

    rig_driver_lib.update_listener_statistics({"listeners": [{
        "id": listener_id, "bytes_in": 100, "bytes_out": 2000, "active_connections": 3,
        "total_connections": 7, "request_errors": 1}]})

    stats = _api_get(rig_sdk, f"/lbaas/listeners/{listener_id}/stats")["stats"]
    assert (stats["bytes_in"], stats["bytes_out"], stats["total_connections"]) == (100, 2000, 7)


def test_providers_include_loxilb_and_noop(rig_sdk: Any, octavia_rig: OctaviaRig) -> None:
    names = {p["name"] for p in _api_get(rig_sdk, "/lbaas/providers")["providers"]}
    assert NOOP in names
    assert "loxilb" in names, "loxilb provider failed to load:\n" + octavia_rig.logs_tail(80)


def _database_exists(name: str) -> bool:
    conn = pymysql.connect(unix_socket=services.find_mariadb_socket(), user="root")
    with conn, conn.cursor() as cur:
        return bool(cur.execute("SHOW DATABASES LIKE %s", (name,)))


def _vhosts() -> set[str]:
    out = subprocess.run(["rabbitmqctl", "-q", "list_vhosts"], capture_output=True,
                         text=True, check=True).stdout
    return set(out.split())


def _consumers_are_seen_in_the_rig_vhost(rig: OctaviaRig) -> None:
    import kombu

    assert rig.vhost is not None
    url = rig.transport_url.replace("rabbit://", "amqp://", 1)
    with kombu.Connection(url) as conn:
        queue = kombu.Queue("rig-probe", channel=conn.channel(), auto_delete=True)
        queue.declare()
        assert services.queue_consumers(rig.vhost) == {"rig-probe": 0}
        with conn.Consumer(queue, callbacks=[]):
            services.wait_for_consumers(rig.vhost, "rig-probe", 1, timeout=10)


def test_a_rig_starts_and_stop_leaves_nothing_behind(tmp_path: Any) -> None:
    pytest.importorskip("octavia", reason="the octavia server package is not installed")
    rig = OctaviaRig(tmp_path, provider_drivers={NOOP: "noop"}, loxilb={"marker": "x1"},
                     extra_config={"other_section": {"key": "value"}})
    with rig:
        assert rig.api_alive() and rig.agent_alive()
        assert all(os.path.exists(p) for p in rig.sockets.values())
        conf = rig.conf_path.read_text()
        assert "[loxilb]\nmarker = x1" in conf and "[other_section]\nkey = value" in conf
        assert _database_exists(rig.database_name)
        assert rig.vhost in _vhosts()
        _consumers_are_seen_in_the_rig_vhost(rig)
        helper = rig.start_process("sleeper", [sys.executable, "-c",
                                               "import time; time.sleep(60)"])
        assert helper.poll() is None
        pids = [p.pid for p in (rig._api, rig._agent, helper) if p is not None]

    assert not rig.api_alive() and not rig.agent_alive()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert not _database_exists(rig.database_name)
    assert rig.vhost not in _vhosts()
    assert "--- api" in rig.logs_tail()


def test_tcp_backends_name_themselves_and_restart() -> None:
    with TcpBackend("127.21.1.1", 0, "b1") as b1:
        assert send_tcp("127.21.1.1", b1.port, "hello") == "b1 hello"
        assert send_tcp("127.21.1.1", b1.port, "x", source_ip="127.99.0.5") == "b1 x"
        assert b1.peers[-1][0] == "127.99.0.5"
        b1.stop()
        with pytest.raises(ConnectionRefusedError):
            send_tcp("127.21.1.1", b1.port)
        b1.restart()
        assert send_tcp("127.21.1.1", b1.port, "again") == "b1 again"


def test_tcp_backend_answers_http_get() -> None:
    import urllib.request

    with TcpBackend("127.21.1.2", 0, "web1") as web:
        url = f"http://127.21.1.2:{web.port}/health"
        with urllib.request.urlopen(url, timeout=5) as reply:
            assert (reply.status, reply.read()) == (200, b"web1\n")


def test_udp_backends_and_distribution_count_names() -> None:
    with UdpBackend("127.21.1.3", 0, "u1") as u1, TcpBackend("127.21.1.3", 0, "t1") as t1:
        assert send_udp("127.21.1.3", u1.port, "q") == "u1 q"
        assert distribution("127.21.1.3", u1.port, 3, protocol="udp") == {"u1": 3}
        assert distribution("127.21.1.3", t1.port, 4) == {"t1": 4}
        u1.stop()
        assert distribution("127.21.1.3", u1.port, 1, protocol="udp", timeout=0.2) == {
            "<error>": 1}
