"""Alembic environment: runs on the connection the migration runner hands over."""

from __future__ import annotations

from alembic import context

from octavia_loxilb.db import models

VERSION_TABLE = context.config.get_main_option("version_table", "loxilb_alembic_version")


def run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=models.Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
