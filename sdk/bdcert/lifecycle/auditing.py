"""Auditing (rule articles 9, 17): the audit log for auditors, reconciliation with the registry
book, and the sealed checkpoints of the log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from bdcert.audit import register_problems, stored_file_problem
from bdcert.audit.witness import verify_witnesses
from bdcert.errors import NotFound, Problem, ValidationError
from bdcert.lifecycle.services import Services
from bdcert.model import AuditEvent, Certificate, Principal
from bdcert.protocols import AuditCheckpoint
from bdcert.validation import fingerprint

__all__ = [
    "Finding",
    "audit_checkpoints",
    "audit_log",
    "audit_page",
    "checkpoint_audit",
    "reconcile",
    "verify_audit",
]


@attrs.define(frozen=True)
class Finding:
    """One registry-book entry as :meth:`Registry.reconcile` finds it.

    :ivar finding: ``issued``, ``processed``, ``late``, ``missing`` or ``different``.
    :ivar delay: for issued certificates, sealing time minus 登簿时间.
    """

    business_number: str
    authority_code: str
    finding: str
    detail: str
    delay: timedelta | None = None


def audit_log(
    services: Services,
    *,
    principal: Principal,
    subject: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEvent]:
    """See :meth:`bdcert.lifecycle.Registry.audit_log`."""
    services.authorize(principal, "audit", subject=subject or "")
    with services.storage.transaction() as tx:
        events = tx.audit_events()
    return [e for e in events if _matches(e, subject, actor, since, until)]


def _matches(
    event: AuditEvent,
    subject: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
) -> bool:
    """True when ``event`` passes every filter given (None: no filter; times inclusive)."""
    return (
        (subject is None or _about(event, subject))
        and (actor is None or event.actor == actor)
        and (since is None or event.at >= since)
        and (until is None or event.at <= until)
    )


def _about(event: AuditEvent, subject: str) -> bool:
    """True when ``event`` is about ``subject``: its subject, or one of the certificates its
    details name (a self-download's subject is the masked ID number; ``details.certificates``
    lists the certificates it gave)."""
    if event.subject == subject:
        return True
    named = event.details.get("certificates")
    return isinstance(named, list | tuple) and subject in named


def reconcile(
    services: Services,
    book: Iterable[Any],
    *,
    principal: Principal,
    late_after: timedelta = timedelta(hours=24),
) -> list[Finding]:
    """See :meth:`bdcert.lifecycle.Registry.reconcile`."""
    services.authorize(principal, "audit")
    findings = []
    with services.storage.transaction() as tx:
        for raw in book:
            ywh = raw.get("ywh") if isinstance(raw, Mapping) else None
            djjg = str(raw.get("djjg", "")) if isinstance(raw, Mapping) else ""
            stored = tx.get_registration(ywh) if isinstance(ywh, str) else None
            key = str(ywh)
            if stored is None:
                findings.append(Finding(key, djjg, "missing", "never issued"))
            elif stored.fingerprint != fingerprint(raw):
                findings.append(
                    Finding(key, djjg, "different", "issued from other content than the book holds")
                )
            elif not stored.result.numbers:
                findings.append(Finding(key, djjg, "processed", stored.result.outcome.value))
            else:
                issued = max(tx.get_certificate(n).issued_at for n in stored.result.numbers)
                delay = issued - stored.recorded_at
                late = delay > late_after
                findings.append(
                    Finding(
                        key,
                        djjg,
                        "late" if late else "issued",
                        "、".join(stored.result.numbers),
                        delay,
                    )
                )
        details = {"entries": len(findings)}
        tx.append_audit(AuditEvent("reconcile", principal.name, "", services.clock(), details))
    return findings


def verify_audit(
    services: Services,
    *,
    principal: Principal,
    checkpoints: Sequence[tuple[str, bytes]] = (),
    witnesses: Sequence[tuple[str, bytes]] = (),
) -> list[str]:
    """See :meth:`bdcert.lifecycle.Registry.verify_audit`."""
    services.authorize(principal, "audit")
    with services.storage.transaction() as tx:
        problems = tx.verify_audit_chain()

        def certificate(number: str) -> Certificate | None:
            try:
                return tx.get_certificate(number)
            except NotFound:
                return None

        problems += register_problems(tx.audit_events(), certificate)
        problems += _stored_file_problems(tx)
        problems += verify_witnesses(
            tx,
            authorities=services.authorities,
            check=services.checkpointer.check,
            copies=witnesses,
        )
    return problems + services.checkpointer.verify(checkpoints)


def _stored_file_problems(tx: Any) -> list[str]:
    """A message naming each certificate whose stored PDF is not the file the register recorded
    for it (filed at issue) nor a recorded revision extending it."""

    def owner(digest: str) -> str | None:
        found = tx.find_certificate_by_digest(digest)
        return None if found is None else str(found.number)

    problems: list[str] = []
    after: str | None = None
    while numbers := tx.certificate_numbers(after=after, limit=100):
        after = numbers[-1]
        for number in numbers:
            cert = tx.get_certificate(number)
            problem = stored_file_problem(number, tx.get_pdf(number), cert.pdf_sha256, owner)
            if problem is not None:
                problems.append(f"register: {number}: {problem}")
    return problems


def checkpoint_audit(services: Services, *, principal: Principal) -> AuditCheckpoint:
    """See :meth:`bdcert.lifecycle.Registry.checkpoint_audit`."""
    services.authorize(principal, "operate")
    made = services.checkpointer.make(principal.name)
    assert made is not None  # only automatic checkpoints are skipped
    return made


def audit_checkpoints(services: Services, *, principal: Principal) -> list[AuditCheckpoint]:
    """See :meth:`bdcert.lifecycle.Registry.audit_checkpoints`."""
    services.authorize(principal, "audit")
    with services.storage.transaction() as tx:
        return tx.audit_checkpoints()


#: The most events one page of :func:`audit_page` holds.
MAX_AUDIT_PAGE = 1000


def audit_page(
    services: Services,
    *,
    principal: Principal,
    subject: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[tuple[int, AuditEvent]]:
    """See :meth:`bdcert.lifecycle.Registry.audit_page`."""
    services.authorize(principal, "audit", subject=subject or "")
    problems = []
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        problems.append(Problem("after", f"must be an event id >= 0, not {after!r}"))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_AUDIT_PAGE:
        problems.append(Problem("limit", f"must be 1-{MAX_AUDIT_PAGE}, not {limit!r}"))
    for field, moment in (("since", since), ("until", until)):
        if moment is not None and (not isinstance(moment, datetime) or moment.utcoffset() is None):
            problems.append(Problem(field, "must be a time with a UTC offset (e.g. +08:00)"))
    if problems:
        raise ValidationError(problems, subject="audit events")
    with services.storage.transaction() as tx:
        events = tx.audit_events()
    page: list[tuple[int, AuditEvent]] = []
    # the storage numbers events 1, 2, … in log order (StorageTransaction.append_audit)
    for event_id, e in enumerate(events[after:], start=after + 1):
        if _matches(e, subject, actor, since, until):
            page.append((event_id, e))
            if len(page) == limit:
                break
    return page
