"""``LoxiLBClient``: the ``LoxiLBNodeAPI`` of one LoxiLB node over its REST API.

Each method is one LoxiLB call wrapped in the retry policy that fits it (``retry.py``):
reads and deletes repeat on transient failures, writes are resolved by reading back when
their outcome is unknown. Bodies are built and parsed only through ``models.py``.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import requests

from octavia_loxilb.loxilb import errors, models
from octavia_loxilb.loxilb.retry import RetryPolicy
from octavia_loxilb.loxilb.transport import NodeConfig, Transport

LOG = logging.getLogger(__name__)

__all__ = ["LoxiLBClient", "NodeConfig", "rule_applied", "probe_key"]


def _seg(value: object) -> str:
    """One URL path segment (IPv6 colons and host names kept literal, slashes escaped)."""
    return quote(str(value), safe=":")


def _endpoint_set(endpoints: Iterable[models.Endpoint]) -> set[tuple[str, int, int]]:
    # LoxiLB stores weights as uint8 (§0.9), so compare what it can hold.
    return {(models.canonical_ip(ep.ip), ep.port, ep.weight & 0xFF) for ep in endpoints}


def rule_applied(
    wanted: models.LoadBalancerRule, current: Iterable[models.LoadBalancerRule]
) -> bool:
    """Whether ``current`` (a GET of all rules) shows the effect of POSTing ``wanted``.

    Compares what a POST of that rule changes: the key, the endpoint set (ip, port, weight)
    and sel/mode. Attach (oper 1) needs the endpoints present, detach (oper 2) needs them
    gone (the rule itself disappears when its last endpoint is detached).
    """
    stored = next((rule for rule in current if rule.key == wanted.key), None)
    oper = wanted.service.oper
    if oper == models.Oper.DETACH:
        if stored is None:
            return True
        gone = {ep.ident for ep in wanted.endpoints}
        return not gone & {ep.ident for ep in stored.endpoints}
    if stored is None:
        return False
    if (stored.service.sel, stored.service.mode) != (wanted.service.sel, wanted.service.mode):
        return False
    have, want = _endpoint_set(stored.endpoints), _endpoint_set(wanted.endpoints)
    return want <= have if oper == models.Oper.ATTACH else want == have


def probe_key(probe: models.EndpointProbe) -> str:
    """The probe-table key LoxiLB files a probe host under (§3.1)."""
    return probe.name or f"{probe.host}_{probe.probe_type}_{probe.probe_port}"


class LoxiLBClient:
    """One LoxiLB node. Safe to share between threads."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._transport = Transport(config, session=session)
        self._retry = retry_policy or RetryPolicy.from_retries(
            config.retries, config.retry_backoff, sleep=sleep
        )
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"LoxiLBClient({self.node})"

    def __enter__(self) -> LoxiLBClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def node(self) -> str:
        return self._transport.node

    def close(self) -> None:
        """Release pooled connections."""
        self._transport.close()

    # -- session ---------------------------------------------------------------------------

    def login(self) -> str:
        """POST /auth/login with the configured user; the token is used from then on."""
        return self._transport.login()

    def wait_until_ready(self, timeout: float, interval: float = 0.5) -> models.Version:
        """Poll GET /version until the node answers; ``Unavailable`` after ``timeout`` s."""
        deadline = self._clock() + timeout
        while True:
            try:
                return models.Version.from_wire(
                    self._transport.request("GET", "/version", authenticate=False))
            except (errors.Unavailable, errors.ServerError) as exc:
                if self._clock() + interval > deadline:
                    raise errors.Unavailable(
                        f"not ready after {timeout}s: {exc}", node=self.node,
                        method="GET", path="/version") from exc
                self._sleep(interval)

    # -- plumbing ----------------------------------------------------------------------------

    def _get(self, path: str, *, authenticate: bool = True) -> Any:
        return self._retry.read(
            lambda: self._transport.request("GET", path, authenticate=authenticate))

    def _delete(self, path: str, params: dict[str, Any] | None = None) -> None:
        self._retry.idempotent(lambda: self._transport.request("DELETE", path, params=params))

    def _post_idempotent(self, path: str, body: Any) -> None:
        self._retry.idempotent(lambda: self._transport.request("POST", path, body))

    def _post_checked(self, path: str, body: Any, applied: Callable[[], bool]) -> None:
        def send() -> None:
            self._transport.request("POST", path, body)

        self._retry.write(send, applied=applied, applied_result=None)

    # -- rules -------------------------------------------------------------------------------

    def version(self) -> models.Version:
        return models.Version.from_wire(self._get("/version", authenticate=False))

    def list_conntrack(self) -> list[models.ConntrackEntry]:
        """GET /config/conntrack/all: every tracked flow (§8.4)."""
        body = self._get("/config/conntrack/all") or {}
        return [models.ConntrackEntry.from_wire(entry) for entry in body.get("ctAttr") or ()]

    def list_rules(self) -> list[models.LoadBalancerRule]:
        body = self._get("/config/loadbalancer/all") or {}
        return [models.LoadBalancerRule.from_wire(entry) for entry in body.get("lbAttr") or ()]

    def apply_rule(self, rule: models.LoadBalancerRule) -> bool:
        """POST the rule; False when LoxiLB already holds an equal rule (409 lbrule-exists).

        "Equal" is LoxiLB's notion (§0.6): it ignores ``name``, ``monitor``,
        ``inactiveTimeOut`` and a few more, so a caller that changes only those must
        delete and recreate. Any other 409 (``cant modify ...``) is raised.
        """
        body = rule.to_wire()
        read_back: list[bool] = []

        def send() -> bool:
            self._transport.request("POST", "/config/loadbalancer", body)
            return True

        def applied() -> bool:
            read_back.append(True)
            return rule_applied(rule, self.list_rules())

        try:
            return self._retry.write(send, applied=applied, applied_result=True)
        except errors.RuleExists:
            # After a read-back said "not yet", "exists" means the unanswered POST landed
            # late: it was this call that changed the rule.
            return bool(read_back)

    def delete_rule(self, key: models.RuleKey, *, bgp: bool = False) -> bool:
        """DELETE by tuple; False when no rule had the key (404 no-rule).

        ``bgp`` withdraws the VIP route as well (§0.17). A retry after an unanswered
        attempt may find the rule already deleted by that attempt; it also returns False.
        """
        ip, protocol, port, port_max, block, host = key
        path = "/config/loadbalancer"
        if host:
            path += f"/hosturl/{_seg(host)}"
        path += f"/externalipaddress/{_seg(ip)}/port/{port}"
        if port_max and port_max != port:
            path += f"/portmax/{port_max}"
        path += f"/protocol/{_seg(protocol)}"
        params: dict[str, Any] = {}
        if block:
            params["block"] = block
        if bgp:
            params["bgp"] = "true"
        try:
            self._delete(path, params or None)
        except errors.NotFound:
            return False
        return True

    def delete_rules_named(self, name: str) -> None:
        self._delete(f"/config/loadbalancer/name/{_seg(name)}")

    # -- endpoint probes ---------------------------------------------------------------------

    def list_endpoint_probes(self) -> list[models.EndpointProbe]:
        body = self._get("/config/endpoint/all") or {}
        return [models.EndpointProbe.from_wire(entry) for entry in body.get("Attr") or ()]

    def set_endpoint_probe(self, probe: models.EndpointProbe) -> None:
        key = probe_key(probe)

        def applied() -> bool:
            return any(
                p.name == key and p.probe_type == probe.probe_type
                for p in self.list_endpoint_probes()
            )

        self._post_checked("/config/endpoint", probe.to_wire(), applied)

    def delete_endpoint_probe(self, ip: str, name: str) -> bool:
        try:
            self._delete(f"/config/endpoint/epipaddress/{_seg(ip)}", {"name": name})
        except errors.NotFound:
            return False
        return True

    def set_endpoint_host_state(self, state: models.EndpointHostState) -> None:
        # Setting a state is idempotent: a replay lands on the same state.
        self._post_idempotent("/config/endpointhoststate", state.to_wire())

    # -- HA ------------------------------------------------------------------------------------

    def list_cluster_states(self) -> list[models.ClusterInstanceState]:
        body = self._get("/config/cistate/all") or {}
        return [models.ClusterInstanceState.from_wire(e) for e in body.get("Attr") or ()]

    def set_cluster_state(self, state: models.ClusterInstanceState) -> None:
        # POSTing the current state is a no-op 200 (§5.1), so a replay is harmless.
        self._post_idempotent("/config/cistate", state.to_wire())

    def list_bfd_sessions(self) -> list[models.BFDSession]:
        """The BFD sessions; none when LoxiLB answers that BFD is not running (a 500 that is
        an answer, not a fault, so it is not retried)."""
        def read() -> Any:
            try:
                return self._transport.request("GET", "/config/bfd/all")
            except (errors.ServerError, errors.NotFound) as exc:
                text = f"{exc.result or ''} {exc.message}".lower()
                if "bfd session not running" in text or "no bfd session" in text:
                    return {}
                raise

        body = self._retry.read(read) or {}
        return [models.BFDSession.from_wire(e) for e in body.get("Attr") or ()]

    def add_bfd_session(self, session: models.BFDSession) -> None:
        def applied() -> bool:
            remote = models.canonical_ip(session.remote_ip)
            return any(
                models.canonical_ip(s.remote_ip) == remote and s.instance == session.instance
                for s in self.list_bfd_sessions()
            )

        self._post_checked("/config/bfd", session.to_wire(), applied)

    def delete_bfd_session(self, remote_ip: str, instance: str) -> None:
        try:
            self._delete(f"/config/bfd/remoteIP/{_seg(remote_ip)}", {"instance": instance})
        except errors.NotFound:
            LOG.debug("BFD session %s/%s already gone on %s", instance, remote_ip, self.node)

    # -- interfaces, addresses, routes ---------------------------------------------------------

    def list_ports(self) -> list[models.Port]:
        body = self._get("/config/port/all") or {}
        return [models.Port.from_wire(entry) for entry in body.get("portAttr") or ()]

    def list_ipv4_addresses(self) -> dict[str, list[str]]:
        body = self._get("/config/ipv4address/all") or {}
        found: dict[str, list[str]] = {}
        for entry in body.get("ipAttr") or ():
            found.setdefault(entry.get("dev", ""), []).extend(entry.get("ipAddress") or ())
        return found

    def add_ipv4_address(self, address: models.IPv4Address) -> None:
        # LoxiLB, not the client, judges the address: parse it only to read back.
        def applied() -> bool:
            held = self.list_ipv4_addresses().get(address.dev, [])
            return any(_same_interface(text, address.address) for text in held)

        self._post_checked("/config/ipv4address", address.to_wire(), applied)

    def delete_ipv4_address(self, address: models.IPv4Address) -> None:
        ip, _, mask = address.address.partition("/")
        self._delete(f"/config/ipv4address/{_seg(ip)}/{_seg(mask or '32')}"
                     f"/dev/{_seg(address.dev)}")

    def list_routes(self) -> list[str]:
        """GET /config/route/all: the destination prefixes LoxiLB holds."""
        return [route.destination for route in self.list_route_entries()]

    def list_route_entries(self) -> list[models.Route]:
        """GET /config/route/all: the routes LoxiLB holds, with their gateways."""
        body = self._get("/config/route/all") or {}
        return [models.Route.from_wire(entry) for entry in body.get("routeAttr") or ()]

    def add_route(self, route: models.Route) -> None:
        def applied() -> bool:
            return any(_same_network(text, route.destination) for text in self.list_routes())

        self._post_checked("/config/route", route.to_wire(), applied)

    def delete_route(self, destination: str) -> None:
        ip, _, mask = destination.partition("/")
        try:
            self._delete(f"/config/route/destinationIPNet/{_seg(ip)}/{_seg(mask or '32')}")
        except errors.NotFound:
            LOG.debug("route %s already gone on %s", destination, self.node)


def _same_interface(held: str, wanted: str) -> bool:
    try:
        return ipaddress.ip_interface(held.split()[0]) == ipaddress.ip_interface(wanted)
    except (ValueError, IndexError):
        return False


def _same_network(held: str, wanted: str) -> bool:
    try:
        return ipaddress.ip_network(held, strict=False) == ipaddress.ip_network(
            wanted, strict=False)
    except ValueError:
        return False
