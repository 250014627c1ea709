"""Throughput: many member creates at once through the real stack with two workers.

Set-up: ``rig.stack.LocalStack(workers=2)`` (Octavia API under gunicorn, driver-agent,
two ``octavia-loxilb-worker`` processes, RabbitMQ, Redis, MariaDB, one emulated LoxiLB
node). ``LBS`` (20) load balancers are created fully populated (one TCP listener with an
empty ROUND_ROBIN pool) and waited ACTIVE, untimed. Then ``MEMBERS`` (200) member creates,
``MEMBERS / LBS`` per load balancer, shuffled with a fixed seed, are taken from one queue by
``CLIENTS`` (20) threads, each with its own openstacksdk connection. A client POSTs the
member; a 409 (the load balancer is immutable while PENDING_UPDATE) is retried after
``RETRY_PAUSE`` seconds, as a client script would; once the POST is accepted the client
takes the next one. One watcher thread lists the load balancers (one GET per round,
``POLL`` seconds between rounds) and notes when each load balancer with an accepted member
leaves PENDING_UPDATE: Octavia lets one change per load balancer be in flight, and the
status push that makes the member ACTIVE makes its load balancer ACTIVE in the same
document, so that moment is the member's. (Polling each member or pool from each client
swamped the API with the benchmark's own GETs and measured the noop floor at seconds.)
After the run every member is checked ACTIVE (others are reported). Timed: the whole run
(first POST → last member done) and, per member, POST accepted → done; 409 retries are
counted.

The comparison is the same load, in the same run and stack, on Octavia's ``noop_driver``
with the benchmark pushing ACTIVE (load balancer, listener, pool, member) through the
driver-agent (octavia-lib's ``DriverLibrary``, one per client thread) as soon as each POST
is accepted: the floor that Octavia and its driver-agent set for this load. Each member
job of ours does a tree read and a status push through the same driver-agent, plus a LoxiLB
converge; the jobs of one load balancer are serialized by Octavia itself (409), those of
different load balancers run in parallel across the two workers.

A watcher round (``POLL`` plus one list GET) is the resolution of each sample.
"""

from __future__ import annotations

import queue
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.report import Figure, summarize
from rig.octavia_api import ANY_SUBNET, ApiError, Octavia

LBS = 20
MEMBERS = 200
CLIENTS = 20
WORKERS = 2
POLL = 0.05
RETRY_PAUSE = 0.25
SEED = 6


@dataclass
class Target:
    """One load balancer under load: the ids a member create and the floor's push need."""

    lb_id: str
    listener_id: str
    pool_id: str


@dataclass
class Outcome:
    """What one run of the load measured."""

    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    retries: int = 0
    errors: list[str] = field(default_factory=list)


Push = Callable[[dict[str, Any]], None]


