"""The storage contract: what every :class:`bdcert.protocols.Storage` implementation must do.

Each scenario is a plain function ``scenario(storage)`` taking an EMPTY store and raising
:class:`AssertionError` (with a message saying what differed) when the store breaks the
protocol; :data:`SCENARIOS` groups them by the role protocol of
:class:`~bdcert.protocols.StorageTransaction` they exercise (``RegistrationRecords``,
``CertificateRecords``, ``AuditRecords``, ``OutboxRecords``, ``BacklogRecords``,
``HolderRecords``, ``AgreementRecords``). The scenarios are written once and run two ways:

- as pytest tests: subclass :class:`StorageContract` and provide a ``storage`` fixture yielding
  an empty store (one test per scenario, a new store each);
- as the plugins plan's checks P-201..P-207 (``bdcert conformance run --plan plugins``), one
  check per role, a new empty store per scenario.

Every scenario uses only the protocol.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import attrs

from bdcert.audit.chain import GENESIS_SHA256, audit_hash, audit_payload
from bdcert.errors import NotFound, Problem, StorageError
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Certificate,
    CertificateEvent,
    CertificateKind,
    CertificateStatus,
    FaceItem,
    IssueResult,
    Outcome,
    Party,
    RegistrationEntry,
    Restriction,
)
from bdcert.protocols import AuditCheckpoint, PaperDisposition
from bdcert.records import DownloadGuard, SharingAgreement

__all__ = ["ROLES", "SCENARIOS", "StorageContract", "issue", "raises"]

PROPERTY = CertificateKind.PROPERTY_CERTIFICATE
T0 = datetime(2024, 3, 5, 10, 21, tzinfo=CHINA_TZ)
UNIT = "510104001001GB00001F00010001"


def make_entry(ywh: str, fingerprint: str = "f" * 64) -> RegistrationEntry:
    return RegistrationEntry(
        business_number=ywh,
        authority_code="510100",
        registration_type="100",
        recorded_at=T0,
        unit_numbers=(UNIT,),
        location="成都市锦江区东大街199号",
        holders=(Party("王晓明", "1", "510104198503120176"),),
        obligors=(),
        right_type="4",
        proven_matter=None,
        co_ownership="0",
        holding_mode="共同持证",
        right_nature="102",
        use="住宅",
        areas=None,
        term=None,
        other_status="",
        notes="",
        other="",
        attached_plan=None,
        prior_certificates=(),
        cancellation_reason=None,
        seizure=None,
        source="{}",
        fingerprint=fingerprint,
    )


def make_certificate(sequence: int, ywh: str, *, unit: str = UNIT) -> Certificate:
    number = f"川(2024)成都市不动产权第{sequence:07d}号"
    return Certificate(
        number=number,
        kind=PROPERTY,
        licence_id=f"1.2.156.3005.2.X.Y.2024{sequence:07d}.001.0",
        business_number=ywh,
        authority_code="510100",
        year=2024,
        sequence=sequence,
        holders=(Party("王晓明", "1", "510104198503120176", "1/3"),),
        unit_numbers=(unit,),
        face=(FaceItem("zh", "证号", number), FaceItem("zl", "坐落", "成都市锦江区\n东大街")),
        token=f"tok{sequence}",
        verification_url=f"https://v.invalid/v/tok{sequence}",
        issued_at=T0 + timedelta(minutes=sequence),
        pdf_sha256=f"{sequence:064x}",
    )


@contextlib.contextmanager
def raises(expected: type[BaseException], match: str | None = None) -> Iterator[None]:
    """Like ``pytest.raises`` but usable outside pytest: the block must raise ``expected``
    (whose message matches the regular expression ``match``, when given).

    :raises AssertionError: naming what was expected and what happened instead.
    """
    try:
        yield
    except expected as exc:
        if match is not None and not re.search(match, str(exc)):
            raise AssertionError(
                f"{type(exc).__name__} raised, but its message {str(exc)!r} does not match "
                f"{match!r}"
            ) from None
    except Exception as exc:
        raise AssertionError(
            f"expected {expected.__name__}, got {type(exc).__name__}: {exc}"
        ) from None
    else:
        raise AssertionError(f"expected {expected.__name__}, nothing was raised")


def issue(storage: Any, ywh: str, *, unit: str = UNIT) -> Certificate:
    with storage.transaction() as tx:
        seq = tx.next_sequence("510100", 2024, PROPERTY)
        cert = make_certificate(seq, ywh, unit=unit)
        tx.add_certificate(cert, b"%PDF-1.7 " + ywh.encode())
        tx.add_registration(
            make_entry(ywh), IssueResult(ywh, Outcome.ISSUED, PROPERTY, (cert.number,))
        )
    return cert


def round_trip(storage: Any) -> None:
    cert = issue(storage, "Y1")
    with storage.transaction() as tx:
        assert tx.get_certificate(cert.number) == cert
        assert tx.get_pdf(cert.number) == b"%PDF-1.7 Y1"
        assert tx.find_certificate_by_token("tok1") == cert
        assert tx.find_certificate_by_digest(cert.pdf_sha256) == cert
        assert tx.find_certificate_by_token("nope") is None
        stored = tx.get_registration("Y1")
        assert stored is not None and stored.result.numbers == (cert.number,)
        assert stored.fingerprint == "f" * 64
        with raises(NotFound):
            tx.get_certificate("川(2024)成都市不动产权第9999999号")


def rollback_leaves_nothing_and_no_gap(storage: Any) -> None:
    with raises(RuntimeError), storage.transaction() as tx:
        seq = tx.next_sequence("510100", 2024, PROPERTY)
        tx.add_certificate(make_certificate(seq, "Y1"), b"%PDF")
        raise RuntimeError("sealing failed")
    with storage.transaction() as tx:
        assert tx.get_registration("Y1") is None
        assert tx.next_sequence("510100", 2024, PROPERTY) == 1


def sequences_are_per_authority_year_and_kind(storage: Any) -> None:
    with storage.transaction() as tx:
        assert [tx.next_sequence("510100", 2024, PROPERTY) for _ in range(3)] == [1, 2, 3]
        assert tx.next_sequence("510100", 2025, PROPERTY) == 1
        assert tx.next_sequence("510700", 2024, PROPERTY) == 1
        assert tx.next_sequence("510100", 2024, CertificateKind.REGISTRATION_PROOF) == 1


def duplicate_business_number_is_refused(storage: Any) -> None:
    issue(storage, "Y1")
    with raises(StorageError), storage.transaction() as tx:
        tx.add_registration(make_entry("Y1"), IssueResult("Y1", Outcome.NONE))


def rollback_after_a_commit_reuses_no_number(storage: Any) -> None:
    """After number 1 is committed and number 2 rolled back, the next number is 2: a rolled-back
    allocation leaves no gap and never hands out a number already filed (rule article 8); a
    certificate number already filed is refused."""
    first = issue(storage, "Y1")
    with raises(RuntimeError), storage.transaction() as tx:
        rolled_back = tx.next_sequence("510100", 2024, PROPERTY)
        tx.add_certificate(make_certificate(rolled_back, "Y2"), b"%PDF")
        raise RuntimeError("sealing failed")
    assert rolled_back == 2, f"the allocation after number 1 was committed gave {rolled_back}"
    with storage.transaction() as tx:
        again = tx.next_sequence("510100", 2024, PROPERTY)
    assert again != first.sequence, f"number {again} handed out again after a rollback"
    assert again == 2, f"after the rollback the next number is {again}, not 2 (a gap)"
    with raises(StorageError), storage.transaction() as tx:
        tx.add_certificate(first, b"%PDF-1.7 again")


def status_changes(storage: Any) -> None:
    old, new, other = issue(storage, "Y1"), issue(storage, "Y2"), issue(storage, "Y3")
    with storage.transaction() as tx:
        tx.set_superseded(old.number, [new.number], "Y2")
        tx.set_cancelled(other.number, "主债权消灭", "Y9")
        tx.add_restriction(
            new.number,
            Restriction(
                "Y8",
                "成都市武侯区人民法院",
                "（2024）川0107执保123号",
                "1",
                date(2024, 4, 15),
                date(2027, 4, 14),
                T0,
            ),
        )
    with storage.transaction() as tx:
        got = tx.get_certificate(old.number)
        assert got.status is CertificateStatus.SUPERSEDED and got.superseded_by == (new.number,)
        got = tx.get_certificate(other.number)
        assert got.status is CertificateStatus.CANCELLED and got.cancel_reason == "主债权消灭"
        got = tx.get_certificate(new.number)
        assert got.status is CertificateStatus.VALID
        assert [r.document_number for r in got.restrictions] == ["（2024）川0107执保123号"]
        valid = tx.certificates_for_unit(UNIT)
        assert [c.number for c in valid] == [new.number]
        everything = tx.certificates_for_unit(UNIT, valid_only=False)
        assert [c.number for c in everything] == [old.number, new.number, other.number]
        assert tx.certificates_for_unit(UNIT, kind=CertificateKind.REGISTRATION_PROOF) == []


def paper_dispositions(storage: Any) -> None:
    with storage.transaction() as tx:
        tx.add_paper_disposition(
            PaperDisposition("川(2019)成都市不动产权第0451234号", "Y1", "收回", T0)
        )
        tx.add_paper_disposition(
            PaperDisposition("川(2018)成都市不动产权第0123987号", "Y2", "公告作废", T0, "公告")
        )
    with storage.transaction() as tx:
        assert [d.disposition for d in tx.paper_dispositions()] == ["收回", "公告作废"]
        (d,) = tx.paper_dispositions("Y2")
        assert d.text == "公告" and d.recorded_at == T0


def audit_chain(storage: Any) -> None:
    with storage.transaction() as tx:
        for i in range(3):
            tx.append_audit(AuditEvent("issue", "clerk01", f"N{i}", T0, {"i": i}))
    with storage.transaction() as tx:
        events = tx.audit_events()
        assert [e.subject for e in events] == ["N0", "N1", "N2"]
        assert events[1].details == {"i": 1} and events[1].at == T0
        assert tx.verify_audit_chain() == []


def audit_hashes_follow_the_formula(storage: Any) -> None:
    """Every stored audit hash is ``sha256(previous hash || canonical JSON of the event)``
    (:func:`bdcert.audit.chain.audit_hash`), the first chained to the genesis hash: recomputed
    here from the events the store returns, not taken from the store's own verification."""
    with storage.transaction() as tx:
        for i in range(3):
            tx.append_audit(AuditEvent("issue", "clerk01", f"N{i}", T0, {"i": i, "n": [i]}))
    with storage.transaction() as tx:
        events = tx.audit_events()
        stored = [tx.audit_event_hash(i) for i in range(1, len(events) + 1)]
        head = tx.audit_head()
    assert len(events) == 3, f"{len(events)} audit events stored, 3 appended"
    previous = GENESIS_SHA256
    for number, (event, found) in enumerate(zip(events, stored, strict=True), 1):
        payload = audit_payload(event.action, event.actor, event.subject, event.at, event.details)
        expected = audit_hash(previous, payload)
        assert found == expected, (
            f"audit event {number}: stored hash {found}, but sha256(hash of event "
            f"{number - 1 or 'genesis'} || event) is {expected}: the chain link is lost"
        )
        previous = expected
    assert head == (3, previous), f"audit_head() is {head}, expected (3, {previous!r})"


