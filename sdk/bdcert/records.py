"""Stored records and requests (values layer): what the store keeps and hands back besides the
model's certificates and entries.

Moved here from :mod:`bdcert.protocols`, :mod:`bdcert.holders` and :mod:`bdcert.sharing` (issue
8) so the contracts and the services that use them import only downward; those modules still
re-export them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import attrs

from bdcert.errors import Problem
from bdcert.model import AuditEvent, CertificateEvent, IssueResult

__all__ = [
    "AuditCheckpoint",
    "BacklogItem",
    "DownloadGuard",
    "LoggedEvent",
    "PaperDisposition",
    "SharedCertificate",
    "SharingAgreement",
    "StoredRegistration",
    "UndeliveredEvent",
]


@attrs.define(frozen=True)
class StoredRegistration:
    """A processed entry as stored: its fingerprint (SHA-256 of the canonical JSON) and result.

    ``result.certificates`` is empty; fetch certificates by number.
    """

    business_number: str
    fingerprint: str
    result: IssueResult
    recorded_at: datetime


@attrs.define(frozen=True)
class AuditCheckpoint:
    """A signed checkpoint of the audit log (rule article 17): the log's last event at a moment,
    attested by an authority's e-seal (see :mod:`bdcert.audit`).

    :ivar number: 1, 2, … without gaps.
    :ivar event_id: the id of the last audit event when it was made.
    :ivar event_hash: that event's chain hash (hex SHA-256).
    :ivar made_at: when, aware (China time, +08:00).
    :ivar made_by: the principal's name, or ``bdcert (automatic)``.
    :ivar authority_code: whose seal signs it.
    :ivar prev_sha256: SHA-256 (hex) of the previous checkpoint's PDF; 64 zeros for the first.
    :ivar pdf: the sealed one-page PDF that states all of the above.
    """

    number: int
    event_id: int
    event_hash: str
    made_at: datetime
    made_by: str
    authority_code: str
    prev_sha256: str
    pdf: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")

    @property
    def pdf_sha256(self) -> str:
        """SHA-256 (hex) of :attr:`pdf`; the next checkpoint's ``prev_sha256``."""
        return hashlib.sha256(self.pdf).hexdigest()


@attrs.define(frozen=True)
class PaperDisposition:
    """What happened to a paper original (rule article 10): ``收回`` or ``公告作废``.

    :ivar number: the paper certificate's number. :ivar business_number: the entry that replaced it.
    :ivar text: for ``公告作废``, the announcement text.
    """

    number: str
    business_number: str
    disposition: str
    recorded_at: datetime
    text: str = ""


@attrs.define(frozen=True)
class UndeliveredEvent:
    """A certificate event a notifier could not deliver, kept in the store's outbox.

    :ivar id: the outbox id, for :meth:`StorageTransaction.mark_delivered` and
        :meth:`StorageTransaction.record_delivery_failure`.
    :ivar notifier: the name of the notifier that failed (e.g. ``webhook``).
    :ivar event: the event as it was to be delivered; ``details`` come back as JSON data
        (tuples as lists, dates and Decimals as strings).
    :ivar attempts: failed deliveries so far (1 when the event was put in the outbox).
    :ivar last_error: the message of the latest failure.
    :ivar first_failed_at: when the event was put in the outbox, aware (China time, +08:00).
    """

    id: int
    notifier: str
    event: CertificateEvent
    attempts: int
    last_error: str
    first_failed_at: datetime


@attrs.define(frozen=True)
class BacklogItem:
    """A registration entry accepted while sealing was impossible (rule article 15: force
    majeure), kept until it is issued, in the order it was accepted, per authority.

    :ivar id: the backlog's order: lower ids of an authority are issued first.
    :ivar entry: the entry's JSON object exactly as pushed (it is validated again when issued).
    :ivar fingerprint: as :attr:`StoredRegistration.fingerprint`, for idempotent re-pushes.
    :ivar recorded_at: 登簿时间 of the entry, aware.
    :ivar accepted_at: when bdcert accepted it into the backlog, aware.
    :ivar reason: the failure that put it (or the entry before it) into the backlog.
    :ivar attempts: issuing attempts that failed; ``last_error`` is the latest one's message.
    :ivar next_attempt_at: automatic draining leaves it alone until then (backoff).
    :ivar state: ``waiting``, ``issued`` or ``rejected`` (its references no longer held).
    :ivar done_at: when it was issued or rejected.
    :ivar numbers: the certificates it got, for ``issued``.
    :ivar problems: why it was rejected, for ``rejected``.
    """

    id: int
    business_number: str
    authority_code: str
    entry: Mapping[str, Any]
    fingerprint: str
    recorded_at: datetime
    accepted_at: datetime
    reason: str
    attempts: int
    last_error: str
    next_attempt_at: datetime
    state: str = "waiting"
    done_at: datetime | None = None
    numbers: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def delay(self) -> timedelta | None:
        """Issuing time minus 登簿时间, once issued."""
        return self.done_at - self.recorded_at if self.done_at and self.state == "issued" else None


