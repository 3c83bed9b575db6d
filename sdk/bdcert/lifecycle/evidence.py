"""Renewing the long-term evidence of issued certificates (PAdES B-LTA archive timestamps).

:func:`renew_evidence` is what :meth:`bdcert.lifecycle.Registry.renew_evidence` does for one
sealed certificate PDF: if its newest document timestamp (or that timestamp's revocation data)
lapses within ``margin``, append fresh validation data and a new document timestamp
(:func:`bdcert.sealing.archive.renew_archive_timestamp`) and log it (``renew_evidence``, rule
article 17). Idempotent (a renewed file is not due again until its new timestamp nears its own
end; a renewal that would not extend the evidence, :func:`extension_problem`, is not returned
but reported, so rerunning never grows the file), resumable (one file at a time, nothing
half-written), with a dry run. The renewed file
extends the registered one, which the register still recognises (see
:meth:`~bdcert.lifecycle.Registry.verify`), and so do copies handed out before.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import attrs

from bdcert.errors import ConfigurationError, SealingError
from bdcert.lifecycle import reading
from bdcert.lifecycle.services import Services
from bdcert.model import AuditEvent, Principal
from bdcert.sealing import DigestSealProvider

__all__ = ["EvidenceRenewal", "extension_problem", "renew_evidence"]


@attrs.define(frozen=True)
class EvidenceRenewal:
    """The outcome of one renewal.

    :ivar number: the registered certificate's number.
    :ivar expires_at: when the evidence lapsed before (UTC).
    :ivar due: whether it lapses within the margin.
    :ivar renewed: whether ``pdf`` is a renewed file (False for a dry run, a file not due, or
        a renewal that would not extend the evidence).
    :ivar pdf: the renewed file, else the file as given.
    :ivar problem: why a due file was not (or, in a dry run, would not be) renewed: renewing
        would not extend its evidence (:func:`extension_problem`); empty otherwise.
    """

    number: str
    expires_at: datetime
    due: bool
    renewed: bool
    pdf: bytes = attrs.field(repr=False)
    problem: str = ""


def extension_problem(before: datetime, after: datetime | None) -> str | None:
    """Why a renewal whose evidence lapses at ``after`` does not extend evidence lapsing at
    ``before`` (the renewal's timestamp is by the same TSA certificate, and no fresher
    revocation data was found), or None when it lapses later. Shared by the one-file renewal
    and the register-wide job (:mod:`bdcert.lifecycle.renewal`): such a renewal is not kept,
    so the file does not grow run after run."""
    if after is not None and after > before:
        return None
    return (
        f"renewing would not extend it (the new timestamp's evidence lapses"
        f" {after or before:%Y-%m-%d %H:%M}Z too): give the timestamp authority a new"
        " certificate or publish fresh revocation data, then run again"
    )


def renew_evidence(
    services: Services,
    pdf: bytes,
    *,
    principal: Principal,
    margin: timedelta = timedelta(days=365),
    dry_run: bool = False,
) -> EvidenceRenewal:
    """See :meth:`bdcert.lifecycle.Registry.renew_evidence`."""
    services.authorize(principal, "operate", subject="renew_evidence")
    provider = services.seal_provider
    if not isinstance(provider, DigestSealProvider) or not provider.evidence.archival:
        raise ConfigurationError(
            "renewing evidence needs PAdES seals at seal.level B-LTA with [timestamp] and"
            " [revocation] configured"
        )
    from bdcert.sealing.archive import evidence_expiry, renew_archive_timestamp

    pdf = bytes(pdf)
    verdict = reading.verify(services, pdf, principal=principal)
    if not verdict.trusted or verdict.certificate is None:
        raise SealingError(
            f"only a genuine registered certificate's evidence is renewed; this file is"
            f" {verdict.code.value}: {verdict.detail}"
        )
    number = verdict.certificate.number
    expires = evidence_expiry(pdf)
    if expires is None:
        raise SealingError(f"{number} is sealed below PAdES B-LTA: no archive timestamp to renew")
    now = services.clock()
    due = expires <= now + margin
    if not due:
        return EvidenceRenewal(number, expires, due, False, pdf)
    # a dry run renews in memory too (the TSA is asked), to tell whether it would extend
    renewed = renew_archive_timestamp(pdf, provider.evidence)
    problem = extension_problem(expires, evidence_expiry(renewed))
    if problem is not None or dry_run:
        return EvidenceRenewal(number, expires, due, False, pdf, problem or "")
    details = {
        "sha256_before": hashlib.sha256(pdf).hexdigest(),
        "sha256_after": hashlib.sha256(renewed).hexdigest(),
        "expired_at": expires.isoformat(),
        "expires_at": _iso(evidence_expiry(renewed)),
    }
    with services.storage.transaction() as tx:
        tx.append_audit(AuditEvent("renew_evidence", principal.name, number, now, details))
    return EvidenceRenewal(number, expires, due, True, renewed)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
