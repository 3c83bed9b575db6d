"""SQL storage for SQLite and PostgreSQL: SQLAlchemy Core, schema kept by Alembic migrations.

:class:`SqlStorage` implements :class:`bdcert.protocols.Storage`; each
:meth:`~SqlStorage.transaction` is one database transaction (:class:`SqlTransaction`).

Concurrency. Certificate sequences and the audit chain must never skip or repeat, whatever
number of processes share the database:

* SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (the write lock is taken up front,
  so two writers never interleave), with a 10-minute busy timeout (SQLite's lock is not fair), WAL journal and foreign keys on.
* PostgreSQL (``postgresql+psycopg://``): a counter row is created with
  ``INSERT … ON CONFLICT DO NOTHING``, then locked with ``SELECT … FOR UPDATE`` until the
  transaction ends, then updated. Take certificate counters before appending to the audit log
  (the audit chain has a counter row too) so that two transactions never wait on each other.

The rest of the code is the same for both; the dialect-specific parts are the few lines of
:func:`make_engine`, :func:`_insert_ignore` and the migration lock in :meth:`SqlStorage._migrate`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    ColumnElement,
    Connection,
    Engine,
    Row,
    Table,
    and_,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.sql.dml import Insert

from bdcert.audit import diagnose_chain
from bdcert.config import check_settings
from bdcert.errors import ConfigurationError, MissingDependency, NotFound, StorageError
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Certificate,
    CertificateEvent,
    CertificateKind,
    CertificateStatus,
    FaceItem,
    IssueResult,
    Party,
    RegistrationEntry,
    Restriction,
)
from bdcert.protocols import (
    PaperDisposition,
    StorageTransaction,
    StoredRegistration,
    UndeliveredEvent,
)
from bdcert_plugins.storage_sql.backlog import BacklogRows
from bdcert_plugins.storage_sql.checkpoints import CheckpointRows
from bdcert_plugins.storage_sql.codec import (
    GENESIS_HASH,
    audit_hash,
    audit_payload,
    canonical_json,
    converter,
)
from bdcert_plugins.storage_sql.collection import CollectionRows
from bdcert_plugins.storage_sql.feed import FeedRows
from bdcert_plugins.storage_sql.schema import (
    AUDIT_COUNTER,
    audit_events,
    certificate_units,
    certificates,
    ofd_documents,
    paper_dispositions,
    pdf_revisions,
    pdfs,
    registrations,
    restrictions,
    sequences,
    supersessions,
    undelivered_events,
    unit_restrictions,
)
from bdcert_plugins.storage_sql.sharing import SharingRows

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "DEFAULT_URL",
    "ENV_URL",
    "SqlStorage",
    "SqlTransaction",
    "alembic_config",
    "make_engine",
    "resolve_url",
]

#: Used when the workspace's ``[storage]`` table has no ``url``; relative to the workspace.
DEFAULT_URL = "sqlite:///bdcert.sqlite3"
#: Environment variable that overrides ``[storage] url``.
ENV_URL = "BDCERT_DATABASE_URL"
#: Keys the ``[storage]`` table may hold (``plugin`` is the core's choice of back-end).
SETTINGS = frozenset({"url", "plugin"})
#: How long a SQLite transaction waits for another process's write lock, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 600_000  # SQLite's lock is not fair: a writer may wait out a whole batch
#: PostgreSQL advisory lock key held while migrating ("bdcert" in ASCII).
MIGRATION_LOCK_KEY = 0x626463657274
MIGRATIONS = Path(__file__).resolve().with_name("migrations")
#: The newest migration in ``migrations/versions`` (a test holds it to Alembic's head): a
#: database already at it is opened without loading Alembic, which costs a tenth of a second.
HEAD_REVISION = "0011"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def _parse_url(url: str | URL) -> URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            "storage url is not a database URL (expected e.g. sqlite:///bdcert.sqlite3 or "
            "postgresql+psycopg://user@host/db)"
        ) from None


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def resolve_url(url: str, workspace: Path) -> str:
    """``url`` with a relative SQLite file path made relative to ``workspace``.

    :raises ConfigurationError: if ``url`` is not a database URL.
    """
    parsed = _parse_url(url)
    database = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")
        and not Path(database).is_absolute()
    ):
        return parsed.set(database=str(Path(workspace) / database)).render_as_string(
            hide_password=False
        )
    return url


def make_engine(url: str | URL, connect_args: Mapping[str, Any] | None = None) -> Engine:
    """An engine for SQLite or PostgreSQL, set up for the store's locking (see module docs).

    :raises ConfigurationError: for a URL of another database.
    :raises MissingDependency: if the URL's driver is not installed.
    """
    parsed = _parse_url(url)
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigurationError(
            f"the sql storage supports {' and '.join(SUPPORTED_BACKENDS)}, not {backend!r}"
        )
    try:
        engine = create_engine(parsed, connect_args=dict(connect_args or {}))
    except ModuleNotFoundError as exc:
        raise MissingDependency(
            f"{_safe(parsed)} needs the database driver {exc.name!r}; for PostgreSQL install "
            "psycopg: pip install 'psycopg[binary]'"
        ) from exc
    except ArgumentError as exc:  # e.g. an unknown driver name after the "+"
        raise ConfigurationError(f"cannot use {_safe(parsed)}: {exc}") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # sqlite3 must not BEGIN on its own; we do
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _insert_ignore(conn: Connection, table: Table, values: Mapping[str, Any]) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` in the connection's dialect."""
    make = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return make(table).values(dict(values)).on_conflict_do_nothing()


