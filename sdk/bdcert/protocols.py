"""Behaviour of the objects plugins provide: storage, seal providers, identity, notifiers.

Hooks discover (see :mod:`bdcert.hookspecs`); these objects act. The conformance kit tests any
implementation of these protocols directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs
from cryptography.hazmat.primitives import hashes

from bdcert.errors import Problem
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
from bdcert.records import (  # moved to the values layer; re-exported here
    AuditCheckpoint,
    BacklogItem,
    DownloadGuard,
    PaperDisposition,
    SharingAgreement,
    StoredRegistration,
    UndeliveredEvent,
)

__all__ = [
    "DIGEST_HASHES",
    "AgreementRecords",
    "AuditCheckpoint",
    "AuditRecords",
    "BacklogItem",
    "BacklogRecords",
    "CertificateRecords",
    "HolderRecords",
    "HolderVerifier",
    "IdentityProvider",
    "IdentityProviderFactory",
    "Notifier",
    "NotifierFactory",
    "OutboxRecords",
    "PaperDisposition",
    "RegistrationRecords",
    "SealProvider",
    "SealProviderFactory",
    "SealRequest",
    "Storage",
    "StorageFactory",
    "StorageTransaction",
    "StoredRegistration",
    "UndeliveredEvent",
]


class RegistrationRecords(Protocol):
    """Entries as processed, and the gap-free certificate sequences (rule article 8)."""

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


class CertificateRecords(Protocol):
    """Certificates, their sealed documents and their status: supersession, cancellation, restrictions, paper originals (rule articles 10, 14)."""

    def add_certificate(self, certificate: Certificate, pdf: bytes) -> None:
        """File a certificate and its sealed PDF. :raises StorageError: on a duplicate number."""

    def get_certificate(self, number: str) -> Certificate:
        """A certificate with its current status, successors, cancel reason and restrictions.

        :raises NotFound: for an unknown number.
        """

    def find_certificate_by_token(self, token: str) -> Certificate | None:
        """The certificate whose QR code carries this token, or None."""

    def find_certificate_by_digest(self, sha256_hex: str) -> Certificate | None:
        """The certificate whose filed PDF or OFD has this SHA-256 (hex), or None.

        Every PDF ever stored for it counts: the one filed and each that replaced it
        (:meth:`replace_pdf`), so a copy handed out at any time is found."""

    def get_pdf(self, number: str) -> bytes:
        """The sealed PDF as stored now (the filed one, or the newest that replaced it).

        :raises NotFound: for an unknown number."""

    def certificate_numbers(self, *, after: str | None = None, limit: int = 100) -> list[str]:
        """A page of every filed certificate's number, whatever its status: at most ``limit``
        (1 or more) numbers greater than ``after`` (all when None), in the store's ascending
        order. Page on with the last number returned; an empty page is the end.

        :raises ValueError: if ``limit`` is below 1."""

    def replace_pdf(self, number: str, pdf: bytes, at: datetime) -> None:
        """Store ``pdf`` as the certificate's PDF in place of the current one, recording its
        SHA-256 as the next revision (stored at ``at``, timezone-aware) so that
        :meth:`find_certificate_by_digest` still finds every earlier one. For renewed evidence
        (PAdES B-LTA, ETSI EN 319 142-1 §5.5): ``pdf`` must extend the stored PDF (ISO 32000-1
        §7.5.6 incremental update), which stays its prefix.

        :raises NotFound: for an unknown number.
        :raises StorageError: if ``pdf`` does not extend the stored PDF or adds nothing."""

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

    def add_unit_restriction(self, unit: str, restriction: Restriction) -> None:
        """Record a seizure (查封) against a unit (不动产单元号), certificate or not."""
        ...

    def unit_restrictions(self, unit: str) -> list[Restriction]:
        """Seizures recorded against a unit, oldest first (ended ones too)."""
        ...

    def add_paper_disposition(self, disposition: PaperDisposition) -> None:
        """Record a paper original as recovered or announced void."""

    def paper_dispositions(self, business_number: str | None = None) -> list[PaperDisposition]:
        """Recorded paper dispositions, optionally of one entry, oldest first."""


class AuditRecords(Protocol):
    """The hash-chained audit log and its sealed checkpoints (rule article 17; :mod:`bdcert.audit`)."""

    def append_audit(self, event: AuditEvent) -> None:
        """Append to the hash-chained audit log (rule article 17)."""

    def audit_events(self) -> list[AuditEvent]:
        """The whole audit log, oldest first."""

    def verify_audit_chain(self) -> list[str]:
        """Recompute the audit log's hash chain; returns a message per broken link (empty: intact)."""

    def audit_head(self) -> tuple[int, str] | None:
        """The last audit event's id and chain hash, or None when the log is empty."""

    def audit_event_hash(self, event_id: int) -> str | None:
        """The chain hash stored for audit event ``event_id``, or None if there is none."""

    def uncheckpointed_audit_events(self) -> int:
        """How many audit events follow the one the latest checkpoint seals (all when none)."""

    def next_audit_checkpoint_number(self) -> int:
        """Allocate the next checkpoint number (1, 2, …), locked until the transaction ends, so
        concurrent makers take turns and a rolled-back one leaves no gap."""

    def add_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        """Store a checkpoint with its PDF. :raises StorageError: if its number is taken."""

    def last_audit_checkpoint(self) -> AuditCheckpoint | None:
        """The checkpoint with the highest number, or None."""

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        """Every stored checkpoint, by number."""

    def audit_checkpoints_made(self) -> int:
        """How many checkpoint numbers were allocated and committed (the counter; 0 if none)."""


