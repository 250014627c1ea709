"""Engines and sessions for the driver's database, one engine per URL per process.

SQLite (the embedded default) gets its directory created and foreign keys switched on, so
the same constraints hold as on MariaDB.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 5, pool_recycle: int = 3600) -> sa.Engine:
    """A new engine for ``url`` (no caching; see ``get_engine``)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(
        url, pool_size=pool_size, pool_recycle=pool_recycle, pool_pre_ping=True
    )


def get_engine(conf: Any) -> sa.Engine:
    """The process-wide engine for ``[loxilb_database] connection``."""
    db = conf.loxilb_database
    with _engines_lock:
        engine = _engines.get(db.connection)
        if engine is None:
            engine = create_engine(
                db.connection, pool_size=db.pool_size, pool_recycle=db.pool_recycle
            )
            _engines[db.connection] = engine
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests, and a forked child before it connects)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextlib.contextmanager
def session_scope(engine: sa.Engine) -> Iterator[orm.Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    with orm.Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
