"""Intake (rule article 7): one pushed registration-book entry, checked, made idempotent by its
``ywh``, and applied, or queued behind its authority's backlog."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from bdcert.errors import IdempotencyConflict, Problem, SealingError, ValidationError
from bdcert.lifecycle import preparing as preparing_
from bdcert.lifecycle.backlog import after_drain, backlogged, enqueue, retry_delay
from bdcert.lifecycle.events import publish, stage
from bdcert.lifecycle.issuing import apply_entry, check_references, with_documents
from bdcert.lifecycle.preparing import Preparation, preparing
from bdcert.lifecycle.services import Services, log
from bdcert.model import (
    AuditEvent,
    CertificateEvent,
    IssueResult,
    Outcome,
    Principal,
    RegistrationEntry,
)
from bdcert.protocols import StorageTransaction
from bdcert.validation import fingerprint, parse_entry

__all__ = ["accept", "find_earlier", "push", "rehearse", "replay"]


def push(services: Services, raw: Any, *, principal: Principal) -> IssueResult:
    """See :meth:`bdcert.lifecycle.Registry.push`."""
    djjg = raw.get("djjg") if isinstance(raw, Mapping) else None
    # Permission is checked for a configured authority; an unknown one is a validation
    # problem, reported with every other problem of the entry.
    known = isinstance(djjg, str) and djjg in services.authorities
    services.authorize(principal, "issue", djjg if known else None, subject=str(djjg or ""))
    ywh = raw.get("ywh") if isinstance(raw, Mapping) else None
    events: list[CertificateEvent] = []
    accepted: list[RegistrationEntry] = []  # the valid entry, once the checks passed
    preparation = rehearse(services, raw, principal)
    try:
        with preparing(preparation), services.storage.transaction() as tx:
            result = accept(services, tx, raw, principal, events, accepted)
            staged = stage(services, tx, events)
    except SealingError as exc:
        if not accepted:
            raise
        # Force majeure (rule article 15): nothing of the attempt was stored; the entry
        # waits in the backlog instead of being lost, and is issued when sealing works again.
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("sealing failed, entry %r goes to the backlog: %r", ywh, reason)
        with services.storage.transaction() as tx:
            # a re-push (the pusher got no answer) may have come in since the rollback
            entry = accepted[0]
            answer, earlier = find_earlier(
                services, tx, entry.business_number, lambda: entry.fingerprint, principal
            )
            if answer is not None:
                return answer
            if earlier is not None:
                raise IdempotencyConflict(
                    [Problem("ywh", f"{ywh} was recorded meanwhile with different content")],
                    subject=f"entry {ywh}",
                ) from exc
            item = enqueue(
                services, tx, entry, principal, reason, retry_in=retry_delay(services, 1)
            )
            tx.record_backlog_failure(item.id, reason, item.next_attempt_at)  # attempt 1
        return backlogged(services, item)
    if result.outcome is Outcome.BACKLOGGED:
        # queued behind earlier entries of its authority: drain now if they are due
        return after_drain(services, result.business_number, principal)
    publish(services, events, staged)
    return result


def rehearse(services: Services, raw: Any, principal: Principal) -> Preparation:
    """Steps 1 and 2 of :mod:`bdcert.lifecycle.preparing` for one push: accept ``raw`` in a
    transaction that is rolled back, then render and seal what it would issue."""
    return preparing_.rehearse(
        services.storage,
        services.clock(),
        lambda tx: accept(services, tx, raw, principal, [], []),
    )


def accept(
    services: Services,
    tx: StorageTransaction,
    raw: Any,
    principal: Principal,
    events: list[CertificateEvent],
    accepted: list[RegistrationEntry],
) -> IssueResult:
    """Check an entry and apply it, or queue it behind its authority's backlog."""
    ywh = raw.get("ywh") if isinstance(raw, Mapping) else None
    answer, earlier = find_earlier(services, tx, ywh, lambda: fingerprint(raw), principal)
    if answer is not None:
        return answer
    problems: list[Problem] = []
    entry: RegistrationEntry | None = None
    try:
        entry = parse_entry(raw, authorities=services.authorities, codes=services.codes)
    except ValidationError as exc:
        problems.extend(exc.problems)
    if earlier is not None:
        problems.insert(
            0,
            Problem(
                "ywh",
                f"{ywh} was already recorded on {earlier.isoformat()} "
                "with different content; a correction needs a new business number",
            ),
        )
    # A 查封 never waits: it needs no seal and binds the unit at once (a certificate of the
    # unit issued later from the backlog starts out restricted); everything else keeps order.
    behind = (
        entry is not None
        and entry.seizure is None
        and entry.authority_code in tx.waiting_authorities()
    )
    if entry is not None and not behind:
        # behind a backlog, references are checked when its turn comes: the certificates
        # it names may be waiting in the backlog too
        problems.extend(check_references(services, tx, entry))
    if problems:
        error_type = IdempotencyConflict if earlier is not None else ValidationError
        raise error_type(problems, subject=f"entry {ywh or '(no ywh)'}")
    assert entry is not None
    accepted.append(entry)
    if behind:
        (first,) = tx.backlog(authority_code=entry.authority_code, state="waiting", limit=1)
        reason = first.reason  # the failure that started the backlog, said once
        if not reason.startswith("queued behind"):
            reason = (
                f"queued behind {first.business_number}, waiting since "
                f"{first.accepted_at.isoformat(timespec='seconds')}: {reason}"
            )
        item = enqueue(services, tx, entry, principal, reason, retry_in=timedelta(0))
        return backlogged(services, item)
    return apply_entry(services, tx, entry, principal, events)


def find_earlier(
    services: Services,
    tx: StorageTransaction,
    ywh: Any,
    fingerprint_: Callable[[], str],
    principal: Principal,
) -> tuple[IssueResult | None, datetime | None]:
    """An entry with the same ``ywh`` accepted before: ``(answer, None)`` when it is this very
    entry (``replayed``, or still ``backlogged``); ``(None, when)`` when it came with other
    content; ``(None, None)`` when there is none. A rejected backlog item does not count.

    :param fingerprint_: computes this entry's fingerprint, only when an earlier one exists
        (hostile input may not even be canonical JSON; validation reports it then).
    """
    if not isinstance(ywh, str) or not ywh:
        return None, None
    stored = tx.get_registration(ywh)
    if stored is not None and stored.fingerprint == fingerprint_():
        return replay(services, tx, stored.result, principal), None
    queued = tx.get_backlog(ywh)
    if queued is not None and queued.state != "waiting":
        queued = None  # issued (then it is a registration) or rejected: may come again
    if queued is not None and queued.fingerprint == fingerprint_():
        return backlogged(services, queued), None
    if stored is not None:
        return None, stored.recorded_at
    return None, queued.accepted_at if queued is not None else None


def replay(
    services: Services, tx: StorageTransaction, stored: IssueResult, principal: Principal
) -> IssueResult:
    tx.append_audit(
        AuditEvent(
            "replay",
            principal.name,
            stored.business_number,
            services.clock(),
            {"numbers": list(stored.numbers)},
        )
    )
    return with_documents(
        services,
        tx,
        IssueResult(
            business_number=stored.business_number,
            outcome=Outcome.REPLAYED,
            numbers=stored.numbers,
        ),
    )
