"""Force-majeure backlog rows (rule article 15): the part of
:class:`~bdcert_plugins.storage_sql.store.SqlTransaction` that reads and writes them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from bdcert.errors import NotFound, Problem, StorageError
from bdcert.protocols import BacklogItem
from bdcert_plugins.storage_sql.codec import canonical_json, converter
from bdcert_plugins.storage_sql.schema import backlog


class BacklogRows:
    """Mixed into :class:`~bdcert_plugins.storage_sql.store.SqlTransaction`."""

    _conn: Connection

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
        for name, value in (
            ("recorded_at", recorded_at),
            ("accepted_at", accepted_at),
            ("next_attempt_at", next_attempt_at),
        ):
            if value.utcoffset() is None:
                raise StorageError(f"backlog {name} {value.isoformat()} has no UTC offset")
        try:
            text = canonical_json(entry)
        except (TypeError, ValueError) as exc:
            raise StorageError(f"entry {business_number!r} is not JSON data: {exc}") from exc
        values = {
            "ywh": business_number,
            "authority": authority_code,
            "entry": text,
            "fingerprint": fingerprint,
            "recorded_at": recorded_at,
            "accepted_at": accepted_at,
            "reason": reason,
            "attempts": 0,
            "last_error": "",
            "next_attempt_at": next_attempt_at,
            "state": "waiting",
            "numbers": "[]",
            "problems": "[]",
        }
        try:
            item_id = self._conn.execute(
                insert(backlog).returning(backlog.c.id), values
            ).scalar_one()
        except IntegrityError as exc:
            raise StorageError(
                f"entry {business_number!r} is already waiting in the backlog (pushed twice at "
                "the same time?); push it again to see its state"
            ) from exc
        row = self._conn.execute(select(backlog).where(backlog.c.id == item_id)).one()
        return _item(row)

    def get_backlog(self, business_number: str) -> BacklogItem | None:
        row = self._conn.execute(
            select(backlog)
            .where(backlog.c.ywh == business_number)
            .order_by(backlog.c.id.desc())
            .limit(1)
        ).one_or_none()
        return _item(row) if row is not None else None

    def backlog(
        self,
        *,
        authority_code: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[BacklogItem]:
        query = select(backlog).order_by(backlog.c.id)
        if limit is not None:
            query = query.limit(max(0, int(limit)))
        if authority_code is not None:
            query = query.where(backlog.c.authority == authority_code)
        if state is not None:
            query = query.where(backlog.c.state == state)
        return [_item(row) for row in self._conn.execute(query)]

    def waiting_authorities(self) -> list[str]:
        query = (
            select(backlog.c.authority)
            .where(backlog.c.state == "waiting")
            .distinct()
            .order_by(backlog.c.authority)
        )
        return list(self._conn.execute(query).scalars())

    def next_waiting(self, authority_code: str) -> BacklogItem | None:
        query = (
            select(backlog)
            .where(backlog.c.authority == authority_code, backlog.c.state == "waiting")
            .order_by(backlog.c.id)
            .limit(1)
            .with_for_update()  # PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises
        )
        row = self._conn.execute(query).one_or_none()
        return _item(row) if row is not None else None

    def record_backlog_failure(self, item_id: int, error: str, next_attempt_at: datetime) -> None:
        changed = self._conn.execute(
            update(backlog)
            .where(backlog.c.id == item_id)
            .values(
                attempts=backlog.c.attempts + 1,
                last_error=error,
                next_attempt_at=next_attempt_at,
            )
        )
        if changed.rowcount == 0:
            raise NotFound(f"no backlog item {item_id}")

    def finish_backlog(
        self,
        item_id: int,
        *,
        state: str,
        done_at: datetime,
        numbers: Sequence[str] = (),
        problems: Sequence[Problem] = (),
    ) -> None:
        if state not in ("issued", "rejected"):
            raise StorageError(f"a backlog item ends issued or rejected, not {state!r}")
        current = self._conn.execute(
            select(backlog.c.state).where(backlog.c.id == item_id)
        ).scalar_one_or_none()
        if current is None:
            raise NotFound(f"no backlog item {item_id}")
        if current != "waiting":
            raise StorageError(f"backlog item {item_id} is already {current}")
        self._conn.execute(
            update(backlog)
            .where(backlog.c.id == item_id)
            .values(
                state=state,
                done_at=done_at,
                numbers=canonical_json(list(numbers)),
                problems=canonical_json(converter.unstructure(list(problems))),
            )
        )


def _item(row: Row[Any]) -> BacklogItem:
    return BacklogItem(
        id=row.id,
        business_number=row.ywh,
        authority_code=row.authority,
        entry=json.loads(row.entry),
        fingerprint=row.fingerprint,
        recorded_at=row.recorded_at,
        accepted_at=row.accepted_at,
        reason=row.reason,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        state=row.state,
        done_at=row.done_at,
        numbers=tuple(json.loads(row.numbers)),
        problems=tuple(converter.structure(p, Problem) for p in json.loads(row.problems)),
    )
