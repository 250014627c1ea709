"""LoxiLB's REST API under ``/netlox/v1``: routing, auth and handlers (API-NOTES §1-§9).

The request pipeline follows go-swagger's middleware order: router (404, 405 with ``Allow``),
authentication (§9), content type and body binding (415, 400, 422 in ``validation``), then
the handler, whose LoxiLB error strings are mapped to statuses in ``errors``.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import platform
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from octavia_loxilb.emulator import validation as v
from octavia_loxilb.emulator.errors import SUCCESS, FrameworkError, LoxiError, error_reply, go_json
from octavia_loxilb.emulator.rules import DSR_SEL_ERROR, MODE_DSR
from octavia_loxilb.emulator.state import NodeState

BASE_PATH = "/netlox/v1"
NO_AUTH_PATHS = ("/version", "/meta", "/auth/login")


@dataclasses.dataclass
class Call:
    """One request as a handler sees it, path parameters already extracted."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def decode(self, schema: v.Schema) -> dict[str, Any]:
        return v.decode_body(self.body, self.headers.get("content-type"), schema)


@dataclasses.dataclass
class Reply:
    status: int
    payload: Any
    raw: bytes | None = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


Handler = Callable[[Call], Awaitable[Any]]


@dataclasses.dataclass
class _Route:
    segments: tuple[str, ...]
    handlers: dict[str, Handler]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params = {}
        for pattern, part in zip(self.segments, parts, strict=True):
            if pattern.startswith("{"):
                if not part:
                    return None
                params[pattern[1:-1]] = part
            elif pattern != part:
                return None
        return params

    @property
    def static_count(self) -> int:
        return sum(1 for s in self.segments if not s.startswith("{"))


def _fake_jwt(username: str) -> str:
    """A token shaped like LoxiLB's HS256 JWT; only its identity matters here."""

    def enc(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"username": username, "exp": int(time.time()) + 86400, "jti": secrets.token_hex(8)}
    signature = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return f"{enc({'alg': 'HS256', 'typ': 'JWT'})}.{enc(claims)}.{signature}"


