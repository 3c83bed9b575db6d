"""Witnessed audit checkpoints: a city countersigns each provincial checkpoint it has seen.

A province holding its own seal key can rewrite its audit log with recomputed hashes and re-make
its checkpoints: its own seals then agree with the forged history (see :mod:`bdcert.audit`). A
witness closes that gap: a city's mirror seals, with its own authority's seal, a statement that it
saw checkpoint ``N`` stating event ``E`` with hash ``H`` (and the checkpoint PDF's SHA-256); the
province keeps the countersignature and the witness keeps a copy (``workspace/witness/``). Once
the province's checkpoint ``N``, or its log's event ``E``, no longer has what the witness sealed,
``bdcert audit verify`` names the checkpoint and the witness; a countersignature deleted at the
province is caught when the witness's copy is given (``--witness FILE``).

The countersignature is a one-page PDF, sealed through the witness's seal provider as bdcert's
checkpoint PDFs are (PAdES, or GB/T 38540 with SM2), so an outsider checks it with ``pdfsig``;
its statement is printed on the page (ASCII) and stored as canonical JSON in ``/Subject``::

    {"type": "bdcert-witness-countersignature", "witness": "510700", "number": 3,
     "event_id": 41, "event_hash": "<hex>", "checkpoint_sha256": "<hex>",
     "checkpoint_made_at": "…+08:00", "seen_at": "…+08:00"}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from bdcert.audit.checkpoints import subject_statement
from bdcert.errors import Problem, ValidationError
from bdcert.model import CHINA_TZ, Authority
from bdcert.protocols import (
    AuditCheckpoint,
    SealProvider,
    StorageTransaction,
)
from bdcert.sealing.statement import statement_seal_request

if TYPE_CHECKING:
    from bdcert.render import Renderer

__all__ = [
    "COUNTERSIGNATURE_KEYWORD",
    "Countersignature",
    "WitnessRecords",
    "checkpoint_summary",
    "countersign",
    "read_countersignature",
    "receive",
    "verify_witnesses",
]

#: ``/Keywords`` of a countersignature PDF and ``type`` of its statement.
COUNTERSIGNATURE_KEYWORD = "bdcert-witness-countersignature"
_FIELDS = (
    "witness",
    "number",
    "event_id",
    "event_hash",
    "checkpoint_sha256",
    "checkpoint_made_at",
    "seen_at",
)


@attrs.define(frozen=True)
class Countersignature:
    """A witness's sealed statement that it saw an audit checkpoint (:mod:`bdcert.audit.witness`).

    :ivar number: the checkpoint's number. :ivar witness: the witnessing authority's code.
    :ivar event_id: the checkpoint's last event id. :ivar event_hash: its chain hash (hex).
    :ivar checkpoint_sha256: SHA-256 (hex) of the checkpoint's sealed PDF.
    :ivar received_at: when the province stored it (aware). :ivar pdf: the sealed statement.
    """

    number: int
    witness: str
    event_id: int
    event_hash: str
    checkpoint_sha256: str
    received_at: datetime
    pdf: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")

    @property
    def pdf_sha256(self) -> str:
        """SHA-256 (hex) of :attr:`pdf`."""
        return hashlib.sha256(self.pdf).hexdigest()


@runtime_checkable
class WitnessRecords(Protocol):
    """Countersignatures of audit checkpoints kept by the province (:mod:`bdcert.audit.witness`)."""

    def add_countersignature(self, countersignature: Countersignature) -> bool:
        """Store it; False when the very same one (number, witness, PDF) is already stored."""

    def countersignatures(self) -> list[Countersignature]:
        """Every stored countersignature, by checkpoint number then witness."""


def checkpoint_summary(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """What a witness is shown of a checkpoint (``GET /api/v1/witness/checkpoints``)."""
    return {
        "number": checkpoint.number,
        "event_id": checkpoint.event_id,
        "event_hash": checkpoint.event_hash,
        "made_at": checkpoint.made_at.astimezone(CHINA_TZ).isoformat(),
        "pdf_sha256": checkpoint.pdf_sha256,
    }


def _render(statement: Mapping[str, Any], author: str) -> bytes:
    """The unsealed one-page A4 statement (core font: the text is ASCII)."""
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.add_page()
    pdf.set_font("Helvetica", size=16)
    pdf.cell(0, 12, "Audit checkpoint countersignature", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    pdf.multi_cell(
        0,
        6,
        f"Witness {statement['witness']} saw the provincial audit checkpoint "
        f"#{statement['number']}: the audit log's event {statement['event_id']} had the chain "
        f"hash {statement['event_hash']} (SHA-256), in the checkpoint PDF with SHA-256 "
        f"{statement['checkpoint_sha256']}, made at {statement['checkpoint_made_at']}; "
        f"seen at {statement['seen_at']}.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(4)
    for key in _FIELDS:
        pdf.set_font("Helvetica", size=9)
        pdf.cell(0, 5, key, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Courier", size=9)
        pdf.multi_cell(0, 5, str(statement[key]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_title(f"Countersignature of audit checkpoint #{statement['number']}")
    pdf.set_subject(json.dumps(dict(statement), sort_keys=True, ensure_ascii=True))
    pdf.set_keywords(COUNTERSIGNATURE_KEYWORD)
    pdf.set_author(author)  # the seal's holder: verifiers compare it with the signer
    pdf.set_creator("bdcert")
    pdf.set_creation_date(datetime.fromisoformat(str(statement["seen_at"])))
    return bytes(pdf.output())


def countersign(
    checkpoint: Mapping[str, Any],
    *,
    witness: Authority,
    seal_provider: SealProvider,
    renderer: Renderer,
    now: datetime,
) -> bytes:
    """The witness's sealed countersignature of one checkpoint it was shown.

    :param checkpoint: :func:`checkpoint_summary` as the province answered it.
    :raises ValidationError: the summary lacks a field or has one of the wrong type.
    :raises SealingError: the seal provider failed.
    """
    problems = []
    for key, kind in (
        ("number", int),
        ("event_id", int),
        ("event_hash", str),
        ("made_at", str),
        ("pdf_sha256", str),
    ):
        value = checkpoint.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            problems.append(Problem(key, f"must be a {kind.__name__}, not {value!r}"))
    if problems:
        raise ValidationError(problems, subject="checkpoint")
    statement = {
        "type": COUNTERSIGNATURE_KEYWORD,
        "witness": witness.code,
        "number": checkpoint["number"],
        "event_id": checkpoint["event_id"],
        "event_hash": checkpoint["event_hash"],
        "checkpoint_sha256": checkpoint["pdf_sha256"],
        "checkpoint_made_at": checkpoint["made_at"],
        "seen_at": now.astimezone(CHINA_TZ).isoformat(),
    }
    sealed: bytes = seal_provider.seal_pdf(
        _render(statement, witness.name),
        statement_seal_request(
            witness,
            renderer.seal_picture(witness),
            reason="审计日志检查点见证 audit checkpoint witness",
            field_name="bdcert-witness",
            signing_time=now,
        ),
    )
    return sealed


def read_countersignature(pdf: bytes) -> dict[str, Any]:
    """The statement in a countersignature's ``/Subject`` (check the seal first).

    :raises ValueError: not a countersignature, or a field missing or of the wrong type.
    """
    statement = subject_statement(pdf, COUNTERSIGNATURE_KEYWORD, "countersignature")
    for key in _FIELDS:
        value = statement.get(key)
        integer = key in ("number", "event_id")
        if (integer and (not isinstance(value, int) or isinstance(value, bool))) or (
            not integer and not isinstance(value, str)
        ):
            raise ValueError(f"the countersignature's {key} is missing or malformed")
    return statement


def _checked(
    pdf: bytes,
    authorities: Mapping[str, Authority],
    check: Callable[[bytes], Any],
) -> tuple[dict[str, Any] | None, str]:
    """The statement of a countersignature whose seal holds and is its witness's, or a reason."""
    seal = check(pdf)
    if not seal.trusted:
        return None, f"its seal fails ({seal.code.value}: {seal.detail})"
    try:
        statement = read_countersignature(pdf)
    except ValueError as exc:
        return None, str(exc)
    witness = authorities.get(statement["witness"])
    if witness is None:
        return None, f"the witness {statement['witness']} is not a known authority"
    if witness.credit_code not in (seal.signer or ""):
        return None, f"sealed by {seal.signer}, not by the witness {witness.code}"
    return statement, ""


