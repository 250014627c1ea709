"""``loxilb-emulator``: run one emulated LoxiLB node until SIGTERM or SIGINT.

Every :class:`EmulatorConfig` field has a flag. Like LoxiLB, the node wipes its rules when it
is told to stop (API-NOTES §0.16). With ``--ports-file`` the interfaces come from a JSON file
that is read again on SIGHUP: how an emulated appliance learns of a NIC hot-plug (Nova
interface attach/detach) without a hook on its mutual-TLS API.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from octavia_loxilb.emulator.model import EmulatorConfig, PortSpec
from octavia_loxilb.emulator.server import Emulator

LOG = logging.getLogger("loxilb-emulator")


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def _user(value: str) -> tuple[str, str]:
    name, sep, password = value.partition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME:PASSWORD")
    return name, password


def _iface(value: str) -> PortSpec:
    name, *rest = value.split(",")
    if not name or not rest:
        raise argparse.ArgumentTypeError("expected NAME,MAC[,CIDR...]")
    return PortSpec(name=name, mac=rest[0], addresses=rest[1:])


def read_ports_file(path: str) -> list[PortSpec]:
    """``[{"name": "eth0", "mac": "..", "addresses": ["10.0.0.5/24"]}, ...]`` as port specs."""
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)
    return [
        PortSpec(name=e["name"], mac=e["mac"], addresses=list(e.get("addresses", [])))
        for e in entries
    ]


def parse_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(prog="loxilb-emulator", description=__doc__)
    parser.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 11111),
        help="HOST:PORT to serve the API on (port 0 picks a free one)",
    )
    parser.add_argument(
        "--version",
        dest="version",
        default=EmulatorConfig.version,
        help="version string GET /version reports",
    )
    parser.add_argument(
        "--legacy-errors",
        action="store_true",
        help='answer errors as 200 {"result": ...} like v0.9.8.4',
    )
    parser.add_argument("--manual-token", help="require this token (--manualtoken mode)")
    parser.add_argument(
        "--user",
        type=_user,
        action="append",
        default=[],
        help="NAME:PASSWORD for /auth/login (--userservice mode); repeatable",
    )
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    parser.add_argument("--tls-client-ca", help="require client certificates from this CA")
    parser.add_argument(
        "--probe-tick",
        type=float,
        default=EmulatorConfig.probe_tick,
        help="seconds between prober sweeps",
    )
    parser.add_argument(
        "--rule-sync-interval",
        type=float,
        default=EmulatorConfig.rule_sync_interval,
        help="seconds between rule-health syncs",
    )
    parser.add_argument(
        "--wrr-slots",
        type=int,
        default=EmulatorConfig.wrr_slots,
        help="weighted round-robin slots (16 from v0.9.8.7, 32 before)",
    )
    parser.add_argument(
        "--no-datapath", action="store_true", help="serve the API only: no VIP sockets, no probes"
    )
    parser.add_argument(
        "--iface",
        type=_iface,
        action="append",
        default=[],
        help="NAME,MAC[,CIDR...] interface to report; repeatable",
    )
    parser.add_argument(
        "--ports-file",
        help="JSON list of {name, mac, addresses} interfaces, re-read on SIGHUP (hot-plug)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (stderr)")
    args = parser.parse_args(argv)
    ports = args.iface + (read_ports_file(args.ports_file) if args.ports_file else [])
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    host, port = args.listen
    return EmulatorConfig(
        host=host,
        port=port,
        version=args.version,
        legacy_errors=args.legacy_errors,
        manual_token=args.manual_token,
        users=dict(args.user) or None,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        probe_tick=args.probe_tick,
        rule_sync_interval=args.rule_sync_interval,
        wrr_slots=args.wrr_slots,
        datapath=not args.no_datapath,
        ports=ports or None,
        ports_file=args.ports_file,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    wake = threading.Event()
    stopping = threading.Event()
    reload_ports = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        LOG.info("signal %d: wiping state and stopping", signum)
        stopping.set()
        wake.set()

    def _on_hangup(_signum: int, _frame: object) -> None:
        reload_ports.set()
        wake.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_hangup)
    emulator = Emulator(config).start()
    print(f"listening on {emulator.url}", file=sys.stderr, flush=True)
    try:
        while not stopping.is_set():
            wake.wait(3600)
            wake.clear()
            if reload_ports.is_set() and not stopping.is_set():
                reload_ports.clear()
                _reload_ports(emulator)
    finally:
        emulator.stop()
    LOG.info("stopped")
    return 0


def _reload_ports(emulator: Emulator) -> None:
    """Apply the ports file again; a broken file is logged and the old ports are kept."""
    path = emulator.config.ports_file
    if not path:
        LOG.warning("SIGHUP without --ports-file: nothing to reload")
        return
    try:
        ports = read_ports_file(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        LOG.error("ports file %s not applied: %s", path, exc)
        return
    emulator.set_ports(ports)
    LOG.info("ports reloaded from %s: %s", path, ", ".join(p.name for p in ports))


if __name__ == "__main__":
    sys.exit(main())
