"""Tamper evidence for the audit log (rule article 17): signed checkpoints and the chain diagnosis.

The store keeps every lifecycle event and access in a hash chain (each record holds
``sha256(prev_hash || canonical JSON of the event)``: :func:`audit_hash`, here in the SDK so
every store computes the same). A chain alone
proves nothing against someone who can write to the database: they can rewrite every record from
some point on and recompute the hashes. So every ``checkpoint_every`` events, and on demand, bdcert
makes a **checkpoint**: a one-page PDF that states

* its number (1, 2, … without gaps) and the SHA-256 of the previous checkpoint's PDF,
* the id and hash of the last audit event at that moment,
* the time (China time, +08:00), who asked for it, and the sealing authority,

sealed with the authority's e-seal through the configured seal provider (``seal_pdf``, so
software, PKCS#11, remote and SM2 seals all work). The statement is printed on the page and, as
canonical JSON, in the PDF's ``/Subject``; ``pdfsig`` and ``pdfinfo`` check and read it without
bdcert. The checkpoint is stored with its PDF, and its creation is itself an audit event.

:func:`diagnose_chain` names each edited, deleted, inserted or reordered record;
:meth:`Checkpointer.verify` checks every checkpoint's seal (against the workspace trust roots),
that its stored row says what its sealed PDF says, that the checkpoints follow each other, and
that the log's event at each sealed id still has the sealed hash.

What stays undetectable: an attacker who holds the seal key as well as the database can make new
checkpoints for a rewritten log. Without the key, an attacker can still (1) append forged events
after the last checkpoint and raise the audit counter to match, or rewrite the events after it
(the newest alone included) with recomputed hashes, and (2) delete the newest
checkpoints together with everything logged after the newest one left, resetting both counters
— unless a copy of a checkpoint is kept outside the database (``bdcert audit checkpoint --out``;
``bdcert audit verify --checkpoint FILE`` checks the log against it).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import attrs

from bdcert.config import check_settings
from bdcert.errors import ConfigurationError, MissingGlyph, StorageError
from bdcert.model import CHINA_TZ, AuditEvent, Authority
from bdcert.protocols import (
    AuditCheckpoint,
    SealProvider,
    SealRequest,
    Storage,
    StorageTransaction,
)
from bdcert.wire import canonical_json, converter

if TYPE_CHECKING:
    from bdcert.render import Renderer

__all__ = [
    "AUTOMATIC",
    "CHECKPOINT_KEYWORD",
    "DEFAULT_CHECKPOINT_EVERY",
    "GENESIS_SHA256",
    "AuditSettings",
    "ChainLink",
    "Checkpointer",
    "CheckpointingStorage",
    "audit_hash",
    "audit_payload",
    "diagnose_chain",
    "read_statement",
    "statement_of",
]

log = logging.getLogger("bdcert.audit")

#: Events after the latest checkpoint that make the next one due (``[audit] checkpoint_every``).
DEFAULT_CHECKPOINT_EVERY = 1000
#: ``prev_hash`` of the first audit event and ``prev_sha256`` of the first checkpoint.
GENESIS_SHA256 = "0" * 64
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
_SEAL_BOX = (380.0, 90.0, 499.0, 209.0)  # PDF points from the lower-left corner: a 42 mm square


# -------------------------------------------------------------------------- the hash formula


def audit_payload(
    action: str, actor: str, subject: str, at: datetime, details: Mapping[str, Any]
) -> dict[str, Any]:
    """The unstructured form of an audit event as stored: ``at`` in China time (+08:00).

    ``details`` must already be JSON data (as read back from the store), so that the hash
    computed on append is the hash recomputed on verification.
    """
    event = AuditEvent(
        action=action, actor=actor, subject=subject, at=at.astimezone(CHINA_TZ), details=details
    )
    return converter.unstructure(event)  # type: ignore[no-any-return]


def audit_hash(prev_hash: str, payload: Mapping[str, Any]) -> str:
    """``sha256(prev_hash || canonical JSON of the event)``, lower-case hex (rule article 17).

    ``prev_hash`` is the previous event's hash, :data:`GENESIS_SHA256` for the first; the payload
    is :func:`audit_payload`. Every store must compute exactly this, byte for byte.
    """
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()


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


# -------------------------------------------------------------------------- chain diagnosis


@attrs.define(frozen=True)
class ChainLink:
    """One stored audit record as the chain diagnosis sees it.

    :ivar id: its stored id (1, 2, … when intact).
    :ivar prev_hash: the stored hash of the record it is chained to (hex SHA-256).
    :ivar hash: its stored hash.
    :ivar content_hash: the hash recomputed from its stored content and ``prev_hash``; None when
        the content cannot be read (e.g. details that are not JSON).
    """

    id: int
    prev_hash: str
    hash: str
    content_hash: str | None


def _ids(first: int, last: int) -> str:
    return f"audit event {first} is" if first == last else f"audit events {first}..{last} are"


def _chain_order(links: Sequence[ChainLink]) -> list[ChainLink] | None:
    """The records in the order their hashes chain them, when they form one unforked chain from
    the start that takes in every record; else None."""
    following: dict[str, list[ChainLink]] = {}
    for link in links:
        following.setdefault(link.prev_hash, []).append(link)
    if any(len(group) > 1 for group in following.values()):
        return None
    order: list[ChainLink] = []
    current = GENESIS_SHA256
    while current in following and len(order) <= len(links):
        link = following[current][0]
        order.append(link)
        current = link.hash
    return order if len(order) == len(links) else None


def diagnose_chain(links: Sequence[ChainLink], appended: int | None) -> list[str]:
    """Messages naming every edited, deleted, inserted or reordered audit record (rule article 17).

    :param links: every stored record, in id order.
    :param appended: how many events the store's audit counter says were appended (None: no
        counter); finds records deleted from, or inserted at, the end.
    :returns: one sentence per finding, naming the record(s); empty when the chain is intact.

    Edited: the content does not match its hash. Reordered: every record is genuine and chained,
    but stored in another order (each misplaced record is named with its place in the chain).
    Deleted: ids skip, or a record's predecessor in the chain is nowhere in the log. Inserted: a
    record sits between another and the record it is chained to, or the log holds more records
    than were appended. A record rewritten together with its hash shows as a break after it.
    """
    problems: list[str] = []
    for link in links:
        if link.content_hash is None:
            problems.append(f"audit event {link.id}: edited: its content cannot be read")
        elif link.content_hash != link.hash:
            problems.append(f"audit event {link.id}: edited: its content does not match its hash")
    order = _chain_order(links)
    if order is not None and order != list(links):
        for place, link in enumerate(order, 1):
            if links[place - 1] is not link:
                problems.append(
                    f"audit event {link.id} is out of order: its hash chain puts it at place "
                    f"{place} (after event {order[place - 2].id if place > 1 else 'none'})"
                )
    else:
        problems.extend(_broken_links(links))
    count, last_id = len(links), links[-1].id if links else 0
    if appended is not None:
        if appended > last_id:
            problems.append(f"{_ids(last_id + 1, appended)} missing (deleted from the end)")
        if count > appended:
            problems.append(
                f"the log holds {count} events but the audit counter says {appended} were "
                f"appended: {count - appended} inserted"
            )
    return problems


def _broken_links(links: Sequence[ChainLink]) -> list[str]:
    """Walk the records in id order and explain each record not chained to the one before."""
    where: dict[str, int] = {}
    for index, link in enumerate(links):
        where.setdefault(link.hash, index)
    inserted: set[int] = set()
    found: list[tuple[int, str]] = []
    for i, link in enumerate(links):
        before = links[i - 1] if i else None
        expected_id = before.id + 1 if before else 1
        if link.id < expected_id:
            found.append((i, f"audit event {link.id}: ids start at 1 (inserted)"))
            continue
        if link.id > expected_id:
            found.append((i, f"{_ids(expected_id, link.id - 1)} missing (deleted)"))
        if link.prev_hash == (before.hash if before else GENESIS_SHA256) or link.id > expected_id:
            continue
        j = -1 if link.prev_hash == GENESIS_SHA256 else where.get(link.prev_hash)
        if j is None:
            target = f"event {before.id}" if before else "the start of the log"
            found.append(
                (
                    i,
                    f"audit event {link.id} is not chained to {target}: the event it was chained "
                    "to is gone (the one before it was rewritten with a new hash, or an event "
                    "between them was deleted and the ids renumbered)",
                )
            )
        elif j < i - 1:
            between = [links[k].id for k in range(j + 1, i)]
            inserted.update(range(j + 1, i))
            to = f"event {links[j].id}" if j >= 0 else "the start of the log"
            found.append(
                (
                    i,
                    f"{_ids(between[0], between[-1])} inserted: event {link.id} is chained "
                    f"directly to {to}",
                )
            )
        else:
            found.append(
                (
                    i,
                    f"audit event {link.id} is out of order: it is chained after event "
                    f"{links[j].id}, which is stored after it",
                )
            )
    # an inserted record's own link to the record before it explains nothing more
    return [message for i, message in found if i not in inserted]


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


def read_statement(pdf: bytes) -> dict[str, Any]:
    """The statement in a checkpoint PDF's ``/Subject`` (check the seal first: unsealed text
    proves nothing).

    :raises ValueError: if the PDF cannot be read or states no checkpoint.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        info = PdfFileReader(io.BytesIO(pdf), strict=False).trailer["/Info"]
        statement = json.loads(str(info["/Subject"]))
    except Exception as exc:  # pyHanko raises many kinds on hostile input
        raise ValueError(f"no checkpoint statement in the PDF ({type(exc).__name__})") from exc
    if not isinstance(statement, dict) or statement.get("type") != CHECKPOINT_KEYWORD:
        raise ValueError("the PDF's /Subject is not a checkpoint statement")
    missing = [k for k in STATEMENT_FIELDS if k not in statement]
    if missing:
        raise ValueError(f"the checkpoint statement lacks {', '.join(missing)}")
    return statement


