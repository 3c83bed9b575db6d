"""The register against its audit log (rule article 17): replay what the log says happened to
each certificate and compare it with the register's current state.

The hash chain (:mod:`bdcert.audit.chain`) shows that the log was not edited; it cannot show
that the register was not: a cancelled certificate set back to ``valid`` in the database, a
restriction deleted or a sealed file replaced leaves the log intact. :func:`register_problems`
finds those edits: every certificate the log says was issued must be in the register, with the
file digest recorded at issue, the status the log's last transition gave it (``issue`` →
valid, ``supersede`` → superseded by the numbers named, ``cancel`` → cancelled with the reason
named) and at least as many restrictions as the log recorded (``restrict``).

:func:`stored_file_problem` checks each stored PDF against the digests the register recorded
for its certificate: the file filed at issue, or a recorded revision that extends it (an
evidence renewal), never another certificate's file put in its place.

Limits: a certificate added to the register without any audit record is not found (the check
starts from the log), and the register's other tables (registrations, backlog, agreements) are
not replayed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from bdcert.model import AuditEvent, Certificate, CertificateStatus

__all__ = ["issued_digests", "register_problems", "stored_file_problem"]

_REVISION_END = re.compile(rb"%%EOF(\r\n|\r|\n)?")


@attrs.define
class _Expected:
    """What the log says of one certificate after replaying its events."""

    pdf_sha256: str
    status: CertificateStatus = CertificateStatus.VALID
    superseded_by: tuple[str, ...] = ()
    cancel_reason: str | None = None
    restrictions: int = 0
    last: str = "issue"


def register_problems(
    events: Iterable[AuditEvent], certificate: Callable[[str], Certificate | None]
) -> list[str]:
    """Messages naming every certificate whose state in the register differs from what the
    audit log says happened to it; empty when they agree.

    :param events: the audit log, oldest first (:meth:`StorageTransaction.audit_events`).
    :param certificate: the register's certificate of a number, None when there is none.
    """
    expected: dict[str, _Expected] = {}
    problems: list[str] = []
    for event in events:
        details: Any = event.details
        number = event.subject
        if event.action == "issue":
            expected[number] = _Expected(pdf_sha256=str(details.get("pdf_sha256", "")))
            continue
        state = expected.get(number)
        if state is None or event.action not in ("supersede", "cancel", "restrict"):
            continue
        if event.action == "supersede":
            state.status = CertificateStatus.SUPERSEDED
            state.superseded_by = tuple(str(n) for n in details.get("by", ()))
        elif event.action == "cancel":
            state.status = CertificateStatus.CANCELLED
            state.cancel_reason = str(details.get("reason", ""))
        else:
            state.restrictions += 1
        state.last = f"{event.action} at {event.at.isoformat()}"
    for number, state in expected.items():
        cert = certificate(number)
        if cert is None:
            problems.append(f"register: {number} was issued by the log but is not in the register")
            continue
        where = f"register: {number}"
        if state.pdf_sha256 and cert.pdf_sha256 != state.pdf_sha256:
            problems.append(f"{where}: the filed PDF is not the one the log recorded at issue")
        if cert.status is not state.status:
            problems.append(
                f"{where} is {cert.status.value} in the register, but the log makes it "
                f"{state.status.value} (last: {state.last})"
            )
        elif state.status is CertificateStatus.SUPERSEDED and set(cert.superseded_by) != set(
            state.superseded_by
        ):
            problems.append(f"{where}: its successors differ from those the log recorded")
        elif (
            state.status is CertificateStatus.CANCELLED
            and (cert.cancel_reason or "") != state.cancel_reason
        ):
            problems.append(f"{where}: its cancellation reason differs from the log's")
        if len(cert.restrictions) < state.restrictions:
            problems.append(
                f"{where} has {len(cert.restrictions)} restriction(s); the log recorded "
                f"{state.restrictions}"
            )
    return problems


def issued_digests(events: Iterable[AuditEvent]) -> dict[str, str]:
    """The PDF digest (SHA-256, hex) each ``issue`` record of the log gives its certificate."""
    return {e.subject: str(e.details.get("pdf_sha256", "")) for e in events if e.action == "issue"}


def stored_file_problem(
    number: str, stored: bytes, original_sha256: str, owner: Callable[[str], str | None]
) -> str | None:
    """Why ``stored`` is not a PDF the register recorded for certificate ``number``, or None.

    It must be the file filed at issue (``original_sha256``), or a recorded revision of it
    (``owner`` of its digest is ``number``: :meth:`~bdcert.protocols.CertificateRecords.
    find_certificate_by_digest`'s number) whose first bytes are that file (an incremental
    update extending it).

    :param owner: the number of the certificate a digest (hex) is recorded for, None for none.
    """
    if not original_sha256:
        return "the register records no digest of its filed PDF"
    digest = hashlib.sha256(stored).hexdigest()
    if digest == original_sha256:
        return None
    holder = owner(digest)
    if holder != number:
        whose = f": it is the file of {holder}" if holder else ""
        return f"the stored PDF is not one the register recorded for it{whose}"
    for match in _REVISION_END.finditer(stored):
        end = match.end()
        if end < len(stored) and hashlib.sha256(stored[:end]).hexdigest() == original_sha256:
            return None
    return "the stored PDF is a recorded revision that does not extend the filed PDF"
