"""Collection (归集, rule article 7 paragraph 2): certificates a city with its own system sealed,
deposited into the provincial library after the province checked each of them, and their later
status changes.

A deposit enters the library only when every check holds; otherwise it is refused with every
reason (nothing stored):

- ``entry``: the registration entry it came from is valid (:func:`bdcert.validation.parse_entry`),
  produces certificates of ``kind``, and is not one the library holds with other content;
- ``number`` and ``licence_id``: well formed (:mod:`bdcert.identifiers`) and exactly those the
  entry's authority would give: the number names the authority's province and place and the
  entry's year; the 电子证照标识 is the one of that kind, authority credit code, year and sequence;
- ``pdf`` (and ``ofd``): the seal is intact, covers the file and chains to the province's trust
  roots, and its certificate is the entry's authority's (its subject carries the authority's
  统一社会信用代码);
- ``face``: every face item the province computes from the entry (:func:`bdcert.face.face_items`,
  with the deposit's number and ``issued_at``) is printed in the file: the text poppler's
  ``pdftotext`` extracts, blanks removed, contains each value. Extracted text (not metadata, which
  any writer may fill freely) is what a reader sees, whatever renderer the city used;
- ``token``: the QR code, decoded from the page rendered by ``pdftoppm`` with ``zbarimg``, holds a
  URL whose last path segment is the deposited token, and no other certificate has that token;
- uniqueness: a number already in the library with another file is a conflict (409); the very same
  file again is an idempotent replay.

An accepted deposit is filed like an issued certificate (lookup by token, verification by digest,
sharing), marked in the store's deposits, logged as the ``issue`` audit event an issue writes
(``ywh``, ``licence_id``, ``pdf_sha256``) plus ``deposited: true``, and announced as an ``issued``
certificate event. The province's number counter of the authority is raised past the deposited
sequence, so it never issues that number itself.

Needs poppler-utils and zbar-tools (``scripts/setup`` installs them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from bdcert.audit.witness import Countersignature, WitnessRecords, checkpoint_summary, receive
from bdcert.errors import (
    ConfigurationError,
    IdempotencyConflict,
    NotFound,
    Problem,
    ValidationError,
)
from bdcert.face import face_items
from bdcert.identifiers import (
    LICENCE_TYPE_CODES,
    licence_identifier,
    parse_certificate_number,
)
from bdcert.lifecycle.deposit_files import pdf_text, qr_payloads, token_of
from bdcert.lifecycle.deposit_files import squash as _squash
from bdcert.lifecycle.events import publish, stage
from bdcert.lifecycle.reading import check_document, known_crls
from bdcert.lifecycle.services import Services
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Authority,
    Certificate,
    CertificateEvent,
    CertificateKind,
    FaceItem,
    IssueResult,
    Outcome,
    Party,
    Principal,
    RegistrationEntry,
)
from bdcert.protocols import StorageTransaction
from bdcert.validation import parse_entry

__all__ = [
    "CollectionRecords",
    "DepositResult",
    "add_countersignature",
    "decode_document",
    "deposit",
    "store_of",
    "witness_checkpoints",
]


@runtime_checkable
class CollectionRecords(Protocol):
    """Deposited certificates (归集, rule article 7 paragraph 2): a store that keeps them.

    Not part of :class:`StorageTransaction` (a store without it cannot take deposits;
    :mod:`bdcert.lifecycle.collection` says so).
    """

    def add_deposit(self, number: str, authority_code: str, at: datetime, actor: str) -> None:
        """Mark the filed certificate ``number`` as deposited by ``actor`` of ``authority_code``.
        :raises StorageError: already marked. :raises NotFound: no such certificate."""

    def deposited(self, number: str) -> bool:
        """True when ``number`` came into the library by deposit."""

    def reserve_sequence(
        self, authority_code: str, year: int, kind: CertificateKind, at_least: int
    ) -> None:
        """Raise the number counter of (authority, year, kind) to ``at_least`` if it is lower, so
        the province never issues a number a city already used."""

    def lift_restriction(self, number: str, business_number: str, last_day: date) -> int:
        """End the certificate's seizures recorded under ``business_number`` on ``last_day``
        (their last day in force). :returns: how many were in force and ended."""


@attrs.define(frozen=True)
class DepositResult:
    """The outcome of a deposit.

    :ivar outcome: ``deposited`` (filed now) or ``replayed`` (this very file was deposited before).
    :ivar certificate: the library's record of it.
    """

    outcome: str
    certificate: Certificate


def decode_document(value: Any, field: str, problems: list[Problem]) -> bytes | None:
    """Bytes as given, or decoded from base64 text; None (with a problem) otherwise."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            problems.append(Problem(field, "must be the file's bytes in base64"))
            return None
    problems.append(Problem(field, "must be the file's bytes in base64"))
    return None


