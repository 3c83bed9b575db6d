"""The SQL storage plugin against SQLite and PostgreSQL.

PostgreSQL tests run in a fresh schema on ``BDCERT_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); they are skipped when the server is not
reachable, except under CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import secrets
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import OperationalError

import bdcert_plugins.storage_sql as storage_sql
from bdcert.errors import ConfigurationError, NotFound, Problem, StorageError
from bdcert.model import (
    CHINA_TZ,
    Areas,
    AuditEvent,
    Certificate,
    CertificateEvent,
    CertificateKind,
    CertificateStatus,
    FaceItem,
    IssuedCertificate,
    IssueResult,
    Outcome,
    Party,
    RegistrationEntry,
    Restriction,
    Term,
)
from bdcert.plugins import Hooks, make_plugin_manager
from bdcert.protocols import PaperDisposition, Storage, StorageTransaction, StoredRegistration
from bdcert.records import DownloadGuard
from bdcert_plugins.storage_sql.codec import canonical_json
from bdcert_plugins.storage_sql.schema import metadata
from bdcert_plugins.storage_sql.store import ENV_URL, SqlStorage, alembic_config, make_engine
from tests.support import PG_URL, skip_or_fail

AUTHORITY = "510100"
UNIT_A = "510104001001GB00001F00010001"
UNIT_B = "510104001001GB00001F00010002"
T0 = datetime(2024, 3, 1, 10, 30, 15, 123456, tzinfo=CHINA_TZ)
PROPERTY = CertificateKind.PROPERTY_CERTIFICATE
PROOF = CertificateKind.REGISTRATION_PROOF


# -- fixtures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """Where a test's store lives: a URL and the driver's connect arguments."""

    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)

    def open(self) -> SqlStorage:
        return SqlStorage(self.url, connect_args=self.connect_args)

    def engine(self) -> Engine:
        """A separate engine, for raw SQL behind the store's back."""
        return make_engine(self.url, self.connect_args)


def _postgres_admin() -> Engine:
    engine = create_engine(PG_URL)
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        engine.dispose()
        skip_or_fail(
            f"PostgreSQL is not reachable at {PG_URL} ({exc.orig}): "
            "start PostgreSQL to run the postgresql tests"
        )
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'bdcert.sqlite3'}")
        return
    admin = _postgres_admin()
    schema = f"t_{secrets.token_hex(8)}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield Database(PG_URL, {"options": f"-csearch_path={schema}"})
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def storage(database: Database) -> Iterator[SqlStorage]:
    store = database.open()
    yield store
    store.close()


# -- model objects, built by hand ------------------------------------------------------------


def make_entry(ywh: str, *, recorded_at: datetime = T0) -> RegistrationEntry:
    source = canonical_json({"ywh": ywh, "djjg": AUTHORITY, "djlx": "100", "bdcdyh": [UNIT_A]})
    return RegistrationEntry(
        business_number=ywh,
        authority_code=AUTHORITY,
        registration_type="100",
        recorded_at=recorded_at,
        unit_numbers=(UNIT_A,),
        location="成都市锦江区春熙路1号1栋1单元1层1号",
        holders=(
            Party("张三", "1", "110101199003074514", "60%"),
            Party("李𪚥", "1", "11010119900307451X", "40%"),
        ),
        obligors=(),
        right_type="4",
        proven_matter=None,
        co_ownership="按份共有",
        holding_mode="分别持证",
        right_nature="市场化商品房",
        use="住宅",
        areas=Areas(land=Decimal("35.20"), building=Decimal("89.47")),
        term=Term(date(2010, 1, 1), date(2080, 12, 31)),
        other_status="",
        notes="",
        other="",
        attached_plan=None,
        prior_certificates=(),
        cancellation_reason=None,
        seizure=None,
        source=source,
        fingerprint=hashlib.sha256(source.encode()).hexdigest(),
    )


