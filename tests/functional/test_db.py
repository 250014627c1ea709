"""The driver's database: migrations on SQLite and real MariaDB, placements CRUD, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from octavia_loxilb.db import api, migrations, models, session

MARIADB_SOCKETS = ("/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/tmp/mysql.sock")


def mariadb_socket() -> str | None:
    return next((s for s in MARIADB_SOCKETS if os.path.exists(s)), None)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/state/loxilb.sqlite"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A throwaway database on the local MariaDB, created and dropped over the unix socket."""
    sock = mariadb_socket()
    if sock is None:
        pytest.skip("MariaDB is not running here")
    name = f"loxilb_test_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(unix_socket=sock, user="root", autocommit=True)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        yield f"mysql+pymysql://root@localhost/{name}?unix_socket={sock}&charset=utf8mb4"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@pytest.fixture(params=["sqlite", "mariadb"])
def engine(request: pytest.FixtureRequest) -> Iterator[sa.Engine]:
    url = request.getfixturevalue(f"{request.param}_url")
    eng = session.create_engine(url)
    yield eng
    eng.dispose()


def test_empty_database_is_reported_behind(engine: sa.Engine) -> None:
    assert migrations.current_revision(engine) is None
    with pytest.raises(migrations.SchemaNotCurrent, match="octavia-loxilb-manage"):
        migrations.check_current(engine)


def test_upgrade_builds_exactly_the_models(engine: sa.Engine) -> None:
    migrations.upgrade(engine)
    assert migrations.current_revision(engine) == migrations.head_revision()
    migrations.check_current(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": migrations.VERSION_TABLE})
        diff = compare_metadata(context, models.Base.metadata)
    assert diff == []
    migrations.upgrade(engine)  # a second run is a no-op
    assert migrations.current_revision(engine) == migrations.head_revision()


def test_placement_crud(engine: sa.Engine) -> None:
    migrations.upgrade(engine)
    with session.session_scope(engine) as s:
        group = api.create_group(s, "default", "external", "ACTIVE_STANDBY",
                                 ["http://127.0.0.1:1", "http://127.0.0.1:2"])
    with session.session_scope(engine) as s:
        placed = api.create_placement(s, "lb-1", group.id, "127.0.0.5")
    assert placed.group.name == "default"
    assert [n.api_url for n in placed.group.nodes] == ["http://127.0.0.1:1",
                                                       "http://127.0.0.1:2"]
    with session.session_scope(engine) as s:
        moved = api.update_placement_vip(s, "lb-1", "127.0.0.6")
    assert moved.vip_address == "127.0.0.6"
    with session.session_scope(engine) as s:
        again = api.get_placement(s, "lb-1")
        assert again is not None and again.vip_address == "127.0.0.6"
        assert [p.loadbalancer_id for p in api.list_placements(s, group.id)] == ["lb-1"]
    with session.session_scope(engine) as s:
        assert api.delete_placement(s, "lb-1") is True
        assert api.delete_placement(s, "lb-1") is False
        assert api.get_placement(s, "lb-1") is None


def test_a_load_balancer_has_one_placement(engine: sa.Engine) -> None:
    migrations.upgrade(engine)
    with session.session_scope(engine) as s:
        group = api.create_group(s, "g", "external", "SINGLE", ["http://127.0.0.1:1"])
        api.create_placement(s, "lb-1", group.id, None)
    with pytest.raises(sa.exc.IntegrityError), session.session_scope(engine) as s:
        api.create_placement(s, "lb-1", group.id, None)


def test_group_rules(engine: sa.Engine) -> None:
    migrations.upgrade(engine)
    with session.session_scope(engine) as s:
        group = api.create_group(s, "g", "external", "SINGLE", ["http://127.0.0.1:1"])
    with pytest.raises(api.DuplicateGroup), session.session_scope(engine) as s:
        api.create_group(s, "g", "appliance", "SINGLE")
    with pytest.raises(ValueError), session.session_scope(engine) as s:
        api.create_group(s, "h", "cloud", "SINGLE")
    with session.session_scope(engine) as s:
        synced = api.set_group_nodes(s, group.id, ["http://127.0.0.1:2", "http://127.0.0.1:1"])
    assert sorted(n.api_url for n in synced.nodes) == ["http://127.0.0.1:1",
                                                       "http://127.0.0.1:2"]
    with session.session_scope(engine) as s:
        api.create_placement(s, "lb-1", group.id, None)
    with pytest.raises(sa.exc.IntegrityError), session.session_scope(engine) as s:
        api.delete_group(s, group.id)
    with session.session_scope(engine) as s:
        api.delete_placement(s, "lb-1")
        assert api.delete_group(s, group.id) is True
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(models.LoxiLBNode)) == 0


def test_manage_cli_upgrades_and_reports(tmp_path: Path, sqlite_url: str) -> None:
    conf = tmp_path / "octavia.conf"
    conf.write_text(f"[loxilb_database]\nconnection = {sqlite_url}\n")

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "octavia_loxilb.cmd.manage", "--config-file", str(conf),
             *args], capture_output=True, text=True, timeout=60, check=True)
        return done.stdout

    assert "(behind)" in manage("db", "current")
    head = migrations.head_revision()
    assert f"upgraded to {head}" in manage("db", "upgrade")
    assert f"current: {head}  head: {head}  (current)" in manage("db", "current")
