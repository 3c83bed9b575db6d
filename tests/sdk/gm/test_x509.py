"""SM2 certificates (bdcert.gm.x509) and the SM2 demo PKI, checked with the openssl command line.

OpenSSL 3.0 verifies an SM2 certificate signature with an empty distinguishing ID unless told
otherwise, so ``openssl verify`` needs ``-vfyopt distid:1234567812345678`` for GM/T 0015
certificates (signed under the default ID).
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import require_module, require_openssl

require_module("tongsuopy", "tongsuopy (the gm extra)")

from asn1crypto import pem  # noqa: E402
from asn1crypto import x509 as asn1_x509  # noqa: E402

from bdcert.demo_pki import DEMO_ROOT_NAME, DemoPki, make_demo_pki  # noqa: E402
from bdcert.errors import ConfigurationError  # noqa: E402
from bdcert.gm.sm2 import DEFAULT_ID, OID_SM2_WITH_SM3, SM2PrivateKey  # noqa: E402
from bdcert.gm.x509 import (  # noqa: E402
    make_sm2_certificate,
    sm2_public_key_of,
    subject_key_identifier,
    verify_sm2_certificate_signature,
    verify_sm2_chain,
)
from bdcert.model import Authority  # noqa: E402

AUTHORITY = Authority(
    code="510100",
    name="成都市不动产登记中心",
    province_abbr="川",
    place_name="成都市",
    credit_code="12510100MB1C7A3X2H",
    division_code="510100",
)
OTHER = Authority(
    code="510700",
    name="绵阳市不动产登记中心",
    province_abbr="川",
    place_name="绵阳市",
    credit_code="12510700MB1D2E3F4G",
    division_code="510700",
)
NOW = datetime.now(UTC)
DISTID = f"distid:{DEFAULT_ID.decode()}"


def der_of(path: Path) -> bytes:
    kind, _, der = pem.unarmor(path.read_bytes())
    assert kind == "CERTIFICATE"
    return bytes(der)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return make_demo_pki(
        tmp_path_factory.mktemp("sm2pki"), [AUTHORITY, OTHER], now=NOW, algorithm="sm2"
    )


def _make_root(
    key: SM2PrivateKey, *, not_before: datetime, not_after: datetime, name: str = "Test root"
) -> bytes:
    return make_sm2_certificate(
        subject={"C": "CN", "CN": name},
        issuer_cert_der=None,
        issuer_key=key,
        public_key=key.public_key,
        serial=1,
        not_before=not_before,
        not_after=not_after,
        ca=True,
        key_usage={"key_cert_sign", "crl_sign"},
    )


def _make_leaf(
    root_der: bytes,
    root_key: SM2PrivateKey,
    *,
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=30),
    ca: bool = False,
    key_usage: frozenset[str] = frozenset({"digital_signature"}),
    name: str = "Test leaf",
) -> tuple[bytes, SM2PrivateKey]:
    key = SM2PrivateKey.generate()
    der = make_sm2_certificate(
        subject={"C": "CN", "O": "测试", "CN": name},
        issuer_cert_der=root_der,
        issuer_key=root_key,
        public_key=key.public_key,
        serial=2,
        not_before=not_before,
        not_after=not_after,
        ca=ca,
        key_usage=key_usage,
    )
    return der, key


# -- the demo PKI ------------------------------------------------------------------------------


def test_demo_pki_files(pki: DemoPki) -> None:
    assert pki.algorithm == "sm2"
    assert sorted(p.name for p in pki.directory.iterdir()) == [
        "510100.cert.pem",
        "510100.key.pem",
        "510700.cert.pem",
        "510700.key.pem",
        "root.cert.pem",
        "root.key.pem",
        "sm2-tsa.cert.pem",
        "sm2-tsa.key.pem",
    ]
    for files in pki.seal.values():
        assert files.p12 is None
        assert files.key.stat().st_mode & 0o777 == 0o600
        key = SM2PrivateKey.from_pem(files.key.read_bytes())
        assert sm2_public_key_of(der_of(files.cert)) == key.public_key
    assert pki.root_key.stat().st_mode & 0o777 == 0o600
    root = SM2PrivateKey.from_pem(pki.root_key.read_bytes())
    assert sm2_public_key_of(der_of(pki.root_cert)) == root.public_key
    tsa_key = pki.directory / "sm2-tsa.key.pem"
    assert tsa_key.stat().st_mode & 0o777 == 0o600
    tsa_cert = der_of(pki.directory / "sm2-tsa.cert.pem")
    assert sm2_public_key_of(tsa_cert) == SM2PrivateKey.from_pem(tsa_key.read_bytes()).public_key
    tsa = asn1_x509.Certificate.load(tsa_cert)
    assert [u.dotted for u in tsa.extended_key_usage_value] == ["1.3.6.1.5.5.7.3.8"]
    assert "extended_key_usage" in tsa.critical_extensions  # RFC 3161 §2.3
    assert not tsa.ca and tsa.issuer == asn1_x509.Certificate.load(der_of(pki.root_cert)).subject


def test_demo_pki_certificate_contents(pki: DemoPki) -> None:
    root = asn1_x509.Certificate.load(der_of(pki.root_cert))
    seal = asn1_x509.Certificate.load(der_of(pki.seal["510100"].cert))
    assert root.subject.native["common_name"] == DEMO_ROOT_NAME
    assert root.ca and root.max_path_length == 0 and root.self_signed == "maybe"
    assert root.key_usage_value.native == {"key_cert_sign", "crl_sign"}
    assert seal["signature_algorithm"]["algorithm"].dotted == OID_SM2_WITH_SM3
    assert seal["tbs_certificate"]["signature"]["algorithm"].dotted == OID_SM2_WITH_SM3
    assert seal["signature_algorithm"]["parameters"].native is None
    assert seal.subject.native == {
        "country_name": "CN",
        "organization_name": AUTHORITY.name,
        "serial_number": AUTHORITY.credit_code,
        "common_name": AUTHORITY.name,
    }
    assert seal.issuer == root.subject
    assert not seal.ca
    assert seal.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert seal.extended_key_usage_value.native == ["1.3.6.1.5.5.7.3.36", "email_protection"]
    assert seal.authority_key_identifier == root.key_identifier
    assert seal.key_identifier == subject_key_identifier(sm2_public_key_of(seal.dump()))
    validity = seal["tbs_certificate"]["validity"]
    assert validity["not_before"].native == (NOW - timedelta(days=1)).replace(microsecond=0)
    assert validity["not_after"].native - validity["not_before"].native == timedelta(days=1096)


def test_openssl_parses_demo_certificates(pki: DemoPki) -> None:
    openssl = require_openssl()
    for path in (pki.root_cert, pki.seal["510100"].cert):
        out = subprocess.run(
            [openssl, "x509", "-in", str(path), "-noout", "-text"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "Signature Algorithm: SM2-with-SM3" in out
        assert "ASN1 OID: SM2" in out
    for path in (pki.root_key, pki.seal["510100"].key):
        subprocess.run([openssl, "pkey", "-in", str(path), "-noout"], check=True)


def test_openssl_verifies_demo_chain(pki: DemoPki) -> None:
    openssl = require_openssl()
    for files in pki.seal.values():
        result = subprocess.run(
            [openssl, "verify", "-vfyopt", DISTID, "-CAfile", str(pki.root_cert), str(files.cert)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().endswith(": OK")


def test_openssl_rejects_tampered_and_foreign(pki: DemoPki, tmp_path: Path) -> None:
    openssl = require_openssl()
    seal_der = bytearray(der_of(pki.seal["510100"].cert))
    index = seal_der.index(AUTHORITY.credit_code.encode())
    seal_der[index] ^= 0x01  # the certificate now names another credit code
    tampered = tmp_path / "tampered.pem"
    tampered.write_bytes(pem.armor("CERTIFICATE", bytes(seal_der)))
    other = make_demo_pki(tmp_path / "other", [AUTHORITY], algorithm="sm2")
    for cert in (tampered, other.seal["510100"].cert):
        result = subprocess.run(
            [openssl, "verify", "-vfyopt", DISTID, "-CAfile", str(pki.root_cert), str(cert)],
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0


def test_openssl_checks_certificate_signatures_with_pkeyutl(pki: DemoPki, tmp_path: Path) -> None:
    """Each signature, the root's self-signature too, checked over the TBS bytes by OpenSSL."""
    openssl = require_openssl()
    root_der = der_of(pki.root_cert)
    (tmp_path / "root.pub").write_bytes(sm2_public_key_of(root_der).to_pem())
    for cert_der in (root_der, der_of(pki.seal["510100"].cert)):
        cert = asn1_x509.Certificate.load(cert_der)
        (tmp_path / "tbs").write_bytes(cert["tbs_certificate"].dump())
        (tmp_path / "sig").write_bytes(cert["signature_value"].native)
        subprocess.run(
            [
                openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "root.pub"),
                "-rawin", "-in", str(tmp_path / "tbs"), "-sigfile", str(tmp_path / "sig"),
                "-digest", "sm3", "-pkeyopt", DISTID,
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip


def test_ecdsa_demo_pki_unchanged(tmp_path: Path) -> None:
    pki = make_demo_pki(tmp_path, [AUTHORITY])
    assert pki.algorithm == "ecdsa"
    files = pki.seal["510100"]
    assert files.p12 is not None and files.p12.is_file()
    with pytest.raises(ConfigurationError, match="algorithm"):
        make_demo_pki(tmp_path, [AUTHORITY], algorithm="rsa")


# -- signatures and chains -------------------------------------------------------------------


def test_verify_certificate_signature(pki: DemoPki) -> None:
    root = der_of(pki.root_cert)
    seal = der_of(pki.seal["510100"].cert)
    assert verify_sm2_certificate_signature(seal, root)
    assert verify_sm2_certificate_signature(root, root)
    assert not verify_sm2_certificate_signature(root, seal)
    assert not verify_sm2_certificate_signature(seal, seal)
    assert not verify_sm2_certificate_signature(b"garbage", root)
    assert not verify_sm2_certificate_signature(seal, b"garbage")
    tampered = bytearray(seal)
    tampered[tampered.index(AUTHORITY.credit_code.encode())] ^= 0x01
    assert not verify_sm2_certificate_signature(bytes(tampered), root)
    signature = bytearray(seal)
    signature[-1] ^= 0x01
    assert not verify_sm2_certificate_signature(bytes(signature), root)


def test_a_certificate_with_a_raw_signature_does_not_verify(pki: DemoPki) -> None:
    """GM/T 0015 certificate signatures are DER SEQUENCE { r, s } like every SM2 signature:
    the same (r, s) as raw r || s is another certificate, and not a valid one."""
    from bdcert.gm.sm2 import signature_to_raw

    root = der_of(pki.root_cert)
    genuine = der_of(pki.seal["510100"].cert)
    assert verify_sm2_certificate_signature(genuine, root)
    cert = asn1_x509.Certificate.load(genuine)
    tbs = cert["tbs_certificate"].dump()
    cert["signature_value"] = signature_to_raw(cert["signature_value"].native)
    raw = cert.dump()
    assert tbs in raw and raw != genuine  # only the signature's encoding changed
    assert not verify_sm2_certificate_signature(raw, root)
    assert verify_sm2_chain(raw, [root], datetime.now(UTC)) is not None


def test_chain_accepts_demo_seal(pki: DemoPki) -> None:
    root = der_of(pki.root_cert)
    for files in pki.seal.values():
        assert verify_sm2_chain(der_of(files.cert), [root], NOW) is None
    assert verify_sm2_chain(root, [root], NOW) is None


def test_chain_rejects_expired_and_not_yet_valid(pki: DemoPki) -> None:
    root = der_of(pki.root_cert)
    seal = der_of(pki.seal["510100"].cert)
    reason = verify_sm2_chain(seal, [root], NOW + timedelta(days=1096))
    assert reason is not None and reason.startswith("expired")
    reason = verify_sm2_chain(seal, [root], NOW - timedelta(days=2))
    assert reason is not None and reason.startswith("not yet valid")


def test_chain_rejects_expired_root() -> None:
    key = SM2PrivateKey.generate()
    root = _make_root(key, not_before=NOW - timedelta(days=10), not_after=NOW - timedelta(days=1))
    leaf, _ = _make_leaf(root, key)
    reason = verify_sm2_chain(leaf, [root], NOW)
    assert reason is not None and reason.startswith("expired"), reason


def test_chain_rejects_untrusted(pki: DemoPki, tmp_path: Path) -> None:
    seal = der_of(pki.seal["510100"].cert)
    other = make_demo_pki(tmp_path, [AUTHORITY], algorithm="sm2")
    other_root = der_of(other.root_cert)
    # same root name, different key: the name matches but the signature does not
    reason = verify_sm2_chain(seal, [other_root], NOW)
    assert reason is not None and reason.startswith("bad signature"), reason
    key = SM2PrivateKey.generate()
    unrelated = _make_root(key, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(1))
    reason = verify_sm2_chain(seal, [unrelated], NOW)
    assert reason is not None and reason.startswith("untrusted"), reason
    reason = verify_sm2_chain(seal, [], NOW)
    assert reason is not None and reason.startswith("untrusted")


def test_chain_rejects_tampered(pki: DemoPki) -> None:
    root = der_of(pki.root_cert)
    tampered = bytearray(der_of(pki.seal["510100"].cert))
    tampered[tampered.index(AUTHORITY.credit_code.encode())] ^= 0x01
    reason = verify_sm2_chain(bytes(tampered), [root], NOW)
    assert reason is not None and reason.startswith("bad signature"), reason
    reason = verify_sm2_chain(b"\x30\x03\x02\x01\x01", [root], NOW)
    assert reason is not None and reason.startswith("malformed")


def test_chain_rejects_issuer_that_is_not_a_ca() -> None:
    root_key = SM2PrivateKey.generate()
    root = _make_root(root_key, not_before=NOW - timedelta(1), not_after=NOW + timedelta(30))
    leaf, leaf_key = _make_leaf(root, root_key)
    grandchild, _ = _make_leaf(leaf, leaf_key, name="Grandchild")
    reason = verify_sm2_chain(grandchild, [root], NOW, intermediates_der=[leaf])
    assert reason is not None and reason.startswith("not a CA"), reason
    # a CA intermediate under a root with pathLen absent is fine
    inter, inter_key = _make_leaf(
        root, root_key, ca=True, key_usage=frozenset({"key_cert_sign"}), name="Intermediate"
    )
    child, _ = _make_leaf(inter, inter_key, name="Child")
    assert verify_sm2_chain(child, [root], NOW, intermediates_der=[inter]) is None
    reason = verify_sm2_chain(child, [root], NOW)
    assert reason is not None and reason.startswith("untrusted")


def test_chain_respects_path_length(pki: DemoPki) -> None:
    root_key = SM2PrivateKey.from_pem(pki.root_key.read_bytes())
    root = der_of(pki.root_cert)  # pathLenConstraint 0
    inter, inter_key = _make_leaf(
        root, root_key, ca=True, key_usage=frozenset({"key_cert_sign"}), name="Intermediate"
    )
    child, _ = _make_leaf(inter, inter_key, name="Child")
    reason = verify_sm2_chain(child, [root], NOW, intermediates_der=[inter])
    assert reason is not None and reason.startswith("not a CA"), reason


def test_make_certificate_rejects_bad_input() -> None:
    key = SM2PrivateKey.generate()
    other = SM2PrivateKey.generate()
    common = {
        "subject": {"CN": "x"},
        "issuer_cert_der": None,
        "issuer_key": key,
        "not_before": NOW,
        "not_after": NOW + timedelta(days=1),
        "ca": True,
        "key_usage": {"key_cert_sign"},
    }
    with pytest.raises(ValueError, match="own key"):
        make_sm2_certificate(public_key=other.public_key, serial=1, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="serial"):
        make_sm2_certificate(public_key=key.public_key, serial=0, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="aware"):
        make_sm2_certificate(
            public_key=key.public_key,
            serial=1,
            **{**common, "not_before": datetime(2024, 1, 1), "not_after": datetime(2025, 1, 1)},  # type: ignore[arg-type]
        )


def test_far_future_uses_generalized_time() -> None:
    key = SM2PrivateKey.generate()
    root = _make_root(
        key,
        not_before=datetime(2049, 12, 31, tzinfo=UTC),
        not_after=datetime(2050, 1, 2, tzinfo=UTC),
    )
    validity = asn1_x509.Certificate.load(root)["tbs_certificate"]["validity"]
    assert validity["not_before"].name == "utc_time"
    assert validity["not_after"].name == "general_time"
    assert verify_sm2_chain(root, [root], datetime(2050, 1, 1, tzinfo=UTC)) is None
