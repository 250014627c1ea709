"""``doc/capabilities.md`` is exactly what the capability tables render."""

from __future__ import annotations

from pathlib import Path

from octavia_loxilb.driver import capability_doc
from octavia_loxilb.driver.capability_tables import TABLES

DOC = Path(__file__).resolve().parents[2] / "doc" / "capabilities.md"


def test_committed_document_matches_the_tables() -> None:
    assert DOC.read_text(encoding="utf-8") == capability_doc.render(), (
        "doc/capabilities.md is stale: run "
        "python -m octavia_loxilb.driver.capability_doc doc/capabilities.md")


def test_document_has_a_row_for_every_field() -> None:
    text = capability_doc.render()
    for table in TABLES.values():
        assert f"## {table.label} (`{table.kind}`)" in text
        for rule in table.fields:
            assert f"`{rule.field}`" in text
