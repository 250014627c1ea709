"""Endpoint selection per ``sel``, as LoxiLB's datapath chooses a slot for a new flow.

Pure functions plus one small per-rule state object, so the algorithms can be unit-tested
without sockets. Every function takes the rule's slot list in stored order (hidden, removed
entries included, because they occupy datapath slots too) and returns a slot index into
that list, or ``None`` when no slot may take the flow. API-NOTES §2.9 is the reference.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import zlib
from collections.abc import Sequence

from octavia_loxilb.emulator.model import StoredEndpoint

SEL_RR = 0
SEL_HASH = 1
SEL_PRIO = 2
SEL_PERSIST = 3
SEL_LEAST_CONN = 4

LEAST_CONN_SLOTS = 16
"""Least-connection only looks at the first 16 datapath slots."""


@dataclasses.dataclass(frozen=True)
class Flow:
    """The 5-tuple of a new flow as the datapath sees it."""

    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    protocol: str

    def hash(self) -> int:
        """A stable per-flow hash standing in for the kernel's packet hash."""
        text = f"{self.src_ip}|{self.src_port}|{self.dst_ip}|{self.dst_port}|{self.protocol}"
        return zlib.crc32(text.encode())


def round_robin(usable: Sequence[bool], cursor: int) -> tuple[int | None, int]:
    """Next usable slot at or after ``cursor`` (wrapping), and the cursor to use next time."""
    count = len(usable)
    for step in range(count):
        slot = (cursor + step) % count
        if usable[slot]:
            return slot, (slot + 1) % count
    return None, cursor


def first_usable(usable: Sequence[bool]) -> int | None:
    """The datapath's fallback when its first choice lands on an inactive slot."""
    for slot, ok in enumerate(usable):
        if ok:
            return slot
    return None


def by_hash(usable: Sequence[bool], flow_hash: int) -> int | None:
    """``sel`` 1: hash modulo the slot count (hidden slots count), else the first usable."""
    if not usable:
        return None
    slot = flow_hash % len(usable)
    return slot if usable[slot] else first_usable(usable)


def _octet_hash(ip: str) -> int:
    """The primary persist hash: the sum of the source address octets."""
    return sum(ipaddress.ip_address(ip).packed)


def _octet_hash2(ip: str) -> int:
    """The secondary persist hash, used when the primary lands on an inactive slot."""
    return zlib.adler32(ipaddress.ip_address(ip).packed)


def persist(usable: Sequence[bool], src_ip: str) -> int | None:
    """``sel`` 3: a slot derived from the source IP alone, so one client sticks to one slot.

    The primary hash is tried first, then a second hash, then the first usable slot; a
    client therefore moves only while its slot is unusable and returns when it recovers.
    """
    if not usable:
        return None
    for choose in (_octet_hash, _octet_hash2):
        slot = choose(src_ip) % len(usable)
        if usable[slot]:
            return slot
    return first_usable(usable)


def least_connection(usable: Sequence[bool], active_sessions: Sequence[int]) -> int | None:
    """``sel`` 4: the usable slot among the first 16 with the fewest active sessions.

    Ties go to the lowest slot index, as the datapath scans in order and keeps the first
    minimum.
    """
    best: int | None = None
    fewest = 0
    for slot in range(min(len(usable), LEAST_CONN_SLOTS)):
        if not usable[slot]:
            continue
        sessions = active_sessions[slot] if slot < len(active_sessions) else 0
        if best is None or sessions < fewest:
            best, fewest = slot, sessions
    return best


def expand_weights(endpoints: Sequence[StoredEndpoint], slots: int) -> list[int]:
    """``sel`` 2: map each of ``slots`` priority slots to an endpoint index (API-NOTES §2.9).

    Endpoints removed from the rule get no slots. Every other endpoint, in list order, gets
    ``floor(weight*slots/100)`` slots until all are used; health-down endpoints keep theirs
    (the caller marks those slots inactive). Endpoints that got 0 or 1 slots are "small";
    leftover slots go round-robin to the small ones, or all to list index 0 if none exists.
    """
    table: list[int] = []
    small: list[int] = []
    for index, ep in enumerate(endpoints):
        if ep.removed:
            continue
        share = (ep.weight * slots) // 100
        if share == 0:
            small.append(index)
        for _ in range(share):
            if len(table) >= slots:
                break
            table.append(index)
            if share == 1:
                small.append(index)
    leftovers = small or [0]
    turn = 0
    while len(table) < slots and endpoints:
        table.append(leftovers[turn % len(leftovers)])
        turn += 1
    return table


@dataclasses.dataclass
class RuleSelector:
    """Per-rule selection state: the round-robin cursor and least-connection counters.

    ``pick`` returns an index into the rule's endpoint list. For ``sel`` 2 the round-robin
    runs over the expanded priority slots, which are translated back to endpoint indexes.
    """

    wrr_slots: int = 16
    cursor: int = 0
    active_sessions: list[int] = dataclasses.field(default_factory=list)
    generation: int = 0
    """Bumped whenever ``active_sessions`` is reset, so stale flows do not decrement it."""

    def reset_sessions(self, slot_count: int) -> None:
        """Clear the least-connection counters, as every rule write does (API-NOTES §2.12)."""
        self.active_sessions = [0] * slot_count
        self.generation += 1

    def pick(self, sel: int, endpoints: Sequence[StoredEndpoint], flow: Flow) -> int | None:
        """Choose the endpoint index for a new flow, or ``None`` if no endpoint is usable."""
        usable = [ep.usable for ep in endpoints]
        if sel == SEL_PRIO:
            table = expand_weights(endpoints, self.wrr_slots)
            slot, self.cursor = round_robin(
                [usable[index] for index in table], self.cursor % max(len(table), 1)
            )
            return None if slot is None else table[slot]
        if sel == SEL_HASH:
            return by_hash(usable, flow.hash())
        if sel == SEL_PERSIST:
            return persist(usable, flow.src_ip)
        if sel == SEL_LEAST_CONN:
            return least_connection(usable, self.active_sessions)
        slot, self.cursor = round_robin(usable, self.cursor % max(len(usable), 1))
        return slot

    def opened(self, index: int) -> int:
        """Count a new session on ``index``; returns the generation to hand back on close."""
        if index >= len(self.active_sessions):
            self.active_sessions.extend([0] * (index + 1 - len(self.active_sessions)))
        self.active_sessions[index] += 1
        return self.generation

    def closed(self, index: int, generation: int) -> None:
        """Forget a session opened in ``generation`` (ignored after a counter reset)."""
        if generation == self.generation and index < len(self.active_sessions):
            self.active_sessions[index] = max(0, self.active_sessions[index] - 1)
