"""SM2 seals in PDF certificates (bdcert.gm.pdf_sm2), checked with tools that share no code.

``pdfsig`` (poppler/NSS) locates the signature and checks that its ``/ByteRange`` covers the
whole file; NSS has no SM2, so it cannot judge the signature itself (it reports "Unrecognized
Hash ID" and "Unknown Validation Failure"). The GB/T 35275 SignedData is therefore checked
independently: its structure and object identifiers by GmSSL (:mod:`tests.sdk.gm.test_gmssl`)
and here by a DER parser with its own schema, the messageDigest attribute against SM3 of the
byte ranges computed with ``cryptography``, and the SM2 signature over DER(SET OF signed
attributes) with ``openssl pkeyutl``. (``openssl cms -verify`` cannot be used: OpenSSL 3.0's CMS
code neither signs nor verifies SM2 with the GM/T 0009 default distinguishing ID, nor knows the
GB/T 35275 content types.) Needs the ``gm`` extra (tongsuopy), openssl 3.x, poppler and the CJK
fonts; without them these tests skip on a laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, core
from cryptography.hazmat.primitives import hashes

from tests.sdk.test_render import AUTHORITY, PROPERTY_ID, URL, property_face
from tests.support import require_module, require_openssl, require_tool

require_module("tongsuopy", "tongsuopy (the gm extra)")

from bdcert.errors import SealingError  # noqa: E402
from bdcert.fonts import default_font_config  # noqa: E402
from bdcert.gm.pdf_sm2 import build_sm2_cms, check_pdf_sm2, seal_pdf_sm2  # noqa: E402
from bdcert.model import CertificateKind, VerdictCode  # noqa: E402
from bdcert.render import RenderedCertificate, Renderer  # noqa: E402
from tests.sdk.gm.test_ofd import Pki, make_pki  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
#: A validation time 20 years ahead: the seal certificate (3 years) has expired, the root (30
#: years) and the time-stamp authority (25) have not.
LATER = NOW + timedelta(days=20 * 366)
GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"  # GB/T 35275-2017, FACTS.md
GM_DATA = "1.2.156.10197.6.1.4.2.1"
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def rendered() -> RenderedCertificate:
    try:
        fonts = default_font_config({})
    except Exception as exc:  # fonts missing: the renderer's own tests say what to install
        pytest.skip(str(exc))
    return Renderer(fonts).render(
        kind=CertificateKind.PROPERTY_CERTIFICATE,
        face=property_face(),
        verification_url=URL,
        authority=AUTHORITY,
        licence_id=PROPERTY_ID,
        attached_plan=None,
    )


@pytest.fixture(scope="module")
def sealed(rendered: RenderedCertificate, pki: Pki) -> bytes:
    return seal_pdf_sm2(
        rendered.pdf,
        signer_key=pki.key,
        signer_cert_der=pki.cert,
        chain_der=[pki.root],
        seal_png=rendered.seal_png,
        page=rendered.seal_page,
        box=rendered.seal_box,
        time=NOW,
    )


class AnyContentInfo(core.Sequence):  # type: ignore[misc]
    """RFC 5652 ContentInfo with the SignedData schema whatever the content type's OID: the
    test's own reading, which does not depend on the OIDs bdcert registers with asn1crypto."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("content_type", core.ObjectIdentifier),
        ("content", cms.SignedData, {"explicit": 0}),
    ]


def signed_parts(pdf: bytes) -> tuple[bytes, Any]:
    """The bytes the /ByteRange covers and the CMS in /Contents, cut out by hand."""
    (match,) = list(_BYTE_RANGE.finditer(pdf))
    a, b, c, d = map(int, match.groups())
    assert a == 0 and c + d == len(pdf)
    gap = pdf[b:c]
    assert gap[:1] == b"<" and gap[-1:] == b">"
    der = bytes.fromhex(gap[1:-1].decode())
    return pdf[a : a + b] + pdf[c : c + d], AnyContentInfo.load(der[: _der_length(der)])


