"""Sharing agreements and holders' download attempts (rule articles 13, 16): the part of
:class:`~bdcert_plugins.storage_sql.store.SqlTransaction` that reads and writes them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from bdcert.errors import NotFound, StorageError
from bdcert.model import Certificate
from bdcert.records import DownloadGuard, SharingAgreement
from bdcert_plugins.storage_sql.schema import (
    certificates,
    download_codes,
    download_failures,
    download_guards,
    sharing_agreements,
)


class SharingRows:
    """Mixed into :class:`~bdcert_plugins.storage_sql.store.SqlTransaction`."""

    _conn: Connection
    _certificates: Callable[[ColumnElement[bool]], list[Certificate]]

    # -- holders ------------------------------------------------------------------------------

    def certificates_for_holder(self, id_number: str) -> list[Certificate]:
        """Certificates whose holders' JSON mentions the number (any case), then checked
        exactly. A scan of the ``holders`` column: fine for a province's register served by
        one query per download; an index table would be the next step at national scale."""
        wanted = id_number.strip().upper()
        if not wanted:
            return []
        found = self._certificates(
            func.upper(certificates.c.holders).contains(wanted, autoescape=True)
        )
        return [c for c in found if any(p.id_number.strip().upper() == wanted for p in c.holders)]

    def download_guard(self, identity: str) -> DownloadGuard:
        make = postgresql_insert if self._conn.dialect.name == "postgresql" else sqlite_insert
        self._conn.execute(
            make(download_guards)
            .values(identity=identity, locked_until=None)
            .on_conflict_do_nothing()
        )
        row = self._conn.execute(
            select(
                download_guards.c.locked_until,
                download_guards.c.lockouts,
                download_guards.c.held,
            )
            .where(download_guards.c.identity == identity)
            .with_for_update()
        ).one()
        failures = self._conn.execute(
            select(download_failures.c.at)
            .where(download_failures.c.identity == identity)
            .order_by(download_failures.c.at, download_failures.c.id)
        ).scalars()
        return DownloadGuard(
            identity, tuple(failures), row.locked_until, int(row.lockouts), bool(row.held)
        )

    def save_download_code(
        self, business_number: str, identity: str, code_hash: str, at: datetime, by: str
    ) -> None:
        self._conn.execute(
            delete(download_codes).where(
                download_codes.c.ywh == business_number, download_codes.c.identity == identity
            )
        )
        self._conn.execute(
            insert(download_codes).values(
                ywh=business_number,
                identity=identity,
                code_hash=code_hash,
                recorded_at=at,
                recorded_by=by,
            )
        )

    def download_codes(self, identity: str) -> dict[str, str]:
        rows = self._conn.execute(
            select(download_codes.c.ywh, download_codes.c.code_hash).where(
                download_codes.c.identity == identity
            )
        )
        return {row.ywh: row.code_hash for row in rows}

    def save_download_guard(self, guard: DownloadGuard) -> None:
        self.download_guard(guard.identity)  # the row exists and is locked
        self._conn.execute(
            update(download_guards)
            .where(download_guards.c.identity == guard.identity)
            .values(locked_until=guard.locked_until, lockouts=guard.lockouts, held=guard.held)
        )
        self._conn.execute(
            delete(download_failures).where(download_failures.c.identity == guard.identity)
        )
        if guard.failures:
            self._conn.execute(
                insert(download_failures),
                [{"identity": guard.identity, "at": at} for at in guard.failures],
            )

    # -- sharing agreements ---------------------------------------------------------------------

    def add_agreement(self, agreement: SharingAgreement) -> None:
        try:
            self._conn.execute(
                insert(sharing_agreements),
                {
                    "id": agreement.id,
                    "party": agreement.party,
                    "purpose": agreement.purpose,
                    "authorities": json.dumps(list(agreement.authorities), ensure_ascii=False),
                    "fields": json.dumps(list(agreement.fields), ensure_ascii=False),
                    "valid_from": agreement.valid_from,
                    "valid_to": agreement.valid_to,
                    "signed_on": agreement.signed_on,
                    "created_at": agreement.created_at,
                    "created_by": agreement.created_by,
                    "revoked_at": agreement.revoked_at,
                    "revoke_reason": agreement.revoke_reason,
                    "revoked_by": agreement.revoked_by,
                },
            )
        except IntegrityError as exc:
            raise StorageError(f"agreement {agreement.id!r} is already stored") from exc

    def get_agreement(self, agreement_id: str) -> SharingAgreement:
        row = self._conn.execute(
            select(sharing_agreements).where(sharing_agreements.c.id == agreement_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no sharing agreement {agreement_id!r}")
        return _agreement(row)

    def agreements(self, party: str | None = None) -> list[SharingAgreement]:
        query = select(sharing_agreements).order_by(
            sharing_agreements.c.signed_on, sharing_agreements.c.id
        )
        if party is not None:
            query = query.where(sharing_agreements.c.party == party)
        return [_agreement(row) for row in self._conn.execute(query)]

    def revoke_agreement(
        self, agreement_id: str, *, at: datetime, reason: str, by: str
    ) -> SharingAgreement:
        if at.tzinfo is None or at.utcoffset() is None:
            raise StorageError(f"revocation time {at.isoformat()} has no UTC offset")
        current = self.get_agreement(agreement_id)  # NotFound
        if current.revoked_at is not None:
            raise StorageError(f"agreement {agreement_id!r} is already revoked")
        self._conn.execute(
            update(sharing_agreements)
            .where(sharing_agreements.c.id == agreement_id)
            .values(revoked_at=at, revoke_reason=reason, revoked_by=by)
        )
        return self.get_agreement(agreement_id)


def _agreement(row: Row[Any]) -> SharingAgreement:
    return SharingAgreement(
        id=row.id,
        party=row.party,
        purpose=row.purpose,
        authorities=tuple(json.loads(row.authorities)),
        fields=tuple(json.loads(row.fields)),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        signed_on=row.signed_on,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        revoke_reason=row.revoke_reason,
        revoked_by=row.revoked_by,
    )
