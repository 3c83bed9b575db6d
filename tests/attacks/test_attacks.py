"""Attacks on sealing, verification and entry validation (security review).

Passing tests are attacks bdcert already withstands. Tests marked ``xfail(strict=True)`` are
confirmed weaknesses: each fails today and will turn into an XPASS (a failure) once fixed, so the
marker must then be removed.
"""

from __future__ import annotations

import binascii
import contextlib
import copy
import hashlib
import io
import itertools
import json
import logging
import random
import re
import sqlite3
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bdcert.config import Workspace
from bdcert.errors import ValidationError
from bdcert.lifecycle import Registry
from bdcert.model import Principal, VerdictCode
from bdcert.pades import load_software_signer, run_sync
from bdcert.signatures import check_pdf_seal
from tests.support import make_workspace

#: Verdicts that tell a relying party "this is the authority's certificate, as issued".
GENUINE = {
    VerdictCode.VALID,
    VerdictCode.RESTRICTED,
    VerdictCode.SUPERSEDED,
    VerdictCode.CANCELLED,
}
CHENGDU_UNIT = "510104001001GB00001F00010001"


@pytest.fixture(autouse=True)
def _quiet_pyhanko() -> Iterator[None]:
    """pyHanko logs every rejected signature with a traceback; keep the output readable."""
    logging.disable(logging.ERROR)
    yield
    logging.disable(logging.NOTSET)


# --------------------------------------------------------------------------- helpers


def _open(ws: Workspace) -> tuple[Registry, Principal]:
    registry = Registry.open(ws.path)
    return registry, registry.authenticate({"operator": "platform"})


def _snapshot(ws: Workspace) -> dict[str, Any]:
    """Every stored row except the audit log (a rejected push is audited by design)."""
    db = sqlite3.connect(ws.path / "bdcert.sqlite3")
    try:
        tables = [
            r[0]
            for r in db.execute("select name from sqlite_master where type='table'")
            if r[0] not in ("audit_events", "alembic_version")
        ]
        return {t: sorted(map(repr, db.execute(f'select * from "{t}"'))) for t in tables}
    finally:
        db.close()


def _number(timeline: list[dict[str, Any]], ywh: str, registry: Registry, p: Principal) -> str:
    entry = next(e for e in timeline if e["ywh"] == ywh)
    return registry.push(entry, principal=p).numbers[0]


@pytest.fixture(scope="module")
def issued(
    tmp_path_factory: pytest.TempPathFactory, timeline: list[dict[str, Any]]
) -> Iterator[tuple[Workspace, Registry, Principal]]:
    """One workspace holding the whole sample timeline (read-only use, or rejected pushes)."""
    ws = make_workspace(tmp_path_factory.mktemp("attacks") / "ws")
    registry, principal = _open(ws)
    for entry in timeline:
        with contextlib.suppress(ValidationError):
            registry.push(entry, principal=principal)
    yield ws, registry, principal
    registry.close()


@pytest.fixture(scope="module")
def genuine(issued: tuple[Workspace, Registry, Principal]) -> bytes:
    """川(2024)成都市不动产权第0000006号: valid, unrestricted."""
    _, registry, principal = issued
    return registry.pdf("川(2024)成都市不动产权第0000006号", principal=principal)


