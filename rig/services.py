"""The shared services a rig stands on: MariaDB, RabbitMQ and Redis on this machine.

The rig never starts these (``scripts/ensure-services.sh`` does); it only checks that they
answer, so that a test run with a service down fails loudly instead of skipping, and it
carves out what each rig needs for itself: a fresh database and a RabbitMQ virtual host, so
that rigs running side by side (parallel helpers, parallel test sessions) never see each
other's rows or messages.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterable

import pymysql

MARIADB_SOCKET_CANDIDATES = (
    "/run/mysqld/mysqld.sock",
    "/var/run/mysqld/mysqld.sock",
    "/var/lib/mysql/mysql.sock",
    "/tmp/mysql.sock",
)
RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
ENSURE_HINT = "start them with scripts/ensure-services.sh"


class ServiceUnavailable(RuntimeError):
    """A service the rig needs does not answer; the message says which and how to start it."""


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts a TCP connection on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_mariadb_socket(candidates: Iterable[str] = MARIADB_SOCKET_CANDIDATES) -> str:
    """The unix socket MariaDB listens on: ``MARIADB_SOCKET`` or the first known path.

    MariaDB's root account authenticates by unix-socket peer credentials only, so the socket
    (not 127.0.0.1:3306) is how the rig reaches it as root.
    """
    override = os.environ.get("MARIADB_SOCKET")
    paths = [override] if override else list(candidates)
    for path in paths:
        if os.path.exists(path):
            return path
    raise ServiceUnavailable(f"MariaDB socket not found (looked at {paths}); {ENSURE_HINT}")


def require_services(redis: bool = True) -> None:
    """Raise ``ServiceUnavailable`` naming every service that does not answer."""
    missing = []
    try:
        with _root_connection():
            pass
    except (ServiceUnavailable, pymysql.err.OperationalError) as exc:
        missing.append(f"MariaDB ({exc})")
    if not tcp_open(RABBIT_HOST, RABBIT_PORT):
        missing.append(f"RabbitMQ on {RABBIT_HOST}:{RABBIT_PORT}")
    if redis and not tcp_open(REDIS_HOST, REDIS_PORT):
        missing.append(f"Redis on {REDIS_HOST}:{REDIS_PORT}")
    if missing:
        raise ServiceUnavailable("not answering: " + "; ".join(missing) + f"; {ENSURE_HINT}")


def _root_connection() -> pymysql.connections.Connection:
    return pymysql.connect(unix_socket=find_mariadb_socket(), user="root", charset="utf8mb4",
                           connect_timeout=5, autocommit=True)


def _check_name(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe database or vhost name {name!r}")
    return name


def database_url(name: str) -> str:
    """SQLAlchemy URL for database ``name`` as root over the unix socket."""
    sock = urllib.parse.quote(find_mariadb_socket(), safe="/")
    return f"mysql+pymysql://root@localhost/{name}?unix_socket={sock}&charset=utf8mb4"


def create_database(name: str) -> str:
    """Create an empty database (dropping a leftover of the same name); return its URL."""
    _check_name(name)
    with _root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return database_url(name)


def drop_database(name: str) -> None:
    """Drop database ``name`` if it exists."""
    _check_name(name)
    with _root_connection() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _rabbitmqctl(*args: str) -> str:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        raise ServiceUnavailable("rabbitmqctl not found; RabbitMQ is not installed here")
    result = subprocess.run([exe, "-q", *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise ServiceUnavailable(f"rabbitmqctl {' '.join(args)} failed: "
                                 f"{result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def create_vhost(name: str) -> str:
    """Create RabbitMQ virtual host ``name`` open to guest; return its transport URL."""
    _check_name(name.replace("-", "_"))
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return transport_url(name)


def delete_vhost(name: str) -> None:
    """Delete RabbitMQ virtual host ``name`` and every queue in it."""
    _rabbitmqctl("delete_vhost", name)


def queue_consumers(vhost: str) -> dict[str, int]:
    """Consumers per queue in ``vhost``.

    A cast to a topic nobody has declared a queue for is dropped by RabbitMQ, so a test that
    starts workers must wait until their topic queue has consumers before it calls the API.
    """
    out = _rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "consumers")
    consumers = {}
    for line in out.splitlines():
        name, _, count = line.rpartition("\t")
        if name and count.strip().isdigit():
            consumers[name] = int(count)
    return consumers


def wait_for_consumers(vhost: str, queue: str, count: int = 1, timeout: float = 30.0) -> None:
    """Wait until ``queue`` in ``vhost`` has at least ``count`` consumers."""
    wait_until(lambda: queue_consumers(vhost).get(queue, 0) >= count, timeout,
               interval=0.2, what=f"{count} consumer(s) on queue {queue} in vhost {vhost}")


def transport_url(vhost: str | None = None) -> str:
    """oslo.messaging URL for the local RabbitMQ, on ``vhost`` or the default one."""
    path = urllib.parse.quote(vhost, safe="") if vhost else ""
    return f"rabbit://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/{path}"


def redis_url(db: int = 0) -> str:
    """URL of the local Redis (for tooz / TaskFlow jobboards)."""
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{db}"


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05,
               what: str = "condition") -> None:
    """Poll ``predicate()`` until it is true; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
