"""Deliberately broken city systems for the documents plan: each is the reference's documents
(:mod:`bdcert_conformance.plans.documents_reference`) with ONE defect, re-rendered with bdcert's
renderer from modified inputs and re-sealed with the reference workspace's own seal key where
the defect needs it (so nothing but the defect differs), and names the check that catches it.

bdcert's SDK is not changed: the defects are made with its :class:`~bdcert.render.Renderer`,
its seal provider and, for seals bdcert would never make (invisible, without a certification
lock, signed by a key outside the trust list), pyHanko directly.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from bdcert.model import CertificateKind, FaceItem
from bdcert_conformance.broken import pyhanko_seal
from bdcert_conformance.kit.model import BrokenImplementation, RunOptions

__all__ = ["BROKEN"]

#: The certificate most defects are put into: 成都's second property certificate (no 附图).
TARGET = "510100-property_certificate-0000002.pdf"
#: The certificate with the long location and notes (line 30 of the example).
LONG = "510100-property_certificate-0000013.pdf"
#: A registration proof (抵押权, line 9 of the example).
PROOF = "510100-registration_proof-0000001.pdf"


def _copy(env: Any, workdir: Path) -> Path:
    documents = workdir / "documents"
    if documents.exists():
        shutil.rmtree(documents)
    shutil.copytree(env.documents, documents)
    return documents


def _options(env: Any, documents: Path, **changes: Any) -> RunOptions:
    options = RunOptions(
        plan="documents", entries=env.entries, documents=documents, trust=env.trust
    )
    return attrs.evolve(options, **changes)


def _face(cert: Any, **values: str | None) -> tuple[FaceItem, ...]:
    """The certificate's face with some values replaced (None: the item left out)."""
    out = []
    for item in cert.face:
        if item.key in values:
            if values[item.key] is None:
                continue
            item = attrs.evolve(item, value=values[item.key])
        out.append(item)
    return tuple(out)


def _render(env: Any, cert: Any, **changes: Any) -> Any:
    services = env.registry.services
    arguments: dict[str, Any] = {
        "kind": cert.kind,
        "face": cert.face,
        "verification_url": cert.verification_url,
        "authority": services.authorities[cert.authority_code],
        "licence_id": cert.licence_id,
        "attached_plan": None,
    }
    arguments.update(changes)
    return services.renderer.render(**arguments)


def _seal(env: Any, cert: Any, rendered: Any, signing_time: datetime | None = None) -> bytes:
    services = env.registry.services
    authority = services.authorities[cert.authority_code]
    request = rendered.seal_request(authority, signing_time or cert.issued_at)
    return bytes(services.seal_provider.seal_pdf(rendered.pdf, request))


def _pyhanko_seal(
    env: Any,
    cert: Any,
    pdf: bytes,
    request: Any,
    *,
    certify: bool,
    visible: bool,
    signer: Any = None,
) -> bytes:
    """A PAdES seal bdcert's provider would never make: without certification, or without a
    visible box, or by another signer (the workspace's own key when ``signer`` is None)."""
    if signer is None:
        signer = env.registry.services.seal_provider.loaded_signer(cert.authority_code).signer
    return pyhanko_seal(pdf, request, signer, visible=visible, certify=certify)


def _replace(env: Any, workdir: Path, name: str, make: Callable[[Any], bytes]) -> RunOptions:
    documents = _copy(env, workdir)
    (documents / name).write_bytes(make(env.certificates[name]))
    return _options(env, documents)


def _renumbered(env: Any, cert: Any, sequence: int, *, new_licence: bool) -> bytes:
    from bdcert.identifiers import LICENCE_TYPE_CODES, format_certificate_number, licence_identifier

    authority = env.registry.services.authorities[cert.authority_code]
    number = format_certificate_number(
        authority.province_abbr, cert.year, authority.place_name, cert.kind, sequence
    )
    licence = cert.licence_id
    if new_licence:
        licence = licence_identifier(
            LICENCE_TYPE_CODES[cert.kind], authority.credit_code, f"{cert.year}{sequence:07d}"
        )
    rendered = _render(env, cert, face=_face(cert, zh=number), licence_id=licence)
    return _seal(env, cert, rendered)


# --------------------------------------------------------------------------- the defects


def wrong_check_character(env: Any, workdir: Path) -> RunOptions:
    def make(cert: Any) -> bytes:
        last = cert.licence_id[-1]
        wrong = "0" if last != "0" else "1"
        return _seal(env, cert, _render(env, cert, licence_id=cert.licence_id[:-1] + wrong))

    return _replace(env, workdir, TARGET, make)


def number_gap(env: Any, workdir: Path) -> RunOptions:
    # 成都's last property certificate numbered 0000014: 0000013 was skipped
    return _replace(env, workdir, LONG, lambda c: _renumbered(env, c, 14, new_licence=True))


def duplicate_number(env: Any, workdir: Path) -> RunOptions:
    # 成都's last property certificate numbered 0000012, the number of the one before it
    return _replace(env, workdir, LONG, lambda c: _renumbered(env, c, 12, new_licence=False))