def make_certificate(
    sequence: int,
    *,
    ywh: str = "YWH-1",
    kind: CertificateKind = PROPERTY,
    units: tuple[str, ...] = (UNIT_A,),
    issued_at: datetime = T0,
    year: int = 2024,
) -> tuple[Certificate, bytes]:
    word = "不动产权" if kind is PROPERTY else "不动产证明"
    number = f"川({year})成都市{word}第{sequence:07d}号"
    pdf = b"%PDF-1.7\n% not a real PDF\n" + number.encode()
    token = hashlib.sha256(number.encode()).hexdigest()[:32]
    certificate = Certificate(
        number=number,
        kind=kind,
        licence_id=f"1.2.156.3005.2.11510100MB0000000X.{kind.value}.{year}{sequence:07d}",
        business_number=ywh,
        authority_code=AUTHORITY,
        year=year,
        sequence=sequence,
        holders=(Party("张三", "1", "110101199003074514", "60%"), Party("李𪚥", "1", "X", None)),
        unit_numbers=units,
        face=(
            FaceItem("qlr", "权利人", "张三、李𪚥"),
            FaceItem("bdcdyh", "不动产单元号", " ".join(units)),
            FaceItem("mj", "面积", "共有宗地面积35.20㎡/房屋建筑面积89.47㎡"),
        ),
        token=token,
        verification_url=f"https://verify.example/v/{token}",
        issued_at=issued_at,
        pdf_sha256=hashlib.sha256(pdf).hexdigest(),
    )
    return certificate, pdf


def issue(tx: StorageTransaction, sequence: int, **kwargs: Any) -> Certificate:
    """File a certificate (and its registration, if not stored yet)."""
    certificate, pdf = make_certificate(sequence, **kwargs)
    ywh = certificate.business_number
    if tx.get_registration(ywh) is None:
        tx.add_registration(make_entry(ywh), IssueResult(ywh, Outcome.ISSUED, kind=PROPERTY))
    tx.add_certificate(certificate, pdf)
    return certificate


def seizure(ywh: str = "YWH-CF-1") -> Restriction:
    return Restriction(
        business_number=ywh,
        authority="成都市锦江区人民法院",
        document_number="(2024)川0104执保123号",
        type="轮候查封",
        start=date(2024, 4, 1),
        end=date(2027, 3, 31),
        recorded_at=datetime(2024, 4, 1, 9, 0, tzinfo=CHINA_TZ),
    )


# -- tests -----------------------------------------------------------------------------------


def test_is_a_storage(storage: SqlStorage) -> None:
    assert isinstance(storage, Storage)
    assert storage.url in repr(storage)


def test_certificate_round_trip(storage: SqlStorage) -> None:
    certificate, pdf = make_certificate(1)
    in_utc, pdf_utc = make_certificate(2, issued_at=T0.astimezone(UTC), units=(UNIT_A, UNIT_B))
    with storage.transaction() as tx:
        tx.add_registration(make_entry("YWH-1"), IssueResult("YWH-1", Outcome.ISSUED))
        tx.add_certificate(certificate, pdf)
        tx.add_certificate(in_utc, pdf_utc)
    with storage.transaction() as tx:
        got = tx.get_certificate(certificate.number)
        assert got == certificate
        assert got.issued_at.utcoffset() == timedelta(hours=8)
        assert got.issued_at.microsecond == 123456
        assert tx.get_pdf(certificate.number) == pdf
        assert tx.get_certificate(in_utc.number) == in_utc
        assert tx.get_pdf(in_utc.number) == pdf_utc


def test_empty_pdf_digest_is_filled_in(storage: SqlStorage) -> None:
    certificate, pdf = make_certificate(1)
    with storage.transaction() as tx:
        tx.add_registration(make_entry("YWH-1"), IssueResult("YWH-1", Outcome.ISSUED))
        tx.add_certificate(attrs.evolve(certificate, pdf_sha256=""), pdf)
    with storage.transaction() as tx:
        assert tx.get_certificate(certificate.number) == certificate
        assert tx.find_certificate_by_digest(hashlib.sha256(pdf).hexdigest()) == certificate


