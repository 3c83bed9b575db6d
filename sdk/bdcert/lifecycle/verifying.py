"""What verification needs from the register beyond :func:`bdcert.lifecycle.reading.verify`
(rule article 14; GB/T 36906 信息验证): the information check, and the trust bundle and sealed
status snapshot for offline verification. The answers' logic is in the verify layer
(:mod:`bdcert.verify.national`, :mod:`bdcert.verify.offline`); this module reads storage,
counts limits and writes the audit log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bdcert.access import full_view, mask_text, personal_names, redact
from bdcert.errors import ConfigurationError, NotFound, SealingError
from bdcert.lifecycle.reading import (
    UNLIMITED_ROLES,
    count_lookup,
    known_crls,
    related_certificates,
    status_verdict,
)
from bdcert.lifecycle.services import Services
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Certificate,
    CertificateStatus,
    Principal,
    in_force,
)
from bdcert.sealing.statement import statement_seal_request
from bdcert.verify import national, offline
from bdcert.verify.national import NationalResult
from bdcert.verify.offline import SnapshotEntry, TrustBundle

__all__ = ["information_check", "status_snapshot", "trust_bundle"]


def information_check(
    services: Services,
    fields: Mapping[str, Any],
    *,
    principal: Principal | None = None,
    client: str | None = None,
) -> NationalResult:
    """See :meth:`bdcert.lifecycle.Registry.information_check`."""
    given, incomplete = national.check_fields(fields)
    if incomplete is not None:
        return incomplete
    now = services.clock()
    actor = principal.name if principal is not None else "anonymous"
    who = client.strip() if client and client.strip() else actor
    number = national.canonical_number(given["zh"])
    with services.storage.transaction() as tx:
        limited = None
        if principal is None or not principal.roles & UNLIMITED_ROLES:
            limited = count_lookup(tx, services, who, now)
        if limited is None:
            cert: Certificate | None
            try:
                cert = tx.get_certificate(number)
            except NotFound:
                cert = None
            status: tuple[Any, str] | None = None
            seen = None
            if cert is not None:
                related = [] if full_view(principal, cert) else related_certificates(tx, cert)
                code, detail = status_verdict(services, cert, seizure_details=True)
                if related:
                    detail = mask_text(detail, personal_names(cert, related))
                status, seen = (code, detail), redact(cert, principal, related=related)
            result = national.answer(
                cert,
                given,
                now=now,
                status=status,
                seen=seen,
                name_fields=cert is not None and full_view(principal, cert),
            )
            subject = cert.number if cert is not None else "(unknown)"
            details = {"check": "information", "code": result.code}
            tx.append_audit(AuditEvent("verify", actor, subject, now, details))
    if limited is not None:
        raise limited
    return result


def trust_bundle(services: Services) -> TrustBundle:
    """See :meth:`bdcert.lifecycle.Registry.trust_bundle`."""
    from bdcert import pki
    from bdcert.verify.pipeline import der_certificates

    roots = der_certificates(services.trust_roots)
    chain: list[bytes] = []
    for code in services.authorities:
        try:
            pem = services.seal_provider.signer_certificate_pem(code)
        except (SealingError, NotImplementedError):
            continue
        chain.extend(d for d in pki.certificate_ders(pem) if d not in chain)
    crls = tuple(offline.crl_der(c) for c in known_crls(services))
    made = TrustBundle(
        services.clock().replace(microsecond=0), tuple(dict.fromkeys(roots)), tuple(chain), crls
    )
    return TrustBundle.load(made.to_json())  # its digest, as a reader computes it


def _entries(services: Services, now: datetime) -> list[SnapshotEntry]:
    out: list[SnapshotEntry] = []
    after: str | None = None
    with services.storage.transaction() as tx:
        while numbers := tx.certificate_numbers(after=after, limit=500):
            after = numbers[-1]
            for number in numbers:
                cert = tx.get_certificate(number)
                seized = tuple(
                    {
                        "authority": r.authority,
                        "document_number": r.document_number,
                        "end": r.end.isoformat() if r.end else None,
                    }
                    for r in in_force(cert.restrictions, now)
                )
                if cert.status is CertificateStatus.SUPERSEDED:
                    out.append(SnapshotEntry(number, "superseded", cert.superseded_by))
                elif cert.status is CertificateStatus.CANCELLED:
                    names = personal_names(cert, related_certificates(tx, cert))
                    reason = mask_text(cert.cancel_reason or "", names)
                    out.append(SnapshotEntry(number, "cancelled", reason=reason))
                elif seized:
                    out.append(SnapshotEntry(number, "restricted", restrictions=seized))
    return out


def status_snapshot(services: Services, *, made_by: str = "bdcert") -> bytes:
    """See :meth:`bdcert.lifecycle.Registry.status_snapshot`."""
    authority = services.checkpointer.authority
    if authority is None:
        raise ConfigurationError("no authority is configured to seal status snapshots")
    now = services.clock().replace(microsecond=0)
    entries = _entries(services, now)
    document = {
        "format": offline.SNAPSHOT_FORMAT,
        "version": 1,
        "made_at": now.astimezone(CHINA_TZ).isoformat(),
        "authority_code": authority.code,
        "authority": authority.name,
        "entries": [e.as_dict() for e in entries],
    }
    data = offline.canonical_json(document)
    digest = hashlib.sha256(data).hexdigest()
    counts = {s: sum(e.status == s for e in entries) for s in offline.SNAPSHOT_STATUSES}
    renderer = services.renderer
    pdf = offline.render_status_snapshot(document, data, digest, counts, authority, renderer, now)
    sealed: bytes = services.seal_provider.seal_pdf(
        pdf,
        statement_seal_request(
            authority,
            renderer.seal_picture(authority),
            reason="不动产登记电子证照状态快照",
            field_name="bdcert-status-snapshot",
            signing_time=now,
        ),
    )
    with services.storage.transaction() as tx:
        details = {"sha256": digest, "pdf_sha256": hashlib.sha256(sealed).hexdigest(), **counts}
        tx.append_audit(AuditEvent("snapshot", made_by, "status snapshot", now, details))
    return sealed
