"""Throwaway PKI for TLS tests: a CA, two server certificates it signs, and an unrelated second CA.

    pki = make_pki(tmp_path)
    fleet.start("secure", tls=(pki.server_cert, pki.server_key))
    Backend(name="secure", base_url=f"https://localhost:{port}/v1", ca_file=str(pki.ca_cert))

The server certificate names `DNS:localhost` and `IP:127.0.0.1`; the stranger certificate, from the same
CA, names only `DNS:elsewhere.invalid` (a valid chain, the wrong host). `other_ca_cert` signed nothing
here, so a client trusting only it must refuse both. Keys are EC P-256; everything is PEM on disk.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["SERVER_DNS_NAMES", "SERVER_IPS", "STRANGER_DNS_NAME", "TestPki", "make_pki"]

SERVER_DNS_NAMES = ("localhost",)
SERVER_IPS = ("127.0.0.1",)
STRANGER_DNS_NAME = "elsewhere.invalid"
_VALIDITY = datetime.timedelta(days=1)
_BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class TestPki:
    """PEM files: the CA, the server's pair, the stranger's pair (same CA, other name), an unrelated CA."""

    __test__ = False  # not a pytest test class despite the name

    ca_cert: Path
    server_cert: Path
    server_key: Path
    stranger_cert: Path
    stranger_key: Path
    other_ca_cert: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _server(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    dns_names: tuple[str, ...],
    ips: tuple[str, ...] = (),
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


def make_pki(directory: Path) -> TestPki:
    """Fresh keys and certificates (valid for a day) written as PEM files into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ca("tollway-test-ca")
    server_cert, server_key = _server(ca_cert, ca_key, "tollway-test-server", SERVER_DNS_NAMES, SERVER_IPS)
    stranger_cert, stranger_key = _server(ca_cert, ca_key, STRANGER_DNS_NAME, (STRANGER_DNS_NAME,))
    other_ca_cert, _ = _ca("tollway-unrelated-ca")
    return TestPki(
        ca_cert=_write_cert(directory / "ca.pem", ca_cert),
        server_cert=_write_cert(directory / "server.pem", server_cert),
        server_key=_write_key(directory / "server-key.pem", server_key),
        stranger_cert=_write_cert(directory / "stranger.pem", stranger_cert),
        stranger_key=_write_key(directory / "stranger-key.pem", stranger_key),
        other_ca_cert=_write_cert(directory / "other-ca.pem", other_ca_cert),
    )
