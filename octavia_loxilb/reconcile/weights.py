"""Octavia member weights → LoxiLB weighted round-robin percentages (API-NOTES §0.9, §2.9).

LoxiLB's ``sel`` 2 reads weights as percentages of its slot table: they must sum to at most
100, and a weight of 0 still receives leftover slots. Octavia weights are relative (1..256).
"""

from __future__ import annotations

from collections.abc import Sequence

PERCENT = 100


def normalize(weights: Sequence[int]) -> list[int]:
    """Scale positive relative weights to percentages summing to ≤ 100, each at least 1.

    Rounding down keeps the sum ≤ 100; the floor of 1 keeps every member reachable. When the
    floors push the sum over 100 (many tiny weights beside a huge one), the largest shares
    give way one point at a time, earliest first among equals, so the result is
    deterministic. Needs at most 100 weights, all > 0.
    """
    if not weights:
        return []
    if any(w <= 0 for w in weights):
        raise ValueError("weights must be positive; leave weight-0 members out")
    if len(weights) > PERCENT:
        raise ValueError("at most 100 weights fit into percentages")
    total = sum(weights)
    shares = [max(1, w * PERCENT // total) for w in weights]
    excess = sum(shares) - PERCENT
    while excess > 0:
        largest = max(range(len(shares)), key=lambda i: (shares[i], -i))
        shares[largest] -= 1
        excess -= 1
    return shares


def all_equal(weights: Sequence[int]) -> bool:
    """Whether plain round-robin gives the same distribution as the weights."""
    return len(set(weights)) <= 1
