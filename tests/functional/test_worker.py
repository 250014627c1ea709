"""The worker end to end: RPC on real RabbitMQ, LoxiLB emulator, status through the real
``DriverLibrary`` to a small driver-agent stand-in on unix sockets.

The stand-in speaks the driver-agent wire protocol (octavia-lib ``driver_lib._send``: a
decimal length, a newline, a JSON body; the answer framed the same way), answers ``get``
from trees the test sets, applies status pushes the way Octavia's driver updater does
(children first, stop at the first unknown id, DELETED removes the object) and records
every request with the caller's pid. The full Octavia API + driver-agent path is covered by
the integration tests on ``rig/``.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import oslo_messaging
import pytest
from octavia_lib.api.drivers import data_models as dm
from octavia_lib.common import constants as lib_consts
from oslo_config import cfg

from octavia_loxilb.conf import register_opts
from octavia_loxilb.db import api as db_api
from octavia_loxilb.db import migrations
from octavia_loxilb.db.session import dispose_engines, get_engine, session_scope
from octavia_loxilb.driver import job_builder
from octavia_loxilb.driver.rpc import RPC_NAMESPACE, RPC_VERSION, RUN_JOB
from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.transport import NodeConfig
from octavia_loxilb.worker import octavia_reader
from octavia_loxilb.worker.service import WorkerService

RABBIT = "rabbit://guest:guest@127.0.0.1:5672/"
ORDER = ("members", "healthmonitors", "pools", "l7rules", "l7policies", "listeners",
         "loadbalancers")
ID_KEYS = {"loadbalancers": "loadbalancer_id", "listeners": "listener_id", "pools": "pool_id",
           "members": "member_id", "healthmonitors": "healthmonitor_id"}


def service_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


needs_rabbit = pytest.mark.skipif(not service_up(5672), reason="RabbitMQ is not running here")


# -- the driver-agent stand-in ---------------------------------------------------------------


def _walk(tree: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], list[Any] | None]]:
    """(kind, object, the list holding it) for every object of an LB tree."""
    yield "loadbalancers", tree, None
    for listener in tree.get("listeners") or []:
        yield "listeners", listener, tree["listeners"]
    for pool in tree.get("pools") or []:
        yield "pools", pool, tree["pools"]
        if pool.get("healthmonitor"):
            yield "healthmonitors", pool["healthmonitor"], None
        for member in pool.get("members") or []:
            yield "members", member, pool["members"]


class FakeDriverAgent:
    """Status, stats and get sockets with Octavia's framing, backed by in-memory trees."""

    def __init__(self, directory: Path) -> None:
        self.paths = {n: str(directory / f"{n}.sock") for n in ("status", "stats", "get")}
        self.trees: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, tuple[str | None, str | None]] = {}
        self.pushes: list[dict[str, Any]] = []
        self.events: list[tuple[float, str, str, int]] = []
        """(monotonic time, "get"|"push", load balancer id, caller pid)."""
        self.get_delay = 0.0
        self.lock = threading.Lock()
        self.pushed = threading.Condition(self.lock)
        self._servers: list[socketserver.ThreadingUnixStreamServer] = []

    # test API
    def set_tree(self, lb: dm.LoadBalancer) -> None:
        with self.lock:
            tree = lb.to_dict(recurse=True, render_unsets=True)
            self.trees[tree["loadbalancer_id"]] = tree

    def wait_pushes(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        with self.pushed:
            assert self.pushed.wait_for(lambda: len(self.pushes) >= count, timeout), (
                f"{len(self.pushes)} pushes, expected {count}")
            return list(self.pushes)

    def status_of(self, obj_id: str) -> tuple[str | None, str | None]:
        with self.lock:
            return self.statuses[obj_id]

    # server
    def start(self) -> FakeDriverAgent:
        agent = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                creds = self.request.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                struct.calcsize("3i"))
                pid = struct.unpack("3i", creds)[0]
                size = b""
                while not size.endswith(b"\n"):
                    chunk = self.request.recv(1)
                    if not chunk:
                        return
                    size += chunk
                body = b""
                while len(body) < int(size):
                    body += self.request.recv(int(size) - len(body))
                answer = agent.answer(self.server.name, json.loads(body), pid)  # type: ignore[attr-defined]
                data = json.dumps(answer).encode()
                self.request.sendall(f"{len(data)}\n".encode() + data)

        for name, path in self.paths.items():
            server = socketserver.ThreadingUnixStreamServer(path, Handler)
            server.name = name  # type: ignore[attr-defined]
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()

    def answer(self, socket_name: str, request: dict[str, Any], pid: int) -> Any:
        if socket_name == "get":
            return self._get(request, pid)
        if socket_name == "status":
            return self._status(request, pid)
        return {"status_code": lib_consts.DRVR_STATUS_CODE_OK}

    def _find(self, kind: str, obj_id: str) -> tuple[str, dict[str, Any], list[Any] | None]:
        for lb_id, tree in self.trees.items():
            for found_kind, obj, holder in _walk(tree):
                if found_kind == kind and obj.get(ID_KEYS[kind]) == obj_id:
                    return lb_id, obj, holder
        raise KeyError(obj_id)

    def _get(self, request: dict[str, Any], pid: int) -> Any:
        kind, obj_id = request["object"], request["id"]
        if kind == "loadbalancers":
            with self.lock:
                self.events.append((time.monotonic(), "get", obj_id, pid))
        if self.get_delay:
            time.sleep(self.get_delay)
        with self.lock:
            try:
                _, obj, _ = self._find(kind, obj_id)
            except KeyError:
                return None
            return copy.deepcopy(obj)

    def _status(self, document: dict[str, Any], pid: int) -> dict[str, Any]:
        with self.pushed:
            self.pushes.append(copy.deepcopy(document))
            lb_ids = [r["id"] for r in document.get("loadbalancers", [])]
            self.events.append((time.monotonic(), "push", lb_ids[0] if lb_ids else "", pid))
            try:
                for kind in ORDER:
                    for record in document.get(kind, []):
                        self._apply(kind, record)
                return {"status_code": lib_consts.DRVR_STATUS_CODE_OK}
            except KeyError as exc:
                return {"status_code": lib_consts.DRVR_STATUS_CODE_FAILED,
                        "fault_string": f"{exc} not found",
                        "status_object": kind, "status_object_id": str(exc.args[0])}
            finally:
                self.pushed.notify_all()

    def _apply(self, kind: str, record: dict[str, Any]) -> None:
        lb_id, obj, holder = self._find(kind, record["id"])
        prov = record.get("provisioning_status")
        self.statuses[record["id"]] = (prov, record.get("operating_status"))
        if prov == "DELETED":
            if kind == "loadbalancers":
                del self.trees[lb_id]
            elif kind == "healthmonitors":
                parent = next(p for p in self.trees[lb_id]["pools"] if p["healthmonitor"] is obj)
                parent["healthmonitor"] = None
            elif holder is not None:
                holder.remove(obj)


