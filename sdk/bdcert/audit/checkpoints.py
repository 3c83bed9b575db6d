"""Sealed checkpoints of the audit log (rule article 17): settings, the checkpoint PDF, making and
checking checkpoints, and making them automatically. See :mod:`bdcert.audit` for what they prove.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import attrs

from bdcert.audit.chain import GENESIS_SHA256
from bdcert.config import check_settings
from bdcert.errors import ConfigurationError, StorageError
from bdcert.model import CHINA_TZ, AuditEvent, Authority
from bdcert.protocols import (
    AuditCheckpoint,
    SealProvider,
    Storage,
    StorageTransaction,
)
from bdcert.sealing.statement import STATEMENT_SEAL_BOX, statement_seal_request

if TYPE_CHECKING:
    from bdcert.render import Renderer

__all__ = [
    "AUTOMATIC",
    "CHECKPOINT_KEYWORD",
    "DEFAULT_CHECKPOINT_EVERY",
    "AuditSettings",
    "Checkpointer",
    "CheckpointingStorage",
    "read_statement",
    "statement_of",
    "subject_statement",
]

log = logging.getLogger("bdcert.audit")

#: Events after the latest checkpoint that make the next one due (``[audit] checkpoint_every``).
DEFAULT_CHECKPOINT_EVERY = 1000
#: The ``/Keywords`` of a checkpoint PDF and the ``type`` of its statement.
CHECKPOINT_KEYWORD = "bdcert-audit-checkpoint"
#: ``made_by`` of the checkpoints made because ``checkpoint_every`` events accumulated.
AUTOMATIC = "bdcert (automatic)"
#: The statement's fields, in the order the page prints them.
STATEMENT_FIELDS = (
    "number",
    "event_id",
    "event_hash",
    "made_at",
    "made_by",
    "authority_code",
    "prev_sha256",
)
#: Where the seal of a one-page statement (a checkpoint, a countersignature) stands: PDF points
#: from the lower-left corner, a 42 mm square.
SEAL_BOX = STATEMENT_SEAL_BOX


# -------------------------------------------------------------------------- settings


@attrs.define(frozen=True)
class AuditSettings:
    """The ``[audit]`` table of ``bdcert.toml``.

    :ivar authority: code of the authority whose seal signs checkpoints; None: the first
        configured authority.
    :ivar checkpoint_every: a checkpoint is made after a transaction that appended events once
        this many events follow the latest checkpoint; 0 turns automatic checkpoints off.
    """

    authority: str | None = None
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> AuditSettings:
        """Read ``authority`` (a string) and ``checkpoint_every`` (an integer ≥ 0).

        :raises ConfigurationError: for an unknown key or a value of the wrong type.
        """
        check_settings("audit", table, ("authority", "checkpoint_every"))
        authority = table.get("authority")
        every = table.get("checkpoint_every", DEFAULT_CHECKPOINT_EVERY)
        if authority is not None and not (isinstance(authority, str) and authority):
            raise ConfigurationError("[audit] authority must be an authority code such as 510100")
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ConfigurationError(
                f"[audit] checkpoint_every must be a whole number ≥ 0 (0: off), not {every!r}"
            )
        return cls(authority=authority, checkpoint_every=every)


# -------------------------------------------------------------------------- the checkpoint PDF


def statement_of(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """The statement a checkpoint's PDF carries, as JSON data (``made_at`` ISO 8601, +08:00)."""
    return {
        "type": CHECKPOINT_KEYWORD,
        "number": checkpoint.number,
        "event_id": checkpoint.event_id,
        "event_hash": checkpoint.event_hash,
        "made_at": checkpoint.made_at.astimezone(CHINA_TZ).isoformat(),
        "made_by": checkpoint.made_by,
        "authority_code": checkpoint.authority_code,
        "prev_sha256": checkpoint.prev_sha256,
    }


