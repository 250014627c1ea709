"""Render ``doc/capabilities.md`` from the capability tables.

The document is generated so it cannot drift from what the gate enforces; a unit test
compares the committed file with :func:`render`. Regenerate with
``python -m octavia_loxilb.driver.capability_doc doc/capabilities.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from octavia_loxilb.driver import flavor
from octavia_loxilb.driver.capability import MAX_MEMBERS
from octavia_loxilb.driver.capability_rules import FieldRule, KindTable, Verdict, show
from octavia_loxilb.driver.capability_tables import TABLES

_INTRO = f"""# LoxiLB provider: supported and rejected options

Generated from `octavia_loxilb/driver/capability_tables.py` by
`python -m octavia_loxilb.driver.capability_doc doc/capabilities.md`; do not edit by hand.

The provider driver refuses, inside the API call, every option LoxiLB cannot honour: the
client gets `501 Provider 'loxilb' does not support a requested option: ...` naming the
option and the value, and nothing is created. Creates are checked recursively (a fully
populated load balancer brings its listeners, pools, members and monitors); updates are
checked on the object they leave behind (the old object with the changed fields applied).

Verdicts: **supported** (realised in LoxiLB within the stated limits), **informational**
(identity or bookkeeping only), **nested** (child objects, checked by their own table),
**default only** (only the value Octavia fills in by default is accepted), **rejected**
(any non-empty value is refused).

Limits that span objects:

- A pool holds at most {MAX_MEMBERS} members in a fully populated create and in a batch
  member update (a LoxiLB rule has 1..{MAX_MEMBERS} endpoints). The driver cannot count
  the members of a pool that grows one member at a time; the worker reports members it
  cannot place.
- Member and monitor addresses must be of the VIP's IP family. IPv6 VIPs are supported
  with IPv6 members. The driver sees the VIP only in a fully populated create; on a
  standalone member create LoxiLB itself refuses an IPv6 endpoint behind an IPv4 VIP
  (`malformed-service nat46`) and the worker reports the failure.
- L7 policies and L7 rules are rejected: LoxiLB rules match L4 tuples only.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _sample(value: object, limit: int = 60) -> str:
    text = _cell(show(value))
    return f"`{text[:limit]}…`" if len(text) > limit else f"`{text}`"


def _samples(values: tuple[object, ...]) -> str:
    return ", ".join(_sample(v) for v in values) or "—"


def _row(rule: FieldRule) -> str:
    return (f"| `{rule.field}` | {rule.verdict.value} | {_cell(rule.loxilb)} | "
            f"{_samples(rule.accept)} | {_samples(rule.reject)} | {_cell(rule.reason)} |")


def _table(table: KindTable) -> list[str]:
    lines = [f"## {table.label} (`{table.kind}`)", ""]
    if table.rejected:
        fields = ", ".join(f"`{rule.field}`" for rule in table.fields)
        lines += [f"**Rejected:** {table.rejected}. Fields: {fields}.", ""]
        return lines
    lines += ["| Field | Verdict | LoxiLB | Accepted (e.g.) | Rejected (e.g.) | Why refused |",
              "|---|---|---|---|---|---|"]
    order = list(Verdict)
    lines += [_row(rule) for rule in sorted(table.fields,
                                            key=lambda r: (order.index(r.verdict), r.field))]
    if table.cross:
        lines += ["", "Rules across fields:", ""]
        lines += [f"- **{rule.name}**: {rule.description}" for rule in table.cross]
    lines.append("")
    return lines


def _metadata(title: str, metadata: dict[str, str]) -> list[str]:
    lines = [f"## {title}", "", "| Key | Meaning |", "|---|---|"]
    lines += [f"| `{key}` | {_cell(text)} |" for key, text in sorted(metadata.items())]
    return lines + [""]


def render() -> str:
    lines = [_INTRO]
    for table in TABLES.values():
        lines += _table(table)
    lines += _metadata("Flavor metadata", flavor.FLAVOR_METADATA)
    lines += _metadata("Availability zone metadata", flavor.AVAILABILITY_ZONE_METADATA)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
