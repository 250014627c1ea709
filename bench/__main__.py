"""Run the benchmarks: ``python -m bench [name ...] [--json PATH]``.

With no names every benchmark runs. Each prints nothing until it finishes; the runner then
prints one table and writes the same figures as JSON (``bench/results/latest.json`` unless
``--json`` says otherwise). Benchmarks never fail on a number: targets are printed beside
the figures, not asserted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from bench.report import Figure, render, save

BENCHMARKS = {
    "plan_scale": "bench.plan_scale",
    "time_to_active": "bench.time_to_active",
    "job_phases": "bench.job_phases",
    "provider_latency": "bench.provider_latency",
    "calls_per_op": "bench.calls_per_op",
    "scale": "bench.scale",
    "health_timing": "bench.health_timing",
    "throughput": "bench.throughput",
    "appliance": "bench.appliance",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*",
                        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--json", type=Path, default=Path("bench/results/latest.json"))
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    figures: list[Figure] = []
    for name in args.names or list(BENCHMARKS):
        began = time.monotonic()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        module = importlib.import_module(BENCHMARKS[name])
        figures.extend(module.run())
        print(f"  {name} took {time.monotonic() - began:.0f} s", file=sys.stderr, flush=True)
        save(figures, args.json)  # a later benchmark's failure keeps the earlier figures
    print(render(figures))
    save(figures, args.json)
    print(f"\nwritten to {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
