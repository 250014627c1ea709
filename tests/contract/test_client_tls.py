"""HTTPS to the emulator: CA verification and client certificates (the appliance terminator)."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import pathlib
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from octavia_loxilb.loxilb import errors
from octavia_loxilb.loxilb.client import LoxiLBClient, NodeConfig
from tests.conftest import EmulatorFactory


@dataclasses.dataclass(frozen=True)
class Issued:
    cert: pathlib.Path
    key: pathlib.Path


@dataclasses.dataclass(frozen=True)
class PKI:
    ca: pathlib.Path
    other_ca: pathlib.Path
    server: Issued
    client: Issued
    stranger: Issued
    """A client certificate from a CA the server does not trust."""


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: pathlib.Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _ca(directory: pathlib.Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey,
                                                      pathlib.Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name)).issuer_name(_name(name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key, path


def _leaf(
    directory: pathlib.Path,
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    usage: x509.ObjectIdentifier,
) -> Issued:
    ca_cert, ca_key = issuer
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    issued = Issued(directory / f"{name}.crt", directory / f"{name}.key")
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, issued.key)
    return issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    directory = tmp_path_factory.mktemp("pki")
    ca_cert, ca_key, ca_path = _ca(directory, "driver-ca")
    other_cert, other_key, other_path = _ca(directory, "other-ca")
    return PKI(
        ca=ca_path,
        other_ca=other_path,
        server=_leaf(directory, "loxilb", (ca_cert, ca_key), ExtendedKeyUsageOID.SERVER_AUTH),
        client=_leaf(directory, "driver", (ca_cert, ca_key), ExtendedKeyUsageOID.CLIENT_AUTH),
        stranger=_leaf(directory, "stranger", (other_cert, other_key),
                       ExtendedKeyUsageOID.CLIENT_AUTH),
    )


def _config(url: str, **tls: Any) -> NodeConfig:
    return NodeConfig(url, retries=0, timeout_connect=2.0, timeout_read=5.0, **tls)


def test_https_with_ca_verification(emulator_factory: EmulatorFactory, pki: PKI) -> None:
    node = emulator_factory(datapath=False, tls_cert=str(pki.server.cert),
                            tls_key=str(pki.server.key))
    assert node.base_url.startswith("https://")
    with LoxiLBClient(_config(node.base_url, ca_file=str(pki.ca))) as client:
        assert client.version().version
        assert client.list_rules() == []


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_untrusted_server_certificate_is_refused(
    emulator_factory: EmulatorFactory, pki: PKI
) -> None:
    node = emulator_factory(datapath=False, tls_cert=str(pki.server.cert),
                            tls_key=str(pki.server.key))
    for config in (_config(node.base_url, ca_file=str(pki.other_ca)),
                   _config(node.base_url)):  # system trust store
        with LoxiLBClient(config) as client, pytest.raises(errors.TLSError):
            client.version()
    with LoxiLBClient(_config(node.base_url, insecure=True)) as unverified:
        assert unverified.version().version


def test_client_certificate_required_by_the_terminator(
    emulator_factory: EmulatorFactory, pki: PKI
) -> None:
    node = emulator_factory(datapath=False, tls_cert=str(pki.server.cert),
                            tls_key=str(pki.server.key), tls_client_ca=str(pki.ca))
    with LoxiLBClient(_config(node.base_url, ca_file=str(pki.ca),
                              cert_file=str(pki.client.cert),
                              key_file=str(pki.client.key))) as client:
        assert client.list_rules() == []

    for refused in (
        _config(node.base_url, ca_file=str(pki.ca)),
        _config(node.base_url, ca_file=str(pki.ca), cert_file=str(pki.stranger.cert),
                key_file=str(pki.stranger.key)),
    ):
        with LoxiLBClient(refused) as client, pytest.raises(errors.Unavailable):
            client.list_rules()


def test_certificate_and_key_in_one_file(
    emulator_factory: EmulatorFactory, pki: PKI, tmp_path: pathlib.Path
) -> None:
    bundle = tmp_path / "driver.pem"
    bundle.write_bytes(pki.client.cert.read_bytes() + pki.client.key.read_bytes())
    node = emulator_factory(datapath=False, tls_cert=str(pki.server.cert),
                            tls_key=str(pki.server.key), tls_client_ca=str(pki.ca))
    with LoxiLBClient(_config(node.base_url, ca_file=str(pki.ca),
                              cert_file=str(bundle))) as client:
        assert client.version().version