def test_registration_round_trip(storage: SqlStorage) -> None:
    entry = make_entry("YWH-2024-0001")
    certificate, pdf = make_certificate(7, ywh=entry.business_number)
    result = IssueResult(
        business_number=entry.business_number,
        outcome=Outcome.ISSUED,
        kind=PROPERTY,
        numbers=(certificate.number,),
        supersedes=("川(2020)成都市不动产权第0000009号",),
        announcements=("川(2019)成都市不动产权第0000001号",),
        problems=(Problem("qlr[1].zjh", "校验位不符"), Problem("", "整条记录")),
        certificates=(IssuedCertificate(certificate, pdf),),
    )
    with storage.transaction() as tx:
        tx.add_registration(entry, result)
    with storage.transaction() as tx:
        stored = tx.get_registration(entry.business_number)
        assert tx.get_registration("YWH-unknown") is None
    assert stored == StoredRegistration(
        business_number=entry.business_number,
        fingerprint=entry.fingerprint,
        result=attrs.evolve(result, certificates=()),
        recorded_at=entry.recorded_at,
    )
    assert stored.result.problems and all(isinstance(p, Problem) for p in stored.result.problems)
    assert stored.recorded_at.utcoffset() == timedelta(hours=8)


def test_supersede_cancel_restrict_are_reflected(storage: SqlStorage) -> None:
    with storage.transaction() as tx:
        old = issue(tx, 1)
        new_a = issue(tx, 2, ywh="YWH-2")
        new_b = issue(tx, 3, ywh="YWH-2")
        gone = issue(tx, 4, ywh="YWH-3")
    with storage.transaction() as tx:
        tx.set_superseded(old.number, [new_a.number, new_b.number], "YWH-2")
        tx.set_cancelled(gone.number, "房屋灭失", "YWH-4")
        tx.add_restriction(new_a.number, seizure())
        tx.add_restriction(new_a.number, seizure("YWH-CF-2"))
    with storage.transaction() as tx:
        got_old = tx.get_certificate(old.number)
        assert got_old.status is CertificateStatus.SUPERSEDED
        assert got_old.superseded_by == (new_a.number, new_b.number)
        assert got_old == attrs.evolve(
            old, status=CertificateStatus.SUPERSEDED, superseded_by=(new_a.number, new_b.number)
        )
        got_gone = tx.get_certificate(gone.number)
        assert (got_gone.status, got_gone.cancel_reason) == (
            CertificateStatus.CANCELLED,
            "房屋灭失",
        )
        got_a = tx.get_certificate(new_a.number)
        assert got_a.status is CertificateStatus.VALID
        assert got_a.restrictions == (seizure(), seizure("YWH-CF-2"))
        assert tx.get_certificate(new_b.number) == new_b


def test_certificates_for_unit(storage: SqlStorage) -> None:
    hour = timedelta(hours=1)
    with storage.transaction() as tx:
        # Filed out of time order: the result is oldest first all the same.
        third = issue(tx, 3, issued_at=T0 + 2 * hour)
        first = issue(tx, 1, issued_at=T0)
        second = issue(tx, 1, kind=PROOF, units=(UNIT_A, UNIT_B), issued_at=T0 + hour)
        only_b = issue(tx, 4, units=(UNIT_B,), issued_at=T0 + 3 * hour)
        tx.set_cancelled(third.number, "注销", "YWH-9")

    def numbers(certs: list[Certificate]) -> list[str]:
        return [c.number for c in certs]

    with storage.transaction() as tx:
        assert numbers(tx.certificates_for_unit(UNIT_A)) == [first.number, second.number]
        assert numbers(tx.certificates_for_unit(UNIT_A, valid_only=False)) == [
            first.number,
            second.number,
            third.number,
        ]
        assert numbers(tx.certificates_for_unit(UNIT_A, kind=PROOF)) == [second.number]
        assert numbers(tx.certificates_for_unit(UNIT_A, kind=PROPERTY, valid_only=False)) == [
            first.number,
            third.number,
        ]
        assert numbers(tx.certificates_for_unit(UNIT_B)) == [second.number, only_b.number]
        assert tx.certificates_for_unit("510104001001GB99999F99999999") == []
        assert tx.certificates_for_unit(UNIT_A)[0] == first


def test_find_by_token_and_digest(storage: SqlStorage) -> None:
    with storage.transaction() as tx:
        certificate = issue(tx, 1)
        other = issue(tx, 2)
    with storage.transaction() as tx:
        assert tx.find_certificate_by_token(certificate.token) == certificate
        assert tx.find_certificate_by_token(other.token) == other
        assert tx.find_certificate_by_token("no-such-token") is None
        assert tx.find_certificate_by_digest(certificate.pdf_sha256) == certificate
        assert tx.find_certificate_by_digest(certificate.pdf_sha256.upper()) == certificate
        assert tx.find_certificate_by_digest("0" * 64) is None


