"""The emulator's active prober: probes the probe table's hosts against the real backends.

Sweeps run every ``config.probe_tick`` seconds, like LoxiLB's checker ticks (API-NOTES
§2.10). A host is due when it was never probed, when a healthy host's ``probe_duration``
has passed (0: every sweep), or, for an inactive host, on every other tick so it comes
back quickly. Probes of one sweep run concurrently, so one slow endpoint does not delay
the others. The results go into each ``ProbeHost`` (``ok``, ``fail_count``, delays); the
control plane's rule sync turns them into endpoint state.

Failure counting: the first probe of a host fails it at once; later it takes
``inactive_retries`` consecutive failures (0: never), and any success resets the count.
Ping failures count at once, as LoxiLB runs ping with a threshold of 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
from collections.abc import Sequence

from octavia_loxilb.emulator import probe_checks
from octavia_loxilb.emulator.model import EmulatorConfig, ProbeHost

LOG = logging.getLogger(__name__)

PROBE_GUARD = 10.0
"""Upper bound on one probe, whatever its type; a stuck probe counts as a failure."""


class ActiveProber:
    """Probes enabled hosts of the shared ``hosts`` dict (the ``Prober`` protocol)."""

    def __init__(
        self,
        hosts: dict[str, ProbeHost],
        config: EmulatorConfig,
        ca_files: Sequence[str] = (),
    ) -> None:
        self._hosts = hosts
        self._config = config
        self._ca_files = tuple(ca_files)
        self._ticks = 0
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._tls: dict[str, ssl.SSLContext] = {}
        self._sctp_logged = False

    def start(self) -> None:
        """Begin periodic sweeps on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._config.probe_tick)
            self._ticks += 1
            try:
                await self.sweep()
            except Exception:  # a sweep must never end the periodic task
                LOG.exception("probe sweep failed")

    async def sweep(self, force: bool = False) -> None:
        """Probe every due host (every enabled one with ``force``) and wait for the results."""
        now = time.monotonic()
        waiting: list[asyncio.Task[None]] = []
        for host in list(self._hosts.values()):
            if not host.enabled:
                continue
            if host.probe_type == "none":
                self._record(host, True)
                continue
            if not (force or self._due(host, now)):
                continue
            task = self._inflight.get(host.key)
            if task is None:
                task = asyncio.get_running_loop().create_task(self._probe(host))
                self._inflight[host.key] = task
                task.add_done_callback(functools.partial(self._finished, host.key))
            waiting.append(task)
        if waiting:
            await asyncio.gather(*waiting, return_exceptions=True)

    def _finished(self, key: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)

    async def close(self) -> None:
        """Stop sweeping and abandon probes in flight."""
        tasks = [t for t in (self._task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None

    def _due(self, host: ProbeHost, now: float) -> bool:
        if host.last_probe == 0:
            return True
        if not host.ok:
            return self._ticks % 2 == 0
        return now - host.last_probe >= host.probe_duration

    async def _probe(self, host: ProbeHost) -> None:
        try:
            ok = await asyncio.wait_for(self._check(host), PROBE_GUARD)
        except (TimeoutError, OSError) as exc:
            LOG.debug("probe %s failed: %s", host.key, exc)
            ok = False
        self._record(host, ok)

    async def _check(self, host: ProbeHost) -> bool:
        kind = host.probe_type
        if kind == "tcp":
            return await probe_checks.tcp_check(
                host.host, host.probe_port, host.probe_req, host.probe_resp
            )
        if kind == "udp":
            return await probe_checks.udp_check(
                host.host, host.probe_port, host.probe_req, host.probe_resp
            )
        if kind == "ping":
            result = await probe_checks.ping_check(host.host, max(host.inactive_retries, 1))
            host.min_delay = result.min_delay
            host.avg_delay = result.avg_delay
            host.max_delay = result.max_delay
            return result.ok
        if kind == "http":
            return await probe_checks.http_check(host.host, host.probe_port, host.probe_req)
        if kind == "https":
            return await probe_checks.https_check(
                host.host, host.probe_port, host.probe_req, host.probe_resp, self._context(host)
            )
        if kind == "sctp":
            if not self._sctp_logged:
                LOG.info("SCTP probes are not modelled by the emulator; they always pass")
                self._sctp_logged = True
            return probe_checks.sctp_check(host.host, host.probe_port)
        LOG.warning("probe %s: unknown probe type %r counts as ok", host.key, kind)
        return True

    def _context(self, host: ProbeHost) -> ssl.SSLContext:
        context = self._tls.get(host.host)
        if context is None:
            context = probe_checks.https_context(host.host, self._ca_files)
            self._tls[host.host] = context
        return context

    @staticmethod
    def _record(host: ProbeHost, ok: bool) -> None:
        """Apply one probe result with LoxiLB's consecutive-failure rule."""
        first = not host.ever_probed
        host.ever_probed = True
        host.last_probe = time.monotonic()
        if ok:
            host.ok = True
            host.fail_count = 0
            return
        host.fail_count += 1
        threshold = 1 if first or host.probe_type == "ping" else host.inactive_retries
        if threshold > 0 and host.fail_count >= threshold:
            host.ok = False
