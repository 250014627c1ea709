"""Raw-HTTP helpers for the emulator contract tests (deliberately not the project's client)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from octavia_loxilb.emulator.server import Emulator

CONFLICT = "Resource conflict: Resource already exists OR dependency not found"


class Raw:
    """A thin ``requests`` wrapper rooted at an emulator's ``/netlox/v1``."""

    def __init__(self, node: Emulator) -> None:
        self.node = node
        self.session = requests.Session()

    def post(self, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.session.post(self.node.url + path, json=body, timeout=10, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.node.url + path, timeout=10, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.session.delete(self.node.url + path, timeout=10, **kw)

    def hook(self, method: str, name: str, body: Any = None) -> requests.Response:
        url = f"{self.node.base_url}/_emulator/{name}"
        response = self.session.request(method, url, json=body, timeout=10)
        response.raise_for_status()
        return response

    def rules(self) -> list[dict[str, Any]]:
        response = self.get("/config/loadbalancer/all")
        assert response.status_code == 200
        return list(response.json()["lbAttr"])

    def rule(self, port: int = 80) -> dict[str, Any]:
        """The single listed rule on ``port`` (fails if absent or duplicated)."""
        found = [r for r in self.rules() if r["serviceArguments"]["port"] == port]
        assert len(found) == 1, found
        return found[0]

    def hosts(self) -> dict[str, dict[str, Any]]:
        response = self.get("/config/endpoint/all")
        assert response.status_code == 200
        return {h["name"]: h for h in response.json()["Attr"]}


def rule_body(
    *endpoints: str | tuple[str, int] | tuple[str, int, int],
    vip: str = "10.0.0.100",
    port: int = 80,
    protocol: str | None = "tcp",
    sources: list[str] | None = None,
    secondary: list[str] | None = None,
    **service: Any,
) -> dict[str, Any]:
    """A ``LoadbalanceEntry``; endpoints as "ip", (ip, port) or (ip, port, weight)."""
    eps = []
    for ep in endpoints or ("10.0.1.10",):
        ip, target, weight = (ep, 8080, 1) if isinstance(ep, str) else (*ep, 1)[:3]
        eps.append({"endpointIP": ip, "targetPort": target, "weight": weight})
    args: dict[str, Any] = {"externalIP": vip, "port": port, **service}
    if protocol is not None:
        args["protocol"] = protocol
    body: dict[str, Any] = {"serviceArguments": args, "endpoints": eps}
    if sources is not None:
        body["allowedSources"] = [{"prefix": p} for p in sources]
    if secondary is not None:
        body["secondaryIPs"] = [{"secondaryIP": ip} for ip in secondary]
    return body


def assert_loxi_error(response: requests.Response, status: int, result: str) -> None:
    """The v0.9.8.5+ error body: code, fields null, class message, raw result (§1.2)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["fields"] is None
    assert body["result"] == result
    assert set(body) == {"code", "fields", "message", "result"}


def assert_framework_error(response: requests.Response, status: int, code: int) -> str:
    """A go-swagger error: only code and message (§1.3); returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    return str(body["message"])


@pytest.fixture
def raw(emulator: Emulator) -> Raw:
    return Raw(emulator)
