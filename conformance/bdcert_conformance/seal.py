"""Contract tests for :class:`bdcert.protocols.SealProvider` implementations (PAdES seals).

Subclass :class:`SealProviderContract` and provide three fixtures::

    import pytest
    from bdcert.model import Authority
    from bdcert_conformance.seal import SealProviderContract

    class TestMySeals(SealProviderContract):
        @pytest.fixture
        def seal_provider(self):
            return MySealProvider(...)          # the object your factory returns

        @pytest.fixture
        def authority(self):
            return Authority(code="510100", name="成都市不动产登记中心", province_abbr="川",
                             place_name="成都市", credit_code="12510100MB1C7A3X2H",
                             division_code="510100")

        @pytest.fixture
        def trust_roots_pem(self):
            return [Path("pki/root.cert.pem").read_bytes()]   # what your seals chain to

The contract renders a real certificate (bdcert's :class:`~bdcert.render.Renderer`, the default
fonts), seals it through ``seal_provider.seal_pdf`` with a :class:`~bdcert.protocols.SealRequest`
whose signing time is in the past, and checks the result with pyHanko's validator and bdcert's
own seal check: what every certificate seal must be (rule articles 3, 7), whichever key signs it.
A provider built on :class:`bdcert.DigestSealProvider` passes by construction once its
certificate chain and digest signatures are right.

Each check is also a plain function (``check_*``) that raises :class:`AssertionError`, so a
vendor can run it on a PDF made any other way.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import pytest

from bdcert.errors import SealingError
from bdcert.model import CHINA_TZ, Authority, CertificateKind, FaceItem, VerdictCode
from bdcert.protocols import SealProvider, SealRequest

__all__ = [
    "SIGNING_TIME",
    "SealProviderContract",
    "check_bdcert_accepts",
    "check_chains_to_trust_roots",
    "check_docmdp_lock",
    "check_one_signature_covering_the_file",
    "check_signer_certificate_pem",
    "check_signing_time",
    "check_visible_seal",
    "render_certificate",
]

#: The signing time the contract asks for, in the past: a provider must seal with the time it is
#: asked for (the certificate's issue time, which the face prints), never its own clock.
SIGNING_TIME = datetime(2024, 5, 6, 10, 30, tzinfo=CHINA_TZ)

UNKNOWN_AUTHORITY = Authority(
    code="659999",
    name="不存在的不动产登记中心",
    province_abbr="新",
    place_name="不存在市",
    credit_code="12659999MB00000000",
    division_code="659999",
)


@functools.lru_cache(maxsize=8)
def render_certificate(authority: Authority) -> tuple[bytes, SealRequest]:
    """An unsealed one-page property certificate of ``authority`` and the request to seal it
    (the seal box and picture bdcert's renderer reserved, :data:`SIGNING_TIME`); cached."""
    from bdcert.fonts import default_font_config
    from bdcert.render import Renderer

    number = f"{authority.province_abbr}(2024){authority.place_name}不动产权第0000001号"
    face = (
        FaceItem("zh", "证号", number),
        FaceItem("qlr", "权利人", "王晓明"),
        FaceItem("gyqk", "共有情况", "单独所有"),
        FaceItem("zl", "坐落", f"{authority.place_name}锦江区东大街199号1栋1单元10层1001号"),
        FaceItem("bdcdyh", "不动产单元号", "510104001001GB00001F00010001"),
        FaceItem("qllx", "权利类型", "国有建设用地使用权/房屋所有权"),
        FaceItem("yt", "用途", "城镇住宅用地/住宅"),
    )
    rendered = Renderer(default_font_config()).render(
        kind=CertificateKind.PROPERTY_CERTIFICATE,
        face=face,
        verification_url="https://verify.bdcert.invalid/v/conformance",
        authority=authority,
        licence_id="1.2.156.3005.2.11100000000000000X.510100.20240000001.001.0",
        attached_plan=None,
    )
    return rendered.pdf, rendered.seal_request(authority, SIGNING_TIME)


# --------------------------------------------------------------------------- the checks


def _signatures(pdf: bytes) -> list[Any]:
    """The signatures of the file, document timestamps (PAdES B-LTA) left out."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    return list(PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures)


def _the_signature(pdf: bytes) -> Any:
    sigs = _signatures(pdf)
    assert len(sigs) == 1, f"expected exactly one signature, found {len(sigs)}"
    return sigs[0]


def _lta_updates_only(sig: Any) -> bool:
    """Whether everything after the seal's revision is PAdES validation data and document
    timestamps (pyHanko's modification analysis), the last timestamp covering the file."""
    from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, DiffResult, ModificationLevel

    stamps = list(sig.reader.embedded_timestamp_signatures)
    if not stamps:
        return False
    sig.compute_integrity_info(diff_policy=DEFAULT_DIFF_POLICY)
    diff = sig.diff_result
    _, _, c, d = (int(x) for x in stamps[-1].sig_object["/ByteRange"])
    whole = c + d == len(sig.reader.stream.getvalue())
    return (
        isinstance(diff, DiffResult)
        and diff.modification_level <= ModificationLevel.LTA_UPDATES
        and whole
    )


def check_one_signature_covering_the_file(pdf: bytes) -> None:
    """Exactly one signature, whose ``/ByteRange`` covers every byte of the file except its own
    ``/Contents`` hex string — or, at PAdES B-LT/B-LTA, every byte of the seal's revision,
    followed only by validation data and document timestamps, the last one covering the file.
    :raises AssertionError:"""
    sig = _the_signature(pdf)
    start, first_len, second_start, second_len = (int(x) for x in sig.sig_object["/ByteRange"])
    assert start == 0, f"/ByteRange starts at {start}, not at the beginning of the file"
    assert second_start + second_len == len(pdf) or _lta_updates_only(sig), (
        f"/ByteRange ends at {second_start + second_len}, the file has {len(pdf)} bytes"
    )
    gap = pdf[first_len:second_start]
    assert gap.startswith(b"<") and gap.endswith(b">"), "/ByteRange leaves out more than /Contents"
    assert all(c in b"0123456789abcdefABCDEF" for c in gap[1:-1]), "the gap is not /Contents"


def check_visible_seal(pdf: bytes, request: SealRequest) -> None:
    """The signature's widget is on ``request.page`` at ``request.box`` (±0.5 pt), not hidden,
    with a non-empty normal appearance that draws a picture. :raises AssertionError:"""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf))
    (sig,) = reader.embedded_regular_signatures
    field = sig.sig_field
    rect = [float(x) for x in field.get("/Rect", [0, 0, 0, 0])]
    assert all(abs(a - b) <= 0.5 for a, b in zip(rect, request.box, strict=True)), (
        f"the seal widget is at {rect}, the request asked for {list(request.box)}"
    )
    assert rect[2] > rect[0] and rect[3] > rect[1], "the seal widget has no area (invisible)"
    flags = int(field.get("/F", 0))
    assert not flags & (2 | 32), "the seal widget is hidden (/F Hidden or NoView)"
    page, _ = reader.find_page_for_modification(request.page)
    annots = page.get_object().get("/Annots", [])
    names = [a.get_object().get("/T") for a in annots]
    assert sig.field_name in names, (
        f"the seal widget {sig.field_name!r} is not on page {request.page} (index from 0)"
    )
    assert "/AP" in field, "the seal widget has no appearance"
    appearance = field["/AP"]["/N"].get_object()
    assert appearance.data.strip(), "the seal widget's appearance stream is empty"
    resources = appearance.get("/Resources", {})
    assert "/XObject" in resources, "the seal widget's appearance draws no picture"


