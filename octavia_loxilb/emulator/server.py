"""``Emulator``: one emulated LoxiLB node served from a background thread.

Tests use it in-process (``with Emulator(config) as emu: requests.get(emu.url + ...)``); the
CLI wraps the same class. The HTTP app, data path, prober and rule-health sync all run on one
asyncio loop owned by the thread, so the stored state is only ever touched from that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import ssl
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from octavia_loxilb.emulator.api import BASE_PATH, LoxiAPI
from octavia_loxilb.emulator.components import make_datapath, make_prober
from octavia_loxilb.emulator.hooks import Hooks
from octavia_loxilb.emulator.model import EmulatorConfig, PortSpec
from octavia_loxilb.emulator.state import NodeState

LOG = logging.getLogger(__name__)
START_TIMEOUT = 10.0


def tls_context(config: EmulatorConfig) -> ssl.SSLContext | None:
    """The listener's TLS settings: TLS 1.2+, and client certificates when a CA is set."""
    if not config.tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key)
    if config.tls_client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(config.tls_client_ca)
    return context


class Emulator:
    """An emulated LoxiLB node; ``start()`` returns once it accepts connections."""

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        base = config or EmulatorConfig()
        self.config = dataclasses.replace(base, **overrides) if overrides else base
        self.port = 0
        self.state: NodeState | None = None
        self.hooks: Hooks | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopped: asyncio.Event | None = None
        self._error: BaseException | None = None

    # -- public --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``scheme://host:port`` of the listener (hooks live under ``/_emulator``)."""
        scheme = "https" if self.config.tls_cert else "http"
        host = self.config.host
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the LoxiLB API, ``.../netlox/v1``."""
        return self.base_url + BASE_PATH

    def start(self) -> Emulator:
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        self._thread = threading.Thread(target=self._run, name="loxilb-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError("emulator did not start in time")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"emulator failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        """Wipe state (as LoxiLB does on SIGTERM), close the listener and the thread."""
        if self._thread is None or self._loop is None or self._stopped is None:
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(START_TIMEOUT)
        self._thread = None

    def run_coroutine(self, coro: Any, timeout: float = START_TIMEOUT) -> Any:
        """Run a coroutine on the emulator's loop (for test helpers that touch the state)."""
        if self._loop is None:
            raise RuntimeError("emulator not running")
        future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def set_ports(self, ports: list[PortSpec]) -> None:
        """Replace the interfaces the node reports (NIC hot-plug, see ``Network.set_ports``)."""
        state = self.state
        if state is None:
            raise RuntimeError("emulator not running")

        async def _apply() -> None:
            async with state.lock:
                state.network.set_ports(ports)

        self.run_coroutine(_apply())

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() or logged after start
            self._error = exc
            if self._ready.is_set():
                LOG.exception("emulator loop failed")
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        datapath = make_datapath(self.config)
        state = NodeState(self.config, datapath)
        prober = make_prober(state.probes.hosts, self.config)
        hooks = Hooks(state, prober)
        api = LoxiAPI(state)
        app = web.Application(middlewares=[hooks.middleware()], client_max_size=16 * 1024**2)
        app.add_routes(hooks.routes())
        app.router.add_route("*", "/{tail:.*}", api.aiohttp_handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(
            runner, self.config.host, self.config.port, ssl_context=tls_context(self.config)
        )
        try:
            await site.start()
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1] if sockets else self.config.port
            self.state, self.hooks = state, hooks
            prober.start()
            sync_task = asyncio.create_task(self._sync_forever(state))
            self._ready.set()
            LOG.info("LoxiLB emulator listening on %s", self.url)
            await self._stopped.wait()
            sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sync_task
            async with state.lock:
                await state.wipe()
        finally:
            await prober.close()
            await datapath.close()
            await runner.cleanup()

    async def _sync_forever(self, state: NodeState) -> None:
        """LoxiLB's RulesSync: mirror probe results onto monitored rules periodically."""
        while True:
            await asyncio.sleep(self.config.rule_sync_interval)
            try:
                async with state.lock:
                    await state.sync_health()
            except Exception:
                LOG.exception("rule-health sync failed")