def store_of(tx: StorageTransaction) -> CollectionRecords:
    if not isinstance(tx, CollectionRecords):
        raise ConfigurationError("this store keeps no deposits (归集): use the sql storage plugin")
    return tx


def _issued_at(value: Any, problems: list[Problem]) -> datetime | None:
    when = value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            when = None
    if not isinstance(when, datetime) or when.utcoffset() is None:
        problems.append(
            Problem("issued_at", "must be the sealing time, ISO 8601 with its offset (+08:00)")
        )
        return None
    return when.astimezone(CHINA_TZ)


def _text(raw: Mapping[str, Any], key: str, problems: list[Problem], what: str) -> str | None:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(key, f"is required: {what}"))
        return None
    return value.strip()


@attrs.define
class _Checked:
    """What the metadata checks established."""

    entry: RegistrationEntry
    authority: Authority
    kind: CertificateKind
    number: str
    licence_id: str
    year: int
    sequence: int
    token: str
    issued_at: datetime
    pdf: bytes
    ofd: bytes | None


def _check_metadata(
    services: Services, raw: Mapping[str, Any], problems: list[Problem]
) -> _Checked | None:
    """Every check that needs no store; problems appended (each naming its field)."""
    number = _text(raw, "number", problems, "the certificate number (证号)")
    licence_id = _text(raw, "licence_id", problems, "the e-licence identifier (电子证照标识)")
    token = _text(raw, "token", problems, "the QR code's verification token")
    kind_value = raw.get("kind")
    kind: CertificateKind | None = None
    try:
        kind = CertificateKind(str(kind_value))
    except ValueError:
        choices = ", ".join(k.value for k in CertificateKind)
        problems.append(Problem("kind", f"must be one of {choices}, not {kind_value!r}"))
    issued_at = _issued_at(raw.get("issued_at"), problems)
    pdf = decode_document(raw.get("pdf"), "pdf", problems)
    ofd = decode_document(raw.get("ofd"), "ofd", problems)
    if pdf is None and not any(p.field == "pdf" for p in problems):
        problems.append(Problem("pdf", "is required: the sealed PDF (the library files the PDF)"))
    entry: RegistrationEntry | None = None
    raw_entry = raw.get("entry")
    if not isinstance(raw_entry, Mapping):
        problems.append(Problem("entry", "is required: the registration entry, as pushed"))
    else:
        try:
            entry = parse_entry(raw_entry, authorities=services.authorities, codes=services.codes)
        except ValidationError as exc:
            problems.extend(
                Problem(f"entry.{p.field}" if p.field else "entry", p.message) for p in exc.problems
            )
    if entry is not None and kind is not None and entry.produces is not kind:
        made = entry.produces.value if entry.produces else "no certificate"
        problems.append(Problem("kind", f"the entry produces {made}, not {kind.value}"))
    sequence = year = 0
    authority = services.authorities.get(entry.authority_code) if entry is not None else None
    if number is not None:
        parsed = parse_certificate_number(number)
        if parsed is None:
            problems.append(
                Problem(
                    "number",
                    f"{number!r} is not a certificate number (川(2024)成都市不动产权第0000001号)",
                )
            )
        elif authority is not None and entry is not None:
            sfjc, year, szmc, number_kind, sequence = parsed
            if (sfjc, szmc) != (authority.province_abbr, authority.place_name):
                problems.append(
                    Problem(
                        "number",
                        f"names {sfjc} {szmc}, not the entry's authority {authority.code} "
                        f"({authority.province_abbr} {authority.place_name})",
                    )
                )
            if year != entry.year:
                problems.append(
                    Problem("number", f"is of the year {year}, not the entry's year {entry.year}")
                )
            if kind is not None and number_kind is not kind:
                problems.append(Problem("number", f"is a {number_kind.title}, not a {kind.title}"))
            if licence_id is not None and kind is not None:
                expected = licence_identifier(
                    LICENCE_TYPE_CODES[kind], authority.credit_code, f"{year}{sequence:07d}"
                )
                if licence_id != expected:
                    problems.append(
                        Problem(
                            "licence_id",
                            f"is not the identifier of {number} of authority {authority.code} "
                            f"(expected {expected})",
                        )
                    )
    if (
        entry is None
        or authority is None
        or kind is None
        or number is None
        or licence_id is None
        or token is None
        or issued_at is None
        or pdf is None
        or problems
    ):
        return None
    return _Checked(
        entry, authority, kind, number, licence_id, year, sequence, token, issued_at, pdf, ofd
    )


