"""The rig's schema cache against the real MariaDB: what one database dumps, another loads.

Migrating every OpenStack schema is most of a cold rig start, so a later rig loads the
first one's dumps instead; these tests check the round trip keeps tables, indexes, foreign
keys and the rows migrations insert, that two rigs publishing at once leave one complete
set, and that a different venv or server gets its own set.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from rig import services
from rig.openstack.schema_cache import SchemaCache, cache_key


def _root() -> pymysql.connections.Connection:
    return pymysql.connect(unix_socket=services.find_mariadb_socket(), user="root",
                           autocommit=True)


@pytest.fixture
def databases() -> Iterator[dict[str, str]]:
    """Three empty databases named for this test: ``src``, ``copy`` and ``other``."""
    prefix = f"sc_{uuid.uuid4().hex[:8]}"
    names = {short: f"{prefix}_{short}" for short in ("src", "copy", "other")}
    for name in names.values():
        services.create_database(name)
    try:
        yield names
    finally:
        for name in names.values():
            services.drop_database(name)


def _migrate(database: str) -> None:
    with _root() as conn, conn.cursor() as cur:
        cur.execute(f"USE `{database}`")
        cur.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        cur.execute("INSERT INTO alembic_version VALUES ('5c4f93e5bb4c')")
        cur.execute("CREATE TABLE cells (id INT AUTO_INCREMENT PRIMARY KEY, "
                    "name VARCHAR(64) UNIQUE, url TEXT)")
        cur.execute("CREATE TABLE hosts (id INT PRIMARY KEY, cell_id INT NOT NULL, "
                    "INDEX by_cell (cell_id), FOREIGN KEY (cell_id) REFERENCES cells (id))")
        cur.execute("INSERT INTO cells (name, url) VALUES ('cell0', 'mysql://first/cell0')")


Description = tuple[tuple[str, ...], tuple[str, ...], tuple[Any, ...], tuple[Any, ...]]


def _describe(database: str) -> Description:
    with _root() as conn, conn.cursor() as cur:
        cur.execute(f"USE `{database}`")
        cur.execute("SHOW TABLES")
        tables = sorted(row[0] for row in cur.fetchall())
        created = []
        for table in tables:
            cur.execute(f"SHOW CREATE TABLE `{table}`")
            created.append(str(cur.fetchone()[1]))
        cur.execute("SELECT version_num FROM alembic_version")
        version = cur.fetchall()
        cur.execute("SELECT name, url FROM cells")
        cells = cur.fetchall()
    return tuple(tables), tuple(created), tuple(version), tuple(cells)


def test_loaded_database_equals_the_migrated_one(databases: dict[str, str],
                                                 tmp_path: Path) -> None:
    _migrate(databases["src"])
    cache = SchemaCache(tmp_path, "k1", services.find_mariadb_socket())
    assert not cache.complete(["src"])

    cache.save({"src": databases["src"]})
    assert cache.complete(["src"]) and not cache.complete(["src", "nova_api"])
    cache.load({"src": databases["copy"]})

    assert _describe(databases["copy"]) == _describe(databases["src"])
    tables, created, _, _ = _describe(databases["copy"])
    assert tables == ("alembic_version", "cells", "hosts")
    assert "FOREIGN KEY (`cell_id`) REFERENCES `cells` (`id`)" in created[2]


def test_two_rigs_publishing_at_once_leave_one_complete_set(databases: dict[str, str],
                                                            tmp_path: Path) -> None:
    _migrate(databases["src"])
    _migrate(databases["other"])
    socket = services.find_mariadb_socket()
    first, second = SchemaCache(tmp_path, "k", socket), SchemaCache(tmp_path, "k", socket)
    first.save({"src": databases["src"]})
    second.save({"src": databases["other"]})

    assert first.complete(["src"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]
    second.load({"src": databases["copy"]})
    assert _describe(databases["copy"]) == _describe(databases["src"])


def test_a_failed_load_names_the_database(databases: dict[str, str], tmp_path: Path) -> None:
    _migrate(databases["src"])
    cache = SchemaCache(tmp_path, "k", services.find_mariadb_socket())
    cache.save({"src": databases["src"]})
    missing = databases["copy"] + "_never_created"
    with pytest.raises(RuntimeError, match=f"into {missing}: .*Unknown database"):
        cache.load({"src": missing})


def test_cache_key_follows_the_venv_stamp_and_the_server(tmp_path: Path) -> None:
    (tmp_path / ".installed-aaaa").touch()
    key = cache_key(tmp_path, "10.11.19-MariaDB")
    assert key == cache_key(tmp_path, "10.11.19-MariaDB")
    assert key != cache_key(tmp_path, "11.4.2-MariaDB")
    (tmp_path / ".installed-aaaa").rename(tmp_path / ".installed-bbbb")
    assert key != cache_key(tmp_path, "10.11.19-MariaDB")
