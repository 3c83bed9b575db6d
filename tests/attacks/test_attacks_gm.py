"""Attacks on the national-cryptography certificates: sealed OFD packages and SM2-sealed PDFs.

A demo SM2 workspace is built with the command line (``bdcert init --demo --algorithm sm2``) and
two entries of the sample timeline are issued as PDF and OFD, one by 成都 (510100) and one by
绵阳 (510700). Every attack is judged twice: by the storage-free checks (``verify_ofd``,
``check_pdf_sm2``) and by ``Registry.verify``, which must never call a changed file genuine,
never raise and never hang.

Passing tests are attacks bdcert withstands. Tests marked ``xfail(strict=True)`` are confirmed
weaknesses: each fails today and turns into an XPASS (a failure) once fixed, so the marker must
then be removed.
"""

from __future__ import annotations

import base64
import io
import random
import re
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.support import skip_or_fail

try:
    import tongsuopy  # noqa: F401
except ImportError:
    skip_or_fail("tongsuopy (the gm extra) is not installed", allow_module_level=True)

from asn1crypto import cms, pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes

from bdcert.errors import SealingError
from bdcert.fonts import DEFAULT_FALLBACK_PATHS, DEFAULT_REGULAR_PATH
from bdcert.gm import ses
from bdcert.gm.ofd_package import OfdPackageError, parse_xml
from bdcert.gm.ofd_seal import seal_ofd, verify_ofd
from bdcert.gm.pdf_sm2 import check_pdf_sm2, seal_pdf_sm2
from bdcert.gm.seals import create_authority_seal, current_seal
from bdcert.gm.sm2 import SM2PrivateKey, sm3
from bdcert.gm.x509 import make_sm2_certificate
from bdcert.lifecycle import Registry
from bdcert.model import Outcome, VerdictCode
from bdcert_adapters.cli import main
from tests.support import AUTHORITIES

pytestmark = pytest.mark.skipif(
    not DEFAULT_REGULAR_PATH.is_file() or not all(p.is_file() for p in DEFAULT_FALLBACK_PATHS),
    reason="needs fonts-noto-cjk and fonts-hanazono",
)

#: Verdicts that tell a relying party "this is the authority's certificate, as issued".
GENUINE = {
    VerdictCode.VALID,
    VerdictCode.RESTRICTED,
    VerdictCode.SUPERSEDED,
    VerdictCode.CANCELLED,
}
#: No single verification may take longer than this (seconds): nothing may hang.
PATIENCE = 10.0

CONTENT = "Doc_0/Pages/Page_0/Content.xml"
SIGNATURE = "Doc_0/Signs/Sign_0/Signature.xml"
SEAL = "Doc_0/Signs/Sign_0/Seal.esl"
VALUE = "Doc_0/Signs/Sign_0/SignedValue.dat"
NOW = datetime.now(UTC).replace(microsecond=0)


# --------------------------------------------------------------------------- the workspace


@attrs.define(frozen=True)
class Issued:
    registry: Registry
    roots: tuple[bytes, ...]
    ofd: bytes  # 成都 (510100), in force
    pdf: bytes
    ofd_700: bytes  # 绵阳 (510700), in force
    root: bytes
    root_key: SM2PrivateKey
    cert_100: bytes
    key_100: SM2PrivateKey
    cert_700: bytes
    key_700: SM2PrivateKey


def _der(path: Path) -> bytes:
    return pem.unarmor(path.read_bytes())[2]


def _key(path: Path) -> SM2PrivateKey:
    return SM2PrivateKey.from_pem(path.read_bytes())


def _init(ws: Path) -> None:
    args = ["init", "--demo", "--algorithm", "sm2", "--workspace", str(ws)]
    assert main([*args, "--authorities", str(AUTHORITIES)]) == 0


def _ywh(timeline: list[dict[str, Any]], ywh: str) -> dict[str, Any]:
    return next(e for e in timeline if e["ywh"] == ywh)


@pytest.fixture(scope="module")
def issued(
    tmp_path_factory: pytest.TempPathFactory, timeline: list[dict[str, Any]]
) -> Iterator[Issued]:
    ws = tmp_path_factory.mktemp("gm-attacks") / "ws"
    _init(ws)
    registry = Registry.open(ws, formats=("pdf", "ofd"))
    platform = registry.authenticate({"operator": "platform"})
    first = registry.push(_ywh(timeline, "510100-2024-000101"), principal=platform)
    second = registry.push(_ywh(timeline, "510700-2024-000201"), principal=platform)
    (cd,) = first.certificates
    (my,) = second.certificates
    assert cd.ofd is not None and my.ofd is not None
    pki = ws / "pki"
    yield Issued(
        registry=registry,
        roots=tuple(bytes(r) for r in registry.trust_roots),
        ofd=cd.ofd,
        pdf=cd.pdf,
        ofd_700=my.ofd,
        root=_der(pki / "root.cert.pem"),
        root_key=_key(pki / "root.key.pem"),
        cert_100=_der(pki / "510100.cert.pem"),
        key_100=_key(pki / "510100.key.pem"),
        cert_700=_der(pki / "510700.cert.pem"),
        key_700=_key(pki / "510700.key.pem"),
    )
    registry.close()