class LoxiAPI:
    """Dispatches ``/netlox/v1`` requests against a :class:`NodeState`."""

    def __init__(self, state: NodeState) -> None:
        self.state = state
        self.config = state.config
        self.tokens: dict[str, str] = {}
        self.routes: list[_Route] = []
        self._register()

    # -- routing -------------------------------------------------------------------------

    def _add(self, method: str, pattern: str, handler: Handler) -> None:
        segments = tuple(pattern.strip("/").split("/"))
        for route in self.routes:
            if route.segments == segments:
                route.handlers[method] = handler
                return
        self.routes.append(_Route(segments, {method: handler}))

    def _register(self) -> None:
        lb = "/config/loadbalancer"
        tuple_path = "externalipaddress/{ip_address}/port/{port}"
        by_host = f"{lb}/hosturl/{{hosturl}}/{tuple_path}"
        add = self._add
        add("GET", "/version", self.get_version)
        add("POST", lb, self.post_rule)
        add("GET", f"{lb}/all", self.get_rules)
        add("DELETE", f"{lb}/all", self.delete_all_rules)
        add("DELETE", f"{lb}/name/{{lb_name}}", self.delete_rules_by_name)
        add("DELETE", f"{lb}/{tuple_path}/protocol/{{proto}}", self.delete_rule)
        by_tuple = f"{lb}/{tuple_path}"
        add("DELETE", f"{by_tuple}/portmax/{{portmax}}/protocol/{{proto}}", self.delete_rule)
        add("DELETE", f"{by_host}/protocol/{{proto}}", self.delete_rule)
        add("DELETE", f"{by_host}/portmax/{{portmax}}/protocol/{{proto}}", self.delete_rule)
        add("GET", "/config/endpoint/all", self.get_endpoints)
        add("POST", "/config/endpoint", self.post_endpoint)
        add("DELETE", "/config/endpoint/epipaddress/{ip_address}", self.delete_endpoint)
        add("POST", "/config/endpointhoststate", self.post_endpoint_host_state)
        add("GET", "/config/cistate/all", self.get_cistate)
        add("POST", "/config/cistate", self.post_cistate)
        add("GET", "/config/bfd/all", self.get_bfd)
        add("POST", "/config/bfd", self.post_bfd)
        add("DELETE", "/config/bfd/remoteIP/{remote_ip}", self.delete_bfd)
        add("GET", "/config/port/all", self.get_ports)
        add("GET", "/config/ipv4address/all", self.get_addresses)
        add("POST", "/config/ipv4address", self.post_address)
        add("DELETE", "/config/ipv4address/{ip_address}/{mask}/dev/{if_name}", self.delete_address)
        add("GET", "/config/route/all", self.get_routes)
        add("POST", "/config/route", self.post_route)
        add("DELETE", "/config/route/destinationIPNet/{ip_address}/{mask}", self.delete_route)
        add("GET", "/config/conntrack/all", self.get_conntrack)
        add("GET", "/status/process", self.get_process)
        add("GET", "/status/device", self.get_device)
        add("GET", "/metrics", self.get_metrics)
        add("POST", "/auth/login", self.login)
        add("POST", "/auth/logout", self.logout)
        for method, path in (
            ("POST", "/config/bgp/global"),
            ("GET", "/config/bgp/neigh/all"),
            ("POST", "/config/bgp/neigh"),
            ("DELETE", "/config/bgp/neigh/{ip_address}"),
        ):
            add(method, path, self.bgp_disabled)

    def _resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        full = BASE_PATH + path
        parts = path.strip("/").split("/")
        matches = [(r, p) for r in self.routes if (p := r.match(parts)) is not None]
        if not matches:
            raise FrameworkError(404, 404, f"path {full} was not found")
        route, params = max(matches, key=lambda item: item[0].static_count)
        handler = route.handlers.get(method)
        if handler is None:
            allowed = sorted(route.handlers)
            raise FrameworkError(
                405,
                405,
                f"method {method} is not allowed, but [{' '.join(allowed)}] are",
                {"Allow": ",".join(allowed)},
            )
        return handler, params

    def _authenticate(self, path: str, headers: dict[str, str]) -> None:
        """§9: no auth flags accept everything; tokens go in the raw header, no ``Bearer``."""
        if path in NO_AUTH_PATHS or not (self.config.users or self.config.manual_token):
            return
        token = headers.get("authorization")
        if token is None:
            raise FrameworkError(401, 401, "unauthenticated for invalid credentials")
        if self.config.users:
            if token not in self.tokens:
                raise FrameworkError(500, 500, "Token not found")
        elif token.strip() != (self.config.manual_token or "").strip():
            raise FrameworkError(500, 500, "invalid token")

    async def handle(self, call: Call) -> Reply:
        """Run one request through router, auth, binding and handler."""
        try:
            handler, params = self._resolve(call.method, call.path)
            self._authenticate(call.path, call.headers)
            call.params = params
            result = await handler(call)
        except FrameworkError as exc:
            return Reply(exc.status, exc.body(), headers=exc.headers)
        except LoxiError as exc:
            status, body = error_reply(exc.raw, self.config.legacy_errors)
            return Reply(status, body)
        if isinstance(result, Reply):
            return result
        return Reply(200, result)

    async def aiohttp_handler(self, request: web.Request) -> web.StreamResponse:
        call = Call(
            method=request.method,
            path=request.path[len(BASE_PATH) :] or "/",
            params={},
            query=dict(request.query),
            headers={k.lower(): val for k, val in request.headers.items()},
            body=await request.read(),
        )
        reply = await self.handle(call)
        body = reply.raw if reply.raw is not None else go_json(reply.payload)
        return web.Response(
            status=reply.status,
            body=body,
            headers={"Content-Type": "application/json", **reply.headers},
        )

    # -- load-balancer rules (§2) --------------------------------------------------------

    async def get_version(self, call: Call) -> Any:
        return {"buildInfo": "2026-08-07-emulator", "version": self.config.version}

    async def post_rule(self, call: Call) -> Any:
        body = call.decode(v.LOADBALANCE_ENTRY)
        args = body["serviceArguments"]
        if args["mode"] == MODE_DSR and args["sel"] != 1:
            return {"result": DSR_SEL_ERROR}
        async with self.state.lock:
            await self.state.rules.post(body)
        return SUCCESS

    async def get_rules(self, call: Call) -> Any:
        return {"lbAttr": self.state.rules.render()}

    async def delete_all_rules(self, call: Call) -> Any:
        async with self.state.lock:
            await self.state.rules.delete_all()
        return SUCCESS

    async def delete_rules_by_name(self, call: Call) -> Any:
        async with self.state.lock:
            await self.state.rules.delete_by_name(call.params["lb_name"])
        return SUCCESS

    async def delete_rule(self, call: Call) -> Any:
        p = call.params
        port = v.number_param("port", p["port"])
        port_max = v.number_param("portmax", p["portmax"]) if "portmax" in p else 0.0
        block = call.query.get("block")
        block_num = v.number_param("block", block, "query") if block else 0.0
        if "bgp" in call.query:
            v.bool_param("bgp", call.query["bgp"])
        async with self.state.lock:
            await self.state.rules.delete_by_tuple(
                p["ip_address"],
                port,
                port_max,
                p["proto"],
                p.get("hosturl", ""),
                v.go_uint(block_num, 32),
            )
        return SUCCESS

    # -- probes (§3, §4) -----------------------------------------------------------------

    async def get_endpoints(self, call: Call) -> Any:
        return {"Attr": self.state.probes.render()}

    async def post_endpoint(self, call: Call) -> Any:
        body = call.decode(v.END_POINT)
        async with self.state.lock:
            self.state.probes.upsert(body)
        return SUCCESS

    async def delete_endpoint(self, call: Call) -> Any:
        port_text = call.query.get("probe_port")
        port = v.number_param("probe_port", port_text, "query") if port_text else 0.0
        async with self.state.lock:
            self.state.probes.delete(
                call.params["ip_address"],
                call.query.get("name", ""),
                call.query.get("probe_type", ""),
                int(port),
            )
        return SUCCESS

    async def post_endpoint_host_state(self, call: Call) -> Any:
        body = call.decode(v.END_POINT_HOST_STATE)
        async with self.state.lock:
            self.state.probes.set_state(body)
        return SUCCESS

    # -- HA (§5) -------------------------------------------------------------------------

    async def get_cistate(self, call: Call) -> Any:
        return {"Attr": self.state.cluster.render_states()}

    async def post_cistate(self, call: Call) -> Any:
        body = call.decode(v.CI_STATUS)
        async with self.state.lock:
            self.state.set_cluster_state(body)
        return SUCCESS

    async def get_bfd(self, call: Call) -> Any:
        return {"Attr": self.state.cluster.render_sessions()}

    async def post_bfd(self, call: Call) -> Any:
        body = call.decode(v.BFD_ENTRY)
        async with self.state.lock:
            self.state.cluster.add_session(body)
        return SUCCESS

    async def delete_bfd(self, call: Call) -> Any:
        async with self.state.lock:
            self.state.cluster.delete_session(
                call.params["remote_ip"], call.query.get("instance", "")
            )
        return SUCCESS

    # -- interfaces, addresses, routes (§6) ----------------------------------------------

    async def get_ports(self, call: Call) -> Any:
        return {"portAttr": self.state.network.render_ports()}

    async def get_addresses(self, call: Call) -> Any:
        return {"ipAttr": self.state.network.render_addresses(self.state.vip_addresses())}

    async def post_address(self, call: Call) -> Any:
        body = call.decode(v.IPV4_ADDRESS)
        async with self.state.lock:
            ok = self.state.network.add_address(body["dev"], body["ipAddress"])
        return SUCCESS if ok else {"result": "fail"}

    async def delete_address(self, call: Call) -> Any:
        p = call.params
        async with self.state.lock:
            ok = self.state.network.delete_address(p["ip_address"], p["mask"], p["if_name"])
        return SUCCESS if ok else {"result": "fail"}

    async def get_routes(self, call: Call) -> Any:
        return {"routeAttr": self.state.network.render_routes()}

    async def post_route(self, call: Call) -> Any:
        body = call.decode(v.ROUTE_ENTRY)
        async with self.state.lock:
            self.state.network.add_route(body)
        return SUCCESS

    async def delete_route(self, call: Call) -> Any:
        mask = v.integer_param("mask", call.params["mask"])
        async with self.state.lock:
            self.state.network.delete_route(call.params["ip_address"], mask)
        return SUCCESS

    # -- status, metrics, conntrack (§8) -------------------------------------------------

    async def get_conntrack(self, call: Call) -> Any:
        return {"ctAttr": self.state.datapath.conntrack()}

    async def get_process(self, call: Call) -> Any:
        return {
            "processAttr": [
                {
                    "CPUUsage": "0.0",
                    "MemoryUsage": "0.1",
                    "command": "loxilb",
                    "nice": "0",
                    "pid": str(os.getpid()),
                    "priority": "20",
                    "residentSize": "0",
                    "sharedMemory": "0",
                    "status": "S",
                    "time": "0:00.00",
                    "user": "root",
                    "virtMemory": "0",
                }
            ]
        }

    async def get_device(self, call: Call) -> Any:
        uptime = int(time.time() - self.state.started_at)
        return {
            "OS": "Emulated LoxiLB",
            "architecture": platform.machine(),
            "bootID": "emulator",
            "hostName": socket.gethostname(),
            "kernel": platform.release(),
            "machineID": "emulator",
            "uptime": f"up {uptime} seconds",
        }

    async def get_metrics(self, call: Call) -> Any:
        return "Prometheus option is disabled."

    async def bgp_disabled(self, call: Call) -> Any:
        raise LoxiError("loxilb BGP mode is disabled")

    # -- auth (§9) -----------------------------------------------------------------------

    async def login(self, call: Call) -> Any:
        if not self.config.users:
            return Reply(501, "operation auth.PostAuthLogin has not yet been implemented")
        body = call.decode(v.LOGIN)
        username = body["username"]
        if username not in self.config.users:
            raise LoxiError("User not found")
        if self.config.users[username] != body["password"]:
            return {}
        token = _fake_jwt(username)
        self.tokens[token] = username
        return {"token": token}

    async def logout(self, call: Call) -> Any:
        if not self.config.users:
            return Reply(501, "operation auth.PostAuthLogout has not yet been implemented")
        self.tokens.pop(call.headers.get("authorization", ""), None)
        return Reply(200, None, raw=b"")