class OutboxRecords(Protocol):
    """Certificate events staged with the issuing transaction and delivered later (at least once)."""

    def add_undelivered(
        self, notifier: str, event: CertificateEvent, error: str, *, attempts: int = 1
    ) -> int:
        """Put an event for ``notifier`` in the outbox: one it failed to deliver (``attempts``
        1), or, written in the transaction that makes the change, one not yet tried (0).

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


class BacklogRecords(Protocol):
    """Entries waiting because sealing failed, in push order per authority (rule article 15)."""

    def add_backlog(
        self,
        *,
        business_number: str,
        authority_code: str,
        entry: Mapping[str, Any],
        fingerprint: str,
        recorded_at: datetime,
        accepted_at: datetime,
        reason: str,
        next_attempt_at: datetime,
    ) -> BacklogItem:
        """Append an accepted entry to the backlog (``waiting``, 0 attempts).

        :raises StorageError: if the entry is not JSON data or times have no UTC offset.
        """
        ...

    def get_backlog(self, business_number: str) -> BacklogItem | None:
        """The newest backlog item of a business number, or None."""
        ...

    def backlog(
        self,
        *,
        authority_code: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[BacklogItem]:
        """Backlog items in backlog order, optionally of one authority and/or one state, at most
        ``limit`` (all when None)."""
        ...

    def waiting_authorities(self) -> list[str]:
        """Codes of the authorities with ``waiting`` items, sorted."""
        ...

    def next_waiting(self, authority_code: str) -> BacklogItem | None:
        """The authority's oldest ``waiting`` item, locked until the transaction ends (another
        drainer waits, then skips it once it is done), or None."""
        ...

    def record_backlog_failure(self, item_id: int, error: str, next_attempt_at: datetime) -> None:
        """One more failed attempt. :raises NotFound:"""
        ...

    def finish_backlog(
        self,
        item_id: int,
        *,
        state: str,
        done_at: datetime,
        numbers: Sequence[str] = (),
        problems: Sequence[Problem] = (),
    ) -> None:
        """Mark an item ``issued`` (with its numbers) or ``rejected`` (with its problems).

        :raises NotFound: :raises StorageError: for another state or an item already done.
        """
        ...


class HolderRecords(Protocol):
    """A holder's certificates and the self-download guards (rule article 13)."""

    def certificates_for_holder(self, id_number: str) -> list[Certificate]:
        """Certificates (any status) listing this 证件号 among their 权利人, oldest first.

        :param id_number: canonical (stripped, upper-case); stored numbers compare upper-cased.
        """

    def download_guard(self, identity: str) -> DownloadGuard:
        """The self-download state of an identity (:func:`bdcert.holders.identity_key`), a
        name (:func:`bdcert.holders.name_key`), a source (:func:`bdcert.holders.source_key`)
        or a lookup client's count (:func:`bdcert.lifecycle.reading.lookup_key`; to storage
        all are opaque 64-hex keys), empty if none is stored. Locks the identity until the
        transaction ends, so that concurrent attempts for it take turns (its failures are
        never lost)."""

    def save_download_guard(self, guard: DownloadGuard) -> None:
        """Replace the stored state of ``guard.identity``: failures, lockout, the count of
        lockouts and the hold (every field of :class:`~bdcert.records.DownloadGuard`)."""

    def save_download_code(
        self, business_number: str, identity: str, code_hash: str, at: datetime, by: str
    ) -> None:
        """Record, or replace, the second factor the pushing authority gave a 权利人 for one
        registration: ``identity`` is :func:`bdcert.holders.identity_key` of the ID number,
        ``code_hash`` an opaque string (a salted scrypt hash; never the code), ``at`` aware,
        ``by`` the principal's name."""

    def download_codes(self, identity: str) -> dict[str, str]:
        """The recorded second factors of an identity: business number (``ywh``) -> code hash;
        empty if none."""


class AgreementRecords(Protocol):
    """Sharing agreements (rule article 16)."""

    def add_agreement(self, agreement: SharingAgreement) -> None:
        """Store a sharing agreement. :raises StorageError: if its id is already stored."""

    def get_agreement(self, agreement_id: str) -> SharingAgreement:
        """One agreement, with its revocation if any. :raises NotFound: for an unknown id."""

    def agreements(self, party: str | None = None) -> list[SharingAgreement]:
        """Every agreement (of one party), revoked ones included, by signed date, then id."""

    def revoke_agreement(
        self, agreement_id: str, *, at: datetime, reason: str, by: str
    ) -> SharingAgreement:
        """Record the revocation of an agreement; returns it as revoked.

        :raises NotFound: for an unknown id. :raises StorageError: if it is already revoked.
        """