@pytest.fixture(scope="module")
def other_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A second demo workspace: same authorities, a different root CA."""
    return make_workspace(tmp_path_factory.mktemp("other") / "ws")


def _verify(issued: tuple[Workspace, Registry, Principal], data: bytes) -> VerdictCode:
    verdict = issued[1].verify(data)
    assert verdict.code not in GENUINE, verdict.detail
    assert not verdict.ok
    return verdict.code


# --------------------------------------------------------------------------- PDF surgery

_BR = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def _br(pdf: bytes) -> tuple[int, int, int, int]:
    m = _BR.search(pdf)
    assert m is not None
    a, b, c, d = (int(x) for x in m.groups())
    return a, b, c, d


def _set_br(pdf: bytes, values: tuple[int, ...], text: bytes | None = None) -> bytes:
    """Rewrite /ByteRange in place, padded to the same length (so every offset stays put)."""
    m = _BR.search(pdf)
    assert m is not None
    old = m.group()
    new = text if text is not None else b"/ByteRange [" + b" ".join(b"%d" % v for v in values)
    assert len(new) + 1 <= len(old)
    new = new + b" " * (len(old) - len(new) - 1) + b"]"
    return pdf[: m.start()] + new + pdf[m.end() :]


def _trailer(pdf: bytes) -> tuple[int, int, bytes]:
    size = int(re.findall(rb"/Size (\d+)", pdf)[-1])
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    root = re.findall(rb"/Root (\d+ \d+ R)", pdf)[-1]
    return size, prev, root


def _append_revision(pdf: bytes, objects: dict[int, bytes], *, root: bytes | None = None) -> bytes:
    """A hand-made incremental update with a classic xref table."""
    size, prev, old_root = _trailer(pdf)
    out = bytearray(pdf)
    offsets = {}
    for num, body in sorted(objects.items()):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    for num, off in sorted(offsets.items()):
        out += b"%d 1\n%010d 00000 n \n" % (num, off)
    new_size = max(size, max(objects) + 1)
    out += b"trailer\n<< /Size %d /Root %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        new_size,
        root or old_root,
        prev,
        xref,
    )
    return bytes(out)


def _append_objstm_revision(pdf: bytes) -> bytes:
    """Shadow 'replace' after sealing: page 1 redefined inside an object stream (xref stream)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    kids = reader.root["/Pages"]["/Kids"]
    page_ref, page = kids.raw_get(0), kids[0]
    size, prev, root = _trailer(pdf)
    content, objstm, xref_num = size, size + 1, size + 2
    body = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R >>" % (
        page.raw_get("/Parent").idnum,
        content,
    )
    header = b"%d 0 " % page_ref.idnum
    out = bytearray(pdf)
    offsets = {content: len(out)}
    text = b"BT /Helvetica 40 Tf 100 400 Td (FAKE OWNER) Tj ET"
    out += b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (
        content,
        len(text),
        text,
    )
    offsets[objstm] = len(out)
    data = header + body
    out += (
        b"%d 0 obj\n<< /Type /ObjStm /N 1 /First %d /Length %d >>\nstream\n%s\nendstream\nendobj\n"
        % (objstm, len(header), len(data), data)
    )
    offsets[xref_num] = len(out)
    rows = [(page_ref.idnum, b"\x02" + objstm.to_bytes(4, "big") + b"\x00\x00")]
    rows += [(n, b"\x01" + offsets[n].to_bytes(4, "big") + b"\x00\x00") for n in sorted(offsets)]
    rows.sort()
    index = b" ".join(b"%d 1" % n for n, _ in rows)
    stream = zlib.compress(b"".join(r for _, r in rows))
    out += (
        b"%d 0 obj\n<< /Type /XRef /W [1 4 2] /Index [%s] /Size %d /Root %s /Prev %d "
        b"/Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream\nendobj\n"
        % (xref_num, index, xref_num + 1, root, prev, len(stream), stream)
    )
    out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_num]
    return bytes(out)


def _sig_object(pdf: bytes) -> tuple[int, bytes]:
    """The number and body of the signature dictionary object."""
    m = _BR.search(pdf)
    assert m is not None
    at = pdf.rfind(b"/Contents <", 0, m.start())
    start = list(re.finditer(rb"\n(\d+) 0 obj\n", pdf[:at]))[-1]
    end = pdf.index(b"endobj", at)
    return int(start.group(1)), pdf[start.end() : end].rstrip()


def _incremental(pdf: bytes, change: str) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    def nums(*v: int) -> Any:
        return generic.ArrayObject([generic.NumberObject(n) for n in v])

    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    if change == "page":
        w.insert_page(
            generic.DictionaryObject(
                {
                    pdf_name("/Type"): pdf_name("/Page"),
                    pdf_name("/MediaBox"): nums(0, 0, 595, 842),
                    pdf_name("/Resources"): generic.DictionaryObject(),
                }
            )
        )
    elif change in ("overlay", "annotation"):
        ref, _ = w.find_page_for_modification(0)
        page = ref.get_object()
        if change == "overlay":
            data = b"1 1 1 rg 40 600 500 100 re f BT /F1 30 Tf 60 640 Td (OWNER: MALLORY) Tj ET"
            stream = w.add_object(generic.StreamObject(stream_data=data))
            old = page.raw_get("/Contents")
            parts = list(page["/Contents"]) if isinstance(page["/Contents"], list) else [old]
            page[pdf_name("/Contents")] = generic.ArrayObject([*parts, stream])
        else:
            annot = generic.DictionaryObject(
                {
                    pdf_name("/Type"): pdf_name("/Annot"),
                    pdf_name("/Subtype"): pdf_name("/FreeText"),
                    pdf_name("/Rect"): nums(50, 600, 400, 640),
                    pdf_name("/Contents"): generic.TextStringObject("权利人：攻击者"),
                }
            )
            annots = page.get("/Annots", generic.ArrayObject())
            annots.append(w.add_object(annot))
            page[pdf_name("/Annots")] = annots
        w.update_container(page)
    elif change == "info":
        w.set_info(
            generic.DictionaryObject({pdf_name("/Title"): generic.TextStringObject("已解封")})
        )
    elif change == "field":
        field = w.root["/AcroForm"]["/Fields"][0].get_object()
        field[pdf_name("/T")] = generic.TextStringObject("renamed")
        w.update_container(field)
    elif change == "drop-acroform":
        w.root[pdf_name("/AcroForm")] = generic.DictionaryObject(
            {pdf_name("/Fields"): generic.ArrayObject()}
        )
        w.update_root()
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


# --------------------------------------------------------------------------- signers


def _name(cert_pem: bytes) -> x509.Name:
    return x509.load_pem_x509_certificate(cert_pem).subject