def current_revision(conn: Connection) -> str | None:
    """The migration the database's schema is at (Alembic's ``alembic_version`` table), or
    None for a database without one (new, or not a bdcert store)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return None if version is None else str(version)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the migrations shipped in this package (no ``.ini``).

    :param url: the database to migrate when no connection is handed over in
        ``config.attributes["connection"]`` (as :class:`SqlStorage` does).
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _reason(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's statement dump."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


class SqlStorage:
    """The store in a SQLite or PostgreSQL database; migrates the schema to the newest on open.

    :param url: SQLAlchemy URL, e.g. ``sqlite:////abs/path/bdcert.sqlite3`` or
        ``postgresql+psycopg://bdcert@db.example/bdcert``.
    :param connect_args: passed to the driver's ``connect()``, e.g.
        ``{"options": "-csearch_path=bdcert"}`` for psycopg.
    :raises StorageError: if the database cannot be reached or migrated (the message names the
        URL without its password).
    :raises ConfigurationError: for a URL of an unsupported database.
    """

    def __init__(self, url: str, *, connect_args: Mapping[str, Any] | None = None) -> None:
        self._url = _parse_url(url)
        self._engine = make_engine(self._url, connect_args)
        try:
            self._migrate()
        except BaseException:
            self._engine.dispose()
            raise

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], workspace: Path) -> SqlStorage:
        """The storage a workspace's ``[storage]`` table asks for.

        ``url`` (default :data:`DEFAULT_URL`) is overridden by the environment variable
        ``BDCERT_DATABASE_URL``; a relative SQLite path is relative to ``workspace``.

        :raises ConfigurationError: for an unknown key or a value that is not a database URL.
        """
        check_settings("storage", settings, SETTINGS)
        from_env = os.environ.get(ENV_URL)
        url = from_env or settings.get("url", DEFAULT_URL)
        where = ENV_URL if from_env else "[storage] url"
        if not isinstance(url, str) or not url.strip():
            raise ConfigurationError(f"{where} must be a database URL string")
        try:
            resolved = resolve_url(url.strip(), workspace)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{where}: {exc}") from None
        return cls(resolved)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return _safe(self._url)

    def __repr__(self) -> str:
        return f"SqlStorage({self.url!r})"

    def _migrate(self) -> None:
        try:
            with self._engine.begin() as conn:
                if conn.dialect.name == "postgresql":  # concurrent openers take turns
                    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
                if current_revision(conn) == HEAD_REVISION:  # nothing to do: Alembic not loaded
                    return
                from alembic import command

                config = alembic_config()
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StorageError(f"cannot open database {self.url}: {self._reason(exc)}") from exc

    @contextmanager
    def transaction(self) -> Iterator[StorageTransaction]:
        """One database transaction: commits on normal exit, rolls back on an exception.

        :raises StorageError: if the database fails (connection lost, lock wait timed out,
            a constraint checked at commit).
        """
        try:
            with self._engine.begin() as conn:
                yield SqlTransaction(conn)
        except SQLAlchemyError as exc:
            raise StorageError(f"{self.url}: {self._reason(exc)}") from exc

    def _reason(self, exc: BaseException) -> str:
        reason = _reason(exc)
        password = self._url.password
        return reason.replace(str(password), "***") if password else reason

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> SqlStorage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SqlTransaction(BacklogRows, SharingRows, CheckpointRows, CollectionRows, FeedRows):
    """:class:`bdcert.protocols.StorageTransaction` on one SQLAlchemy connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- registrations -----------------------------------------------------------------------

    def get_registration(self, business_number: str) -> StoredRegistration | None:
        row = self._conn.execute(
            select(registrations).where(registrations.c.ywh == business_number)
        ).one_or_none()
        if row is None:
            return None
        return StoredRegistration(
            business_number=row.ywh,
            fingerprint=row.fingerprint,
            result=converter.structure(json.loads(row.outcome), IssueResult),
            recorded_at=row.recorded_at,
        )

    def add_registration(self, entry: RegistrationEntry, result: IssueResult) -> None:
        ywh = entry.business_number
        if result.business_number != ywh:
            raise StorageError(f"the result of {result.business_number!r} is not for entry {ywh!r}")
        duplicate = f"registration {ywh!r} is already stored"
        if self._exists(registrations, registrations.c.ywh == ywh):
            raise StorageError(duplicate)
        self._insert(
            registrations,
            {
                "ywh": ywh,
                "fingerprint": entry.fingerprint,
                "source": entry.source,
                "outcome": canonical_json(converter.unstructure(result, IssueResult)),
                "authority": entry.authority_code,
                "recorded_at": entry.recorded_at,
            },
            duplicate=duplicate,
        )

    # -- sequences ---------------------------------------------------------------------------

    def next_sequence(self, authority_code: str, year: int, kind: CertificateKind) -> int:
        return self._bump(authority_code, int(year), CertificateKind(kind).value)

    def _bump(self, authority: str, year: int, kind: str) -> int:
        """Add one to a counter row (created at 0), holding its lock until the transaction ends."""
        key = {"authority": authority, "year": year, "kind": kind}
        self._conn.execute(_insert_ignore(self._conn, sequences, {**key, "last_value": 0}))
        where = and_(
            sequences.c.authority == authority, sequences.c.year == year, sequences.c.kind == kind
        )
        current = self._conn.execute(
            select(sequences.c.last_value).where(where).with_for_update()
        ).scalar_one()
        value = int(current) + 1
        self._conn.execute(update(sequences).where(where).values(last_value=value))
        return value

    # -- certificates ------------------------------------------------------------------------

    def add_certificate(self, certificate: Certificate, pdf: bytes) -> None:
        """File ``certificate`` and ``pdf``; an empty ``pdf_sha256`` is filled in from ``pdf``.

        A given ``pdf_sha256`` is stored as it is (the lifecycle computes it from the sealed PDF).
        """
        number = certificate.number
        digest = certificate.pdf_sha256 or hashlib.sha256(pdf).hexdigest()
        duplicate = f"certificate {number!r} is already filed"
        if self._exists(certificates, certificates.c.number == number):
            raise StorageError(duplicate)
        self._insert(
            certificates,
            {
                "number": number,
                "kind": CertificateKind(certificate.kind).value,
                "licence_id": certificate.licence_id,
                "ywh": certificate.business_number,
                "authority": certificate.authority_code,
                "year": certificate.year,
                "sequence": certificate.sequence,
                "holders": _dump(certificate.holders, tuple[Party, ...]),
                "unit_numbers": _dump(certificate.unit_numbers, tuple[str, ...]),
                "face": _dump(certificate.face, tuple[FaceItem, ...]),
                "token": certificate.token,
                "verification_url": certificate.verification_url,
                "issued_at": certificate.issued_at,
                "pdf_sha256": digest,
                "status": CertificateStatus(certificate.status).value,
                "cancel_reason": certificate.cancel_reason,
                "status_ywh": None,
            },
            duplicate=f"{duplicate} (or its licence id or token is already used)",
        )
        if certificate.unit_numbers:
            self._conn.execute(
                insert(certificate_units),
                [
                    {"number": number, "position": i, "unit_number": unit}
                    for i, unit in enumerate(certificate.unit_numbers)
                ],
            )
        self._conn.execute(insert(pdfs), {"number": number, "pdf": pdf})
        for successor in certificate.superseded_by:
            self._add_successor(number, successor, None)
        for restriction in certificate.restrictions:
            self._add_restriction(number, restriction)

    def get_certificate(self, number: str) -> Certificate:
        found = self._certificates(certificates.c.number == number)
        if not found:
            raise NotFound(f"no certificate {number!r}")
        return found[0]

    def find_certificate_by_token(self, token: str) -> Certificate | None:
        found = self._certificates(certificates.c.token == token)
        return found[0] if found else None

    def find_certificate_by_digest(self, sha256_hex: str) -> Certificate | None:
        digest = sha256_hex.strip().lower()
        found = self._certificates(certificates.c.pdf_sha256 == digest)
        if not found:
            renewed = select(pdf_revisions.c.number).where(pdf_revisions.c.sha256 == digest)
            found = self._certificates(certificates.c.number.in_(renewed))
        if not found:
            of_ofd = select(ofd_documents.c.number).where(ofd_documents.c.sha256 == digest)
            found = self._certificates(certificates.c.number.in_(of_ofd))
        return found[0] if found else None

    def add_ofd(self, number: str, ofd: bytes) -> None:
        self.get_certificate(number)  # NotFound for an unknown number
        digest = hashlib.sha256(ofd).hexdigest()
        self._insert(
            ofd_documents,
            {"number": number, "sha256": digest, "ofd": ofd},
            duplicate=f"certificate {number} already has an OFD document",
        )

    def get_ofd(self, number: str) -> bytes:
        query = select(ofd_documents.c.ofd).where(ofd_documents.c.number == number)
        data = self._conn.execute(query).scalar()
        if data is None:
            raise NotFound(f"no OFD document of certificate {number!r}")
        return bytes(data)

    def get_pdf(self, number: str) -> bytes:
        data = self._conn.execute(select(pdfs.c.pdf).where(pdfs.c.number == number)).scalar()
        if data is None:
            raise NotFound(f"no certificate {number!r}")
        return bytes(data)

    def certificate_numbers(self, *, after: str | None = None, limit: int = 100) -> list[str]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an int of 1 or more, not {limit!r}")
        query = select(certificates.c.number).order_by(certificates.c.number).limit(limit)
        if after is not None:
            query = query.where(certificates.c.number > after)
        return [str(n) for n in self._conn.execute(query).scalars()]

    def replace_pdf(self, number: str, pdf: bytes, at: datetime) -> None:
        pdf = bytes(pdf)
        current = self.get_pdf(number)  # NotFound for an unknown number
        if len(pdf) <= len(current) or not pdf.startswith(current):
            raise StorageError(
                f"the PDF of certificate {number!r} is replaced only by one that extends it"
                " (an incremental update appending to the stored PDF)"
            )
        last = self._conn.execute(
            select(pdf_revisions.c.revision)
            .where(pdf_revisions.c.number == number)
            .order_by(pdf_revisions.c.revision.desc())
            .limit(1)
        ).scalar()
        self._insert(
            pdf_revisions,
            {
                "number": number,
                "revision": int(last or 0) + 1,
                "sha256": hashlib.sha256(pdf).hexdigest(),
                "stored_at": at,
            },
            duplicate=f"certificate {number!r} was renewed concurrently",
        )
        self._conn.execute(update(pdfs).where(pdfs.c.number == number).values(pdf=pdf))

    def certificates_for_unit(
        self, unit_number: str, *, kind: CertificateKind | None = None, valid_only: bool = True
    ) -> list[Certificate]:
        on_unit = select(certificate_units.c.number).where(
            certificate_units.c.unit_number == unit_number
        )
        criteria: list[ColumnElement[bool]] = [certificates.c.number.in_(on_unit)]
        if kind is not None:
            criteria.append(certificates.c.kind == CertificateKind(kind).value)
        if valid_only:
            criteria.append(certificates.c.status == CertificateStatus.VALID.value)
        return self._certificates(and_(*criteria))

    def set_superseded(self, number: str, successors: Sequence[str], business_number: str) -> None:
        self._set_status(number, CertificateStatus.SUPERSEDED, business_number)
        for successor in successors:
            self._add_successor(number, successor, business_number)

    def set_cancelled(self, number: str, reason: str, business_number: str) -> None:
        self._set_status(number, CertificateStatus.CANCELLED, business_number, cancel_reason=reason)

    def add_restriction(self, number: str, restriction: Restriction) -> None:
        if not self._exists(certificates, certificates.c.number == number):
            raise NotFound(f"no certificate {number!r}")
        self._add_restriction(number, restriction)

    def _set_status(
        self, number: str, status: CertificateStatus, business_number: str, **values: Any
    ) -> None:
        done = self._conn.execute(
            update(certificates)
            .where(certificates.c.number == number)
            .values(status=status.value, status_ywh=business_number, **values)
        )
        if done.rowcount == 0:
            raise NotFound(f"no certificate {number!r}")

    def _add_successor(self, number: str, successor: str, business_number: str | None) -> None:
        self._conn.execute(
            _insert_ignore(
                self._conn,
                supersessions,
                {"old_number": number, "new_number": successor, "ywh": business_number},
            )
        )

    def add_unit_restriction(self, unit: str, restriction: Restriction) -> None:
        self._conn.execute(
            insert(unit_restrictions), {"unit": unit, **_restriction_row(restriction)}
        )

    def unit_restrictions(self, unit: str) -> list[Restriction]:
        query = (
            select(unit_restrictions)
            .where(unit_restrictions.c.unit == unit)
            .order_by(unit_restrictions.c.id)
        )
        return [_restriction(r) for r in self._conn.execute(query)]

    def _add_restriction(self, number: str, restriction: Restriction) -> None:
        self._conn.execute(
            insert(restrictions), {"number": number, **_restriction_row(restriction)}
        )

    def _certificates(self, where: ColumnElement[bool]) -> list[Certificate]:
        """Certificates matching ``where``, oldest first, with their side tables (3 queries)."""
        rows = self._conn.execute(
            select(certificates)
            .where(where)
            .order_by(certificates.c.issued_at, certificates.c.number)
        ).all()
        if not rows:
            return []
        numbers = [row.number for row in rows]
        successors: dict[str, list[str]] = {}
        for old, new in self._conn.execute(
            select(supersessions.c.old_number, supersessions.c.new_number)
            .where(supersessions.c.old_number.in_(numbers))
            .order_by(supersessions.c.id)
        ):
            successors.setdefault(old, []).append(new)
        seizures: dict[str, list[Restriction]] = {}
        for r in self._conn.execute(
            select(restrictions)
            .where(restrictions.c.number.in_(numbers))
            .order_by(restrictions.c.id)
        ):
            seizures.setdefault(r.number, []).append(_restriction(r))
        return [
            _certificate(row, successors.get(row.number, ()), seizures.get(row.number, ()))
            for row in rows
        ]

    # -- paper originals ---------------------------------------------------------------------

    def add_paper_disposition(self, disposition: PaperDisposition) -> None:
        self._conn.execute(
            insert(paper_dispositions),
            {
                "number": disposition.number,
                "ywh": disposition.business_number,
                "disposition": disposition.disposition,
                "text": disposition.text,
                "recorded_at": disposition.recorded_at,
            },
        )

    def paper_dispositions(self, business_number: str | None = None) -> list[PaperDisposition]:
        query = select(paper_dispositions).order_by(
            paper_dispositions.c.recorded_at, paper_dispositions.c.id
        )
        if business_number is not None:
            query = query.where(paper_dispositions.c.ywh == business_number)
        return [
            PaperDisposition(
                number=row.number,
                business_number=row.ywh,
                disposition=row.disposition,
                recorded_at=row.recorded_at,
                text=row.text,
            )
            for row in self._conn.execute(query)
        ]

    # -- audit log ---------------------------------------------------------------------------

    def append_audit(self, event: AuditEvent) -> None:
        """Append ``event``; its id is the next of 1, 2, … and its hash chains to the previous.

        ``details`` are stored as JSON (through the converter: tuples become lists, dates ISO
        strings); ``at`` is read back in China time.
        """
        if not _aware(event.at):
            raise StorageError(f"audit event time {event.at.isoformat()} has no UTC offset")
        event_id = self._bump(*AUDIT_COUNTER)  # the lock that makes appenders take turns
        prev_hash = GENESIS_HASH
        if event_id > 1:
            found = self._conn.execute(
                select(audit_events.c.hash).where(audit_events.c.id == event_id - 1)
            ).scalar()
            if found is None:
                raise StorageError(f"the audit log is damaged: event {event_id - 1} is missing")
            prev_hash = str(found)
        details = json.loads(canonical_json(converter.unstructure(dict(event.details))))
        payload = audit_payload(event.action, event.actor, event.subject, event.at, details)
        self._conn.execute(
            insert(audit_events),
            {
                "id": event_id,
                "at": event.at,
                "actor": event.actor,
                "action": event.action,
                "subject": event.subject,
                "details": canonical_json(details),
                "prev_hash": prev_hash,
                "hash": audit_hash(prev_hash, payload),
            },
        )

    def audit_events(self) -> list[AuditEvent]:
        return [
            AuditEvent(
                action=row.action,
                actor=row.actor,
                subject=row.subject,
                at=row.at,
                details=json.loads(row.details),
            )
            for row in self._conn.execute(select(audit_events).order_by(audit_events.c.id))
        ]

    def verify_audit_chain(self) -> list[str]:
        """Messages naming every edited, deleted, inserted or reordered audit record; empty when
        the log is intact (:func:`bdcert.audit.diagnose_chain`, with the audit counter for
        records deleted from or inserted at the end)."""
        return diagnose_chain(self._audit_links(), self._audit_appended())

    # -- outbox of undelivered events --------------------------------------------------------

    def add_undelivered(
        self, notifier: str, event: CertificateEvent, error: str, *, attempts: int = 1
    ) -> int:
        """Keep ``event`` for ``notifier`` with ``attempts``; ``first_failed_at`` is now.

        The event is stored as JSON through the converter (``details`` come back as JSON data).
        """
        if not _aware(event.at):
            raise StorageError(f"event time {event.at.isoformat()} has no UTC offset")
        try:
            text = _dump(event, CertificateEvent)
        except (TypeError, ValueError) as exc:
            raise StorageError(
                f"event details of {event.number!r} are not JSON data: {exc}"
            ) from exc
        result = self._conn.execute(
            insert(undelivered_events).returning(undelivered_events.c.id),
            {
                "notifier": notifier,
                "number": event.number,
                "event": text,
                "attempts": attempts,
                "last_error": error,
                "first_failed_at": datetime.now(CHINA_TZ),
            },
        )
        return int(result.scalar_one())

    def undelivered(self, notifier: str | None = None, limit: int = 100) -> list[UndeliveredEvent]:
        query = select(undelivered_events).order_by(
            undelivered_events.c.first_failed_at, undelivered_events.c.id
        )
        if notifier is not None:
            query = query.where(undelivered_events.c.notifier == notifier)
        return [
            UndeliveredEvent(
                id=row.id,
                notifier=row.notifier,
                event=_load(row.event, CertificateEvent),
                attempts=row.attempts,
                last_error=row.last_error,
                first_failed_at=row.first_failed_at,
            )
            for row in self._conn.execute(query.limit(max(0, int(limit))))
        ]

    def mark_delivered(self, event_id: int) -> None:
        deleted = self._conn.execute(
            delete(undelivered_events).where(undelivered_events.c.id == event_id)
        )
        if deleted.rowcount == 0:
            raise NotFound(f"no undelivered event {event_id}")

    def record_delivery_failure(self, event_id: int, error: str) -> None:
        changed = self._conn.execute(
            update(undelivered_events)
            .where(undelivered_events.c.id == event_id)
            .values(attempts=undelivered_events.c.attempts + 1, last_error=error)
        )
        if changed.rowcount == 0:
            raise NotFound(f"no undelivered event {event_id}")

    # -- helpers -----------------------------------------------------------------------------

    def _exists(self, table: Table, where: ColumnElement[bool]) -> bool:
        query = select(1).select_from(table).where(where).limit(1)
        return self._conn.execute(query).first() is not None

    def _insert(self, table: Table, values: Mapping[str, Any], *, duplicate: str) -> None:
        try:
            self._conn.execute(insert(table), dict(values))
        except IntegrityError as exc:
            raise StorageError(f"{duplicate}: {_reason(exc)}") from exc


