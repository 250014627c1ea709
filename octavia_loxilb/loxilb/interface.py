"""The LoxiLB node API as the rest of the driver sees it.

``client.LoxiLBClient`` implements it over HTTP; the reconciler and worker depend only on
this protocol so they can be read (and unit-tested) without the transport.
"""

from __future__ import annotations

from typing import Protocol

from octavia_loxilb.loxilb import models


class LoxiLBNodeAPI(Protocol):
    """One LoxiLB node's REST API (API-NOTES §2–§8)."""

    @property
    def node(self) -> str:
        """A stable name for the node (its base URL), used in logs and per-node results."""

    def version(self) -> models.Version:
        """GET /version: also the liveness check (no auth needed)."""

    def list_rules(self) -> list[models.LoadBalancerRule]:
        """GET /config/loadbalancer/all (order random; hidden endpoints not shown)."""

    def apply_rule(self, rule: models.LoadBalancerRule) -> bool:
        """POST /config/loadbalancer.

        Returns True when LoxiLB changed something and False when it answered
        ``409 lbrule-exists`` because the rule already matches (not an error). A POST whose
        outcome is unknown is resolved by reading the rules back, never replayed blindly.
        """

    def delete_rule(self, key: models.RuleKey) -> bool:
        """DELETE by tuple; False when the rule was already gone (404 no-rule)."""

    def delete_rules_named(self, name: str) -> None:
        """DELETE /config/loadbalancer/name/{name} (always 200)."""

    def list_endpoint_probes(self) -> list[models.EndpointProbe]:
        """GET /config/endpoint/all."""

    def set_endpoint_probe(self, probe: models.EndpointProbe) -> None:
        """POST /config/endpoint: an idempotent upsert of one probe host."""

    def delete_endpoint_probe(self, ip: str, name: str) -> bool:
        """DELETE /config/endpoint/epipaddress/{ip}?name=...; False when already gone."""

    def set_endpoint_host_state(self, state: models.EndpointHostState) -> None:
        """POST /config/endpointhoststate."""

    def list_cluster_states(self) -> list[models.ClusterInstanceState]:
        """GET /config/cistate/all."""

    def set_cluster_state(self, state: models.ClusterInstanceState) -> None:
        """POST /config/cistate."""

    def list_bfd_sessions(self) -> list[models.BFDSession]:
        """GET /config/bfd/all (empty when BFD is not running)."""

    def add_bfd_session(self, session: models.BFDSession) -> None:
        """POST /config/bfd."""

    def delete_bfd_session(self, remote_ip: str, instance: str) -> None:
        """DELETE /config/bfd/remoteIP/{ip}?instance=..."""

    def list_ports(self) -> list[models.Port]:
        """GET /config/port/all."""

    def list_ipv4_addresses(self) -> dict[str, list[str]]:
        """GET /config/ipv4address/all as {dev: [cidr, ...]}."""

    def add_ipv4_address(self, address: models.IPv4Address) -> None:
        """POST /config/ipv4address (a ``200 {"result":"fail"}`` is an error)."""

    def delete_ipv4_address(self, address: models.IPv4Address) -> None:
        """DELETE /config/ipv4address/{ip}/{mask}/dev/{dev}."""

    def add_route(self, route: models.Route) -> None:
        """POST /config/route."""

    def delete_route(self, destination: str) -> None:
        """DELETE /config/route/destinationIPNet/{ip}/{mask}."""
