"""Fixtures for tests against the real OpenStack rig (``rig.openstack``, doc/openstack-rig.md).

``openstack_rig`` is session-scoped: the services start once (about 40 s on two busy cores
when the schema cache is filled, about two minutes the first time after a change of
``.venv-openstack``) and every test makes and deletes its own servers.
Each test process takes its own third octet for the loopback subnets, so two sessions on one
machine never hand out the same appliance address. ``appliance_pki`` issues the certificates
a driver would put in appliance user data.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

THIRD_OCTET = 1 + os.getpid() % 250


@pytest.fixture(scope="session")
def openstack_rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running ``OpenStackRig`` with two compute hosts."""
    from rig.openstack.cloud import OpenStackRig

    rig = OpenStackRig(tmp_path_factory.mktemp("openstack-rig"), third_octet=THIRD_OCTET)
    rig.start()
    try:
        yield rig
    finally:
        rig.stop()


@dataclass
class Issued:
    cert_pem: str
    key_pem: str

    def write(self, directory: Path, stem: str) -> tuple[str, str]:
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_text(self.cert_pem)
        key.write_text(self.key_pem)
        return str(cert), str(key)


class MiniCA:
    """A throw-away CA, as the driver keeps one: signs appliance and client certificates."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256()))

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, common_name: str, ip: str | None = None, client: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage(
                [x509.ExtendedKeyUsageOID.CLIENT_AUTH if client
                 else x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        if ip:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem)


@pytest.fixture(scope="session")
def appliance_pki() -> dict[str, MiniCA]:
    """``driver``: the CA that signs appliances and the driver's client certificate;
    ``stranger``: an unrelated CA whose client certificates the appliance must refuse."""
    return {"driver": MiniCA("driver-ca"), "stranger": MiniCA("stranger-ca")}
