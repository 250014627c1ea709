"""Running the Alembic migrations shipped inside the package.

Used by ``octavia-loxilb-manage db upgrade|current`` and by the worker's start-up check, which
refuses to run on a schema older than the code (it would fail later, mid-job, on a missing
column, leaving load balancers PENDING).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION_TABLE = "loxilb_alembic_version"


class SchemaNotCurrent(RuntimeError):
    """The database is not at the migrations' head revision."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config(os.path.join(HERE, "alembic.ini"))
    config.set_main_option("script_location", HERE)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE}
        )
        return context.get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def check_current(engine: sa.Engine) -> None:
    """Raise ``SchemaNotCurrent`` with the fix in its message when the schema is behind."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        raise SchemaNotCurrent(
            f"the octavia-loxilb database {engine.url.render_as_string(hide_password=True)} "
            f"is at revision {current or 'none (empty)'}, the code needs {head}: run "
            "'octavia-loxilb-manage --config-file <octavia.conf> db upgrade'"
        )
