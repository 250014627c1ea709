"""The emulator's data path: real TCP/UDP forwarding on loopback for programmed rules.

For each rule the control plane programs, ``LoopbackDatapath`` listens on the VIP
(``externalIP`` on ``port``..``portMax``; any 127.x address works without configuration)
and relays every new flow to the endpoint the rule's ``sel`` picks, honouring
``allowedSources``, ``inactiveTimeOut``, endpoint usability and PROXY protocol v2. Only an
HA instance that is MASTER or NOT_DEFINED binds its VIPs (``set_serving``). SCTP and ICMP
rules are accepted but not forwarded.

Counters: every read (TCP) or datagram (UDP) in either direction counts as one packet and
its payload as bytes, on the flow's conntrack entry and on the endpoint slot GET shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket

from octavia_loxilb.emulator.conntrack import ConntrackTable
from octavia_loxilb.emulator.model import EmulatorConfig, RuleKey, StoredRule
from octavia_loxilb.emulator.rule_runtime import RuleRuntime
from octavia_loxilb.emulator.tcp_proxy import serve_connection
from octavia_loxilb.emulator.udp_proxy import UdpListener

LOG = logging.getLogger(__name__)

FORWARDED_PROTOCOLS = ("tcp", "udp")
MAX_RANGE_PORTS = 1024
"""A port-range rule binds at most this many ports, to stay within file-descriptor limits."""
LISTEN_BACKLOG = 256
DRAIN_TIMEOUT = 1.0
"""Seconds ``close()`` waits for cut flows to release their sockets."""


def _listening_socket(ip: str, port: int, protocol: str) -> socket.socket:
    """Bind the VIP socket synchronously, so a conflict surfaces at once as ``OSError``.

    TCP listeners use SO_REUSEADDR so a restarted emulator rebinds despite TIME_WAIT. UDP
    sockets do not: on Linux that option would let two UDP sockets share a port silently.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    try:
        if protocol == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        if protocol == "tcp":
            sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Listener:
    """One bound VIP port: a TCP server or a UDP listener."""

    def __init__(
        self, server: asyncio.Server | None = None, udp: UdpListener | None = None
    ) -> None:
        self.server = server
        self.udp = udp

    def close(self) -> None:
        """Stop accepting; established TCP flows live on, UDP sessions end with the socket."""
        if self.server is not None:
            self.server.close()
        if self.udp is not None:
            self.udp.close()


class _ServedRule:
    """A programmed rule with its forwarding state and the ports it has bound."""

    def __init__(self, runtime: RuleRuntime, ports: tuple[int, ...]) -> None:
        self.runtime = runtime
        self.ports = ports
        self.listeners: dict[int, _Listener] = {}
        self.lock = asyncio.Lock()

    def unbind(self) -> None:
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()


def _rule_ports(rule: StoredRule) -> tuple[int, ...]:
    if rule.protocol not in FORWARDED_PROTOCOLS:
        return ()
    last = max(rule.port, rule.port_max)
    if last - rule.port + 1 > MAX_RANGE_PORTS:
        LOG.warning(
            "rule %s: port range %d-%d truncated to %d ports",
            rule.name,
            rule.port,
            last,
            MAX_RANGE_PORTS,
        )
        last = rule.port + MAX_RANGE_PORTS - 1
    return tuple(range(rule.port, last + 1))


class LoopbackDatapath:
    """Forwards real traffic for programmed rules (the ``Datapath`` protocol)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._table = ConntrackTable()
        self._rules: dict[RuleKey, _ServedRule] = {}
        self._not_serving: set[str] = set()
        self._pending: set[asyncio.Task[None]] = set()

    # -- Datapath protocol --------------------------------------------------------------

    async def program(self, rule: StoredRule) -> None:
        """Create or refresh a rule's listeners; an existing rule is updated in place."""
        if not self._config.datapath:
            return
        served = self._rules.get(rule.key)
        ports = _rule_ports(rule)
        if served is None:
            if rule.protocol not in FORWARDED_PROTOCOLS:
                LOG.info("rule %s: %s traffic is not forwarded", rule.name, rule.protocol)
            served = _ServedRule(RuleRuntime(rule, self._config.wrr_slots, self._table), ports)
            self._rules[rule.key] = served
        else:
            served.runtime.update(rule)
            if served.ports != ports:
                served.unbind()
                served.ports = ports
        await self._sync_binding(served)

    async def remove(self, rule: StoredRule) -> None:
        """Stop serving the rule and drop all its flows."""
        served = self._rules.pop(rule.key, None)
        if served is None:
            return
        served.unbind()
        served.runtime.cut_all()

    def set_serving(self, instance: str, serving: bool) -> None:
        """Bind or unbind the VIPs of every rule of ``instance`` (HA state change)."""
        if serving:
            self._not_serving.discard(instance)
        else:
            self._not_serving.add(instance)
        loop = asyncio.get_running_loop()
        for served in self._rules.values():
            if served.runtime.rule.instance != instance:
                continue
            if serving:
                task = loop.create_task(self._sync_binding(served))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            else:
                served.unbind()

    def conntrack(self) -> list[dict[str, object]]:
        """Every open flow as a GET /config/conntrack/all entry."""
        return self._table.entries()

    async def close(self) -> None:
        """Release every listener and flow."""
        await self.settle()
        for served in self._rules.values():
            served.unbind()
            served.runtime.cut_all()
        self._rules.clear()
        await self._drain_flows()

    async def _drain_flows(self) -> None:
        """Give cut flows a moment to finish so their sockets are closed, not leaked."""
        deadline = asyncio.get_running_loop().time() + DRAIN_TIMEOUT
        while len(self._table) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        for _ in range(3):
            await asyncio.sleep(0)

    # -- helpers ------------------------------------------------------------------------

    async def settle(self) -> None:
        """Wait until bindings started by ``set_serving`` have completed (a test hook)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def bound_ports(self, key: RuleKey) -> list[int]:
        """The VIP ports currently bound for a rule (empty when not serving)."""
        served = self._rules.get(key)
        return sorted(served.listeners) if served else []

    def _serves(self, rule: StoredRule) -> bool:
        return rule.instance not in self._not_serving

    async def _sync_binding(self, served: _ServedRule) -> None:
        async with served.lock:
            rule = served.runtime.rule
            if not self._serves(rule) or self._rules.get(rule.key) is not served:
                served.unbind()
                return
            for port in served.ports:
                if port in served.listeners:
                    continue
                listener = await self._bind(served.runtime, port)
                if listener is None:
                    continue
                still_wanted = self._rules.get(rule.key) is served
                if not still_wanted or not self._serves(served.runtime.rule):
                    listener.close()
                    return
                served.listeners[port] = listener

    async def _bind(self, runtime: RuleRuntime, port: int) -> _Listener | None:
        rule = runtime.rule
        try:
            sock = _listening_socket(rule.external_ip, port, rule.protocol)
        except OSError as exc:
            LOG.warning(
                "rule %s: cannot bind %s %s:%d: %s",
                rule.name,
                rule.protocol,
                rule.external_ip,
                port,
                exc,
            )
            return None
        try:
            if rule.protocol == "tcp":
                server = await asyncio.start_server(
                    functools.partial(serve_connection, runtime), sock=sock
                )
                return _Listener(server=server)
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_datagram_endpoint(
                lambda: UdpListener(runtime), sock=sock
            )
            return _Listener(udp=protocol)
        except OSError as exc:
            LOG.warning("rule %s: cannot serve %s:%d: %s", rule.name, rule.external_ip, port, exc)
            with contextlib.suppress(OSError):
                sock.close()
            return None
