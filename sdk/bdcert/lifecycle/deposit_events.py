"""Later status changes of deposited certificates (归集, rule article 7 paragraph 2): the
depositing authority reports that one was superseded, cancelled, restricted (查封) or that a
restriction was lifted (解封); each is applied and logged like the province's own transitions
(``supersede``, ``cancel``, ``restrict``; ``lift_restriction``), with ``deposited: true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from bdcert.errors import NotFound, Problem, ValidationError
from bdcert.lifecycle.collection import store_of
from bdcert.lifecycle.events import publish, stage
from bdcert.lifecycle.services import Services
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Certificate,
    CertificateEvent,
    CertificateStatus,
    Principal,
    Restriction,
)
from bdcert.protocols import StorageTransaction

__all__ = ["EVENT_KINDS", "deposit_event"]

#: The later changes a depositing authority reports: ``kind`` of :func:`deposit_event`.
EVENT_KINDS = ("superseded", "cancelled", "restricted", "restriction_lifted")


def deposit_event(
    services: Services, number: str, raw: Mapping[str, Any], *, principal: Principal
) -> Certificate:
    """See :meth:`bdcert.lifecycle.Registry.deposit_event`.

    Authorized before the certificate is fetched, from the authority the number's place name
    names, so that a caller who may not act there cannot tell a registered number from an
    unknown one (403 for both).
    """
    named = next((a.code for a in services.authorities.values() if a.place_name in number), "")
    services.authorize(principal, "deposit", named, subject=number)
    with services.storage.transaction() as tx:
        cert = tx.get_certificate(number)  # NotFound: 404
        deposited = store_of(tx).deposited(number)
    services.authorize(principal, "deposit", cert.authority_code, subject=number)
    problems: list[Problem] = []
    if not isinstance(raw, Mapping):
        raise ValidationError([Problem("", "an event must be a JSON object")], subject=number)
    if not deposited:
        problems.append(Problem("number", f"{number} was issued by the province, not deposited"))
    kind = raw.get("kind")
    if kind not in EVENT_KINDS:
        problems.append(Problem("kind", f"must be one of {', '.join(EVENT_KINDS)}, not {kind!r}"))
    ywh = raw.get("ywh", None if kind == "restriction_lifted" else cert.business_number)
    if not isinstance(ywh, str) or not ywh.strip():
        problems.append(Problem("ywh", "must be the business number (业务号) of the change"))
    if problems:
        raise ValidationError(problems, subject=f"event of {number}")
    now = services.clock()
    events: list[CertificateEvent] = []
    assert isinstance(kind, str) and isinstance(ywh, str)
    with services.storage.transaction() as tx:
        cert = tx.get_certificate(number)
        details, event = _apply_event(tx, cert, kind, ywh, raw, now, problems)
        if problems:
            raise ValidationError(problems, subject=f"event of {number}")
        action = {
            "superseded": "supersede",
            "cancelled": "cancel",
            "restricted": "restrict",
            "restriction_lifted": "lift_restriction",
        }[kind]
        tx.append_audit(
            AuditEvent(action, principal.name, number, now, {**details, "deposited": True})
        )
        events.append(
            CertificateEvent(
                kind, number, ywh, cert.authority_code, now, {**event, "deposited": True}
            )
        )
        staged = stage(services, tx, events)
        cert = tx.get_certificate(number)
    publish(services, events, staged)
    return cert


def _apply_event(
    tx: StorageTransaction,
    cert: Certificate,
    kind: str,
    ywh: str,
    raw: Mapping[str, Any],
    now: datetime,
    problems: list[Problem],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply one change; returns the audit details and the event details, or appends problems."""
    number = cert.number
    if kind in ("superseded", "cancelled") and cert.status is not CertificateStatus.VALID:
        problems.append(Problem("kind", f"{number} is already {cert.status.value}"))
        return {}, {}
    if kind == "superseded":
        successor = raw.get("successor")
        successors = [successor] if isinstance(successor, str) else successor
        if (
            not isinstance(successors, list)
            or not successors
            or not all(isinstance(s, str) and s for s in successors)
        ):
            problems.append(Problem("successor", "is required: the number(s) replacing it"))
            return {}, {}
        for i, s in enumerate(successors):
            try:
                other = tx.get_certificate(s)
            except NotFound:
                problems.append(Problem(f"successor[{i}]", f"{s} is not in the library"))
                continue
            if other.authority_code != cert.authority_code or s == number:
                problems.append(
                    Problem(
                        f"successor[{i}]",
                        f"{s} is not another certificate of {cert.authority_code}",
                    )
                )
        if problems:
            return {}, {}
        tx.set_superseded(number, successors, ywh)
        return {"by": successors, "ywh": ywh}, {"by": successors}
    if kind == "cancelled":
        reason = raw.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            problems.append(Problem("reason", "is required: why it was cancelled (注销原因)"))
            return {}, {}
        tx.set_cancelled(number, reason.strip(), ywh)
        return {"reason": reason.strip(), "ywh": ywh}, {"reason": reason.strip()}
    if kind == "restricted":
        cfjg, cfwh = raw.get("cfjg"), raw.get("cfwh")
        for key, value, what in (("cfjg", cfjg, "查封机关"), ("cfwh", cfwh, "查封文号")):
            if not isinstance(value, str) or not value.strip():
                problems.append(Problem(key, f"is required: the seizure's {what}"))
        start, end = _day(raw, "start", problems), _day(raw, "end", problems)
        if problems:
            return {}, {}
        assert isinstance(cfjg, str) and isinstance(cfwh, str)
        cflx = raw.get("cflx")
        tx.add_restriction(
            number,
            Restriction(
                business_number=ywh,
                authority=cfjg.strip(),
                document_number=cfwh.strip(),
                type=cflx if isinstance(cflx, str) else "",
                start=start,
                end=end,
                recorded_at=now,
            ),
        )
        return {"ywh": ywh, "cfwh": cfwh.strip()}, {"cfjg": cfjg.strip(), "cfwh": cfwh.strip()}
    # restriction_lifted: the seizure recorded under ywh ends the day before today
    last_day = now.astimezone(CHINA_TZ).date() - timedelta(days=1)
    ended = store_of(tx).lift_restriction(number, ywh, last_day)
    if not ended:
        problems.append(Problem("ywh", f"no seizure of {number} under {ywh} is in force"))
        return {}, {}
    return {"ywh": ywh, "ended": ended}, {"seizure_ywh": ywh}


def _day(raw: Mapping[str, Any], key: str, problems: list[Problem]) -> date | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(Problem(key, "must be a date, YYYY-MM-DD"))
        return None
