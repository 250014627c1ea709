"""LoopbackDatapath forwarding real TCP traffic on loopback, driven directly."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from octavia_loxilb.emulator.datapath import LoopbackDatapath
from octavia_loxilb.emulator.model import EmulatorConfig, StoredRule
from tests.functional.backends import (
    TcpBackend,
    free_port,
    stored_rule,
    tcp_connect,
    tcp_identity,
)

Scenario = Callable[[LoopbackDatapath, list[TcpBackend]], Awaitable[None]]


def _run(scenario: Scenario, backends: int = 3, proxy_protocol: bool = False) -> None:
    """Start ``backends`` TCP backends and a data path, run the scenario, clean up."""

    async def main() -> None:
        started = [
            await TcpBackend(f"b{i}", proxy_protocol=proxy_protocol).start()
            for i in range(backends)
        ]
        datapath = LoopbackDatapath(EmulatorConfig())
        try:
            await scenario(datapath, started)
        finally:
            await datapath.close()
            for backend in started:
                await backend.stop()

    asyncio.run(main())


def _rule(
    vip: str,
    backends: list[TcpBackend],
    *,
    port: int = 0,
    weights: tuple[int, ...] = (),
    **kw: Any,
) -> StoredRule:
    weights = weights or (1,) * len(backends)
    eps = [("127.0.0.1", b.port, w) for b, w in zip(backends, weights, strict=True)]
    return stored_rule(vip, port or free_port(vip), eps, **kw)


async def _wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_round_robin_spreads_evenly_over_three_backends() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.1", backends)
        await dp.program(rule)
        names = [await tcp_identity(rule.external_ip, rule.port) for _ in range(9)]
        assert names == ["b0", "b1", "b2"] * 3

    _run(scenario)


def test_weighted_round_robin_follows_weights() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.2", backends, sel=2, weights=(50, 25, 25))
        await dp.program(rule)
        names = collections.Counter(
            [await tcp_identity(rule.external_ip, rule.port) for _ in range(32)]
        )
        assert names == {"b0": 16, "b1": 8, "b2": 8}

    _run(scenario)


def test_persist_keeps_each_client_ip_on_one_backend() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.3", backends, sel=3)
        await dp.program(rule)
        seen: dict[str, set[str]] = {}
        for client in ("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"):
            for _ in range(4):
                name = await tcp_identity(rule.external_ip, rule.port, source=client)
                seen.setdefault(client, set()).add(name)
        assert all(len(names) == 1 for names in seen.values())
        assert len(set().union(*seen.values())) > 1

    _run(scenario)


def test_least_connection_prefers_the_idle_backend() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.4", backends, sel=4)
        await dp.program(rule)
        held = [await tcp_connect(rule.external_ip, rule.port) for _ in range(2)]
        assert [name for _r, _w, name in held] == ["b0", "b1"]
        # b0 and b1 each hold a session; the idle b2 gets the next ones.
        first = await tcp_connect(rule.external_ip, rule.port)
        assert first[2] == "b2"
        held[0][1].close()
        await _wait_until(lambda: backends[0].active == 0)
        await _wait_until(lambda: len(dp.conntrack()) == 2)
        assert await tcp_identity(rule.external_ip, rule.port) == "b0"
        for _r, writer, _n in (*held[1:], first):
            writer.close()

    _run(scenario)


def test_hash_is_stable_per_flow() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.5", backends, sel=1)
        await dp.program(rule)
        # The same 5-tuple (fixed source port) always lands on the same backend.
        source_port = free_port("127.0.0.21")
        names = set()
        for _ in range(3):
            sock = socket.socket()
            # Linger 0: close with RST, so the same 4-tuple is free again at once.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.bind(("127.0.0.21", source_port))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (rule.external_ip, rule.port))
            reader, writer = await asyncio.open_connection(sock=sock)
            names.add((await reader.readline()).decode().strip())
            writer.close()
            await _wait_until(lambda: not dp.conntrack())
        assert len(names) == 1

    _run(scenario)


def test_allowed_sources_refuses_outside_and_admits_inside() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.6", backends, allowed_sources=["127.0.5.0/24"])
        await dp.program(rule)
        assert await tcp_identity(rule.external_ip, rule.port, source="127.0.5.9") == "b0"
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await tcp_connect(rule.external_ip, rule.port, source="127.0.6.9")
        assert sum(b.accepted for b in backends) == 1

    _run(scenario)


def test_counters_grow_with_traffic_and_conntrack_lists_the_flow() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.7", backends[:1], name="lsnr-counters")
        await dp.program(rule)
        reader, writer, _ = await tcp_connect(rule.external_ip, rule.port)
        writer.write(b"x" * 1000)
        assert await reader.readexactly(1000) == b"x" * 1000
        ep = rule.endpoints[0]
        # "b0\n" (3) + 1000 request bytes + 1000 echoed bytes, both directions counted.
        assert ep.bytes == 2003
        assert ep.packets >= 3
        (entry,) = dp.conntrack()
        assert entry["servName"] == "lsnr-counters"
        assert entry["destinationIP"] == rule.external_ip
        assert entry["destinationPort"] == rule.port
        assert entry["conntrackState"] == "est"
        assert entry["conntrackAct"] == f"dnat-127.0.0.1:{backends[0].port}:w1"
        assert entry["bytes"] == 2003
        writer.close()
        await _wait_until(lambda: not dp.conntrack())

    _run(scenario, backends=1)


def test_in_place_reprogram_keeps_an_established_flow() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.8", backends[:2])
        await dp.program(rule)
        reader, writer, name = await tcp_connect(rule.external_ip, rule.port)
        assert name == "b0"
        # A new rule object with the same key: b1's weight changes, b0 stays in slot 0.
        updated = _rule("127.66.0.8", backends[:2], port=rule.port, weights=(1, 7))
        await dp.program(updated)
        writer.write(b"still here")
        assert await reader.readexactly(10) == b"still here"
        assert dp.bound_ports(rule.key) == [rule.port]
        writer.close()

    _run(scenario, backends=2)


def test_removed_or_down_slot_cuts_its_flows_and_gets_no_new_ones() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.9", backends[:2])
        await dp.program(rule)
        r0, w0, n0 = await tcp_connect(rule.external_ip, rule.port)
        r1, w1, n1 = await tcp_connect(rule.external_ip, rule.port)
        assert (n0, n1) == ("b0", "b1")
        rule.endpoints[0].service_down = True
        await dp.program(rule)
        assert await asyncio.wait_for(r0.read(), 2) == b""
        w1.write(b"ok")
        assert await r1.readexactly(2) == b"ok"
        assert {await tcp_identity(rule.external_ip, rule.port) for _ in range(3)} == {"b1"}
        rule.endpoints[0].service_down = False
        await dp.program(rule)
        names = {await tcp_identity(rule.external_ip, rule.port) for _ in range(2)}
        assert names == {"b0", "b1"}
        for w in (w0, w1):
            w.close()

    _run(scenario, backends=2)


def test_half_close_still_delivers_the_response() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.10", backends[:1])
        await dp.program(rule)
        reader, writer, _ = await tcp_connect(rule.external_ip, rule.port)
        writer.write(b"request")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 2) == b"request"
        writer.close()

    _run(scenario, backends=1)


def test_idle_flow_is_closed_after_inactive_timeout() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.11", backends[:1], inactive_timeout=1)
        await dp.program(rule)
        reader, writer, _ = await tcp_connect(rule.external_ip, rule.port)
        assert await asyncio.wait_for(reader.read(), 3) == b""
        await _wait_until(lambda: not dp.conntrack())
        writer.close()

    _run(scenario, backends=1)


def test_proxy_protocol_v2_tells_the_backend_the_client_address() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.12", backends[:1], proxyprotocolv2=True)
        await dp.program(rule)
        _r, writer, name = await tcp_connect(rule.external_ip, rule.port, source="127.0.0.31")
        assert name == "b0"
        ((src, dst),) = backends[0].proxied
        assert src[0] == "127.0.0.31"
        assert dst == (rule.external_ip, rule.port)
        writer.close()

    _run(scenario, backends=1, proxy_protocol=True)


def test_dnat_mode_keeps_the_client_address_towards_the_backend() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        dnat = _rule("127.66.0.13", backends[:1])
        fullnat = _rule("127.66.0.14", backends[:1], mode=2)
        await dp.program(dnat)
        await dp.program(fullnat)
        await tcp_identity(dnat.external_ip, dnat.port, source="127.0.0.41")
        await tcp_identity(fullnat.external_ip, fullnat.port, source="127.0.0.41")
        assert [peer[0] for peer in backends[0].peers] == ["127.0.0.41", "127.0.0.1"]

    _run(scenario, backends=1)


def test_set_serving_false_stops_accepting_and_true_binds_again() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.15", backends[:1], name="lsnr:inst-ha")
        rule.instance = "inst-ha"
        other = _rule("127.66.0.16", backends[:1])
        await dp.program(rule)
        await dp.program(other)
        dp.set_serving("inst-ha", False)
        with pytest.raises(ConnectionRefusedError):
            await tcp_connect(rule.external_ip, rule.port)
        assert await tcp_identity(other.external_ip, other.port) == "b0"
        # Programming while not serving must not bind either.
        await dp.program(rule)
        assert dp.bound_ports(rule.key) == []
        dp.set_serving("inst-ha", True)
        await dp.settle()
        assert await tcp_identity(rule.external_ip, rule.port) == "b0"

    _run(scenario, backends=1)


def test_port_range_rule_listens_on_every_port() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        vip = "127.66.0.17"
        first = free_port(vip)
        rule = stored_rule(vip, first, [("127.0.0.1", backends[0].port, 1)], port_max=first + 2)
        await dp.program(rule)
        bound = dp.bound_ports(rule.key)
        for port in bound:
            assert await tcp_identity(vip, port) == "b0"
        assert bound == [first, first + 1, first + 2]

    _run(scenario, backends=1)


def test_bind_conflict_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        blocker = await TcpBackend("blocker", host="127.66.0.18").start()
        try:
            rule = _rule("127.66.0.18", backends[:1], port=blocker.port)
            await dp.program(rule)
            assert dp.bound_ports(rule.key) == []
            assert "cannot bind" in caplog.text
            await blocker.stop()
            # The next program() retries the missing listener.
            await dp.program(rule)
            assert await tcp_identity(rule.external_ip, rule.port) == "b0"
        finally:
            await blocker.stop()

    _run(scenario, backends=1)


def test_remove_drops_listener_and_flows() -> None:
    async def scenario(dp: LoopbackDatapath, backends: list[TcpBackend]) -> None:
        rule = _rule("127.66.0.19", backends[:1])
        await dp.program(rule)
        reader, writer, _ = await tcp_connect(rule.external_ip, rule.port)
        await dp.remove(rule)
        assert await asyncio.wait_for(reader.read(), 2) == b""
        with pytest.raises(ConnectionRefusedError):
            await tcp_connect(rule.external_ip, rule.port)
        with contextlib.suppress(ConnectionError):
            writer.close()

    _run(scenario, backends=1)
