"""The force-majeure backlog (rule article 15): entries accepted while sealing was impossible,
issued in order, per authority, when it works again."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from bdcert.access import ACTIONS, authorize
from bdcert.errors import PermissionDenied, Problem, SealingError, ValidationError
from bdcert.lifecycle.events import publish, stage
from bdcert.lifecycle.issuing import apply_entry, check_references, with_documents
from bdcert.lifecycle.preparing import current, preparing, rehearse
from bdcert.lifecycle.services import Services, log
from bdcert.model import (
    AuditEvent,
    CertificateEvent,
    IssueResult,
    Outcome,
    Principal,
    RegistrationEntry,
)
from bdcert.protocols import BacklogItem, StorageTransaction
from bdcert.validation import parse_entry

__all__ = [
    "DrainReport",
    "after_drain",
    "backlogged",
    "drain_backlog",
    "enqueue",
    "issue_backlogged",
    "list_backlog",
    "reject_backlogged",
    "retry_delay",
]


@attrs.define(frozen=True)
class DrainReport:
    """What :meth:`Registry.drain_backlog` did.

    :ivar issued: backlog entries issued. :ivar rejected: entries whose references no longer held.
    :ivar waiting: entries still waiting afterwards. :ivar failures: one line per authority whose
        draining stopped at a sealing failure (``510100: ywh: error``).
    """

    issued: int
    rejected: int
    waiting: int
    failures: tuple[str, ...] = ()


def retry_delay(services: Services, attempts: int) -> timedelta:
    """Backoff after ``attempts`` failed attempts: first, doubling, capped."""
    first, most = services.backlog_retry
    return timedelta(seconds=min(most, first * 2 ** max(0, attempts - 1)))


def enqueue(
    services: Services,
    tx: StorageTransaction,
    entry: RegistrationEntry,
    principal: Principal,
    reason: str,
    *,
    retry_in: timedelta,
) -> BacklogItem:
    now = services.clock()
    item = tx.add_backlog(
        business_number=entry.business_number,
        authority_code=entry.authority_code,
        entry=json.loads(entry.source),
        fingerprint=entry.fingerprint,
        recorded_at=entry.recorded_at,
        accepted_at=now,
        reason=reason,
        next_attempt_at=now + retry_in,
    )
    tx.append_audit(
        AuditEvent(
            "backlog",
            principal.name,
            entry.business_number,
            now,
            {"authority": entry.authority_code, "reason": reason, "backlog_id": item.id},
        )
    )
    return item


def after_drain(services: Services, business_number: str, principal: Principal) -> IssueResult:
    """Drain the backlog of the entry's authority (when due), then say what became of it:
    still ``backlogged``, issued (its certificates), or rejected (ValidationError)."""
    with services.storage.transaction() as tx:
        queued = tx.get_backlog(business_number)
    assert queued is not None
    drain_backlog(services, principal=principal, authority=queued.authority_code)
    with services.storage.transaction() as tx:
        queued = tx.get_backlog(business_number)
        assert queued is not None
        if queued.state == "waiting":
            return backlogged(services, queued)
        if queued.state == "rejected":
            raise ValidationError(queued.problems, subject=f"entry {business_number}")
        stored = tx.get_registration(business_number)
        assert stored is not None
        return with_documents(services, tx, stored.result)


def backlogged(services: Services, item: BacklogItem) -> IssueResult:
    return IssueResult(
        business_number=item.business_number,
        outcome=Outcome.BACKLOGGED,
        reason=item.reason,
    )


def list_backlog(
    services: Services,
    *,
    principal: Principal,
    authority: str | None = None,
    state: str | None = None,
) -> list[BacklogItem]:
    """See :meth:`bdcert.lifecycle.Registry.backlog`."""
    if not principal.roles & ACTIONS["audit"]:
        services.authorize(principal, "issue", authority, subject=authority or "")
    with services.storage.transaction() as tx:
        items = tx.backlog(authority_code=authority, state=state)
    if principal.roles & (ACTIONS["audit"] | {"platform"}):
        return items
    return [i for i in items if i.authority_code == principal.authority]


def drain_backlog(
    services: Services, *, principal: Principal, authority: str | None = None, force: bool = False
) -> DrainReport:
    """See :meth:`bdcert.lifecycle.Registry.drain_backlog`."""
    services.authorize(principal, "issue", authority, subject=authority or "")
    issued = rejected = 0
    failures: list[str] = []
    with services.storage.transaction() as tx:
        codes = tx.waiting_authorities()
    for code in codes:
        if authority is not None and code != authority:
            continue
        try:
            authorize(principal, "issue", code)
        except PermissionDenied:
            continue
        while True:
            events: list[CertificateEvent] = []
            item: BacklogItem | None = None
            # render and seal outside the transaction (bdcert.lifecycle.preparing)
            preparation = rehearse(
                services.storage,
                services.clock(),
                functools.partial(
                    _drain_one, services, code=code, principal=principal, force=force
                ),
            )
            try:
                with preparing(preparation), services.storage.transaction() as tx:
                    item = tx.next_waiting(code)
                    now = preparation.now
                    if item is None or (not force and item.next_attempt_at > now):
                        break
                    if issue_backlogged(services, tx, item, principal, events, now):
                        issued += 1
                    else:
                        rejected += 1
                    staged = stage(services, tx, events)
            except ValidationError as exc:  # never issuable: text no font can draw
                assert item is not None
                with services.storage.transaction() as tx:
                    reject_backlogged(services, tx, item, principal, exc.problems, services.clock())
                rejected += 1
                continue
            except Exception as exc:  # sealing still impossible, or another failure: keep
                if item is None:  # the order, try again later, go on to other authorities
                    raise  # the store itself failed
                error = f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, SealingError):
                    log.exception("backlog item %s of %s failed", item.id, code)
                try:
                    with services.storage.transaction() as tx:
                        tx.record_backlog_failure(
                            item.id,
                            error,
                            services.clock() + retry_delay(services, item.attempts + 1),
                        )
                except Exception:
                    log.exception("could not record the failure of backlog item %s", item.id)
                failures.append(f"{code}: {item.business_number}: {error}")
                break
            publish(services, events, staged)
    with services.storage.transaction() as tx:
        waiting = len(tx.backlog(authority_code=authority, state="waiting"))
    return DrainReport(issued, rejected, waiting, tuple(failures))


def _drain_one(
    services: Services, tx: StorageTransaction, *, code: str, principal: Principal, force: bool
) -> None:
    """What one step of :func:`drain` does in its transaction (rehearsed before it)."""
    preparation = current()
    now = preparation.now if preparation is not None else services.clock()
    item = tx.next_waiting(code)
    if item is not None and (force or item.next_attempt_at <= now):
        issue_backlogged(services, tx, item, principal, [], now)


def issue_backlogged(
    services: Services,
    tx: StorageTransaction,
    item: BacklogItem,
    principal: Principal,
    events: list[CertificateEvent],
    now: datetime,
) -> bool:
    """Issue (True) or reject (False) one backlog item inside ``tx``."""
    problems: list[Problem] = []
    stored = tx.get_registration(item.business_number)
    if stored is not None:  # a duplicate item (only possible with an older store): harmless
        done = "、".join(stored.result.numbers) or stored.result.outcome.value
        problems.append(Problem("ywh", f"{item.business_number} was already issued: {done}"))
        reject_backlogged(services, tx, item, principal, problems, now)
        return False
    entry = None
    try:
        entry = parse_entry(item.entry, authorities=services.authorities, codes=services.codes)
    except ValidationError as exc:  # the configuration changed since it was accepted
        problems.extend(exc.problems)
    if entry is not None:
        problems.extend(check_references(services, tx, entry))
    if problems or entry is None:
        reject_backlogged(services, tx, item, principal, problems, now)
        return False
    late = {
        "backlog_id": item.id,
        "reason": item.reason,
        "accepted_at": item.accepted_at.isoformat(),
        "delay_seconds": round((now - item.recorded_at).total_seconds()),
    }
    result = apply_entry(services, tx, entry, principal, events, late=late)
    tx.finish_backlog(item.id, state="issued", done_at=now, numbers=result.numbers)
    return True


def reject_backlogged(
    services: Services,
    tx: StorageTransaction,
    item: BacklogItem,
    principal: Principal,
    problems: Sequence[Problem],
    now: datetime,
) -> None:
    tx.finish_backlog(item.id, state="rejected", done_at=now, problems=problems)
    tx.append_audit(
        AuditEvent(
            "reject",
            principal.name,
            item.business_number,
            now,
            {"backlog_id": item.id, "problems": [str(p) for p in problems]},
        )
    )
