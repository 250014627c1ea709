"""Test-only controls under ``/_emulator/``: faults, call log, restart, forced sync and probes.

None of this exists in LoxiLB. It lets tests drive the conditions a driver must survive
(latency, 5xx, connections dropped before or after the change applied, a restart that wipes
state) and replace LoxiLB's 10-25 s health timing with explicit ticks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from octavia_loxilb.emulator.errors import SUCCESS, go_json, message_for_status
from octavia_loxilb.emulator.model import Prober
from octavia_loxilb.emulator.state import NodeState

HOOK_PREFIX = "/_emulator"
_Next = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_PREFIX = "/netlox/v1"


@dataclasses.dataclass
class Fault:
    """One injected fault; ``count`` 0 means it never runs out."""

    method: str = ""
    path_prefix: str = ""
    status: int | None = None
    count: int = 1
    latency: float = 0.0
    drop: bool = False
    after_apply: bool = False

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        relative = path[len(API_PREFIX) :] if path.startswith(API_PREFIX) else path
        return path.startswith(self.path_prefix) or relative.startswith(self.path_prefix)


@dataclasses.dataclass
class Hooks:
    """Fault list and call log of one emulator, plus the hook endpoints."""

    state: NodeState
    prober: Prober
    faults: list[Fault] = dataclasses.field(default_factory=list)
    calls: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                return fault
        return None

    @staticmethod
    def _fault_response(fault: Fault, request: web.Request) -> web.StreamResponse:
        if fault.drop:
            # Close without a response: the client sees a reset or an empty reply.
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=200)
        status = fault.status or 500
        raw = "emulated fault"
        message = message_for_status(status, raw)
        body = {"code": status, "fields": None, "message": message, "result": raw}
        return web.Response(status=status, body=go_json(body), content_type="application/json")

    def middleware(self) -> Middleware:
        """The aiohttp middleware that applies faults to, and logs, the API calls."""

        @web.middleware
        async def apply_faults(request: web.Request, handler: _Next) -> web.StreamResponse:
            return await self._intercept(request, handler)

        return apply_faults

    async def _intercept(self, request: web.Request, handler: _Next) -> web.StreamResponse:
        if request.path.startswith(HOOK_PREFIX):
            return await handler(request)
        body = await request.read()
        fault = self._take_fault(request.method, request.path)
        if fault is not None and fault.latency:
            await asyncio.sleep(fault.latency)
        injected = fault is not None and (fault.drop or fault.status is not None)
        if injected and fault is not None and not fault.after_apply:
            response = self._fault_response(fault, request)
            self._log(request, body, None if fault.drop else response.status)
            return response
        response = await handler(request)
        if injected and fault is not None:
            response = self._fault_response(fault, request)
            self._log(request, body, None if fault.drop else response.status)
            return response
        self._log(request, body, response.status)
        return response

    def _log(self, request: web.Request, body: bytes, status: int | None) -> None:
        if not request.path.startswith(API_PREFIX):
            return
        try:
            parsed: Any = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = body.decode(errors="replace")
        self.calls.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "status": status,
                "body": parsed,
            }
        )

    # -- endpoints -----------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{HOOK_PREFIX}/faults", self.add_fault),
            web.delete(f"{HOOK_PREFIX}/faults", self.clear_faults),
            web.get(f"{HOOK_PREFIX}/calls", self.get_calls),
            web.delete(f"{HOOK_PREFIX}/calls", self.clear_calls),
            web.post(f"{HOOK_PREFIX}/restart", self.restart),
            web.post(f"{HOOK_PREFIX}/sync", self.sync),
            web.post(f"{HOOK_PREFIX}/probe", self.probe),
        ]

    async def add_fault(self, request: web.Request) -> web.Response:
        data = await request.json()
        known = {f.name for f in dataclasses.fields(Fault)}
        unknown = set(data) - known
        if unknown:
            return web.json_response({"error": f"unknown fields {sorted(unknown)}"}, status=400)
        self.faults.append(Fault(**data))
        return web.json_response(SUCCESS)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response(SUCCESS)

    async def get_calls(self, request: web.Request) -> web.Response:
        return web.json_response(self.calls)

    async def clear_calls(self, request: web.Request) -> web.Response:
        self.calls.clear()
        return web.json_response(SUCCESS)

    async def restart(self, request: web.Request) -> web.Response:
        """Wipe every rule, probe host, HA state and address, as a LoxiLB restart does."""
        async with self.state.lock:
            await self.state.wipe()
        return web.json_response(SUCCESS)

    async def sync(self, request: web.Request) -> web.Response:
        """Force a full probe sweep, then one rule-health sync.

        Body ``{"sweep": false}`` skips the sweep (keeps only pinned or earlier results).
        """
        data = await request.json() if request.can_read_body else {}
        if data.get("sweep", True):
            await self.prober.sweep(force=True)
        async with self.state.lock:
            changed = await self.state.sync_health()
        return web.json_response({"result": "Success", "rules_changed": changed})

    async def probe(self, request: web.Request) -> web.Response:
        """Pin a host's probe result (``ok`` true/false) or release it (``ok`` null)."""
        data = await request.json()
        if not self.state.probes.pin(data["key"], data.get("ok")):
            return web.json_response({"error": f"no probe host {data['key']}"}, status=404)
        return web.json_response(SUCCESS)