def _der_length(der: bytes) -> int:
    """The length of the DER TLV at the start of ``der`` (the /Contents hex is zero-padded)."""
    if der[1] < 0x80:
        return 2 + der[1]
    count = der[1] & 0x7F
    return 2 + count + int.from_bytes(der[2 : 2 + count], "big")


def cms_der(pdf: bytes) -> bytes:
    """The DER CMS in /Contents, without its zero padding."""
    (match,) = list(_BYTE_RANGE.finditer(pdf))
    _, b, c, _ = map(int, match.groups())
    der = bytes.fromhex(pdf[b + 1 : c - 1].decode())
    return der[: _der_length(der)]


def with_contents(pdf: bytes, der: bytes) -> bytes:
    """``pdf`` with ``der`` in /Contents (zero-padded to the reserved size)."""
    (match,) = list(_BYTE_RANGE.finditer(pdf))
    _, b, c, _ = map(int, match.groups())
    room = c - b - 2
    hex_ = der.hex().upper().encode()
    assert len(hex_) <= room
    return pdf[: b + 1] + hex_ + b"0" * (room - len(hex_)) + pdf[c - 1 :]


# --------------------------------------------------------------------------- independent checks


def test_pdfsig_finds_one_signature_covering_the_whole_file(sealed: bytes, tmp_path: Path) -> None:
    pdfsig = require_tool("pdfsig", "Debian package poppler-utils")
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    out = subprocess.run([pdfsig, "-nocert", str(path)], capture_output=True, text=True).stdout
    assert len(re.findall(r"^Signature #\d+:", out, re.M)) == 1, out
    assert "Total document signed" in out, out
    assert "Signature Type: adbe.pkcs7.detached" in out, out
    assert "Signature Field Name: bdcert-seal" in out, out
    # NSS knows no SM3/SM2: it can locate and byte-range check the seal, not verify it
    validation = re.search(r"Signature Validation: (.*)", out)
    assert validation is not None, out
    print(f"pdfsig on an SM2 seal: {validation.group(1)!r}")


