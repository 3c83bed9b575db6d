"""Sealing (PAdES) and the storage-independent seal check, verified with independent tools.

Independent checks: poppler's ``pdfsig`` (NSS), pyHanko's validator and ``openssl verify``.
Everything is written under ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bdcert.demo_pki import DEMO_ROOT_NAME, DemoPki, make_demo_pki
from bdcert.errors import ConfigurationError, SealingError
from bdcert.model import CHINA_TZ, Authority, VerdictCode
from bdcert.protocols import SealProvider, SealRequest
from bdcert.signatures import check_pdf_seal
from bdcert_plugins import seal_software
from bdcert_plugins.seal_software import SoftwareSealProvider
from tests.support import pdfsig_trusting, require_tool, run_tool

AUTHORITY = Authority(
    code="510100",
    name="成都市不动产登记中心",
    province_abbr="川",
    place_name="成都市",
    credit_code="12510100MB1C7A3X2H",
    division_code="510100",
)
SIGNING_TIME = datetime(2024, 5, 6, 10, 30, tzinfo=CHINA_TZ)
BOX = (400.0, 60.0, 520.0, 180.0)
P12_PASSPHRASE = "p12-Secret-不会出现-7f3a"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="module")
def pki(workspace: Path) -> DemoPki:
    return make_demo_pki(
        workspace / "pki", [AUTHORITY], p12_passphrase=P12_PASSPHRASE.encode("utf-8")
    )


@pytest.fixture(scope="module")
def root_pem(pki: DemoPki) -> bytes:
    return pki.root_cert.read_bytes()


@pytest.fixture(scope="module")
def request_(seal_png: bytes) -> SealRequest:
    return SealRequest(
        authority=AUTHORITY,
        page=0,
        box=BOX,
        appearance_png=seal_png,
        location="成都市",
        signing_time=SIGNING_TIME,
    )


def pem_settings() -> dict[str, Any]:
    return {
        "plugin": "software",
        "authorities": {
            "510100": {
                "key": "pki/510100.key.pem",
                "cert": "pki/510100.cert.pem",
                "chain": ["pki/root.cert.pem"],
            }
        },
    }


def p12_settings() -> dict[str, Any]:
    return {
        "authorities": {
            "510100": {"p12": "pki/510100.p12", "passphrase_env": "BDCERT_TEST_P12_PASSPHRASE"}
        }
    }


@pytest.fixture(scope="module")
def provider(pki: DemoPki, workspace: Path) -> SoftwareSealProvider:
    return SoftwareSealProvider.from_settings(pem_settings(), workspace)


@pytest.fixture(scope="module")
def sealed(provider: SoftwareSealProvider, plain_pdf: bytes, request_: SealRequest) -> bytes:
    return provider.seal_pdf(plain_pdf, request_)


def byte_range(pdf: bytes) -> tuple[int, int, int, int]:
    import re

    m = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert m is not None
    a, b, c, d = (int(x) for x in m.groups())
    return a, b, c, d


# --------------------------------------------------------------------------- demo PKI


def test_demo_pki_writes_keys_private_and_certificates_that_verify(pki: DemoPki) -> None:
    files = pki.seal["510100"]
    for private in (pki.root_key, files.key, files.p12):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert files.key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8

    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    root = x509.load_pem_x509_certificate(pki.root_cert.read_bytes())
    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEMO_ROOT_NAME
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == AUTHORITY.name
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == AUTHORITY.name
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == AUTHORITY.credit_code
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "CN"
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.content_commitment and not ku.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert timedelta(days=1090) < lifetime < timedelta(days=1100)
    assert cert.not_valid_before_utc < datetime.now(UTC) - timedelta(hours=23)


def test_openssl_verifies_the_seal_certificate_against_the_root(pki: DemoPki) -> None:
    require_tool("openssl")
    result = run_tool("openssl", "verify", "-CAfile", pki.root_cert, pki.seal["510100"].cert)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(": OK")


def test_openssl_opens_the_pkcs12_bundle(pki: DemoPki) -> None:
    require_tool("openssl")
    result = run_tool(
        "openssl", "pkcs12", "-in", pki.seal["510100"].p12, "-nokeys",
        "-passin", f"pass:{P12_PASSPHRASE}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("BEGIN CERTIFICATE") == 2  # seal certificate + root


# --------------------------------------------------------------------------- sealing


@pytest.fixture(params=["pem", "p12"])
def any_provider(
    request: pytest.FixtureRequest,
    pki: DemoPki,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> SoftwareSealProvider:
    if request.param == "pem":
        return SoftwareSealProvider.from_settings(pem_settings(), workspace)
    monkeypatch.setenv("BDCERT_TEST_P12_PASSPHRASE", P12_PASSPHRASE)
    return SoftwareSealProvider.from_settings(p12_settings(), workspace)


def test_sealed_pdf_passes_pdfsig_pyhanko_and_our_check(
    any_provider: SoftwareSealProvider,
    plain_pdf: bytes,
    request_: SealRequest,
    root_pem: bytes,
    pki: DemoPki,
    tmp_path: Path,
) -> None:
    assert isinstance(any_provider, SealProvider)
    pdf = any_provider.seal_pdf(plain_pdf, request_)
    path = tmp_path / "sealed.pdf"
    path.write_bytes(pdf)

    # poppler (NSS): the signature value verifies and covers the whole document
    require_tool("pdfsig")
    out = run_tool("pdfsig", "-nocert", path)
    assert out.returncode == 0, out.stderr
    assert "Signature is Valid" in out.stdout
    assert "Total document signed" in out.stdout
    assert "ETSI.CAdES.detached" in out.stdout
    assert out.stdout.count("Signature #") == 1

    # qpdf: the structure is sound
    if shutil.which("qpdf"):
        assert run_tool("qpdf", "--check", path).returncode == 0

    # pyHanko: intact, valid, trusted, whole file, certification with no changes allowed
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import MDPPerm
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(pdf))
    (sig,) = reader.embedded_signatures
    assert sig.field_name == "bdcert-seal"
    context = ValidationContext(
        trust_roots=[load_cert_from_pemder(str(pki.root_cert))], allow_fetching=False
    )
    status = validate_pdf_signature(sig, context)
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.md_algorithm == "sha256"
    assert sig.docmdp_level == MDPPerm.NO_CHANGES
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert status.signer_reported_dt == SIGNING_TIME
    assert str(sig.sig_object["/Location"]) == "成都市"

    # our own check
    check = check_pdf_seal(pdf, [root_pem])
    assert check.code is VerdictCode.VALID, check.detail
    assert check.trusted
    assert check.signed_at == SIGNING_TIME
    assert check.signer is not None and AUTHORITY.name in check.signer
    assert AUTHORITY.credit_code in check.signer
    assert check.signed_revision_sha256 == hashlib.sha256(pdf).hexdigest()


def test_pdfsig_trusts_the_seal_through_an_nss_database(
    sealed: bytes, pki: DemoPki, tmp_path: Path
) -> None:
    report = pdfsig_trusting(pki.root_cert, sealed, tmp_path)
    assert "Signature is Valid" in report
    assert "Certificate is Trusted" in report, report


def test_the_seal_picture_is_drawn_in_the_box(sealed: bytes, tmp_path: Path) -> None:
    require_tool("pdftoppm")
    from PIL import Image

    path = tmp_path / "sealed.pdf"
    path.write_bytes(sealed)
    assert (
        run_tool("pdftoppm", "-r", "72", "-png", "-singlefile", path, tmp_path / "page").returncode
        == 0
    )
    page = Image.open(tmp_path / "page.png").convert("RGB")
    x1, y1, x2, y2 = BOX
    height = page.height

    def pixel(x: float, y: float) -> tuple[int, int, int]:
        value = page.getpixel((round(x), round(height - y)))
        assert isinstance(value, tuple)
        return value[0], value[1], value[2]

    r, g, b = pixel((x1 + x2) / 2, (y1 + y2) / 2)
    assert r > 180 and g < 60 and b < 60  # red centre of the disc
    assert pixel(x1 + 2, y2 - 2) == (255, 255, 255)  # transparent corner shows the page


def test_sealing_twice_with_one_provider_reuses_the_signer(
    provider: SoftwareSealProvider, plain_pdf: bytes, request_: SealRequest, root_pem: bytes
) -> None:
    first = provider.seal_pdf(plain_pdf, request_)
    signer = provider.signer_for("510100")
    second = provider.seal_pdf(plain_pdf, attr_evolve(request_, signing_time=None))
    assert provider.signer_for("510100") is signer
    assert check_pdf_seal(first, [root_pem]).code is VerdictCode.VALID
    assert check_pdf_seal(second, [root_pem]).code is VerdictCode.VALID


def test_sealing_and_checking_work_inside_a_running_event_loop(
    provider: SoftwareSealProvider, plain_pdf: bytes, request_: SealRequest, root_pem: bytes
) -> None:
    import asyncio

    async def handler() -> VerdictCode:  # e.g. an async web framework's request handler
        pdf = provider.seal_pdf(plain_pdf, request_)
        return check_pdf_seal(pdf, [root_pem]).code

    assert asyncio.run(handler()) is VerdictCode.VALID


def attr_evolve(request: SealRequest, **changes: Any) -> SealRequest:
    import attrs

    return attrs.evolve(request, **changes)


def test_signer_certificate_pem_is_the_seal_certificate(
    provider: SoftwareSealProvider, pki: DemoPki
) -> None:
    assert provider.signer_certificate_pem("510100") == pki.seal["510100"].cert.read_bytes()


def test_registered_through_the_hook() -> None:
    from bdcert.plugins import Hooks, make_plugin_manager

    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(seal_software)
    factory = Hooks(pm).seal_providers().get("software")
    assert factory == SoftwareSealProvider.from_settings
    assert SoftwareSealProvider.name == "software"


# --------------------------------------------------------------------------- settings and errors


def test_passphrase_never_in_repr_or_errors(
    pki: DemoPki, workspace: Path, monkeypatch: pytest.MonkeyPatch, plain_pdf: bytes
) -> None:
    monkeypatch.setenv("BDCERT_TEST_P12_PASSPHRASE", P12_PASSPHRASE)
    provider = SoftwareSealProvider.from_settings(p12_settings(), workspace)
    provider.signer_certificate_pem("510100")  # loaded
    for text in (
        repr(provider),
        str(provider),
        repr(provider._keys),
        repr(provider.loaded_signer("510100")),
    ):
        assert P12_PASSPHRASE not in text
    assert "510100" in repr(provider)

    monkeypatch.setenv("BDCERT_TEST_P12_PASSPHRASE", P12_PASSPHRASE + "-wrong")
    wrong = SoftwareSealProvider.from_settings(p12_settings(), workspace)
    with pytest.raises(SealingError) as info:
        wrong.signer_certificate_pem("510100")
    assert P12_PASSPHRASE not in str(info.value)
    assert "passphrase" in str(info.value)

    monkeypatch.delenv("BDCERT_TEST_P12_PASSPHRASE")
    unset = SoftwareSealProvider.from_settings(p12_settings(), workspace)
    with pytest.raises(SealingError, match="BDCERT_TEST_P12_PASSPHRASE"):
        unset.signer_certificate_pem("510100")


def test_unknown_settings_are_named(workspace: Path) -> None:
    with pytest.raises(ConfigurationError, match="passphrase"):
        SoftwareSealProvider.from_settings({**pem_settings(), "passphrase": "x"}, workspace)
    settings = pem_settings()
    settings["authorities"]["510100"]["pin"] = "1234"
    with pytest.raises(
        ConfigurationError, match=r"seal\.authorities\.510100\.pin is not a known setting"
    ):
        SoftwareSealProvider.from_settings(settings, workspace)
    with pytest.raises(ConfigurationError, match="key and cert, or p12"):
        SoftwareSealProvider.from_settings({"authorities": {"510100": {"key": "k"}}}, workspace)


def test_unknown_authority_is_a_sealing_error_naming_it(
    provider: SoftwareSealProvider, plain_pdf: bytes, request_: SealRequest
) -> None:
    other = attr_evolve(request_, authority=attr_evolve(AUTHORITY, code="510700"))
    with pytest.raises(SealingError, match="510700"):
        provider.seal_pdf(plain_pdf, other)
    with pytest.raises(SealingError, match="510700"):
        provider.signer_certificate_pem("510700")


@pytest.mark.parametrize(
    ("shift", "state"), [(timedelta(days=-4 * 365), "expired"), (timedelta(days=10), "not yet")]
)
def test_expired_or_future_seal_certificate_is_refused(
    tmp_path: Path, plain_pdf: bytes, request_: SealRequest, shift: timedelta, state: str
) -> None:
    make_demo_pki(tmp_path / "pki", [AUTHORITY], now=datetime.now(UTC) + shift)
    provider = SoftwareSealProvider.from_settings(pem_settings(), tmp_path)
    with pytest.raises(SealingError, match=state):
        provider.seal_pdf(plain_pdf, request_)


def test_missing_key_file_is_a_sealing_error(tmp_path: Path, plain_pdf: bytes) -> None:
    provider = SoftwareSealProvider.from_settings(pem_settings(), tmp_path)
    with pytest.raises(SealingError, match=r"510100\.key\.pem"):
        provider.signer_certificate_pem("510100")


def test_bad_requests_are_sealing_errors(
    provider: SoftwareSealProvider, plain_pdf: bytes, request_: SealRequest, sealed: bytes
) -> None:
    with pytest.raises(SealingError, match="page 3"):
        provider.seal_pdf(plain_pdf, attr_evolve(request_, page=3))
    with pytest.raises(SealingError, match="picture"):
        provider.seal_pdf(plain_pdf, attr_evolve(request_, appearance_png=b"not a png"))
    with pytest.raises(SealingError):
        provider.seal_pdf(b"not a pdf", request_)
    with pytest.raises(SealingError):  # already certified: no second seal
        provider.seal_pdf(sealed, attr_evolve(request_, field_name="again"))


# --------------------------------------------------------------------------- verdicts


def test_untouched_is_valid(sealed: bytes, root_pem: bytes) -> None:
    assert check_pdf_seal(sealed, [root_pem]).code is VerdictCode.VALID


def test_trust_roots_in_der_are_accepted(sealed: bytes, root_pem: bytes) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(root_pem).public_bytes(Encoding.DER)
    assert check_pdf_seal(sealed, [der]).code is VerdictCode.VALID


def flipped(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x01 if out[offset] not in b"0123456789" else 0x02
    return bytes(out)


def signed_offsets(pdf: bytes, count: int) -> list[int]:
    """``count`` offsets spread over both signed ranges, the /ByteRange numbers excluded."""
    a, b, c, d = byte_range(pdf)
    br_start = pdf.index(b"/ByteRange")
    br_end = pdf.index(b"]", br_start) + 1
    candidates = [*range(a, a + b), *range(c, c + d)]
    step = max(1, len(candidates) // count)
    return [o for o in candidates[::step] if not br_start <= o < br_end]


def test_one_byte_changed_inside_the_signed_range_is_a_digest_mismatch(
    sealed: bytes, root_pem: bytes
) -> None:
    offsets = [*signed_offsets(sealed, 60), 0, 5, len(sealed) - 1, len(sealed) - 8]
    found = {}
    for offset in offsets:
        found[offset] = check_pdf_seal(flipped(sealed, offset), [root_pem]).code
    wrong = {o: c for o, c in found.items() if c is not VerdictCode.DIGEST_MISMATCH}
    assert not wrong, wrong


def test_a_changed_signature_value_is_signature_invalid(sealed: bytes, root_pem: bytes) -> None:
    from asn1crypto import cms

    _, b, c, _ = byte_range(sealed)
    hex_contents = sealed[b + 1 : c - 1]
    der = bytes.fromhex(hex_contents.decode())
    info = cms.ContentInfo.load(der, strict=False)
    signer_info = info["content"]["signer_infos"][0]
    signature = bytearray(signer_info["signature"].native)
    signature[-1] ^= 0x01  # last byte of s: the DER stays well-formed
    signer_info["signature"] = bytes(signature)
    new_hex = info.dump(force=True).hex().encode().ljust(len(hex_contents), b"0")
    assert len(new_hex) == len(hex_contents)
    tampered = sealed[: b + 1] + new_hex + sealed[c - 1 :]
    check = check_pdf_seal(tampered, [root_pem])
    assert check.code is VerdictCode.SIGNATURE_INVALID, check.detail


def _append_update(sealed: bytes, change: str) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    if change == "page":
        page = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Page"),
                pdf_name("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (0, 0, 595, 842)]
                ),
                pdf_name("/Resources"): generic.DictionaryObject(),
            }
        )
        writer.insert_page(page)
    elif change == "annotation":
        page_ref, _ = writer.find_page_for_modification(0)
        page = page_ref.get_object()
        annot = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Text"),
                pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(n) for n in (50, 50, 80, 80)]
                ),
                pdf_name("/Contents"): generic.TextStringObject("已注销"),
            }
        )
        annots = page.get("/Annots", generic.ArrayObject())
        annots.append(writer.add_object(annot))
        page[pdf_name("/Annots")] = annots
        writer.update_container(page)
    elif change == "info":
        writer.set_info(
            generic.DictionaryObject({pdf_name("/Title"): generic.TextStringObject("篡改")})
        )
    elif change == "field":
        field = writer.root["/AcroForm"]["/Fields"][0].get_object()
        field[pdf_name("/TU")] = generic.TextStringObject("changed")
        writer.update_container(field)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize("change", ["page", "annotation", "info", "field"])
def test_an_incremental_update_is_modified_after_sealing(
    sealed: bytes, root_pem: bytes, change: str
) -> None:
    updated = _append_update(sealed, change)
    assert updated.startswith(sealed) and len(updated) > len(sealed)
    check = check_pdf_seal(updated, [root_pem])
    assert check.code is VerdictCode.MODIFIED_AFTER_SEALING, check.detail
    assert not check.trusted
    # the seal still identifies the PDF as it was sealed
    assert check.signed_revision_sha256 == hashlib.sha256(sealed).hexdigest()


@pytest.mark.parametrize("garbage", [b"\n", b"%garbage\n", os.urandom(5000)])
def test_appended_garbage_is_modified_after_sealing(
    sealed: bytes, root_pem: bytes, garbage: bytes
) -> None:
    check = check_pdf_seal(sealed + garbage, [root_pem])
    assert check.code is VerdictCode.MODIFIED_AFTER_SEALING, check.detail


def test_a_second_signature_is_multiple_signatures(
    sealed: bytes, root_pem: bytes, pki: DemoPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chosen: MULTIPLE_SIGNATURES wins over MODIFIED_AFTER_SEALING (it is the more specific)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    from bdcert.pades import load_software_signer

    # pyHanko itself refuses to sign after a no-changes certification; force it like an attacker
    monkeypatch.setattr(signers.PdfSigner, "_enforce_certification_constraints", lambda *a: None)
    files = pki.seal["510100"]
    signer = load_software_signer(files.key, files.cert, [pki.root_cert])
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sealed)),
        signers.PdfSignatureMetadata(field_name="second"),
        signer=signer,
        output=out,
    )
    check = check_pdf_seal(out.getvalue(), [root_pem])
    assert check.code is VerdictCode.MULTIPLE_SIGNATURES, check.detail


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n" + bytes(100), bytes(range(256)) * 10],
    ids=["empty", "text", "pdf-header-only", "png", "binary"],
)
def test_not_a_pdf(data: bytes, root_pem: bytes) -> None:
    check = check_pdf_seal(data, [root_pem])
    assert check.code is VerdictCode.NOT_PDF, check.detail
    assert not check.trusted


def test_unsigned_pdf_is_unsealed(plain_pdf: bytes, root_pem: bytes) -> None:
    check = check_pdf_seal(plain_pdf, [root_pem])
    assert check.code is VerdictCode.UNSEALED
    assert check.signed_revision_sha256 is None


def test_a_seal_from_another_root_is_untrusted(
    tmp_path: Path, plain_pdf: bytes, request_: SealRequest, root_pem: bytes
) -> None:
    other = make_demo_pki(tmp_path / "pki", [AUTHORITY])
    provider = SoftwareSealProvider.from_settings(pem_settings(), tmp_path)
    pdf = provider.seal_pdf(plain_pdf, request_)
    check = check_pdf_seal(pdf, [root_pem])
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
    assert not check.trusted
    assert check.signer is not None
    assert check_pdf_seal(pdf, [other.root_cert.read_bytes()]).code is VerdictCode.VALID
    assert check_pdf_seal(pdf, []).code is VerdictCode.UNTRUSTED_SIGNER


def test_hostile_mutations_never_raise_and_are_never_valid(sealed: bytes, root_pem: bytes) -> None:
    _, b, c, _ = byte_range(sealed)
    br = sealed.index(b"/ByteRange")
    mutations = {
        "truncated": sealed[: len(sealed) // 2],
        "tail-cut": sealed[:-20],
        "byterange-digit": flipped(sealed, sealed.index(b"[", br) + 3),
        "contents-nonhex": sealed[: b + 5] + b"ZZ" + sealed[b + 7 :],
        "contents-zeroed": sealed[: b + 1] + b"0" * (c - b - 2) + sealed[c - 1 :],
        "prefix": b"junk" + sealed,
        "doubled": sealed + sealed,
    }
    for name, data in mutations.items():
        check = check_pdf_seal(data, [root_pem])
        assert check.code is not VerdictCode.VALID, name
        assert not check.trusted, name


def test_bad_trust_root_is_a_configuration_error(sealed: bytes) -> None:
    with pytest.raises(ConfigurationError):
        check_pdf_seal(sealed, [b"not a certificate"])


def test_a_national_cryptography_root_makes_a_pades_seal_untrusted_not_invalid(
    tmp_path: Path, sealed: bytes, root_pem: bytes
) -> None:
    """An SM2 workspace verifying a genuine P-256 PAdES certificate: its SM2 root cannot anchor
    the seal, so it is an untrusted signer (as in any foreign workspace), never a bad signature."""
    sm2 = make_demo_pki(tmp_path / "sm2", [AUTHORITY], algorithm="sm2")
    check = check_pdf_seal(sealed, [sm2.root_cert.read_bytes()])
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
    both = check_pdf_seal(sealed, [sm2.root_cert.read_bytes(), root_pem])
    assert both.code is VerdictCode.VALID, both.detail


def test_a_cms_touched_before_pyhanko_does_not_break_later_pades_seals() -> None:
    """asn1crypto builds its CMS attribute-name map once; a CMS made or parsed before pyHanko is
    imported (an SM2 seal, a verification, the embedding application) froze it without the names
    pyHanko's imports register, and every later PAdES seal failed. In a fresh interpreter, since
    the order of first imports is what matters."""
    script = (
        "from asn1crypto import cms\n"
        "cms.CMSAttributeType('content_type')\n"  # the reverse map is built here
        "import bdcert.sealing.pades\n"
        "print(cms.CMSAttributeType('signing_certificate_v2').dotted)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1.2.840.113549.1.9.16.2.47"
