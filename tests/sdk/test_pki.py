"""bdcert.pki: one way to read PEM-or-DER certificates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from bdcert.config import load_authorities
from bdcert.demo_pki import make_demo_pki
from bdcert.pki import certificate_ders, is_pem, load_certificates
from tests.support import AUTHORITIES, require_shared


@pytest.fixture(scope="module")
def root_pem(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    require_shared()
    directory: Path = tmp_path_factory.mktemp("pki")
    authorities = list(load_authorities(AUTHORITIES).values())[:1]
    pki = make_demo_pki(directory, authorities, now=datetime(2026, 1, 1, tzinfo=UTC))
    return pki.root_cert.read_bytes()


def test_pem_and_der_give_the_same_certificate(root_pem: bytes) -> None:
    (from_pem,) = load_certificates(root_pem)
    der = from_pem.public_bytes(Encoding.DER)
    assert is_pem(root_pem) and not is_pem(der)
    assert load_certificates(der) == [from_pem]
    assert certificate_ders(root_pem) == [der] == certificate_ders(der)


def test_a_pem_bundle_gives_every_certificate(root_pem: bytes) -> None:
    assert len(load_certificates(root_pem + root_pem)) == 2
    assert len(certificate_ders(root_pem + root_pem)) == 2


def test_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        load_certificates(b"not a certificate")
