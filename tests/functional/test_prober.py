"""ActiveProber against real loopback backends (API-NOTES §2.10, §3.4)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from octavia_loxilb.emulator import probe_checks
from octavia_loxilb.emulator.datapath import LoopbackDatapath
from octavia_loxilb.emulator.model import EmulatorConfig, ProbeHost
from octavia_loxilb.emulator.prober import ActiveProber
from tests.functional.backends import (
    HttpBackend,
    TcpBackend,
    UdpBackend,
    free_port,
    make_tls_files,
    server_tls_context,
    stored_rule,
    tcp_identity,
)


def _host(port: int, probe_type: str = "tcp", ip: str = "127.0.0.1", **kw: Any) -> ProbeHost:
    return ProbeHost(
        key=f"{ip}_{probe_type}_{port}", host=ip, probe_type=probe_type, probe_port=port, **kw
    )


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


async def _probe(*hosts: ProbeHost, force: bool = True) -> None:
    prober = ActiveProber({h.key: h for h in hosts}, EmulatorConfig())
    try:
        await prober.sweep(force=force)
    finally:
        await prober.close()


def test_first_tcp_failure_fails_at_once_then_retries_are_consecutive() -> None:
    async def scenario() -> None:
        backend = await TcpBackend("b0").start()
        down = _host(free_port(), inactive_retries=3)
        up = _host(backend.port, inactive_retries=2)
        hosts = {h.key: h for h in (down, up)}
        prober = ActiveProber(hosts, EmulatorConfig())
        await prober.sweep(force=True)
        assert (down.ok, down.fail_count) == (False, 1)
        assert (up.ok, up.fail_count, up.ever_probed) == (True, 0, True)
        await backend.stop()
        await prober.sweep(force=True)
        assert (up.ok, up.fail_count) == (True, 1)
        await backend.start()
        await prober.sweep(force=True)
        assert (up.ok, up.fail_count) == (True, 0)
        await backend.stop()
        await prober.sweep(force=True)
        await prober.sweep(force=True)
        assert (up.ok, up.fail_count) == (False, 2)
        await backend.start()
        await prober.sweep(force=True)
        assert (up.ok, up.fail_count) == (True, 0)
        await prober.close()
        await backend.stop()

    _run(scenario)


def test_zero_retries_never_go_inactive_after_the_first_probe() -> None:
    async def scenario() -> None:
        backend = await TcpBackend("b0").start()
        host = _host(backend.port, inactive_retries=0)
        prober = ActiveProber({host.key: host}, EmulatorConfig())
        await prober.sweep(force=True)
        await backend.stop()
        for _ in range(3):
            await prober.sweep(force=True)
        assert host.ok and host.fail_count == 3
        await prober.close()

    _run(scenario)


def test_tcp_request_response_must_match_exactly() -> None:
    async def scenario() -> None:
        backend = await TcpBackend("b0").start()
        good = _host(backend.port, probe_req="hi", probe_resp="b0\n")
        bad = _host(backend.port, probe_req="hi", probe_resp="zz\n")
        bad.key += "-bad"
        await _probe(good, bad)
        assert good.ok and not bad.ok
        await backend.stop()

    _run(scenario)


def test_udp_probe_fails_only_on_port_unreachable() -> None:
    async def scenario() -> None:
        backend = await UdpBackend("u0").start()
        alive = _host(backend.port, "udp")
        closed = _host(free_port(kind=socket.SOCK_DGRAM), "udp")
        answered = _host(backend.port, "udp", probe_req="q", probe_resp="u0:q")
        answered.key += "-rr"
        await _probe(alive, closed, answered)
        assert alive.ok and answered.ok
        assert not closed.ok
        await backend.stop()

    _run(scenario)


def test_http_probe_sends_head_to_the_path_and_needs_200() -> None:
    async def scenario() -> None:
        healthy = await HttpBackend("h0").start()
        failing = await HttpBackend("h1", status=503).start()
        ok_host = _host(healthy.port, "http", probe_req="health")
        bad_host = _host(failing.port, "http")
        await _probe(ok_host, bad_host)
        assert ok_host.ok and not bad_host.ok
        assert healthy.requests == [("HEAD", "/health")]
        await healthy.stop()
        await failing.stop()

    _run(scenario)


def test_https_probe_verifies_the_certificate_and_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file, cert_file, key_file = make_tls_files(tmp_path)

    async def scenario() -> None:
        server = await HttpBackend("secure", tls=server_tls_context(cert_file, key_file)).start()
        untrusted = _host(server.port, "https")
        await _probe(untrusted)
        assert not untrusted.ok
        monkeypatch.setenv(probe_checks.CA_ENV, str(ca_file))
        trusted = _host(server.port, "https", probe_resp="secure")
        wrong_body = _host(server.port, "https", probe_resp="other")
        wrong_body.key += "-body"
        await _probe(trusted, wrong_body)
        assert trusted.ok and not wrong_body.ok
        assert ("GET", "/") in server.requests
        await server.stop()

    _run(scenario)


def test_ping_probe_records_delays() -> None:
    async def scenario() -> None:
        host = _host(0, "ping", inactive_retries=2)
        await _probe(host)
        assert host.ok
        assert host.min_delay is not None and host.max_delay is not None
        assert 0 < host.min_delay <= (host.avg_delay or 0) <= host.max_delay

    _run(scenario)


def test_sctp_and_none_always_pass_and_disabled_hosts_are_left_alone() -> None:
    async def scenario() -> None:
        sctp = _host(free_port(), "sctp")
        none = _host(free_port(), "none", ok=False, fail_count=4)
        disabled = _host(free_port(), "tcp", enabled=False)
        await _probe(sctp, none, disabled)
        assert sctp.ok and sctp.ever_probed
        assert none.ok and none.fail_count == 0
        assert not disabled.ever_probed

    _run(scenario)


def test_sweep_without_force_probes_only_due_hosts() -> None:
    async def scenario() -> None:
        backend = await TcpBackend("b0").start()
        every_sweep = _host(backend.port, probe_duration=0)
        hourly = _host(backend.port, probe_duration=3600)
        hourly.key += "-hourly"
        prober = ActiveProber({h.key: h for h in (every_sweep, hourly)}, EmulatorConfig())
        await prober.sweep()
        first = (every_sweep.last_probe, hourly.last_probe)
        assert all(first)
        await prober.sweep()
        assert every_sweep.last_probe > first[0]
        assert hourly.last_probe == first[1]
        await prober.close()
        await backend.stop()

    _run(scenario)


def test_probes_of_one_sweep_run_concurrently() -> None:
    async def scenario() -> None:
        # Servers that accept and never answer: each HTTP probe waits its full 2 s timeout.
        async def silent(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await asyncio.sleep(30)
            finally:
                writer.close()

        servers = [await asyncio.start_server(silent, "127.0.0.1", 0) for _ in range(4)]
        hosts = [_host(s.sockets[0].getsockname()[1], "http") for s in servers]
        began = time.monotonic()
        await _probe(*hosts)
        assert time.monotonic() - began < 2 * probe_checks.HTTP_TIMEOUT
        assert not any(h.ok for h in hosts)
        for s in servers:
            s.close()
        await asyncio.sleep(0)

    _run(scenario)


def test_periodic_sweeps_bring_a_failed_host_back() -> None:
    async def scenario() -> None:
        backend = await TcpBackend("b0").start()
        port = backend.port
        await backend.stop()
        host = _host(port, probe_duration=0)
        prober = ActiveProber({host.key: host}, EmulatorConfig(probe_tick=0.05))
        prober.start()
        await _until(lambda: host.ever_probed)
        assert not host.ok
        revived = await TcpBackend("b0", port=port).start()
        await _until(lambda: host.ok)
        await prober.close()
        await revived.stop()

    _run(scenario)


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_failed_probe_takes_the_endpoint_out_of_rotation_and_back() -> None:
    """Prober + data path, with the control plane's health sync done by hand."""

    async def scenario() -> None:
        backends = [await TcpBackend(f"b{i}").start() for i in range(2)]
        vip = "127.66.2.1"
        rule = stored_rule(vip, free_port(vip), [("127.0.0.1", b.port, 1) for b in backends])
        hosts = {rule.probe_key(ep): _host(ep.port, inactive_retries=1) for ep in rule.endpoints}
        datapath = LoopbackDatapath(EmulatorConfig())
        prober = ActiveProber(hosts, EmulatorConfig())

        async def health_sync() -> None:
            await prober.sweep(force=True)
            for ep in rule.endpoints:
                ep.service_down = not hosts[rule.probe_key(ep)].active
            await datapath.program(rule)

        await health_sync()
        assert {await tcp_identity(vip, rule.port) for _ in range(2)} == {"b0", "b1"}
        await backends[0].stop()
        await health_sync()
        assert rule.endpoints[0].service_down
        assert {await tcp_identity(vip, rule.port) for _ in range(3)} == {"b1"}
        await backends[0].start()
        await health_sync()
        assert {await tcp_identity(vip, rule.port) for _ in range(2)} == {"b0", "b1"}
        await prober.close()
        await datapath.close()
        for backend in backends:
            await backend.stop()

    _run(scenario)