def proof_as_property_certificate(env: Any, workdir: Path) -> RunOptions:
    def make(cert: Any) -> bytes:
        rendered = _render(env, cert, kind=CertificateKind.PROPERTY_CERTIFICATE)
        return _seal(env, cert, rendered)

    return _replace(env, workdir, PROOF, make)


def missing_face_item(env: Any, workdir: Path) -> RunOptions:
    # 用途 left off the face
    return _replace(
        env, workdir, TARGET, lambda c: _seal(env, c, _render(env, c, face=_face(c, yt=None)))
    )


def truncated_long_value(env: Any, workdir: Path) -> RunOptions:
    def make(cert: Any) -> bytes:
        location = cert.face_value("zl")
        face = _face(cert, zl=location[:24] + "…")
        return _seal(env, cert, _render(env, cert, face=face))

    return _replace(env, workdir, LONG, make)


def qr_with_id_number(env: Any, workdir: Path) -> RunOptions:
    def make(cert: Any) -> bytes:
        url = f"{cert.verification_url}?zjh={cert.holders[0].id_number}"
        return _seal(env, cert, _render(env, cert, verification_url=url))

    return _replace(env, workdir, TARGET, make)


def _request(env: Any, cert: Any, rendered: Any, signing_time: datetime | None = None) -> Any:
    authority = env.registry.services.authorities[cert.authority_code]
    return rendered.seal_request(authority, signing_time or cert.issued_at)


def _sealed_by_pyhanko(env: Any, workdir: Path, **how: Any) -> RunOptions:
    def make(cert: Any) -> bytes:
        rendered = _render(env, cert)
        request = _request(env, cert, rendered)
        return _pyhanko_seal(env, cert, rendered.pdf, request, **how)

    return _replace(env, workdir, TARGET, make)


def invisible_seal(env: Any, workdir: Path) -> RunOptions:
    return _sealed_by_pyhanko(env, workdir, certify=True, visible=False)


def seal_away_from_name(env: Any, workdir: Path) -> RunOptions:
    def make(cert: Any) -> bytes:
        rendered = _render(env, cert)
        request = _request(env, cert, rendered)
        # the seal square moved to the page's top-left corner, far from 登记机构
        x1, y1, x2, y2 = request.box
        top = 842 - 60
        moved = attrs.evolve(request, box=(60, top - (y2 - y1), 60 + (x2 - x1), top))
        return bytes(env.registry.services.seal_provider.seal_pdf(rendered.pdf, moved))

    return _replace(env, workdir, TARGET, make)


def no_certification_lock(env: Any, workdir: Path) -> RunOptions:
    return _sealed_by_pyhanko(env, workdir, certify=False, visible=True)


def utc_issue_date(env: Any, workdir: Path) -> RunOptions:
    from bdcert.face import china_date

    def make(cert: Any) -> bytes:
        # the reference issues before 08:00 China time: the UTC date is the day before
        utc = china_date(cert.issued_at.astimezone(UTC).date())
        return _seal(env, cert, _render(env, cert, face=_face(cert, qfsj=utc)))

    return _replace(env, workdir, TARGET, make)


def signing_time_not_issue_time(env: Any, workdir: Path) -> RunOptions:
    def make(cert: Any) -> bytes:
        # the seal claims the entry's 登簿时间 (2024-03-05), the face says it was issued today
        recorded = next(e for e in _entries(env) if e["ywh"] == cert.business_number)["dbsj"]
        return _seal(env, cert, _render(env, cert), datetime.fromisoformat(recorded))

    return _replace(env, workdir, TARGET, make)


def _entries(env: Any) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in env.entries.read_text(encoding="utf-8").splitlines()]


def signer_not_trusted(env: Any, workdir: Path) -> RunOptions:
    from bdcert.demo_pki import make_demo_pki
    from bdcert.sealing.pades import load_software_signer

    authority = env.registry.services.authorities["510100"]
    pki = make_demo_pki(workdir / "another-pki", [authority])
    files = pki.seal["510100"]
    signer = load_software_signer(files.key, files.cert, [pki.root_cert])

    return _sealed_by_pyhanko(env, workdir, certify=True, visible=True, signer=signer)


def font_not_embedded(env: Any, workdir: Path) -> RunOptions:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    def make(cert: Any) -> bytes:
        rendered = _render(env, cert)
        writer = IncrementalPdfFileWriter(io.BytesIO(rendered.pdf), strict=False)
        for page_ref in writer.root["/Pages"]["/Kids"]:
            fonts = page_ref.get_object()["/Resources"]["/Font"]
            for font in fonts.values():
                font = font.get_object()
                for descendant in font.get("/DescendantFonts", [font]):
                    descriptor = descendant.get_object()["/FontDescriptor"]
                    for key in ("/FontFile", "/FontFile2", "/FontFile3"):
                        if key in descriptor:
                            del descriptor[key]
                    writer.update_container(descriptor)
        out = io.BytesIO()
        writer.write(out)
        return _seal(env, cert, attrs.evolve(rendered, pdf=out.getvalue()))

    return _replace(env, workdir, TARGET, make)


