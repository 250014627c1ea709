"""A real Octavia API and driver-agent from PyPI, running on loopback for tests and demos.

The rig owns one fresh MariaDB database, one RabbitMQ virtual host and a work directory
holding ``octavia.conf``, the driver-agent sockets and the process logs. The API is served by
gunicorn with threads (Octavia's own ``octavia-api`` script is single-threaded wsgiref, which
serializes every request and hides concurrency bugs). Both processes run in their own process
groups so that ``stop()`` also ends the driver-agent's forked listeners.

Our provider driver runs inside the API process and reads the same ``octavia.conf``; the
caller's ``loxilb`` mapping becomes its ``[loxilb]`` section and ``extra_config`` adds any other
section, so the worker can be pointed at the same file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import gunicorn

from rig import services

DEFAULT_PROVIDERS = {"loxilb": "LoxiLB driver"}
NOOP_PROVIDER = {"noop_driver": "Octavia noop driver"}
SOCKET_NAMES = ("status", "stats", "get")
_MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 108 bytes on Linux

ConfigSections = Mapping[str, Mapping[str, Any]]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _format_value(value: Any) -> str:
    """oslo.config text for a Python value: bools, lists and dicts as oslo.config reads them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return str(value)


def render_config(sections: ConfigSections) -> str:
    """INI text for ``{section: {option: value}}``, in the given order."""
    lines: list[str] = []
    for section, options in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_format_value(value)}" for key, value in options.items())
        lines.append("")
    return "\n".join(lines)