def receive(
    tx: StorageTransaction,
    pdf: bytes,
    *,
    authorities: Mapping[str, Authority],
    check: Callable[[bytes], Any],
    now: datetime,
    witness: str | None = None,
) -> tuple[Countersignature, bool]:
    """Check a countersignature against the stored checkpoints and keep it.

    :param witness: the authority the sender acts for (a registrar's); None for the platform.
    :returns: the record and whether it is new (False: the same one was kept before).
    :raises ValidationError: its seal fails or is not the witness's, it is not a
        countersignature, names no stored checkpoint, or states another event or hash.
    """
    statement, reason = _checked(pdf, authorities, check)
    if statement is None:
        raise ValidationError([Problem("countersignature", reason)], subject="countersignature")
    problems = []
    if witness is not None and statement["witness"] != witness:
        problems.append(
            Problem(
                "witness", f"is {statement['witness']}; a registrar of {witness} may not send it"
            )
        )
    stored = {cp.number: cp for cp in tx.audit_checkpoints()}.get(statement["number"])
    if stored is None:
        problems.append(Problem("number", f"no audit checkpoint #{statement['number']} is kept"))
    else:
        for key, value in (
            ("event_id", stored.event_id),
            ("event_hash", stored.event_hash),
            ("checkpoint_sha256", stored.pdf_sha256),
        ):
            if statement[key] != value:
                problems.append(
                    Problem(key, f"is not checkpoint #{stored.number}'s ({str(value)[:16]}…)")
                )
    if problems:
        raise ValidationError(problems, subject="countersignature")
    record = Countersignature(
        number=statement["number"],
        witness=statement["witness"],
        event_id=statement["event_id"],
        event_hash=statement["event_hash"],
        checkpoint_sha256=statement["checkpoint_sha256"],
        received_at=now,
        pdf=pdf,
    )
    if not isinstance(tx, WitnessRecords):
        raise ValidationError(
            [Problem("countersignature", "this store keeps no countersignatures")],
            subject="countersignature",
        )
    return record, tx.add_countersignature(record)


