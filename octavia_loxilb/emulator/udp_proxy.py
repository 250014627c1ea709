"""UDP forwarding: one session per client address, each with its own upstream socket.

The VIP listener receives every datagram; the first one from a client address opens a
session (filter, endpoint choice, conntrack entry), later ones reuse it. Replies from the
endpoint go back to the client from the VIP socket, so the client sees the VIP answer. A
session expires after the rule's ``inactiveTimeOut`` without traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, cast

from octavia_loxilb.emulator.conntrack import FlowRecord
from octavia_loxilb.emulator.rule_runtime import RuleRuntime
from octavia_loxilb.emulator.selection import Flow

LOG = logging.getLogger(__name__)

DEFAULT_UDP_IDLE = 20
MAX_PENDING = 64
"""Datagrams held while the upstream socket is being created; more are dropped."""

Address = tuple[Any, ...]


class UdpListener(asyncio.DatagramProtocol):
    """The VIP side of a UDP rule on one port."""

    def __init__(self, runtime: RuleRuntime) -> None:
        self.runtime = runtime
        self.transport: asyncio.DatagramTransport | None = None
        self.sessions: dict[Address, UdpSession] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Selector datagram transports do not subclass DatagramTransport; cast only.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        session = self.sessions.get(addr)
        if session is None:
            session = self._open_session(addr)
            if session is None:
                return
        session.send_upstream(data)

    def _open_session(self, addr: Address) -> UdpSession | None:
        if self.transport is None:
            return None
        src_ip, src_port = str(addr[0]), int(addr[1])
        if not self.runtime.admits(src_ip):
            LOG.debug("ignoring datagram from %s:%d: outside allowedSources", src_ip, src_port)
            return None
        local = self.transport.get_extra_info("sockname")
        flow = Flow(src_ip, src_port, str(local[0]), int(local[1]), "udp")
        index = self.runtime.choose(flow)
        if index is None:
            return None
        session = UdpSession(self, flow, index, addr)
        self.sessions[addr] = session
        return session

    def reply(self, data: bytes, addr: Address) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, addr)

    def close(self) -> None:
        """Stop listening; sessions lose their return path, so they end too."""
        for session in list(self.sessions.values()):
            session.cut()
        if self.transport is not None:
            self.transport.close()


class UdpSession(asyncio.DatagramProtocol):
    """One client's flow through the VIP to its chosen endpoint."""

    def __init__(self, listener: UdpListener, flow: Flow, index: int, client: Address) -> None:
        self.listener = listener
        self.runtime = listener.runtime
        self.client = client
        ep = self.runtime.rule.endpoints[index]
        self.record: FlowRecord = self.runtime.open_flow(flow, index, flow.dst_port, snat_ip="")
        self.record.cut = self.cut
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.closed = False
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_task(self._connect(ep.ip, self.record.ep_port))
        self._watchdog: asyncio.Task[None] | None = None

    async def _connect(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        source = self.runtime.source_address(self.record.src_ip, host)
        attempts: list[tuple[str, int] | None] = [(source, 0)] if source else []
        attempts.append(None)
        for local_addr in attempts:
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: self, remote_addr=(host, port), local_addr=local_addr
                )
                break
            except OSError as exc:
                LOG.debug("udp upstream %s:%d from %s failed: %s", host, port, local_addr, exc)
        else:
            self.cut()
            return
        if self.closed:
            transport.close()
            return
        # Selector datagram transports do not subclass DatagramTransport; cast only.
        self.transport = cast(asyncio.DatagramTransport, transport)
        sockname = transport.get_extra_info("sockname")
        self.record.snat_ip = str(sockname[0]) if sockname else ""
        for data in self.pending:
            transport.sendto(data)
        self.pending.clear()
        self._watchdog = loop.create_task(self._expire_when_idle())

    def send_upstream(self, data: bytes) -> None:
        if self.closed:
            return
        self.runtime.account(self.record, len(data))
        if self.transport is not None:
            self.transport.sendto(data)
        elif len(self.pending) < MAX_PENDING:
            self.pending.append(data)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if self.closed:
            return
        self.runtime.account(self.record, len(data))
        self.listener.reply(data, self.client)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors from the endpoint are not relayed; LoxiLB's NAT drops them too."""
        LOG.debug("udp session %s upstream error: %s", self.record.ident, exc)

    async def _expire_when_idle(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while not self.closed:
                timeout = self.runtime.rule.inactive_timeout or DEFAULT_UDP_IDLE
                remaining = timeout - self.record.idle_for()
                if remaining <= 0:
                    self.cut()
                    return
                await asyncio.sleep(remaining)

    def cut(self) -> None:
        """End the session now: close its upstream socket and forget it."""
        if self.closed:
            return
        self.closed = True
        if self.listener.sessions.get(self.client) is self:
            del self.listener.sessions[self.client]
        self.runtime.close_flow(self.record)
        if self.transport is not None:
            self.transport.close()
        current = asyncio.current_task()
        if not self._connecting.done() and self._connecting is not current:
            self._connecting.cancel()
        if self._watchdog is not None and self._watchdog is not current:
            self._watchdog.cancel()
