"""SM2 time-stamp tokens (bdcert.gm.sm2_tsp) and the ``timeStamp`` of GB/T 38540 seal signatures:
long-term validation of OFD certificates.

Independent checks: ``openssl ts`` parses the tokens (RFC 3161 ``TSTInfo``: version, policy,
SM3 imprint, serial, time); the imprint is compared with SM3 computed by ``cryptography``; the
``timeStamp`` field's tagging is read with a generic DER parser. (GmSSL checks the SM2 signatures
in :mod:`tests.sdk.gm.test_gmssl`; ``openssl ts -verify`` cannot, for OpenSSL 3.0 checks SM2
certificate signatures with an empty ID.) Needs the ``gm`` extra and openssl 3.x.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest
from asn1crypto import core
from cryptography.hazmat.primitives import hashes

from tests.support import require_module, require_openssl

require_module("tongsuopy", "tongsuopy (the gm extra)")

from bdcert.errors import SealingError  # noqa: E402
from bdcert.gm import ses  # noqa: E402
from bdcert.gm.ofd import RenderedOfd  # noqa: E402
from bdcert.gm.ofd_seal import verify_ofd  # noqa: E402
from bdcert.gm.sm2 import SM2PrivateKey  # noqa: E402
from bdcert.gm.sm2_tsp import (  # noqa: E402
    DEMO_TSA_POLICY,
    Sm2TimeStampAuthority,
    check_timestamp,
)
from bdcert.gm.x509 import make_sm2_certificate  # noqa: E402
from bdcert.model import VerdictCode  # noqa: E402
from tests.sdk.gm.test_ofd import (  # noqa: E402
    Pki,
    make_pki,
    make_seal,
    rendered,  # noqa: F401 - the fixture
)

NOW = datetime.now(UTC).replace(microsecond=0)
#: 20 years ahead: the seal certificate (3 years) has expired, the root (30) and the TSA (25) not.
LATER = NOW + timedelta(days=20 * 366)
DATA_HASH = bytes(range(32))


def _header(tlv: bytes) -> tuple[int, int]:
    """(header length, contents length) of the DER TLV at the start of ``tlv``, read by hand."""
    if tlv[1] < 0x80:
        return 2, tlv[1]
    count = tlv[1] & 0x7F
    return 2 + count, int.from_bytes(tlv[2 : 2 + count], "big")


def _body(tlv: bytes) -> bytes:
    start, length = _header(tlv)
    assert len(tlv) == start + length
    return tlv[start:]


def _tlvs(data: bytes) -> list[bytes]:
    out = []
    while data:
        start, length = _header(data)
        out.append(data[: start + length])
        data = data[start + length :]
    return out


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def seal_der(pki: Pki) -> bytes:
    return make_seal(pki, start=NOW - timedelta(days=1), end=NOW + timedelta(days=365))


def sign(pki: Pki, seal_der: bytes, **kwargs: object) -> bytes:
    args: dict[str, object] = {
        "seal_der": seal_der,
        "signer_key": pki.key,
        "signer_cert_der": pki.cert,
        "data_hash": DATA_HASH,
        "property_info": "/Doc_0/Signs/Sign_0/Signature.xml",
        "time": NOW,
    }
    return ses.sign_data(**(args | kwargs))  # type: ignore[arg-type]


def verdict(pki: Pki, der: bytes, at: datetime | None = None) -> tuple[VerdictCode, str]:
    return ses.verify_signature(
        ses.parse_signature(der), data_hash=DATA_HASH, trust_roots=[pki.root], at=at
    )


# --------------------------------------------------------------------------- the authority


def test_openssl_reads_the_token(pki: Pki, tmp_path: Path) -> None:
    openssl = require_openssl()
    at = NOW + timedelta(seconds=3)
    token = pki.tsa(clock=lambda: at).stamp(b"a signature value")
    (tmp_path / "token.der").write_bytes(token)
    result = subprocess.run(
        [openssl, "ts", "-reply", "-in", "token.der", "-token_in", "-text"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Version: 1" in out
    assert f"Policy OID: {DEMO_TSA_POLICY}" in out
    assert "Hash Algorithm: sm3" in out
    dumped = re.findall(r"^\s+\d{4} - ([0-9a-f -]+?)\s{2,}", out, re.M)
    assert bytes.fromhex("".join(dumped).replace("-", "").replace(" ", "")) == sm3(
        b"a signature value"
    )
    assert f"Time stamp: {at.strftime('%b %e %H:%M:%S %Y')} GMT" in out


def test_check_timestamp(pki: Pki) -> None:
    at = NOW + timedelta(seconds=1)
    token = pki.tsa(clock=lambda: at).stamp(b"value")
    stamp = check_timestamp(token, b"value", trust_roots=[pki.root])
    assert not isinstance(stamp, str), stamp
    assert stamp.time == at and stamp.policy == DEMO_TSA_POLICY
    assert "time-stamp authority" in stamp.authority
    assert "another value" in str(check_timestamp(token, b"valuE", trust_roots=[pki.root]))
    other = make_pki_root()
    assert "does not chain" in str(check_timestamp(token, b"value", trust_roots=[other]))
    for bad in (b"", b"\x30\x00", token[:-1], token + b"\x00", b"\x00" * 40):
        assert isinstance(check_timestamp(bad, b"value", trust_roots=[pki.root]), str)
    # a flipped byte anywhere in the token is never a valid stamp
    for offset in range(0, len(token), 7):
        flipped = token[:offset] + bytes([token[offset] ^ 0x01]) + token[offset + 1 :]
        result = check_timestamp(flipped, b"value", trust_roots=[pki.root])
        assert isinstance(result, str) or result == stamp, offset


def make_pki_root() -> bytes:
    key = SM2PrivateKey.generate()
    return make_sm2_certificate(
        subject={"CN": "another root"},
        issuer_cert_der=None,
        issuer_key=key,
        public_key=key.public_key,
        serial=5,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=10),
        ca=True,
        key_usage={"key_cert_sign"},
    )


def test_only_a_time_stamping_certificate_may_stamp(pki: Pki) -> None:
    with pytest.raises(ValueError, match="not a time-stamp authority"):
        Sm2TimeStampAuthority(pki.key, pki.cert, [pki.root])
    with pytest.raises(ValueError, match="does not belong"):
        Sm2TimeStampAuthority(pki.key, pki.tsa_cert, [pki.root])
    # id-kp-timeStamping must be critical (RFC 3161 §2.3)
    key = SM2PrivateKey.generate()
    lax = make_sm2_certificate(
        subject={"CN": "lax TSA"},
        issuer_cert_der=pki.root,
        issuer_key=pki.root_key,
        public_key=key.public_key,
        serial=77,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=10),
        ca=False,
        key_usage={"digital_signature"},
        extended_key_usage=["time_stamping"],
    )
    with pytest.raises(ValueError, match="not critical"):
        Sm2TimeStampAuthority(key, lax, [pki.root])


def test_serial_numbers_are_unique(pki: Pki) -> None:
    tsa = pki.tsa()
    serials = set()
    for _ in range(20):
        stamp = check_timestamp(tsa.stamp(b"v"), b"v", trust_roots=[pki.root])
        assert not isinstance(stamp, str)
        serials.add(stamp.serial)
    assert len(serials) == 20


# --------------------------------------------------------------------------- GB/T 38540 timeStamp


def test_the_time_stamp_field_is_tagged_and_over_the_signature(pki: Pki, seal_der: bytes) -> None:
    der = sign(pki, seal_der, timestamper=pki.tsa())
    elements = _tlvs(_body(der))  # read by hand: SES_Signature's five elements
    assert len(elements) == 5
    stamp_field = elements[4]
    assert stamp_field[0] == 0xA0  # [0] EXPLICIT, constructed
    bit_string = core.OctetBitString.load(_body(stamp_field))
    signature = core.OctetBitString.load(elements[3]).native
    token = bit_string.native
    stamp = check_timestamp(token, signature, trust_roots=[pki.root])
    assert not isinstance(stamp, str), stamp


def test_a_time_stamped_seal_signature_verifies_20_years_ahead(pki: Pki, seal_der: bytes) -> None:
    stamped = sign(pki, seal_der, timestamper=pki.tsa())
    assert verdict(pki, stamped)[0] is VerdictCode.VALID
    code, detail = verdict(pki, stamped, at=LATER)
    assert code is VerdictCode.VALID, detail
    assert "time-stamped at" in detail
    # the same seal signature without its time-stamp: the certificates expired long ago
    plain = sign(pki, seal_der)
    assert verdict(pki, plain)[0] is VerdictCode.VALID
    code, detail = verdict(pki, plain, at=LATER)
    assert code is VerdictCode.UNTRUSTED_SIGNER, detail
    assert "expired" in detail and "without a timeStamp" in detail


def test_an_untagged_time_stamp_is_read_too(pki: Pki, seal_der: bytes) -> None:
    """Parsers in the wild disagree on the tagging (FACTS.md): untagged verifies the same."""
    stamped = ses.SESSignatureV4.load(sign(pki, seal_der, timestamper=pki.tsa()))
    token = stamped["time_stamp"].native
    untagged = ses.SESSignatureV4(
        {
            "to_sign": stamped["to_sign"],
            "cert": stamped["cert"],
            "signature_alg_id": stamped["signature_alg_id"],
            "signature": stamped["signature"],
            "time_stamp_untagged": token,
        }
    ).dump()
    assert _tlvs(_body(untagged))[4][0] == 0x03  # a universal BIT STRING, not [0]
    parsed = ses.parse_signature(untagged)
    assert parsed.timestamp == token
    code, detail = verdict(pki, untagged, at=LATER)
    assert code is VerdictCode.VALID, detail


def test_a_bad_time_stamp_is_invalid(pki: Pki, seal_der: bytes) -> None:
    class OtherValue:
        def stamp(self, value: bytes) -> bytes:
            return pki.tsa().stamp(value[:-1])

    code, detail = verdict(pki, sign(pki, seal_der, timestamper=OtherValue()))
    assert code is VerdictCode.SIGNATURE_INVALID and "another value" in detail
    stamped = ses.parse_signature(sign(pki, seal_der, timestamper=pki.tsa()))
    broken = attrs.evolve(stamped, timestamp=stamped.timestamp[:-3] if stamped.timestamp else b"")
    code, detail = ses.verify_signature(broken, data_hash=DATA_HASH, trust_roots=[pki.root])
    assert code is VerdictCode.SIGNATURE_INVALID and "timeStamp" in detail


def test_a_claimed_time_after_the_time_stamp_is_invalid(pki: Pki, seal_der: bytes) -> None:
    early = pki.tsa(clock=lambda: NOW - timedelta(hours=1))
    code, detail = verdict(pki, sign(pki, seal_der, timestamper=early))
    assert code is VerdictCode.SIGNATURE_INVALID and "after the time-stamp" in detail
    # within the allowed skew of two clocks: fine
    close = pki.tsa(clock=lambda: NOW - timedelta(minutes=2))
    assert verdict(pki, sign(pki, seal_der, timestamper=close))[0] is VerdictCode.VALID


def test_a_failing_authority_does_not_seal(pki: Pki, seal_der: bytes) -> None:
    class Down:
        def stamp(self, value: bytes) -> bytes:
            raise OSError("connection refused")

    with pytest.raises(SealingError, match="time-stamp authority failed"):
        sign(pki, seal_der, timestamper=Down())


def test_a_naive_validation_time_is_refused(pki: Pki, seal_der: bytes) -> None:
    with pytest.raises(SealingError, match="timezone-aware"):
        verdict(pki, sign(pki, seal_der), at=datetime(2030, 1, 1))


# --------------------------------------------------------------------------- OFD


def test_a_time_stamped_ofd_verifies_20_years_ahead(
    pki: Pki,
    seal_der: bytes,
    rendered: RenderedOfd,  # noqa: F811
) -> None:
    from bdcert.gm.ofd_seal import seal_ofd

    def sealed(timestamper: Sm2TimeStampAuthority | None) -> bytes:
        return seal_ofd(
            rendered.package,
            seal_der=seal_der,
            signer_key=pki.key,
            signer_cert_der=pki.cert,
            page=rendered.seal_page,
            box_mm=rendered.seal_box_mm,
            time=NOW,
            timestamper=timestamper,
        )

    stamped, plain = sealed(pki.tsa()), sealed(None)
    for data in (stamped, plain):
        check = verify_ofd(data, trust_roots=[pki.root])
        assert check.code is VerdictCode.VALID, check.detail
    later = verify_ofd(stamped, trust_roots=[pki.root], at=LATER)
    assert later.code is VerdictCode.VALID, later.detail
    expired = verify_ofd(plain, trust_roots=[pki.root], at=LATER)
    assert expired.code is VerdictCode.UNTRUSTED_SIGNER, expired.detail


def test_the_register_free_checks_refuse_a_naive_validation_time(pki: Pki) -> None:
    from bdcert.verify.pdf_sm2 import check_pdf_sm2

    naive = datetime(2046, 1, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_ofd(b"PK\x03\x04", trust_roots=[pki.root], at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        check_pdf_sm2(b"%PDF-1.7", trust_roots=[pki.root], at=naive)


def test_a_seal_signature_is_not_valid_before_its_time_stamp(pki: Pki, seal_der: bytes) -> None:
    stamped = sign(pki, seal_der, timestamper=pki.tsa())
    code, detail = verdict(pki, stamped, at=NOW - timedelta(days=365))
    assert code is VerdictCode.UNTRUSTED_SIGNER, detail
    assert "did not exist yet" in detail


def test_the_time_stamp_authority_is_checked_at_the_validation_time(
    pki: Pki,
    seal_der: bytes,
    rendered: RenderedOfd,  # noqa: F811
) -> None:
    from asn1crypto import x509

    from bdcert.gm.ofd_seal import seal_ofd

    expiry = x509.Certificate.load(pki.tsa_cert).not_valid_after
    stamped = sign(pki, seal_der, timestamper=pki.tsa())
    assert verdict(pki, stamped, at=expiry - timedelta(days=1))[0] is VerdictCode.VALID
    code, detail = verdict(pki, stamped, at=expiry + timedelta(days=1))
    assert code is VerdictCode.UNTRUSTED_SIGNER, detail
    assert "time-stamp authority" in detail and "expired" in detail
    ofd = seal_ofd(
        rendered.package,
        seal_der=seal_der,
        signer_key=pki.key,
        signer_cert_der=pki.cert,
        page=rendered.seal_page,
        box_mm=rendered.seal_box_mm,
        time=NOW,
        timestamper=pki.tsa(),
    )
    for at in (NOW - timedelta(days=365), expiry + timedelta(days=1)):
        check = verify_ofd(ofd, trust_roots=[pki.root], at=at)
        assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
