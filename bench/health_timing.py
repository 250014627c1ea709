"""Issue 4's closing figures with 100 load balancers on one stack.

Set-up, per timing profile: ``rig.stack.LocalStack`` (Octavia API and driver-agent, two
workers, RabbitMQ, Redis, MariaDB, one emulated LoxiLB node) holding 100 load balancers, each
built by one fully populated create: 1 TCP listener, 1 ROUND_ROBIN pool with a TCP monitor,
2 members, each member a live TCP backend on its own loopback address (200 backends).

(a) **Backend stop → member ERROR in the Octavia API.** Once every sampled member is ONLINE,
``SAMPLES`` backends of different load balancers are stopped at once and each member's
operating status is polled (every 0.2 s) until it reads ERROR.

(b) **LoxiLB restart → every rule restored.** ``POST /_emulator/restart`` wipes the node
(as a LoxiLB restart does); the emulator is polled (every 0.2 s) until all 100 rules are back
with the right endpoints. Restoring is the worker's restart detection
(``[loxilb] restart_check_interval``) triggering a resync, with no Octavia API call.

Profiles:

- ``real``: the emulator's LoxiLB timings (probe checker tick 2 s, rule health sync 10 s,
  API-NOTES §2.10), the worker's defaults (``health_interval`` 10 s,
  ``restart_check_interval`` 5 s), monitor delay 5 s, ``max_retries_down`` 2.
- ``fast``: the integration tests' timings (tick 0.5 s, rule sync 0.5 s, health poll 0.5 s),
  monitor delay 1 s, ``max_retries_down`` 1.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.report import Figure, summarize
from rig.backends import TcpBackend
from rig.octavia_api import ANY_SUBNET, Octavia

LOAD_BALANCERS = 100
SAMPLES = 6
POLL = 0.2
BUILD_THREADS = 6

PROFILES: dict[str, dict[str, Any]] = {
    "real": {
        "emulator_args": ("--probe-tick", "2", "--rule-sync-interval", "10"),
        "loxilb": {},
        "monitor": {"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2,
                    "max_retries_down": 2},
        "label": "LoxiLB timings (tick 2 s, rule sync 10 s), worker defaults "
                 "(health poll 10 s, restart check 5 s), monitor delay 5 s x 2",
    },
    "fast": {
        "emulator_args": ("--probe-tick", "0.5", "--rule-sync-interval", "0.5"),
        "loxilb": {"health_interval": 0.5, "leader_retry_interval": 0.2},
        "monitor": {"type": "TCP", "delay": 1, "timeout": 1, "max_retries": 1,
                    "max_retries_down": 1},
        "label": "test timings (tick 0.5 s, rule sync 0.5 s, health poll 0.5 s, "
                 "restart check 5 s), monitor delay 1 s x 1",
    },
}


def _octet() -> int:
    return 20 + os.getpid() % 50


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL)


class Fleet:
    """The 100 load balancers of one stack and their backends."""

    def __init__(self, octavia: Octavia, octet: int, monitor: dict[str, Any]) -> None:
        self.octavia = octavia
        self.octet = octet
        self.monitor = monitor
        self.backends: dict[str, TcpBackend] = {}
        self.lbs: list[str] = []
        self.members: dict[str, tuple[str, str, str]] = {}
        """Backend address → (lb id, pool id, member id)."""
        self.expected: dict[str, set[tuple[str, int]]] = {}
        """VIP → the endpoints its rule must hold."""

    def addresses(self, i: int) -> tuple[str, list[str]]:
        vip = f"127.{self.octet}.{i // 200}.{1 + i % 200}"
        return vip, [f"127.{self.octet + 100}.{i // 100}.{1 + (i % 100) * 2 + k}"
                     for k in range(2)]

    def build(self) -> None:
        for i in range(LOAD_BALANCERS):
            for address in self.addresses(i)[1]:
                self.backends[address] = TcpBackend(address, 8080, address).start()
        with ThreadPoolExecutor(BUILD_THREADS) as pool:
            self.lbs = list(pool.map(self._create, range(LOAD_BALANCERS)))
        for lb_id in self.lbs:
            self._index(lb_id)

    def _create(self, i: int) -> str:
        vip, members = self.addresses(i)
        listener = {"protocol": "TCP", "protocol_port": 80, "default_pool": {
            "name": f"pool-{i}", "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": a, "protocol_port": 8080} for a in members],
            "healthmonitor": dict(self.monitor)}}
        lb = self.octavia.create("/lbaas/loadbalancers", "loadbalancer", vip_address=vip,
                                 vip_subnet_id=ANY_SUBNET, provider="loxilb",
                                 name=f"bench-health-{i}", listeners=[listener])
        self.octavia.wait(f"/lbaas/loadbalancers/{lb['id']}", "loadbalancer", timeout=600)
        self.expected[vip] = {(a, 8080) for a in members}
        return str(lb["id"])

    def _index(self, lb_id: str) -> None:
        pools = self.octavia.request("GET", f"/lbaas/pools?loadbalancer_id={lb_id}")["pools"]
        for pool in pools:
            for member in self.octavia.members(pool["id"]):
                self.members[member["address"]] = (lb_id, pool["id"], member["id"])

    def operating(self, address: str) -> str:
        _, pool_id, member_id = self.members[address]
        member = self.octavia.get(f"/lbaas/pools/{pool_id}/members/{member_id}", "member")
        return str(member["operating_status"]) if member else "GONE"

    def stop_times(self, samples: int, timeout: float) -> list[float]:
        """Stop one backend of ``samples`` load balancers; seconds until each reads ERROR."""
        step = len(self.lbs) // samples
        chosen = [self.addresses(i * step)[1][0] for i in range(samples)]
        _wait(lambda: all(self.operating(a) == "ONLINE" for a in chosen), timeout,
              "the sampled members ONLINE")
        began = time.monotonic()
        for address in chosen:
            self.backends[address].stop()
        seen: dict[str, float] = {}
        deadline = began + timeout
        while len(seen) < len(chosen) and time.monotonic() < deadline:
            for address in chosen:
                if address not in seen and self.operating(address) == "ERROR":
                    seen[address] = time.monotonic() - began
            time.sleep(POLL)
        for address in chosen:
            self.backends[address].start()
        if len(seen) < len(chosen):
            raise TimeoutError(f"only {len(seen)} of {len(chosen)} members went ERROR")
        return list(seen.values())

    def restored(self, emulator_url: str) -> bool:
        resp = requests.get(f"{emulator_url}/netlox/v1/config/loadbalancer/all", timeout=10)
        resp.raise_for_status()
        held = {rule["serviceArguments"]["externalIP"]:
                {(e["endpointIP"], e["targetPort"]) for e in rule.get("endpoints") or ()}
                for rule in resp.json()["lbAttr"]}
        return all(held.get(vip) == eps for vip, eps in self.expected.items())

    def restore_time(self, emulator_url: str, timeout: float) -> float:
        _wait(lambda: self.restored(emulator_url), timeout, "all rules before the restart")
        began = time.monotonic()
        requests.post(f"{emulator_url}/_emulator/restart", timeout=30).raise_for_status()
        _wait(lambda: self.restored(emulator_url), timeout, "all rules restored")
        return time.monotonic() - began

    def flapped(self) -> list[str]:
        """Load balancers not ACTIVE in Octavia (a restore must not push ERROR)."""
        return [lb for lb in self.lbs if (self.octavia.get(
            f"/lbaas/loadbalancers/{lb}", "loadbalancer") or {}).get(
            "provisioning_status") != "ACTIVE"]

    def stop(self) -> None:
        """Stop every backend, in parallel (each stop waits for its server's poll)."""
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda backend: backend.stop(), self.backends.values()))