def test_cms_digest_and_signature_verify_independently(
    sealed: bytes, pki: Pki, tmp_path: Path
) -> None:
    openssl = require_openssl()
    signed_bytes, content = signed_parts(sealed)
    signed_data = content["content"]
    # GB/T 35275-2017 object identifiers, not PKCS #7's (issue 9, defect 3)
    assert content["content_type"].dotted == GM_SIGNED_DATA
    assert signed_data["encap_content_info"]["content_type"].dotted == GM_DATA
    assert signed_data["encap_content_info"]["content"].native is None  # detached
    signer = signed_data["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert signer["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    attributes = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attributes["content_type"].dotted == GM_DATA
    attributes = {name: value.native for name, value in attributes.items()}
    assert attributes["signing_time"] == NOW
    digest = hashes.Hash(hashes.SM3())
    digest.update(signed_bytes)
    assert attributes["message_digest"] == digest.finalize()
    certs = [c.chosen.dump() for c in signed_data["certificates"]]
    assert sorted(certs) == sorted([pki.cert, pki.root])  # a DER SET OF: sorted

    (tmp_path / "attrs.der").write_bytes(b"\x31" + signer["signed_attrs"].dump()[1:])
    (tmp_path / "sig.der").write_bytes(signer["signature"].native)
    (tmp_path / "signer.der").write_bytes(pki.cert)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([openssl, *args], capture_output=True, text=True, cwd=tmp_path)

    assert run("x509", "-inform", "DER", "-in", "signer.der", "-pubkey", "-noout", "-out",
               "pub.pem").returncode == 0  # fmt: skip
    result = run(
        "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "attrs.der",
        "-sigfile", "sig.der", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout


def test_qpdf_finds_no_structural_error(sealed: bytes, tmp_path: Path) -> None:
    if not shutil.which("qpdf"):
        pytest.skip("qpdf is not installed")
    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    result = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- check_pdf_sm2


def test_sealed_pdf_is_valid(sealed: bytes, pki: Pki) -> None:
    check = check_pdf_sm2(sealed, trust_roots=[pki.root])
    assert check.code is VerdictCode.VALID, check.detail
    assert check.trusted
    assert check.signer is not None and AUTHORITY.name in check.signer
    assert check.signed_at == NOW
    assert check.signed_revision_sha256 is not None


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def test_a_flipped_byte_is_a_digest_mismatch(sealed: bytes, pki: Pki) -> None:
    stream = sealed.index(b"stream", 2000) + 40  # inside a content stream: still parses
    for offset in (stream, len(sealed) - 30):  # and in the trailer: no longer parses
        check = check_pdf_sm2(flip(sealed, offset), trust_roots=[pki.root])
        assert check.code is VerdictCode.DIGEST_MISMATCH, (offset, check.detail)


def test_an_appended_update_is_modification(sealed: bytes, pki: Pki) -> None:
    from pyhanko.pdf_utils.generic import pdf_string
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    writer.set_info(None)
    info = writer.trailer["/Info"].get_object()
    info["/Title"] = pdf_string("川(2024)成都市不动产权第9999999号")
    writer.update_container(info)
    out = io.BytesIO()
    writer.write(out)
    check = check_pdf_sm2(out.getvalue(), trust_roots=[pki.root])
    assert check.code is VerdictCode.MODIFIED_AFTER_SEALING, check.detail
    garbage = check_pdf_sm2(sealed + b"\n%garbage\n", trust_roots=[pki.root])
    assert garbage.code is VerdictCode.MODIFIED_AFTER_SEALING, garbage.detail


def test_an_untrusted_root(sealed: bytes, tmp_path: Path) -> None:
    other = make_pki(tmp_path)
    check = check_pdf_sm2(sealed, trust_roots=[other.root])
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail


def test_unsealed_and_unreadable(rendered: RenderedCertificate, pki: Pki) -> None:
    assert check_pdf_sm2(rendered.pdf, trust_roots=[pki.root]).code is VerdictCode.UNSEALED
    assert check_pdf_sm2(b"not a pdf", trust_roots=[pki.root]).code is VerdictCode.NOT_PDF


def test_a_forged_signature_is_invalid(sealed: bytes, pki: Pki) -> None:
    _, content = signed_parts(sealed)
    signer = content["content"]["signer_infos"][0]
    good = signer["signature"].native
    start = sealed.index(good.hex().upper().encode())
    position = start + 20  # a hex digit of r: the digest still matches
    digit = b"1" if sealed[position : position + 1] == b"0" else b"0"  # still a hex digit
    forged = sealed[:position] + digit + sealed[position + 1 :]
    check = check_pdf_sm2(forged, trust_roots=[pki.root])
    assert check.code is VerdictCode.SIGNATURE_INVALID, check.detail


def test_sealing_refuses_bad_requests(
    rendered: RenderedCertificate, sealed: bytes, pki: Pki
) -> None:
    kwargs: dict[str, Any] = {
        "signer_key": pki.key,
        "signer_cert_der": pki.cert,
        "chain_der": [pki.root],
        "seal_png": rendered.seal_png,
        "page": rendered.seal_page,
        "box": rendered.seal_box,
        "time": NOW,
    }
    with pytest.raises(SealingError, match="already signed"):
        seal_pdf_sm2(sealed, **kwargs)
    with pytest.raises(SealingError, match="does not belong"):
        seal_pdf_sm2(rendered.pdf, **(kwargs | {"signer_key": pki.root_key}))
    with pytest.raises(SealingError, match="page 7"):
        seal_pdf_sm2(rendered.pdf, **(kwargs | {"page": 7}))


# --------------------------------------------------------------------------- both OID forms


def test_a_pkcs7_form_seal_bdcert_wrote_before_still_verifies(sealed: bytes, pki: Pki) -> None:
    """Files sealed before GB/T 35275 OIDs (PKCS #7 signedData/data) keep verifying."""
    signed_bytes, _ = signed_parts(sealed)
    digest = hashes.Hash(hashes.SM3())
    digest.update(signed_bytes)
    legacy_cms = build_sm2_cms(
        digest.finalize(),
        signer_key=pki.key,
        signer_cert_der=pki.cert,
        chain_der=[pki.root],
        time=NOW,
        form="pkcs7",
    )
    legacy = with_contents(sealed, legacy_cms)
    info = cms.ContentInfo.load(cms_der(legacy))
    assert info["content_type"].dotted == "1.2.840.113549.1.7.2"
    assert info["content"]["encap_content_info"]["content_type"].dotted == "1.2.840.113549.1.7.1"
    check = check_pdf_sm2(legacy, trust_roots=[pki.root])
    assert check.code is VerdictCode.VALID, check.detail
    # a mixed CMS, data signed under one OID and declared under the other, is refused
    mixed = cms.ContentInfo.load(legacy_cms)
    mixed["content"]["encap_content_info"]["content_type"] = GM_DATA
    check = check_pdf_sm2(with_contents(sealed, mixed.dump(force=True)), trust_roots=[pki.root])
    assert check.code is VerdictCode.SIGNATURE_INVALID, check.detail
    assert "contentType" in check.detail


def test_build_sm2_cms_refuses_an_unknown_form(pki: Pki) -> None:
    with pytest.raises(SealingError, match="unknown SignedData form"):
        build_sm2_cms(
            bytes(32),
            signer_key=pki.key,
            signer_cert_der=pki.cert,
            chain_der=[],
            time=NOW,
            form="pkcs9",
        )


# --------------------------------------------------------------------------- time-stamps


class OtherValueStamper:
    """A time-stamp authority that stamps something else than it is given."""

    def __init__(self, pki: Pki) -> None:
        self.tsa = pki.tsa()

    def stamp(self, value: bytes) -> bytes:
        return self.tsa.stamp(value + b"!")


def seal(rendered: RenderedCertificate, pki: Pki, **kwargs: Any) -> bytes:
    return seal_pdf_sm2(
        rendered.pdf,
        signer_key=pki.key,
        signer_cert_der=pki.cert,
        chain_der=[pki.root],
        seal_png=rendered.seal_png,
        page=rendered.seal_page,
        box=rendered.seal_box,
        time=NOW,
        **kwargs,
    )


@pytest.fixture(scope="module")
def stamped(rendered: RenderedCertificate, pki: Pki) -> bytes:
    return seal(rendered, pki, timestamper=pki.tsa(clock=lambda: NOW + timedelta(seconds=2)))


def test_a_time_stamped_seal_verifies_20_years_ahead(stamped: bytes, pki: Pki) -> None:
    now = check_pdf_sm2(stamped, trust_roots=[pki.root])
    assert now.code is VerdictCode.VALID, now.detail
    later = check_pdf_sm2(stamped, trust_roots=[pki.root], at=LATER)
    assert later.code is VerdictCode.VALID, later.detail
    assert later.signed_at == NOW + timedelta(seconds=2)  # the time-stamp's time, not the claim


def test_an_unstamped_seal_is_untrusted_once_its_certificate_expired(
    sealed: bytes, pki: Pki
) -> None:
    assert check_pdf_sm2(sealed, trust_roots=[pki.root], at=NOW).code is VerdictCode.VALID
    check = check_pdf_sm2(sealed, trust_roots=[pki.root], at=LATER)
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
    assert "expired" in check.detail and "no time-stamp" in check.detail


def test_the_time_stamp_token_is_in_the_unsigned_attributes(stamped: bytes) -> None:
    _, content = signed_parts(stamped)
    signer = content["content"]["signer_infos"][0]
    (attribute,) = list(signer["unsigned_attrs"])
    assert attribute["type"].dotted == "1.2.840.113549.1.9.16.2.14"  # id-aa-timeStampToken
    token = attribute["values"][0]
    assert token["content_type"].dotted == "1.2.840.113549.1.7.2"
    tst = token["content"]["encap_content_info"]
    assert tst["content_type"].dotted == "1.2.840.113549.1.9.16.1.4"  # id-ct-TSTInfo
    imprint = tst["content"].parsed["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    digest = hashes.Hash(hashes.SM3())
    digest.update(signer["signature"].native)
    assert imprint["hashed_message"].native == digest.finalize()


def test_a_time_stamp_over_another_value_is_invalid(
    rendered: RenderedCertificate, pki: Pki
) -> None:
    data = seal(rendered, pki, timestamper=OtherValueStamper(pki))
    check = check_pdf_sm2(data, trust_roots=[pki.root])
    assert check.code is VerdictCode.SIGNATURE_INVALID, check.detail
    assert "over another value" in check.detail


def test_a_time_stamp_from_an_untrusted_authority_is_invalid(
    rendered: RenderedCertificate, pki: Pki, tmp_path: Path
) -> None:
    other = make_pki(tmp_path)
    data = seal(rendered, pki, timestamper=other.tsa())
    check = check_pdf_sm2(data, trust_roots=[pki.root])
    assert check.code is VerdictCode.SIGNATURE_INVALID, check.detail
    assert "time-stamp authority" in check.detail


def test_a_time_stamp_after_the_certificate_expired_does_not_help(
    rendered: RenderedCertificate, pki: Pki
) -> None:
    """A token made after the seal certificate's expiry shows the seal may have been made
    then: judged at its time, the certificate had expired."""
    late = pki.tsa(clock=lambda: NOW + timedelta(days=4 * 365))
    data = seal(rendered, pki, timestamper=late)
    check = check_pdf_sm2(data, trust_roots=[pki.root], at=LATER)
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
    assert "at its time-stamp" in check.detail


def test_the_time_stamp_authority_is_asked_once_a_seal(
    rendered: RenderedCertificate, pki: Pki
) -> None:
    """The room for the token is measured once per authority, not with a token for each seal."""

    class Counting:
        def __init__(self) -> None:
            self.tsa, self.calls = pki.tsa(), 0

        def stamp(self, value: bytes) -> bytes:
            self.calls += 1
            return self.tsa.stamp(value)

    counting = Counting()
    for _ in range(3):
        data = seal(rendered, pki, timestamper=counting)
        assert check_pdf_sm2(data, trust_roots=[pki.root], at=LATER).code is VerdictCode.VALID
    assert counting.calls == 1 + 3


def test_a_claimed_time_after_the_time_stamp_is_invalid(
    rendered: RenderedCertificate, pki: Pki
) -> None:
    early = pki.tsa(clock=lambda: NOW - timedelta(hours=1))
    check = check_pdf_sm2(seal(rendered, pki, timestamper=early), trust_roots=[pki.root])
    assert check.code is VerdictCode.SIGNATURE_INVALID, check.detail
    assert "after the time-stamp" in check.detail


def tsa_expiry(pki: Pki) -> datetime:
    from asn1crypto import x509

    expiry: datetime = x509.Certificate.load(pki.tsa_cert).not_valid_after
    return expiry


def test_a_validation_time_before_the_time_stamp_is_refused(stamped: bytes, pki: Pki) -> None:
    """The seal did not exist yet: 'verify --at' before it was made is not VALID."""
    check = check_pdf_sm2(stamped, trust_roots=[pki.root], at=NOW - timedelta(days=2 * 365))
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
    assert "before the seal's time-stamp" in check.detail and "did not exist yet" in check.detail


def test_the_time_stamp_authority_must_be_valid_at_the_validation_time(
    stamped: bytes, pki: Pki
) -> None:
    """Once the time-stamp authority's certificate has expired, its evidence no longer holds."""
    just_before = tsa_expiry(pki) - timedelta(days=1)
    assert check_pdf_sm2(stamped, trust_roots=[pki.root], at=just_before).code is (
        VerdictCode.VALID
    )
    check = check_pdf_sm2(stamped, trust_roots=[pki.root], at=tsa_expiry(pki) + timedelta(days=1))
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
    assert "time-stamp authority" in check.detail and "expired" in check.detail