# ------------------------------------------------------------- audit checkpoints (rule article 17)


def audit_checkpoints(storage: Any) -> None:
    with storage.transaction() as tx:
        assert tx.audit_head() is None and tx.last_audit_checkpoint() is None
        assert tx.audit_checkpoints_made() == 0 and tx.uncheckpointed_audit_events() == 0
        for i in range(3):
            tx.append_audit(AuditEvent("issue", "clerk01", f"N{i}", T0, {"i": i}))
    with storage.transaction() as tx:
        head = tx.audit_head()
        assert head is not None and head[0] == 3 and tx.audit_event_hash(3) == head[1]
        assert tx.audit_event_hash(99) is None
        assert tx.uncheckpointed_audit_events() == 3
        number = tx.next_audit_checkpoint_number()
        second = tx.audit_event_hash(2)
        checkpoint = AuditCheckpoint(
            number, 2, second, T0, "platform", "510100", "0" * 64, b"%PDF-1.7 cp"
        )
        tx.add_audit_checkpoint(checkpoint)
    assert number == 1
    with storage.transaction() as tx:
        assert tx.last_audit_checkpoint() == checkpoint
        assert tx.audit_checkpoints() == [checkpoint]
        assert tx.audit_checkpoints_made() == 1
        assert tx.uncheckpointed_audit_events() == 1  # event 3 follows the sealed event 2
        with raises(StorageError):
            tx.add_audit_checkpoint(checkpoint)


