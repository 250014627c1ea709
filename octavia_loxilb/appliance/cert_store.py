"""Where the driver's CA and certificates live: the driver database, keys encrypted.

Every worker, on any host, must use the same CA, so the database (shared by all workers) is
the source of truth rather than a file on one host. Private keys the driver must keep (the
CA's and its own client key) are stored PKCS#8-encrypted with
``[loxilb_appliance] ca_key_passphrase``; appliance server keys are never stored. A worker
writes the CA certificate and its client certificate and key under ``pki_path`` (directory
0700, files 0600) because ``requests`` takes TLS material only as file paths.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import pathlib
import threading
from typing import Any

import sqlalchemy as sa

from octavia_loxilb.appliance import certs
from octavia_loxilb.db import models
from octavia_loxilb.db.session import session_scope


class CertificateError(Exception):
    """The CA cannot be created or read (no passphrase, or the wrong one)."""


@dataclasses.dataclass(frozen=True)
class ClientTLSFiles:
    """Paths a ``NodeConfig`` takes to talk to appliances over mutual TLS."""

    ca_file: str
    cert_file: str
    key_file: str


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _write_private(path: pathlib.Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by this user only, replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class CertificateStore:
    """The driver's CA (created on first use), its client certificate, server certificates."""

    def __init__(self, engine: sa.Engine, conf: Any) -> None:
        self.engine = engine
        self.conf = conf
        self._lock = threading.Lock()
        self._ca: certs.Issued | None = None
        self._client: certs.Issued | None = None

    @property
    def _options(self) -> Any:
        return self.conf.loxilb_appliance

    def _passphrase(self) -> bytes:
        passphrase = self._options.ca_key_passphrase
        if not passphrase:
            raise CertificateError(
                "[loxilb_appliance] ca_key_passphrase is not set: the driver will not keep "
                "its CA key unencrypted")
        return str(passphrase).encode()

    def _load_or_create(self, kind: str, make: Any) -> certs.Issued:
        """The oldest valid, unrevoked certificate of ``kind``, created when there is none.

        Two workers may create one at the same moment; both then read back the oldest row
        and the loser deletes its own, so every worker ends up with the same one.
        """
        passphrase = self._passphrase()
        found = self._oldest(kind)
        if found is None:
            issued: certs.Issued = make()
            with session_scope(self.engine) as session:
                session.add(models.Certificate(
                    serial=issued.serial, kind=kind, common_name=issued.certificate.subject
                    .rfc4514_string(), cert_pem=issued.cert_pem.decode(),
                    key_pem=certs.encrypt_key(issued.key_pem, passphrase).decode(),
                    not_after=issued.not_after))
            found = self._oldest(kind)
            assert found is not None
            if found.serial != issued.serial:
                with session_scope(self.engine) as session:
                    session.execute(sa.delete(models.Certificate).where(
                        models.Certificate.serial == issued.serial))
        try:
            key_pem = certs.decrypt_key((found.key_pem or "").encode(), passphrase)
        except (ValueError, TypeError) as exc:
            raise CertificateError(
                f"the stored {kind} key cannot be decrypted with "
                "[loxilb_appliance] ca_key_passphrase") from exc
        return certs.Issued(found.cert_pem.encode(), key_pem)

    def _oldest(self, kind: str) -> models.Certificate | None:
        with session_scope(self.engine) as session:
            row = session.scalar(
                sa.select(models.Certificate)
                .where(models.Certificate.kind == kind,
                       models.Certificate.revoked_at.is_(None),
                       models.Certificate.not_after > _now())
                .order_by(models.Certificate.created_at, models.Certificate.serial).limit(1))
            if row is not None:
                session.expunge(row)
            return row

    def ca(self) -> certs.Issued:
        """The driver's CA, created and stored on first use."""
        with self._lock:
            if self._ca is None:
                self._ca = self._load_or_create(
                    "ca", lambda: certs.create_ca(self._options.ca_validity_days))
            return self._ca

    def client(self) -> certs.Issued:
        """The driver's client certificate, issued on first use."""
        ca = self.ca()
        with self._lock:
            if self._client is None:
                self._client = self._load_or_create(
                    "client",
                    lambda: certs.issue_client(ca, self._options.cert_validity_days))
            return self._client

    def client_tls_files(self) -> ClientTLSFiles:
        """CA certificate, client certificate and key on disk, for ``NodeConfig``."""
        ca, client = self.ca(), self.client()
        directory = pathlib.Path(self._options.pki_path)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        files = ClientTLSFiles(str(directory / "ca.pem"), str(directory / "client.pem"),
                               str(directory / "client.key"))
        _write_private(pathlib.Path(files.ca_file), ca.cert_pem)
        _write_private(pathlib.Path(files.cert_file), client.cert_pem)
        _write_private(pathlib.Path(files.key_file), client.key_pem)
        return files

    def issue_server(self, appliance_id: str, management_address: str) -> certs.Issued:
        """A server certificate for one appliance; its serial is recorded, its key is not."""
        issued = certs.issue_server(self.ca(), appliance_id, management_address,
                                    self._options.cert_validity_days)
        with session_scope(self.engine) as session:
            session.add(models.Certificate(
                serial=issued.serial, kind="server", appliance_id=appliance_id,
                common_name=issued.certificate.subject.rfc4514_string(),
                cert_pem=issued.cert_pem.decode(), key_pem=None,
                not_after=issued.not_after))
        return issued

    def revoke(self, serial: str) -> bool:
        """Mark a certificate revoked (kept for the CRL); False when unknown or revoked."""
        with session_scope(self.engine) as session:
            result = session.execute(
                sa.update(models.Certificate)
                .where(models.Certificate.serial == serial,
                       models.Certificate.revoked_at.is_(None))
                .values(revoked_at=_now()))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def is_revoked(self, serial: str) -> bool:
        with session_scope(self.engine) as session:
            row = session.get(models.Certificate, serial)
            return row is None or row.revoked_at is not None

    def revoked_serials(self) -> list[str]:
        """Serials of revoked server and client certificates that have not expired yet."""
        with session_scope(self.engine) as session:
            return list(session.scalars(
                sa.select(models.Certificate.serial)
                .where(models.Certificate.revoked_at.is_not(None),
                       models.Certificate.kind != "ca",
                       models.Certificate.not_after > _now())
                .order_by(models.Certificate.serial)))

    def revocation_list(self) -> bytes:
        """The CA's current CRL (PEM)."""
        return certs.revocation_list(self.ca(), self.revoked_serials())

    def purge_expired(self) -> int:
        """Drop revoked certificates past their expiry: they no longer need a CRL entry."""
        with session_scope(self.engine) as session:
            result = session.execute(sa.delete(models.Certificate).where(
                models.Certificate.revoked_at.is_not(None),
                models.Certificate.not_after <= _now()))
            return int(result.rowcount)  # type: ignore[attr-defined]