def _console_script(name: str) -> str:
    """Path of a console script installed beside the running interpreter (the venv)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found beside {sys.executable} nor on PATH")
    return found


def _gunicorn_control_flags() -> list[str]:
    """``--no-control-socket`` where gunicorn has one (27+): by default every master binds
    ``~/.gunicorn/gunicorn.ctl``, so parallel rigs would take it from each other."""
    major = int(gunicorn.__version__.split(".")[0])
    return ["--no-control-socket"] if major >= 27 else []


class RigError(RuntimeError):
    """The rig could not start; the message carries the tail of the process logs."""


class OctaviaRig:
    """Octavia API + driver-agent with noauth, noop network/compute drivers and our provider.

    ``provider_drivers`` maps provider name to description (the API's
    ``enabled_provider_drivers``); the first one is the default unless ``default_provider``
    says otherwise. ``loxilb`` becomes the ``[loxilb]`` section; ``extra_config`` merges
    further sections (and may override the rig's own options).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        provider_drivers: Mapping[str, str] | None = None,
        default_provider: str | None = None,
        loxilb: Mapping[str, Any] | None = None,
        extra_config: ConfigSections | None = None,
        api_threads: int = 8,
        debug: bool = False,
        own_vhost: bool = True,
        startup_timeout: float = 90.0,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.provider_drivers = dict(provider_drivers or DEFAULT_PROVIDERS)
        self.default_provider = default_provider or next(iter(self.provider_drivers))
        self.loxilb = dict(loxilb or {})
        self.extra_config = {k: dict(v) for k, v in (extra_config or {}).items()}
        self.api_threads = api_threads
        self.debug = debug
        self.own_vhost = own_vhost
        self.startup_timeout = startup_timeout

        self.name = f"rig_{uuid.uuid4().hex[:10]}"
        self.database_name = self.name
        self.vhost = self.name.replace("_", "-") if own_vhost else None
        self.database_url = services.database_url(self.database_name)
        self.transport_url = services.transport_url(self.vhost)
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.conf_path = self.workdir / "octavia.conf"
        self.api_log = self.workdir / "octavia-api.log"
        self.agent_log = self.workdir / "octavia-driver-agent.log"
        self.db_manage_log = self.workdir / "octavia-db-manage.log"
        self.socket_dir = self._pick_socket_dir()
        self.sockets = {n: str(self.socket_dir / f"{n}.sock") for n in SOCKET_NAMES}
        self.startup_seconds: float | None = None

        self._api: subprocess.Popen[bytes] | None = None
        self._agent: subprocess.Popen[bytes] | None = None
        self._extra: dict[str, subprocess.Popen[bytes]] = {}
        self._database_created = False
        self._vhost_created = False
        self._own_socket_dir = self.socket_dir != self.workdir / "run"

    # -- public ---------------------------------------------------------------------------

    @property
    def status_socket(self) -> str:
        return self.sockets["status"]

    @property
    def stats_socket(self) -> str:
        return self.sockets["stats"]

    @property
    def get_socket(self) -> str:
        return self.sockets["get"]

    @property
    def log_paths(self) -> dict[str, Path]:
        paths = {"api": self.api_log, "driver-agent": self.agent_log,
                 "db-manage": self.db_manage_log}
        paths.update({name: self._extra_log(name) for name in self._extra})
        return paths

    def config_sections(self) -> dict[str, dict[str, Any]]:
        """The full ``octavia.conf`` content as sections, before rendering."""
        sections: dict[str, dict[str, Any]] = {
            "DEFAULT": {"debug": self.debug, "transport_url": self.transport_url,
                        "use_stderr": True},
            "api_settings": {
                "bind_host": "127.0.0.1",
                "bind_port": self.api_port,
                "auth_strategy": "noauth",
                "enabled_provider_drivers": self.provider_drivers,
                "default_provider_driver": self.default_provider,
            },
            "database": {"connection": self.database_url, "max_pool_size": 5,
                         "max_overflow": 10},
            "controller_worker": {
                "network_driver": "network_noop_driver",
                "compute_driver": "compute_noop_driver",
                "amphora_driver": "amphora_noop_driver",
                "image_driver": "image_noop_driver",
                "volume_driver": "volume_noop_driver",
                "statistics_drivers": "stats_db",
            },
            "certificates": {"cert_manager": "noop_cert_manager"},
            "driver_agent": {
                "status_socket_path": self.status_socket,
                "stats_socket_path": self.stats_socket,
                "get_socket_path": self.get_socket,
                "enabled_provider_agents": "",
            },
            "oslo_messaging": {"topic": f"octavia_prov_{self.name}"},
            "loxilb": dict(self.loxilb),
        }
        for section, options in self.extra_config.items():
            sections.setdefault(section, {}).update(options)
        return sections

    def write_config(self) -> Path:
        """Write ``octavia.conf`` (also usable to rewrite it before ``restart_api``)."""
        self.conf_path.write_text(render_config(self.config_sections()))
        return self.conf_path

    def start(self) -> OctaviaRig:
        """Database, vhost, config, migrations, then API and driver-agent; wait for both."""
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        try:
            services.require_services(redis=False)
            services.create_database(self.database_name)
            self._database_created = True
            self.write_config()
            # Both processes spend seconds importing before they touch the database or the
            # message bus, so they start while the vhost is made and the schema migrated.
            self._agent = self._spawn(
                [_console_script("octavia-driver-agent"), "--config-file", str(self.conf_path)],
                self.agent_log)
            self._start_api()
            if self.vhost:
                services.create_vhost(self.vhost)
                self._vhost_created = True
            self._migrate()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def start_process(self, name: str, argv: list[str],
                      env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Run another process (a worker, an emulator) for the rig's lifetime.

        Its output goes to ``workdir/<name>.log`` (shown by ``logs_tail``); ``stop()`` or
        ``stop_process(name)`` ends its process group.
        """
        if name in self._extra:
            raise ValueError(f"process {name!r} already started")
        self._extra[name] = self._spawn(argv, self._extra_log(name), append=True, env=env)
        return self._extra[name]

    def stop_process(self, name: str) -> None:
        """End a process started with ``start_process`` (its log stays)."""
        _terminate_group(self._extra.pop(name))

    def stop(self) -> None:
        """Terminate every process group, drop the database and the vhost. Idempotent."""
        for name in list(self._extra):
            self.stop_process(name)
        for proc in (self._api, self._agent):
            if proc is not None:
                _terminate_group(proc)
        self._api = self._agent = None
        if self._database_created:
            with contextlib.suppress(Exception):
                services.drop_database(self.database_name)
            self._database_created = False
        if self._vhost_created and self.vhost:
            with contextlib.suppress(Exception):
                services.delete_vhost(self.vhost)
            self._vhost_created = False
        if self._own_socket_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def restart_api(self) -> None:
        """Restart only the API (e.g. after ``write_config``); the database is kept."""
        if self._api is not None:
            _terminate_group(self._api)
        self._start_api()
        self._wait_ready()

    def api_alive(self) -> bool:
        return self._api is not None and not _leader_exited(self._api.pid)

    def agent_alive(self) -> bool:
        return self._agent is not None and not _leader_exited(self._agent.pid)

    def logs_tail(self, lines: int = 40) -> str:
        """The last lines of each process log, for assertion and error messages."""
        parts = []
        for label, path in self.log_paths.items():
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except FileNotFoundError:
                continue
            parts.append(f"--- {label} ({path}) ---\n" + "\n".join(tail))
        return "\n".join(parts)

    def __enter__(self) -> OctaviaRig:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"OctaviaRig({self.api_url}, workdir={self.workdir})"

    # -- internals ------------------------------------------------------------------------

    def _pick_socket_dir(self) -> Path:
        """``workdir/run`` unless its socket paths would exceed the AF_UNIX limit."""
        preferred = self.workdir / "run"
        if len(str(preferred / "status.sock")) <= _MAX_SOCKET_PATH:
            return preferred
        return Path(tempfile.mkdtemp(prefix="octavia-rig-"))

    def _migrate(self) -> None:
        cmd = [_console_script("octavia-db-manage"), "--config-file", str(self.conf_path),
               "upgrade", "head"]
        with open(self.db_manage_log, "wb") as log:
            result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=300)
        if result.returncode != 0:
            raise RigError(f"octavia-db-manage failed ({result.returncode})\n"
                           + self.logs_tail())

    def _start_api(self) -> None:
        argv = ["octavia-api", "--config-file", str(self.conf_path)]
        app = f"octavia.api.app:setup_app(argv={argv!r})"
        cmd = [sys.executable, "-m", "gunicorn",
               "--bind", f"127.0.0.1:{self.api_port}",
               "--workers", "1", "--worker-class", "gthread",
               "--threads", str(self.api_threads),
               "--timeout", "120", "--graceful-timeout", "5",
               "--access-logfile", "-", *_gunicorn_control_flags(), app]
        self._api = self._spawn(cmd, self.api_log, append=True)

    def _extra_log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def _spawn(self, cmd: list[str], log_path: Path, append: bool = False,
               env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
        with open(log_path, "ab" if append else "wb") as log:
            return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.workdir, env=env,
                                    start_new_session=True)

    def _api_answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.api_url + "/", timeout=2) as resp:
                return int(resp.status) < 500
        except urllib.error.HTTPError as exc:
            return exc.code < 500
        except OSError:
            return False

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if not self.api_alive():
                raise RigError("octavia-api (gunicorn) exited during start\n"
                               + self.logs_tail())
            if not self.agent_alive():
                raise RigError("octavia-driver-agent exited during start\n"
                               + self.logs_tail())
            sockets_ready = all(os.path.exists(p) for p in self.sockets.values())
            if sockets_ready and self._api_answers():
                return
            if time.monotonic() >= deadline:
                raise RigError(f"rig not ready after {self.startup_timeout:.0f}s "
                               f"(sockets present: {sockets_ready})\n" + self.logs_tail())
            time.sleep(0.1)


def _leader_exited(pid: int) -> bool:
    """True once the group leader has exited; it stays unreaped, so its group id stays ours."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return info is not None


def _terminate_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the leader, SIGKILL what lingers of its group, then reap the leader.

    Only the leader gets SIGTERM: gunicorn's master and the driver-agent both shut their
    children down themselves, and the driver-agent deadlocks in its cleanup when its
    listeners die first. The leader is reaped only after the group has been killed: until
    then its pid (the group id) cannot be reused, so the signals only reach this rig's
    processes.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _leader_exited(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        # forked children (driver-agent listeners, gunicorn workers) may outlive the leader
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=timeout)