def audit_checkpoint_numbers_roll_back_without_a_gap(storage: Any) -> None:
    with raises(RuntimeError), storage.transaction() as tx:
        assert tx.next_audit_checkpoint_number() == 1
        raise RuntimeError("sealing failed")
    with storage.transaction() as tx:
        assert tx.audit_checkpoints_made() == 0
        assert tx.next_audit_checkpoint_number() == 1
        assert tx.next_audit_checkpoint_number() == 2


# -------------------------------------------------------------------- outbox of undelivered events


def outbox_round_trip(storage: Any) -> None:
    event = CertificateEvent(
        "superseded",
        "川(2024)成都市不动产权第0000001号",
        "Y2",
        "510100",
        T0,
        {"successors": ["川(2024)成都市不动产权第0000002号"], "share": "1/3", "n": 2},
    )
    with storage.transaction() as tx:
        event_id = tx.add_undelivered("webhook", event, "HTTP 503 from hooks.example")
    with storage.transaction() as tx:
        (kept,) = tx.undelivered()
    assert kept.id == event_id
    assert kept.notifier == "webhook"
    assert kept.event == event
    assert kept.attempts == 1
    assert kept.last_error == "HTTP 503 from hooks.example"
    assert kept.first_failed_at.utcoffset() is not None


def outbox_is_oldest_first_per_notifier(storage: Any) -> None:
    ids = []
    for i, notifier in enumerate(["webhook", "sms", "webhook", "webhook"]):
        event = CertificateEvent("issued", f"N{i}", f"Y{i}", "510100", T0, {})
        with storage.transaction() as tx:
            ids.append(tx.add_undelivered(notifier, event, "down"))
    assert len(set(ids)) == 4
    with storage.transaction() as tx:
        assert [u.event.number for u in tx.undelivered()] == ["N0", "N1", "N2", "N3"]
        assert [u.id for u in tx.undelivered("webhook")] == [ids[0], ids[2], ids[3]]
        assert [u.event.number for u in tx.undelivered("webhook", limit=2)] == ["N0", "N2"]
        assert [u.notifier for u in tx.undelivered("sms")] == ["sms"]
        assert tx.undelivered("nobody") == []