@attrs.define(frozen=True)
class Judgement:
    check: VerdictCode  # verify_ofd / check_pdf_sm2
    detail: str
    registry: VerdictCode  # Registry.verify


def judge(issued: Issued, data: bytes) -> Judgement:
    """Both verdicts on ``data``; neither may raise or take longer than PATIENCE."""
    start = time.monotonic()
    if data[:4] == b"PK\x03\x04":
        check = verify_ofd(data, trust_roots=issued.roots)
    else:
        check = check_pdf_sm2(data, trust_roots=issued.roots)
    verdict = issued.registry.verify(data)
    elapsed = time.monotonic() - start
    assert elapsed < PATIENCE, f"verification took {elapsed:.1f} s"
    assert check.trusted is (check.code is VerdictCode.VALID)
    return Judgement(check.code, check.detail, verdict.code)


def refused(issued: Issued, data: bytes, code: VerdictCode | None = None) -> Judgement:
    """Assert the registry does not call ``data`` genuine (and, if given, the check's code)."""
    result = judge(issued, data)
    assert result.registry not in GENUINE, result
    if code is not None:
        assert result.check is code, result
        assert result.registry is code, result
    return result


def test_the_genuine_files_verify(issued: Issued) -> None:
    for data in (issued.ofd, issued.pdf, issued.ofd_700):
        result = judge(issued, data)
        assert result.check is VerdictCode.VALID and result.registry is VerdictCode.VALID


# --------------------------------------------------------------------------- OFD helpers