# -- fixtures --------------------------------------------------------------------------------


LB = "11111111-1111-4111-8111-000000000001"
VIP = "127.0.42.10"


def member(mid: str, pool_id: str, port: int, weight: int = 1) -> dm.Member:
    return dm.Member(member_id=mid, pool_id=pool_id, address="127.0.42.50",
                     protocol_port=port, admin_state_up=True, weight=weight, backup=False)


def build_lb(members: list[dm.Member], lb_id: str = LB, vip: str = VIP) -> dm.LoadBalancer:
    pool = dm.Pool(pool_id=f"{lb_id[:-4]}p001", loadbalancer_id=lb_id, protocol="TCP",
                   lb_algorithm="ROUND_ROBIN", admin_state_up=True, members=members,
                   healthmonitor=None, listener_id=f"{lb_id[:-4]}l001")
    listener = dm.Listener(listener_id=f"{lb_id[:-4]}l001", loadbalancer_id=lb_id,
                           protocol="TCP", protocol_port=8080, admin_state_up=True,
                           default_pool=pool, default_pool_id=pool.pool_id, l7policies=[],
                           connection_limit=-1)
    return dm.LoadBalancer(loadbalancer_id=lb_id, admin_state_up=True, vip_address=vip,
                           listeners=[listener], pools=[pool], flavor={},
                           project_id="p", name="lb")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[FakeDriverAgent]:
    fake = FakeDriverAgent(tmp_path).start()
    octavia_reader.reset_driver_library()
    yield fake
    octavia_reader.reset_driver_library()
    fake.stop()


