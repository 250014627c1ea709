"""HA instance states and BFD sessions (API-NOTES §5.1, §5.2).

``llb-inst0`` always exists; an instance's state decides whether the data path serves the
VIPs of the rules bound to it (MASTER or NOT_DEFINED serve, the others do not).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from octavia_loxilb.emulator.errors import LoxiError
from octavia_loxilb.emulator.rules import DEFAULT_INSTANCE

STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "NOT_DEFINED")
SERVING_STATES = ("MASTER", "NOT_DEFINED")
BFD_PORT = 3784
MIN_BFD_INTERVAL = 100000


@dataclasses.dataclass
class Instance:
    name: str
    state: str = "NOT_DEFINED"
    vip: str = "0.0.0.0"


@dataclasses.dataclass
class BfdSession:
    instance: str
    remote_ip: str
    source_ip: str
    interval: int
    retry_count: int
    state: str = "BFDDown"
    """No peer answers BFD in the emulator, so a session never comes up."""


def _go_ip_text(value: str) -> str:
    """What Go prints for ``net.ParseIP(value)``: ``<nil>`` when it does not parse (§0.19)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return "<nil>"


class Cluster:
    """HA instances and BFD sessions of one node."""

    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self.sessions: dict[tuple[str, str], BfdSession] = {}
        self.bfd_running = False
        self.reset()

    def reset(self) -> None:
        self.instances.clear()
        self.instances[DEFAULT_INSTANCE] = Instance(DEFAULT_INSTANCE)
        self.sessions.clear()
        self.bfd_running = False

    def state_of(self, instance: str) -> str:
        known = self.instances.get(instance)
        return known.state if known else "NOT_DEFINED"

    def set_state(self, body: dict[str, Any]) -> Instance | None:
        """POST /config/cistate; returns the instance when its state changed."""
        if body["state"] not in STATES:
            raise LoxiError("invalid cluster-state")
        instance = self.instances.setdefault(body["instance"], Instance(body["instance"]))
        if instance.state == body["state"]:
            return None
        instance.state = body["state"]
        instance.vip = _go_ip_text(body["vip"])
        return instance

    def render_states(self) -> list[dict[str, Any]]:
        return [
            {"instance": i.name, "state": i.state, "sync": None, "vip": i.vip}
            for i in self.instances.values()
        ]

    def add_session(self, body: dict[str, Any]) -> None:
        """POST /config/bfd (§5.2)."""
        if body["instance"] not in self.instances:
            raise LoxiError("cluster instance not found")
        if body["interval"] and body["interval"] < MIN_BFD_INTERVAL:
            raise LoxiError("bfd interval too low")
        key = (body["instance"], body["remoteIp"])
        if key in self.sessions:
            raise LoxiError("bfd existing session")
        self.sessions[key] = BfdSession(
            instance=body["instance"],
            remote_ip=body["remoteIp"],
            source_ip=body["sourceIp"],
            interval=body["interval"],
            retry_count=body["retryCount"],
        )
        self.bfd_running = True

    def delete_session(self, remote_ip: str, instance: str) -> None:
        """DELETE /config/bfd/remoteIP/{ip}?instance=... (§5.2)."""
        if instance not in self.instances:
            raise LoxiError("cluster instance not found")
        if self.sessions.pop((instance, remote_ip), None) is None:
            raise LoxiError("no bfd session")

    def render_sessions(self) -> list[dict[str, Any]]:
        """GET /config/bfd/all entries; 500 while BFD has never been started (§5.2)."""
        if not self.bfd_running:
            raise LoxiError("bfd session not running")
        return [
            {
                "instance": s.instance,
                "interval": s.interval,
                "port": BFD_PORT,
                "remoteIp": s.remote_ip,
                "retryCount": s.retry_count,
                "sourceIP": s.source_ip,
                "state": s.state,
            }
            for s in self.sessions.values()
        ]