def verify_witnesses(
    tx: StorageTransaction,
    *,
    authorities: Mapping[str, Authority],
    check: Callable[[bytes], Any],
    copies: Sequence[tuple[str, bytes]] = (),
) -> list[str]:
    """Check every stored countersignature and each witness's copy against the log and the
    stored checkpoints.

    :returns: one message per finding: a history rewritten after a witnessed checkpoint (its
        event's hash or the checkpoint changed), a countersignature whose seal fails, and a copy
        the province no longer keeps (deleted).
    """
    problems: list[str] = []
    kept = tx.countersignatures() if isinstance(tx, WitnessRecords) else []
    kept_digests = {c.pdf_sha256 for c in kept}
    checkpoints = {cp.number: cp for cp in tx.audit_checkpoints()}
    documents = [(f"stored countersignature of checkpoint #{c.number}", c.pdf) for c in kept]
    documents += [(f"witness copy {name}", pdf) for name, pdf in copies]
    for label, pdf in documents:
        statement, reason = _checked(pdf, authorities, check)
        if statement is None:
            problems.append(f"{label}: {reason}")
            continue
        number, event_id = statement["number"], statement["event_id"]
        who = f"checkpoint #{number} witnessed by {statement['witness']} at {statement['seen_at']}"
        current = tx.audit_event_hash(event_id)
        if current is None:
            problems.append(
                f"history rewritten after {who}: the log no longer holds event {event_id} ({label})"
            )
        elif current != statement["event_hash"]:
            problems.append(
                f"history rewritten after {who}: the log's event {event_id} has hash "
                f"{current[:12]}…, the witness saw {statement['event_hash'][:12]}… ({label})"
            )
        stored = checkpoints.get(number)
        if stored is None:
            problems.append(
                f"history rewritten after {who}: checkpoint #{number} is gone ({label})"
            )
        elif (stored.event_id, stored.event_hash, stored.pdf_sha256) != (
            event_id,
            statement["event_hash"],
            statement["checkpoint_sha256"],
        ):
            problems.append(
                f"history rewritten after {who}: the province's checkpoint #{number} is not the "
                f"one witnessed (it seals event {stored.event_id}, hash "
                f"{stored.event_hash[:12]}…) ({label})"
            )
        if label.startswith("witness copy") and hashlib.sha256(pdf).hexdigest() not in kept_digests:
            problems.append(
                f"{label}: the province no longer keeps this countersignature of {who} (deleted)"
            )
    return problems
