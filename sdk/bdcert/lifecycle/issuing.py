"""Issuing (rule articles 5, 6, 10): check an entry's references, then number, render, seal and
file what it produces; supersede, cancel and restrict.

Rendering and sealing are imported when a certificate is made, not with this module: commands
that only read the store (``bdcert backlog list``) must start without fpdf, pyHanko or fontTools.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from bdcert.errors import ConfigurationError, MissingGlyph, NotFound, Problem, ValidationError
from bdcert.face import face_items
from bdcert.identifiers import LICENCE_TYPE_CODES, format_certificate_number, licence_identifier
from bdcert.lifecycle import preparing
from bdcert.lifecycle.services import Services, ofd_or_none
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Authority,
    Certificate,
    CertificateEvent,
    CertificateKind,
    CertificateStatus,
    IssuedCertificate,
    IssueResult,
    Outcome,
    Party,
    Principal,
    RegistrationEntry,
    Restriction,
    in_force,
)
from bdcert.protocols import OfdSealer, PaperDisposition, StorageTransaction

__all__ = [
    "apply_entry",
    "check_references",
    "issue_ofd",
    "issue_one",
    "new_token",
    "with_documents",
]


def new_token() -> str:
    """A QR verification token: 192 random bits as URL-safe base64 (32 characters), never
    starting with ``-`` (``bdcert lookup --token -x…`` would be read as an option)."""
    while (token := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return token


def check_references(
    services: Services, tx: StorageTransaction, entry: RegistrationEntry
) -> list[Problem]:
    """Every e-certificate named in ``yzh`` must exist and still be in force, and a new
    property certificate must name every property certificate in force on its units (rule
    article 10: the old one becomes invalid), so no unit ever has two in force."""
    problems = []
    if entry.produces is CertificateKind.PROPERTY_CERTIFICATE:
        named = {p.number for p in entry.prior_certificates}
        for unit in entry.unit_numbers:
            for cert in tx.certificates_for_unit(unit, kind=CertificateKind.PROPERTY_CERTIFICATE):
                if cert.number not in named:
                    problems.append(
                        Problem(
                            "yzh",
                            f"unit {unit} already has {cert.number} "
                            "in force; name it in yzh so it is superseded",
                        )
                    )
    for i, prior in enumerate(entry.prior_certificates):
        if not prior.electronic:
            continue
        try:
            cert = tx.get_certificate(prior.number)
        except NotFound:
            problems.append(Problem(f"yzh[{i}].zh", f"no e-certificate {prior.number} is on file"))
            continue
        wanted = entry.produces or (
            CertificateKind.REGISTRATION_PROOF
            if entry.proven_matter
            else CertificateKind.PROPERTY_CERTIFICATE
        )
        field = f"yzh[{i}].zh"
        if cert.status is not CertificateStatus.VALID:
            problems.append(Problem(field, f"{prior.number} is already {cert.status.value}"))
        elif not set(cert.unit_numbers) & set(entry.unit_numbers):
            problems.append(
                Problem(
                    field,
                    f"{prior.number} is for unit {'、'.join(cert.unit_numbers)}, not this entry's",
                )
            )
        elif cert.kind is not wanted:
            problems.append(
                Problem(
                    field,
                    f"{prior.number} is a {cert.kind.title}; this entry concerns a {wanted.title}",
                )
            )
        elif (
            wanted is CertificateKind.REGISTRATION_PROOF
            and entry.proven_matter
            and cert.face_value("zmsx") != entry.proven_matter
        ):
            problems.append(
                Problem(
                    field,
                    f"{prior.number} proves {cert.face_value('zmsx')}, not {entry.proven_matter}",
                )
            )
        elif entry.registration_type == "200" and (
            seized := in_force(cert.restrictions, entry.recorded_at)
        ):
            problems.append(
                Problem(
                    field,
                    f"{prior.number} is under seizure "
                    f"({seized[0].authority} {seized[0].document_number}); "
                    "it cannot be transferred until the seizure is lifted",
                )
            )
        elif cert.authority_code != entry.authority_code:
            problems.append(
                Problem(
                    f"yzh[{i}].zh",
                    f"{prior.number} was issued by authority "
                    f"{cert.authority_code}, not {entry.authority_code}",
                )
            )
    return problems


def apply_entry(
    services: Services,
    tx: StorageTransaction,
    entry: RegistrationEntry,
    principal: Principal,
    events: list[CertificateEvent],
    *,
    late: Mapping[str, Any] | None = None,
) -> IssueResult:
    """Number, render, seal and file what ``entry`` produces; supersede, cancel, restrict.

    :param late: for an entry issued from the backlog, its delay and the reason, recorded
        with each certificate's ``issue`` audit record and event (rule article 15).
    """
    preparation = preparing.current()
    now = preparation.now if preparation is not None else services.clock()
    ywh = entry.business_number
    kind = entry.produces
    issued: list[IssuedCertificate] = []
    supersedes: list[str] = []
    cancels: list[str] = []
    restricts: list[str] = []
    announcements: list[str] = []

    def audit(action: str, subject: str, **details: Any) -> None:
        tx.append_audit(AuditEvent(action, principal.name, subject, now, details))

    def event(kind_: str, number: str, **details: Any) -> None:
        events.append(CertificateEvent(kind_, number, ywh, entry.authority_code, now, details))

    if kind is not None:
        groups: list[tuple[Party, ...]] = (
            [(h,) for h in entry.holders] if entry.holding_mode == "分别持证" else [entry.holders]
        )
        for holders in groups:
            item = issue_one(services, tx, entry, kind, holders, now)
            issued.append(item)
            extra = {"late": dict(late)} if late else {}
            audit(
                "issue",
                item.certificate.number,
                ywh=ywh,
                licence_id=item.certificate.licence_id,
                pdf_sha256=item.certificate.pdf_sha256,
                **extra,
            )
            event("issued", item.certificate.number, kind=kind.value, **extra)
    numbers = [i.certificate.number for i in issued]
    if kind is CertificateKind.PROPERTY_CERTIFICATE:
        # a seizure binds the unit: one recorded before this certificate restricts it too
        seen: set[str] = set()
        for unit in entry.unit_numbers:
            for r in in_force(tx.unit_restrictions(unit), now):
                if r.business_number in seen:
                    continue
                seen.add(r.business_number)
                for number in numbers:
                    tx.add_restriction(number, r)
                    audit("restrict", number, ywh=r.business_number, carried_from=unit)
    for prior in entry.prior_certificates:
        if prior.electronic and kind is not None:
            # a seizure binds the unit, not the paper: it carries over to the successors
            for r in in_force(tx.get_certificate(prior.number).restrictions, now):
                if r.business_number in seen:
                    continue  # already carried from the unit
                seen.add(r.business_number)
                for number in numbers:
                    tx.add_restriction(number, r)
                    audit("restrict", number, ywh=r.business_number, carried_from=prior.number)
            tx.set_superseded(prior.number, numbers, ywh)
            supersedes.append(prior.number)
            audit("supersede", prior.number, by=numbers, ywh=ywh)
            event("superseded", prior.number, by=numbers)
        elif prior.electronic:  # 注销
            reason = entry.cancellation_reason or ""
            tx.set_cancelled(prior.number, reason, ywh)
            cancels.append(prior.number)
            audit("cancel", prior.number, reason=reason, ywh=ywh)
            event("cancelled", prior.number, reason=reason)
        else:
            assert prior.disposition is not None
            text = ""
            if prior.disposition == "公告作废":
                text = (
                    f"{services.authorities[entry.authority_code].name}公告：{prior.number}"
                    f"纸质不动产权证书未能收回，自{now.astimezone(CHINA_TZ):%Y年%m月%d日}起作废。"
                )
                announcements.append(prior.number)
            tx.add_paper_disposition(
                PaperDisposition(prior.number, ywh, prior.disposition, now, text)
            )
            audit("announce" if text else "recover", prior.number, ywh=ywh)
    if entry.seizure is not None:
        s = entry.seizure
        seizure = Restriction(
            business_number=ywh,
            authority=s.authority,
            document_number=s.document_number,
            type=s.type,
            start=s.term.start if s.term else None,
            end=s.term.end if s.term else None,
            recorded_at=now,
        )
        for unit in entry.unit_numbers:
            tx.add_unit_restriction(unit, seizure)
            for cert in tx.certificates_for_unit(unit, kind=CertificateKind.PROPERTY_CERTIFICATE):
                if cert.number in restricts:
                    continue
                tx.add_restriction(cert.number, seizure)
                restricts.append(cert.number)
                audit("restrict", cert.number, ywh=ywh, cfwh=s.document_number)
                event("restricted", cert.number, cfjg=s.authority, cfwh=s.document_number)
    result = IssueResult(
        business_number=ywh,
        outcome=Outcome.ISSUED if issued else Outcome.NONE,
        kind=kind,
        numbers=tuple(numbers),
        supersedes=tuple(supersedes),
        cancels=tuple(cancels),
        restricts=tuple(restricts),
        announcements=tuple(announcements),
    )
    tx.add_registration(entry, result)
    return attrs.evolve(result, certificates=tuple(issued))


def issue_one(
    services: Services,
    tx: StorageTransaction,
    entry: RegistrationEntry,
    kind: CertificateKind,
    holders: tuple[Party, ...],
    now: datetime,
) -> IssuedCertificate:
    authority = services.authorities[entry.authority_code]
    year = entry.year
    sequence = tx.next_sequence(authority.code, year, kind)
    number = format_certificate_number(
        authority.province_abbr, year, authority.place_name, kind, sequence
    )
    licence_id = licence_identifier(
        LICENCE_TYPE_CODES[kind], authority.credit_code, f"{year}{sequence:07d}"
    )
    face = face_items(
        entry,
        kind=kind,
        number=number,
        holders=holders,
        authority=authority,
        issued_at=now,
        codes=services.codes,
    )
    key = (number, licence_id, kind, holders, entry.fingerprint)
    preparation = preparing.current()
    ready = preparation.documents.get(key) if preparation is not None else None
    token = ready[0] if ready is not None else new_token()
    url = services.verification_base_url + token

    def render() -> tuple[bytes, bytes | None]:
        return _render_and_seal(services, entry, kind, face, url, authority, licence_id, now)

    if preparation is not None and preparation.rehearsing:  # step 1: plan, render nothing
        preparation.plans.append(preparing.Plan(key, token, render))
        sealed, ofd = b"", None  # the rehearsal's transaction is rolled back: never stored
    elif ready is not None:  # step 3: sealed beforehand, outside the transaction
        sealed, ofd = ready[1], ready[2]
    elif preparation is not None and key in preparation.failures:
        raise preparation.failures[key]  # failed beforehand: the seal provider is asked once
    else:
        sealed, ofd = render()
    certificate = Certificate(
        number=number,
        kind=kind,
        licence_id=licence_id,
        business_number=entry.business_number,
        authority_code=authority.code,
        year=year,
        sequence=sequence,
        holders=holders,
        unit_numbers=entry.unit_numbers,
        face=face,
        token=token,
        verification_url=url,
        issued_at=now,
        pdf_sha256=hashlib.sha256(sealed).hexdigest(),
    )
    tx.add_certificate(certificate, sealed)
    if ofd is not None:
        tx.add_ofd(number, ofd)
    return IssuedCertificate(certificate, sealed, ofd)


def _render_and_seal(
    services: Services,
    entry: RegistrationEntry,
    kind: CertificateKind,
    face: Sequence[Any],
    url: str,
    authority: Authority,
    licence_id: str,
    now: datetime,
) -> tuple[bytes, bytes | None]:
    """The sealed PDF and, when the registry makes OFD, the sealed OFD of one certificate.

    :raises ValidationError: the entry holds text no configured font can draw.
    :raises SealingError: the seal provider failed.
    """
    try:
        rendered = services.renderer.render(
            kind=kind,
            face=face,
            verification_url=url,
            authority=authority,
            licence_id=licence_id,
            attached_plan=entry.attached_plan,
        )
    except MissingGlyph as exc:  # the entry holds text no configured font can draw
        raise ValidationError(
            [Problem(exc.field, str(exc))], subject=f"entry {entry.business_number}"
        ) from exc
    sealed = services.seal_provider.seal_pdf(rendered.pdf, rendered.seal_request(authority, now))
    ofd = None
    if "ofd" in services.formats:
        ofd = issue_ofd(services, entry, kind, face, url, authority, licence_id, now)
    return sealed, ofd


def issue_ofd(
    services: Services,
    entry: RegistrationEntry,
    kind: CertificateKind,
    face: Sequence[Any],
    url: str,
    authority: Authority,
    licence_id: str,
    now: datetime,
) -> bytes:
    """The same face as an OFD package (GB/T 33190), sealed per GB/T 38540."""
    from bdcert.render.ofd import write_ofd

    rendered = write_ofd(
        kind=kind,
        face=face,
        verification_url=url,
        authority=authority,
        licence_id=licence_id,
        attached_plan=entry.attached_plan,
        fonts=services.renderer.fonts,
    )
    provider = services.seal_provider
    if not isinstance(provider, OfdSealer):  # checked when the registry opened (check_formats)
        raise ConfigurationError(f"the {provider.name} seal provider cannot seal OFD documents")
    sealed: bytes = provider.seal_ofd(
        rendered.package,
        authority=authority,
        page=rendered.seal_page,
        box_mm=rendered.seal_box_mm,
        time=now,
    )
    return sealed


def with_documents(services: Services, tx: StorageTransaction, stored: IssueResult) -> IssueResult:
    return attrs.evolve(
        stored,
        certificates=tuple(
            IssuedCertificate(tx.get_certificate(n), tx.get_pdf(n), ofd_or_none(tx, n))
            for n in stored.numbers
        ),
    )
