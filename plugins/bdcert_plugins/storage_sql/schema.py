"""Tables of the SQL store (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them.

Times are stored as instants (PostgreSQL ``timestamptz``; SQLite fixed-width UTC ISO 8601 text,
so that text order is time order) and read back in China time (+08:00). JSON columns hold text
written by :data:`bdcert_plugins.storage_sql.codec.converter`.

The ``sequences`` table holds the certificate number counters, one row per (authority, year,
kind), and one more row, :data:`AUDIT_COUNTER`, that numbers audit events: its row lock is what
makes appends to the hash chain take turns.

``undelivered_events`` is the notifiers' outbox: certificate events a notifier could not deliver,
kept until a re-delivery succeeds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from bdcert.model import CHINA_TZ

__all__ = [
    "AUDIT_COUNTER",
    "AwareDateTime",
    "audit_checkpoints",
    "audit_events",
    "backlog",
    "certificate_units",
    "certificates",
    "deposits",
    "download_codes",
    "download_failures",
    "download_guards",
    "metadata",
    "mirror_state",
    "ofd_documents",
    "paper_dispositions",
    "pdf_revisions",
    "pdfs",
    "registrations",
    "restrictions",
    "sequences",
    "sharing_agreements",
    "supersessions",
    "undelivered_events",
    "unit_restrictions",
    "witness_countersignatures",
]

#: The ``sequences`` key (authority, year, kind) of the audit event counter.
AUDIT_COUNTER = ("", 0, "audit_event")

#: Lengths of identifier columns (PostgreSQL enforces them; numbers hold CJK characters).
KEY = 200
HEX64 = 64


class AwareDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime: refuses naive values, returns China time (+08:00)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} (times must carry an offset)")
        utc = value.astimezone(UTC)
        return utc.isoformat(timespec="microseconds") if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(moment, datetime)
        return moment.astimezone(CHINA_TZ)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Processed registration entries (登簿记录): the entry as pushed and what processing did.
registrations = Table(
    "registrations",
    metadata,
    Column("ywh", String(KEY), primary_key=True),
    Column("fingerprint", String(HEX64), nullable=False),
    Column("source", Text, nullable=False),
    Column("outcome", Text, nullable=False),  # IssueResult (without certificates) as JSON
    Column("authority", String(12), nullable=False, index=True),
    Column("recorded_at", AwareDateTime(), nullable=False),
)


def _certificate_fk() -> ForeignKey:
    return ForeignKey("certificates.number", ondelete="CASCADE")


certificates = Table(
    "certificates",
    metadata,
    Column("number", String(KEY), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("licence_id", String(KEY), nullable=False, unique=True),
    # Checked at commit, so a transaction may file certificates before their registration.
    Column(
        "ywh",
        String(KEY),
        ForeignKey("registrations.ywh", deferrable=True, initially="DEFERRED"),
        nullable=False,
        index=True,
    ),
    Column("authority", String(12), nullable=False),
    Column("year", Integer, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("holders", Text, nullable=False),  # JSON list of Party
    Column("unit_numbers", Text, nullable=False),  # JSON list of str
    Column("face", Text, nullable=False),  # JSON list of FaceItem
    Column("token", String(KEY), nullable=False, unique=True),
    Column("verification_url", Text, nullable=False),
    Column("issued_at", AwareDateTime(), nullable=False),
    Column("pdf_sha256", String(HEX64), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("cancel_reason", Text, nullable=True),
    Column("status_ywh", String(KEY), nullable=True),  # the entry that set the status
)

#: The unit numbers (不动产单元号) on each certificate's face, for certificates_for_unit.
certificate_units = Table(
    "certificate_units",
    metadata,
    Column("number", String(KEY), _certificate_fk(), nullable=False),
    Column("position", Integer, nullable=False),
    Column("unit_number", String(64), nullable=False, index=True),
    PrimaryKeyConstraint("number", "position"),
)

pdfs = Table(
    "pdfs",
    metadata,
    Column("number", String(KEY), _certificate_fk(), primary_key=True),
    Column("pdf", LargeBinary, nullable=False),
)

#: The digests of a certificate's stored PDF after each replacement by a renewed revision (an
#: archive timestamp renewal, PAdES B-LTA): 1, 2, … in order. The filed original's digest stays
#: in ``certificates.pdf_sha256``; with these, every copy ever handed out is still found.
pdf_revisions = Table(
    "pdf_revisions",
    metadata,
    Column("number", String(KEY), _certificate_fk(), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("sha256", String(HEX64), nullable=False, index=True),
    Column("stored_at", AwareDateTime(), nullable=False),
    PrimaryKeyConstraint("number", "revision"),
)

#: The sealed OFD (GB/T 33190) of a certificate issued in OFD as well; found by its SHA-256.
ofd_documents = Table(
    "ofd_documents",
    metadata,
    Column("number", String(KEY), _certificate_fk(), primary_key=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("ofd", LargeBinary, nullable=False),
)

#: Old certificate -> its successors (article 10), in the order given.
supersessions = Table(
    "supersessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("old_number", String(KEY), _certificate_fk(), nullable=False, index=True),
    Column("new_number", String(KEY), nullable=False),
    Column("ywh", String(KEY), nullable=True),
    UniqueConstraint("old_number", "new_number"),
)


def _seizure_columns() -> list[Column[Any]]:
    """A seizure's columns (:class:`bdcert.model.Restriction`), shared by the two tables."""
    return [
        Column("ywh", String(KEY), nullable=False),
        Column("authority", Text, nullable=False),
        Column("document_number", Text, nullable=False),
        Column("type", Text, nullable=False),
        Column("start_date", Date, nullable=True),
        Column("end_date", Date, nullable=True),
        Column("recorded_at", AwareDateTime(), nullable=False),
    ]


