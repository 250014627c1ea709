"""The probe table: endpoint hosts shared by key across rules (API-NOTES §2.10, §3, §4).

Rules reference hosts by ``<ip>_<proto>_<port>``; the first creator's settings win and the
reference count decides when a host goes. The API can create hosts (reference count 0),
override a rule-created host's probe in place, mark hosts red, and delete unreferenced ones.
The prober (another module) reads the same ``hosts`` dict and writes the probe results.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from octavia_loxilb.emulator.errors import LoxiError
from octavia_loxilb.emulator.model import ProbeHost, StoredEndpoint, StoredRule

DEFAULT_PROBE_INTERVAL = 60
DEFAULT_PROBE_RETRIES = 2
MAX_PROBE_INTERVAL = 86400
MAX_PROBE_RETRIES = 100
PROBING_MODES = (1, 2, 5)
"""One-arm, fullnat and host-one-arm switch probes on even without ``monitor`` (§2.10)."""

_DEFAULT_PROBE = {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "icmp": "ping"}
_HOST_STATES = ("green", "yellow", "red")


def _go_duration(seconds: float | None) -> str:
    """Render a delay the way Go's ``time.Duration.String`` would (approximately)."""
    if seconds is None:
        return ""
    if seconds >= 1:
        return f"{seconds:g}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:g}ms"
    return f"{seconds * 1e6:g}µs"