def changed_after_sealing(env: Any, workdir: Path) -> RunOptions:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    def make(cert: Any) -> bytes:
        sealed = (env.documents / TARGET).read_bytes()
        writer = IncrementalPdfFileWriter(io.BytesIO(sealed), strict=False)
        page_ref = writer.root["/Pages"]["/Kids"][0]
        page = page_ref.get_object()
        # a white box drawn over part of the face, appended after the seal
        cover = generic.StreamObject(stream_data=b"q 1 g 60 500 200 40 re f Q")
        contents = page["/Contents"]
        existing = list(contents) if isinstance(contents, generic.ArrayObject) else [contents]
        page["/Contents"] = generic.ArrayObject([*existing, writer.add_object(cover)])
        writer.update_container(page)
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    return _replace(env, workdir, TARGET, make)


def certificate_for_a_seizure(env: Any, workdir: Path) -> RunOptions:
    """A property certificate made from the 查封 entry (which produces none, rule article 6),
    numbered next in 成都's sequence so that only its kind is wrong."""
    from bdcert.face import face_items
    from bdcert.identifiers import LICENCE_TYPE_CODES, format_certificate_number, licence_identifier
    from bdcert.validation import parse_entry

    services = env.registry.services
    raw = next(e for e in _entries(env) if e.get("djlx") == "800")
    entry = parse_entry(raw, authorities=services.authorities, codes=services.codes)
    authority = services.authorities[entry.authority_code]
    model = env.certificates[LONG]  # 成都's last property certificate: the next number is free
    kind = CertificateKind.PROPERTY_CERTIFICATE
    sequence = model.sequence + 1
    number = format_certificate_number(
        authority.province_abbr, model.year, authority.place_name, kind, sequence
    )
    licence = licence_identifier(
        LICENCE_TYPE_CODES[kind], authority.credit_code, f"{model.year}{sequence:07d}"
    )
    face = face_items(
        entry, kind=kind, number=number, holders=entry.holders, authority=authority,
        issued_at=model.issued_at, codes=services.codes,
    )  # fmt: skip
    rendered = _render(env, model, face=face, licence_id=licence)
    documents = _copy(env, workdir)
    (documents / f"510100-property_certificate-{sequence:07d}.pdf").write_bytes(
        _seal(env, model, rendered)
    )
    return _options(env, documents)


def ofd_changed_after_sealing(env: Any, workdir: Path) -> RunOptions:
    import zipfile

    name = next(n for n in sorted(env.certificates) if n.endswith(".ofd"))

    def make(cert: Any) -> bytes:
        sealed = (env.documents / name).read_bytes()
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(sealed)) as old, zipfile.ZipFile(out, "w") as new:
            for info in old.infolist():
                data = old.read(info)
                if info.filename.endswith("Page_0/Content.xml"):
                    # the holder's name changed on the face after the seal was made
                    holder = cert.face_value("qlr").encode()
                    data = data.replace(holder, "李四".encode()[: len(holder)] or holder)
                new.writestr(info, data)
        return out.getvalue()

    return _replace(env, workdir, name, make)


BROKEN: list[BrokenImplementation] = [
    BrokenImplementation("B-001", "documents", "the e-licence identifier's check character is wrong", "P-006", wrong_check_character),
    BrokenImplementation("B-002", "documents", "a number is skipped (a gap in the sequence)", "P-005", number_gap),
    BrokenImplementation("B-003", "documents", "two certificates share one number", "P-005", duplicate_number),
    BrokenImplementation("B-004", "documents", "a registration proof issued as a property certificate", "P-001", proof_as_property_certificate),
    BrokenImplementation("B-005", "documents", "a face item (用途) is missing", "P-002", missing_face_item),
    BrokenImplementation("B-006", "documents", "a long location is truncated with an ellipsis", "P-003", truncated_long_value),
    BrokenImplementation("B-007", "documents", "the QR code carries the holder's ID number", "F-008", qr_with_id_number),
    BrokenImplementation("B-008", "documents", "the seal is invisible (no widget box)", "P-009", invisible_seal),
    BrokenImplementation("B-009", "documents", "the seal is an approval signature: no certification lock", "P-011", no_certification_lock),
    BrokenImplementation("B-010", "documents", "签发日期 printed as the UTC date", "P-015", utc_issue_date),
    BrokenImplementation("B-011", "documents", "the seal claims the recording time, not the issue time", "P-013", signing_time_not_issue_time),
    BrokenImplementation("B-012", "documents", "the signer does not chain to the trust list", "P-014", signer_not_trusted),
    BrokenImplementation("B-013", "documents", "a font is not embedded", "P-016", font_not_embedded),
    BrokenImplementation("B-014", "documents", "the face was changed after sealing", "F-012", changed_after_sealing),
    BrokenImplementation("B-015", "documents", "an OFD page was changed after sealing", "F-012", ofd_changed_after_sealing),
    BrokenImplementation("B-016", "documents", "the seal is drawn away from the authority's name", "P-009", seal_away_from_name),
    BrokenImplementation("B-017", "documents", "a property certificate issued for a 查封 (seizure)", "P-001", certificate_for_a_seizure),
]  # fmt: skip
