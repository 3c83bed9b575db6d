"""OFD certificates (bdcert.gm.ofd) and their GB/T 38540 seals (bdcert.gm.ofd_seal).

Independent checks: the package is opened with :mod:`zipfile` and every XML file parsed with the
standard library; the embedded font is read with fontTools; the QR picture is decoded with
``zbarimg``; check values are recomputed with ``cryptography``'s SM3; the seal signature is cut
out of ``SignedValue.dat`` with a generic DER parser and verified by the ``openssl`` command
line. Needs the ``gm`` extra (tongsuopy), openssl 3.x and the CJK fonts; without them these
tests skip on a laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import attrs
import pytest
from asn1crypto import core, pem
from cryptography.hazmat.primitives import hashes
from fontTools.ttLib import TTFont

from tests.sdk.test_render import (
    AUTHORITY,
    PROOF_ID,
    PROPERTY_ID,
    URL,
    plan_png,
    proof_face,
    property_face,
    squash,
)
from tests.support import require_module, require_openssl

require_module("tongsuopy", "tongsuopy (the gm extra)")

from bdcert.demo_pki import SM2_TSA_CERT, SM2_TSA_KEY, make_demo_pki  # noqa: E402
from bdcert.fonts import DEFAULT_FALLBACK_PATHS, DEFAULT_REGULAR_PATH  # noqa: E402
from bdcert.gm import ses  # noqa: E402
from bdcert.gm.ofd import (  # noqa: E402
    NS,
    RenderedOfd,
    ofd_structure_problems,
    read_ofd_text,
    write_ofd,
)
from bdcert.gm.ofd_seal import seal_ofd, verify_ofd  # noqa: E402
from bdcert.gm.sm2 import SM2PrivateKey  # noqa: E402
from bdcert.gm.sm2_tsp import Sm2TimeStampAuthority  # noqa: E402
from bdcert.model import AttachedPlan, CertificateKind, VerdictCode  # noqa: E402
from bdcert.render import SEAL_SIZE_MM  # noqa: E402

pytestmark = pytest.mark.skipif(
    not DEFAULT_REGULAR_PATH.is_file() or not all(p.is_file() for p in DEFAULT_FALLBACK_PATHS),
    reason="needs fonts-noto-cjk and fonts-hanazono",
)

NOW = datetime.now(UTC).replace(microsecond=0)
RARE = "𠀁"  # U+20001, CJK Extension B: in HanaMinB, not in Noto Serif CJK


# --------------------------------------------------------------------------- shared helpers


@attrs.define(frozen=True)
class Pki:
    """An SM2 demo PKI: the root (also the seal maker), one authority's seal key and the SM2
    time-stamp authority's key and certificate."""

    root: bytes
    root_key: SM2PrivateKey
    cert: bytes
    key: SM2PrivateKey
    tsa_cert: bytes = b""
    tsa_key: SM2PrivateKey | None = None

    def tsa(self, clock: Callable[[], datetime] | None = None) -> Sm2TimeStampAuthority:
        """The demo PKI's in-process SM2 time-stamp authority."""
        assert self.tsa_key is not None
        return Sm2TimeStampAuthority(self.tsa_key, self.tsa_cert, [self.root], clock=clock)


def make_pki(directory: Path) -> Pki:
    demo = make_demo_pki(directory, [AUTHORITY], algorithm="sm2")
    files = demo.seal[AUTHORITY.code]
    return Pki(
        root=pem.unarmor(demo.root_cert.read_bytes())[2],
        root_key=SM2PrivateKey.from_pem(demo.root_key.read_bytes()),
        cert=pem.unarmor(files.cert.read_bytes())[2],
        key=SM2PrivateKey.from_pem(files.key.read_bytes()),
        tsa_cert=pem.unarmor((directory / SM2_TSA_CERT).read_bytes())[2],
        tsa_key=SM2PrivateKey.from_pem((directory / SM2_TSA_KEY).read_bytes()),
    )