def worker_conf(tmp_path: Path, agent: FakeDriverAgent, emulators: list[Emulator], *,
                topic: str, coordination: str | None = None,
                threads: int = 2, read_deadline: float = 5.0) -> dict[str, dict[str, Any]]:
    return {
        "DEFAULT": {"transport_url": RABBIT},
        "loxilb": {
            "rpc_topic": topic,
            "state_path": str(tmp_path / "state"),
            "coordination_url": coordination or f"file://{tmp_path}/locks",
            "api_endpoints": ",".join(e.base_url for e in emulators),
            "api_retries": 0,
            "api_timeout_connect": 1.0,
            "status_socket_path": agent.paths["status"],
            "stats_socket_path": agent.paths["stats"],
            "get_socket_path": agent.paths["get"],
            "worker_threads": threads,
            "tree_read_deadline": read_deadline,
            "status_push_attempts": 2,
        },
        "loxilb_database": {"connection": f"sqlite:///{tmp_path}/state/worker.sqlite"},
    }


def write_conf(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    path.write_text("".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in opts.items())
        for name, opts in sections.items()))
    return path


def load_conf(path: Path) -> cfg.ConfigOpts:
    """The global ``cfg.CONF`` as the worker command uses it.

    oslo.messaging registers its tracing options on ``cfg.CONF`` only, so RPC needs it.
    """
    conf = register_opts(cfg.CONF)
    conf(["--config-file", str(path)], project="octavia")
    return conf


@pytest.fixture(autouse=True)
def _reset_global_conf() -> Iterator[None]:
    yield
    cfg.CONF.reset()
    cfg.CONF.clear()