def outbox_mark_delivered_removes_the_event(storage: Any) -> None:
    with storage.transaction() as tx:
        first = tx.add_undelivered(
            "webhook", CertificateEvent("issued", "N1", "Y1", "510100", T0), "x"
        )
        second = tx.add_undelivered(
            "webhook", CertificateEvent("issued", "N2", "Y2", "510100", T0), "x"
        )
    with storage.transaction() as tx:
        tx.mark_delivered(first)
    with storage.transaction() as tx:
        assert [u.id for u in tx.undelivered()] == [second]
        with raises(NotFound):
            tx.mark_delivered(first)


def outbox_failures_are_counted(storage: Any) -> None:
    event = CertificateEvent("cancelled", "N1", "Y9", "510100", T0, {"reason": "主债权消灭"})
    with storage.transaction() as tx:
        event_id = tx.add_undelivered("webhook", event, "connection refused")
    for error in ("HTTP 500", "timed out after 5 s"):
        with storage.transaction() as tx:
            tx.record_delivery_failure(event_id, error)
    with storage.transaction() as tx:
        (kept,) = tx.undelivered("webhook")
        assert kept.attempts == 3 and kept.last_error == "timed out after 5 s"
        assert kept.event == event
        with raises(NotFound):
            tx.record_delivery_failure(event_id + 1000, "x")


