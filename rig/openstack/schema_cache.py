"""Migrated OpenStack schemas, dumped once and loaded into every later rig's databases.

Running every service's migrations (Neutron's few hundred Alembic steps, Nova's three
databases) is most of a cold rig start: about 100 s on two busy cores. The schemas only
depend on the installed packages, so the first rig after a ``.venv-openstack`` change dumps
its freshly migrated databases (``mariadb-dump`` over the root unix socket, before anything
rig-specific is written, except Nova's two cell mappings which the loader rewrites) and
later rigs load the dumps instead of migrating.

The cache lives in ``.venv-openstack/schema-cache/<key>/``; the key hashes the venv's
install stamp, the MariaDB server version and ``FORMAT``, so a new venv or server gets fresh
dumps. A set of dumps is written to a temporary directory and renamed into place whole, so a
rig never loads a half-written set and two rigs that dump at once do no harm.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

FORMAT = "1"
DUMP_FLAGS = ("--skip-comments", "--skip-dump-date", "--single-transaction",
              "--no-create-db", "--routines", "--triggers")


class SchemaCacheError(RuntimeError):
    """A dump or a load failed; carries the client's error output."""


def cache_key(venv: Path, server_version: str) -> str:
    """The cache's name for this venv (its install stamp) and this MariaDB server."""
    stamps = sorted(p.name for p in venv.glob(".installed-*"))
    text = "\n".join([FORMAT, server_version, *stamps])
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class SchemaCache:
    """One set of dumps (one file per database, named by its short name) under ``root``."""

    def __init__(self, root: Path, key: str, socket: str) -> None:
        self.dir = root / key
        self.root = root
        self.socket = socket

    def complete(self, shorts: Iterable[str]) -> bool:
        """True when a dump exists for every short name."""
        return all((self.dir / f"{short}.sql").is_file() for short in shorts)

    def save(self, databases: dict[str, str]) -> None:
        """Dump ``{short: database}`` and publish the set (kept if another rig won the race)."""
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".dumping-", dir=self.root))
        try:
            _each(lambda item: self._dump(item[1], staging / f"{item[0]}.sql"),
                  databases.items())
            try:
                os.rename(staging, self.dir)
            except OSError:
                if not self.complete(databases):
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def load(self, databases: dict[str, str]) -> None:
        """Load each short name's dump into its (existing, empty) database, in parallel."""
        _each(lambda item: self._load(self.dir / f"{item[0]}.sql", item[1]),
              databases.items())

    def _client(self, program: str) -> list[str]:
        return [shutil.which(program) or program, "--protocol=socket", f"--socket={self.socket}",
                "--user=root"]

    def _dump(self, database: str, path: Path) -> None:
        with open(path, "wb") as out:
            result = subprocess.run([*self._client("mariadb-dump"), *DUMP_FLAGS, database],
                                    stdout=out, stderr=subprocess.PIPE, timeout=300)
        if result.returncode != 0:
            raise SchemaCacheError(f"dumping {database}: {result.stderr.decode()[-2000:]}")

    def _load(self, path: Path, database: str) -> None:
        with open(path, "rb") as dump:
            result = subprocess.run([*self._client("mariadb"), database], stdin=dump,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    timeout=300)
        if result.returncode != 0:
            raise SchemaCacheError(f"loading {path} into {database}: "
                                   f"{result.stderr.decode()[-2000:]}")


def _each(fn: Callable[[tuple[str, str]], None], items: Iterable[tuple[str, str]]) -> None:
    """Run ``fn`` on every item in parallel threads; re-raise the first failure."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=7) as pool:
        for future in [pool.submit(fn, item) for item in items]:
            future.result()