def _restriction_row(restriction: Restriction) -> dict[str, Any]:
    return {
        "ywh": restriction.business_number,
        "authority": restriction.authority,
        "document_number": restriction.document_number,
        "type": restriction.type,
        "start_date": restriction.start,
        "end_date": restriction.end,
        "recorded_at": restriction.recorded_at,
    }


def _restriction(row: Row[Any]) -> Restriction:
    return Restriction(
        business_number=row.ywh,
        authority=row.authority,
        document_number=row.document_number,
        type=row.type,
        start=row.start_date,
        end=row.end_date,
        recorded_at=row.recorded_at,
    )


def _dump(value: Any, as_type: Any) -> str:
    return canonical_json(converter.unstructure(value, as_type))


def _load(text: str, as_type: Any) -> Any:
    return converter.structure(json.loads(text), as_type)


def _certificate(
    row: Row[Any], superseded_by: Sequence[str], restricted: Sequence[Restriction]
) -> Certificate:
    return Certificate(
        number=row.number,
        kind=CertificateKind(row.kind),
        licence_id=row.licence_id,
        business_number=row.ywh,
        authority_code=row.authority,
        year=row.year,
        sequence=row.sequence,
        holders=_load(row.holders, tuple[Party, ...]),
        unit_numbers=_load(row.unit_numbers, tuple[str, ...]),
        face=_load(row.face, tuple[FaceItem, ...]),
        token=row.token,
        verification_url=row.verification_url,
        issued_at=row.issued_at,
        pdf_sha256=row.pdf_sha256,
        status=CertificateStatus(row.status),
        superseded_by=tuple(superseded_by),
        cancel_reason=row.cancel_reason,
        restrictions=tuple(restricted),
    )


def _aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None
