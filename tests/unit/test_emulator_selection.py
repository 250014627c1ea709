"""Endpoint selection per ``sel`` (API-NOTES §2.9), without sockets."""

from __future__ import annotations

import collections

from hypothesis import given
from hypothesis import strategies as st

from octavia_loxilb.emulator import selection
from octavia_loxilb.emulator.model import StoredEndpoint


def _eps(*weights: int, down: tuple[int, ...] = (), removed: tuple[int, ...] = ()) -> list:
    return [
        StoredEndpoint(
            ip=f"10.0.0.{i + 1}",
            port=80,
            weight=w,
            service_down=i in down,
            removed=i in removed,
        )
        for i, w in enumerate(weights)
    ]


def _flow(src: str = "127.0.0.1", sport: int = 40000) -> selection.Flow:
    return selection.Flow(src, sport, "127.0.0.100", 80, "tcp")


def test_round_robin_cycles_in_list_order_skipping_unusable_slots() -> None:
    sel = selection.RuleSelector()
    eps = _eps(1, 1, 1, 1, down=(1,), removed=(3,))
    picks = [sel.pick(selection.SEL_RR, eps, _flow()) for _ in range(6)]
    assert picks == [0, 2, 0, 2, 0, 2]


def test_round_robin_with_nothing_usable_picks_nothing() -> None:
    sel = selection.RuleSelector()
    assert sel.pick(selection.SEL_RR, _eps(1, 1, down=(0, 1)), _flow()) is None


def test_hash_is_stable_per_flow_and_counts_hidden_slots() -> None:
    eps = _eps(1, 1, 1, 1)
    flow = _flow(sport=41234)
    expected = flow.hash() % 4
    sel = selection.RuleSelector()
    assert {sel.pick(selection.SEL_HASH, eps, flow) for _ in range(5)} == {expected}


def test_hash_falls_back_to_first_active_slot_instead_of_rehashing() -> None:
    eps = _eps(1, 1, 1, 1)
    # Find flows hashing onto slot 2, then take slot 2 (and 0) down.
    flows = [f for f in (_flow(sport=p) for p in range(40000, 40200)) if f.hash() % 4 == 2]
    eps[2].service_down = True
    eps[0].removed = True
    sel = selection.RuleSelector()
    assert {sel.pick(selection.SEL_HASH, eps, f) for f in flows} == {1}


def test_weighted_expansion_follows_percentages() -> None:
    table = selection.expand_weights(_eps(50, 25, 25), 16)
    assert collections.Counter(table) == {0: 8, 1: 4, 2: 4}


def test_weighted_expansion_gives_leftovers_to_small_endpoints() -> None:
    # 60% -> 9 slots, 5% -> 0 slots (small), 6% -> 0 slots (small): 7 leftovers alternate.
    table = selection.expand_weights(_eps(60, 5, 6), 16)
    assert table[:9] == [0] * 9
    assert table[9:] == [1, 2, 1, 2, 1, 2, 1]


def test_weighted_expansion_leftovers_go_to_index_zero_without_small_endpoints() -> None:
    table = selection.expand_weights(_eps(40, 40), 16)
    # 6 + 6 slots, 4 left over and no endpoint has 0 or 1 slots.
    assert collections.Counter(table) == {0: 10, 1: 6}


def test_weighted_expansion_over_100_starves_late_endpoints() -> None:
    table = selection.expand_weights(_eps(100, 50), 16)
    assert table == [0] * 16


def test_weighted_expansion_skips_removed_but_keeps_health_down() -> None:
    eps = _eps(50, 25, 25, removed=(0,), down=(1,))
    table = selection.expand_weights(eps, 16)
    # The removed endpoint earns nothing, the health-down one keeps its 4 slots, and the
    # 8 leftovers land on list index 0 (no small endpoints), where they stay inactive.
    assert table[:8] == [1] * 4 + [2] * 4
    assert table[8:] == [0] * 8
    sel = selection.RuleSelector()
    picks = {sel.pick(selection.SEL_PRIO, eps, _flow()) for _ in range(32)}
    assert picks == {2}


def test_weighted_round_robin_distributes_by_slots_and_skips_down_ones() -> None:
    sel = selection.RuleSelector(wrr_slots=16)
    eps = _eps(50, 25, 25)
    picks = collections.Counter(sel.pick(selection.SEL_PRIO, eps, _flow()) for _ in range(160))
    assert picks == {0: 80, 1: 40, 2: 40}
    eps[0].service_down = True
    picks = collections.Counter(sel.pick(selection.SEL_PRIO, eps, _flow()) for _ in range(80))
    assert picks == {1: 40, 2: 40}


def test_persist_keeps_a_client_ip_on_one_slot_across_ports() -> None:
    sel = selection.RuleSelector()
    eps = _eps(1, 1, 1)
    for last in range(1, 20):
        src = f"127.0.0.{last}"
        picks = {sel.pick(selection.SEL_PERSIST, eps, _flow(src, p)) for p in range(100, 110)}
        assert len(picks) == 1


def test_persist_moves_only_while_its_slot_is_unusable() -> None:
    sel = selection.RuleSelector()
    eps = _eps(1, 1, 1)
    home = sel.pick(selection.SEL_PERSIST, eps, _flow("127.0.0.9"))
    assert home is not None
    eps[home].service_down = True
    away = sel.pick(selection.SEL_PERSIST, eps, _flow("127.0.0.9"))
    assert away not in (None, home)
    eps[home].service_down = False
    assert sel.pick(selection.SEL_PERSIST, eps, _flow("127.0.0.9")) == home


def test_least_connection_prefers_the_idle_slot() -> None:
    sel = selection.RuleSelector()
    eps = _eps(1, 1, 1)
    sel.reset_sessions(3)
    gen0 = sel.opened(0)
    sel.opened(1)
    assert sel.pick(selection.SEL_LEAST_CONN, eps, _flow()) == 2
    sel.opened(2)
    sel.closed(0, gen0)
    assert sel.pick(selection.SEL_LEAST_CONN, eps, _flow()) == 0


def test_least_connection_ignores_slots_past_16() -> None:
    sel = selection.RuleSelector()
    eps = _eps(*([1] * 18))
    sel.reset_sessions(18)
    for slot in range(16):
        sel.opened(slot)
    assert sel.pick(selection.SEL_LEAST_CONN, eps, _flow()) == 0


def test_session_reset_makes_stale_closes_harmless() -> None:
    sel = selection.RuleSelector()
    sel.reset_sessions(2)
    gen = sel.opened(1)
    sel.reset_sessions(2)
    sel.opened(1)
    sel.closed(1, gen)
    assert sel.active_sessions == [0, 1]


@given(
    st.lists(st.integers(min_value=0, max_value=255), min_size=1, max_size=32),
    st.sampled_from([16, 32]),
)
def test_weighted_expansion_always_fills_every_slot_with_a_listed_endpoint(
    weights: list[int], slots: int
) -> None:
    table = selection.expand_weights(_eps(*weights), slots)
    assert len(table) == slots
    assert all(0 <= index < len(weights) for index in table)


@given(
    st.lists(st.booleans(), min_size=1, max_size=32),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_hash_never_picks_an_unusable_slot(usable: list[bool], flow_hash: int) -> None:
    slot = selection.by_hash(usable, flow_hash)
    if any(usable):
        assert slot is not None and usable[slot]
    else:
        assert slot is None
