"""Search (检索) and file download (文件下载) for sharing parties (rule articles 16, 17).

A sharing party searches by 不动产单元号 and/or a 权利人's 证件号 (:func:`search_shared`) and
downloads a certificate's sealed PDF with its purpose 申请事由 (:func:`shared_file`), each under an
active agreement covering the certificate's authority, as :mod:`bdcert.lifecycle.sharing`
shares one certificate; every search and download is an audit record.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from bdcert.access import mask_id_number, mask_name, personal_names
from bdcert.errors import NotFound, PermissionDenied, Problem, ValidationError
from bdcert.lifecycle.services import Services
from bdcert.lifecycle.sharing import (
    NAMES_GRANTED,
    choose_agreement,
    granted_fields,
    masked_fields,
    optional_text,
    refusal,
    required_text,
    unit_certificates,
)
from bdcert.model import AuditEvent, Certificate, CertificateStatus, Principal
from bdcert.protocols import StorageTransaction
from bdcert.records import SharedCertificate, SharingAgreement

__all__ = ["search_shared", "shared_file"]


def _shared(
    tx: StorageTransaction, cert: Certificate, chosen: SharingAgreement, now: datetime
) -> SharedCertificate:
    """``cert`` as ``chosen`` grants it, masked as :func:`share` masks it."""
    fields = granted_fields(cert, chosen.fields, now)
    if not NAMES_GRANTED & set(chosen.fields):
        fields = masked_fields(fields, personal_names(cert, unit_certificates(tx, cert)))
    return SharedCertificate(number=cert.number, agreement_id=chosen.id, fields=fields)


def _fold(text: str) -> str:
    """A name or number for comparison: NFKC, without blanks."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def search_shared(
    services: Services,
    *,
    principal: Principal,
    unit: str | None = None,
    holder_name: str | None = None,
    holder_id: str | None = None,
    purpose: str | None = None,
) -> list[SharedCertificate]:
    """See :meth:`bdcert.lifecycle.Registry.search_shared`."""
    services.authorize(principal, "share", subject=unit or "search")
    problems: list[Problem] = []
    unit = optional_text(unit, "unit", "must be a 不动产单元号 or omitted", problems)
    holder_name = optional_text(
        holder_name, "holder_name", "must be a 权利人 name or omitted", problems
    )
    holder_id = optional_text(holder_id, "holder_id", "must be a 证件号 or omitted", problems)
    purpose = optional_text(purpose, "purpose", "must be the 申请事由 or omitted", problems)
    if not problems and unit is None and holder_id is None:
        if holder_name is None:
            for field in ("unit", "holder_name", "holder_id"):
                problems.append(Problem(field, "give at least one of unit, holder_name, holder_id"))
        else:
            problems.append(
                Problem(
                    "holder_name",
                    "narrows a search by unit or holder_id: a name alone would walk the "
                    "whole register",
                )
            )
    if problems:
        raise ValidationError(problems, subject="search")
    canonical = holder_id.upper() if holder_id is not None else None
    criteria: dict[str, Any] = {}
    if unit is not None:
        criteria["unit"] = unit
    if holder_name is not None:
        criteria["holder_name"] = mask_name(holder_name)
    if canonical is not None:
        criteria["holder_id"] = mask_id_number(canonical)
    subject = unit if unit is not None else mask_id_number(canonical or "")
    extra = {"purpose": purpose} if purpose is not None else {}
    now = services.clock()
    denial: PermissionDenied | None = None
    with services.storage.transaction() as tx:
        own = tx.agreements(principal.name)
        active = [a for a in own if a.state(now) == "active"]
        if not active:
            reasons = [f"agreement {a.id} is {a.state(now).replace('_', ' ')}" for a in own]
            denial = PermissionDenied(
                f"{principal.name} may not search: "
                + ("; ".join(reasons) or f"{principal.name} has no sharing agreement")
            )
            details = {"action": "search", "reason": str(denial), "considered": [a.id for a in own]}
            tx.append_audit(
                AuditEvent("deny", principal.name, subject, now, {**details, **criteria, **extra})
            )
        else:
            found: dict[str, Certificate] = {}
            if unit is not None:
                found = {c.number: c for c in tx.certificates_for_unit(unit)}
            if canonical is not None:
                mine = {
                    c.number: c
                    for c in tx.certificates_for_holder(canonical)
                    if c.status is CertificateStatus.VALID
                }
                found = mine if unit is None else {n: c for n, c in found.items() if n in mine}
            if holder_name is not None:
                wanted = _fold(holder_name)
                found = {
                    n: c
                    for n, c in found.items()
                    if any(_fold(p.name) == wanted for p in c.holders)
                }
            results = []
            for cert in found.values():
                chosen = choose_agreement(active, cert.authority_code)
                if chosen is not None:  # a certificate no agreement covers is not shown at all
                    results.append(_shared(tx, cert, chosen, now))
            tx.append_audit(
                AuditEvent(
                    "search",
                    principal.name,
                    subject,
                    now,
                    {
                        **criteria,
                        **extra,
                        "agreements": sorted({r.agreement_id for r in results}),
                        "certificates": [r.number for r in results],
                    },
                )
            )
            return results
    assert denial is not None
    raise denial