class Boom(Exception):
    pass


def test_rollback_on_exception_leaves_nothing(storage: SqlStorage) -> None:
    with pytest.raises(Boom), storage.transaction() as tx:
        assert tx.next_sequence(AUTHORITY, 2024, PROPERTY) == 1
        certificate = issue(tx, 1)
        tx.add_restriction(certificate.number, seizure())
        tx.add_paper_disposition(PaperDisposition("川房权证字第1号", "YWH-1", "收回", T0))
        tx.append_audit(AuditEvent("issue", "clerk01", certificate.number, T0))
        raise Boom
    with storage.transaction() as tx:
        assert tx.get_registration("YWH-1") is None
        with pytest.raises(NotFound):
            tx.get_certificate(certificate.number)
        assert tx.find_certificate_by_token(certificate.token) is None
        assert tx.certificates_for_unit(UNIT_A, valid_only=False) == []
        assert tx.paper_dispositions() == []
        assert tx.audit_events() == []
        assert tx.next_sequence(AUTHORITY, 2024, PROPERTY) == 1  # no number was consumed


def test_sequences_are_independent_per_authority_year_kind(storage: SqlStorage) -> None:
    with storage.transaction() as tx:
        assert [tx.next_sequence(AUTHORITY, 2024, PROPERTY) for _ in range(3)] == [1, 2, 3]
        assert tx.next_sequence(AUTHORITY, 2024, PROOF) == 1
        assert tx.next_sequence(AUTHORITY, 2025, PROPERTY) == 1
        assert tx.next_sequence("510104", 2024, PROPERTY) == 1
    with storage.transaction() as tx:
        assert tx.next_sequence(AUTHORITY, 2024, PROPERTY) == 4
        assert tx.next_sequence(AUTHORITY, 2024, PROOF) == 2
        assert tx.next_sequence(AUTHORITY, 2025, PROPERTY) == 2


def test_duplicate_registration_is_a_storage_error(storage: SqlStorage) -> None:
    with storage.transaction() as tx:
        tx.add_registration(make_entry("YWH-1"), IssueResult("YWH-1", Outcome.NONE))
    with (
        pytest.raises(StorageError, match="'YWH-1' is already stored"),
        storage.transaction() as tx,
    ):
        tx.add_registration(make_entry("YWH-1"), IssueResult("YWH-1", Outcome.NONE))


def test_duplicate_certificate_number_or_token_is_a_storage_error(storage: SqlStorage) -> None:
    with storage.transaction() as tx:
        certificate = issue(tx, 1)
    _, pdf = make_certificate(1)
    with pytest.raises(StorageError, match="already filed"), storage.transaction() as tx:
        tx.add_certificate(certificate, pdf)
    other, other_pdf = make_certificate(2)
    same_token = attrs.evolve(other, token=certificate.token)
    with pytest.raises(StorageError, match="token"), storage.transaction() as tx:
        tx.add_certificate(same_token, other_pdf)
    with storage.transaction() as tx:  # the store is still usable and unchanged
        assert tx.certificates_for_unit(UNIT_A) == [certificate]


def test_certificate_without_its_registration_fails_at_commit(storage: SqlStorage) -> None:
    certificate, pdf = make_certificate(1, ywh="YWH-NEVER-STORED")
    with pytest.raises(StorageError), storage.transaction() as tx:
        tx.add_certificate(certificate, pdf)
    with storage.transaction() as tx:
        assert tx.find_certificate_by_token(certificate.token) is None


def test_unknown_number_is_not_found(storage: SqlStorage) -> None:
    missing = "川(2024)成都市不动产权第9999999号"
    with storage.transaction() as tx:
        calls: list[Callable[[], object]] = [
            lambda: tx.get_certificate(missing),
            lambda: tx.get_pdf(missing),
            lambda: tx.set_cancelled(missing, "注销", "YWH-1"),
            lambda: tx.set_superseded(missing, ["x"], "YWH-1"),
            lambda: tx.add_restriction(missing, seizure()),
        ]
        for call in calls:
            with pytest.raises(NotFound, match="9999999"):
                call()
    with pytest.raises(KeyError), storage.transaction() as tx:
        tx.get_certificate(missing)


