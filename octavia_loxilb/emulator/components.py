"""The data path and prober the control plane drives, or no-op stand-ins.

Both real components live in their own modules and are imported lazily, so the control plane
works (as a pure API emulator) with ``datapath=False`` or before those modules exist.
"""

from __future__ import annotations

import importlib
import logging

from octavia_loxilb.emulator.model import Datapath, EmulatorConfig, ProbeHost, Prober, StoredRule

LOG = logging.getLogger(__name__)


class NullDatapath:
    """Accepts every rule and forwards nothing."""

    async def program(self, rule: StoredRule) -> None:
        return None

    async def remove(self, rule: StoredRule) -> None:
        return None

    def set_serving(self, instance: str, serving: bool) -> None:
        return None

    def conntrack(self) -> list[dict[str, object]]:
        return []

    async def close(self) -> None:
        return None


class NullProber:
    """Never probes: hosts keep the results tests force through the hooks."""

    def start(self) -> None:
        return None

    async def sweep(self, force: bool = False) -> None:
        return None

    async def close(self) -> None:
        return None


def _optional_class(module: str, name: str) -> type | None:
    try:
        loaded = importlib.import_module(f"octavia_loxilb.emulator.{module}")
    except ModuleNotFoundError as exc:
        if exc.name != f"octavia_loxilb.emulator.{module}":
            raise
        LOG.warning("emulator %s module missing; running without it", module)
        return None
    found = getattr(loaded, name, None)
    return found if isinstance(found, type) else None


def make_datapath(config: EmulatorConfig) -> Datapath:
    if config.datapath:
        cls = _optional_class("datapath", "LoopbackDatapath")
        if cls is not None:
            datapath: Datapath = cls(config)
            return datapath
    return NullDatapath()


def make_prober(hosts: dict[str, ProbeHost], config: EmulatorConfig) -> Prober:
    if config.datapath:
        cls = _optional_class("prober", "ActiveProber")
        if cls is not None:
            prober: Prober = cls(hosts, config)
            return prober
    return NullProber()