def outbox_rolls_back_with_the_transaction(storage: Any) -> None:
    event = CertificateEvent("issued", "N1", "Y1", "510100", T0)
    with raises(RuntimeError), storage.transaction() as tx:
        tx.add_undelivered("webhook", event, "down")
        raise RuntimeError("rolled back")
    with storage.transaction() as tx:
        assert tx.undelivered() == []


def unit_restrictions(storage: Any) -> None:
    seizure = Restriction(
        business_number="Y9",
        authority="成都市锦江区人民法院",
        document_number="(2024)川0104执123号",
        type="查封",
        start=date(2024, 3, 1),
        end=None,
        recorded_at=T0,
    )
    with storage.transaction() as tx:
        tx.add_unit_restriction(UNIT, seizure)  # no certificate of the unit exists
    with storage.transaction() as tx:
        assert tx.unit_restrictions(UNIT) == [seizure]
        assert tx.unit_restrictions("510104001001GB00002F00010001") == []


# --------------------------------------------------------- force-majeure backlog (rule article 15)


def _queue(tx: Any, ywh: str, authority: str = "510100", **extra: Any) -> Any:
    values = {
        "business_number": ywh,
        "authority_code": authority,
        "entry": {"ywh": ywh, "djjg": authority, "zl": "成都市锦江区", "mj": {"fw": "89.5"}},
        "fingerprint": "a" * 64,
        "recorded_at": T0,
        "accepted_at": T0 + timedelta(hours=1),
        "reason": "SealingError: HSM down",
        "next_attempt_at": T0 + timedelta(hours=1, seconds=30),
        **extra,
    }
    return tx.add_backlog(**values)


def backlog_round_trip_in_order(storage: Any) -> None:
    with storage.transaction() as tx:
        first = _queue(tx, "Y1")
        _queue(tx, "Y2", "510700")
        _queue(tx, "Y3")
    with storage.transaction() as tx:
        items = tx.backlog()
        assert [i.business_number for i in items] == ["Y1", "Y2", "Y3"]
        assert items[0] == first
        assert first.entry["zl"] == "成都市锦江区" and first.entry["mj"] == {"fw": "89.5"}
        assert (first.state, first.attempts, first.numbers, first.delay) == (
            "waiting",
            0,
            (),
            None,
        )
        assert first.recorded_at == T0 and first.accepted_at.utcoffset() is not None
        assert [i.business_number for i in tx.backlog(authority_code="510100")] == ["Y1", "Y3"]
        assert [i.business_number for i in tx.backlog(limit=2)] == ["Y1", "Y2"]
        assert [i.business_number for i in tx.backlog(authority_code="510100", limit=1)] == ["Y1"]
        assert tx.waiting_authorities() == ["510100", "510700"]
        head = tx.next_waiting("510100")
        assert head is not None and head.business_number == "Y1"
        assert tx.next_waiting("513401") is None
        got = tx.get_backlog("Y2")
        assert got is not None and got.authority_code == "510700"
        assert tx.get_backlog("nobody") is None


def backlog_failures_and_completion(storage: Any) -> None:
    with storage.transaction() as tx:
        item = _queue(tx, "Y1")
        other = _queue(tx, "Y2")
    later = T0 + timedelta(hours=2)
    with storage.transaction() as tx:
        tx.record_backlog_failure(item.id, "SealingError: still down", later)
        tx.record_backlog_failure(item.id, "SealingError: PIN locked", later)
    with storage.transaction() as tx:
        again = tx.get_backlog("Y1")
        assert (again.attempts, again.last_error) == (2, "SealingError: PIN locked")
        assert again.next_attempt_at == later
        tx.finish_backlog(
            item.id,
            state="issued",
            done_at=later,
            numbers=["川(2024)成都市不动产权第0000001号"],
        )
        tx.finish_backlog(
            other.id,
            state="rejected",
            done_at=later,
            problems=[Problem("yzh[0].zh", "no e-certificate X is on file")],
        )
    with storage.transaction() as tx:
        done = tx.get_backlog("Y1")
        assert done.state == "issued" and done.numbers == ("川(2024)成都市不动产权第0000001号",)
        assert done.delay == later - T0
        (rejected,) = tx.backlog(state="rejected")
        assert rejected.problems == (Problem("yzh[0].zh", "no e-certificate X is on file"),)
        assert tx.waiting_authorities() == []
        assert tx.next_waiting("510100") is None
        with raises(StorageError):
            tx.finish_backlog(item.id, state="issued", done_at=later)  # already done
        with raises(StorageError):
            tx.finish_backlog(item.id, state="waiting", done_at=later)
        with raises(NotFound):
            tx.record_backlog_failure(10**6, "x", later)
        with raises(NotFound):
            tx.finish_backlog(10**6, state="issued", done_at=later)


