"""The register-wide evidence renewal job (PAdES B-LTA archive timestamps, issue 9).

:func:`renew_all_evidence` is what :meth:`bdcert.lifecycle.Registry.renew_all_evidence` does:
it walks every stored certificate, in force or not (a superseded or cancelled one must still
prove itself genuine-but-superseded decades later), and renews the stored PDF of each whose
newest document timestamp's TSA certificate or revocation data lapses within the margin
(ETSI EN 319 142-1 §5.5, ETSI EN 319 102-1 §5.6.2.3), as
:func:`bdcert.sealing.archive.renew_archive_timestamp` does for one file.

Each renewal is sealed outside any transaction, then stored in a short transaction of its own
that replaces the stored PDF (:meth:`~bdcert.protocols.CertificateRecords.replace_pdf`, which
keeps every earlier digest recognised) and logs ``renew_evidence``: a crash leaves each
certificate either renewed and logged or untouched, and the next run carries on. A renewed PDF
is not due again until its new timestamp nears its own end, so a second run renews nothing; a
renewal that would not lapse later than the stored evidence (the workspace's TSA certificate is
the one lapsing) is not stored but reported as failed, so the files do not grow run after run.

Before a due file is stamped it must be the certificate's own and verify: its digest is the one
filed at issue (as the audit log's ``issue`` record gives it too) or a recorded revision
extending it, and its seals check out without the register
(:func:`bdcert.lifecycle.reading.check_document`); otherwise it is reported as failed, with the
reason, and left as it is (another certificate's file put in its place is not stamped).

PDFs sealed below B-LTA (no document timestamp) and SM2-sealed PDFs (GB/T 38540, whose seal
carries its own timestamp; the OFD documents likewise) are reported as skipped, not renewed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

import attrs

from bdcert.audit import issued_digests, stored_file_problem
from bdcert.errors import Problem, SealingError, StorageError, ValidationError
from bdcert.lifecycle import evidence as one_file
from bdcert.lifecycle.evidence import EvidenceRenewal
from bdcert.lifecycle.reading import SM2_WITH_SM3_DER_HEX, check_document, known_crls
from bdcert.lifecycle.services import Services
from bdcert.model import AuditEvent, Principal
from bdcert.sealing import DigestSealProvider
from bdcert.sealing.evidence import Evidence

__all__ = ["PAGE", "EvidenceJobs", "RenewalState", "StoredRenewal", "renew_all_evidence"]

#: How many certificate numbers are read per storage transaction while walking the register.
PAGE = 100

RenewalState = Literal["renewed", "due", "fresh", "skipped", "failed"]


@attrs.define(frozen=True)
class StoredRenewal:
    """What the job did with one stored certificate.

    :ivar number: the certificate's number.
    :ivar state: ``renewed`` (stored and logged); ``due`` (a dry run: it would be renewed; one that
        would not is ``failed``); ``fresh``
        (not due within the margin); ``skipped`` (nothing to renew: below B-LTA, or SM2, or
        renewed meanwhile by another run); ``failed`` (due but not renewed: the TSA failed, the evidence already
        lapsed, no TSA configured, or renewing would not extend it because the TSA's
        certificate is the one that lapses; the stored PDF is untouched).
    :ivar reason: why, in words (empty for ``fresh``).
    :ivar tsa_expires_at: before renewal, when the newest document timestamp's TSA certificate
        lapses (UTC); None without a document timestamp.
    :ivar revocation_expires_at: before renewal, the latest ``nextUpdate`` of that TSA's CRLs
        in the DSS (UTC); None when there are none.
    :ivar renewed_until: after renewal, when the new evidence lapses (UTC); else None.
    """

    number: str
    state: RenewalState
    reason: str = ""
    tsa_expires_at: datetime | None = None
    revocation_expires_at: datetime | None = None
    renewed_until: datetime | None = None


def _check(margin: object, limit: object, page: object) -> None:
    problems = []
    if not isinstance(margin, timedelta) or margin < timedelta(0):
        problems.append(Problem("margin", f"must be a timedelta of 0 or more, not {margin!r}"))
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        problems.append(Problem("limit", f"must be None or an int of 1 or more, not {limit!r}"))
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        problems.append(Problem("page", f"must be an int of 1 or more, not {page!r}"))
    if problems:
        raise ValidationError(problems, subject="renew_all_evidence")


def _renewer(services: Services) -> Evidence | None:
    """The workspace's TSA and revocation source, if it can renew archive timestamps."""
    provider = services.seal_provider
    if isinstance(provider, DigestSealProvider):
        evidence = provider.evidence
        if evidence.tsa is not None and evidence.checks_revocation:
            return evidence
    return None


