"""A thin test client for the Octavia v2 API and the emulator, with waits that fail loudly.

Tests speak to Octavia through openstacksdk's raw ``load_balancer`` proxy so the bodies they
send are exactly what a user would send; every wait names the object and its last status
when it times out, and returns the object it waited for.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

ANY_SUBNET = "6d0d3b1e-2f7a-4d8b-9a53-1c1b2f0e7a11"
PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")


class ApiError(AssertionError):
    """Octavia answered with an unexpected status code."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{method} {path} -> {status}: {body}")


class Octavia:
    """Calls and waits against one Octavia API, as one project."""

    def __init__(self, sdk: Any, timeout: float = 60.0) -> None:
        self.sdk = sdk
        self.timeout = timeout

    # -- raw calls ------------------------------------------------------------------------

    def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                expect: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        call = getattr(self.sdk.load_balancer, method.lower())
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        resp = call(path, raise_exc=False, **kwargs)
        if resp.status_code not in expect:
            raise ApiError(method, path, resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def create(self, path: str, key: str, **body: Any) -> dict[str, Any]:
        obj: dict[str, Any] = self.request("POST", path, {key: body})[key]
        return obj

    def update(self, path: str, key: str, **body: Any) -> dict[str, Any]:
        obj: dict[str, Any] = self.request("PUT", path, {key: body})[key]
        return obj

    def get(self, path: str, key: str) -> dict[str, Any] | None:
        resp = self.sdk.load_balancer.get(path, raise_exc=False)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise ApiError("GET", path, resp.status_code, resp.text)
        obj: dict[str, Any] = resp.json()[key]
        return obj

    def rejected(self, method: str, path: str, body: dict[str, Any]) -> ApiError:
        """Send a call that must fail; return the error for the caller to inspect."""
        try:
            self.request(method, path, body, expect=())
        except ApiError as exc:
            return exc
        raise AssertionError(f"{method} {path} unexpectedly succeeded")

    # -- waits ----------------------------------------------------------------------------

    def wait(self, path: str, key: str, status: str = "ACTIVE",
             timeout: float | None = None) -> dict[str, Any]:
        """Wait until the object's provisioning_status leaves PENDING_*; it must be ``status``."""
        deadline = time.monotonic() + (timeout or self.timeout)
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = self.get(path, key)
            if last is None:
                raise AssertionError(f"{path} disappeared while waiting for {status}")
            if last["provisioning_status"] not in PENDING:
                break
            time.sleep(0.05)
        assert last is not None and last["provisioning_status"] == status, (
            f"{path}: expected {status}, last seen {last and last['provisioning_status']}")
        return last

    def wait_gone(self, path: str, key: str, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.timeout)
        while time.monotonic() < deadline:
            obj = self.get(path, key)
            if obj is None or obj.get("provisioning_status") == "DELETED":
                return
            time.sleep(0.05)
        raise AssertionError(f"{path} still present after {timeout or self.timeout}s")

    def wait_mutable(self, lb_id: str) -> dict[str, Any]:
        return self.wait(f"/lbaas/loadbalancers/{lb_id}", "loadbalancer")

    # -- shortcuts ------------------------------------------------------------------------

    def create_lb(self, vip: str, **body: Any) -> dict[str, Any]:
        body.setdefault("name", f"lb-{vip}")
        body.setdefault("vip_subnet_id", ANY_SUBNET)
        body.setdefault("provider", "loxilb")
        lb = self.create("/lbaas/loadbalancers", "loadbalancer", vip_address=vip, **body)
        return self.wait_mutable(lb["id"])

    def create_listener(self, lb_id: str, protocol: str, port: int,
                        **body: Any) -> dict[str, Any]:
        obj = self.create("/lbaas/listeners", "listener", loadbalancer_id=lb_id,
                          protocol=protocol, protocol_port=port, **body)
        self.wait_mutable(lb_id)
        return self.wait(f"/lbaas/listeners/{obj['id']}", "listener")

    def create_pool(self, lb_id: str, listener_id: str, protocol: str,
                    algorithm: str = "ROUND_ROBIN", **body: Any) -> dict[str, Any]:
        obj = self.create("/lbaas/pools", "pool", listener_id=listener_id, protocol=protocol,
                          lb_algorithm=algorithm, **body)
        self.wait_mutable(lb_id)
        return self.wait(f"/lbaas/pools/{obj['id']}", "pool")

    def create_member(self, lb_id: str, pool_id: str, address: str, port: int,
                      status: str = "ACTIVE", **body: Any) -> dict[str, Any]:
        obj = self.create(f"/lbaas/pools/{pool_id}/members", "member", address=address,
                          protocol_port=port, **body)
        self.wait_mutable(lb_id)
        return self.wait(f"/lbaas/pools/{pool_id}/members/{obj['id']}", "member", status)

    def create_monitor(self, lb_id: str, pool_id: str, kind: str = "TCP",
                       **body: Any) -> dict[str, Any]:
        body.setdefault("delay", 2)
        body.setdefault("timeout", 1)
        body.setdefault("max_retries", 2)
        obj = self.create("/lbaas/healthmonitors", "healthmonitor", pool_id=pool_id,
                          type=kind, **body)
        self.wait_mutable(lb_id)
        return self.wait(f"/lbaas/healthmonitors/{obj['id']}", "healthmonitor")

    def members(self, pool_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.request(
            "GET", f"/lbaas/pools/{pool_id}/members")["members"]
        return found


class Emulator:
    """The emulator's REST API and test hooks, as the tests need them."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
        return json.loads(raw) if raw.strip() else None

    def rules(self, vip: str | None = None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call(
            "GET", "/netlox/v1/config/loadbalancer/all")["lbAttr"]
        if vip is None:
            return found
        return [r for r in found if r["serviceArguments"]["externalIP"] == vip]

    def endpoints(self, vip: str, port: int) -> set[tuple[str, int, int]]:
        """(ip, port, weight) of the rule on vip:port; empty when there is no rule."""
        for rule in self.rules(vip):
            if rule["serviceArguments"]["port"] == port:
                return {(e["endpointIP"], e["targetPort"], e.get("weight", 0))
                        for e in rule["endpoints"]}
        return set()

    def delete_rule(self, vip: str, port: int, protocol: str) -> None:
        """Delete one rule behind the driver's back (drift, or a lost rule)."""
        self._call("DELETE", f"/netlox/v1/config/loadbalancer/externalipaddress/{vip}"
                             f"/port/{port}/protocol/{protocol}")

    def calls(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._call("GET", "/_emulator/calls")
        return found

    def clear_calls(self) -> None:
        self._call("DELETE", "/_emulator/calls")

    def fail(self, method: str, path_prefix: str, status: int, count: int = 0) -> None:
        self._call("POST", "/_emulator/faults", {"method": method, "path_prefix": path_prefix,
                                                 "status": status, "count": count})

    def clear_faults(self) -> None:
        self._call("DELETE", "/_emulator/faults")

    def sync(self) -> None:
        self._call("POST", "/_emulator/sync")


def rule_writes(calls: list[dict[str, Any]]) -> tuple[int, int]:
    """(rule POSTs, rule DELETEs) in an emulator call log."""
    posts = sum(1 for c in calls if c["method"] == "POST"
                and c["path"].endswith("/config/loadbalancer"))
    deletes = sum(1 for c in calls if c["method"] == "DELETE"
                  and "/config/loadbalancer/" in c["path"])
    return posts, deletes
