"""The whole local stack: Octavia API + driver-agent, our worker(s), and a LoxiLB emulator.

This is what the integration tests and the demo stand on. Every process is real and talks
over its production channel: the provider driver runs inside the gunicorn-served Octavia API,
casts over RabbitMQ to ``octavia-loxilb-worker`` processes, which lock through Redis, keep
their state in MariaDB, program the emulator over REST and report through the driver-agent's
unix sockets.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from rig import services
from rig.octavia import OctaviaRig, RigError, free_port


def _script(name: str) -> str:
    return str(Path(sys.executable).parent / name)


class LocalStack:
    """Octavia + ``workers`` worker processes + one emulated LoxiLB node, on loopback.

    ``emulator_args`` are extra ``loxilb-emulator`` flags (the default makes probes and the
    rule-health sync fast enough for tests). ``loxilb`` adds or overrides ``[loxilb]``
    options; ``providers`` are the API's enabled provider drivers (loxilb must be one).
    ``extra_config`` merges further sections into the one file Octavia and the workers read
    (e.g. ``rig.openstack.octavia_link.sections`` to put both on a real cloud).
    """

    def __init__(self, workdir: str | os.PathLike[str], workers: int = 1,
                 emulator_args: tuple[str, ...] = ("--probe-tick", "0.5",
                                                   "--rule-sync-interval", "0.5"),
                 loxilb: Mapping[str, Any] | None = None, debug: bool = False,
                 providers: Mapping[str, str] | None = None,
                 extra_config: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.workdir = Path(workdir).resolve()
        self.worker_count = workers
        self.emulator_args = emulator_args
        self.emulator_port = free_port()
        self.emulator_url = f"http://127.0.0.1:{self.emulator_port}"
        self.debug = debug
        self.providers = dict(providers or {"loxilb": "LoxiLB driver"})
        self.rig: OctaviaRig | None = None
        self.topic = f"octavia_loxilb_{os.getpid()}_{self.emulator_port}"
        self.database_name = f"loxilb_{os.getpid()}_{self.emulator_port}"
        self._loxilb_overrides = dict(loxilb or {})
        self._extra_config = {k: dict(v) for k, v in (extra_config or {}).items()}
        self._emulator: subprocess.Popen[bytes] | None = None
        self._workers: list[subprocess.Popen[bytes]] = []
        self._database_created = False

    # -- public ---------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        assert self.rig is not None, "stack not started"
        return self.rig.api_url

    @property
    def conf_path(self) -> Path:
        assert self.rig is not None, "stack not started"
        return self.rig.conf_path

    def loxilb_section(self) -> dict[str, Any]:
        """The ``[loxilb]`` options the driver and the workers read."""
        section: dict[str, Any] = {
            "api_endpoints": self.emulator_url,
            "rpc_topic": self.topic,
            "coordination_url": services.redis_url(),
            "state_path": str(self.workdir / "state"),
        }
        section.update(self._loxilb_overrides)
        return section

    def start(self) -> LocalStack:
        """Emulator, worker database, Octavia, migrations, then the workers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "state").mkdir(exist_ok=True)
        try:
            services.require_services(redis=True)
            self._start_emulator()
            db_url = services.create_database(self.database_name)
            self._database_created = True
            extra: dict[str, dict[str, Any]] = {
                "loxilb_database": {"connection": db_url},
                # The worker's pending scan reads this Octavia (noauth).
                "loxilb_octavia_api": {"auth_type": "none"}}
            for section, options in self._extra_config.items():
                extra.setdefault(section, {}).update(options)
            self.rig = OctaviaRig(
                self.workdir,
                provider_drivers=self.providers,
                default_provider="loxilb",
                loxilb=self.loxilb_section(),
                extra_config=extra,
                debug=self.debug,
            )
            self.rig.loxilb.setdefault("octavia_api_endpoint", self.rig.api_url)
            self.rig.loxilb.update({
                "status_socket_path": self.rig.status_socket,
                "stats_socket_path": self.rig.stats_socket,
                "get_socket_path": self.rig.get_socket,
            })
            self.rig.write_config()
            self._manage("db", "upgrade")
            self.rig.start()
            for index in range(self.worker_count):
                self.start_worker(index)
            for index in range(self.worker_count):
                self.wait_worker_serving(index)
            if self.rig.vhost:
                services.wait_for_consumers(self.rig.vhost, self.topic,
                                            count=self.worker_count)
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, index: int | None = None) -> subprocess.Popen[bytes]:
        """Start one more ``octavia-loxilb-worker`` reading the stack's config."""
        assert self.rig is not None
        index = len(self._workers) if index is None else index
        log = open(self.workdir / f"worker-{index}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [_script("octavia-loxilb-worker"), "--config-file", str(self.rig.conf_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.workdir, start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"))
        log.close()
        self._workers.append(proc)
        return proc

    def stop_worker(self, index: int, kill: bool = False) -> None:
        """Stop worker ``index``: SIGTERM (graceful) or SIGKILL (a crash mid-job)."""
        proc = self._workers[index]
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait(10)
        else:
            _terminate(proc)

    def wait_worker_serving(self, index: int, timeout: float = 60.0) -> None:
        """Wait until worker ``index`` has subscribed to its topic.

        A cast sent before the worker's queue exists in a fresh RabbitMQ virtual host is
        dropped, so nothing may call the API before every worker says it is serving.
        """
        log = self.workdir / f"worker-{index}.log"
        proc = self._workers[index]
        deadline = time.monotonic() + timeout
        while "serving topic" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RigError(f"worker {index} is not serving\n" + self.logs_tail())
            time.sleep(0.05)

    @property
    def workers(self) -> list[subprocess.Popen[bytes]]:
        return list(self._workers)

    def stop(self) -> None:
        """Stop everything this stack started and drop what it created. Idempotent."""
        for proc in self._workers:
            _terminate(proc)
        self._workers = []
        if self.rig is not None:
            self.rig.stop()
        if self._emulator is not None:
            _terminate(self._emulator)
            self._emulator = None
        if self._database_created:
            with contextlib.suppress(Exception):
                services.drop_database(self.database_name)
            self._database_created = False

    def logs_tail(self, lines: int = 40) -> str:
        """The last lines of every log, for failure messages."""
        parts = [self.rig.logs_tail(lines)] if self.rig else []
        for path in sorted(self.workdir.glob("worker-*.log")) + [self.workdir / "emulator.log"]:
            with contextlib.suppress(FileNotFoundError):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------

    def _start_emulator(self) -> None:
        log = open(self.workdir / "emulator.log", "wb")  # noqa: SIM115
        self._emulator = subprocess.Popen(
            [_script("loxilb-emulator"), "--listen", f"127.0.0.1:{self.emulator_port}",
             *self.emulator_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(self.emulator_url + "/netlox/v1/version",
                                            timeout=1):
                    return
            except OSError:
                if self._emulator.poll() is not None or time.monotonic() > deadline:
                    raise RigError("loxilb-emulator did not start\n"
                                   + self.logs_tail()) from None
                time.sleep(0.05)

    def _manage(self, *args: str) -> None:
        assert self.rig is not None
        result = subprocess.run(
            [_script("octavia-loxilb-manage"), "--config-file", str(self.rig.conf_path),
             *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RigError(f"octavia-loxilb-manage {' '.join(args)} failed:\n"
                           f"{result.stdout}\n{result.stderr}")


def _terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(5)
