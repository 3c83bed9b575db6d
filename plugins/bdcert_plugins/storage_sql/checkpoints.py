"""Signed audit-log checkpoints (rule article 17): the part of :class:`~bdcert_plugins.storage_sql.store.SqlTransaction` that reads and
writes them, and the records the chain diagnosis (:func:`bdcert.audit.diagnose_chain`) reads.

Checkpoint numbers come from one more counter row in ``sequences``,
:data:`AUDIT_CHECKPOINT_COUNTER`: its lock makes concurrent makers take turns, and its value says
how many checkpoints were made, so a deleted newest checkpoint is noticed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Row, and_, func, insert, select
from sqlalchemy.exc import IntegrityError

from bdcert.audit import ChainLink
from bdcert.errors import StorageError
from bdcert.protocols import AuditCheckpoint
from bdcert.wire import loads
from bdcert_plugins.storage_sql.codec import audit_hash, audit_payload
from bdcert_plugins.storage_sql.schema import (
    AUDIT_COUNTER,
    audit_checkpoints,
    audit_events,
    sequences,
)

__all__ = ["AUDIT_CHECKPOINT_COUNTER", "CheckpointRows"]

#: The ``sequences`` key (authority, year, kind) of the checkpoint counter.
AUDIT_CHECKPOINT_COUNTER = ("", 0, "audit_checkpoint")


class CheckpointRows:
    """Mixed into :class:`~bdcert_plugins.storage_sql.store.SqlTransaction`."""

    _conn: Connection
    _bump: Callable[[str, int, str], int]

    def audit_head(self) -> tuple[int, str] | None:
        row = self._conn.execute(
            select(audit_events.c.id, audit_events.c.hash)
            .order_by(audit_events.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else (int(row.id), str(row.hash))

    def audit_event_hash(self, event_id: int) -> str | None:
        found = self._conn.execute(
            select(audit_events.c.hash).where(audit_events.c.id == int(event_id))
        ).scalar()
        return None if found is None else str(found)

    def uncheckpointed_audit_events(self) -> int:
        head = self._conn.execute(select(func.max(audit_events.c.id))).scalar()
        sealed = self._conn.execute(
            select(audit_checkpoints.c.event_id)
            .order_by(audit_checkpoints.c.number.desc())
            .limit(1)
        ).scalar()
        return max(0, int(head or 0) - int(sealed or 0))

    def next_audit_checkpoint_number(self) -> int:
        return self._bump(*AUDIT_CHECKPOINT_COUNTER)

    def add_audit_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        if checkpoint.made_at.utcoffset() is None:
            raise StorageError(f"checkpoint time {checkpoint.made_at.isoformat()} has no offset")
        try:
            self._conn.execute(
                insert(audit_checkpoints),
                {
                    "number": checkpoint.number,
                    "event_id": checkpoint.event_id,
                    "event_hash": checkpoint.event_hash,
                    "made_at": checkpoint.made_at,
                    "made_by": checkpoint.made_by,
                    "authority": checkpoint.authority_code,
                    "prev_sha256": checkpoint.prev_sha256,
                    "pdf_sha256": checkpoint.pdf_sha256,
                    "pdf": checkpoint.pdf,
                },
            )
        except IntegrityError as exc:
            raise StorageError(f"audit checkpoint #{checkpoint.number} is already stored") from exc

    def last_audit_checkpoint(self) -> AuditCheckpoint | None:
        row = self._conn.execute(
            select(audit_checkpoints).order_by(audit_checkpoints.c.number.desc()).limit(1)
        ).first()
        return None if row is None else _checkpoint(row)

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        query = select(audit_checkpoints).order_by(audit_checkpoints.c.number)
        return [_checkpoint(row) for row in self._conn.execute(query)]

    def audit_checkpoints_made(self) -> int:
        return _counter(self._conn, AUDIT_CHECKPOINT_COUNTER) or 0

    # -- for verify_audit_chain --------------------------------------------------------------

    def _audit_links(self) -> list[ChainLink]:
        """Every audit record in id order, with its hash recomputed from its content."""
        links = []
        for row in self._conn.execute(select(audit_events).order_by(audit_events.c.id)):
            try:
                details = loads(row.details)  # a repeated key is an edit, not last-wins
            except ValueError:
                content_hash = None
            else:
                payload = audit_payload(row.action, row.actor, row.subject, row.at, details)
                content_hash = audit_hash(row.prev_hash, payload)
            links.append(ChainLink(int(row.id), row.prev_hash, row.hash, content_hash))
        return links

    def _audit_appended(self) -> int | None:
        """The audit counter: how many events were appended (None before the first)."""
        return _counter(self._conn, AUDIT_COUNTER)


def _counter(conn: Connection, key: tuple[str, int, str]) -> int | None:
    value = conn.execute(
        select(sequences.c.last_value).where(
            and_(
                sequences.c.authority == key[0],
                sequences.c.year == key[1],
                sequences.c.kind == key[2],
            )
        )
    ).scalar()
    return None if value is None else int(value)


def _checkpoint(row: Row[Any]) -> AuditCheckpoint:
    return AuditCheckpoint(
        number=row.number,
        event_id=row.event_id,
        event_hash=row.event_hash,
        made_at=row.made_at,
        made_by=row.made_by,
        authority_code=row.authority,
        prev_sha256=row.prev_sha256,
        pdf=bytes(row.pdf),
    )
