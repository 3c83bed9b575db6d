"""The change feed and a city's mirror (rule article 12): the part of
:class:`~bdcert_plugins.storage_sql.store.SqlTransaction` implementing
:class:`bdcert.lifecycle.feed.FeedRecords`.

The feed is a filtered view of the audit log (``audit_events``, ids in commit order): lifecycle
actions only, optionally of one authority (joined to ``certificates`` by the event's subject, the
certificate number), read with the index ``ix_audit_events_action_id``. A mirror keeps its
cursor per source in ``mirror_state`` (migration 0011).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from bdcert.errors import StorageError
from bdcert.model import AuditEvent, Certificate, IssueResult, Outcome
from bdcert.records import LoggedEvent
from bdcert_plugins.storage_sql.codec import canonical_json, converter
from bdcert_plugins.storage_sql.schema import (
    audit_events,
    certificates,
    mirror_state,
    registrations,
)

__all__ = ["MIRRORED_SOURCE", "FeedRows"]

#: ``registrations.source`` of an entry known only through the province's feed (its ``ywh``
#: follows): a mirror holds the certificates, never the registration-book entry.
MIRRORED_SOURCE = "mirrored"


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be an int of 1 or more, not {limit!r}")


class FeedRows:
    """Mixed into :class:`~bdcert_plugins.storage_sql.store.SqlTransaction`."""

    _conn: Connection
    _certificates: Callable[[ColumnElement[bool]], list[Certificate]]

    def logged_events(
        self,
        *,
        after: int,
        actions: Collection[str],
        authority_code: str | None = None,
        limit: int = 100,
    ) -> list[LoggedEvent]:
        _check_limit(limit)
        if not actions:
            return []
        joined = audit_events.outerjoin(
            certificates, certificates.c.number == audit_events.c.subject
        )
        criteria = [audit_events.c.id > int(after), audit_events.c.action.in_(sorted(actions))]
        if authority_code is not None:
            criteria.append(certificates.c.authority == authority_code)
        query = (
            select(audit_events, certificates.c.authority.label("certificate_authority"))
            .select_from(joined)
            .where(and_(*criteria))
            .order_by(audit_events.c.id)
            .limit(limit)
        )
        return [
            LoggedEvent(
                id=int(row.id),
                event=AuditEvent(
                    action=row.action,
                    actor=row.actor,
                    subject=row.subject,
                    at=row.at,
                    details=json.loads(row.details),
                ),
                authority_code=str(row.certificate_authority or ""),
            )
            for row in self._conn.execute(query)
        ]

    def certificates_of_authority(
        self, authority_code: str | None, *, after: str | None = None, limit: int = 100
    ) -> list[Certificate]:
        _check_limit(limit)
        query = select(certificates.c.number).order_by(certificates.c.number).limit(limit)
        if authority_code is not None:
            query = query.where(certificates.c.authority == authority_code)
        if after is not None:
            query = query.where(certificates.c.number > after)
        numbers = [str(n) for n in self._conn.execute(query).scalars()]
        if not numbers:
            return []
        found = self._certificates(certificates.c.number.in_(numbers))
        return sorted(found, key=lambda c: numbers.index(c.number))

    def add_mirrored_registration(
        self, business_number: str, authority_code: str, number: str, recorded_at: datetime
    ) -> None:
        row = self._conn.execute(
            select(registrations.c.outcome, registrations.c.source).where(
                registrations.c.ywh == business_number
            )
        ).one_or_none()
        if row is None:
            result = IssueResult(business_number, Outcome.ISSUED, numbers=(number,))
            source = canonical_json({"source": MIRRORED_SOURCE, "ywh": business_number})
            self._conn.execute(
                insert(registrations),
                {
                    "ywh": business_number,
                    "fingerprint": hashlib.sha256(source.encode("utf-8")).hexdigest(),
                    "source": source,
                    "outcome": canonical_json(converter.unstructure(result, IssueResult)),
                    "authority": authority_code,
                    "recorded_at": recorded_at,
                },
            )
            return
        result = converter.structure(json.loads(row.outcome), IssueResult)
        if number in result.numbers:
            return
        numbers = (*result.numbers, number)
        updated: dict[str, Any] = converter.unstructure(result, IssueResult)
        updated["numbers"] = list(numbers)
        self._conn.execute(
            update(registrations)
            .where(registrations.c.ywh == business_number)
            .values(outcome=canonical_json(updated))
        )

    def mirror_cursor(self, source: str) -> str | None:
        # the row is made first (empty cursor: none applied yet), so that even two followers'
        # first events take turns on its lock
        values = {"source": source, "cursor": "", "applied": 0, "updated_at": datetime.now(UTC)}
        insert_ = postgresql_insert if self._conn.dialect.name == "postgresql" else sqlite_insert
        self._conn.execute(insert_(mirror_state).values(values).on_conflict_do_nothing())
        found = self._conn.execute(
            select(mirror_state.c.cursor).where(mirror_state.c.source == source).with_for_update()
        ).scalar()
        return str(found) if found else None

    def set_mirror_cursor(self, source: str, cursor: str, at: datetime) -> None:
        done = self._conn.execute(
            update(mirror_state)
            .where(mirror_state.c.source == source)
            .values(cursor=cursor, applied=mirror_state.c.applied + 1, updated_at=at)
        )
        if done.rowcount:
            return
        try:
            self._conn.execute(
                insert(mirror_state),
                {"source": source, "cursor": cursor, "applied": 1, "updated_at": at},
            )
        except IntegrityError as exc:  # another follower of the source applied it first
            raise StorageError(f"the mirror of {source!r} moved on concurrently") from exc