def _check_documents(
    services: Services, c: _Checked, problems: list[Problem]
) -> tuple[tuple[Party, ...], tuple[FaceItem, ...], str] | None:
    """The seal, face and QR checks of the deposited files; returns the holders, face and URL."""
    crls = known_crls(services)
    documents = [("pdf", c.pdf)] + ([("ofd", c.ofd)] if c.ofd is not None else [])
    for field, data in documents:
        try:
            check = check_document(data, services.trust_roots, crls=crls)
        except Exception as exc:  # hostile input: whatever the parsers raise, it is refused
            problems.append(Problem(field, f"cannot be read ({type(exc).__name__})"))
            continue
        if not check.trusted:
            problems.append(
                Problem(field, f"the seal does not hold ({check.code.value}: {check.detail})")
            )
        elif c.authority.credit_code not in (check.signer or ""):
            problems.append(
                Problem(
                    field,
                    f"sealed by {check.signer}, not by the authority {c.authority.code} "
                    f"{c.authority.name} ({c.authority.credit_code})",
                )
            )
    text = _squash(pdf_text(c.pdf))
    groups = (
        [(h,) for h in c.entry.holders] if c.entry.holding_mode == "分别持证" else [c.entry.holders]
    )
    best: tuple[list[Problem], tuple[Party, ...], tuple[FaceItem, ...]] | None = None
    for holders in groups:
        face = face_items(
            c.entry,
            kind=c.kind,
            number=c.number,
            holders=holders,
            authority=c.authority,
            issued_at=c.issued_at,
            codes=services.codes,
        )
        missing = [
            Problem(
                f"face.{item.key}",
                f"the file does not print {item.label} as the entry gives it: {item.value!r}",
            )
            for item in face
            if _squash(item.value) and _squash(item.value) not in text
        ]
        if best is None or len(missing) < len(best[0]):
            best = (missing, holders, face)
    assert best is not None
    problems.extend(best[0])
    urls = qr_payloads(c.pdf)
    url = next((u for u in urls if token_of(u) == c.token), None)
    if url is None:
        found = f"the QR code holds {urls[0]!r}" if urls else "no QR code could be read"
        problems.append(Problem("token", f"is not the token of the file's QR code: {found}"))
    if problems:
        return None
    assert url is not None
    return best[1], best[2], url


def deposit(services: Services, raw: Mapping[str, Any], *, principal: Principal) -> DepositResult:
    """See :meth:`bdcert.lifecycle.Registry.deposit`."""
    if not isinstance(raw, Mapping):
        raise ValidationError([Problem("", "a deposit must be a JSON object")], subject="deposit")
    raw_entry = raw.get("entry")
    djjg = raw_entry.get("djjg") if isinstance(raw_entry, Mapping) else None
    known = isinstance(djjg, str) and djjg in services.authorities
    subject = str(raw.get("number") or "")
    services.authorize(principal, "deposit", djjg if known else None, subject=subject)
    problems: list[Problem] = []
    checked = _check_metadata(services, raw, problems)
    if checked is None:
        number = raw.get("number")
        if isinstance(number, str) and number.strip():
            with services.storage.transaction() as tx:
                try:
                    tx.get_certificate(number.strip())
                except NotFound:
                    pass
                else:  # a number in the library, given with content that does not even check
                    problems.insert(
                        0,
                        Problem("number", f"{number} is already in the library with other content"),
                    )
                    raise IdempotencyConflict(problems, subject=f"deposit {number}")
        raise ValidationError(problems, subject=f"deposit {subject or '(no number)'}")
    digest = hashlib.sha256(checked.pdf).hexdigest()
    with services.storage.transaction() as tx:
        replayed = _earlier(services, tx, checked, digest, principal)
    if replayed is not None:
        return replayed
    documents = _check_documents(services, checked, problems)
    if documents is None:
        raise ValidationError(problems, subject=f"deposit {checked.number}")
    holders, face, url = documents
    entry, now = checked.entry, services.clock()
    events: list[CertificateEvent] = []
    with services.storage.transaction() as tx:
        store = store_of(tx)
        replayed = _earlier(services, tx, checked, digest, principal)  # a concurrent deposit
        if replayed is not None:
            return replayed
        certificate = Certificate(
            number=checked.number,
            kind=checked.kind,
            licence_id=checked.licence_id,
            business_number=entry.business_number,
            authority_code=checked.authority.code,
            year=checked.year,
            sequence=checked.sequence,
            holders=holders,
            unit_numbers=entry.unit_numbers,
            face=face,
            token=checked.token,
            verification_url=url,
            issued_at=checked.issued_at,
            pdf_sha256=digest,
        )
        tx.add_certificate(certificate, checked.pdf)
        if checked.ofd is not None:
            tx.add_ofd(certificate.number, checked.ofd)
        store.add_deposit(certificate.number, certificate.authority_code, now, principal.name)
        store.reserve_sequence(
            certificate.authority_code, checked.year, checked.kind, checked.sequence
        )
        if tx.get_registration(entry.business_number) is None:
            tx.add_registration(
                entry,
                IssueResult(
                    business_number=entry.business_number,
                    outcome=Outcome.ISSUED,
                    kind=checked.kind,
                    numbers=(certificate.number,),
                ),
            )
        details = {
            "ywh": entry.business_number,
            "licence_id": certificate.licence_id,
            "pdf_sha256": digest,
            "deposited": True,
        }
        tx.append_audit(AuditEvent("issue", principal.name, certificate.number, now, details))
        events.append(
            CertificateEvent(
                "issued",
                certificate.number,
                entry.business_number,
                certificate.authority_code,
                now,
                {"kind": checked.kind.value, "deposited": True},
            )
        )
        staged = stage(services, tx, events)
    publish(services, events, staged)
    return DepositResult("deposited", certificate)