def renew_all_evidence(
    services: Services,
    *,
    principal: Principal,
    margin: timedelta = timedelta(days=365),
    dry_run: bool = False,
    limit: int | None = None,
    page: int = PAGE,
) -> list[StoredRenewal]:
    """See :meth:`bdcert.lifecycle.Registry.renew_all_evidence`."""
    services.authorize(principal, "operate", subject="renew_evidence")
    _check(margin, limit, page)
    evidence = _renewer(services)
    outcomes: list[StoredRenewal] = []
    issued: dict[str, str] = {}  # the log's issue digests, read when first needed
    acted = 0  # renewed, failed, or in a dry run listed as due: each asked the TSA
    after: str | None = None
    while True:
        with services.storage.transaction() as tx:
            numbers = tx.certificate_numbers(after=after, limit=page)
        if not numbers:
            return outcomes
        after = numbers[-1]
        for number in numbers:
            outcome = _one(services, number, principal, margin, dry_run, evidence, issued)
            outcomes.append(outcome)
            acted += outcome.state in ("renewed", "failed", "due")
            if limit is not None and acted >= limit:
                return outcomes


def _one(
    services: Services,
    number: str,
    principal: Principal,
    margin: timedelta,
    dry_run: bool,
    evidence: Evidence | None,
    issued: dict[str, str],
) -> StoredRenewal:
    """Examine, and if due renew, one stored certificate's PDF (see the module's doc)."""
    from bdcert.sealing.archive import evidence_lapses, renew_archive_timestamp

    with services.storage.transaction() as tx:
        pdf = tx.get_pdf(number)
    if SM2_WITH_SM3_DER_HEX in pdf.lower():
        return StoredRenewal(
            number,
            "skipped",
            "sealed with SM2 (GB/T 38540): its seal carries its own timestamp, and no archive"
            " renewal exists for it (nor for its OFD document) yet",
        )
    try:
        lapse = evidence_lapses(pdf)
    except SealingError as e:
        return StoredRenewal(number, "failed", f"the stored PDF cannot be read: {e}")
    if lapse is None:
        return StoredRenewal(
            number,
            "skipped",
            "sealed below PAdES B-LTA (no document timestamp): no archive timestamp to renew",
        )
    now = services.clock()

    def outcome(
        state: RenewalState, reason: str = "", until: datetime | None = None
    ) -> StoredRenewal:
        return StoredRenewal(number, state, reason, lapse.tsa_certificate, lapse.revocation, until)

    if lapse.at > now + margin:
        return outcome("fresh")
    which = (
        "the newest document timestamp's TSA certificate"
        if lapse.revocation is None or lapse.tsa_certificate <= lapse.revocation
        else "the revocation data of the newest document timestamp's TSA"
    )
    reason = f"{which} lapses {lapse.at:%Y-%m-%d %H:%M}Z, within the margin of {margin.days} days"
    refusal = _not_its_own(services, number, pdf, issued)
    if refusal is not None:
        return outcome("failed", f"{reason}, but it is not renewed: {refusal}")
    if evidence is None:
        return outcome(
            "failed",
            f"{reason}, but the workspace has no [timestamp] and [revocation] to renew with",
        )
    try:
        renewed = renew_archive_timestamp(pdf, evidence)
        after = evidence_lapses(renewed)
    except SealingError as e:
        return outcome("failed", f"{reason}; renewing failed: {e}")
    until = None if after is None else after.at
    problem = one_file.extension_problem(lapse.at, until)
    if problem is not None:  # same TSA certificate, no fresher CRL: keep the file
        return outcome("failed", f"{reason}; {problem}")
    if dry_run:  # renewed in memory only, to report what the real run would do
        return outcome("due", reason)
    details = {
        "sha256_before": hashlib.sha256(pdf).hexdigest(),
        "sha256_after": hashlib.sha256(renewed).hexdigest(),
        "expired_at": lapse.at.isoformat(),
        "expires_at": None if until is None else until.isoformat(),
        "job": "all",
    }
    try:
        with services.storage.transaction() as tx:
            if tx.get_pdf(number) != pdf:  # another run renewed it meanwhile: keep theirs
                return outcome("skipped", "renewed meanwhile by another run")
            tx.replace_pdf(number, renewed, now)
            tx.append_audit(AuditEvent("renew_evidence", principal.name, number, now, details))
    except StorageError as e:  # rolled back: e.g. another run stored its renewal at once
        return outcome("failed", f"{reason}; storing the renewal failed: {e}")
    return outcome("renewed", reason, until)