def _active(octavia: Octavia, path: str, key: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = octavia.get(path, key)
        if obj is not None and not obj["provisioning_status"].startswith("PENDING"):
            if obj["provisioning_status"] != "ACTIVE":
                raise RuntimeError(f"{path} went {obj['provisioning_status']}")
            return
        time.sleep(POLL)
    raise TimeoutError(f"{path} not ACTIVE after {timeout} s")


def _push_active(push: Push | None, target: Target, member_id: str | None = None) -> None:
    if push is None:
        return
    doc: dict[str, Any] = {
        "loadbalancers": [{"id": target.lb_id, "provisioning_status": "ACTIVE",
                           "operating_status": "ONLINE"}],
        "listeners": [{"id": target.listener_id, "provisioning_status": "ACTIVE"}],
        "pools": [{"id": target.pool_id, "provisioning_status": "ACTIVE"}]}
    if member_id is not None:
        doc["members"] = [{"id": member_id, "provisioning_status": "ACTIVE"}]
    push(doc)


def _targets(octavia: Octavia, provider: str, vip_net: str, push: Push | None) -> list[Target]:
    """``LBS`` load balancers with a listener and an empty pool, all ACTIVE (untimed)."""
    targets = []
    for i in range(LBS):
        lb = octavia.create(
            "/lbaas/loadbalancers", "loadbalancer", vip_address=f"{vip_net}.{i + 1}",
            vip_subnet_id=ANY_SUBNET, provider=provider, name=f"bench-tp-{i}",
            listeners=[{"protocol": "TCP", "protocol_port": 80,
                        "default_pool": {"name": "bench-tp", "protocol": "TCP",
                                         "lb_algorithm": "ROUND_ROBIN"}}])
        target = Target(lb["id"], lb["listeners"][0]["id"], lb["pools"][0]["id"])
        _push_active(push, target)
        targets.append(target)
    for target in targets:
        _active(octavia, f"/lbaas/loadbalancers/{target.lb_id}", "loadbalancer")
    return targets


class Watcher(threading.Thread):
    """Notes when each load balancer with an accepted member is no longer PENDING."""

    def __init__(self, octavia: Octavia, outcome: Outcome, expected: int) -> None:
        super().__init__(name="bench-watcher", daemon=True)
        self.octavia = octavia
        self.outcome = outcome
        self.expected = expected
        self.pending: dict[str, float] = {}
        """Load balancer id → when its member's POST was accepted (one at a time)."""
        self.lock = threading.Lock()
        self.done = 0
        self.last_seen = 0.0
        self.stop = threading.Event()

    def accepted(self, lb_id: str, at: float) -> None:
        with self.lock:
            previous = self.pending.get(lb_id)
            if previous is not None:
                # Octavia took a new change, so the previous one finished before this POST
                # (between two watcher rounds): count it as done now, an upper bound.
                self.done += 1
                self.last_seen = max(self.last_seen, at)
                self.outcome.latencies.append(at - previous)
            self.pending[lb_id] = at

    def finished(self) -> None:
        """A member that will never turn up (its POST failed)."""
        with self.lock:
            self.done += 1

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                if self.done >= self.expected:
                    return
            asked = time.monotonic()
            try:
                listing = self.octavia.request("GET", "/lbaas/loadbalancers")
            except Exception as exc:  # a slow or failed GET: try again next round
                print(f"throughput watcher: {exc}")
                continue
            now = time.monotonic()
            with self.lock:
                for lb in listing["loadbalancers"]:
                    began = self.pending.get(lb["id"])
                    # A member accepted after the GET was asked may not show in it yet.
                    if began is None or began > asked or lb["provisioning_status"].startswith(
                            "PENDING"):
                        continue
                    del self.pending[lb["id"]]
                    self.done += 1
                    self.last_seen = now
                    self.outcome.latencies.append(now - began)
            time.sleep(POLL)


def _load(connect: Callable[[], Octavia], targets: list[Target], member_net: str,
          pusher: Callable[[], Push] | None) -> Outcome:
    """Run the member creates from ``CLIENTS`` threads; see the module docstring."""
    work: queue.Queue[tuple[int, Target]] = queue.Queue()
    order = [(n, targets[n % len(targets)]) for n in range(MEMBERS)]
    random.Random(SEED).shuffle(order)
    for item in order:
        work.put(item)
    outcome = Outcome()
    watcher = Watcher(connect(), outcome, MEMBERS)
    clients = [(connect(), pusher() if pusher else None) for _ in range(CLIENTS)]
    start = threading.Barrier(CLIENTS + 1)

    def client(octavia: Octavia, push: Push | None) -> None:
        start.wait()
        while True:
            try:
                n, target = work.get_nowait()
            except queue.Empty:
                return
            path = f"/lbaas/pools/{target.pool_id}/members"
            try:
                while True:
                    try:
                        member = octavia.create(
                            path, "member", protocol_port=8080,
                            address=f"{member_net}.{n // 200}.{n % 200 + 1}")
                        break
                    except ApiError as exc:
                        if exc.status != 409:
                            raise
                        with watcher.lock:
                            outcome.retries += 1
                        time.sleep(RETRY_PAUSE)
                watcher.accepted(target.lb_id, time.monotonic())
                _push_active(push, target, member["id"])
            except Exception as exc:  # recorded and reported; the run goes on
                with watcher.lock:
                    outcome.errors.append(f"member {n}: {exc}")
                watcher.finished()

    threads = [threading.Thread(target=client, args=pair, name=f"bench-client-{i}")
               for i, pair in enumerate(clients)]
    for thread in threads:
        thread.start()
    watcher.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    watcher.join(timeout=600)
    watcher.stop.set()
    outcome.wall = watcher.last_seen - began
    checker = connect()
    for target in targets:
        for member in checker.request("GET", f"/lbaas/pools/{target.pool_id}/members")[
                "members"]:
            if member["provisioning_status"] != "ACTIVE":
                outcome.errors.append(f"member {member['id']}: "
                                      f"{member['provisioning_status']}")
    return outcome


def run() -> list[Figure]:
    from rig.clients import driver_library, sdk_connection
    from rig.stack import LocalStack

    with LocalStack(tempfile.mkdtemp(prefix="bench-throughput-"), workers=WORKERS,
                    providers={"loxilb": "LoxiLB", "noop_driver": "noop"}) as stack:
        assert stack.rig is not None
        rig = stack.rig
        octavia = Octavia(sdk_connection(stack.api_url))

        def connect() -> Octavia:
            return Octavia(sdk_connection(stack.api_url))

        def pusher() -> Push:
            push: Push = driver_library(rig).update_loadbalancer_status
            return push

        ours_targets = _targets(octavia, "loxilb", "127.74.0", None)
        ours = _load(connect, ours_targets, "127.75", None)
        floor_push = driver_library(rig).update_loadbalancer_status
        floor_targets = _targets(octavia, "noop_driver", "127.76.0", floor_push)
        floor = _load(connect, floor_targets, "127.77", pusher)
    for name, outcome in (("loxilb", ours), ("noop", floor)):
        if outcome.errors:
            print(f"throughput ({name}): {len(outcome.errors)} member creates failed, "
                  f"first: {outcome.errors[0]}")
    label = f"{MEMBERS} member creates over {LBS} LBs, {CLIENTS} clients, {WORKERS} workers"
    base = summarize("noop", "s", floor.latencies or [float("nan")])
    return [
        Figure(f"{label}: wall time", "s", ours.wall,
               samples=len(ours.latencies), compared_with="noop_driver + pushed status",
               baseline_median=floor.wall),
        summarize(f"{label}: member POST accepted → ACTIVE", "s",
                  ours.latencies or [float("nan")],
                  compared_with="noop_driver + pushed status", baseline_median=base.median),
        Figure(f"{label}: 409 retries (LB immutable while PENDING)", "retries",
               float(ours.retries), compared_with="noop_driver + pushed status",
               baseline_median=float(floor.retries)),
    ]