def _make_cert(
    subject: x509.Name,
    *,
    issuer: tuple[Any, x509.Name] | None = None,
    ca: bool = False,
) -> tuple[Any, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_key, issuer_name = issuer or (key, subject)
    now = datetime.now(UTC)
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    usage.update(
        {
            "key_cert_sign": ca,
            "crl_sign": ca,
            "digital_signature": not ca,
            "content_commitment": not ca,
        }
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )
    return key, cert


def _signer(tmp: Path, key: Any, cert: x509.Certificate, chain: tuple[x509.Certificate, ...] = ()):  # type: ignore[no-untyped-def]
    tmp.mkdir(parents=True, exist_ok=True)
    key_file, cert_file = tmp / "k.pem", tmp / "c.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    chain_files = []
    for i, c in enumerate(chain):
        f = tmp / f"chain{i}.pem"
        f.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        chain_files.append(f)
    return load_software_signer(key_file, cert_file, chain_files)


def _ws_signer(ws: Workspace, code: str):  # type: ignore[no-untyped-def]
    pki = ws.path / "pki"
    return load_software_signer(
        pki / f"{code}.key.pem", pki / f"{code}.cert.pem", [pki / "root.cert.pem"]
    )


def _swap_cms(pdf: bytes, signer: Any) -> bytes:
    """Keep every signed byte; put a CMS by ``signer`` over the same digest into the gap."""
    a, b, c, d = _br(pdf)
    digest = hashlib.sha256(pdf[a : a + b] + pdf[c : c + d]).digest()
    cms = binascii.hexlify(run_sync(signer.async_sign(digest, "sha256", use_pades=True)).dump())
    room = c - b - 2
    assert len(cms) <= room
    return pdf[: b + 1] + cms + b"0" * (room - len(cms)) + pdf[c - 1 :]


def _first_revision(pdf: bytes) -> bytes:
    """The rendered face as it was before sealing (sealing is an incremental update)."""
    return pdf[: pdf.index(b"%%EOF") + 6]


def _reseal(pdf: bytes, signer: Any, monkeypatch: pytest.MonkeyPatch | None = None) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    if monkeypatch is not None:  # pyHanko refuses to add to a no-changes certification
        monkeypatch.setattr(
            signers.PdfSigner, "_enforce_certification_constraints", lambda *a: None
        )
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False),
        signers.PdfSignatureMetadata(field_name="Forged", md_algorithm="sha256"),
        signer=signer,
        output=out,
    )
    return out.getvalue()


# =========================================================================== 1. PDF attacks


def test_the_genuine_file_is_valid(issued: Any, genuine: bytes) -> None:
    assert issued[1].verify(genuine).code is VerdictCode.VALID


@pytest.mark.parametrize(
    "change", ["page", "overlay", "annotation", "info", "field", "drop-acroform"]
)
def test_incremental_saving_is_modified_after_sealing(
    issued: Any, genuine: bytes, change: str
) -> None:
    attacked = _incremental(genuine, change)
    assert attacked.startswith(genuine)
    assert _verify(issued, attacked) is VerdictCode.MODIFIED_AFTER_SEALING


def test_an_appended_xref_with_a_new_root_is_modified_after_sealing(
    issued: Any, genuine: bytes
) -> None:
    size = _trailer(genuine)[0]
    attacked = _append_revision(
        genuine, {size: b"<< /Type /Catalog /Pages 1 0 R >>"}, root=b"%d 0 R" % size
    )
    assert _verify(issued, attacked) is VerdictCode.MODIFIED_AFTER_SEALING


def test_a_page_replaced_through_an_object_stream_is_modified_after_sealing(
    issued: Any, genuine: bytes
) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    attacked = _append_objstm_revision(genuine)
    page = PdfFileReader(io.BytesIO(attacked), strict=False).root["/Pages"]["/Kids"][0]
    assert b"FAKE OWNER" in page["/Contents"].data  # the shadow page is what a viewer shows
    assert _verify(issued, attacked) is VerdictCode.MODIFIED_AFTER_SEALING


def test_usf_a_redefined_signature_dictionary_is_never_genuine(issued: Any, genuine: bytes) -> None:
    num, body = _sig_object(genuine)
    a, b, c, d = _br(genuine)
    same = _append_revision(genuine, {num: body})  # same /ByteRange, no longer reaching EOF
    assert _verify(issued, same) is VerdictCode.MODIFIED_AFTER_SEALING
    # a /ByteRange grown to reach the new EOF: the signed digest no longer matches
    attacked, grown = same, d
    for _ in range(3):
        grown = len(attacked) - c
        new = body.replace(b"%d %d %d %d" % (a, b, c, d), b"%d %d %d %d" % (a, b, c, grown))
        attacked = _append_revision(genuine, {num: new})
    assert c + grown == len(attacked)
    assert _verify(issued, attacked) is VerdictCode.DIGEST_MISMATCH


def test_a_second_signature_field_on_the_same_contents_is_never_genuine(
    issued: Any, genuine: bytes
) -> None:
    num, _ = _sig_object(genuine)
    size = _trailer(genuine)[0]
    field = b"<< /FT /Sig /T (Seal2) /V %d 0 R /Type /Annot /Subtype /Widget /Rect [0 0 0 0] >>"
    attacked = _append_revision(genuine, {size: field % num})
    _verify(issued, attacked)


