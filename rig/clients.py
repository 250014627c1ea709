"""Clients for the rig's noauth Octavia: an openstacksdk connection and the ``openstack`` CLI.

With ``auth_strategy = noauth`` Octavia takes the caller's project from the ``X-Project-Id``
header, so the SDK session sends that header on every request. The CLI cannot send headers:
it runs with ``OS_AUTH_TYPE=none`` against the stub in ``rig.neutron_stub`` (which answers its
Neutron look-ups and refuses Keystone ones, so ``--project`` is used verbatim) and reaches
Octavia through ``OS_LOAD_BALANCER_ENDPOINT_OVERRIDE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openstack.connection
from keystoneauth1 import noauth, session
from octavia_lib.api.drivers.driver_lib import DriverLibrary

from rig.neutron_stub import NeutronStub
from rig.octavia import OctaviaRig

DEFAULT_PROJECT = "rig-project"


def sdk_connection(api_url: str,
                   project_id: str = DEFAULT_PROJECT) -> openstack.connection.Connection:
    """An openstacksdk connection whose ``load_balancer`` proxy talks to ``api_url``."""
    sess = session.Session(auth=noauth.NoAuth(),
                           additional_headers={"X-Project-Id": project_id})
    return openstack.connection.Connection(
        session=sess,
        load_balancer_endpoint_override=api_url,
        load_balancer_api_version="2",
    )


def driver_library(rig: OctaviaRig) -> DriverLibrary:
    """octavia-lib's ``DriverLibrary`` on the rig's driver-agent sockets (the worker's path)."""
    return DriverLibrary(status_socket=rig.status_socket, stats_socket=rig.stats_socket,
                         get_socket=rig.get_socket)


class CliError(RuntimeError):
    """The CLI exited non-zero; carries its output for the assertion message."""

    def __init__(self, args: list[str], result: subprocess.CompletedProcess[str]) -> None:
        self.returncode = result.returncode
        self.stdout = result.stdout
        self.stderr = result.stderr
        super().__init__(f"openstack {' '.join(args)} exited {result.returncode}:\n"
                         f"{result.stderr.strip() or result.stdout.strip()}")


class Cli:
    """Runs ``openstack ...`` against the rig and returns the parsed ``-f json`` output.

    ``loadbalancer create`` gets ``--project <project_id>`` added unless given, as Keystone
    would derive it from the token. Use as a context manager (or call ``close()``) to stop
    the stub.
    """

    def __init__(self, api_url: str, project_id: str = DEFAULT_PROJECT,
                 timeout: float = 120.0) -> None:
        self.api_url = api_url
        self.project_id = project_id
        self.timeout = timeout
        self.stub = NeutronStub().start()
        self.executable = str(Path(sys.executable).parent / "openstack")

    @property
    def env(self) -> dict[str, str]:
        """Environment for the CLI: noauth, stub for Keystone/Neutron, Octavia override."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update({
            "OS_AUTH_TYPE": "none",
            "OS_ENDPOINT": self.stub.identity_url,
            "OS_NETWORK_ENDPOINT_OVERRIDE": self.stub.network_url,
            "OS_LOAD_BALANCER_ENDPOINT_OVERRIDE": self.api_url,
        })
        return env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``openstack *args`` as given; the caller checks the result."""
        argv = list(args)
        if argv[:2] == ["loadbalancer", "create"] and "--project" not in argv:
            argv += ["--project", self.project_id]
        return subprocess.run([self.executable, *argv], env=self.env, capture_output=True,
                              text=True, timeout=self.timeout, stdin=subprocess.DEVNULL)

    def __call__(self, *args: str) -> Any:
        """Run ``openstack *args`` and return its output parsed from JSON.

        Listing and showing commands get ``-f json``; ``loadbalancer status show`` prints
        JSON by itself; verbs that print nothing (delete, set, unset, failover...) return
        their text output or None. Raises ``CliError`` on a non-zero exit.
        """
        argv = list(args)
        kind = _output_kind(argv)
        if kind == "table" and "-f" not in argv:
            argv += ["-f", "json"]
        result = self.run(*argv)
        if result.returncode != 0:
            raise CliError(argv, result)
        out = result.stdout.strip()
        return json.loads(out) if out and kind != "text" else (out or None)

    def close(self) -> None:
        self.stub.stop()

    def __enter__(self) -> Cli:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_TEXT_VERBS = {"delete", "set", "unset", "failover", "configure", "reset"}


def _output_kind(argv: list[str]) -> str:
    """``table`` (takes ``-f json``), ``json`` (prints JSON itself) or ``text``.

    Only the leading words of the command are looked at, so option values never match.
    """
    words = [a for a in argv[:4] if not a.startswith("-")]
    if words[:3] == ["loadbalancer", "status", "show"]:
        return "json"
    if any(w in _TEXT_VERBS for w in words[:3]):
        return "text"
    return "table"