def test_paper_dispositions(storage: SqlStorage) -> None:
    announced = PaperDisposition(
        "川房权证字第0001号", "YWH-1", "公告作废", T0, text="原川房权证字第0001号不动产权证书作废。"
    )
    recovered = PaperDisposition("川房权证字第0002号", "YWH-1", "收回", T0 + timedelta(minutes=1))
    elsewhere = PaperDisposition("川房权证字第0003号", "YWH-2", "收回", T0 - timedelta(days=1))
    with storage.transaction() as tx:
        for disposition in (recovered, announced, elsewhere):
            tx.add_paper_disposition(disposition)
    with storage.transaction() as tx:
        assert tx.paper_dispositions("YWH-1") == [announced, recovered]
        assert tx.paper_dispositions() == [elsewhere, announced, recovered]
        assert tx.paper_dispositions("YWH-none") == []


def test_naive_datetime_is_refused(storage: SqlStorage) -> None:
    naive = PaperDisposition("川房权证字第0001号", "YWH-1", "收回", datetime(2024, 3, 1, 10, 0))
    with pytest.raises(StorageError, match="naive"), storage.transaction() as tx:
        tx.add_paper_disposition(naive)
    with pytest.raises(StorageError, match="offset"), storage.transaction() as tx:
        tx.append_audit(AuditEvent("issue", "clerk01", "x", datetime(2024, 3, 1)))


def _audit_three(storage: SqlStorage) -> list[AuditEvent]:
    events = [
        AuditEvent("issue", "clerk01", "川(2024)成都市不动产权第0000001号", T0, {"ywh": "YWH-1"}),
        AuditEvent(
            "verify",
            "public",
            "川(2024)成都市不动产权第0000001号",
            (T0 + timedelta(seconds=1)).astimezone(UTC),
            {"verdict": "valid", "numbers": ("a", "b"), "area": Decimal("89.47")},
        ),
        AuditEvent("cancel", "clerk02", "川(2024)成都市不动产权第0000001号", T0 + timedelta(1)),
    ]
    for event in events:
        with storage.transaction() as tx:
            tx.append_audit(event)
    return events


def test_audit_log_round_trip_and_intact_chain(storage: SqlStorage) -> None:
    events = _audit_three(storage)
    with storage.transaction() as tx:
        assert tx.verify_audit_chain() == []
        stored = tx.audit_events()
    # details come back as JSON data: tuples as lists, Decimal as its string
    assert stored == [
        events[0],
        attrs.evolve(
            events[1], details={"verdict": "valid", "numbers": ["a", "b"], "area": "89.47"}
        ),
        events[2],
    ]
    assert all(e.at.utcoffset() == timedelta(hours=8) for e in stored)


def test_tampered_audit_event_is_reported(storage: SqlStorage, database: Database) -> None:
    _audit_three(storage)
    engine = database.engine()
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE audit_events SET actor = 'mallory' WHERE id = 2")
    finally:
        engine.dispose()
    with storage.transaction() as tx:
        broken = tx.verify_audit_chain()
    assert len(broken) == 1
    assert "audit event 2" in broken[0]


def test_deleted_audit_events_are_reported(storage: SqlStorage, database: Database) -> None:
    _audit_three(storage)
    engine = database.engine()
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit_events WHERE id IN (2, 3)")
    finally:
        engine.dispose()
    with storage.transaction() as tx:
        assert tx.verify_audit_chain() == ["audit events 2..3 are missing (deleted from the end)"]


class _Abort(Exception):
    pass


def _allocate(
    url: str,
    connect_args: dict[str, Any],
    count: int,
    start: Any,
    results: Any,
) -> None:
    """Child process: ``count`` allocations, one transaction each, some rolled back between."""
    try:
        store = SqlStorage(url, connect_args=connect_args)
        try:
            start.wait(timeout=120)
            got: list[int] = []
            for i in range(count):
                if i % 10 == 3:  # a rolled-back allocation must leave no gap
                    try:
                        with store.transaction() as tx:
                            tx.next_sequence(AUTHORITY, 2024, PROPERTY)
                            raise _Abort
                    except _Abort:
                        pass
                with store.transaction() as tx:
                    got.append(tx.next_sequence(AUTHORITY, 2024, PROPERTY))
            results.put(("ok", got))
        finally:
            store.close()
    except BaseException:
        results.put(("error", traceback.format_exc()))