def shared_file(
    services: Services,
    number: str,
    *,
    purpose: str | None,
    principal: Principal,
    agreement_id: str | None = None,
) -> bytes:
    """See :meth:`bdcert.lifecycle.Registry.shared_file`."""
    services.authorize(principal, "share", subject=str(number))
    purpose = required_text(
        purpose,
        "purpose",
        "申请事由: why the file is downloaded",
        subject=f"file download {number}",
    )
    now = services.clock()
    denial: PermissionDenied | None = None
    with services.storage.transaction() as tx:
        own = tx.agreements(principal.name)
        if agreement_id is not None:
            own = [a for a in own if a.id == agreement_id]
        try:
            cert: Certificate | None = tx.get_certificate(number)
        except NotFound:
            cert = None
        authority = cert.authority_code if cert is not None else None
        active = [a for a in own if a.state(now) == "active"]
        reasons = [
            f"agreement {a.id} is {a.state(now).replace('_', ' ')}" for a in own if a not in active
        ]
        if not own:
            reasons.append(
                f"{principal.name} has no agreement {agreement_id}"
                if agreement_id is not None
                else f"{principal.name} has no sharing agreement"
            )
        if cert is None and active:
            tx.append_audit(
                AuditEvent(
                    "download",
                    principal.name,
                    number,
                    now,
                    {"agreement": active[0].id, "purpose": purpose, "found": False},
                )
            )
        else:
            reasons += [
                f"agreement {a.id} does not cover authority {authority}"
                for a in active
                if authority is None or not a.covers(authority)
            ]
            reasons += [
                f"agreement {a.id} does not grant the file"
                for a in active
                if authority is not None and a.covers(authority) and "file" not in a.fields
            ]
            chosen = choose_agreement([a for a in active if "file" in a.fields], authority)
            if chosen is None:
                denial = refusal(
                    tx,
                    principal,
                    number,
                    now,
                    "file",
                    authority,
                    reasons,
                    {
                        "purpose": purpose,
                        "agreement": agreement_id,
                        "considered": [a.id for a in own],
                    },
                )
            else:
                assert cert is not None
                pdf = tx.get_pdf(cert.number)
                tx.append_audit(
                    AuditEvent(
                        "download",
                        principal.name,
                        cert.number,
                        now,
                        {
                            "agreement": chosen.id,
                            "authority": authority,
                            "purpose": purpose,
                            "format": "pdf",
                        },
                    )
                )
                return pdf
    if denial is not None:
        raise denial
    raise NotFound(f"no certificate {number!r}")
