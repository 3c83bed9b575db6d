"""Reading and verifying (rule articles 14, 17): a certificate and its PDF for those allowed, the
register's answer for a QR code, and the check of a presented file.

The seal checks (pyHanko, the national primitives) are imported when a file is checked, not with
this module, so commands that never check one start fast.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bdcert.access import ACTIONS, full_view, mask_text, personal_names, redact
from bdcert.errors import NotFound, PermissionDenied, Problem, TooManyAttempts, ValidationError
from bdcert.lifecycle.services import Services
from bdcert.lifecycle.sharing import active_grant
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Certificate,
    CertificateStatus,
    Principal,
    SealFormFinding,
    Verdict,
    VerdictCode,
    in_force,
)
from bdcert.protocols import StorageTransaction
from bdcert.records import DownloadGuard

__all__ = [
    "SM2_WITH_SM3_DER_HEX",
    "certificate",
    "certificate_by_licence",
    "check_document",
    "history",
    "known_crls",
    "lookup",
    "lookup_key",
    "number_of_licence",
    "ofd",
    "pdf",
    "status_verdict",
    "verify",
]

#: The SM2-with-SM3 signature OID (1.2.156.10197.1.501) as a PDF /Contents holds it (hex): a
#: PDF with it is sealed with SM2 (GB/T 38540), not PAdES.
SM2_WITH_SM3_DER_HEX = b"2a811ccf55018375"


def certificate(services: Services, number: str, *, principal: Principal) -> Certificate:
    """See :meth:`bdcert.lifecycle.Registry.certificate`.

    A principal that may not read every certificate of the number's authority (a holder, a
    registrar of another authority) gets the same :class:`PermissionDenied` for a registered
    certificate it may not read and for a number nobody registered: numbers are sequential,
    and telling the two apart would let it walk the register (the specific reason is in the
    audit log's ``deny``). A principal without any reading role is refused before the fetch.
    """
    if not principal.roles & ACTIONS["read"]:
        services.authorize(principal, "read", subject=number)  # raises, logged
    with services.storage.transaction() as tx:
        try:
            cert = tx.get_certificate(number)
        except NotFound:
            cert = None
    if cert is None:
        if _sees_whole_authority(services, principal, number):
            raise NotFound(f"no certificate {number!r} is registered")
        with services.storage.transaction() as tx:
            details = {"action": "read", "authority": None, "reason": "no such certificate"}
            tx.append_audit(AuditEvent("deny", principal.name, number, services.clock(), details))
        raise PermissionDenied(_unseen(services, principal, number))
    try:
        services.authorize(principal, "read", cert.authority_code, subject=number, certificate=cert)
    except PermissionDenied:
        if _sees_whole_authority(services, principal, number):
            raise
        raise PermissionDenied(_unseen(services, principal, number)) from None
    with services.storage.transaction() as tx:
        tx.append_audit(AuditEvent("read", principal.name, number, services.clock(), {}))
    return cert


def _sees_whole_authority(services: Services, principal: Principal, number: str) -> bool:
    """True when ``principal`` may read every certificate of the authority ``number`` names
    (the platform, an auditor, a registrar of the authority whose place name it holds), so
    "not registered" tells it nothing it could not read."""
    if principal.roles & ACTIONS["audit"]:
        return True
    if "registrar" in principal.roles and principal.authority in services.authorities:
        return services.authorities[principal.authority].place_name in number
    return False


def _unseen(services: Services, principal: Principal, number: str) -> str:
    """The denial of a read, worded from the principal and the number alone (never from
    whether the number is registered)."""
    reasons = []
    if "registrar" in principal.roles:
        named = next(
            (a.code for a in services.authorities.values() if a.place_name in number),
            "another authority",
        )
        reasons.append(
            f"{principal.name} is a registrar of {principal.authority}, not of {named}; "
            "may not read there"
        )
    if "holder" in principal.roles:
        reasons.append(
            f"{principal.name} is not a holder (权利人) of a certificate {number!r} (if one is "
            "registered); a holder may read only their own certificates"
        )
    return "; ".join(reasons) or f"{principal.name} may not read certificate {number!r}"


def pdf(services: Services, number: str, *, principal: Principal) -> bytes:
    """See :meth:`bdcert.lifecycle.Registry.pdf`."""
    cert = certificate(services, number, principal=principal)
    with services.storage.transaction() as tx:
        pdf = tx.get_pdf(cert.number)
        details = {"format": "pdf", "sha256": hashlib.sha256(pdf).hexdigest()}
        tx.append_audit(AuditEvent("download", principal.name, number, services.clock(), details))
    return pdf


def lookup(
    services: Services,
    *,
    token: str | None = None,
    number: str | None = None,
    name: str | None = None,
    principal: Principal | None = None,
    client: str | None = None,
) -> Verdict:
    """See :meth:`bdcert.lifecycle.Registry.lookup`."""
    if (token is None) == (number is None):
        raise ValueError("give exactly one of token and number")
    problems = []
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(Problem("name", "must be the 权利人's name as registered, or omitted"))
    if number is not None and name is None and principal is None:
        problems.append(
            Problem(
                "name",
                "is required with number for an anonymous lookup (the 权利人's name as "
                "registered); or look up by the QR code's token",
            )
        )
    if client is not None and (not isinstance(client, str) or not client.strip()):
        problems.append(Problem("client", "must be a non-blank string (who asks) or omitted"))
    if problems:
        raise ValidationError(problems, subject="lookup")
    if token is not None:  # the whole URL a QR scanner returns: its last path segment
        token = token.strip().split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    by = "token" if token is not None else "number"
    actor = principal.name if principal is not None else "anonymous"
    who = client.strip() if client is not None else actor
    now = services.clock()
    limited: TooManyAttempts | None = None
    grant: frozenset[str] | None = None
    with services.storage.transaction() as tx:
        cert: Certificate | None = None
        if principal is None or not principal.roles & _UNLIMITED_ROLES:
            limited = _count_lookup(tx, services, who, now)
        if limited is None and token is not None:
            cert = tx.find_certificate_by_token(token)
        elif limited is None:
            try:
                cert = tx.get_certificate(_canonical_number(str(number)))
            except NotFound:
                cert = None
            if cert is not None and not full_view(principal, cert) and not _names(cert, name):
                cert = None  # the number alone opens nothing: answered as unknown
        # the names of the unit's other certificates are masked too (not needed in full view)
        related = _related(tx, cert) if cert and not full_view(principal, cert) else []
        if (
            cert is not None
            and principal is not None
            and "sharing_party" in principal.roles
            and not full_view(principal, cert)
        ):
            grant = active_grant(tx, principal.name, cert.authority_code, now)
        details: dict[str, Any] = {"by": by}
        if number is not None:
            details["name_given"] = name is not None
        if limited is not None:
            details["outcome"] = "limited"
        if grant is not None:
            details["granted_fields"] = sorted(grant)
        subject = cert.number if cert is not None else "(unknown)"
        tx.append_audit(AuditEvent("lookup", actor, subject, now, details))
    if limited is not None:
        raise limited
    if cert is None:
        return Verdict(
            code=VerdictCode.UNKNOWN_CERTIFICATE,
            trusted=False,
            detail=(
                "no certificate with this token is registered"
                if token is not None
                else "no certificate with this number (and 权利人's name) is registered"
            ),
        )
    details_granted = grant is None or "restrictions" in grant
    code, detail = status_verdict(services, cert, seizure_details=details_granted)
    if not full_view(principal, cert):
        detail = mask_text(detail, personal_names(cert, related))
    return Verdict(
        code=code,
        trusted=False,
        detail=f"register: {detail}",
        certificate=redact(cert, principal, grant=grant, related=related),
        granted_fields=grant,
    )


def _related(tx: StorageTransaction, cert: Certificate) -> list[Certificate]:
    """The other certificates, of any status, on the certificate's 不动产单元: their parties'
    names are masked where this one's free text mentions them."""
    seen = {cert.number}
    out = []
    for unit in cert.unit_numbers:
        for other in tx.certificates_for_unit(unit, valid_only=False):
            if other.number not in seen:
                seen.add(other.number)
                out.append(other)
    return out


#: Roles whose lookups are not counted against a limit (they see the register in full anyway).
_UNLIMITED_ROLES = frozenset({"platform", "auditor"})


def lookup_key(client: str) -> str:
    """The storage key of a client's lookup count (:meth:`bdcert.protocols.StorageTransaction.
    download_guard` holds it): SHA-256 (hex), salted apart from the self-download guards, so
    no client's name or address is stored in clear."""
    return hashlib.sha256(f"bdcert-lookup-client:{client}".encode()).hexdigest()


def _count_lookup(
    tx: StorageTransaction, services: Services, client: str, now: datetime
) -> TooManyAttempts | None:
    """Count one lookup of ``client`` (``[lookup]``: at most ``max_lookups`` within any
    ``window``), or the error refusing it when the client has had its share (not counted)."""
    policy = services.lookup_policy
    guard = tx.download_guard(lookup_key(client))
    recent = tuple(t for t in guard.failures if t > now - policy.window)
    if len(recent) >= policy.max_lookups:
        until = (recent[0] + policy.window).astimezone(CHINA_TZ)
        return TooManyAttempts(
            f"too many lookups from this client ({policy.max_lookups} within "
            f"{policy.window.total_seconds() / 60:g} minutes: the settings [lookup] max_lookups "
            f"and window_minutes): try again after {until.isoformat()}; the platform and "
            "auditors are not limited, every other authenticated operator is counted on its own",
            locked_until=until,
        )
    tx.save_download_guard(DownloadGuard(guard.identity, (*recent, now)))
    return None


#: Public names for :mod:`bdcert.lifecycle.verifying`, whose information check counts and masks
#: as a lookup: the roles not counted, the count, a unit's other certificates.
UNLIMITED_ROLES = _UNLIMITED_ROLES
count_lookup = _count_lookup
related_certificates = _related


def _canonical_number(number: str) -> str:
    """A certificate number as filed: NFKC (full-width ``（2026）`` is ``(2026)``, full-width
    digits ASCII), blanks removed, as ``download --paper-number`` accepts it."""
    return "".join(unicodedata.normalize("NFKC", number).split())


def _names(cert: Certificate, name: str | None) -> bool:
    """True when ``name`` is that of one of the certificate's 权利人 (blanks around it and
    width variants ignored)."""
    if name is None:
        return False
    given = unicodedata.normalize("NFKC", name).strip()
    return any(unicodedata.normalize("NFKC", p.name).strip() == given for p in cert.holders)


def status_verdict(
    services: Services, cert: Certificate, *, seizure_details: bool = True
) -> tuple[VerdictCode, str]:
    """The verdict a registered certificate's status gives.

    :param seizure_details: name the seizing authority and its document (not for a sharing
        party whose agreement does not grant ``restrictions``)."""
    if cert.status is CertificateStatus.SUPERSEDED:
        return VerdictCode.SUPERSEDED, f"superseded by {'、'.join(cert.superseded_by)}"
    if cert.status is CertificateStatus.CANCELLED:
        return VerdictCode.CANCELLED, f"cancelled: {cert.cancel_reason}"
    if seized := in_force(cert.restrictions, services.clock()):
        r = seized[-1]
        which = f" ({r.authority} {r.document_number})" if seizure_details else ""
        return VerdictCode.RESTRICTED, f"valid, but the unit is under seizure{which}"
    return VerdictCode.VALID, "in force"


def verify(
    services: Services,
    pdf: bytes,
    *,
    principal: Principal | None = None,
    at: datetime | None = None,
) -> Verdict:
    """See :meth:`bdcert.lifecycle.Registry.verify`."""
    if not isinstance(pdf, bytes | bytearray | memoryview):
        raise TypeError(f"verify() takes the PDF's bytes, not {type(pdf).__name__}")
    pdf = bytes(pdf)
    check = check_document(pdf, services.trust_roots, at=at, crls=known_crls(services))
    actor = principal.name if principal is not None else "anonymous"
    digest = hashlib.sha256(pdf).hexdigest()
    grant: frozenset[str] | None = None
    related: list[Certificate] = []
    now = services.clock()
    form: tuple[SealFormFinding, ...] = ()
    with services.storage.transaction() as tx:
        cert = _registered(tx, pdf, digest) if check.code is VerdictCode.VALID else None
        code = check.code
        detail = check.detail
        if code is VerdictCode.VALID:
            if cert is None:
                code = VerdictCode.UNKNOWN_CERTIFICATE
                detail = "the seal is sound but this file is not in the certificate register"
            else:
                shown = full_view(principal, cert)
                if principal is not None and "sharing_party" in principal.roles and not shown:
                    grant = active_grant(tx, principal.name, cert.authority_code, now)
                granted = grant is None or "restrictions" in grant
                code, detail = status_verdict(services, cert, seizure_details=granted)
                if code is VerdictCode.VALID:
                    detail = "valid: sealed by the authority, unchanged since sealing, in force"
                form = seal_form(check, cert)
                if form and code in (VerdictCode.VALID, VerdictCode.RESTRICTED):
                    from bdcert.verify.form import nonconforming_detail

                    code, detail = VerdictCode.NONCONFORMING, nonconforming_detail(detail, form)
                related = [] if shown else _related(tx, cert)
                if code is not VerdictCode.VALID and not shown:
                    detail = mask_text(detail, personal_names(cert, related))
        tx.append_audit(
            AuditEvent(
                "verify",
                actor,
                cert.number if cert else digest,
                now,
                {"code": code.value},
            )
        )
    return Verdict(
        code=code,
        trusted=check.trusted,
        detail=detail,
        # the face is what the file shows; ID numbers only for those who may see them
        certificate=None
        if cert is None
        else redact(cert, principal, face_shown=True, grant=grant, related=related),
        signer=check.signer,
        signed_at=check.signed_at,
        granted_fields=grant,
        form=form,
    )


def seal_form(check: Any, cert: Certificate) -> tuple[SealFormFinding, ...]:
    """How a sound seal of the registered ``cert`` breaks the scheme's form: the seal check's
    findings (invisible seal, no certification lock) and whether the signing time the seal
    claims is the certificate's issue time (:func:`bdcert.verify.form.signing_time_finding`).
    """
    from bdcert.verify.form import signing_time_finding

    late = signing_time_finding(check.claimed_at or check.signed_at, cert.issued_at)
    return (*check.form, *((late,) if late is not None else ()))


_REVISION_END = re.compile(rb"%%EOF(\r\n|\r|\n)?")


def _registered(tx: Any, pdf: bytes, digest: str) -> Any:
    """The registered certificate of the file, or of the revision it extends: a valid seal
    whose file has later updates carries only PAdES validation data and document timestamps
    after it (an archive timestamp renewal), so a registered copy is one of its prefixes."""
    cert = tx.find_certificate_by_digest(digest)
    if cert is not None:
        return cert
    ends = [m.end() for m in _REVISION_END.finditer(pdf) if m.end() < len(pdf)]
    for end in reversed(ends[-16:]):
        cert = tx.find_certificate_by_digest(hashlib.sha256(pdf[:end]).hexdigest())
        if cert is not None:
            return cert
    return None


def known_crls(services: Services) -> list[bytes]:
    """The CRLs the workspace's ``[revocation] crls`` names (those PAdES seals embed)."""
    from bdcert.sealing import DigestSealProvider

    provider = services.seal_provider
    return provider.evidence.crls() if isinstance(provider, DigestSealProvider) else []


def check_document(
    data: bytes,
    trust_roots: Sequence[bytes],
    *,
    at: datetime | None = None,
    crls: Sequence[bytes] = (),
) -> Any:
    """The seal check for the file's kind: an OFD package, an SM2-sealed PDF, or PAdES (at the
    validation time ``at``, default now, knowing ``crls``: see
    :func:`bdcert.verify.pades.check_pdf_seal`); :func:`bdcert.verify.offline.seal_check`."""
    # the checkers pull in pyHanko and the national primitives: imported on first check only
    from bdcert.verify.offline import seal_check

    return seal_check(data, trust_roots, at=at, crls=crls)


def ofd(services: Services, number: str, *, principal: Principal) -> bytes:
    """See :meth:`bdcert.lifecycle.Registry.ofd`."""
    cert = certificate(services, number, principal=principal)
    with services.storage.transaction() as tx:
        data = tx.get_ofd(cert.number)
        details = {"format": "ofd", "sha256": hashlib.sha256(data).hexdigest()}
        tx.append_audit(AuditEvent("download", principal.name, number, services.clock(), details))
    return data


def number_of_licence(services: Services, licence_id: str) -> str:
    """The certificate number an e-licence identifier (电子证照标识) names: the identifier is
    ``1.2.156.3005.2.<type code>.<issuer code>.<year><sequence, 7 digits>.<version>.<check>``
    (:func:`bdcert.identifiers.licence_identifier`), its type code gives the kind, its issuer
    code (统一社会信用代码) the authority.

    :raises NotFound: for an identifier that is malformed, fails its check character, or names
        no configured authority or kind (worded alike: nothing is said about which part).
    """
    from bdcert.identifiers import (
        LICENCE_TYPE_CODES,
        format_certificate_number,
        licence_identifier,
    )

    unknown = NotFound(f"no certificate with e-licence identifier {licence_id!r}")
    prefix = "1.2.156.3005.2."
    if not isinstance(licence_id, str) or not licence_id.startswith(prefix):
        raise unknown
    parts = licence_id[len(prefix) :].split(".")
    if len(parts) != 5 or not re.fullmatch(r"\d{11}", parts[2]) or not parts[3].isdigit():
        raise unknown
    type_code, issuer, serial, version, _ = parts
    kinds = {code: kind for kind, code in LICENCE_TYPE_CODES.items()}
    authority = next((a for a in services.authorities.values() if a.credit_code == issuer), None)
    if type_code not in kinds or authority is None:
        raise unknown
    try:
        if licence_identifier(type_code, issuer, serial, int(version)) != licence_id:
            raise unknown
        sequence = int(serial[4:])
        return format_certificate_number(
            authority.province_abbr,
            int(serial[:4]),
            authority.place_name,
            kinds[type_code],
            sequence,
        )
    except ValueError:
        raise unknown from None


def certificate_by_licence(
    services: Services, licence_id: str, *, principal: Principal
) -> Certificate:
    """See :meth:`bdcert.lifecycle.Registry.certificate_by_licence`."""
    number = number_of_licence(services, licence_id)
    with services.storage.transaction() as tx:
        try:
            found = tx.get_certificate(number)
        except NotFound:
            found = None
    if found is None or found.licence_id != licence_id:
        if not _sees_whole_authority(services, principal, number):  # alike for both: 403
            services.authorize(principal, "read", subject=number)  # no reading role: logged
            raise PermissionDenied(_unseen(services, principal, number))
        raise NotFound(f"no certificate with e-licence identifier {licence_id!r}")
    return certificate(services, number, principal=principal)


def history(services: Services, number: str, *, principal: Principal) -> list[Certificate]:
    """See :meth:`bdcert.lifecycle.Registry.history`."""
    asked = certificate(services, number, principal=principal)
    chain: dict[str, Certificate] = {asked.number: asked}
    with services.storage.transaction() as tx:
        todo = [asked]
        while todo:
            cert = todo.pop()
            registration = tx.get_registration(cert.business_number)
            earlier = registration.result.supersedes if registration is not None else ()
            for other in (*earlier, *cert.superseded_by):
                if other not in chain:
                    try:
                        chain[other] = tx.get_certificate(other)
                    except NotFound:
                        continue  # a paper certificate's number is no e-certificate
                    todo.append(chain[other])
    return sorted(chain.values(), key=lambda c: (c.issued_at, c.number))
