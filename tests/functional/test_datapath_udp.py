"""LoopbackDatapath forwarding real UDP traffic on loopback, driven directly."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from octavia_loxilb.emulator.datapath import LoopbackDatapath
from octavia_loxilb.emulator.model import EmulatorConfig, StoredRule
from tests.functional.backends import UdpBackend, UdpClient, free_port, stored_rule

Scenario = Callable[[LoopbackDatapath, list[UdpBackend]], Awaitable[None]]


def _run(scenario: Scenario, backends: int = 3) -> None:
    async def main() -> None:
        started = [await UdpBackend(f"u{i}").start() for i in range(backends)]
        datapath = LoopbackDatapath(EmulatorConfig())
        try:
            await scenario(datapath, started)
        finally:
            await datapath.close()
            for backend in started:
                await backend.stop()

    asyncio.run(main())


def _rule(vip: str, backends: list[UdpBackend], **kw: Any) -> StoredRule:
    eps = [("127.0.0.1", b.port, 1) for b in backends]
    return stored_rule(vip, free_port(vip, socket.SOCK_DGRAM), eps, protocol="udp", **kw)


def test_udp_sessions_round_robin_and_stick_per_client() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[UdpBackend]) -> None:
        rule = _rule("127.66.1.1", backends)
        await dp.program(rule)
        clients = [await UdpClient.open(rule.external_ip, rule.port) for _ in range(3)]
        answers = [await c.ask(b"hello") for c in clients]
        assert answers == [b"u0:hello", b"u1:hello", b"u2:hello"]
        # Later datagrams of a client stay in its session.
        assert [await c.ask(b"again") for c in clients] == [
            b"u0:again",
            b"u1:again",
            b"u2:again",
        ]
        assert len(dp.conntrack()) == 3
        assert {e["conntrackState"] for e in dp.conntrack()} == {"udp-est"}
        for c in clients:
            c.close()

    _run(scenario)


def test_udp_counters_count_both_directions() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[UdpBackend]) -> None:
        rule = _rule("127.66.1.2", backends[:1])
        await dp.program(rule)
        client = await UdpClient.open(rule.external_ip, rule.port)
        for _ in range(3):
            assert await client.ask(b"12345") == b"u0:12345"
        # 3 requests of 5 bytes and 3 answers of 8 bytes.
        assert (rule.endpoints[0].packets, rule.endpoints[0].bytes) == (6, 39)
        client.close()

    _run(scenario, backends=1)


def test_udp_allowed_sources_ignores_outside_clients() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[UdpBackend]) -> None:
        rule = _rule("127.66.1.3", backends[:1], allowed_sources=["127.0.7.0/24"])
        await dp.program(rule)
        inside = await UdpClient.open(rule.external_ip, rule.port, source="127.0.7.1")
        outside = await UdpClient.open(rule.external_ip, rule.port, source="127.0.8.1")
        assert await inside.ask(b"in") == b"u0:in"
        with pytest.raises(TimeoutError):
            await outside.ask(b"out", timeout=0.5)
        assert backends[0].received == 1
        inside.close()
        outside.close()

    _run(scenario, backends=1)


def test_udp_session_expires_after_inactive_timeout() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[UdpBackend]) -> None:
        rule = _rule("127.66.1.4", backends[:2], inactive_timeout=1)
        await dp.program(rule)
        client = await UdpClient.open(rule.external_ip, rule.port)
        assert await client.ask(b"a") == b"u0:a"
        assert len(dp.conntrack()) == 1
        await asyncio.sleep(1.3)
        assert dp.conntrack() == []
        # A new session is a new flow: round robin moves on to the next endpoint.
        assert await client.ask(b"b") == b"u1:b"
        client.close()

    _run(scenario, backends=2)


def test_udp_session_to_a_down_endpoint_is_cut_and_moves() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[UdpBackend]) -> None:
        rule = _rule("127.66.1.5", backends[:2])
        await dp.program(rule)
        client = await UdpClient.open(rule.external_ip, rule.port)
        assert await client.ask(b"a") == b"u0:a"
        rule.endpoints[0].service_down = True
        await dp.program(rule)
        assert dp.conntrack() == []
        assert await client.ask(b"b") == b"u1:b"
        client.close()

    _run(scenario, backends=2)
