"""The sandbox's self-signed certificate: names, key, reuse across restarts."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from gpt_trader.errors import UserError
from gpt_trader.sandbox.tls import ensure_certificate, key_path_for


def test_the_certificate_names_the_loopback_addresses_and_its_key_is_private(tmp_path: Path) -> None:
    cert_path, key_path = ensure_certificate(tmp_path / "tls" / "sandbox.pem")
    assert key_path == tmp_path / "tls" / "sandbox.key" == key_path_for(cert_path)
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    # A client trusting the file accepts it, even with the strict checks newer Pythons turn on.
    context = ssl.create_default_context(cafile=str(cert_path))
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.load_cert_chain(cert_path, key_path)


def test_a_valid_pair_is_kept_and_a_broken_one_replaced(tmp_path: Path) -> None:
    cert_path, key_path = ensure_certificate(tmp_path / "sandbox.pem")
    first = cert_path.read_bytes()
    assert ensure_certificate(cert_path) == (cert_path, key_path)
    assert cert_path.read_bytes() == first, "a client configured once keeps working after a restart"
    key_path.write_text("not a key")
    ensure_certificate(cert_path)
    assert cert_path.read_bytes() != first


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write the sandbox certificate"):
        ensure_certificate(blocker / "sandbox.pem")