class ProbeTable:
    """Owns ``hosts`` (keyed like LoxiLB) and the test-only pinned probe results."""

    def __init__(self) -> None:
        self.hosts: dict[str, ProbeHost] = {}
        self.pinned: dict[str, bool] = {}
        """Probe results forced through ``/_emulator/probe``; they win over the prober."""

    def is_active(self, key: str) -> bool:
        """Whether a rule reading ``key`` treats the endpoint as up; missing counts as up."""
        host = self.hosts.get(key)
        if host is None:
            return True
        if host.red:
            return False
        if not host.enabled:
            return True
        return self.pinned.get(key, host.ok)

    def acquire(self, rule: StoredRule, ep: StoredEndpoint) -> None:
        """Reference (or create with the rule's settings) the probe host of ``ep``."""
        key = rule.probe_key(ep)
        host = self.hosts.get(key)
        if host is not None:
            host.refcount += 1
            return
        interval = rule.probe_timeout or DEFAULT_PROBE_INTERVAL
        retries = rule.probe_retries or DEFAULT_PROBE_RETRIES
        if interval > MAX_PROBE_INTERVAL or retries > MAX_PROBE_RETRIES:
            # LoxiLB only logs this: the endpoint has no host and counts as active (§3.2).
            return
        if rule.probetype:
            probe_type, probe_port = rule.probetype, rule.probeport
            req, resp = rule.probereq, rule.proberesp
        else:
            probe_type = _DEFAULT_PROBE.get(rule.protocol, "none")
            probe_port = 0 if probe_type == "ping" else ep.port
            req = resp = ""
        self.hosts[key] = ProbeHost(
            key=key,
            host=ep.ip,
            probe_type=probe_type,
            probe_port=probe_port,
            probe_req=req,
            probe_resp=resp,
            probe_duration=interval,
            inactive_retries=retries,
            refcount=1,
            enabled=rule.monitor or rule.mode in PROBING_MODES,
        )

    def release(self, rule: StoredRule, ep: StoredEndpoint) -> None:
        """Drop one rule reference; the last one deletes the host, overrides included."""
        key = rule.probe_key(ep)
        host = self.hosts.get(key)
        if host is None:
            return
        host.refcount -= 1
        if host.refcount <= 0:
            self._forget(key)

    def _forget(self, key: str) -> None:
        self.hosts.pop(key, None)
        self.pinned.pop(key, None)

    def upsert(self, body: dict[str, Any]) -> None:
        """POST /config/endpoint: create with refcount 0 or replace the probe options (§3.1)."""
        host_name = body["hostName"]
        try:
            ipaddress.ip_address(host_name)
        except ValueError:
            raise LoxiError("host-parse error") from None
        probe_type = body["probeType"]
        if not probe_type:
            raise LoxiError("host-args unknown probe type")
        port = body["probePort"]
        if probe_type in ("tcp", "udp", "sctp") and port == 0:
            raise LoxiError("host-args unknown probe port")
        duration, retries = body["probeDuration"], body["inactiveReTries"]
        if duration > MAX_PROBE_INTERVAL or retries > MAX_PROBE_RETRIES:
            raise LoxiError("host-args error")
        key = body["name"] or f"{host_name}_{probe_type}_{port}"
        host = self.hosts.get(key)
        if host is None:
            host = ProbeHost(key=key, host=host_name, probe_type=probe_type, probe_port=port)
            self.hosts[key] = host
        host.host = host_name
        host.probe_type = probe_type
        host.probe_port = port
        host.probe_req = body["probeReq"]
        host.probe_resp = body["probeResp"]
        host.probe_duration = duration
        host.inactive_retries = retries
        host.enabled = probe_type != "none"
        # Re-probed soon, as LoxiLB does after an override.
        host.last_probe = 0.0
        host.fail_count = 0

    def delete(self, ip: str, name: str, probe_type: str, probe_port: int) -> None:
        """DELETE /config/endpoint/epipaddress/{ip} (§3.3)."""
        key = name or f"{ip}_{probe_type}_{probe_port}"
        host = self.hosts.get(key)
        if host is None:
            raise LoxiError("host-notfound error")
        if host.refcount > 0:
            raise LoxiError("LB Rule-referred")
        self._forget(key)

    def set_state(self, body: dict[str, Any]) -> None:
        """POST /config/endpointhoststate: ``red`` forces a host inactive (§4)."""
        state = body["state"]
        if state not in _HOST_STATES:
            raise LoxiError("unknown ep-host-state")
        port, proto = body["epPort"], body["epProto"]
        if bool(port) != bool(proto):
            raise LoxiError("ep-host-state args error")
        red = state == "red"
        if port:
            host = self.hosts.get(f"{body['hostName']}_{proto}_{port}")
            if host is None:
                raise LoxiError("ephost-notfound error")
            host.red = red
            return
        for host in self.hosts.values():
            if host.host == body["hostName"]:
                host.red = red

    def pin(self, key: str, ok: bool | None) -> bool:
        """Force (or with ``None`` release) a host's probe result; False if no such host."""
        host = self.hosts.get(key)
        if host is None:
            return False
        if ok is None:
            self.pinned.pop(key, None)
            return True
        self.pinned[key] = ok
        host.ok = ok
        host.ever_probed = True
        return True

    def render(self) -> list[dict[str, Any]]:
        """GET /config/endpoint/all entries (§3.2), zero fields omitted."""
        entries = []
        for key, host in self.hosts.items():
            state = "red" if host.red else "ok" if self.is_active(key) else "nok"
            entry: dict[str, Any] = {
                "currState": state,
                "hostName": host.host,
                "name": key,
                "probePort": host.probe_port,
                "probeReq": host.probe_req,
                "probeResp": host.probe_resp,
                "probeType": host.probe_type if host.enabled else "none",
            }
            if host.enabled:
                entry["probeDuration"] = host.probe_duration
                entry["inactiveReTries"] = host.inactive_retries
            if host.enabled and host.probe_type == "ping":
                entry["minDelay"] = _go_duration(host.min_delay)
                entry["avgDelay"] = _go_duration(host.avg_delay)
                entry["maxDelay"] = _go_duration(host.max_delay)
            entries.append({k: v for k, v in sorted(entry.items()) if v})
        return entries

    def clear(self) -> None:
        """Forget every host (LoxiLB restart); the dict object is kept for the prober."""
        self.hosts.clear()
        self.pinned.clear()
