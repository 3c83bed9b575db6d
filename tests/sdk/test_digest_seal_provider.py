"""A vendor's seal provider written on :class:`bdcert.DigestSealProvider`: two methods (the
certificate chain, a signature of a digest) give a complete PAdES seal.

Checked with tools that share no code with bdcert: poppler's ``pdfsig`` (NSS, trusting the
demo root in an NSS database) and pyHanko's validator.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

import bdcert
from bdcert.demo_pki import DemoPki, make_demo_pki
from bdcert.errors import SealingError
from bdcert.model import CHINA_TZ, Authority, VerdictCode
from bdcert.protocols import Closable, DigestSigner, OfdSealer, SealProvider, SignerSource
from bdcert.signatures import check_pdf_seal
from tests.support import pdfsig_trusting

AUTHORITY = Authority(
    code="510100",
    name="成都市不动产登记中心",
    province_abbr="川",
    place_name="成都市",
    credit_code="12510100MB1C7A3X2H",
    division_code="510100",
)
REQUEST_TIME = datetime(2024, 5, 6, 10, 30, tzinfo=CHINA_TZ)
BOX = (380.0, 50.0, 500.0, 170.0)


class KeyElsewhere(bdcert.DigestSealProvider):
    """What a vendor writes: the key could be in an HSM or a provincial platform."""

    name = "key-elsewhere"

    def __init__(self, pki: DemoPki) -> None:
        super().__init__()
        files = pki.seal[AUTHORITY.code]
        self._key = serialization.load_pem_private_key(files.key.read_bytes(), None)
        self._chain = [files.cert.read_bytes(), pki.root_cert.read_bytes()]
        self.digests_signed = 0

    def certificate_chain(self, authority_code: str) -> Sequence[bytes]:
        if authority_code != AUTHORITY.code:
            raise SealingError(f"no seal for {authority_code}")
        return self._chain

    def sign_digest(self, authority_code: str, digest: bytes, digest_algorithm: str) -> bytes:
        assert isinstance(self._key, ec.EllipticCurvePrivateKey)
        assert digest_algorithm == "sha256"
        self.digests_signed += 1
        return self._key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return make_demo_pki(tmp_path_factory.mktemp("pki"), [AUTHORITY])


@pytest.fixture(scope="module")
def provider(pki: DemoPki) -> KeyElsewhere:
    return KeyElsewhere(pki)


@pytest.fixture(scope="module")
def sealed(provider: KeyElsewhere, plain_pdf: bytes, seal_png: bytes) -> bytes:
    request = bdcert.SealRequest(
        authority=AUTHORITY,
        page=0,
        box=BOX,
        appearance_png=seal_png,
        location="成都市",
        signing_time=REQUEST_TIME,
    )
    return provider.seal_pdf(plain_pdf, request)


def test_the_provider_declares_its_capabilities(provider: KeyElsewhere) -> None:
    assert isinstance(provider, SealProvider)
    assert isinstance(provider, DigestSigner)
    assert isinstance(provider, SignerSource)
    assert isinstance(provider, Closable)
    assert not isinstance(provider, OfdSealer)


def test_a_subclass_must_say_where_its_key_is() -> None:
    with pytest.raises(TypeError, match="certificate_chain and sign_digest"):

        class Nothing(bdcert.DigestSealProvider):
            def certificate_chain(self, authority_code: str) -> Sequence[bytes]:
                return []


def test_pdfsig_trusts_the_seal_through_an_nss_database(
    sealed: bytes, pki: DemoPki, tmp_path: Path
) -> None:
    report = pdfsig_trusting(pki.root_cert, sealed, tmp_path)
    assert "Signature is Valid" in report
    assert "Certificate is Trusted" in report, report
    assert "Total document signed" in report
    assert "ETSI.CAdES.detached" in report
    assert report.count("Signature #") == 1


def test_pyhanko_validates_a_visible_certification_seal_at_the_request_time(
    sealed: bytes, pki: DemoPki, provider: KeyElsewhere
) -> None:
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import MDPPerm
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(sealed))
    (sig,) = reader.embedded_signatures
    context = ValidationContext(
        trust_roots=[load_cert_from_pemder(str(pki.root_cert))], allow_fetching=False
    )
    status = validate_pdf_signature(sig, context)
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES B-B
    # the DocMDP certification lock: no changes allowed
    assert sig.docmdp_level == MDPPerm.NO_CHANGES
    # signing time = the request's time, in /M and in the CMS signed attributes
    assert status.signer_reported_dt == REQUEST_TIME
    assert str(sig.sig_object["/M"]).startswith("D:20240506103000+08")
    # the seal is visible at the requested box, with a non-empty appearance
    widget = sig.sig_field
    rect = [float(x) for x in widget["/Rect"]]
    assert rect == list(BOX)
    appearance = widget["/AP"]["/N"].get_object()
    assert appearance.data.strip()
    assert "/XObject" in appearance["/Resources"]
    # /Contents sized from a dry run: the signature fits with little room to spare
    contents = bytes(sig.sig_object["/Contents"])
    signature = len(contents.rstrip(b"\0"))
    assert signature < len(contents) < signature + 1024
    # one digest signed per seal (the dry run asks nobody)
    assert provider.digests_signed >= 1


def test_our_check_agrees_and_the_certificate_is_pem(
    sealed: bytes, pki: DemoPki, provider: KeyElsewhere
) -> None:
    check = check_pdf_seal(sealed, [pki.root_cert.read_bytes()])
    assert check.code is VerdictCode.VALID, check.detail
    assert check.signed_at == REQUEST_TIME
    pem = provider.signer_certificate_pem(AUTHORITY.code)
    assert pem == pki.seal[AUTHORITY.code].cert.read_bytes()
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_an_unknown_authority_is_a_sealing_error(
    provider: KeyElsewhere, plain_pdf: bytes, seal_png: bytes
) -> None:
    other = Authority(
        code="510700",
        name="绵阳市不动产登记中心",
        province_abbr="川",
        place_name="绵阳市",
        credit_code="12510700MB0000000X",
        division_code="510700",
    )
    request = bdcert.SealRequest(authority=other, page=0, box=BOX, appearance_png=seal_png)
    with pytest.raises(SealingError, match="510700"):
        provider.seal_pdf(plain_pdf, request)