class StorageTransaction(
    RegistrationRecords,
    CertificateRecords,
    AuditRecords,
    OutboxRecords,
    BacklogRecords,
    HolderRecords,
    AgreementRecords,
    Protocol,
):
    """One unit of work. Everything done through it commits together or not at all.

    Composed of one protocol per role, so a component (and its test double) can ask for only
    the role it uses; an implementation provides them all, as before.
    """


@runtime_checkable
class HolderVerifier(Protocol):
    """An identity provider's optional extra checks of a holder (real-name, biometric, SMS code;
    rule articles 11, 13), called by :meth:`bdcert.lifecycle.Registry.self_download` after the
    name, ID number and paper number matched the register. Providers without it are unaffected.
    """

    def verify_holder(self, name: str, id_number: str, evidence: Mapping[str, str]) -> None:
        """Check that the person asking is the holder ``name`` / ``id_number`` (canonical).

        :param evidence: what the caller passed (e.g. ``{"face_token": …}``), possibly empty.
        :raises IdentityError: when the check fails (a failed attempt, counted and logged).
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
        """The seal certificate used for this authority: PEM bytes (ASCII, one
        ``-----BEGIN CERTIFICATE-----`` block, the certificate alone, no chain).

        :raises SealingError: if the authority has no seal key or certificate here.
        """


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


# --------------------------------------------------------------------------- seal provider capabilities
#
# A seal provider must be a SealProvider; it may also offer any of these capabilities. bdcert
# asks with isinstance (these protocols are runtime-checkable), never with hasattr.

__all__ += ["Closable", "DigestSigner", "OfdSealer", "SignerSource"]


@runtime_checkable
class OfdSealer(Protocol):
    """A seal provider that also seals OFD certificates (GB/T 33190 documents, GB/T 38540 seals).

    A workspace issuing ``--format ofd`` or ``both`` needs one.
    """

    def seal_ofd(
        self,
        package: bytes,
        *,
        authority: Authority,
        page: int,
        box_mm: tuple[float, float, float, float],
        time: datetime,
    ) -> bytes:
        """Return the OFD package with the authority's e-seal over ``Signature.xml``.

        :param package: the unsealed OFD package (a ZIP file).
        :param page: zero-based index of the page showing the seal.
        :param box_mm: (x, y, width, height) in millimetres from the page's top-left corner (an
            OFD ``Boundary``).
        :param time: the signing time to claim, aware (China time, +08:00).
        :raises SealingError: if the authority has no usable seal, key or certificate.
        """
        ...


@runtime_checkable
class Closable(Protocol):
    """A provider holding resources (an HSM session, a connection pool) until ``close()``.

    bdcert calls ``close()`` when it is done with the provider (``Registry.close``).
    """

    def close(self) -> None:
        """Release the resources; idempotent. A later use may open them again."""
        ...


#: Digest algorithms a :class:`DigestSigner` is asked for, with their hashes.
DIGEST_HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


@runtime_checkable
class DigestSigner(Protocol):
    """Signs digests with an authority's seal key held elsewhere (HSM, remote e-seal service).

    This is all a PAdES seal needs from the key: the certificates to embed and a signature of
    the digest of the CMS signed attributes. :class:`bdcert.sealing.DigestSealProvider` builds
    a complete seal provider from these two methods.
    """

    def certificate_chain(self, authority_code: str) -> Sequence[bytes]:
        """The authority's seal certificate first, then its intermediates and root (to embed in
        each seal), each PEM or DER bytes of one X.509 certificate.

        :raises SealingError: if the authority has no seal key here.
        """
        ...

    def sign_digest(self, authority_code: str, digest: bytes, digest_algorithm: str) -> bytes:
        """Sign a precomputed digest with the authority's seal key.

        :param digest: the digest (32, 48 or 64 bytes for ``sha256``, ``sha384``, ``sha512``).
        :param digest_algorithm: ``"sha256"``, ``"sha384"`` or ``"sha512"``.
        :returns: a DER ``ECDSA-Sig-Value`` for an EC key, a PKCS#1 v1.5 signature for RSA.
        :raises SealingError: if the key refuses or is unusable;
            :class:`~bdcert.errors.SealServiceUnavailable` if a remote key cannot be reached.
        """
        ...


@runtime_checkable
class SignerSource(Protocol):
    """Hands out an authority's pyHanko signer (``pyhanko.sign.signers.Signer``); the reference
    e-seal service (``bdcert-seal-service``) signs with any provider that is one.
    """

    def signer_for(self, authority_code: str) -> Any:
        """The signer of ``authority_code``, loaded once and reused.

        :raises LookupError: for an authority without a seal key (the service answers 404).
        :raises SealingError: for a key that cannot be used (the service answers 500).
        """
        ...
