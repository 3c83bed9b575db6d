"""Deposits (归集) and witness countersignatures: the part of
:class:`~bdcert_plugins.storage_sql.store.SqlTransaction` implementing
:class:`bdcert.lifecycle.collection.CollectionRecords` and
:class:`bdcert.audit.witness.WitnessRecords`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from bdcert.audit.witness import Countersignature
from bdcert.errors import NotFound, StorageError
from bdcert.model import CertificateKind
from bdcert_plugins.storage_sql.schema import (
    certificates,
    deposits,
    restrictions,
    sequences,
    witness_countersignatures,
)

__all__ = ["CollectionRows"]


class CollectionRows:
    """Mixed into :class:`~bdcert_plugins.storage_sql.store.SqlTransaction`."""

    _conn: Connection
    _bump: Callable[[str, int, str], int]

    def add_deposit(self, number: str, authority_code: str, at: datetime, actor: str) -> None:
        found = self._conn.execute(
            select(certificates.c.number).where(certificates.c.number == number)
        ).first()
        if found is None:
            raise NotFound(f"no certificate {number!r}")
        try:
            self._conn.execute(
                insert(deposits),
                {
                    "number": number,
                    "authority": authority_code,
                    "deposited_at": at,
                    "deposited_by": actor,
                },
            )
        except IntegrityError as exc:
            raise StorageError(f"certificate {number!r} is already marked deposited") from exc

    def deposited(self, number: str) -> bool:
        query = select(deposits.c.number).where(deposits.c.number == number)
        return self._conn.execute(query).first() is not None

    def reserve_sequence(
        self, authority_code: str, year: int, kind: CertificateKind, at_least: int
    ) -> None:
        key = (authority_code, int(year), CertificateKind(kind).value)
        current = self._bump(*key) - 1  # creates and locks the row; undone below
        where = and_(
            sequences.c.authority == key[0],
            sequences.c.year == key[1],
            sequences.c.kind == key[2],
        )
        self._conn.execute(
            update(sequences).where(where).values(last_value=max(current, int(at_least)))
        )

    def lift_restriction(self, number: str, business_number: str, last_day: date) -> int:
        where = and_(
            restrictions.c.number == number,
            restrictions.c.ywh == business_number,
            or_(restrictions.c.end_date.is_(None), restrictions.c.end_date > last_day),
        )
        done = self._conn.execute(update(restrictions).where(where).values(end_date=last_day))
        return int(done.rowcount or 0)

    def add_countersignature(self, countersignature: Countersignature) -> bool:
        c = countersignature
        if c.received_at.utcoffset() is None:
            raise StorageError(f"countersignature time {c.received_at.isoformat()} has no offset")
        same = and_(
            witness_countersignatures.c.number == c.number,
            witness_countersignatures.c.witness == c.witness,
            witness_countersignatures.c.pdf_sha256 == c.pdf_sha256,
        )
        if self._conn.execute(select(witness_countersignatures.c.id).where(same)).first():
            return False
        self._conn.execute(
            insert(witness_countersignatures),
            {
                "number": c.number,
                "witness": c.witness,
                "event_id": c.event_id,
                "event_hash": c.event_hash,
                "checkpoint_sha256": c.checkpoint_sha256,
                "received_at": c.received_at,
                "pdf_sha256": c.pdf_sha256,
                "pdf": c.pdf,
            },
        )
        return True

    def countersignatures(self) -> list[Countersignature]:
        t = witness_countersignatures
        rows = self._conn.execute(select(t).order_by(t.c.number, t.c.witness, t.c.id)).all()
        return [
            Countersignature(
                number=int(r.number),
                witness=str(r.witness),
                event_id=int(r.event_id),
                event_hash=str(r.event_hash),
                checkpoint_sha256=str(r.checkpoint_sha256),
                received_at=r.received_at,
                pdf=bytes(r.pdf),
            )
            for r in rows
        ]