@pytest.mark.parametrize(
    "name",
    [
        "overlapping",
        "not-at-zero",
        "short-of-eof",
        "past-eof",
        "whole-file",
        "gap-moved",
        "zeros",
        "reversed",
        "negative",
        "other-contents",
    ],
)
def test_universal_signature_forgery_byte_ranges_are_never_genuine(
    issued: Any, genuine: bytes, name: str
) -> None:
    _, b, c, d = _br(genuine)
    n = len(genuine)
    values = {
        "overlapping": (0, b + 10, c - 10, d + 10),
        "not-at-zero": (1, b - 1, c, d),
        "short-of-eof": (0, b, c, d - 5),
        "past-eof": (0, b, c, d + 5),
        "whole-file": (0, n, n, 0),
        "gap-moved": (0, b - 100, c - 100, d + 100),
        "zeros": (0, 0, 0, 0),
        "reversed": (0, c, b, d),
        "negative": (),
        "other-contents": (0, 100, 200, n - 200),
    }[name]
    if name == "negative":
        attacked = _set_br(genuine, (), b"/ByteRange [-1 %d %d %d" % (b + 1, c, d // 10))
    else:
        attacked = _set_br(genuine, values)
    assert len(attacked) == n
    _verify(issued, attacked)


@pytest.mark.parametrize(
    "name",
    [
        "prepended",
        "bom",
        "newline",
        "second-eof",
        "doubled",
        "wrapped",
        "truncated-1",
        "truncated",
        "first-revision",
    ],
)
def test_wrapping_prepending_appending_and_truncation_are_never_genuine(
    issued: Any, genuine: bytes, name: str
) -> None:
    _, b, c, _ = _br(genuine)
    attacked = {
        "prepended": b"%PDF-1.7\n%junk\n" + genuine,
        "bom": b"\xef\xbb\xbf" + genuine,
        "newline": genuine + b"\n",
        "second-eof": genuine + b"%%EOF\n",
        "doubled": genuine + genuine,
        # signature wrapping: an object slipped in right after the /Contents gap
        "wrapped": genuine[:c] + b"\n99 0 obj\n(evil)\nendobj\n" + genuine[c:],
        "truncated-1": genuine[:-1],
        "truncated": genuine[: (b + c) // 2],
        "first-revision": _first_revision(genuine),
    }[name]
    code = _verify(issued, attacked)
    if name == "first-revision":
        assert code is VerdictCode.UNSEALED


def test_resealed_with_a_self_made_key_mimicking_the_authority_is_untrusted(
    issued: Any, genuine: bytes, tmp_path: Path
) -> None:
    ws = issued[0]
    subject = _name((ws.path / "pki" / "510100.cert.pem").read_bytes())
    root_name = _name((ws.path / "pki" / "root.cert.pem").read_bytes())
    key, cert = _make_cert(subject)
    fake_root_key, fake_root = _make_cert(root_name, ca=True)
    key2, cert2 = _make_cert(subject, issuer=(fake_root_key, root_name))
    self_signed = _signer(tmp_path / "a", key, cert)
    fake_chain = _signer(tmp_path / "b", key2, cert2, (fake_root,))
    tampered = _first_revision(genuine).replace(b"/Creator (bdcert)", b"/Creator (bdcerX)")
    for signer in (self_signed, fake_chain):
        assert _verify(issued, _swap_cms(genuine, signer)) is VerdictCode.UNTRUSTED_SIGNER
        assert _verify(issued, _reseal(tampered, signer)) is VerdictCode.UNTRUSTED_SIGNER


def test_resealed_by_another_workspaces_authority_is_untrusted(
    issued: Any, genuine: bytes, other_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = _ws_signer(other_ws, "510100")
    assert _verify(issued, _swap_cms(genuine, signer)) is VerdictCode.UNTRUSTED_SIGNER
    assert _verify(issued, _reseal(_first_revision(genuine), signer)) is (
        VerdictCode.UNTRUSTED_SIGNER
    )
    twice = _reseal(genuine, signer, monkeypatch)
    assert _verify(issued, twice) is VerdictCode.MULTIPLE_SIGNATURES


def test_resealed_by_another_trusted_authority_is_not_its_seal(issued: Any, genuine: bytes) -> None:
    """Chengdu's certificate re-signed by Mianyang's (trusted) key: the seal is sound, but it is
    not the seal of the authority the certificate names (issue 9: the register-free check said
    VALID; the register said UNKNOWN_CERTIFICATE)."""
    signer = _ws_signer(issued[0], "510700")
    resealed = _reseal(_first_revision(genuine), signer)
    check = check_pdf_seal(resealed, issued[1].trust_roots)
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
    assert "another authority" in check.detail
    assert _verify(issued, resealed) is VerdictCode.UNTRUSTED_SIGNER
    # Swapping the CMS inside a B-LTA file also breaks the document timestamp that covers it:
    # the seal's evidence fails before the authority is compared.
    swapped = _swap_cms(genuine, signer)
    assert check_pdf_seal(swapped, issued[1].trust_roots).code is VerdictCode.UNTRUSTED_SIGNER
    assert _verify(issued, swapped) is VerdictCode.UNTRUSTED_SIGNER


def test_resealed_by_its_own_authority_is_not_in_the_register(issued: Any, genuine: bytes) -> None:
    """Chengdu's certificate re-signed by Chengdu's own key (an insider): sound, unknown file."""
    signer = _ws_signer(issued[0], "510100")
    forged = _reseal(_first_revision(genuine), signer)
    assert check_pdf_seal(forged, issued[1].trust_roots).code is VerdictCode.VALID
    assert _verify(issued, forged) is VerdictCode.UNKNOWN_CERTIFICATE


def test_bytes_changed_in_the_contents_padding_are_not_in_the_register(
    issued: Any, genuine: bytes
) -> None:
    _, _, c, _ = _br(genuine)
    attacked = genuine[: c - 21] + b"DEADBEEF" * 2 + genuine[c - 5 :]
    assert _verify(issued, attacked) is VerdictCode.MODIFIED_AFTER_SEALING


def test_the_seal_check_rejects_changed_contents_padding(issued: Any, genuine: bytes) -> None:
    _, _, c, _ = _br(genuine)
    attacked = genuine[: c - 21] + b"DEADBEEF" * 2 + genuine[c - 5 :]
    check = check_pdf_seal(attacked, issued[1].trust_roots)
    assert check.code is not VerdictCode.VALID
    assert not issued[1].verify(attacked).trusted


def test_a_seal_made_with_the_root_ca_key_is_untrusted(
    issued: Any, genuine: bytes, tmp_path: Path
) -> None:
    pki = issued[0].path / "pki"
    key = serialization.load_pem_private_key((pki / "root.key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((pki / "root.cert.pem").read_bytes())
    forged = _reseal(_first_revision(genuine), _signer(tmp_path, key, cert))
    check = check_pdf_seal(forged, issued[1].trust_roots)
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail


def test_random_mutations_never_raise_and_are_never_genuine(issued: Any, genuine: bytes) -> None:
    rnd = random.Random(20240601)
    tokens = [b"obj", b"endobj", b"<<", b">>", b"/ByteRange", b"/Contents", b"xref", b"%%EOF"]
    tokens += [b"trailer", b"startxref", b"stream", b"endstream", b"[", b"]", b"(", b"<", b"R"]
    br_at = genuine.index(b"/ByteRange")
    tried = 0
    while tried < 250:
        data = bytearray(genuine)
        for _ in range(rnd.randint(1, 4)):
            pos = rnd.randrange(len(data))
            op = rnd.randrange(5)
            if op == 0:
                data[pos] = rnd.randrange(256)
            elif op == 1:
                del data[pos : pos + rnd.randint(1, 200)]
            elif op == 2:
                data[pos:pos] = rnd.choice(tokens)
            elif op == 3:
                src = rnd.randrange(len(data))
                data[pos:pos] = data[src : src + rnd.randint(1, 500)]
            else:
                at = rnd.choice([br_at + 12, br_at + 20, len(data) - 30, len(data) - 10])
                data[at] = ord(rnd.choice("0123456789- "))
        if bytes(data) == genuine:
            continue
        tried += 1
        _verify(issued, bytes(data))


# =========================================================================== 2. hostile entries


_PARCELS = itertools.count(1)


def _base(timeline: list[dict[str, Any]], ywh: Any, **changes: Any) -> dict[str, Any]:
    """timeline[0] under a new business number, on a unit of its own (no certificate yet)."""
    entry = copy.deepcopy(timeline[0])
    entry["ywh"] = ywh
    entry["bdcdyh"] = [f"510104001009GB{next(_PARCELS):05d}F00090009"]
    entry.update(changes)
    return entry


def _holder(i: int, share: Any = None) -> dict[str, Any]:
    party: dict[str, Any] = {"mc": f"持有人{i}", "zjzl": "99", "zjh": f"X{i:04d}"}
    if share is not None:
        party["qlbl"] = share
    return party


_CANCELLED = "川(2024)成都市不动产证明第0000001号"
_SUPERSEDED = "川(2024)成都市不动产权第0000001号"
_MIANYANG = "川(2024)绵阳市不动产权第0000001号"
_CANCEL = {
    "djjg": "510100",
    "djlx": "400",
    "zmsx": "抵押权",
    "dbsj": "2024-05-01T10:00:00+08:00",
    "bdcdyh": [CHENGDU_UNIT],
    "zxyy": "主债权消灭",
}

REJECTED: dict[str, tuple[Callable[[list[dict[str, Any]]], Any], set[str]]] = {
    "not-an-object": (lambda t: [t[0]], {""}),
    "null-entry": (lambda t: None, {""}),
    "all-null": (lambda t: dict.fromkeys(t[0]), {"ywh", "djjg", "djlx", "dbsj", "bdcdyh"}),
    "booleans-as-codes": (
        lambda t: _base(t, "A-1", djlx=True, qllx=False, gyfs=True),
        {"djlx", "qllx", "gyfs"},
    ),
    "floats-as-codes": (lambda t: _base(t, "A-2", djlx=100.0, qllx=4.0), {"djlx", "qllx"}),
    "ywh-list": (lambda t: _base(t, ["A-3"]), {"ywh"}),
    "ywh-number": (lambda t: _base(t, 123), {"ywh"}),
    "control-characters-in-name": (
        lambda t: _base(t, "A-22", qlr=[{"mc": "王\x00晓\x1b[31m明", "zjzl": "99", "zjh": "X1"}]),
        {"qlr[0].mc"},  # named by validation since issue 9 (before: by the font check, "qlr")
    ),
    "rtl-override-in-name": (
        lambda t: _base(t, "A-23", qlr=[{"mc": "王\u202e明晓", "zjzl": "99", "zjh": "X1"}]),
        {"qlr[0].mc"},  # named by validation since issue 9 (before: by the font check, "qlr")
    ),
    "zero-width-name": (
        lambda t: _base(t, "A-24", qlr=[{"mc": "\u200b", "zjzl": "99", "zjh": "X1"}]),
        {"qlr[0].mc"},  # named by validation since issue 9 (before: by the font check, "qlr")
    ),
    "dicts-for-lists": (
        lambda t: _base(t, "A-5", qlr={"mc": "x"}, bdcdyh={"a": 1}, yzh={"zh": "x"}),
        {"qlr", "bdcdyh", "yzh"},
    ),
    "lists-for-dicts": (
        lambda t: _base(t, "A-6", mj=[1], syqx=["2003-06-01"], ft=[1]),
        {"mj", "syqx", "ft"},
    ),
    "nan-area": (lambda t: _base(t, "A-7", mj={"fw": float("nan")}), {"mj.fw"}),
    "infinite-area": (lambda t: _base(t, "A-8", mj={"td": float("inf")}), {"mj.td"}),
    "text-nan-area": (
        lambda t: _base(t, "A-9", mj={"fw": "sNaN", "td": "-Infinity"}),
        {"mj.fw", "mj.td"},
    ),
    "negative-area": (lambda t: _base(t, "A-10", mj={"fw": -0.01}), {"mj.fw"}),
    "bad-dates": (
        lambda t: _base(t, "A-11", syqx={"qsrq": "2024-02-30", "zzrq": 20250101}),
        {"syqx.qsrq", "syqx.zzrq"},
    ),
    "naive-dbsj": (lambda t: _base(t, "A-12", dbsj="2024-12-31T23:30:00"), {"dbsj"}),
    "fullwidth-unit-digits": (
        lambda t: _base(t, "A-13", bdcdyh=["５10104001001GB00001F00010001"]),
        {"bdcdyh"},
    ),
    "float-rounding-shares": (
        lambda t: _base(
            t, "A-14", gyfs="2", qlr=[_holder(1, "0.30000000000000004"), _holder(2, "0.7")]
        ),
        {"qlr[0].qlbl"},  # more decimals than a share may carry
    ),
    "shares-as-numbers": (
        lambda t: _base(t, "A-15", gyfs="2", qlr=[_holder(1, 0.5), _holder(2, 0.5)]),
        {"qlr[0].qlbl", "qlr[1].qlbl"},
    ),
    "yzh-other-authority": (
        lambda t: _base(t, "A-16", djlx="200", yzh=[{"zh": _MIANYANG, "lx": "电子"}]),
        {"yzh[0].zh"},
    ),
    "yzh-already-superseded": (
        lambda t: _base(t, "A-17", djlx="200", yzh=[{"zh": _SUPERSEDED, "lx": "电子"}]),
        {"yzh[0].zh"},
    ),
    "yzh-unknown": (
        lambda t: _base(
            t, "A-18", djlx="200", yzh=[{"zh": "川(2024)成都市不动产权第0999999号", "lx": "电子"}]
        ),
        {"yzh[0].zh"},
    ),
    "yzh-wrong-types": (
        lambda t: _base(
            t,
            "A-19",
            djlx="200",
            yzh=[
                {"zh": 1, "lx": "电子"},
                {"zh": "x", "lx": ["电子"]},
                {"zh": "y", "lx": "纸质", "cl": {}},
            ],
        ),
        {"yzh[0].zh", "yzh[1].lx", "yzh[2].cl"},
    ),
    "cancel-already-cancelled": (
        lambda t: {**_CANCEL, "ywh": "A-20", "yzh": [{"zh": _CANCELLED, "lx": "电子"}]},
        {"yzh[0].zh"},
    ),
    "seizure-wrong-types": (
        lambda t: {
            **_CANCEL,
            "ywh": "A-21",
            "djlx": "800",
            "zmsx": None,
            "zxyy": None,
            "cfjg": ["法院"],
            "cfwh": 7,
            "cflx": True,
            "cfqx": ["2024-01-01"],
        },
        {"cfjg", "cfwh", "cflx", "cfqx"},
    ),
}


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_hostile_entries_are_validation_errors_naming_the_fields(
    issued: Any, timeline: list[dict[str, Any]], name: str
) -> None:
    ws, registry, principal = issued
    build, fields = REJECTED[name]
    before = _snapshot(ws)
    with pytest.raises(ValidationError) as caught:
        registry.push(build(timeline), principal=principal)
    named = {p.field for p in caught.value.problems}
    assert fields <= named, named
    assert caught.value.problems
    assert _snapshot(ws) == before


def test_percentages_that_only_sum_to_one_exactly_are_accepted(
    issued: Any, timeline: list[dict[str, Any]]
) -> None:
    _, registry, principal = issued
    holders = [_holder(1, "10%"), _holder(2, "20%"), _holder(3, "70%")]
    result = registry.push(_base(timeline, "A-30", gyfs="2", qlr=holders), principal=principal)
    assert len(result.numbers) == 1
    thirds = [_holder(i, "1/3") for i in range(3)]
    assert registry.push(_base(timeline, "A-31", gyfs="2", qlr=thirds), principal=principal)


def test_a_thousand_joint_holders_are_all_on_the_certificate(
    issued: Any, timeline: list[dict[str, Any]]
) -> None:
    _, registry, principal = issued
    holders = [_holder(i) for i in range(1000)]
    result = registry.push(_base(timeline, "A-32", gyfs="1", qlr=holders), principal=principal)
    face = result.certificates[0].certificate.face_value("qlr") or ""
    assert face.count("持有人") == 1000
    assert registry.verify(result.certificates[0].pdf).code is VerdictCode.VALID


def test_year_follows_china_time_near_new_year(issued: Any, timeline: list[dict[str, Any]]) -> None:
    _, registry, principal = issued
    east = registry.push(
        _base(timeline, "A-33", dbsj="2024-12-31T23:30:00+14:00"), principal=principal
    )
    west = registry.push(
        _base(timeline, "A-34", dbsj="2024-12-31T23:30:00-12:00"), principal=principal
    )
    assert east.numbers[0].startswith("川(2024)")  # 2024-12-31 17:30 in China
    assert west.numbers[0].startswith("川(2025)")  # 2025-01-01 19:30 in China


_CRASHES = {
    "ft-mime-list": lambda t: _base(t, "B-1", ft={"mime": [], "data": ""}),
    "area-1e30": lambda t: _base(t, "B-2", mj={"fw": "1e30"}),
    "dbsj-0001-01-01": lambda t: _base(t, "B-3", dbsj="0001-01-01T00:00:00+08:00"),
    "dbsj-9999-12-31-west": lambda t: _base(t, "B-4", dbsj="9999-12-31T23:00:00-12:00"),
    "lone-surrogate": lambda t: _base(t, "B-5", zl="成都市\ud800"),
    "mixed-key-types": lambda t: {**_base(t, "B-6"), 1: "x", "zz": "y"},
    "huge-integer-code": lambda t: _base(t, "B-7", djlx=10**5000),
}


@pytest.mark.parametrize("name", sorted(_CRASHES))
def test_hostile_values_that_escape_validation(
    issued: Any, timeline: list[dict[str, Any]], name: str
) -> None:
    ws, registry, principal = issued
    before = _snapshot(ws)
    try:
        with pytest.raises(ValidationError):
            registry.push(_CRASHES[name](timeline), principal=principal)
    finally:
        assert _snapshot(ws) == before  # nothing is stored either way (the transaction rolls back)


@pytest.mark.parametrize("djjg", [["510100"], {"510100": 1}], ids=["list", "object"])
def test_a_list_or_object_as_djjg_is_a_validation_error(
    issued: Any, timeline: list[dict[str, Any]], djjg: Any
) -> None:
    _, registry, principal = issued
    with pytest.raises(ValidationError) as caught:
        registry.push(_base(timeline, "B-9", djjg=djjg), principal=principal)
    assert "djjg" in {p.field for p in caught.value.problems}


def test_cli_rejects_a_deeply_nested_line_and_carries_on(
    workspace: Workspace, timeline: list[dict[str, Any]], tmp_path: Path
) -> None:
    from bdcert_adapters.cli import main

    file = tmp_path / "in.jsonl"
    nested = '{"ywh": "N-1", "qt": ' + "[" * 100_000 + "]" * 100_000 + "}"
    file.write_text(nested + "\n" + json.dumps(timeline[0], ensure_ascii=False) + "\n")
    assert main(["issue", str(file), "--workspace", str(workspace.path), "--json"]) == 0
    registry, principal = _open(workspace)
    with registry:
        assert registry.certificate("川(2024)成都市不动产权第0000001号", principal=principal)


def test_a_seizure_stays_on_the_unit(workspace: Workspace, timeline: list[dict[str, Any]]) -> None:
    """A transfer of a seized unit is refused; a correction carries the seizure to the successor."""
    registry, principal = _open(workspace)
    entry = next(e for e in timeline if e["ywh"] == "510100-2024-000102")
    seizure = next(e for e in timeline if e["ywh"] == "510100-2024-000116")
    assert seizure["bdcdyh"] == entry["bdcdyh"]
    with registry:
        seized = registry.push(entry, principal=principal).numbers[0]
        assert registry.push(seizure, principal=principal).restricts == (seized,)
        follow_up = {
            **copy.deepcopy(entry),
            "ywh": "T-1",
            "djlx": "200",
            "dbsj": "2024-06-01T10:00:00+08:00",
            "yzh": [{"zh": seized, "lx": "电子"}],
        }
        with pytest.raises(ValidationError, match="under seizure"):
            registry.push(follow_up, principal=principal)
        result = registry.push({**follow_up, "ywh": "T-2", "djlx": "500"}, principal=principal)
        assert result.supersedes == (seized,)
        assert registry.verify(result.certificates[0].pdf).code is VerdictCode.RESTRICTED


def test_a_seizure_before_the_first_certificate(
    workspace: Workspace, timeline: list[dict[str, Any]]
) -> None:
    registry, principal = _open(workspace)
    entry = next(e for e in timeline if e["ywh"] == "510100-2024-000102")
    seizure = next(e for e in timeline if e["ywh"] == "510100-2024-000116")
    with registry:
        assert not registry.push(seizure, principal=principal).restricts
        result = registry.push(entry, principal=principal)
        assert registry.verify(result.certificates[0].pdf).code is VerdictCode.RESTRICTED


@pytest.mark.parametrize("djlx", ["200", "400"])
def test_yzh_must_be_a_certificate_of_the_entrys_unit(
    workspace: Workspace, timeline: list[dict[str, Any]], djlx: str
) -> None:
    registry, principal = _open(workspace)
    with registry:
        victim = _number(timeline, "510100-2024-000105", registry, principal)  # another unit
        before = _snapshot(workspace)
        entry = (
            _base(timeline, "U-1", djlx="200", bdcdyh=[CHENGDU_UNIT])
            if djlx == "200"
            else {**_CANCEL, "ywh": "U-1"}
        )
        entry["yzh"] = [{"zh": victim, "lx": "电子"}]
        with pytest.raises(ValidationError):
            registry.push(entry, principal=principal)
        assert _snapshot(workspace) == before


@pytest.mark.parametrize(
    "case",
    [
        "duplicate-yzh",
        "paper-garbage",
        "year-9999",
    ],
)
def test_implausible_entries_are_rejected(
    workspace: Workspace, timeline: list[dict[str, Any]], case: str
) -> None:
    registry, principal = _open(workspace)
    with registry:
        first = _number(timeline, "510100-2024-000101", registry, principal)
        entry = {
            "duplicate-yzh": {**_CANCEL, "ywh": "I-1", "yzh": [{"zh": first, "lx": "电子"}] * 2},
            "paper-garbage": {
                **_CANCEL,
                "ywh": "I-2",
                "yzh": [{"zh": "hello", "lx": "纸质", "cl": "收回"}],
            },
            "year-9999": _base(timeline, "I-3", dbsj="9999-12-31T00:00:00+08:00"),
        }[case]
        before = _snapshot(workspace)
        with pytest.raises(ValidationError):
            registry.push(entry, principal=principal)
        assert _snapshot(workspace) == before


def test_negative_zero_area_is_zero(workspace: Workspace, timeline: list[dict[str, Any]]) -> None:
    registry, principal = _open(workspace)
    with registry:
        result = registry.push(_base(timeline, "I-4", mj={"fw": "-0"}), principal=principal)
        assert result.certificates[0].certificate.face_value("mj") == "房屋建筑面积0.00㎡"


# =========================================================================== 3. the QR token


def test_the_verification_token_is_unguessable_ascii_and_impersonal(
    issued: Any, timeline: list[dict[str, Any]]
) -> None:
    ws, registry, principal = issued
    db = sqlite3.connect(ws.path / "bdcert.sqlite3")
    try:
        rows = list(db.execute("select number, token, verification_url from certificates"))
    finally:
        db.close()
    assert len({r[1] for r in rows}) == len(rows) > 10
    personal = {p["zjh"] for e in timeline for p in e.get("qlr", [])}
    personal |= {p["mc"] for e in timeline for p in e.get("qlr", [])}
    for number, token, url in rows:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)  # 192 random bits
        assert url.isascii() and url.endswith(token)
        assert not any(x in url for x in personal) and number not in url
        pdf = registry.pdf(number, principal=principal)
        assert token.encode() not in pdf  # only in the QR modules, not as text


def test_a_changed_title_under_an_own_document_timestamp_is_not_valid_at_any_time(
    issued: tuple[Workspace, Registry, Principal], genuine: bytes, tmp_path: Path
) -> None:
    """The review's file: /Title and /Subject rewritten after the seal, then a document
    timestamp of a TSA of one's own; register-backed, with and without a validation time.
    And a validation time before the seal was made is refused for the genuine file."""
    from tests.sdk.test_ltv import _doc_timestamp, _own_tsa, _rewrite_info

    registry = issued[1]
    forged = _doc_timestamp(_rewrite_info(genuine), _own_tsa(tmp_path / "own")())
    for at in (None, datetime.now(UTC) + timedelta(days=180)):
        verdict = registry.verify(forged, at=at)
        assert verdict.code is VerdictCode.MODIFIED_AFTER_SEALING, (at, verdict.detail)
        assert not verdict.ok
    assert registry.verify(genuine, at=datetime.now(UTC) + timedelta(days=180)).ok
    early = registry.verify(genuine, at=datetime.now(UTC) - timedelta(days=1))
    assert early.code is VerdictCode.UNTRUSTED_SIGNER, early.detail
    assert "the validation time is before the seal was made" in early.detail