def test_concurrent_processes_get_distinct_gap_free_numbers(
    storage: SqlStorage, database: Database
) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=_allocate, args=(database.url, database.connect_args, 100, start, results)
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=300) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
    errors = [detail for status, detail in outcomes if status != "ok"]
    assert not errors, "\n".join(errors)
    numbers = [n for _, got in outcomes for n in got]
    assert all(got == sorted(got) for _, got in outcomes)
    assert sorted(numbers) == list(range(1, 201))
    with storage.transaction() as tx:
        assert tx.next_sequence(AUTHORITY, 2024, PROPERTY) == 201


def test_migrations_match_the_schema_and_go_down_and_up(
    storage: SqlStorage, database: Database
) -> None:
    engine = database.engine()
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        with engine.begin() as conn:
            tables = set(engine.dialect.get_table_names(conn)) - {"alembic_version"}
            assert tables == set()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    with storage.transaction() as tx:
        assert tx.next_sequence(AUTHORITY, 2024, PROPERTY) == 1


def test_unreachable_database_names_the_url_without_password() -> None:
    with pytest.raises(StorageError) as raised:
        SqlStorage("postgresql+psycopg://bdcert:s3cret-pw@127.0.0.1:1/bdcert")
    message = str(raised.value)
    assert "postgresql+psycopg://bdcert:***@127.0.0.1:1/bdcert" in message
    assert "s3cret-pw" not in message


def test_unsupported_or_malformed_url_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a database URL"):
        SqlStorage("not a url")
    with pytest.raises(ConfigurationError, match="'mysql'"):
        SqlStorage("mysql://root@localhost/bdcert")


# -- settings and plugin registration --------------------------------------------------------


def test_settings_default_to_a_sqlite_file_in_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    with SqlStorage.from_settings({"plugin": "sql"}, tmp_path) as store:
        assert store.url == f"sqlite:///{tmp_path / 'bdcert.sqlite3'}"
    assert (tmp_path / "bdcert.sqlite3").is_file()


def test_settings_relative_sqlite_path_is_relative_to_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    (tmp_path / "data").mkdir()
    with SqlStorage.from_settings({"url": "sqlite:///data/register.db"}, tmp_path):
        pass
    assert (tmp_path / "data" / "register.db").is_file()
    absolute = tmp_path / "absolute.db"
    with SqlStorage.from_settings({"url": f"sqlite:///{absolute}"}, tmp_path / "elsewhere"):
        pass
    assert absolute.is_file()


def test_environment_variable_overrides_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_URL, "sqlite:///from-env.db")
    with SqlStorage.from_settings({"url": "sqlite:///from-settings.db"}, tmp_path):
        pass
    assert (tmp_path / "from-env.db").is_file()
    assert not (tmp_path / "from-settings.db").exists()


def test_unknown_setting_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"storage\.uri is not a known setting"):
        SqlStorage.from_settings({"uri": "sqlite:///x.db"}, tmp_path)
    with pytest.raises(ConfigurationError, match=r"\[storage\] url"):
        SqlStorage.from_settings({"url": 42}, tmp_path)
    with pytest.raises(ConfigurationError, match=r"\[storage\] url: .*not a database URL"):
        SqlStorage.from_settings({"url": "nonsense"}, tmp_path)
    assert not list(tmp_path.iterdir())


def test_hook_registers_the_sql_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)
    pm = make_plugin_manager(load_entrypoints=False)
    pm.register(storage_sql)
    factory = Hooks(pm).storage().get("sql")
    assert factory == SqlStorage.from_settings
    store = factory({"url": "sqlite:///hooked.db"}, tmp_path)
    try:
        assert isinstance(store, Storage)
        with store.transaction() as tx:
            assert tx.next_sequence(AUTHORITY, 2024, PROOF) == 1
    finally:
        store.close()


# -- outbox of undelivered events (beyond the conformance contract) --------------------------