@contextlib.contextmanager
def _stack(profile: dict[str, Any]) -> Iterator[tuple[Any, Octavia]]:
    from rig.clients import sdk_connection
    from rig.stack import LocalStack

    with LocalStack(tempfile.mkdtemp(prefix="bench-health-"), workers=2,
                    emulator_args=profile["emulator_args"],
                    loxilb=profile["loxilb"]) as stack:
        yield stack, Octavia(sdk_connection(stack.api_url), timeout=600)


def _note(figure: Figure) -> Figure:
    """Print a figure as soon as it is measured: a profile takes many minutes."""
    print(f"  {figure.name}: median {figure.median:.1f} {figure.unit}, "
          f"p90 {figure.p90 if figure.p90 is not None else figure.median:.1f}, "
          f"{figure.samples} samples", file=sys.stderr, flush=True)
    return figure


def measure(name: str, restarts: int = 1) -> list[Figure]:
    profile = PROFILES[name]
    figures: list[Figure] = []
    with _stack(profile) as (stack, octavia):
        fleet = Fleet(octavia, _octet() + (0 if name == "real" else 50), profile["monitor"])
        try:
            began = time.monotonic()
            fleet.build()
            built = time.monotonic() - began
            figures.append(_note(Figure(f"[{name}] build {LOAD_BALANCERS} LBs (fully populated "
                                  f"creates, {BUILD_THREADS} at a time)", "s", built)))
            stops = fleet.stop_times(SAMPLES, timeout=300)
            figures.append(_note(summarize(
                f"[{name}] backend stop -> member ERROR in the API, {LOAD_BALANCERS} LBs; "
                f"{profile['label']}", "s", stops)))
            restores = [fleet.restore_time(stack.emulator_url, timeout=300)
                        for _ in range(restarts)]
            flapped = fleet.flapped()
            figures.append(_note(summarize(
                f"[{name}] LoxiLB restart -> all {LOAD_BALANCERS} rules restored "
                f"(restart detection + resync); LBs not ACTIVE after: {len(flapped)}",
                "s", restores)))
        finally:
            fleet.stop()
    return figures


def run() -> list[Figure]:
    """The ``real`` profile, or those named in ``BENCH_HEALTH_PROFILES`` (``real,fast`` for
    both: ``fast`` repeats with the integration tests' timings and adds about 3 minutes)."""
    names = os.environ.get("BENCH_HEALTH_PROFILES", "real").split(",")
    return [figure for name in names if name for figure in measure(name.strip())]