def subject_statement(pdf: bytes, keyword: str, what: str) -> dict[str, Any]:
    """The JSON object in a PDF's ``/Subject`` whose ``type`` is ``keyword`` (a one-page
    statement's; check the seal first: unsealed text proves nothing).

    :param what: the statement's name in the messages (``checkpoint``).
    :raises ValueError: if the PDF cannot be read or its ``/Subject`` is no such statement.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        info = PdfFileReader(io.BytesIO(pdf), strict=False).trailer["/Info"]
        statement = json.loads(str(info["/Subject"]))
    except Exception as exc:  # pyHanko raises many kinds on hostile input
        raise ValueError(f"no {what} statement in the PDF ({type(exc).__name__})") from exc
    if not isinstance(statement, dict) or statement.get("type") != keyword:
        raise ValueError(f"the PDF's /Subject is not a {what} statement")
    return statement


def read_statement(pdf: bytes) -> dict[str, Any]:
    """The statement in a checkpoint PDF's ``/Subject`` (check the seal first: unsealed text
    proves nothing).

    :raises ValueError: if the PDF cannot be read or states no checkpoint.
    """
    statement = subject_statement(pdf, CHECKPOINT_KEYWORD, "checkpoint")
    missing = [k for k in STATEMENT_FIELDS if k not in statement]
    if missing:
        raise ValueError(f"the checkpoint statement lacks {', '.join(missing)}")
    return statement


def _render(checkpoint: AuditCheckpoint, authority: Authority, renderer: Renderer) -> bytes:
    """The unsealed one-page A4 checkpoint PDF: the statement printed and in ``/Subject``."""
    # fpdf and fontTools (through bdcert.fonts) are heavy: imported when a checkpoint is made,
    # so that commands which only read the store start fast
    from bdcert.render.statement import statement_pdf

    made_at = checkpoint.made_at.astimezone(CHINA_TZ).isoformat()
    lines = [
        ("检查点编号 Checkpoint", str(checkpoint.number)),
        ("最后审计事件 Last event", str(checkpoint.event_id)),
        ("事件哈希 Event hash (SHA-256)", checkpoint.event_hash),
        ("时间 Time", made_at),
        ("申请人 Made by", checkpoint.made_by),
        ("登记机构 Authority", f"{authority.name} ({authority.code})"),
        ("前一检查点 Previous checkpoint PDF (SHA-256)", checkpoint.prev_sha256),
    ]
    title = "不动产登记电子证照审计日志检查点"
    note = (
        f"本检查点证明：截至上述时间，审计日志第1至第{checkpoint.event_id}条记录的哈希链以上述"
        f"哈希结束。This checkpoint attests that the audit log's hash chain, events 1.."
        f"{checkpoint.event_id}, ended with the hash above at the time stated (rule article 17)."
    )
    return statement_pdf(
        renderer.fonts,
        title,
        note,
        lines,
        replace_missing=True,  # a name no font draws: "?" printed there, /Subject keeps it
        pdf_title=f"审计日志检查点 #{checkpoint.number}",
        subject=json.dumps(statement_of(checkpoint), sort_keys=True, ensure_ascii=False),
        keywords=CHECKPOINT_KEYWORD,
        author=authority.name,
        created=checkpoint.made_at,
    )


# -------------------------------------------------------------------------- making and checking


class _NotDue(Exception):
    """Another process made the checkpoint meanwhile (rolls the counter back)."""


class Checkpointer:
    """Makes and verifies the signed checkpoints of one store's audit log (rule article 17).

    :param storage: the store itself (not a :class:`CheckpointingStorage` around it).
    :param authorities: the configured authorities by code, in configuration order.
    :param settings: ``[audit]``: the sealing authority (default: the first configured one) and
        ``checkpoint_every``.
    :param check: the seal check for a PDF against the workspace trust roots; returns an object
        with ``trusted`` (bool), ``code`` (a VerdictCode), ``detail`` and ``signer``.
    :param clock: the current aware time.
    :raises ConfigurationError: if ``settings.authority`` is not a configured authority.
    """

    def __init__(
        self,
        *,
        storage: Storage,
        seal_provider: SealProvider,
        renderer: Renderer,
        authorities: Mapping[str, Authority],
        settings: AuditSettings,
        check: Callable[[bytes], Any],
        clock: Callable[[], datetime],
    ) -> None:
        if settings.authority is not None and settings.authority not in authorities:
            raise ConfigurationError(
                f"[audit] authority {settings.authority!r} is not a configured authority "
                f"({', '.join(authorities) or 'none'})"
            )
        code = settings.authority or next(iter(authorities), None)
        self.storage = storage
        self.seal_provider = seal_provider
        self.renderer = renderer
        #: Whose seal signs checkpoints; None when no authority is configured.
        self.authority = authorities[code] if code is not None else None
        self.every = settings.checkpoint_every
        self.check = check
        self.clock = clock

    def make(self, made_by: str, *, automatic: bool = False) -> AuditCheckpoint | None:
        """Seal a checkpoint of the log as it is now and store it; log its making.

        One storage transaction: the checkpoint number is allocated first (its lock makes
        concurrent makers take turns), then the last event is read, the PDF rendered and sealed,
        the checkpoint stored and a ``checkpoint`` audit event appended (after the sealed event).

        :param made_by: the principal's name, recorded in the statement.
        :param automatic: made because ``checkpoint_every`` events accumulated; then None is
            returned when another process made one meanwhile.
        :returns: the stored checkpoint.
        :raises ConfigurationError: if no authority can sign.
        :raises StorageError: if the log is empty.
        :raises SealingError: if the seal provider fails (nothing is stored).
        """
        if self.authority is None:
            raise ConfigurationError("no authority is configured to seal audit checkpoints")
        authority = self.authority
        try:
            with self.storage.transaction() as tx:
                number = tx.next_audit_checkpoint_number()
                if automatic and tx.uncheckpointed_audit_events() < max(self.every, 1):
                    raise _NotDue
                head = tx.audit_head()
                if head is None:
                    raise StorageError("the audit log is empty: there is nothing to checkpoint")
                previous = tx.last_audit_checkpoint()
                now = self.clock()
                checkpoint = AuditCheckpoint(
                    number=number,
                    event_id=head[0],
                    event_hash=head[1],
                    made_at=now,
                    made_by=made_by,
                    authority_code=authority.code,
                    prev_sha256=previous.pdf_sha256 if previous else GENESIS_SHA256,
                    pdf=b"",
                )
                sealed = self.seal_provider.seal_pdf(
                    _render(checkpoint, authority, self.renderer),
                    statement_seal_request(
                        authority,
                        self.renderer.seal_picture(authority),
                        reason="不动产登记审计日志检查点",
                        field_name="bdcert-audit-checkpoint",
                        signing_time=now,
                    ),
                )
                checkpoint = attrs.evolve(checkpoint, pdf=sealed)
                tx.add_audit_checkpoint(checkpoint)
                tx.append_audit(
                    AuditEvent(
                        "checkpoint",
                        made_by,
                        f"audit checkpoint #{number}",
                        now,
                        {
                            "number": number,
                            "event_id": head[0],
                            "event_hash": head[1],
                            "authority": authority.code,
                            "pdf_sha256": checkpoint.pdf_sha256,
                            "automatic": automatic,
                        },
                    )
                )
        except _NotDue:
            return None
        return checkpoint

    def make_if_due(self, made_by: str) -> None:
        """:meth:`make` an automatic checkpoint; a failure is logged, never raised (the change
        that triggered it is committed; the next transaction tries again)."""
        try:
            made = self.make(made_by, automatic=True)
        except Exception:
            log.exception("could not make the automatic audit checkpoint (will retry later)")
            return
        if made is not None:
            log.info("audit checkpoint #%d sealed at event %d", made.number, made.event_id)

    def verify(self, external: Sequence[tuple[str, bytes]] = ()) -> list[str]:
        """Check every stored checkpoint, then each checkpoint PDF kept elsewhere.

        :param external: (name, PDF bytes) of checkpoint copies kept outside the database.
        :returns: one message per finding, naming the checkpoint; empty when all hold.
        """
        with self.storage.transaction() as tx:
            problems = self._stored(tx)
            for name, pdf in external:
                problems.extend(self._external(tx, name, pdf))
        return problems

    def _sealed_statement(self, label: str, pdf: bytes) -> tuple[dict[str, Any] | None, str]:
        seal = self.check(pdf)
        if not seal.trusted:
            return None, f"{label}: its seal fails ({seal.code.value}: {seal.detail})"
        try:
            return read_statement(pdf), ""
        except ValueError as exc:
            return None, f"{label}: {exc}"

    def _stored(self, tx: StorageTransaction) -> list[str]:
        problems: list[str] = []
        expected, prev_sha, last_good = 1, GENESIS_SHA256, 0
        rewritten_named = False
        kept = tx.audit_checkpoints()
        numbers = {cp.number for cp in kept}
        for cp in kept:
            label = f"audit checkpoint #{cp.number}"
            if cp.number > expected:
                first, last = expected, cp.number - 1
                what = f"#{first}" if first == last else f"#{first}..#{last}"
                problems.append(f"audit checkpoint {what} missing (deleted)")
                numbers.update(range(first, last + 1))
            follows = cp.number == expected
            expected, previous_sha, prev_sha = cp.number + 1, prev_sha, cp.pdf_sha256
            statement, problem = self._sealed_statement(label, cp.pdf)
            if statement is None:
                problems.append(problem)
                continue
            differ = [k for k, v in statement_of(cp).items() if statement.get(k) != v]
            if differ:
                problems.append(
                    f"{label}: the stored record differs from its sealed PDF in "
                    f"{', '.join(differ)} (edited)"
                )
            if follows and statement["prev_sha256"] != previous_sha:
                problems.append(
                    f"{label} does not follow checkpoint #{cp.number - 1}: the previous "
                    "checkpoint's PDF is not the one it was chained to (replaced)"
                )
            event_id = statement["event_id"]
            current = tx.audit_event_hash(int(event_id))
            if current is None:
                problems.append(
                    f"{label} seals event {event_id}, which is no longer in the log (deleted)"
                )
            elif current != statement["event_hash"]:
                since = f"after event {last_good}" if last_good else "from the start"
                problems.append(
                    f"{label}: the log's event {event_id} is not the sealed one (hash "
                    f"{current[:12]}…, sealed {str(statement['event_hash'])[:12]}…)"
                    + (
                        ""
                        if rewritten_named
                        else f": the log was rewritten {since} and at or before event {event_id}"
                    )
                )
                rewritten_named = True
            else:
                last_good = int(event_id)
        made = tx.audit_checkpoints_made()
        if made >= expected:
            what = f"#{expected}" if made == expected else f"#{expected}..#{made}"
            problems.append(f"audit checkpoint {what} missing (deleted from the end)")
            numbers.update(range(expected, made + 1))
        for event in tx.audit_events():
            if event.action != "checkpoint":
                continue
            number = event.details.get("number")
            if isinstance(number, int) and number not in numbers:
                numbers.add(number)
                problems.append(
                    f"the audit log records making checkpoint #{number}, which is not stored "
                    "(deleted)"
                )
        return problems

    def _external(self, tx: StorageTransaction, name: str, pdf: bytes) -> list[str]:
        statement, problem = self._sealed_statement(f"checkpoint file {name}", pdf)
        if statement is None:
            return [problem]
        number, event_id = statement["number"], int(statement["event_id"])
        label = f"checkpoint file {name} (#{number}, event {event_id})"
        problems = []
        current = tx.audit_event_hash(event_id)
        if current is None:
            problems.append(f"{label}: the log no longer holds event {event_id} (deleted)")
        elif current != statement["event_hash"]:
            problems.append(f"{label}: the log was rewritten at or before event {event_id}")
        stored = {cp.number: cp for cp in tx.audit_checkpoints()}.get(number)
        if stored is None:
            problems.append(f"{label}: the store no longer holds checkpoint #{number} (deleted)")
        elif stored.pdf_sha256 != hashlib.sha256(pdf).hexdigest():
            problems.append(f"{label}: the stored checkpoint #{number} is another PDF (replaced)")
        return problems


# -------------------------------------------------------------------------- automatic checkpoints


class _RecordingTransaction:
    """A transaction that remembers who appended to the audit log through it."""

    def __init__(self, tx: StorageTransaction) -> None:
        self._tx = tx
        self.actor: str | None = None

    def append_audit(self, event: AuditEvent) -> None:
        self._tx.append_audit(event)
        self.actor = event.actor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


class CheckpointingStorage:
    """A :class:`~bdcert.protocols.Storage` that, after committing a transaction that appended
    audit events, makes a checkpoint once ``every`` events follow the latest one.

    The count is read inside the transaction (no extra lock); the checkpoint is made after the
    commit, in a transaction of its own, and its failure is logged, never raised (the next
    transaction that appends tries again). Every other attribute is the wrapped store's.
    """

    def __init__(self, storage: Storage, checkpointer: Checkpointer) -> None:
        self.inner = storage
        self.checkpointer = checkpointer

    @contextmanager
    def transaction(self) -> Iterator[StorageTransaction]:
        """As the wrapped store's :meth:`~bdcert.protocols.Storage.transaction`."""
        every = self.checkpointer.every
        with self.inner.transaction() as tx:
            recording = _RecordingTransaction(tx)
            yield cast(StorageTransaction, recording)
            due = False
            if recording.actor is not None:
                try:
                    due = tx.uncheckpointed_audit_events() >= every
                except AttributeError:  # a store that keeps no checkpoints
                    log.warning("the %r store keeps no audit checkpoints", self.inner)
        if due:
            self.checkpointer.make_if_due(AUTOMATIC)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"CheckpointingStorage({self.inner!r}, every={self.checkpointer.every})"