def test_outbox_details_come_back_as_json_data(storage: SqlStorage) -> None:
    event = CertificateEvent(
        "restricted",
        "川(2024)成都市不动产权第0000001号",
        "YWH-CF-1",
        AUTHORITY,
        T0.astimezone(UTC),
        {"term": (date(2024, 4, 1), date(2027, 3, 31)), "area": Decimal("89.47")},
    )
    with storage.transaction() as tx:
        tx.add_undelivered("webhook", event, "HTTP 503")
    with storage.transaction() as tx:
        (kept,) = tx.undelivered()
    assert kept.event == attrs.evolve(
        event, details={"term": ["2024-04-01", "2027-03-31"], "area": "89.47"}
    )
    assert kept.event.at == T0
    assert kept.first_failed_at.utcoffset() == timedelta(hours=8)


def test_outbox_refuses_naive_event_times(storage: SqlStorage) -> None:
    naive = CertificateEvent("issued", "N1", "YWH-1", AUTHORITY, datetime(2024, 3, 1, 10, 0))
    with pytest.raises(StorageError, match="offset"), storage.transaction() as tx:
        tx.add_undelivered("webhook", naive, "down")


def test_outbox_migration_keeps_existing_data(storage: SqlStorage, database: Database) -> None:
    with storage.transaction() as tx:
        certificate = issue(tx, 1)
        tx.add_undelivered("webhook", CertificateEvent("issued", "N1", "Y1", AUTHORITY, T0), "x")
    engine = database.engine()
    try:
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0001")
        with engine.begin() as conn:
            assert "undelivered_events" not in engine.dialect.get_table_names(conn)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    with storage.transaction() as tx:
        assert tx.get_certificate(certificate.number) == certificate
        assert tx.undelivered() == []
        tx.add_undelivered("webhook", CertificateEvent("issued", "N2", "Y2", AUTHORITY, T0), "x")
        assert [u.event.number for u in tx.undelivered()] == ["N2"]


def test_hold_migration_keeps_existing_guards(storage: SqlStorage, database: Database) -> None:
    """0007 adds the count of lockouts and the hold to guards stored before it: they start at
    0, not held, with their failures and lockout kept; down and up again keeps them."""
    key = "f" * 64
    with storage.transaction() as tx:
        tx.save_download_guard(DownloadGuard(key, (T0,), T0 + timedelta(minutes=30)))
    engine = database.engine()
    try:
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        with engine.begin() as conn:
            columns = {c["name"] for c in sa_inspect(conn).get_columns("download_guards")}
            assert "held" not in columns and "lockouts" not in columns
            assert "download_codes" not in engine.dialect.get_table_names(conn)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    with storage.transaction() as tx:
        assert tx.download_guard(key) == DownloadGuard(key, (T0,), T0 + timedelta(minutes=30))
        assert tx.download_codes(key) == {}


def test_pdf_revisions_migration_keeps_existing_certificates(
    storage: SqlStorage, database: Database
) -> None:
    """0008 only adds ``pdf_revisions``: certificates and their PDFs stored before it survive
    (no table is rebuilt, so nothing cascades on SQLite), and down to 0007 and up again keeps
    them and the renewed PDF, whose digest is recorded again by the next renewal only."""
    with storage.transaction() as tx:
        certificate = issue(tx, 1)
        filed = tx.get_pdf(certificate.number)
        tx.replace_pdf(certificate.number, filed + b" renewed", T0)
    engine = database.engine()
    try:
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0007")
        with engine.begin() as conn:
            assert "pdf_revisions" not in engine.dialect.get_table_names(conn)
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    with storage.transaction() as tx:
        assert tx.get_certificate(certificate.number) == certificate
        assert tx.get_pdf(certificate.number) == filed + b" renewed"
        assert tx.certificate_numbers() == [certificate.number]
        tx.replace_pdf(certificate.number, filed + b" renewed twice", T0)
        for data in (filed, filed + b" renewed twice"):
            assert tx.find_certificate_by_digest(hashlib.sha256(data).hexdigest()) == certificate


def test_head_revision_is_alembics_head() -> None:
    """A store at ``HEAD_REVISION`` opens without Alembic: it must name the newest migration."""
    from alembic.script import ScriptDirectory

    from bdcert_plugins.storage_sql.store import HEAD_REVISION

    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD_REVISION]


def test_a_store_at_head_opens_without_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    SqlStorage(url).close()
    code = (
        "import sys; from bdcert_plugins.storage_sql.store import SqlStorage; "
        f"SqlStorage({url!r}).close(); print('alembic' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
