"""Reading and verifying (rule articles 14, 17): a certificate and its PDF for those allowed, the
register's answer for a QR code, and the check of a presented file.

The seal checks (pyHanko, the national primitives) are imported when a file is checked, not with
this module, so commands that never check one start fast.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bdcert.access import redact
from bdcert.errors import NotFound
from bdcert.lifecycle.services import Services
from bdcert.model import (
    AuditEvent,
    Certificate,
    CertificateStatus,
    Principal,
    Verdict,
    VerdictCode,
    in_force,
)

__all__ = ["certificate", "check_document", "lookup", "pdf", "status_verdict", "verify"]

_SM2_WITH_SM3_DER_HEX = b"2a811ccf55018375"  # OID 1.2.156.10197.1.501, as /Contents hex


def certificate(services: Services, number: str, *, principal: Principal) -> Certificate:
    """See :meth:`bdcert.lifecycle.Registry.certificate`."""
    with services.storage.transaction() as tx:
        cert = tx.get_certificate(number)
    services.authorize(principal, "read", cert.authority_code, subject=number, certificate=cert)
    with services.storage.transaction() as tx:
        tx.append_audit(AuditEvent("read", principal.name, number, services.clock(), {}))
    return cert


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
    principal: Principal | None = None,
) -> Verdict:
    """See :meth:`bdcert.lifecycle.Registry.lookup`."""
    if (token is None) == (number is None):
        raise ValueError("give exactly one of token and number")
    if token is not None:  # the whole URL a QR scanner returns: its last path segment
        token = token.strip().split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    with services.storage.transaction() as tx:
        if token is not None:
            cert = tx.find_certificate_by_token(token)
        else:
            try:
                cert = tx.get_certificate(str(number))
            except NotFound:
                cert = None
        subject = cert.number if cert is not None else "(unknown)"
        actor = principal.name if principal is not None else "anonymous"
        tx.append_audit(
            AuditEvent(
                "lookup",
                actor,
                subject,
                services.clock(),
                {"by": "token" if token is not None else "number"},
            )
        )
    if cert is None:
        return Verdict(
            code=VerdictCode.UNKNOWN_CERTIFICATE,
            trusted=False,
            detail="no certificate with this token or number is registered",
        )
    code, detail = status_verdict(services, cert)
    return Verdict(
        code=code,
        trusted=False,
        detail=f"register: {detail}",
        certificate=redact(cert, principal),
    )


def status_verdict(services: Services, cert: Certificate) -> tuple[VerdictCode, str]:
    """The verdict a registered certificate's status gives."""
    if cert.status is CertificateStatus.SUPERSEDED:
        return VerdictCode.SUPERSEDED, f"superseded by {'、'.join(cert.superseded_by)}"
    if cert.status is CertificateStatus.CANCELLED:
        return VerdictCode.CANCELLED, f"cancelled: {cert.cancel_reason}"
    if seized := in_force(cert.restrictions, services.clock()):
        r = seized[-1]
        return VerdictCode.RESTRICTED, (
            f"valid, but the unit is under seizure ({r.authority} {r.document_number})"
        )
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
    check = check_document(pdf, services.trust_roots, at=at, crls=_known_crls(services))
    actor = principal.name if principal is not None else "anonymous"
    digest = hashlib.sha256(pdf).hexdigest()
    with services.storage.transaction() as tx:
        cert = _registered(tx, pdf, digest) if check.code is VerdictCode.VALID else None
        code = check.code
        detail = check.detail
        if code is VerdictCode.VALID:
            if cert is None:
                code = VerdictCode.UNKNOWN_CERTIFICATE
                detail = "the seal is sound but this file is not in the certificate register"
            else:
                code, detail = status_verdict(services, cert)
                if code is VerdictCode.VALID:
                    detail = "valid: sealed by the authority, unchanged since sealing, in force"
        tx.append_audit(
            AuditEvent(
                "verify",
                actor,
                cert.number if cert else digest,
                services.clock(),
                {"code": code.value},
            )
        )
    return Verdict(
        code=code,
        trusted=check.trusted,
        detail=detail,
        # the face is what the file shows; ID numbers only for those who may see them
        certificate=None if cert is None else redact(cert, principal, face_shown=True),
        signer=check.signer,
        signed_at=check.signed_at,
    )


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


def _known_crls(services: Services) -> list[bytes]:
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
    :func:`bdcert.verify.pades.check_pdf_seal`)."""
    # the checkers pull in pyHanko and the national primitives: imported on first check only
    if data[:4] == b"PK\x03\x04":
        from bdcert.verify.ofd import verify_ofd

        return verify_ofd(data, trust_roots=trust_roots)
    if _SM2_WITH_SM3_DER_HEX in data.lower():
        from bdcert.verify.pdf_sm2 import check_pdf_sm2

        return check_pdf_sm2(data, trust_roots=trust_roots)
    from bdcert.verify.pades import check_pdf_seal

    return check_pdf_seal(data, trust_roots, at=at, crls=crls)