#: Seizures (查封) recorded against certificates.
restrictions = Table(
    "restrictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(KEY), _certificate_fk(), nullable=False, index=True),
    *_seizure_columns(),
)

#: Seizures (查封) recorded against a unit (不动产单元), whether or not it has a certificate yet:
#: a property certificate issued for the unit later starts out restricted by those in force.
unit_restrictions = Table(
    "unit_restrictions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("unit", String(KEY), nullable=False, index=True),
    *_seizure_columns(),
)

#: Paper originals recovered (收回) or announced void (公告作废).
paper_dispositions = Table(
    "paper_dispositions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", String(KEY), nullable=False, index=True),
    Column("ywh", String(KEY), nullable=False, index=True),
    Column("disposition", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("recorded_at", AwareDateTime(), nullable=False),
)

#: Counters: last certificate sequence per (authority, year, kind), and the audit counter.
sequences = Table(
    "sequences",
    metadata,
    Column("authority", String(12), nullable=False),
    Column("year", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("last_value", Integer, nullable=False),
    PrimaryKeyConstraint("authority", "year", "kind"),
)

#: The hash-chained audit log (rule article 17); ids are gap-free, 1, 2, ….
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", AwareDateTime(), nullable=False),
    Column("actor", Text, nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", Text, nullable=False),
    Column("details", Text, nullable=False),  # JSON object
    Column("prev_hash", String(HEX64), nullable=False),
    Column("hash", String(HEX64), nullable=False),
    # the change feed reads lifecycle events after a cursor by action (0011)
    Index("ix_audit_events_action_id", "action", "id"),
)

#: The outbox: certificate events a notifier could not deliver, oldest first by id.
undelivered_events = Table(
    "undelivered_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("notifier", String(64), nullable=False, index=True),
    Column("number", String(KEY), nullable=False),  # the certificate, for people reading the table
    Column("event", Text, nullable=False),  # CertificateEvent as JSON
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("first_failed_at", AwareDateTime(), nullable=False),
)

#: Entries accepted while sealing was impossible (rule article 15), issued later in ``id`` order
#: per authority. ``entry`` is the pushed JSON object; ``numbers`` and ``problems`` are JSON.
backlog = Table(
    "backlog",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ywh", String(KEY), nullable=False, index=True),
    Column("authority", String(KEY), nullable=False),
    Column("entry", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("recorded_at", AwareDateTime(), nullable=False),
    Column("accepted_at", AwareDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("next_attempt_at", AwareDateTime(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("done_at", AwareDateTime(), nullable=True),
    Column("numbers", Text, nullable=False),
    Column("problems", Text, nullable=False),
    Index("ix_backlog_authority_state", "authority", "state", "id"),
    # one waiting item per business number, even when two pushes race on PostgreSQL
    Index(
        "uq_backlog_waiting_ywh",
        "ywh",
        unique=True,
        sqlite_where=text("state = 'waiting'"),
        postgresql_where=text("state = 'waiting'"),
    ),
)

#: Sharing agreements (rule article 16): who may receive which fields of which authorities'
#: certificates, when. ``authorities`` and ``fields`` are JSON lists. Revocation is recorded in
#: place (``revoked_at``, ``revoke_reason``, ``revoked_by``); rows are never deleted.
sharing_agreements = Table(
    "sharing_agreements",
    metadata,
    Column("id", String(KEY), primary_key=True),
    Column("party", String(KEY), nullable=False, index=True),
    Column("purpose", Text, nullable=False),
    Column("authorities", Text, nullable=False),
    Column("fields", Text, nullable=False),
    Column("valid_from", AwareDateTime(), nullable=False),
    Column("valid_to", AwareDateTime(), nullable=False),
    Column("signed_on", Date, nullable=False),
    Column("created_at", AwareDateTime(), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("revoked_at", AwareDateTime(), nullable=True),
    Column("revoke_reason", Text, nullable=True),
    Column("revoked_by", Text, nullable=True),
)

#: Holders' self-download state per identity (rule article 13): ``identity`` is the SHA-256 of
#: the canonical ID number (never the number itself); the row's lock makes attempts take turns.
download_guards = Table(
    "download_guards",
    metadata,
    Column("identity", String(HEX64), primary_key=True),
    Column("locked_until", AwareDateTime(), nullable=True),
    # lockouts since the last success or clerk's unlock; held: until a clerk unlocks (0007)
    Column("lockouts", Integer, nullable=False, server_default="0"),
    Column("held", Boolean, nullable=False, server_default=false()),
)

#: Second factors the pushing authority recorded for self-download (rule article 13; 0007):
#: per registration and identity (SHA-256 of the ID number), a salted scrypt hash of the code.
download_codes = Table(
    "download_codes",
    metadata,
    Column("ywh", String(KEY), nullable=False),
    Column("identity", String(HEX64), nullable=False),
    Column("code_hash", Text, nullable=False),
    Column("recorded_at", AwareDateTime(), nullable=False),
    Column("recorded_by", Text, nullable=False),
    PrimaryKeyConstraint("ywh", "identity", name="pk_download_codes"),
)

#: Failed self-download attempts per identity since its last success or lockout.
download_failures = Table(
    "download_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "identity",
        String(HEX64),
        ForeignKey("download_guards.identity", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("at", AwareDateTime(), nullable=False),
)

#: Signed checkpoints of the audit log (rule article 17), numbered 1, 2, … without gaps; each
#: seals the id and hash of the last audit event when it was made (see :mod:`bdcert.audit`).
audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("event_id", Integer, nullable=False),
    Column("event_hash", String(HEX64), nullable=False),
    Column("made_at", AwareDateTime(), nullable=False),
    Column("made_by", Text, nullable=False),
    Column("authority", String(12), nullable=False),
    Column("prev_sha256", String(HEX64), nullable=False),
    Column("pdf_sha256", String(HEX64), nullable=False),
    Column("pdf", LargeBinary, nullable=False),
)


#: Certificates a city with its own system sealed and deposited (归集, rule article 7 paragraph
#: 2; 0009): which certificates of the library came in this way, when and from whom.
deposits = Table(
    "deposits",
    metadata,
    Column("number", String(KEY), _certificate_fk(), primary_key=True),
    Column("authority", String(12), nullable=False, index=True),
    Column("deposited_at", AwareDateTime(), nullable=False),
    Column("deposited_by", Text, nullable=False),
)

#: Countersignatures of audit checkpoints by witnesses (a city's mirror; 0010): the witness's
#: sealed statement that it saw checkpoint ``number`` with ``event_hash`` at ``event_id``.
witness_countersignatures = Table(
    "witness_countersignatures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("number", Integer, nullable=False, index=True),
    Column("witness", String(12), nullable=False),
    Column("event_id", Integer, nullable=False),
    Column("event_hash", String(HEX64), nullable=False),
    Column("checkpoint_sha256", String(HEX64), nullable=False),
    Column("received_at", AwareDateTime(), nullable=False),
    Column("pdf_sha256", String(HEX64), nullable=False),
    Column("pdf", LargeBinary, nullable=False),
    UniqueConstraint("number", "witness", "pdf_sha256"),
)

#: A city's mirror (rule article 12; 0011): per feed source (the province's URL and authority),
#: the cursor of the last event applied, written in the transaction that applies it.
mirror_state = Table(
    "mirror_state",
    metadata,
    Column("source", String(KEY), primary_key=True),
    Column("cursor", Text, nullable=False),
    Column("applied", Integer, nullable=False),
    Column("updated_at", AwareDateTime(), nullable=False),
)
