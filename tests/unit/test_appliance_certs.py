"""The driver's PKI: what each certificate may do and for whom, key encryption, the CRL."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from octavia_loxilb.appliance import certs


@pytest.fixture(scope="module")
def ca() -> certs.Issued:
    return certs.create_ca(validity_days=30)


def _verify_server(ca: certs.Issued, leaf: certs.Issued, address: str) -> None:
    verifier = PolicyBuilder().store(Store([ca.certificate])).build_server_verifier(
        x509.IPAddress(ipaddress.ip_address(address)))
    verifier.verify(leaf.certificate, [])


def test_ca_signs_leaves_only(ca: certs.Issued) -> None:
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca and constraints.value.path_length == 0
    assert ca.certificate.issuer == ca.certificate.subject


def test_server_certificate_is_valid_for_its_management_address_only(
        ca: certs.Issued) -> None:
    server = certs.issue_server(ca, "a1", "127.42.0.7", validity_days=10)
    _verify_server(ca, server, "127.42.0.7")
    with pytest.raises(VerificationError):
        _verify_server(ca, server, "127.42.0.8")
    usage = server.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(usage.value) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_a_server_certificate_from_another_ca_is_not_trusted(ca: certs.Issued) -> None:
    other = certs.issue_server(certs.create_ca(30), "a1", "127.42.0.7", validity_days=10)
    with pytest.raises(VerificationError):
        _verify_server(ca, other, "127.42.0.7")


def test_client_certificate_is_for_client_auth(ca: certs.Issued) -> None:
    client = certs.issue_client(ca, validity_days=10)
    verifier = PolicyBuilder().store(Store([ca.certificate])).build_client_verifier()
    verified = verifier.verify(client.certificate, [])
    assert verified.chain[-1] == ca.certificate
    usage = client.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(usage.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_leaf_never_outlives_the_ca(ca: certs.Issued) -> None:
    leaf = certs.issue_client(ca, validity_days=10_000)
    assert leaf.certificate.not_valid_after_utc <= ca.certificate.not_valid_after_utc


def test_serials_are_distinct_hex(ca: certs.Issued) -> None:
    serials = {certs.issue_client(ca, 1).serial for _ in range(5)}
    assert len(serials) == 5
    assert all(int(s, 16) > 0 for s in serials)


def test_stored_key_needs_the_passphrase(ca: certs.Issued) -> None:
    stored = certs.encrypt_key(ca.key_pem, b"right")
    assert b"ENCRYPTED" in stored
    assert certs.decrypt_key(stored, b"right") == ca.key_pem
    with pytest.raises(ValueError):
        certs.decrypt_key(stored, b"wrong")


def test_crl_lists_the_revoked_serials(ca: certs.Issued) -> None:
    leaf = certs.issue_client(ca, 1)
    crl = x509.load_pem_x509_crl(certs.revocation_list(ca, [leaf.serial]))
    public_key = ca.certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(public_key)
    assert crl.get_revoked_certificate_by_serial_number(int(leaf.serial, 16)) is not None
    assert len(crl) == 1
