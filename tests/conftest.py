"""Shared fixtures: in-process LoxiLB emulators on loopback.

``emulator`` is a pure-API node (no data path, no prober: health is driven through the
``/_emulator`` hooks); ``emulator_factory(**overrides)`` builds nodes with any
``EmulatorConfig`` overrides (e.g. ``datapath=True``) and stops them after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from octavia_loxilb.emulator.model import EmulatorConfig
from octavia_loxilb.emulator.server import Emulator

EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    started: list[Emulator] = []

    def factory(**overrides: Any) -> Emulator:
        overrides.setdefault("host", "127.0.0.1")
        overrides.setdefault("port", 0)
        node = Emulator(EmulatorConfig(**overrides)).start()
        started.append(node)
        return node

    yield factory
    for node in started:
        node.stop()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> Emulator:
    return emulator_factory(datapath=False)