def check_docmdp_lock(pdf: bytes) -> None:
    """The seal is a certification signature locking the document: DocMDP ``/P 1`` (no changes
    allowed), referenced from the catalogue's ``/Perms``. :raises AssertionError:"""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import MDPPerm

    reader = PdfFileReader(io.BytesIO(pdf))
    (sig,) = reader.embedded_regular_signatures
    assert sig.docmdp_level == MDPPerm.NO_CHANGES, (
        f"the seal's DocMDP permission is {sig.docmdp_level}, not 1 (no changes allowed)"
    )
    perms = reader.root.get("/Perms", {})
    assert "/DocMDP" in perms, "the catalogue has no /Perms /DocMDP: not a certification seal"


def check_signing_time(pdf: bytes, expected: datetime) -> None:
    """The signing time the seal claims is ``expected`` (compared as instants): the signature
    dictionary's ``/M``, and the CMS signing-time attribute when there is one (PAdES B-B leaves
    it out and puts the time in ``/M`` alone, ETSI EN 319 142-1 §5.3). :raises AssertionError:"""
    from pyhanko.pdf_utils.generic import parse_pdf_date
    from pyhanko.sign.general import NonexistentAttributeError, find_unique_cms_attribute

    sig = _the_signature(pdf)
    assert "/M" in sig.sig_object, "the signature dictionary has no /M (signing time)"
    claimed = parse_pdf_date(sig.sig_object["/M"])
    assert claimed == expected, f"/M is {claimed.isoformat()}, expected {expected.isoformat()}"
    try:
        cms_time = find_unique_cms_attribute(sig.signer_info["signed_attrs"], "signing_time")
    except NonexistentAttributeError:
        return
    assert cms_time.native == expected, (
        f"the CMS signing time is {cms_time.native.isoformat()}, expected {expected.isoformat()}"
    )


