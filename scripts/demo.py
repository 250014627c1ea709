"""Walk a newcomer through the driver: build a load balancer with the CLI and send traffic.

Run through ``scripts/demo.sh``. Every step prints the command it runs, so the output reads
as a transcript an operator could repeat against a real cloud.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rig.backends import TcpBackend, distribution
from rig.clients import Cli
from rig.stack import LocalStack

VIP = "127.60.0.10"
SUBNET = "6d0d3b1e-2f7a-4d8b-9a53-1c1b2f0e7a11"
BACKENDS = [("127.61.0.1", "web-1"), ("127.61.0.2", "web-2"), ("127.61.0.3", "web-3")]


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def run(cli: Cli, *args: str) -> Any:
    print("$ openstack " + " ".join(args), flush=True)
    began = time.monotonic()
    out = cli(*args)
    print(f"  ({time.monotonic() - began:.2f} s)", flush=True)
    return out


@contextmanager
def backends() -> Iterator[list[TcpBackend]]:
    started = [TcpBackend(ip, 8080, name).start() for ip, name in BACKENDS]
    try:
        yield started
    finally:
        for b in started:
            b.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=30,
                        help="connections to send through the VIP")
    parser.add_argument("--keep", action="store_true",
                        help="leave the stack running until Enter is pressed")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="octavia-loxilb-demo-")
    say(f"starting Octavia API, driver-agent, worker and LoxiLB emulator (logs in {workdir})")
    began = time.monotonic()
    with LocalStack(workdir, workers=1) as stack, backends(), Cli(stack.api_url) as cli:
        print(f"  Octavia API {stack.api_url}, LoxiLB emulator {stack.emulator_url} "
              f"({time.monotonic() - began:.1f} s)")
        say("building a load balancer with the openstack CLI")
        lb = run(cli, "loadbalancer", "create", "--name", "demo", "--provider", "loxilb",
                 "--vip-subnet-id", SUBNET, "--vip-address", VIP, "--wait")
        lsn = run(cli, "loadbalancer", "listener", "create", "--name", "demo-tcp",
                  "--protocol", "TCP", "--protocol-port", "80", "--wait", lb["id"])
        pool = run(cli, "loadbalancer", "pool", "create", "--name", "demo-pool",
                   "--protocol", "TCP", "--lb-algorithm", "ROUND_ROBIN",
                   "--listener", lsn["id"], "--wait")
        for ip, _ in BACKENDS:
            run(cli, "loadbalancer", "member", "create", "--address", ip,
                "--protocol-port", "8080", "--wait", pool["id"])
        run(cli, "loadbalancer", "healthmonitor", "create", "--type", "TCP", "--delay", "2",
            "--timeout", "1", "--max-retries", "2", "--wait", pool["id"])

        say("status tree")
        tree = run(cli, "loadbalancer", "status", "show", lb["id"])
        print(json.dumps(tree, indent=2))

        say(f"{args.requests} TCP connections to {VIP}:80")
        counts = distribution(VIP, 80, args.requests)
        for name, count in sorted(counts.items()):
            print(f"  {name:8} {count:4} {'#' * count}")

        say("what LoxiLB holds (GET /netlox/v1/config/loadbalancer/all)")
        import urllib.request
        with urllib.request.urlopen(
                stack.emulator_url + "/netlox/v1/config/loadbalancer/all") as resp:
            print(json.dumps(json.load(resp), indent=2))

        if args.keep:
            input("\nstack running; press Enter to tear it down ")
        say("tearing down")
        run(cli, "loadbalancer", "delete", "--cascade", "--wait", lb["id"])
    print(f"\ndone in {time.monotonic() - began:.1f} s")


if __name__ == "__main__":
    main()
