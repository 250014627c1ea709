"""The driver's certificate authority and the certificates it issues (pure; no storage).

Appliances are reached only over mutual TLS: each appliance serves a certificate of its own
(SAN = its management address, so a certificate copied to another appliance is useless) and
trusts only client certificates from the driver's CA; the driver trusts only servers its CA
signed. Keys are EC P-256: small enough for Nova user data, fast to generate in tests.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_COMMON_NAME = "octavia-loxilb appliance CA"
CLIENT_COMMON_NAME = "octavia-loxilb driver"
CLIENT_DNS_NAME = "octavia-loxilb-driver"
_CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes = dataclasses.field(repr=False)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def serial(self) -> str:
        """Serial number in hex: what the certificates table is keyed by."""
        return format(self.certificate.serial_number, "x")

    @property
    def not_after(self) -> datetime.datetime:
        return self.certificate.not_valid_after_utc.replace(tzinfo=None)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def encrypt_key(key_pem: bytes, passphrase: bytes) -> bytes:
    """The same private key, PKCS#8-encrypted for storage."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return _key_pem(key, passphrase)


def decrypt_key(encrypted_pem: bytes, passphrase: bytes) -> bytes:
    """The clear PEM of a stored key; ``ValueError`` when the passphrase is wrong."""
    key = serialization.load_pem_private_key(encrypted_pem, password=passphrase)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return _key_pem(key)


def create_ca(validity_days: int) -> Issued:
    """A self-signed CA that may only sign leaf certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(CA_COMMON_NAME)).issuer_name(_name(CA_COMMON_NAME))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                     False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def _load_ca(ca: Issued) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return ca.certificate, key


def _leaf(ca: Issued, common_name: str, usage: x509.ObjectIdentifier, validity_days: int,
          names: list[x509.GeneralName]) -> Issued:
    ca_cert, ca_key = _load_ca(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(min(now + datetime.timedelta(days=validity_days),
                             ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False,
                                     False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


def issue_server(ca: Issued, appliance_id: str, management_address: str,
                 validity_days: int) -> Issued:
    """An appliance's server certificate: valid for its management address only."""
    return _leaf(ca, f"loxilb-appliance-{appliance_id}", ExtendedKeyUsageOID.SERVER_AUTH,
                 validity_days, [x509.IPAddress(ipaddress.ip_address(management_address))])


def issue_client(ca: Issued, validity_days: int) -> Issued:
    """The driver's client certificate, presented to every appliance."""
    return _leaf(ca, CLIENT_COMMON_NAME, ExtendedKeyUsageOID.CLIENT_AUTH, validity_days,
                 [x509.DNSName(CLIENT_DNS_NAME)])


def revocation_list(ca: Issued, revoked_serials: list[str], validity_days: int = 7) -> bytes:
    """A CRL (PEM) of the given serials, signed by the CA, for appliances that load one."""
    ca_cert, ca_key = _load_ca(ca)
    now = _now()
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(now - _CLOCK_SKEW)
               .next_update(now + datetime.timedelta(days=validity_days)))
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(int(serial, 16))
            .revocation_date(now).build())
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
