"""A self-signed certificate for the sandbox's HTTPS and WSS, valid for 127.0.0.1, ::1 and localhost.

Clients that insist on https (the official SDK's REST client) trust the sandbox through the
certificate file: `REQUESTS_CA_BUNDLE=PATH` for `requests`, `httpx.Client(verify=PATH)` for httpx.
A certificate already at the path is kept while it is valid for another day and its key is beside
it, so a client configured once keeps working across restarts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gpt_trader.errors import UserError

HOST_NAMES = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")
VALID_DAYS = 365


def key_path_for(cert_path: Path) -> Path:
    """Where the private key of the certificate at `cert_path` lives: beside it, `.key` for `.pem`."""
    return cert_path.with_name(cert_path.stem + ".key")


def ensure_certificate(cert_path: Path) -> tuple[Path, Path]:
    """The (certificate, private key) paths, making a new pair unless a usable one is already there."""
    cert_path = cert_path.expanduser()
    key_path = key_path_for(cert_path)
    if not _usable(cert_path, key_path):
        write_self_signed(cert_path, key_path)
    return cert_path, key_path


def write_self_signed(cert_path: Path, key_path: Path) -> None:
    """Write a new EC P-256 key (readable by its owner only) and a certificate for the loopback names."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GPT-Trader sandbox (localhost)")])
    alternative_names: list[x509.GeneralName] = [x509.DNSName(host) for host in HOST_NAMES]
    alternative_names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ADDRESSES]
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    try:
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_bytes = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as key_file:
            key_file.write(key_bytes)
        cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    except OSError as error:
        raise UserError(f"cannot write the sandbox certificate to {cert_path}: {error.strerror or error}") from None


def _usable(cert_path: Path, key_path: Path) -> bool:
    """Whether the pair on disk is readable, matching, for our host names, and valid for another day."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    same_key = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    covered = set(HOST_NAMES) <= set(names.get_values_for_type(x509.DNSName)) and {
        ipaddress.ip_address(address) for address in ADDRESSES
    } <= set(names.get_values_for_type(x509.IPAddress))
    fresh = certificate.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    return same_key and covered and fresh