def _render(checkpoint: AuditCheckpoint, authority: Authority, renderer: Renderer) -> bytes:
    """The unsealed one-page A4 checkpoint PDF: the statement printed and in ``/Subject``."""
    # fpdf and fontTools (through bdcert.fonts) are heavy: imported when a checkpoint is made,
    # so that commands which only read the store start fast
    from fpdf import FPDF

    from bdcert.fonts import FontChain, glyph_source

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
    chain = FontChain(renderer.fonts)
    text = title + note + "".join(label + value for label, value in lines)
    try:
        assignment = chain.assign(text)
    except MissingGlyph as exc:  # a name no font draws: print "?" there, /Subject keeps it
        lines = [
            (label, "".join("?" if c in exc.characters else c for c in value))
            for label, value in lines
        ]
        assignment = chain.assign(title + note + "".join(a + b for a, b in lines) + "?")
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    with tempfile.TemporaryDirectory(prefix="bdcert-audit-") as tmp:
        fallbacks = []
        for position, codepoints in sorted(assignment.items()):
            path = Path(tmp) / f"f{position}.ttf"
            path.write_bytes(glyph_source(renderer.fonts.chain[position]).subset_font(codepoints))
            key = "cp" if position == 0 else f"cpfallback{position}"
            pdf.add_font(key, "", str(path))
            if position:
                fallbacks.append(key)
        pdf.set_fallback_fonts(fallbacks)
        pdf.add_page()
        pdf.set_font("cp", size=18)
        pdf.cell(0, 14, title, new_x="LMARGIN", new_y="NEXT", align="C")
        pdf.set_font("cp", size=10)
        pdf.multi_cell(0, 6, note, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        for label, value in lines:
            pdf.set_font("cp", size=9)
            pdf.cell(0, 5, label, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("cp", size=11)
            pdf.multi_cell(0, 6, value, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        pdf.set_title(f"审计日志检查点 #{checkpoint.number}")
        pdf.set_subject(json.dumps(statement_of(checkpoint), sort_keys=True, ensure_ascii=False))
        pdf.set_keywords(CHECKPOINT_KEYWORD)
        pdf.set_author(authority.name)
        pdf.set_creator("bdcert")
        pdf.set_lang("zh-CN")
        pdf.set_creation_date(checkpoint.made_at)
        return bytes(pdf.output())


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
                    SealRequest(
                        authority=authority,
                        page=0,
                        box=_SEAL_BOX,
                        appearance_png=self.renderer.seal_picture(authority),
                        reason="不动产登记审计日志检查点",
                        location=authority.place_name,
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