def check_chains_to_trust_roots(pdf: bytes, trust_roots: Sequence[bytes]) -> None:
    """pyHanko's validator (no fetching): intact, the signature verifies, the signer chains to
    one of ``trust_roots`` (PEM or DER), and the signature covers the entire file.
    :raises AssertionError:"""
    from pyhanko.keys import load_certs_from_pemder_data
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    roots = [c for pem in trust_roots for c in load_certs_from_pemder_data(pem)]
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    status = validate_pdf_signature(_the_signature(pdf), context)
    assert status.intact, "the signed bytes were changed (digest mismatch)"
    assert status.valid, "the signature does not verify against the signer's key"
    assert status.trusted, f"the signer does not chain to the trust roots: {status.summary()}"
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE or _lta_updates_only(
        _the_signature(pdf)
    ), f"the signature covers {status.coverage}, not the entire file"


def check_bdcert_accepts(pdf: bytes, trust_roots: Sequence[bytes], expected: datetime) -> None:
    """bdcert's own seal check (the one ``bdcert verify`` runs) says ``VALID`` with no finding
    on the seal's form (visible, certification lock) and reads the signing time ``expected``.
    :raises AssertionError:"""
    from bdcert.verify.pades import check_pdf_seal

    check = check_pdf_seal(pdf, trust_roots)
    assert check.code is VerdictCode.VALID, f"bdcert's seal check: {check.code}: {check.detail}"
    assert not check.form, "bdcert finds the seal's form wrong: " + "; ".join(
        f"{f.code}: {f.detail}" for f in check.form
    )
    assert check.signed_at == expected, f"bdcert reads the signing time {check.signed_at}"


def check_signer_certificate_pem(pdf: bytes, pem: bytes) -> None:
    """``pem`` is PEM bytes of one certificate, the one that signed ``pdf``.
    :raises AssertionError:"""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    assert isinstance(pem, bytes), f"signer_certificate_pem returned {type(pem).__name__}"
    assert pem.lstrip().startswith(b"-----BEGIN CERTIFICATE-----"), "not PEM"
    assert pem.count(b"-----BEGIN") == 1, "more than one PEM block: the certificate alone"
    certificate = x509.load_pem_x509_certificate(pem)
    signer = _the_signature(pdf).signer_cert
    assert certificate.public_bytes(serialization.Encoding.DER) == signer.dump(), (
        "signer_certificate_pem is not the certificate that signed the seal"
    )


# --------------------------------------------------------------------------- the contract


class SealProviderContract:
    """Subclass and provide ``seal_provider`` (the provider object), ``authority`` (an
    :class:`~bdcert.model.Authority` it has a seal key for) and ``trust_roots_pem`` (root
    certificates its seals chain to, PEM or DER bytes)."""

    @pytest.fixture
    def certificate(self, authority: Authority) -> tuple[bytes, SealRequest]:
        return render_certificate(authority)

    @pytest.fixture
    def sealed(self, seal_provider: Any, certificate: tuple[bytes, SealRequest]) -> bytes:
        pdf, request = certificate
        result = seal_provider.seal_pdf(pdf, request)
        assert isinstance(result, bytes), f"seal_pdf returned {type(result).__name__}"
        return result

    def test_is_a_seal_provider(self, seal_provider: Any) -> None:
        assert isinstance(seal_provider, SealProvider)
        assert isinstance(seal_provider.name, str) and seal_provider.name

    def test_one_signature_covers_the_whole_file(self, sealed: bytes) -> None:
        check_one_signature_covering_the_file(sealed)

    def test_the_seal_is_visible_at_the_requested_box(
        self, sealed: bytes, certificate: tuple[bytes, SealRequest]
    ) -> None:
        check_visible_seal(sealed, certificate[1])

    def test_the_seal_locks_the_document(self, sealed: bytes) -> None:
        check_docmdp_lock(sealed)

    def test_the_signing_time_is_the_requested_one(
        self, sealed: bytes, certificate: tuple[bytes, SealRequest]
    ) -> None:
        request = certificate[1]
        assert request.signing_time is not None
        check_signing_time(sealed, request.signing_time)

    def test_the_signer_chains_to_the_trust_roots(
        self, sealed: bytes, trust_roots_pem: Sequence[bytes]
    ) -> None:
        check_chains_to_trust_roots(sealed, trust_roots_pem)

    def test_bdcert_verifies_the_seal(
        self, sealed: bytes, trust_roots_pem: Sequence[bytes]
    ) -> None:
        check_bdcert_accepts(sealed, trust_roots_pem, SIGNING_TIME)

    def test_signer_certificate_pem_is_the_signer(
        self, sealed: bytes, seal_provider: Any, authority: Authority
    ) -> None:
        check_signer_certificate_pem(sealed, seal_provider.signer_certificate_pem(authority.code))

    def test_an_unknown_authority_is_a_sealing_error(
        self, seal_provider: Any, certificate: tuple[bytes, SealRequest]
    ) -> None:
        pdf, request = certificate
        unknown = attrs.evolve(request, authority=UNKNOWN_AUTHORITY)
        with pytest.raises(SealingError):
            seal_provider.seal_pdf(pdf, unknown)
        with pytest.raises(SealingError):
            seal_provider.signer_certificate_pem(UNKNOWN_AUTHORITY.code)
