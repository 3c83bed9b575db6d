"""Behaviour of the objects plugins provide: storage, seal providers, identity, notifiers.

Hooks discover (see :mod:`bdcert.hookspecs`); these objects act. The conformance kit tests any
implementation of these protocols directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from bdcert.model import (
    AuditEvent,
    Authority,
    Certificate,
    CertificateEvent,
    CertificateKind,
    IssueResult,
    Principal,
    RegistrationEntry,
    Restriction,
)

__all__ = [
    "IdentityProvider",
    "IdentityProviderFactory",
    "Notifier",
    "NotifierFactory",
    "PaperDisposition",
    "SealProvider",
    "SealProviderFactory",
    "SealRequest",
    "Storage",
    "StorageFactory",
    "StorageTransaction",
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


class StorageTransaction(Protocol):
    """One unit of work. Everything done through it commits together or not at all."""

    def get_registration(self, business_number: str) -> StoredRegistration | None:
        """The stored entry with this ``ywh``, or None."""

    def add_registration(self, entry: RegistrationEntry, result: IssueResult) -> None:
        """Store a processed entry (its source JSON, fingerprint and result).

        :raises StorageError: if the ``ywh`` is already stored.
        """

    def next_sequence(self, authority_code: str, year: int, kind: CertificateKind) -> int:
        """Allocate the next certificate sequence (1, 2, …) for an authority, year and kind.

        Takes a lock that is held until the transaction ends, so concurrent transactions never
        get the same number and a rolled-back transaction leaves no gap.
        """

    def add_certificate(self, certificate: Certificate, pdf: bytes) -> None:
        """File a certificate and its sealed PDF. :raises StorageError: on a duplicate number."""

    def get_certificate(self, number: str) -> Certificate:
        """A certificate with its current status, successors, cancel reason and restrictions.

        :raises NotFound: for an unknown number.
        """

    def find_certificate_by_token(self, token: str) -> Certificate | None:
        """The certificate whose QR code carries this token, or None."""

    def find_certificate_by_digest(self, sha256_hex: str) -> Certificate | None:
        """The certificate whose filed PDF or OFD has this SHA-256 (hex), or None."""

    def get_pdf(self, number: str) -> bytes:
        """The sealed PDF as filed. :raises NotFound: for an unknown number."""

    def add_ofd(self, number: str, ofd: bytes) -> None:
        """File the sealed OFD document (GB/T 33190) of an already filed certificate.

        :raises NotFound: for an unknown number. :raises StorageError: if it has one already.
        """

    def get_ofd(self, number: str) -> bytes:
        """The sealed OFD document as filed. :raises NotFound: if there is none."""

    def certificates_for_unit(
        self, unit_number: str, *, kind: CertificateKind | None = None, valid_only: bool = True
    ) -> list[Certificate]:
        """Certificates whose face lists this unit number, oldest first."""

    def set_superseded(self, number: str, successors: Sequence[str], business_number: str) -> None:
        """Mark a certificate superseded by ``successors`` (article 10)."""

    def set_cancelled(self, number: str, reason: str, business_number: str) -> None:
        """Mark a certificate cancelled (注销) with the reason."""

    def add_restriction(self, number: str, restriction: Restriction) -> None:
        """Record a seizure (查封) against a certificate; its status stays as it is."""

    def add_paper_disposition(self, disposition: PaperDisposition) -> None:
        """Record a paper original as recovered or announced void."""

    def paper_dispositions(self, business_number: str | None = None) -> list[PaperDisposition]:
        """Recorded paper dispositions, optionally of one entry, oldest first."""

    def append_audit(self, event: AuditEvent) -> None:
        """Append to the hash-chained audit log (rule article 17)."""

    def audit_events(self) -> list[AuditEvent]:
        """The whole audit log, oldest first."""

    def verify_audit_chain(self) -> list[str]:
        """Recompute the audit log's hash chain; returns a message per broken link (empty: intact)."""

    def add_undelivered(self, notifier: str, event: CertificateEvent, error: str) -> int:
        """Put an event that ``notifier`` failed to deliver in the outbox, with 1 attempt.

        :param error: why delivery failed (stored as the ``last_error``).
        :returns: the outbox id of the event.
        """

    def undelivered(self, notifier: str | None = None, limit: int = 100) -> list[UndeliveredEvent]:
        """Events waiting in the outbox, of one notifier or of all, oldest first, at most ``limit``."""

    def mark_delivered(self, event_id: int) -> None:
        """Remove a delivered event from the outbox. :raises NotFound: for an unknown id."""

    def record_delivery_failure(self, event_id: int, error: str) -> None:
        """Count one more failed delivery of an outbox event and keep ``error`` as its last error.

        :raises NotFound: for an unknown id.
        """


@runtime_checkable
class Storage(Protocol):
    """The store of registrations, certificates, PDFs, status and audit events."""

    def transaction(self) -> AbstractContextManager[StorageTransaction]:
        """Begin a unit of work; commits on normal exit, rolls back on an exception."""

    def close(self) -> None:
        """Release connections."""


@attrs.define(frozen=True)
class SealRequest:
    """What a seal provider needs to seal one certificate PDF.

    :ivar authority: whose seal to apply.
    :ivar page: zero-based page index of the visible seal.
    :ivar box: (x1, y1, x2, y2) in PDF points from the page's lower-left corner.
    :ivar appearance_png: the seal picture shown in the box.
    :ivar field_name: the signature field's name.
    :ivar signing_time: the time to claim, aware; None for now.
    """

    authority: Authority
    page: int
    box: tuple[float, float, float, float]
    appearance_png: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    reason: str = "不动产登记电子证照签章"
    location: str = ""
    field_name: str = "bdcert-seal"
    signing_time: datetime | None = None


@runtime_checkable
class SealProvider(Protocol):
    """Applies an authority's e-seal to a certificate PDF (PAdES; rule articles 3, 7)."""

    name: str

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        """Return the PDF with one PAdES signature covering the whole file.

        :raises SealingError: if the authority has no usable key or certificate.
        """

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        """The seal certificate (PEM) used for this authority. :raises SealingError: if none."""


@runtime_checkable
class IdentityProvider(Protocol):
    """Authenticates whoever acts (rule article 11)."""

    name: str

    def authenticate(self, credentials: Mapping[str, str]) -> Principal:
        """Turn credentials (e.g. ``{"operator": "clerk01"}``) into a principal.

        :raises IdentityError: if they identify nobody.
        """


@runtime_checkable
class Notifier(Protocol):
    """Delivers certificate events (issued, superseded, cancelled, restricted)."""

    name: str

    def notify(self, event: CertificateEvent) -> None:
        """Deliver one event. :raises NotificationError: if it could not be delivered."""


class StorageFactory(Protocol):
    def __call__(self, settings: Mapping[str, Any], workspace: Path) -> Storage: ...


class SealProviderFactory(Protocol):
    def __call__(self, settings: Mapping[str, Any], workspace: Path) -> SealProvider: ...


class IdentityProviderFactory(Protocol):
    def __call__(self, settings: Mapping[str, Any], workspace: Path) -> IdentityProvider: ...


class NotifierFactory(Protocol):
    def __call__(self, settings: Mapping[str, Any], workspace: Path) -> Notifier: ...