def backlog_rolls_back_with_the_transaction(storage: Any) -> None:
    with raises(RuntimeError), storage.transaction() as tx:
        _queue(tx, "Y1")
        raise RuntimeError("rolled back")
    with storage.transaction() as tx:
        assert tx.backlog() == [] and tx.get_backlog("Y1") is None


def backlog_refuses_naive_times(storage: Any) -> None:
    with raises(StorageError, match="offset"), storage.transaction() as tx:
        _queue(tx, "Y1", recorded_at=datetime(2024, 3, 5, 10, 21))


def ofd_documents(storage: Any) -> None:
    cert = issue(storage, "Y1")
    ofd = b"PK\x03\x04 an OFD package"
    with storage.transaction() as tx:
        tx.add_ofd(cert.number, ofd)
    with storage.transaction() as tx:
        assert tx.get_ofd(cert.number) == ofd
        assert tx.get_pdf(cert.number) == b"%PDF-1.7 Y1"
        found = tx.find_certificate_by_digest(hashlib.sha256(ofd).hexdigest())
        assert found is not None and found.number == cert.number
        with raises(NotFound):
            tx.get_ofd("川(2024)成都市不动产权第9999999号")
        with raises(NotFound):
            tx.add_ofd("川(2024)成都市不动产权第9999999号", ofd)


def certificate_numbers_page_through_every_status(storage: Any) -> None:
    first = issue(storage, "Y1")
    second = issue(storage, "Y2")
    third = issue(storage, "Y3")
    with storage.transaction() as tx:
        tx.set_cancelled(second.number, "灭失", "Y9")
    pages: list[list[str]] = []
    after = None
    with storage.transaction() as tx:
        while page := tx.certificate_numbers(after=after, limit=2):
            pages.append(page)
            after = page[-1]
        everything = tx.certificate_numbers(limit=100)
        with raises(ValueError, match="limit"):
            tx.certificate_numbers(limit=0)
    assert [len(p) for p in pages] == [2, 1]
    walked = [n for p in pages for n in p]
    assert walked == everything
    assert sorted(walked) == sorted([first.number, second.number, third.number])


def replace_pdf_keeps_every_digest_found(storage: Any) -> None:
    cert = issue(storage, "Y1")
    other = issue(storage, "Y2")
    original = b"%PDF-1.7 Y1"
    once = original + b" renewed"
    twice = once + b" again"
    with storage.transaction() as tx:
        tx.replace_pdf(cert.number, once, T0)
    with storage.transaction() as tx:
        tx.replace_pdf(cert.number, twice, T0 + timedelta(days=1))
    with storage.transaction() as tx:
        assert tx.get_pdf(cert.number) == twice
        assert tx.get_pdf(other.number) == b"%PDF-1.7 Y2"
        assert tx.get_certificate(cert.number) == cert  # pdf_sha256: the filed original's
        for data in (once, twice):  # the original: by its filed pdf_sha256, below
            found = tx.find_certificate_by_digest(hashlib.sha256(data).hexdigest())
            assert found is not None and found.number == cert.number
        assert tx.find_certificate_by_digest(cert.pdf_sha256) == cert


def replace_pdf_only_extends_and_rolls_back(storage: Any) -> None:
    cert = issue(storage, "Y1")
    original = b"%PDF-1.7 Y1"
    for bad in (b"%PDF-1.7 Y2 other", original, b"%PDF-1.7"):
        with raises(StorageError, match="extends"), storage.transaction() as tx:
            tx.replace_pdf(cert.number, bad, T0)
    with raises(NotFound), storage.transaction() as tx:
        tx.replace_pdf("川(2024)成都市不动产权第9999999号", original + b"x", T0)
    with raises(RuntimeError), storage.transaction() as tx:
        tx.replace_pdf(cert.number, original + b" renewed", T0)
        raise RuntimeError("crash before commit")
    renewed = hashlib.sha256(original + b" renewed").hexdigest()
    with storage.transaction() as tx:
        assert tx.get_pdf(cert.number) == original
        assert tx.find_certificate_by_digest(renewed) is None


