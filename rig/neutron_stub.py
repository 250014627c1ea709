"""The smallest Neutron and Keystone stand-in the ``openstack loadbalancer`` CLI needs.

The rig's Octavia uses the noop network driver, which accepts any subnet id, but the CLI
resolves ``--vip-subnet-id`` (and network, port, security group and QoS policy names or ids)
through Neutron, and ``--project`` through Keystone, before it calls Octavia. This stub answers
exactly those GETs on loopback:

- ``GET /network/`` and ``/network/v2.0/{collection}?id=X|name=X``: a lookup by id finds any
  id (the noop driver would accept it anyway); a lookup by name finds only registered objects.
- ``GET /identity/...``: 403, which makes the CLI use the ``--project`` value as the project id
  verbatim (python-openstackclient treats Forbidden as "cannot look it up, trust the caller").

Everything else is 404, so an unexpected call shows up as a CLI error instead of passing.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COLLECTIONS = ("subnets", "networks", "ports", "security-groups", "qos/policies")
_NAMESPACE = uuid.UUID("5f0c3b8e-7d0e-4c9a-9a57-6b0c2b9a1e10")


def _derived_network_id(subnet_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"network:{subnet_id}"))


class NeutronStub:
    """A threaded HTTP server on 127.0.0.1 answering the CLI's Neutron and Keystone look-ups."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._objects: dict[str, dict[str, dict[str, Any]]] = {c: {} for c in COLLECTIONS}
        self._lock = threading.Lock()
        self.requests: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                stub._record(self.path)
                status, body = stub.answer(self.path, self.headers.get("Host", host))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def network_url(self) -> str:
        return self.url + "/network"

    @property
    def identity_url(self) -> str:
        return self.url + "/identity"

    def add(self, collection: str, **fields: Any) -> dict[str, Any]:
        """Register an object so that look-ups by name find it; returns it with its id."""
        obj = dict(fields)
        obj.setdefault("id", str(uuid.uuid4()))
        obj.setdefault("name", obj["id"])
        with self._lock:
            self._objects[collection][obj["id"]] = obj
        return obj

    def add_subnet(self, name: str, cidr: str, subnet_id: str | None = None) -> dict[str, Any]:
        sid = subnet_id or str(uuid.uuid4())
        return self.add("subnets", id=sid, name=name, cidr=cidr, ip_version=4,
                        network_id=_derived_network_id(sid), enable_dhcp=False)

    def answer(self, path: str, host: str) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for a GET of ``path``."""
        parsed = urllib.parse.urlsplit(path)
        route = parsed.path.rstrip("/")
        if route.startswith("/identity"):
            return 403, {"error": {"code": 403, "message": "rig stub: no Keystone here",
                                   "title": "Forbidden"}}
        if route == "/network":
            href = f"http://{host}/network/v2.0/"
            return 200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                       "links": [{"href": href, "rel": "self"}]}]}
        prefix = "/network/v2.0/"
        if route.startswith(prefix) and route[len(prefix):] in COLLECTIONS:
            collection = route[len(prefix):]
            query = dict(urllib.parse.parse_qsl(parsed.query))
            key = collection.split("/")[-1].replace("-", "_")
            return 200, {key: self._find(collection, query)}
        return 404, {"NeutronError": {"type": "HTTPNotFound", "message": f"rig stub: {path}"}}

    def _find(self, collection: str, query: dict[str, str]) -> list[dict[str, Any]]:
        with self._lock:
            objects = dict(self._objects[collection])
        if "id" in query:
            found = objects.get(query["id"])
            if found is None:
                found = {"id": query["id"], "name": query["id"]}
                if collection == "subnets":
                    found["network_id"] = _derived_network_id(query["id"])
            return [found]
        if "name" in query:
            return [o for o in objects.values() if o.get("name") == query["name"]]
        return list(objects.values())

    def _record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def start(self) -> NeutronStub:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="neutron-stub")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> NeutronStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
