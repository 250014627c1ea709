"""Configuration: every option the driver reads, registered on one ``ConfigOpts``.

Each area keeps its options beside its name in a module of this package (``OPTS`` and
``GROUP``); this module registers them all and lists them for ``oslo-config-generator``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from oslo_config import cfg

_MODULES = ("client", "driver", "worker", "database", "placement", "reconcile", "health",
            "appliance", "resync", "appliance_health", "octavia_api")


def _option_modules() -> Iterable[object]:
    for name in _MODULES:
        try:
            yield importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Groups and options, for the ``oslo.config.opts`` entry point."""
    grouped: dict[str, list[cfg.Opt]] = {}
    for module in _option_modules():
        grouped.setdefault(module.GROUP, []).extend(module.OPTS)  # type: ignore[attr-defined]
    return sorted(grouped.items())


def register_opts(conf: cfg.ConfigOpts) -> cfg.ConfigOpts:
    """Register every option on ``conf`` (idempotent) and return it."""
    for group, opts in list_opts():
        conf.register_opts(opts, group=group)
    return conf


CONF = register_opts(cfg.CONF)