# ---------------------------------------------- holders and sharing parties (rule articles 13, 16)


def certificates_for_holder(storage: Any) -> None:
    cert = issue(storage, "Y1")  # 王晓明 510104198503120176
    with storage.transaction() as tx:
        assert [c.number for c in tx.certificates_for_holder("510104198503120176")] == [cert.number]
        tx.set_cancelled(cert.number, "x", "Y9")
    with storage.transaction() as tx:
        (cancelled,) = tx.certificates_for_holder("510104198503120176")  # any status
        assert cancelled.status is CertificateStatus.CANCELLED
        assert tx.certificates_for_holder("51010419850312017") == []  # a prefix is not a match
        assert tx.certificates_for_holder("%") == []


def download_guard_round_trip(storage: Any) -> None:
    key = "a" * 64
    with storage.transaction() as tx:
        assert tx.download_guard(key) == DownloadGuard(key)
        tx.save_download_guard(DownloadGuard(key, (T0, T0 + timedelta(minutes=1)), None))
    with storage.transaction() as tx:
        guard = tx.download_guard(key)
        assert guard.failures == (T0, T0 + timedelta(minutes=1)) and guard.locked_until is None
        tx.save_download_guard(DownloadGuard(key, (), T0 + timedelta(minutes=30)))
        assert tx.download_guard("b" * 64) == DownloadGuard("b" * 64)
    with storage.transaction() as tx:
        assert tx.download_guard(key) == DownloadGuard(key, (), T0 + timedelta(minutes=30))
    with raises(RuntimeError), storage.transaction() as tx:
        tx.save_download_guard(DownloadGuard(key))
        raise RuntimeError("rolled back")
    with storage.transaction() as tx:
        assert tx.download_guard(key).locked_until == T0 + timedelta(minutes=30)


def download_guard_keeps_lockouts_and_holds(storage: Any) -> None:
    """The count of lockouts and a hold until a clerk unlocks survive the transaction."""
    key = "c" * 64
    held = DownloadGuard(key, (), None, lockouts=3, held=True)
    with storage.transaction() as tx:
        tx.save_download_guard(DownloadGuard(key, (T0,), T0, lockouts=2))
    with storage.transaction() as tx:
        assert tx.download_guard(key) == DownloadGuard(key, (T0,), T0, lockouts=2)
        tx.save_download_guard(held)
    with storage.transaction() as tx:
        assert tx.download_guard(key) == held
        tx.save_download_guard(DownloadGuard(key))
    with storage.transaction() as tx:
        assert tx.download_guard(key) == DownloadGuard(key)


def download_codes(storage: Any) -> None:
    """Second factors per registration and identity; a new one replaces the old."""
    key, other = "d" * 64, "e" * 64
    with storage.transaction() as tx:
        assert tx.download_codes(key) == {}
        tx.save_download_code("510100-2024-000101", key, "scrypt$a", T0, "registrar")
        tx.save_download_code("510100-2024-000102", key, "scrypt$b", T0, "registrar")
        tx.save_download_code("510100-2024-000101", other, "scrypt$c", T0, "registrar")
    with storage.transaction() as tx:
        assert tx.download_codes(key) == {
            "510100-2024-000101": "scrypt$a",
            "510100-2024-000102": "scrypt$b",
        }
        tx.save_download_code("510100-2024-000101", key, "scrypt$d", T0, "platform")
    with storage.transaction() as tx:
        assert tx.download_codes(key)["510100-2024-000101"] == "scrypt$d"
        assert tx.download_codes(other) == {"510100-2024-000101": "scrypt$c"}