def make_seal(pki: Pki, *, start: datetime, end: datetime) -> bytes:
    return ses.make_seal(
        maker_key=pki.root_key,
        maker_cert_der=pki.root,
        es_id="51010020240001",
        name=AUTHORITY.name,
        signer_certs=[pki.cert],
        picture=ses.SealPicture("PNG", plan_png((200, 200)), int(SEAL_SIZE_MM), int(SEAL_SIZE_MM)),
        valid_start=start,
        valid_end=end,
    )


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def entries(package: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(files: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def seal_der(pki: Pki) -> bytes:
    return make_seal(pki, start=NOW - timedelta(days=1), end=NOW + timedelta(days=365))


LONG_OTHER = "".join(f"第{i}项：房屋结构钢筋混凝土，所在层{i % 32 + 1}层。\n" for i in range(90))
FACE = property_face(qlr=f"张三、李{RARE}", qlqtzk=LONG_OTHER)


@pytest.fixture(scope="module")
def rendered() -> RenderedOfd:
    return write_ofd(
        kind=CertificateKind.PROPERTY_CERTIFICATE,
        face=FACE,
        verification_url=URL,
        authority=AUTHORITY,
        licence_id=PROPERTY_ID,
        attached_plan=AttachedPlan("image/png", plan_png()),
    )


@pytest.fixture(scope="module")
def sealed(rendered: RenderedOfd, pki: Pki, seal_der: bytes) -> bytes:
    return seal_ofd(
        rendered.package,
        seal_der=seal_der,
        signer_key=pki.key,
        signer_cert_der=pki.cert,
        page=rendered.seal_page,
        box_mm=rendered.seal_box_mm,
        time=NOW,
    )


# --------------------------------------------------------------------------- writing


def test_package_opens_and_every_xml_file_is_ofd(rendered: RenderedOfd) -> None:
    with zipfile.ZipFile(io.BytesIO(rendered.package)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names[0] == "OFD.xml"
        for name in names:
            if name.endswith(".xml"):
                root = ET.fromstring(archive.read(name))
                assert root.tag.startswith(f"{{{NS}}}"), name
                assert all(e.tag.startswith(f"{{{NS}}}") for e in root.iter()), name
                assert b'xmlns:ofd="http://www.ofdspec.org/2016"' in archive.read(name)
    files = entries(rendered.package)
    ofd = ET.fromstring(files["OFD.xml"])
    assert ofd.get("Version") == "1.0" and ofd.get("DocType") == "OFD"
    info = ofd.find(f"{q('DocBody')}/{q('DocInfo')}")
    assert info is not None
    assert re.fullmatch(r"[0-9a-f]{32}", info.findtext(q("DocID")) or "")
    assert info.findtext(q("Title")) == "川(2024)成都市不动产权第0000001号"
    assert info.findtext(q("Creator")) == "bdcert"
    assert ofd.findtext(f"{q('DocBody')}/{q('DocRoot')}") == "Doc_0/Document.xml"
    document = ET.fromstring(files["Doc_0/Document.xml"])
    box = document.findtext(f"{q('CommonData')}/{q('PageArea')}/{q('PhysicalBox')}")
    assert box == "0 0 210 297"


def test_structure_has_no_problems(rendered: RenderedOfd) -> None:
    assert ofd_structure_problems(rendered.package) == []


def test_every_face_value_is_in_the_text(rendered: RenderedOfd) -> None:
    text = read_ofd_text(rendered.package)
    squashed = squash(text)
    assert "不动产权证书" in squashed
    assert PROPERTY_ID in squashed
    for item in FACE:
        assert squash(item.value) in squashed, item.key
        assert item.label in squashed, item.key
    assert re.search(r"第\s*1\s*页\s*共\s*(\d+)\s*页", text)


def test_long_values_continue_onto_following_pages() -> None:
    location = ("成都市武侯区人民南路四段" + "".join(f"{i}号附{i}栋" for i in range(700)))[:3000]
    face = proof_face(zl=location)
    out = write_ofd(
        kind=CertificateKind.REGISTRATION_PROOF,
        face=face,
        verification_url=URL,
        authority=AUTHORITY,
        licence_id=PROOF_ID,
        attached_plan=None,
    )
    pages = [n for n in entries(out.package) if n.endswith("/Content.xml")]
    assert len(pages) >= 3
    assert out.seal_page == len(pages) - 1
    assert squash(location) in squash(read_ofd_text(out.package))
    assert ofd_structure_problems(out.package) == []


def test_fonts_are_embedded_and_cover_every_character(rendered: RenderedOfd) -> None:
    files = entries(rendered.package)
    res = ET.fromstring(files["Doc_0/PublicRes.xml"])
    cmaps: dict[str, set[int]] = {}
    for font in res.iter(q("Font")):
        data = files["Doc_0/Res/" + (font.findtext(q("FontFile")) or "")]
        cmaps[font.get("ID", "")] = set(TTFont(io.BytesIO(data)).getBestCmap())
    assert len(cmaps) >= 2  # the rare character needs the fallback font
    rare_drawn = False
    for name, data in files.items():
        if not name.endswith("/Content.xml"):
            continue
        for obj in ET.fromstring(data).iter(q("TextObject")):
            cmap = cmaps[obj.get("Font", "")]
            for code in obj.iter(q("TextCode")):
                text = code.text or ""
                assert all(ord(ch) in cmap for ch in text), text
                deltas = (code.get("DeltaX") or "").split()
                assert deltas or len(text) == 1
                rare_drawn = rare_drawn or RARE in text
    assert rare_drawn


def test_qr_picture_decodes_to_the_url(rendered: RenderedOfd, tmp_path: Path) -> None:
    if not shutil.which("zbarimg"):
        pytest.skip("zbarimg (zbar-tools) is not installed")
    files = entries(rendered.package)
    media = ET.fromstring(files["Doc_0/DocumentRes.xml"])
    formats = {m.findtext(q("MediaFile")): m.get("Format") for m in media.iter(q("MultiMedia"))}
    assert formats == {"qr.png": "PNG", "plan.png": "PNG"}
    path = tmp_path / "qr.png"
    path.write_bytes(files["Doc_0/Res/qr.png"])
    decoded = subprocess.run(
        ["zbarimg", "--raw", "-q", str(path)], capture_output=True, text=True, check=True
    )
    assert decoded.stdout.strip() == URL


def test_seal_box_is_over_the_authority_name(rendered: RenderedOfd) -> None:
    x, y, w, h = rendered.seal_box_mm
    assert (w, h) == (SEAL_SIZE_MM, SEAL_SIZE_MM)
    assert x >= 10 and x + w <= 200 and y >= 10 and y + h <= 287
    files = entries(rendered.package)
    page = ET.fromstring(files[f"Doc_0/Pages/Page_{rendered.seal_page}/Content.xml"])
    for obj in page.iter(q("TextObject")):
        if "".join(c.text or "" for c in obj.iter(q("TextCode"))) == AUTHORITY.name:
            bx, by, bw, bh = map(float, (obj.get("Boundary") or "").split())
            assert x < bx + bw / 2 < x + w and y < by + bh / 2 < y + h
            break
    else:
        pytest.fail("the authority's name is not printed on the seal page")


def test_structure_problems_are_found(rendered: RenderedOfd) -> None:
    files = entries(rendered.package)
    del files["Doc_0/Pages/Page_0/Content.xml"]
    files["Doc_0/Document.xml"] = files["Doc_0/Document.xml"].replace(
        b"<ofd:MaxUnitID>", b"<ofd:Bogus>1</ofd:Bogus><ofd:MaxUnitID>"
    )
    qr_id = re.search(rb'<ofd:MultiMedia ID="(\d+)"', files["Doc_0/DocumentRes.xml"])
    assert qr_id is not None
    page = files["Doc_0/Pages/Page_1/Content.xml"]
    page = re.sub(rb'(<ofd:PathObject ID=")\d+', rb"\g<1>" + qr_id.group(1), page, count=1)
    files["Doc_0/Pages/Page_1/Content.xml"] = page.replace(b'Font="', b'Font="99', 1)
    problems = ofd_structure_problems(rezip(files))
    joined = "\n".join(problems)
    assert "Doc_0/Pages/Page_0/Content.xml is referred to but missing" in joined
    assert "ofd:Bogus, not allowed there" in joined
    assert "used twice" in joined
    assert "names no ofd:Font" in joined
    assert ofd_structure_problems(b"not a zip")[0].startswith("not a readable OFD package")


def test_a_jpeg_plan_is_kept_as_jpeg() -> None:
    from PIL import Image

    picture = io.BytesIO()
    Image.open(io.BytesIO(plan_png())).convert("RGB").save(picture, format="JPEG")
    out = write_ofd(
        kind=CertificateKind.PROPERTY_CERTIFICATE,
        face=property_face(),
        verification_url=URL,
        authority=AUTHORITY,
        licence_id=PROPERTY_ID,
        attached_plan=AttachedPlan("image/jpeg", picture.getvalue()),
    )
    files = entries(out.package)
    assert files["Doc_0/Res/plan.jpg"] == picture.getvalue()
    assert b'Format="JPEG"' in files["Doc_0/DocumentRes.xml"]
    assert ofd_structure_problems(out.package) == []


def test_hostile_xml_is_refused(rendered: RenderedOfd, pki: Pki) -> None:
    files = entries(rendered.package)
    body = files["OFD.xml"].split(b"?>", 1)[1]
    files["OFD.xml"] = (
        b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "' + b"x" * 99 + b'">]>' + body
    )
    package = rezip(files)
    check = verify_ofd(package, trust_roots=[pki.root])
    assert check.code is VerdictCode.NOT_PDF and "DTD" in check.detail
    assert any("DTD" in p for p in ofd_structure_problems(package))
    files = entries(rendered.package)
    files["Doc_0/Document.xml"] = b"<a>" * 200_000 + b"</a>" * 200_000
    assert ofd_structure_problems(rezip(files))  # a problem list, never an exception


def test_ascii_url_only() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        write_ofd(
            kind=CertificateKind.REGISTRATION_PROOF,
            face=proof_face(),
            verification_url="https://例子.cn/v/1",
            authority=AUTHORITY,
            licence_id=PROOF_ID,
            attached_plan=None,
        )


# --------------------------------------------------------------------------- sealing


def test_sealed_package_verifies(sealed: bytes, pki: Pki) -> None:
    check = verify_ofd(sealed, trust_roots=[pki.root])
    assert check.code is VerdictCode.VALID, check.detail
    assert check.trusted
    assert check.signer is not None and AUTHORITY.name in check.signer
    assert check.signed_at == NOW
    assert ofd_structure_problems(sealed) == []
    pem_root = pem.armor("CERTIFICATE", pki.root)
    assert verify_ofd(sealed, trust_roots=[pem_root]).code is VerdictCode.VALID


def test_signature_files_follow_gbt_33190(
    sealed: bytes, seal_der: bytes, rendered: RenderedOfd
) -> None:
    files = entries(sealed)
    ofd = ET.fromstring(files["OFD.xml"])
    assert ofd.findtext(f"{q('DocBody')}/{q('Signatures')}") == "Doc_0/Signs/Signatures.xml"
    listing = ET.fromstring(files["Doc_0/Signs/Signatures.xml"])
    # xs:ID values (GB/T 33190 Signatures.xsd): no bare number, and no MaxSignId repeating the
    # signature's ID (IDs are unique in a document; MaxSignId is optional).
    assert listing.find(q("MaxSignId")) is None
    (entry,) = listing.findall(q("Signature"))
    assert entry.get("ID") == "s001"
    assert entry.get("Type") == "Seal"
    assert entry.get("BaseLoc") == "/Doc_0/Signs/Sign_0/Signature.xml"
    signature_xml = files["Doc_0/Signs/Sign_0/Signature.xml"]
    signature = ET.fromstring(signature_xml)
    info = signature.find(q("SignedInfo"))
    assert info is not None
    assert info.findtext(q("SignatureMethod")) == "1.2.156.10197.1.501"
    references = info.find(q("References"))
    assert references is not None and references.get("CheckMethod") == "1.2.156.10197.1.401"
    covered = set()
    for reference in references.iter(q("Reference")):
        name = (reference.get("FileRef") or "").lstrip("/")
        assert base64.b64decode(reference.findtext(q("CheckValue")) or "") == sm3(files[name])
        covered.add(name)
    own = {"Doc_0/Signs/Sign_0/Signature.xml", "Doc_0/Signs/Sign_0/SignedValue.dat"}
    assert covered == set(files) - own
    annot = info.find(q("StampAnnot"))
    assert annot is not None and annot.get("ID") == "sa001"
    assert tuple(map(float, (annot.get("Boundary") or "").split())) == rendered.seal_box_mm
    document = ET.fromstring(files["Doc_0/Document.xml"])
    page_ids = [p.get("ID") for p in document.iter(q("Page"))]
    assert annot.get("PageRef") == page_ids[rendered.seal_page]
    assert files["Doc_0/Signs/Sign_0/Seal.esl"] == seal_der
    signed = core.Sequence.load(files["Doc_0/Signs/Sign_0/SignedValue.dat"])
    tbs = core.Sequence.load(signed[0].dump())
    assert bytes(tbs[3].cast(core.OctetBitString).native) == sm3(signature_xml)
    assert tbs[4].native == "/Doc_0/Signs/Sign_0/Signature.xml"


def test_bare_number_signature_ids_still_verify_but_break_the_schema(
    rendered: RenderedOfd, pki: Pki, seal_der: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Packages sealed before IDs were xs:ID names carry "1": they still verify (accepted on
    # read), and the structure check names each ID that is not an xs:ID.
    from bdcert.sealing import ofd as sealing_ofd

    monkeypatch.setattr(sealing_ofd, "SIGNATURE_ID", "1")
    monkeypatch.setattr(sealing_ofd, "STAMP_ANNOT_ID", "1")
    legacy = seal_ofd(
        rendered.package,
        seal_der=seal_der,
        signer_key=pki.key,
        signer_cert_der=pki.cert,
        page=rendered.seal_page,
        box_mm=rendered.seal_box_mm,
        time=NOW,
    )
    assert b'<ofd:Signature ID="1"' in entries(legacy)["Doc_0/Signs/Signatures.xml"]
    check = verify_ofd(legacy, trust_roots=[pki.root])
    assert check.code is VerdictCode.VALID, check.detail
    problems = "\n".join(ofd_structure_problems(legacy))
    assert "ofd:Signature ID '1' is not an xs:ID" in problems
    assert "ofd:StampAnnot ID '1' is not an xs:ID" in problems


def test_openssl_verifies_the_seal_signature(sealed: bytes, pki: Pki, tmp_path: Path) -> None:
    openssl = require_openssl()
    signed_value = entries(sealed)["Doc_0/Signs/Sign_0/SignedValue.dat"]
    outer = core.Sequence.load(signed_value)  # SES_Signature, read generically
    (tmp_path / "tbs.der").write_bytes(outer[0].dump())
    (tmp_path / "sig.der").write_bytes(bytes(outer[3].cast(core.OctetBitString).native))
    (tmp_path / "signer.der").write_bytes(bytes(outer[1].cast(core.OctetString).native))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([openssl, *args], capture_output=True, text=True, cwd=tmp_path)

    assert run("x509", "-inform", "DER", "-in", "signer.der", "-pubkey", "-noout", "-out",
               "pub.pem").returncode == 0  # fmt: skip
    verify = (
        "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "tbs.der",
        "-sigfile", "sig.der", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678",
    )  # fmt: skip
    result = run(*verify)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout
    (tmp_path / "tbs.der").write_bytes(outer[0].dump()[:-1] + b"\x00")
    assert run(*verify).returncode != 0


# --------------------------------------------------------------------------- tampering


def changed(sealed: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    files = entries(sealed)
    change(files)
    return rezip(files)


def _edit_page(files: dict[str, bytes]) -> None:
    name = "Doc_0/Pages/Page_0/Content.xml"
    files[name] = files[name].replace("张三".encode(), "王五".encode(), 1)


def _edit_signature(files: dict[str, bytes]) -> None:
    name = "Doc_0/Signs/Sign_0/Signature.xml"
    files[name] = files[name].replace(b"<ofd:SignatureDateTime>2", b"<ofd:SignatureDateTime>1")


def _add_file(files: dict[str, bytes]) -> None:
    files["Doc_0/Res/extra.png"] = plan_png((120, 120))


def _add_second_signature(files: dict[str, bytes]) -> None:
    name = "Doc_0/Signs/Signatures.xml"
    files[name] = files[name].replace(
        b"</ofd:Signatures>",
        b'<ofd:Signature ID="2" Type="Seal" BaseLoc="/Doc_0/Signs/Sign_1/Signature.xml"/>'
        b"</ofd:Signatures>",
    )


def _drop_signatures(files: dict[str, bytes]) -> None:
    files["OFD.xml"] = re.sub(rb"<ofd:Signatures>.*?</ofd:Signatures>", b"", files["OFD.xml"])


def _garble_signed_value(files: dict[str, bytes]) -> None:
    files["Doc_0/Signs/Sign_0/SignedValue.dat"] = b"\x30\x03\x02\x01\x04"


def _edit_seal_file(files: dict[str, bytes]) -> None:
    name = "Doc_0/Signs/Sign_0/Seal.esl"
    files[name] = files[name][:-1] + bytes([files[name][-1] ^ 1])


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (_edit_page, VerdictCode.DIGEST_MISMATCH),
        (_edit_signature, VerdictCode.DIGEST_MISMATCH),
        (_edit_seal_file, VerdictCode.DIGEST_MISMATCH),
        (_add_file, VerdictCode.MODIFIED_AFTER_SEALING),
        (_add_second_signature, VerdictCode.MULTIPLE_SIGNATURES),
        (_drop_signatures, VerdictCode.UNSEALED),
        (_garble_signed_value, VerdictCode.SIGNATURE_INVALID),
    ],
)
def test_tampering_is_detected(
    sealed: bytes, pki: Pki, change: Callable[[dict[str, bytes]], None], code: VerdictCode
) -> None:
    check = verify_ofd(changed(sealed, change), trust_roots=[pki.root])
    assert check.code is code, check.detail
    assert not check.trusted


def test_a_shadowed_duplicate_entry_is_modification(sealed: bytes, pki: Pki) -> None:
    out = io.BytesIO(sealed)
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(out, "a") as archive:
        archive.writestr("Doc_0/Pages/Page_0/Content.xml", b"<x/>")
    check = verify_ofd(out.getvalue(), trust_roots=[pki.root])
    assert check.code is VerdictCode.MODIFIED_AFTER_SEALING, check.detail


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", b"%PDF-1.7\n", b"PK\x03\x04" + bytes(100)],
    ids=["empty", "text", "pdf", "truncated-zip"],
)
def test_unreadable_packages(data: bytes, pki: Pki) -> None:
    check = verify_ofd(data, trust_roots=[pki.root])
    assert check.code is VerdictCode.NOT_PDF
    assert check.detail.startswith("not a readable OFD package")


def test_zip_bomb_is_refused(pki: Pki) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OFD.xml", b"<x/>")
        with archive.open("Doc_0/bomb.bin", "w") as handle:
            chunk = bytes(1 << 20)
            for _ in range(51):
                handle.write(chunk)
    assert len(out.getvalue()) < 200_000
    check = verify_ofd(out.getvalue(), trust_roots=[pki.root])
    assert check.code is VerdictCode.TOO_COMPLEX and "more than" in check.detail


def test_unsealed_package(rendered: RenderedOfd, pki: Pki) -> None:
    assert verify_ofd(rendered.package, trust_roots=[pki.root]).code is VerdictCode.UNSEALED


def test_untrusted_root(sealed: bytes, tmp_path: Path) -> None:
    other = make_pki(tmp_path)
    check = verify_ofd(sealed, trust_roots=[other.root])
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail


def test_seal_outside_its_validity_is_untrusted(
    rendered: RenderedOfd, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    expired = make_seal(pki, start=NOW - timedelta(days=30), end=NOW - timedelta(days=1))
    with monkeypatch.context() as patch:  # sign anyway, as a careless signer would
        patch.setattr(ses.Seal, "valid_at", lambda self, at: True)
        package = seal_ofd(
            rendered.package,
            seal_der=expired,
            signer_key=pki.key,
            signer_cert_der=pki.cert,
            page=rendered.seal_page,
            box_mm=rendered.seal_box_mm,
            time=NOW,
        )
    check = verify_ofd(package, trust_roots=[pki.root])
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
    assert "not valid" in check.detail


def test_sealing_refuses_bad_requests(rendered: RenderedOfd, sealed: bytes, pki: Pki) -> None:
    from bdcert.errors import SealingError

    kwargs: dict[str, Any] = {
        "seal_der": b"",
        "signer_key": pki.key,
        "signer_cert_der": pki.cert,
        "page": rendered.seal_page,
        "box_mm": rendered.seal_box_mm,
        "time": NOW,
    }
    with pytest.raises(SealingError, match="already sealed"):
        seal_ofd(sealed, **kwargs)
    with pytest.raises(SealingError, match="page 9"):
        seal_ofd(rendered.package, **(kwargs | {"page": 9}))
    with pytest.raises(SealingError, match="not a readable OFD"):
        seal_ofd(b"nope", **kwargs)
    with pytest.raises(SealingError, match="timezone"):
        seal_ofd(rendered.package, **(kwargs | {"time": datetime(2025, 1, 1)}))