def _not_its_own(services: Services, number: str, pdf: bytes, issued: dict[str, str]) -> str | None:
    """Why the stored ``pdf`` must not be stamped as certificate ``number``'s, or None: it is not
    the file the register recorded for it (at issue, as the log's ``issue`` record says, or a
    recorded revision extending it), or its seals do not verify."""
    with services.storage.transaction() as tx:
        if number not in issued:  # first use, or issued since the job read the log
            issued.update(issued_digests(tx.audit_events()))
        cert = tx.get_certificate(number)

        def owner(digest: str) -> str | None:
            found = tx.find_certificate_by_digest(digest)
            return None if found is None else str(found.number)

        logged = issued.get(number)
        if logged is None:
            return "the audit log has no issue record of it"
        if cert.pdf_sha256 != logged:
            return "the digest the register records for it is not the one logged at issue"
        problem = stored_file_problem(number, pdf, cert.pdf_sha256, owner)
    if problem is not None:
        return problem
    check = check_document(pdf, services.trust_roots, crls=known_crls(services))
    if not check.trusted:
        return f"the stored PDF does not verify ({check.code.value}: {check.detail})"
    return None


class EvidenceJobs:
    """:class:`~bdcert.lifecycle.Registry`'s evidence renewal methods (a base class of it)."""

    services: Services

    def renew_evidence(
        self,
        pdf: bytes,
        *,
        principal: Principal,
        margin: timedelta = timedelta(days=365),
        dry_run: bool = False,
    ) -> EvidenceRenewal:
        """Keep a registered certificate's PAdES B-LTA evidence fresh (ETSI EN 319 142-1):
        when its newest document timestamp's TSA certificate or revocation data lapses within
        ``margin``, append fresh validation data and a new document timestamp (an incremental
        update: earlier copies still verify, and the register recognises the renewed file) and
        log ``renew_evidence``. The register's stored PDF is not changed (see
        :meth:`renew_all_evidence`). See :mod:`bdcert.lifecycle.evidence`.

        :returns: the outcome; its ``pdf`` is the renewed file to keep (or the file as given).
            A due file whose renewal would not extend its evidence (the TSA's own certificate
            is what lapses) is not renewed: ``problem`` says why, and nothing is logged, so
            rerunning never grows the file. A dry run asks the TSA too, to tell.
        :raises PermissionDenied: unless the platform (``operate``).
        :raises ConfigurationError: without B-LTA sealing configured.
        :raises SealingError: for a file that is not a genuine registered certificate at B-LTA,
            or a TSA that fails; nothing is logged.
        """
        return one_file.renew_evidence(
            self.services, pdf, principal=principal, margin=margin, dry_run=dry_run
        )

    def renew_all_evidence(
        self,
        *,
        principal: Principal,
        margin: timedelta = timedelta(days=365),
        dry_run: bool = False,
        limit: int | None = None,
    ) -> list[StoredRenewal]:
        """Keep every stored certificate's PAdES B-LTA evidence fresh (ETSI EN 319 142-1 §5.5;
        issue 9): walk the register (any status), and for each certificate whose newest document
        timestamp's TSA certificate or revocation data lapses within ``margin``, append fresh
        validation data (DSS) and a new document timestamp to its stored PDF, store the renewed
        PDF in place of it (every earlier copy is still recognised: it is a prefix, and its
        digest stays registered) and log ``renew_evidence``, in one short transaction per
        certificate. Idempotent and resumable; see :mod:`bdcert.lifecycle.renewal`.

        :param margin: renew what lapses within it (a timedelta of 0 or more; default a year).
        :param dry_run: only report what the run would do: ``due`` for what it would renew,
            ``failed`` with the reason for what it would refuse (the renewal is made in memory,
            so the TSA is asked, to tell whether it would extend the evidence); change and log
            nothing.
        :param limit: stop after this many certificates acted on (renewed, failed, or in a dry
            run due); None for all.
        :returns: one :class:`StoredRenewal` per certificate examined, in the walk's order;
            a failed renewal (TSA down, evidence already lapsed) is a ``failed`` entry, not an
            error, and leaves that certificate untouched.
        :raises PermissionDenied: unless the platform (``operate``).
        :raises ValidationError: naming each bad argument (``margin``, ``limit``).
        """
        return renew_all_evidence(
            self.services, principal=principal, margin=margin, dry_run=dry_run, limit=limit
        )