class Caster:
    """What the provider driver does: cast ``run_job`` to the workers' topic."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.transport = oslo_messaging.get_rpc_transport(conf)
        target = oslo_messaging.Target(topic=conf.loxilb.rpc_topic, namespace=RPC_NAMESPACE,
                                       version=RPC_VERSION)
        self.client = oslo_messaging.get_rpc_client(self.transport, target)

    def cast(self, job: Any) -> None:
        self.client.cast({}, RUN_JOB, job=job.to_dict())

    def close(self) -> None:
        self.transport.cleanup()


@pytest.fixture
def stack(tmp_path: Path, agent: FakeDriverAgent,
          emulator: Emulator) -> Iterator[Callable[..., tuple[WorkerService, Caster]]]:
    """An in-process worker on real RabbitMQ (unique topic), its database migrated."""
    started: list[tuple[WorkerService, Caster]] = []

    def make(**overrides: Any) -> tuple[WorkerService, Caster]:
        sections = worker_conf(tmp_path, agent, [emulator],
                               topic=f"loxilb-test-{uuid.uuid4().hex[:8]}", **overrides)
        conf = load_conf(write_conf(tmp_path / "octavia.conf", sections))
        migrations.upgrade(get_engine(conf))
        service = WorkerService(conf, host="test-host")
        service.start()
        pair = (service, Caster(conf))
        started.append(pair)
        return pair

    yield make
    for service, caster in started:
        caster.close()
        service.stop()
    dispose_engines()


def rules_on(emulator: Emulator) -> dict[str, list[tuple[str, int, int]]]:
    with LoxiLBClient(NodeConfig(emulator.base_url)) as client:
        return {r.service.name: sorted((e.ip, e.port, e.weight) for e in r.endpoints)
                for r in client.list_rules()}


# -- tests -----------------------------------------------------------------------------------


@needs_rabbit
def test_lifecycle_over_rabbitmq(stack: Callable[..., tuple[WorkerService, Caster]],
                                 agent: FakeDriverAgent, emulator: Emulator) -> None:
    service, caster = stack()
    m1 = member("m1", f"{LB[:-4]}p001", 9001)
    lb = build_lb([m1])
    agent.set_tree(lb)
    caster.cast(job_builder.loadbalancer_create(lb))
    first = agent.wait_pushes(1)[0]
    assert [r["provisioning_status"] for k in first for r in first[k]] == ["ACTIVE"] * 4
    assert agent.status_of("m1") == ("ACTIVE", "NO_MONITOR")
    assert agent.status_of(LB) == ("ACTIVE", "ONLINE")
    rule_name = f"oct-{LB[:-4]}l001"
    assert [(ip, port) for ip, port, _ in rules_on(emulator)[rule_name]] == [
        ("127.0.42.50", 9001)]
    with session_scope(service.engine) as session:
        placed = db_api.get_placement(session, LB)
    assert placed is not None and placed.vip_address == VIP
    assert placed.group.name == "default" and placed.group.kind == "external"

    # A member create whose API commit is still pending when the job arrives.
    m2 = member("m2", f"{LB[:-4]}p001", 9002, weight=3)
    caster.cast(job_builder.member_create(m2))
    time.sleep(0.5)
    assert len(agent.pushes) == 1, "the worker waits for the commit"
    agent.set_tree(build_lb([m1, m2]))
    second = agent.wait_pushes(2)[1]
    assert [r["id"] for r in second["members"]] == ["m2"]
    endpoints = rules_on(emulator)[rule_name]
    assert [(ip, port) for ip, port, _ in endpoints] == [("127.0.42.50", 9001),
                                                         ("127.0.42.50", 9002)]
    assert endpoints[1][2] == 3 * endpoints[0][2], "weights keep the members' 1:3 ratio"

    caster.cast(job_builder.member_delete(m1))
    third = agent.wait_pushes(3)[2]
    assert third["members"] == [{"id": "m1", "provisioning_status": "DELETED",
                                 "operating_status": "OFFLINE"}]
    assert [(ip, port) for ip, port, _ in rules_on(emulator)[rule_name]] == [
        ("127.0.42.50", 9002)]

    caster.cast(job_builder.loadbalancer_delete(build_lb([m2]), cascade=True))
    last = agent.wait_pushes(4)[3]
    assert {r["id"] for k in last for r in last[k]} == {
        LB, f"{LB[:-4]}l001", f"{LB[:-4]}p001", "m2"}
    assert all(r["provisioning_status"] == "DELETED" for k in last for r in last[k])
    assert LB not in agent.trees
    assert rules_on(emulator) == {}
    with session_scope(service.engine) as session:
        assert db_api.get_placement(session, LB) is None


@needs_rabbit
def test_unreachable_loxilb_fails_only_the_member(
        stack: Callable[..., tuple[WorkerService, Caster]], agent: FakeDriverAgent,
        emulator: Emulator) -> None:
    _, caster = stack()
    m1 = member("m1", f"{LB[:-4]}p001", 9001)
    agent.set_tree(build_lb([m1]))
    caster.cast(job_builder.loadbalancer_create(build_lb([m1])))
    agent.wait_pushes(1)
    emulator.stop()
    m2 = member("m2", f"{LB[:-4]}p001", 9002)
    agent.set_tree(build_lb([m1, m2]))
    caster.cast(job_builder.member_create(m2))
    doc = agent.wait_pushes(2)[1]
    assert {r["id"]: r["provisioning_status"] for k in doc for r in doc[k]} == {
        "m2": "ERROR", f"{LB[:-4]}p001": "ACTIVE", f"{LB[:-4]}l001": "ACTIVE", LB: "ACTIVE"}


@needs_rabbit
def test_rolled_back_create_reports_nothing(
        stack: Callable[..., tuple[WorkerService, Caster]], agent: FakeDriverAgent) -> None:
    _, caster = stack(threads=1, read_deadline=1.0)
    agent.set_tree(build_lb([]))
    caster.cast(job_builder.member_create(member("never", f"{LB[:-4]}p001", 9001)))
    caster.cast(job_builder.loadbalancer_update(build_lb([]), dm.LoadBalancer(
        loadbalancer_id=LB, name="lb")))
    pushes = agent.wait_pushes(1)
    time.sleep(0.3)
    assert len(agent.pushes) == 1
    assert [r["id"] for k in pushes[0] for r in pushes[0][k]] == [LB]
    assert "never" not in agent.statuses


@needs_rabbit
def test_worker_refuses_an_old_schema(tmp_path: Path, agent: FakeDriverAgent,
                                      emulator: Emulator) -> None:
    conf_path = write_conf(tmp_path / "octavia.conf",
                           worker_conf(tmp_path, agent, [emulator], topic="unused"))
    done = subprocess.run([sys.executable, "-m", "octavia_loxilb.cmd.worker",
                           "--config-file", str(conf_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "octavia-loxilb-manage" in done.stderr and "db upgrade" in done.stderr


def start_worker(conf_path: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "octavia_loxilb.cmd.worker", "--config-file", str(conf_path),
         "--log-file", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def wait_for_log(log: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text():
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {log}:\n{log.read_text() if log.exists() else ''}")


@needs_rabbit
def test_sigterm_finishes_the_running_job(tmp_path: Path, agent: FakeDriverAgent,
                                          emulator: Emulator) -> None:
    sections = worker_conf(tmp_path, agent, [emulator], topic=f"t-{uuid.uuid4().hex[:8]}")
    conf_path = write_conf(tmp_path / "octavia.conf", sections)
    conf = load_conf(conf_path)
    migrations.upgrade(get_engine(conf))
    dispose_engines()
    log = tmp_path / "worker.log"
    proc = start_worker(conf_path, log)
    caster = Caster(conf)
    try:
        wait_for_log(log, "serving topic")
        agent.set_tree(build_lb([member("m1", f"{LB[:-4]}p001", 9001)]))
        agent.get_delay = 1.0
        caster.cast(job_builder.loadbalancer_create(build_lb([])))
        deadline = time.monotonic() + 30
        while not agent.events and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        assert len(agent.pushes) == 1, "the job in flight was finished before exit"
        assert agent.status_of(LB) == ("ACTIVE", "ONLINE")
    finally:
        caster.close()
        if proc.poll() is None:
            proc.kill()
    assert os.path.exists(log)


def test_push_drops_a_record_the_agent_rejects(agent: FakeDriverAgent) -> None:
    agent.set_tree(build_lb([member("m1", f"{LB[:-4]}p001", 9001)]))
    library = octavia_reader.driver_library(_socket_conf(agent))
    document = {
        "members": [{"id": "stale", "provisioning_status": "ACTIVE"},
                    {"id": "m1", "provisioning_status": "ACTIVE",
                     "operating_status": "NO_MONITOR"}],
        "loadbalancers": [{"id": LB, "provisioning_status": "ACTIVE",
                           "operating_status": "ONLINE"}],
    }
    assert octavia_reader.push_status(document, library, attempts=3, sleep=lambda _: None) \
        is False
    assert agent.status_of("m1") == ("ACTIVE", "NO_MONITOR")
    assert agent.status_of(LB) == ("ACTIVE", "ONLINE")
    assert [r["id"] for r in agent.pushes[-1]["members"]] == ["m1"]


def test_an_update_not_visible_by_the_deadline_is_still_reported(
        agent: FakeDriverAgent) -> None:
    agent.set_tree(build_lb([]))
    library = octavia_reader.driver_library(_socket_conf(agent))
    update = job_builder.loadbalancer_update(
        dm.LoadBalancer(loadbalancer_id=LB, name="lb"),
        dm.LoadBalancer(loadbalancer_id=LB, name="renamed"))
    tree = octavia_reader.read_tree(update, library, deadline=time.monotonic() + 0.3)
    assert tree is not None and tree["name"] == "lb"
    create = job_builder.member_create(member("m9", f"{LB[:-4]}p001", 9009))
    create.loadbalancer_id = LB
    assert octavia_reader.read_tree(create, library, deadline=time.monotonic() + 0.3) is None
    assert octavia_reader.resolve_loadbalancer_id(
        job_builder.member_create(member("m9", f"{LB[:-4]}p001", 9009)), library,
        deadline=time.monotonic() + 1) == LB


def _socket_conf(agent: FakeDriverAgent) -> Any:
    conf = register_opts(cfg.ConfigOpts())
    conf([])
    for name, path in agent.paths.items():
        conf.set_override(f"{name}_socket_path", path, group="loxilb")
    return conf
