"""One proxied TCP flow: client ⇄ VIP listener ⇄ chosen endpoint.

A connection accepted on a VIP listener is filtered by ``allowedSources``, given an
endpoint by the rule's ``sel``, and then relayed in both directions until both sides have
finished. Each direction half-closes independently (``write_eof``), so request/response
protocols that shut down their sending side keep working.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from octavia_loxilb.emulator.conntrack import FlowRecord
from octavia_loxilb.emulator.proxy_protocol import v2_header
from octavia_loxilb.emulator.rule_runtime import RuleRuntime
from octavia_loxilb.emulator.selection import Flow

LOG = logging.getLogger(__name__)

CONNECT_TIMEOUT = 3.0
"""Seconds to reach an endpoint before the client connection is reset."""
READ_SIZE = 65536
DEFAULT_TCP_IDLE = 240


def _abort(writer: asyncio.StreamWriter) -> None:
    """Drop a connection at once (RST), the visible effect of a datapath drop."""
    writer.transport.abort()


async def _connect(
    host: str, port: int, source: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open the upstream connection, from ``source`` when DNAT keeps the client address."""
    if source is not None:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(host, port, local_addr=(source, 0)), CONNECT_TIMEOUT
            )
        except (ConnectionRefusedError, TimeoutError):
            raise
        except OSError as exc:
            LOG.debug("cannot connect from %s (%s); using the default source", source, exc)
    return await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)


async def serve_connection(
    runtime: RuleRuntime, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Handle one accepted client connection until the flow ends or is cut."""
    peer = writer.get_extra_info("peername")
    local = writer.get_extra_info("sockname")
    if peer is None or local is None:
        _abort(writer)
        return
    src_ip, src_port = str(peer[0]), int(peer[1])
    vip, listen_port = str(local[0]), int(local[1])
    if not runtime.admits(src_ip):
        LOG.debug("dropping %s:%d: outside allowedSources", src_ip, src_port)
        _abort(writer)
        return
    flow = Flow(src_ip, src_port, vip, listen_port, "tcp")
    index = runtime.choose(flow)
    if index is None:
        _abort(writer)
        return
    ep = runtime.rule.endpoints[index]
    record = runtime.open_flow(flow, index, listen_port, snat_ip="")
    await _relay(runtime, record, reader, writer, ep.ip)


async def _relay(
    runtime: RuleRuntime,
    record: FlowRecord,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    ep_ip: str,
) -> None:
    upstream: list[asyncio.StreamWriter] = []
    cut_requested = False

    def cut() -> None:
        nonlocal cut_requested
        cut_requested = True
        _abort(writer)
        for up in upstream:
            _abort(up)

    record.cut = cut
    try:
        try:
            source = runtime.source_address(record.src_ip, ep_ip)
            up_reader, up_writer = await _connect(ep_ip, record.ep_port, source)
        except (OSError, TimeoutError) as exc:
            LOG.debug("endpoint %s:%d unreachable: %s", ep_ip, record.ep_port, exc)
            _abort(writer)
            return
        upstream.append(up_writer)
        if cut_requested:
            cut()
            return
        sockname = up_writer.get_extra_info("sockname")
        record.snat_ip = str(sockname[0]) if sockname else ""
        if runtime.rule.proxyprotocolv2:
            up_writer.write(
                v2_header(record.src_ip, record.src_port, record.dst_ip, record.dst_port)
            )
        watchdog = asyncio.create_task(_expire_when_idle(runtime, record))
        try:
            await asyncio.gather(
                _pump(runtime, record, reader, up_writer),
                _pump(runtime, record, up_reader, writer),
            )
        finally:
            watchdog.cancel()
            for side in (writer, up_writer):
                side.close()
    finally:
        runtime.close_flow(record)


async def _pump(
    runtime: RuleRuntime,
    record: FlowRecord,
    source: asyncio.StreamReader,
    sink: asyncio.StreamWriter,
) -> None:
    """Copy one direction until EOF, then half-close the other side; a reset cuts the flow."""
    try:
        while data := await source.read(READ_SIZE):
            sink.write(data)
            runtime.account(record, len(data))
            await sink.drain()
        if sink.can_write_eof() and not sink.is_closing():
            sink.write_eof()
    except (ConnectionError, OSError, RuntimeError):
        record.cut()


async def _expire_when_idle(runtime: RuleRuntime, record: FlowRecord) -> None:
    """Cut the flow once it has been idle for the rule's ``inactiveTimeOut``."""
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            timeout = runtime.rule.inactive_timeout or DEFAULT_TCP_IDLE
            remaining = timeout - record.idle_for()
            if remaining <= 0:
                LOG.debug("flow %s idle for %ss: closing", record.ident, timeout)
                record.cut()
                return
            await asyncio.sleep(remaining)