def entries(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rezip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of some attacks
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
    return out.getvalue()


def unsealed(package: bytes, *, forge: bool = True) -> bytes:
    """The package without its seal, the owner's name changed when ``forge``."""
    files = {k: v for k, v in entries(package).items() if "/Signs/" not in k}
    files["OFD.xml"] = re.sub(rb"<ofd:Signatures>.*?</ofd:Signatures>\n?", b"", files["OFD.xml"])
    if forge:
        files[CONTENT] = files[CONTENT].replace("成都".encode(), "绵阳".encode(), 1)
    return rezip(files)


def genuine_seal(package: bytes) -> ses.Seal:
    return ses.parse_seal(entries(package)[SEAL])


def make_seal(
    maker_key: SM2PrivateKey,
    maker_cert: bytes,
    signers: list[bytes],
    picture: ses.SealPicture,
    *,
    name: str = "成都市不动产登记中心",
    start: datetime = NOW - timedelta(days=1),
    end: datetime = NOW + timedelta(days=30),
) -> bytes:
    return ses.make_seal(
        maker_key=maker_key,
        maker_cert_der=maker_cert,
        es_id="5101009999999901",
        name=name,
        signer_certs=signers,
        picture=picture,
        valid_start=start,
        valid_end=end,
    )


def reseal(
    package: bytes,
    seal_der: bytes,
    key: SM2PrivateKey,
    cert: bytes,
    *,
    at: datetime | None = None,
) -> bytes:
    return seal_ofd(
        package,
        seal_der=seal_der,
        signer_key=key,
        signer_cert_der=cert,
        page=0,
        box_mm=(142.0, 229.0, 42.0, 42.0),
        time=at or datetime.now(UTC),
    )


def self_made_pki() -> tuple[SM2PrivateKey, bytes, SM2PrivateKey, bytes]:
    """A root named like the demo root and a seal certificate named like 成都's."""
    root_key = SM2PrivateKey.generate()
    root = make_sm2_certificate(
        subject={"C": "CN", "O": "bdcert demo", "CN": "bdcert demo root CA — not for production"},
        issuer_cert_der=None,
        issuer_key=root_key,
        public_key=root_key.public_key,
        serial=11,
        not_before=NOW - timedelta(days=2),
        not_after=NOW + timedelta(days=300),
        ca=True,
        path_length=0,
        key_usage={"key_cert_sign", "crl_sign"},
    )
    key = SM2PrivateKey.generate()
    cert = make_sm2_certificate(
        subject={
            "C": "CN",
            "O": "成都市不动产登记中心",
            "serialNumber": "12510100MB1C7A3X2H",
            "CN": "成都市不动产登记中心",
        },
        issuer_cert_der=root,
        issuer_key=root_key,
        public_key=key.public_key,
        serial=12,
        not_before=NOW - timedelta(days=2),
        not_after=NOW + timedelta(days=300),
        ca=False,
        key_usage={"digital_signature", "non_repudiation"},
    )
    return root_key, root, key, cert


# --------------------------------------------------------------------------- OFD: file changes


def _edit_page(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files[CONTENT] = files[CONTENT].replace("成都".encode(), "绵阳".encode(), 1)


def _edit_signature_xml(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files[SIGNATURE] = re.sub(rb'Boundary="\d', b'Boundary="1', files[SIGNATURE], count=1)
    files[SIGNATURE] = files[SIGNATURE].replace(b"<ofd:References", b"<ofd:References ", 1)


def _seal_of_other_authority(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files[SEAL] = other[SEAL]


def _seal_and_value_of_other_authority(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files[SEAL], files[VALUE] = other[SEAL], other[VALUE]


def _whole_signature_of_other_authority(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    for name in (SEAL, VALUE, SIGNATURE):
        files[name] = other[name]


def _garbage_value(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files[VALUE] = b"\x30\x03\x02\x01\x04"


def _add_file(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files["Doc_0/Res/extra.png"] = other["Doc_0/Res/qr.png"]


def _add_unreferenced_page(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files["Doc_0/Pages/Page_9/Content.xml"] = other[CONTENT]


def _add_page_to_document(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    _add_unreferenced_page(files, other)
    files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
        b"</ofd:Pages>", b'<ofd:Page ID="999" BaseLoc="Pages/Page_9/Content.xml"/></ofd:Pages>'
    )


def _dot_dot_entry(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files["../Doc_0/Pages/Page_0/Content.xml"] = other[CONTENT]


def _backslash_entry(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files["Doc_0\\Pages\\Page_0\\Content.xml"] = other[CONTENT]


def _absolute_entry(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files["/" + CONTENT] = other[CONTENT]


def _case_entry(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files[CONTENT.lower()] = other[CONTENT]


def _doc_root_to_unsigned_copy(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files["Doc_1/Document.xml"] = other["Doc_0/Document.xml"].replace(b"Pages/", b"../Doc_0/Pages/")
    files["OFD.xml"] = files["OFD.xml"].replace(b"Doc_0/Document.xml", b"Doc_1/Document.xml")


def _second_signatures_entry(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files["OFD.xml"] = files["OFD.xml"].replace(
        b"</ofd:DocBody>",
        b"<ofd:Signatures>Doc_0/Signs/Signatures.xml</ofd:Signatures></ofd:DocBody>",
    )


def _second_signature_in_list(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files["Doc_0/Signs/Sign_1/Signature.xml"] = other[SIGNATURE]
    name = "Doc_0/Signs/Signatures.xml"
    files[name] = files[name].replace(
        b"</ofd:Signatures>",
        b'<ofd:Signature ID="2" Type="Seal" BaseLoc="/Doc_0/Signs/Sign_1/Signature.xml"/>'
        b"</ofd:Signatures>",
    )


def _drop_signatures_reference(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    files["OFD.xml"] = re.sub(rb"<ofd:Signatures>.*?</ofd:Signatures>", b"", files["OFD.xml"])


def _drop_signature_files(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    for name in [n for n in files if "/Signs/" in n]:
        del files[name]


def _drop_a_signed_file(files: dict[str, bytes], other: dict[str, bytes]) -> None:
    del files["Doc_0/Res/qr.png"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_edit_page, VerdictCode.DIGEST_MISMATCH),
        (_edit_signature_xml, VerdictCode.DIGEST_MISMATCH),
        (_seal_of_other_authority, VerdictCode.DIGEST_MISMATCH),
        (_seal_and_value_of_other_authority, VerdictCode.DIGEST_MISMATCH),
        (_whole_signature_of_other_authority, VerdictCode.DIGEST_MISMATCH),
        (_garbage_value, VerdictCode.SIGNATURE_INVALID),
        (_add_file, VerdictCode.MODIFIED_AFTER_SEALING),
        (_add_unreferenced_page, VerdictCode.MODIFIED_AFTER_SEALING),
        (_add_page_to_document, VerdictCode.DIGEST_MISMATCH),
        (_dot_dot_entry, VerdictCode.MODIFIED_AFTER_SEALING),
        (_backslash_entry, VerdictCode.MODIFIED_AFTER_SEALING),
        (_absolute_entry, VerdictCode.MODIFIED_AFTER_SEALING),
        (_case_entry, VerdictCode.MODIFIED_AFTER_SEALING),
        (_doc_root_to_unsigned_copy, VerdictCode.DIGEST_MISMATCH),
        (_second_signatures_entry, VerdictCode.MULTIPLE_SIGNATURES),
        (_second_signature_in_list, VerdictCode.MULTIPLE_SIGNATURES),
        (_drop_signatures_reference, VerdictCode.UNSEALED),
        (_drop_signature_files, VerdictCode.UNSEALED),
        (_drop_a_signed_file, VerdictCode.DIGEST_MISMATCH),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else None,
)
def test_a_changed_ofd_package_is_refused(
    issued: Issued, change: Callable[[dict[str, bytes], dict[str, bytes]], None], code: VerdictCode
) -> None:
    files = entries(issued.ofd)
    change(files, entries(issued.ofd_700))
    refused(issued, rezip(files), code)


def test_a_shadowed_duplicate_entry_is_refused_whichever_copy_comes_first(issued: Issued) -> None:
    files = entries(issued.ofd)
    forged = files[CONTENT].replace("成都".encode(), "绵阳".encode(), 1)
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(CONTENT, forged)  # the forged copy first
            for name, data in files.items():
                archive.writestr(name, data)
    refused(issued, out.getvalue(), VerdictCode.DIGEST_MISMATCH)

    out = io.BytesIO(issued.ofd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(out, "a") as archive:  # the forged copy last
            archive.writestr(CONTENT, forged)
    result = refused(issued, out.getvalue(), VerdictCode.MODIFIED_AFTER_SEALING)
    assert "more than once" in result.detail


# --------------------------------------------------------------------------- OFD: archive bytes


def _comment(ofd: bytes) -> bytes:
    out = io.BytesIO(ofd)
    with zipfile.ZipFile(out, "a") as archive:
        archive.comment = "川(2024)成都市不动产权第9999999号".encode()
    return out.getvalue()


def _directory_entry_with_data(ofd: bytes) -> bytes:
    files = entries(ofd)
    files["Doc_0/Pages/Page_9/"] = b"hidden"
    return rezip(files)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda ofd: rezip(entries(ofd)), id="same-files-rezipped"),
        pytest.param(_comment, id="zip-comment"),
        pytest.param(lambda ofd: ofd + b"appended after the central directory", id="appended"),
        pytest.param(lambda ofd: b"prepended" + ofd, id="prepended"),
        pytest.param(_directory_entry_with_data, id="directory-entry-with-data"),
        pytest.param(lambda ofd: ofd[:-1], id="truncated"),
    ],
)
def test_changed_archive_bytes_are_not_the_registered_file(
    issued: Issued, make: Callable[[bytes], bytes]
) -> None:
    data = make(issued.ofd)
    assert data != issued.ofd
    result = refused(issued, data)
    assert result.registry in {VerdictCode.UNKNOWN_CERTIFICATE, VerdictCode.NOT_PDF}


def _hidden_local_entry(ofd: bytes, name: str, data: bytes) -> bytes:
    """A local file header + data for ``name`` that no central directory entry points at."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(name, data)
    single = out.getvalue()
    return single[: single.index(b"PK\x01\x02")]


def test_a_hidden_local_entry_is_not_the_registered_file(issued: Issued) -> None:
    forged = entries(issued.ofd)[CONTENT].replace("成都".encode(), "绵阳".encode(), 1)
    data = _hidden_local_entry(issued.ofd, CONTENT, forged) + issued.ofd
    assert refused(issued, data).registry is VerdictCode.NOT_PDF  # an unreadable package


def test_a_hidden_local_entry_is_modification(issued: Issued) -> None:
    forged = entries(issued.ofd)[CONTENT].replace("成都".encode(), "绵阳".encode(), 1)
    data = _hidden_local_entry(issued.ofd, CONTENT, forged) + issued.ofd
    check = verify_ofd(data, trust_roots=issued.roots)
    assert check.code is not VerdictCode.VALID, check.detail


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"PK\x03\x04",
        b"PK\x03\x04" + bytes(200),
        b"PK\x05\x06" + bytes(18),
        b"%PDF-1.7\n%%EOF\n",
        bytes(range(256)) * 8,
    ],
    ids=["empty", "text", "magic-only", "truncated-zip", "empty-zip", "tiny-pdf", "binary"],
)
def test_non_packages_are_not_pdf(issued: Issued, data: bytes) -> None:
    refused(issued, data, VerdictCode.NOT_PDF)


def test_a_zip_bomb_is_refused_quickly(issued: Issued) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", entries(issued.ofd)["OFD.xml"])
        with archive.open("Doc_0/Res/bomb.bin", "w") as handle:
            chunk = bytes(1 << 20)
            for _ in range(60):
                handle.write(chunk)
    assert len(out.getvalue()) < 200_000
    result = refused(issued, out.getvalue(), VerdictCode.TOO_COMPLEX)
    assert "more than" in result.detail


def test_a_bomb_with_understated_sizes_is_refused(issued: Issued) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", entries(issued.ofd)["OFD.xml"])
        archive.writestr("Doc_0/Res/bomb.bin", bytes(60 << 20))
    data = bytearray(out.getvalue())
    # claim 16 bytes uncompressed in the central directory entry of the bomb
    central = data.rindex(b"Doc_0/Res/bomb.bin") - 46
    assert data[central : central + 4] == b"PK\x01\x02"
    data[central + 24 : central + 28] = (16).to_bytes(4, "little")
    refused(issued, bytes(data), VerdictCode.NOT_PDF)


def test_too_many_entries_are_refused(issued: Issued) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("OFD.xml", entries(issued.ofd)["OFD.xml"])
        for n in range(10_001):
            archive.writestr(f"x/{n}", b"")
    result = refused(issued, out.getvalue(), VerdictCode.TOO_COMPLEX)
    assert "entries" in result.detail


# --------------------------------------------------------------------------- OFD: re-sealing


def test_a_self_made_pki_mimicking_the_authority_is_untrusted(issued: Issued) -> None:
    root_key, root, key, cert = self_made_pki()
    picture = genuine_seal(issued.ofd).picture
    data = reseal(unsealed(issued.ofd), make_seal(root_key, root, [cert], picture), key, cert)
    result = refused(issued, data, VerdictCode.UNTRUSTED_SIGNER)
    assert "maker certificate" in result.detail


def test_a_self_made_seal_for_the_genuine_signer_is_untrusted(issued: Issued) -> None:
    root_key, root, _, _ = self_made_pki()
    seal_der = make_seal(root_key, root, [issued.cert_100], genuine_seal(issued.ofd).picture)
    data = reseal(unsealed(issued.ofd), seal_der, issued.key_100, issued.cert_100)
    refused(issued, data, VerdictCode.UNTRUSTED_SIGNER)


def test_the_genuine_seal_cannot_be_used_with_a_self_made_signer(issued: Issued) -> None:
    _, _, key, cert = self_made_pki()
    with pytest.raises(SealingError, match="not in the certificate list"):
        reseal(unsealed(issued.ofd), genuine_seal(issued.ofd).der, key, cert)


def test_a_genuine_seal_signature_over_a_forged_signature_xml_is_a_digest_mismatch(
    issued: Issued,
) -> None:
    """SignedValue.dat re-signed by a self-made key that claims the authority's seal."""
    files = entries(issued.ofd)
    files[CONTENT] = files[CONTENT].replace("成都".encode(), "绵阳".encode(), 1)
    new_value = base64.b64encode(sm3(files[CONTENT])).decode().encode()
    files[SIGNATURE] = re.sub(
        rb'(FileRef="/Doc_0/Pages/Page_0/Content.xml">\s*<ofd:CheckValue>)[^<]*',
        lambda m: m.group(1) + new_value,
        files[SIGNATURE],
    )
    _, _, key, cert = self_made_pki()
    sig = ses.SESSignatureV4.load(files[VALUE])
    sig["to_sign"]["data_hash"] = sm3(files[SIGNATURE])
    tbs = sig["to_sign"].dump(force=True)
    sig["cert"] = cert
    sig["signature"] = key.sign(tbs)
    files[VALUE] = sig.dump(force=True)
    result = refused(issued, rezip(files))
    assert result.check in {VerdictCode.SIGNATURE_INVALID, VerdictCode.UNTRUSTED_SIGNER}


def test_a_package_resealed_by_an_authority_key_is_not_registered(issued: Issued) -> None:
    """Insiders (or a stolen key): the seal is sound, but the register does not know the file."""
    own = reseal(
        unsealed(issued.ofd), genuine_seal(issued.ofd).der, issued.key_100, issued.cert_100
    )
    other = reseal(
        unsealed(issued.ofd), genuine_seal(issued.ofd_700).der, issued.key_700, issued.cert_700
    )
    same = reseal(
        unsealed(issued.ofd, forge=False),
        genuine_seal(issued.ofd).der,
        issued.key_100,
        issued.cert_100,
    )
    for data in (own, same):
        result = refused(issued, data)
        assert result.check is VerdictCode.VALID
        assert result.registry is VerdictCode.UNKNOWN_CERTIFICATE
    # 成都's certificate under 绵阳's seal: not the seal of the authority it names (issue 9)
    result = refused(issued, other, VerdictCode.UNTRUSTED_SIGNER)
    assert "another authority" in result.detail


def test_a_package_sealed_by_the_root_key_is_not_registered(issued: Issued) -> None:
    seal_der = make_seal(
        issued.root_key, issued.root, [issued.root], genuine_seal(issued.ofd).picture
    )
    data = reseal(unsealed(issued.ofd), seal_der, issued.root_key, issued.root)
    assert refused(issued, data).registry is VerdictCode.UNTRUSTED_SIGNER  # a CA is no seal signer


def test_a_ca_certificate_is_not_an_ofd_seal_signer(issued: Issued) -> None:
    seal_der = make_seal(
        issued.root_key, issued.root, [issued.root], genuine_seal(issued.ofd).picture
    )
    data = reseal(unsealed(issued.ofd), seal_der, issued.root_key, issued.root)
    check = verify_ofd(data, trust_roots=issued.roots)
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail


def test_another_authority_cannot_make_a_seal_in_this_authoritys_name(issued: Issued) -> None:
    seal_der = make_seal(
        issued.key_700, issued.cert_700, [issued.cert_700], genuine_seal(issued.ofd).picture
    )
    data = reseal(unsealed(issued.ofd), seal_der, issued.key_700, issued.cert_700)
    check = verify_ofd(data, trust_roots=issued.roots)
    assert check.code is not VerdictCode.VALID, check.detail


# --------------------------------------------------------------------------- OFD: resources


class _HashBudgetExceeded(BaseException):
    """Raised through verify_ofd's catch-all when it hashes far more than the package holds."""


def _many_references(issued: Issued, count: int, size: int) -> bytes:
    """Signature.xml listing one ``size``-byte file ``count`` times, with an SES_Signature whose
    dataHash matches (its SM2 signature is not valid: no key is needed)."""
    files = entries(issued.ofd)
    files["Doc_0/Res/big.bin"] = bytes(size)
    check = base64.b64encode(sm3(files["Doc_0/Res/big.bin"])).decode()
    reference = (
        f'<ofd:Reference FileRef="/Doc_0/Res/big.bin"><ofd:CheckValue>{check}'
        "</ofd:CheckValue></ofd:Reference>"
    )
    files[SIGNATURE] = files[SIGNATURE].replace(
        b"</ofd:References>", (reference * count).encode() + b"</ofd:References>"
    )
    sig = ses.SESSignatureV4.load(files[VALUE])
    sig["to_sign"]["data_hash"] = sm3(files[SIGNATURE])
    files[VALUE] = sig.dump(force=True)
    return rezip(files)


def test_references_are_not_hashed_without_bound(
    issued: Issued, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _many_references(issued, count=400, size=1 << 20)
    assert len(data) < 200_000
    budget = [64 << 20]  # far more than the 1.2 MB of files the package holds

    def counting_sm3(chunk: bytes) -> bytes:
        budget[0] -= len(chunk)
        if budget[0] < 0:
            raise _HashBudgetExceeded
        return sm3(chunk)

    from bdcert.verify import ofd as ofd_verify  # where verify_ofd lives now (issue 8)

    monkeypatch.setattr(ofd_verify, "sm3", counting_sm3)
    try:
        check = verify_ofd(data, trust_roots=issued.roots)
    except _HashBudgetExceeded:
        pytest.fail("verify_ofd hashed more than 64 MB for a 1.2 MB package")
    assert check.code is not VerdictCode.VALID


def test_a_few_repeated_references_are_still_refused(issued: Issued) -> None:
    data = _many_references(issued, count=3, size=1 << 16)
    result = refused(issued, data, VerdictCode.SIGNATURE_INVALID)
    assert "TBS_Sign" in result.detail


_UTF16_DTD = (
    '<!DOCTYPE OFD [<!ENTITY root "Doc_0/Document.xml">]>'
    '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" Version="1.0" DocType="OFD">'
    "<ofd:DocBody><ofd:DocInfo/><ofd:DocRoot>&root;</ofd:DocRoot></ofd:DocBody></ofd:OFD>"
)


def test_a_utf16_ofd_xml_with_a_dtd_is_not_genuine(issued: Issued) -> None:
    files = entries(issued.ofd)
    files["OFD.xml"] = _UTF16_DTD.encode("utf-16-le")
    refused(issued, rezip(files))


def test_a_dtd_in_utf16_is_refused() -> None:
    with pytest.raises(OfdPackageError):
        parse_xml(_UTF16_DTD.encode("utf-16-le"), "OFD.xml")


# --------------------------------------------------------------------------- SM2 PDF


def _byte_range(pdf: bytes) -> tuple[int, int, int, int]:
    found = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert found is not None
    a, b, c, d = (int(x) for x in found.groups())
    return a, b, c, d


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def _with_contents(pdf: bytes, der: bytes) -> bytes:
    _, b, c, _ = _byte_range(pdf)
    room = c - b - 2
    hex_ = der.hex().upper().encode()
    assert len(hex_) <= room, "the replacement does not fit in /Contents"
    return pdf[: b + 1] + hex_ + b"0" * (room - len(hex_)) + pdf[c - 1 :]


def _contents_der(pdf: bytes) -> bytes:
    _, b, c, _ = _byte_range(pdf)
    return bytes.fromhex(pdf[b + 1 : c - 1].decode())


def _unsealed_pdf(pdf: bytes) -> bytes:
    last = pdf.rfind(b"%%EOF")
    return pdf[: pdf.rfind(b"%%EOF", 0, last) + 5] + b"\n"


def _seal_pdf(issued: Issued, key: SM2PrivateKey, cert: bytes, chain: list[bytes]) -> bytes:
    return seal_pdf_sm2(
        _unsealed_pdf(issued.pdf),
        signer_key=key,
        signer_cert_der=cert,
        chain_der=chain,
        seal_png=genuine_seal(issued.ofd).picture.data,
        page=0,
        box=(400.0, 100.0, 520.0, 220.0),
        time=datetime.now(UTC),
    )


def _incremental_info(pdf: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    info = generic.DictionaryObject(
        {
            generic.NameObject("/Title"): generic.TextStringObject(
                "川(2024)成都市不动产权第9999999号"
            )
        }
    )
    writer.trailer["/Info"] = writer.add_object(info)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _padding_changed(pdf: bytes) -> bytes:
    _, _, c, _ = _byte_range(pdf)
    return pdf[: c - 5] + b"01" + pdf[c - 3 :]


def _hex_case_changed(pdf: bytes) -> bytes:
    _, b, c, _ = _byte_range(pdf)
    return pdf[: b + 1] + pdf[b + 1 : c - 1].lower() + pdf[c - 1 :]


def _cms_byte_flipped(pdf: bytes) -> bytes:
    _, b, _, _ = _byte_range(pdf)
    at = b + 41
    return pdf[:at] + (b"A" if pdf[at : at + 1] != b"A" else b"B") + pdf[at + 1 :]


@pytest.mark.parametrize(
    ("make", "codes"),
    [
        pytest.param(lambda p: _flip(p, 200), {VerdictCode.DIGEST_MISMATCH}, id="flip-first-range"),
        pytest.param(
            lambda p: _flip(p, _byte_range(p)[2] + 40),
            {VerdictCode.DIGEST_MISMATCH},
            id="flip-second-range",
        ),
        pytest.param(lambda p: _flip(p, len(p) - 3), {VerdictCode.DIGEST_MISMATCH}, id="flip-eof"),
        pytest.param(
            _cms_byte_flipped,
            {VerdictCode.SIGNATURE_INVALID, VerdictCode.DIGEST_MISMATCH},
            id="flip-in-cms",
        ),
        pytest.param(_padding_changed, {VerdictCode.MODIFIED_AFTER_SEALING}, id="padding"),
        pytest.param(
            lambda p: p + b"\n% appended\n", {VerdictCode.MODIFIED_AFTER_SEALING}, id="appended"
        ),
        pytest.param(_incremental_info, {VerdictCode.MODIFIED_AFTER_SEALING}, id="incremental"),
        pytest.param(lambda p: p[:-10], {VerdictCode.MODIFIED_AFTER_SEALING}, id="truncated"),
    ],
)
def test_a_changed_sm2_pdf_is_refused(
    issued: Issued, make: Callable[[bytes], bytes], codes: set[VerdictCode]
) -> None:
    result = refused(issued, make(issued.pdf))
    assert result.check in codes, result
    assert result.registry in codes, result


def test_lowercase_contents_hex_is_not_the_registered_file(issued: Issued) -> None:
    data = _hex_case_changed(issued.pdf)
    assert data != issued.pdf
    assert refused(issued, data).registry is VerdictCode.UNKNOWN_CERTIFICATE


def test_a_swapped_signer_certificate_is_invalid(issued: Issued) -> None:
    info = cms.ContentInfo.load(_contents_der(issued.pdf))
    other = asn1_x509.Certificate.load(issued.cert_700)
    signed = info["content"]
    signed["certificates"] = [other]
    signed["signer_infos"][0]["sid"] = cms.SignerIdentifier(
        name="issuer_and_serial_number",
        value=cms.IssuerAndSerialNumber(
            {"issuer": other.issuer, "serial_number": other.serial_number}
        ),
    )
    data = _with_contents(issued.pdf, info.dump(force=True))
    refused(issued, data, VerdictCode.SIGNATURE_INVALID)


def test_an_ses_signature_in_contents_is_refused(issued: Issued) -> None:
    # seal with a bigger chain so that /Contents has room for an SES_Signature with a tiny seal
    roomy = _seal_pdf(issued, issued.key_100, issued.cert_100, [issued.root, issued.cert_700])
    a, b, c, d = _byte_range(roomy)
    digest = hashes.Hash(hashes.SM3())
    digest.update(roomy[a : a + b])
    digest.update(roomy[c : c + d])
    tiny = ses.SealPicture("PNG", b"\x89PNG\r\n\x1a\n" + bytes(16), 40, 40)
    seal_der = make_seal(issued.root_key, issued.root, [issued.cert_100], tiny)
    value = ses.sign_data(
        seal_der=seal_der,
        signer_key=issued.key_100,
        signer_cert_der=issued.cert_100,
        data_hash=digest.finalize(),
        property_info="pdf",
        time=NOW,
    )
    refused(issued, _with_contents(roomy, value), VerdictCode.SIGNATURE_INVALID)


def test_a_pdf_signed_by_the_root_key_is_untrusted(issued: Issued) -> None:
    data = _seal_pdf(issued, issued.root_key, issued.root, [])
    result = refused(issued, data, VerdictCode.UNTRUSTED_SIGNER)
    assert "certification authority" in result.detail


def test_a_pdf_signed_by_a_self_made_mimic_is_untrusted(issued: Issued) -> None:
    _, root, key, cert = self_made_pki()
    refused(issued, _seal_pdf(issued, key, cert, [root]), VerdictCode.UNTRUSTED_SIGNER)


def test_a_pdf_resealed_by_an_authority_key_is_not_registered(issued: Issued) -> None:
    result = refused(issued, _seal_pdf(issued, issued.key_100, issued.cert_100, [issued.root]))
    assert result.check is VerdictCode.VALID
    assert result.registry is VerdictCode.UNKNOWN_CERTIFICATE
    # 成都's certificate under 绵阳's key: not the seal of the authority it names (issue 9)
    other = _seal_pdf(issued, issued.key_700, issued.cert_700, [issued.root])
    result = refused(issued, other, VerdictCode.UNTRUSTED_SIGNER)
    assert "another authority" in result.detail


def test_random_corruption_never_passes_or_raises(issued: Issued) -> None:
    rnd = random.Random(20241129)
    for original in (issued.ofd, issued.pdf):
        for _ in range(40):
            data = bytearray(original)
            for _ in range(rnd.choice((1, 2, 8))):
                data[rnd.randrange(len(data))] ^= rnd.randrange(1, 256)
            if rnd.random() < 0.25:
                at = rnd.randrange(len(data))
                del data[at : at + rnd.randrange(1, 64)]
            refused(issued, bytes(data))


def test_random_xml_edits_never_pass_or_raise(issued: Issued) -> None:
    rnd = random.Random(7)
    original = entries(issued.ofd)
    xml_names = [n for n in original if n.endswith(".xml")]
    for _ in range(30):
        files = dict(original)
        name = rnd.choice(xml_names)
        data = bytearray(files[name])
        for _ in range(rnd.choice((1, 3))):
            data[rnd.randrange(len(data))] = rnd.choice(b"<>/=\"' &;x0")
        files[name] = bytes(data)
        refused(issued, rezip(files))


# --------------------------------------------------------------------------- expired seals


def test_a_seal_whose_validity_ended_does_not_seal(
    tmp_path: Path, timeline: list[dict[str, Any]]
) -> None:
    ws = tmp_path / "ws"
    _init(ws)
    pki = ws / "pki"
    root, root_key = _der(pki / "root.cert.pem"), _key(pki / "root.key.pem")
    cert = _der(pki / "510100.cert.pem")
    (demo_seal,) = (ws / "seals").glob("510100-*.esl")
    picture = ses.parse_seal(demo_seal.read_bytes()).picture
    demo_seal.unlink()
    registry = Registry.open(ws, formats=("pdf", "ofd"))
    try:
        authority = registry.authorities["510100"]
        past = create_authority_seal(
            ws,
            authority,
            root_key,
            root,
            cert,
            picture.data,
            valid_days=10,
            now=NOW - timedelta(40),
        )
        future = create_authority_seal(
            ws, authority, root_key, root, cert, picture.data, valid_days=10, now=NOW + timedelta(5)
        )
        for path in (past, future):
            with pytest.raises(SealingError, match="not valid at"):
                ses.sign_data(
                    seal_der=path.read_bytes(),
                    signer_key=_key(pki / "510100.key.pem"),
                    signer_cert_der=cert,
                    data_hash=bytes(32),
                    property_info="x",
                    time=NOW,
                )
        with pytest.raises(SealingError, match="no seal valid"):
            current_seal(ws, "510100", NOW)
        platform = registry.authenticate({"operator": "platform"})
        entry = _ywh(timeline, "510100-2024-000101")
        waiting = registry.push(entry, principal=platform)  # force majeure: it waits
        assert waiting.outcome is Outcome.BACKLOGGED and "no seal valid" in waiting.reason
        assert registry.push(_ywh(timeline, "510700-2024-000201"), principal=platform).numbers
        # nothing was filed for the entry: with a valid seal again, the backlog issues it
        create_authority_seal(ws, authority, root_key, root, cert, picture.data, now=NOW)
        assert registry.drain_backlog(principal=platform, force=True).issued == 1
        result = registry.push(entry, principal=platform)
        assert result.outcome is Outcome.REPLAYED
        assert result.numbers == ("川(2024)成都市不动产权第0000001号",)
    finally:
        registry.close()


def test_an_expired_seal_backdated_into_its_window_is_still_judged_by_its_certificates(
    issued: Issued,
) -> None:
    """A signer can claim any signing time; the maker's root must have been valid then."""
    seal_der = make_seal(
        issued.root_key,
        issued.root,
        [issued.cert_100],
        genuine_seal(issued.ofd).picture,
        start=NOW - timedelta(days=3000),
        end=NOW - timedelta(days=2990),
    )
    data = reseal(
        unsealed(issued.ofd),
        seal_der,
        issued.key_100,
        issued.cert_100,
        at=NOW - timedelta(days=2995),
    )
    result = refused(issued, data, VerdictCode.UNTRUSTED_SIGNER)
    assert "not yet valid" in result.detail


# --------------------------------------------------------------------------- non-DER SM2 signatures
# GM/T 0010 signatures are DER SEQUENCE { r, s }. A verifier that also takes the raw 64-byte
# r || s (or any BER variant) gives one seal several byte forms: a file nobody sealed in that
# form still verifies, and the register-free checks call it genuine.


def _raw(der: bytes) -> bytes:
    from bdcert.gm.sm2 import signature_to_raw

    return signature_to_raw(der)


def _long_form(der: bytes) -> bytes:
    """The same (r, s) with a BER long-form length on the SEQUENCE."""
    return b"\x30\x81" + der[1:2] + der[2:]


@pytest.mark.parametrize("reencode", [_raw, _long_form], ids=["raw-r-s", "ber-length"])
def test_a_non_der_signature_in_the_pdf_cms_is_invalid(
    issued: Issued, reencode: Callable[[bytes], bytes]
) -> None:
    info = cms.ContentInfo.load(_contents_der(issued.pdf))
    signer = info["content"]["signer_infos"][0]
    signer["signature"] = reencode(signer["signature"].native)
    data = _with_contents(issued.pdf, info.dump(force=True))
    assert data != issued.pdf
    result = refused(issued, data)
    assert result.check is VerdictCode.SIGNATURE_INVALID, result


@pytest.mark.parametrize("reencode", [_raw, _long_form], ids=["raw-r-s", "ber-length"])
def test_a_non_der_seal_signature_in_an_ofd_is_invalid(
    issued: Issued, reencode: Callable[[bytes], bytes]
) -> None:
    files = entries(issued.ofd)
    value = ses.SESSignatureV4.load(files[VALUE])
    value["signature"] = reencode(value["signature"].native)
    files[VALUE] = value.dump(force=True)
    result = refused(issued, rezip(files))
    assert result.check is VerdictCode.SIGNATURE_INVALID, result


def test_a_seal_with_a_raw_maker_signature_is_invalid(issued: Issued) -> None:
    genuine = genuine_seal(issued.ofd)
    seal = ses.SESealV4.load(genuine.der)
    seal["signed_value"] = _raw(seal["signed_value"].native)
    raw_seal = seal.dump(force=True)
    why = ses.verify_seal(ses.parse_seal(raw_seal), trust_roots=issued.roots, at=NOW)
    assert why is not None and "maker's signature" in why
    # the genuine signer seals a package with it: the seal inside is still forged
    data = reseal(unsealed(issued.ofd, forge=False), raw_seal, issued.key_100, issued.cert_100)
    result = refused(issued, data)
    assert result.check is VerdictCode.SIGNATURE_INVALID, result