def agreements(storage: Any) -> None:
    def make(agreement_id: str, party: str, signed: date) -> SharingAgreement:
        return SharingAgreement(
            id=agreement_id,
            party=party,
            purpose="抵押贷款审查",
            authorities=("510100", "510700"),
            fields=("number", "zl"),
            valid_from=T0,
            valid_to=T0 + timedelta(days=365),
            signed_on=signed,
            created_at=T0,
            created_by="platform",
        )

    first = make("SA-2", "bank", date(2024, 1, 2))
    second = make("SA-1", "bank", date(2024, 2, 1))
    other = make("SA-3", "agency", date(2024, 1, 1))
    with storage.transaction() as tx:
        for agreement in (first, second, other):
            tx.add_agreement(agreement)
    with storage.transaction() as tx:
        assert tx.get_agreement("SA-2") == first
        assert [a.id for a in tx.agreements()] == ["SA-3", "SA-2", "SA-1"]
        assert [a.id for a in tx.agreements("bank")] == ["SA-2", "SA-1"]
        with raises(NotFound):
            tx.get_agreement("SA-9")
    with raises(StorageError), storage.transaction() as tx:
        tx.add_agreement(first)
    at = T0 + timedelta(days=3)
    with storage.transaction() as tx:
        revoked = tx.revoke_agreement("SA-2", at=at, reason="终止", by="platform")
    assert revoked == attrs.evolve(
        first, revoked_at=at, revoke_reason="终止", revoked_by="platform"
    )
    with storage.transaction() as tx:
        assert tx.get_agreement("SA-2") == revoked
        with raises(NotFound):
            tx.revoke_agreement("SA-9", at=at, reason="x", by="platform")
    with raises(StorageError), storage.transaction() as tx:
        tx.revoke_agreement("SA-2", at=at, reason="again", by="platform")


#: The role protocols of :class:`~bdcert.protocols.StorageTransaction`, in order.
ROLES = (
    "RegistrationRecords",
    "CertificateRecords",
    "AuditRecords",
    "OutboxRecords",
    "BacklogRecords",
    "HolderRecords",
    "AgreementRecords",
)

#: Every scenario, by the role it exercises; each takes an empty store.
SCENARIOS: Mapping[str, tuple[Callable[[Any], None], ...]] = {
    "RegistrationRecords": (
        round_trip,
        rollback_leaves_nothing_and_no_gap,
        rollback_after_a_commit_reuses_no_number,
        sequences_are_per_authority_year_and_kind,
        duplicate_business_number_is_refused,
    ),
    "CertificateRecords": (
        status_changes,
        paper_dispositions,
        unit_restrictions,
        ofd_documents,
        certificate_numbers_page_through_every_status,
        replace_pdf_keeps_every_digest_found,
        replace_pdf_only_extends_and_rolls_back,
    ),
    "AuditRecords": (
        audit_chain,
        audit_hashes_follow_the_formula,
        audit_checkpoints,
        audit_checkpoint_numbers_roll_back_without_a_gap,
    ),
    "OutboxRecords": (
        outbox_round_trip,
        outbox_is_oldest_first_per_notifier,
        outbox_mark_delivered_removes_the_event,
        outbox_failures_are_counted,
        outbox_rolls_back_with_the_transaction,
    ),
    "BacklogRecords": (
        backlog_round_trip_in_order,
        backlog_failures_and_completion,
        backlog_rolls_back_with_the_transaction,
        backlog_refuses_naive_times,
    ),
    "HolderRecords": (
        certificates_for_holder,
        download_guard_round_trip,
        download_guard_keeps_lockouts_and_holds,
        download_codes,
    ),
    "AgreementRecords": (agreements,),
}


def _contract_test(scenario: Callable[[Any], None]) -> Callable[[Any, Any], None]:
    def test(self: Any, storage: Any) -> None:
        scenario(storage)

    test.__name__ = test.__qualname__ = f"test_{scenario.__name__}"
    test.__doc__ = scenario.__doc__
    return test


class StorageContract:
    """Subclass and provide a ``storage`` fixture (an empty store): one test per scenario of
    :data:`SCENARIOS`, named ``test_<scenario>``."""

    for _scenarios in SCENARIOS.values():
        for _scenario in _scenarios:
            locals()[f"test_{_scenario.__name__}"] = _contract_test(_scenario)
    del _scenarios, _scenario