def _earlier(
    services: Services,
    tx: StorageTransaction,
    c: _Checked,
    digest: str,
    principal: Principal,
) -> DepositResult | None:
    """The replay of this very deposit; raises the conflict when the number, the token or the
    entry is already in the library with other content; None when it is new."""
    conflicts: list[Problem] = []
    try:
        filed = tx.get_certificate(c.number)
    except NotFound:
        filed = None
    stored = tx.get_registration(c.entry.business_number)
    same_entry = stored is not None and stored.fingerprint == c.entry.fingerprint
    if filed is not None:
        same = (
            filed.pdf_sha256 == digest
            and filed.token == c.token
            and filed.licence_id == c.licence_id
            and filed.business_number == c.entry.business_number
            and filed.issued_at == c.issued_at
            and same_entry
        )
        if same and store_of(tx).deposited(c.number):
            tx.append_audit(
                AuditEvent(
                    "replay", principal.name, c.entry.business_number, services.clock(),
                    {"numbers": [c.number], "deposited": True},
                )
            )  # fmt: skip
            return DepositResult("replayed", filed)
        conflicts.append(
            Problem("number", f"{c.number} is already in the library with other content")
        )
    by_token = tx.find_certificate_by_token(c.token)
    if by_token is not None and by_token.number != c.number:
        conflicts.append(Problem("token", f"is already the token of {by_token.number}"))
    if stored is not None and not same_entry:
        conflicts.append(
            Problem(
                "entry.ywh",
                f"{c.entry.business_number} is already in the library with other content",
            )
        )
    if conflicts:
        raise IdempotencyConflict(conflicts, subject=f"deposit {c.number}")
    return None


# -------------------------------------------------------------------------- witnessed checkpoints


def witness_checkpoints(services: Services, *, principal: Principal) -> list[dict[str, Any]]:
    """See :meth:`bdcert.lifecycle.Registry.witness_checkpoints`."""
    services.authorize(principal, "witness_read")
    with services.storage.transaction() as tx:
        return [checkpoint_summary(cp) for cp in tx.audit_checkpoints()]


def add_countersignature(
    services: Services, pdf: bytes, *, principal: Principal
) -> tuple[Countersignature, bool]:
    """See :meth:`bdcert.lifecycle.Registry.add_countersignature`."""
    services.authorize(principal, "witness")
    witness = None if "platform" in principal.roles else principal.authority
    now = services.clock()
    with services.storage.transaction() as tx:
        record, new = receive(
            tx,
            bytes(pdf),
            authorities=services.authorities,
            check=services.checkpointer.check,
            now=now,
            witness=witness,
        )
        if new:
            details = {
                "number": record.number,
                "witness": record.witness,
                "event_id": record.event_id,
                "event_hash": record.event_hash,
                "pdf_sha256": record.pdf_sha256,
            }
            subject = f"audit checkpoint #{record.number}"
            tx.append_audit(AuditEvent("countersignature", principal.name, subject, now, details))
        elif isinstance(tx, WitnessRecords):  # kept before: answer with its time of receipt
            digest = record.pdf_sha256
            record = next((c for c in tx.countersignatures() if c.pdf_sha256 == digest), record)
    return record, new
