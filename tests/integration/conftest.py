"""Fixtures for tests against a real Octavia API and driver-agent (see doc/test-rig.md).

Every test in this directory is marked ``integration``. The rig is session-scoped: one
Octavia serves all tests, each test uses its own objects. The fixture skips only when the
``octavia`` server package is not installed; a service that is down is an error, because the
test command starts the services (``scripts/ensure-services.sh``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

INTEGRATION_DIR = Path(__file__).parent
OCTAVIA_INSTALLED = importlib.util.find_spec("octavia") is not None
RIG_PROVIDERS = {"loxilb": "LoxiLB driver", "noop_driver": "Octavia noop driver"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def octavia_rig_options() -> dict[str, Any]:
    """Keyword arguments for ``OctaviaRig``; override this fixture to change them."""
    return {"provider_drivers": RIG_PROVIDERS, "default_provider": "loxilb"}


@pytest.fixture(scope="session")
def octavia_rig(tmp_path_factory: pytest.TempPathFactory,
                octavia_rig_options: dict[str, Any]) -> Iterator[Any]:
    """A running ``rig.OctaviaRig`` with the loxilb and noop_driver providers enabled."""
    if not OCTAVIA_INSTALLED:
        pytest.skip("the octavia server package is not installed (pip install -e '.[test]')")
    from rig.octavia import OctaviaRig

    rig = OctaviaRig(tmp_path_factory.mktemp("octavia-rig"), **octavia_rig_options)
    rig.start()
    try:
        yield rig
    finally:
        rig.stop()


@pytest.fixture(scope="session")
def rig_sdk(octavia_rig: Any) -> Any:
    """An openstacksdk connection to the rig (project ``rig-project``)."""
    from rig.clients import sdk_connection

    return sdk_connection(octavia_rig.api_url)


@pytest.fixture(scope="session")
def rig_cli(octavia_rig: Any) -> Iterator[Any]:
    """``rig.clients.Cli``: ``rig_cli("loadbalancer", "list")`` returns parsed JSON."""
    from rig.clients import Cli

    with Cli(octavia_rig.api_url) as cli:
        yield cli


@pytest.fixture(scope="session")
def rig_driver_lib(octavia_rig: Any) -> Any:
    """octavia-lib's ``DriverLibrary`` on the rig's driver-agent sockets."""
    from rig.clients import driver_library

    return driver_library(octavia_rig)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """On a failed integration test, attach the tail of the rig's process logs."""
    outcome = yield
    report = outcome.get_result()
    rig = getattr(item, "funcargs", {}).get("octavia_rig")
    if report.failed and rig is not None:
        report.sections.append(("octavia rig logs", rig.logs_tail()))


@pytest.fixture(scope="module")
def octavia(stack: Any) -> Any:
    """The Octavia v2 API of the module's ``stack`` (a ``rig.stack.LocalStack`` fixture each
    module defines with the workers and timings it needs), as the default project."""
    from rig.clients import sdk_connection
    from rig.octavia_api import Octavia

    return Octavia(sdk_connection(stack.api_url))
