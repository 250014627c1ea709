"""The rig's OpenStack processes: WSGI apps under gunicorn, daemons, one-shot manage commands.

All of them run from the OpenStack virtualenv (``.venv-openstack``, see
``scripts/openstack-venv.sh``) with the project root on ``PYTHONPATH`` (the ML2 driver and the
virt driver live in ``rig/openstack``), each in its own process group with its log in
``workdir/logs``, so that ``stop_all`` also ends forked workers and the appliance emulators
nova-compute started.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from rig.octavia import _gunicorn_control_flags, _leader_exited, _terminate_group

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENSTACK_VENV = REPO_ROOT / ".venv-openstack"
VENV_SCRIPT = REPO_ROOT / "scripts" / "openstack-venv.sh"


class ProcessError(RuntimeError):
    """A process or command of the rig failed; the message carries its log tail."""


def ensure_venv() -> Path:
    """Create or refresh ``.venv-openstack`` (idempotent, fast when it is current)."""
    result = subprocess.run(["bash", str(VENV_SCRIPT)], capture_output=True, text=True,
                            timeout=1800)
    if result.returncode != 0:
        raise ProcessError(f"{VENV_SCRIPT} failed:\n{result.stderr[-4000:]}")
    return OPENSTACK_VENV


def venv_bin(name: str) -> str:
    path = OPENSTACK_VENV / "bin" / name
    if not path.exists():
        raise ProcessError(f"{path} missing; run {VENV_SCRIPT}")
    return str(path)


def project_emulator() -> str:
    """The project's ``loxilb-emulator`` (its .venv, not the OpenStack one)."""
    beside = Path(sys.executable).parent / "loxilb-emulator"
    if beside.exists():
        return str(beside)
    fallback = REPO_ROOT / ".venv" / "bin" / "loxilb-emulator"
    if fallback.exists():
        return str(fallback)
    raise ProcessError("loxilb-emulator console script not found in the project's .venv")


def tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


class Processes:
    """Named long-running processes plus one-shot commands, all logging under ``log_dir``."""

    def __init__(self, log_dir: Path, base_env: Mapping[str, str]) -> None:
        self.log_dir = log_dir
        self.base_env = dict(base_env)
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
        env.update(self.base_env)
        env["PATH"] = f"{OPENSTACK_VENV / 'bin'}:{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(REPO_ROOT)
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def run(self, name: str, argv: list[str], timeout: float = 600,
            env: Mapping[str, str] | None = None) -> None:
        """Run a one-shot command to completion; raise with its log tail when it fails."""
        log_path = self.log_path(name)
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            result = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self.env(env),
                                    cwd=self.log_dir, timeout=timeout)
        if result.returncode != 0:
            raise ProcessError(f"{name} failed ({result.returncode}):\n{tail(log_path, 40)}")

    def start(self, name: str, argv: list[str],
              env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        if name in self._procs:
            raise ValueError(f"process {name!r} already started")
        with open(self.log_path(name), "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self.env(env),
                                    cwd=self.log_dir, start_new_session=True)
        self._procs[name] = proc
        return proc

    def start_wsgi(self, name: str, app: str, port: int, env: Mapping[str, str],
                   threads: int = 4) -> subprocess.Popen[bytes]:
        """Serve ``module:application`` with gunicorn (threads; no eventlet API servers).

        Everything goes through a gunicorn config file that also empties ``sys.argv``: the
        OpenStack apps parse the process's command line with oslo.config and would reject
        gunicorn's flags.
        """
        settings = {"wsgi_app": app, "bind": [f"127.0.0.1:{port}"], "workers": 1,
                    "worker_class": "gthread", "threads": threads, "timeout": 120,
                    "graceful_timeout": 5, "proc_name": name}
        lines = ["import sys", "sys.argv[1:] = []"]
        lines += [f"{key} = {value!r}" for key, value in settings.items()]
        conf = self.log_dir / f"gunicorn-{name}.conf.py"
        conf.write_text("\n".join(lines) + "\n")
        argv = [venv_bin("gunicorn"), "--config", str(conf), *_gunicorn_control_flags()]
        return self.start(name, argv, env)

    def alive(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and not _leader_exited(proc.pid)

    def names(self) -> list[str]:
        return list(self._procs)

    def stop(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is not None:
            _terminate_group(proc)

    def stop_all(self) -> None:
        """Stop every process at once: each may take its graceful-shutdown time (up to 10 s)
        and none of the rig's services needs another to shut down cleanly."""
        names = list(self._procs)
        if not names:
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
            for future in [pool.submit(_terminate_group, self._procs.pop(name))
                           for name in names]:
                future.result()

    def logs_tail(self, lines: int = 30) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            parts.append(f"--- {path.name} ---\n{tail(path, lines)}")
        return "\n".join(parts)