@attrs.define(frozen=True)
class DownloadGuard:
    """The stored self-download state of one identity or name.

    :ivar identity: :func:`bdcert.holders.identity_key` of the canonical ID number or
        :func:`bdcert.holders.name_key` of the
        name (64 hex digits either way).
    :ivar failures: times of failed attempts since the last success or lockout, oldest first,
        aware.
    :ivar locked_until: the end of a lockout, aware, or None.
    :ivar lockouts: lockouts since the last success or clerk's unlock.
    :ivar held: locked until a clerk unlocks it (after ``max_lockouts`` lockouts), whatever
        ``locked_until`` says.
    """

    identity: str
    failures: tuple[datetime, ...] = ()
    locked_until: datetime | None = None
    lockouts: int = 0
    held: bool = False


@attrs.define(frozen=True)
class SharingAgreement:
    """A signed sharing agreement (共享协议, rule article 16).

    :ivar id: the agreement's identifier (letters, digits, ``. _ : / -``; at most 100).
    :ivar party: the sharing party's principal name (as its identity provider names it).
    :ivar purpose: what the data is for (用途), as signed.
    :ivar authorities: the authority codes (``djjg``) whose certificates it covers.
    :ivar fields: the fields it grants (:data:`bdcert.sharing.FIELDS`).
    :ivar valid_from: first moment of validity, aware (a date means 00:00 China time).
    :ivar valid_to: last moment of validity, inclusive, aware (a date means the end of that day,
        China time).
    :ivar signed_on: the date it was signed (China date).
    :ivar created_at: when it was added, aware. :ivar created_by: who added it.
    :ivar revoked_at: when it was revoked, aware, or None; ``revoke_reason`` and ``revoked_by``
        say why and who.
    """

    id: str
    party: str
    purpose: str
    authorities: tuple[str, ...]
    fields: tuple[str, ...]
    valid_from: datetime
    valid_to: datetime
    signed_on: date
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoke_reason: str | None = None
    revoked_by: str | None = None

    def state(self, at: datetime) -> str:
        """``active``, ``revoked`` (at or after ``revoked_at``), ``not_yet_valid`` or ``expired``."""
        if self.revoked_at is not None and at >= self.revoked_at:
            return "revoked"
        if at < self.valid_from:
            return "not_yet_valid"
        if at > self.valid_to:
            return "expired"
        return "active"

    def covers(self, authority_code: str) -> bool:
        """True when certificates of this authority (``djjg``) are covered."""
        return authority_code in self.authorities

    def to_wire(self) -> dict[str, Any]:
        """A JSON object: the input keys, plus ``created_at``, ``created_by``, ``revoked_at``,
        ``revoke_reason``, ``revoked_by`` (times ISO 8601 with offset)."""
        return {
            "id": self.id,
            "party": self.party,
            "purpose": self.purpose,
            "authorities": list(self.authorities),
            "fields": list(self.fields),
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "signed_on": self.signed_on.isoformat(),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": None if self.revoked_at is None else self.revoked_at.isoformat(),
            "revoke_reason": self.revoke_reason,
            "revoked_by": self.revoked_by,
        }


@attrs.define(frozen=True)
class SharedCertificate:
    """What a sharing party receives (:meth:`bdcert.lifecycle.Registry.share`).

    :ivar number: the certificate asked for.
    :ivar agreement_id: the agreement the access was granted under.
    :ivar fields: the granted fields only, field -> JSON value (shapes in the module docstring),
        in the agreement's order.
    """

    number: str
    agreement_id: str
    fields: Mapping[str, Any]

    def to_wire(self) -> dict[str, Any]:
        """``{"number": …, "agreement": …, "fields": {…}}``."""
        return {"number": self.number, "agreement": self.agreement_id, "fields": dict(self.fields)}


@attrs.define(frozen=True)
class LoggedEvent:
    """One audit event with its place in the log.

    :ivar id: its audit id (1, 2, … in commit order: appenders take turns, rule article 17).
    :ivar event: the event as logged.
    :ivar authority_code: 登记机构 of the certificate the event is about (``djjg``), or ``""``
        when its subject is no filed certificate.
    """

    id: int
    event: AuditEvent
    authority_code: str
