"""The certificate store on a real database, and mutual TLS to an emulated appliance with
the certificates it issues."""

from __future__ import annotations

import os
import pathlib
import stat
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from oslo_config import cfg

from octavia_loxilb.appliance import certs
from octavia_loxilb.appliance.cert_store import CertificateError, CertificateStore
from octavia_loxilb.conf import register_opts
from octavia_loxilb.db import migrations
from octavia_loxilb.db.session import create_engine
from octavia_loxilb.emulator.server import Emulator
from octavia_loxilb.loxilb import errors
from octavia_loxilb.loxilb.client import LoxiLBClient
from octavia_loxilb.loxilb.transport import NodeConfig


def make_conf(tmp_path: pathlib.Path, passphrase: str | None = "s3cret") -> cfg.ConfigOpts:
    conf = register_opts(cfg.ConfigOpts())
    conf([], project="octavia-loxilb-test")
    conf.set_override("state_path", str(tmp_path / "state"), group="loxilb")
    if passphrase is not None:
        conf.set_override("ca_key_passphrase", passphrase, group="loxilb_appliance")
    return conf


@pytest.fixture
def engine(tmp_path: pathlib.Path) -> sa.Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.sqlite'}")
    migrations.upgrade(engine)
    return engine


@pytest.fixture
def store(engine: sa.Engine, tmp_path: pathlib.Path) -> CertificateStore:
    return CertificateStore(engine, make_conf(tmp_path))


def _appliance(emulator_factory: Callable[..., Emulator], tmp_path: pathlib.Path,
               server: certs.Issued, client_ca: certs.Issued) -> Emulator:
    """An emulated appliance serving ``server`` and trusting clients of ``client_ca``."""
    files = {"cert": server.cert_pem, "key": server.key_pem, "ca": client_ca.cert_pem}
    paths = {}
    for name, data in files.items():
        path = tmp_path / f"appliance-{server.serial}-{name}.pem"
        path.write_bytes(data)
        paths[name] = str(path)
    return emulator_factory(datapath=False, tls_cert=paths["cert"], tls_key=paths["key"],
                            tls_client_ca=paths["ca"])


def _client(url: str, **tls: Any) -> LoxiLBClient:
    return LoxiLBClient(NodeConfig(url=url, retries=0, timeout_connect=2, timeout_read=5,
                                   **tls))


def test_ca_is_created_once_and_shared_by_every_store(engine: sa.Engine,
                                                      tmp_path: pathlib.Path) -> None:
    first = CertificateStore(engine, make_conf(tmp_path))
    second = CertificateStore(engine, make_conf(tmp_path))
    assert first.ca().cert_pem == second.ca().cert_pem
    assert first.client().serial == second.client().serial
    with engine.connect() as conn:
        stored = conn.execute(sa.text(
            "SELECT kind, key_pem FROM appliance_certificates")).all()
    assert sorted(kind for kind, _ in stored) == ["ca", "client"]
    assert all("ENCRYPTED PRIVATE KEY" in key for _, key in stored)


def test_no_passphrase_no_ca(engine: sa.Engine, tmp_path: pathlib.Path) -> None:
    with pytest.raises(CertificateError, match="ca_key_passphrase"):
        CertificateStore(engine, make_conf(tmp_path, passphrase=None)).ca()


def test_wrong_passphrase_cannot_read_the_stored_ca(engine: sa.Engine,
                                                    tmp_path: pathlib.Path) -> None:
    CertificateStore(engine, make_conf(tmp_path)).ca()
    with pytest.raises(CertificateError, match="cannot be decrypted"):
        CertificateStore(engine, make_conf(tmp_path, passphrase="other")).ca()


def test_client_files_are_private(store: CertificateStore) -> None:
    files = store.client_tls_files()
    for path in (files.ca_file, files.cert_file, files.key_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(files.key_file)).st_mode) == 0o700
    assert pathlib.Path(files.cert_file).read_bytes() == store.client().cert_pem


def test_server_certificates_are_recorded_without_keys_and_revocable(
        store: CertificateStore, engine: sa.Engine) -> None:
    issued = store.issue_server("appliance-1", "127.42.0.9")
    assert not store.is_revoked(issued.serial)
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT appliance_id, key_pem FROM appliance_certificates WHERE serial = :s"),
            {"s": issued.serial}).one()
    assert tuple(row) == ("appliance-1", None)
    assert store.revoke(issued.serial)
    assert not store.revoke(issued.serial)
    assert store.is_revoked(issued.serial)
    assert store.revoked_serials() == [issued.serial]
    assert store.purge_expired() == 0


def test_driver_reaches_the_appliance_with_its_client_certificate(
        store: CertificateStore, emulator_factory: Callable[..., Emulator],
        tmp_path: pathlib.Path) -> None:
    node = _appliance(emulator_factory, tmp_path,
                      store.issue_server("a1", "127.0.0.1"), store.ca())
    files = store.client_tls_files()
    with _client(node.base_url, ca_file=files.ca_file, cert_file=files.cert_file,
                 key_file=files.key_file) as client:
        assert client.version().version


def test_appliance_refuses_a_client_certificate_of_another_ca(
        store: CertificateStore, emulator_factory: Callable[..., Emulator],
        tmp_path: pathlib.Path) -> None:
    node = _appliance(emulator_factory, tmp_path,
                      store.issue_server("a1", "127.0.0.1"), store.ca())
    stranger = certs.issue_client(certs.create_ca(1), 1)
    (tmp_path / "stranger.pem").write_bytes(stranger.cert_pem)
    (tmp_path / "stranger.key").write_bytes(stranger.key_pem)
    files = store.client_tls_files()
    stranger_tls = {"cert_file": str(tmp_path / "stranger.pem"),
                    "key_file": str(tmp_path / "stranger.key")}
    with (_client(node.base_url, ca_file=files.ca_file, **stranger_tls) as client,
          pytest.raises((errors.TLSError, errors.Unavailable))):
        client.version()
    with (_client(node.base_url, ca_file=files.ca_file) as client,
          pytest.raises((errors.TLSError, errors.Unavailable))):
        client.version()


def test_driver_refuses_an_appliance_certificate_for_another_address(
        store: CertificateStore, emulator_factory: Callable[..., Emulator],
        tmp_path: pathlib.Path) -> None:
    node = _appliance(emulator_factory, tmp_path,
                      store.issue_server("a1", "127.0.0.2"), store.ca())
    files = store.client_tls_files()
    with (_client(node.base_url, ca_file=files.ca_file, cert_file=files.cert_file,
                  key_file=files.key_file) as client, pytest.raises(errors.TLSError)):
        client.version()
