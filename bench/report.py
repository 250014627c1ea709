"""Figures a benchmark produces, and how they are printed and saved.

Every benchmark returns a list of ``Figure``; the runner prints them as one table and writes
the same rows as JSON, so a run can be compared with an earlier one without re-parsing text.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path


@dataclasses.dataclass
class Figure:
    """One measured quantity, with what it was compared against in the same run."""

    name: str
    unit: str
    median: float
    p90: float | None = None
    p99: float | None = None
    samples: int = 1
    compared_with: str = ""
    baseline_median: float | None = None
    target: str = ""

    @property
    def ratio(self) -> float | None:
        """Our median over the baseline's: comparisons are ratios within one run."""
        if self.baseline_median in (None, 0):
            return None
        return self.median / self.baseline_median


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; ``values`` need not be sorted."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summarize(name: str, unit: str, values: Sequence[float], **extra: object) -> Figure:
    """A figure from raw samples: median, p90 and p99."""
    return Figure(
        name=name,
        unit=unit,
        median=statistics.median(values),
        p90=percentile(values, 90),
        p99=percentile(values, 99),
        samples=len(values),
        **extra,  # type: ignore[arg-type]
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def render(figures: Sequence[Figure]) -> str:
    """A plain-text table, one figure per row."""
    head = ("figure", "median", "p90", "p99", "unit", "n", "vs", "baseline", "ratio", "target")
    rows = [head]
    for f in figures:
        rows.append((
            f.name, _fmt(f.median), _fmt(f.p90), _fmt(f.p99), f.unit, str(f.samples),
            f.compared_with or "-", _fmt(f.baseline_median), _fmt(f.ratio), f.target or "-",
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(figures: Sequence[dict[str, object]]) -> str:
    """The saved rows of a run as a Markdown table, for the docs."""
    lines = ["| figure | median | p90 | p99 | unit | n | compared with (same run) | baseline "
             "| ratio | target |", "|---|---|---|---|---|---|---|---|---|---|"]
    for f in figures:
        def num(key: str, row: dict[str, object] = f) -> str:
            value = row.get(key)
            return _fmt(float(value)) if isinstance(value, int | float) else "–"
        lines.append(" | ".join([
            f"| {f['name']}", num("median"), num("p90"), num("p99"), str(f["unit"]),
            str(f["samples"]), str(f.get("compared_with") or "–"), num("baseline_median"),
            num("ratio"), f"{f.get('target') or '–'} |"]))
    return "\n".join(lines)


def save(figures: Sequence[Figure], path: Path) -> None:
    """Write the figures and the machine they came from as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"node": platform.node(), "python": platform.python_version(),
                    "cpus": __import__("os").cpu_count()},
        "figures": [dataclasses.asdict(f) | {"ratio": f.ratio} for f in figures],
    }
    path.write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    import sys

    saved = json.loads(Path(sys.argv[1] if len(sys.argv) > 1
                            else "bench/results/latest.json").read_text())
    print(f"{saved['when']} on {saved['machine']}")
    print(render_markdown(saved["figures"]))
