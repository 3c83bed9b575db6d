"""Integrity attacks of the issue-9 review: another authority's business number, invisible
names, repeated JSON keys (entries and audit details), a register edited outside the log.

Every test failed before its fix and passes now; each runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from sqlalchemy import select, update

from bdcert.audit import register_problems
from bdcert.errors import ValidationError
from bdcert.lifecycle import Registry
from bdcert.model import AuditEvent, CertificateStatus, Outcome
from bdcert_plugins.storage_sql.schema import audit_events, certificates, pdfs
from tests.support import make_workspace, raw_database, run_cli

CHENGDU_1 = "川(2024)成都市不动产权第0000001号"


def _entry(timeline: list[dict[str, Any]], ywh: str) -> dict[str, Any]:
    return copy.deepcopy(next(e for e in timeline if e["ywh"] == ywh))


def test_a_registrar_cannot_record_or_block_another_authoritys_business_number(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """Review: a registrar of 成都 pushed under 绵阳's ywh, so 绵阳's real entry was refused."""
    with Registry.open(workspace.path) as registry:
        chengdu = registry.authenticate({"operator": "registrar-510100"})
        mianyang = registry.authenticate({"operator": "registrar-510700"})
        forged = _entry(timeline, "510100-2024-000101")
        forged["ywh"] = "510700-2024-000201"
        with pytest.raises(ValidationError) as caught:
            registry.push(forged, principal=chengdu)
        assert [p.field for p in caught.value.problems] == ["ywh"]
        assert "510700" in caught.value.problems[0].message
        real = registry.push(_entry(timeline, "510700-2024-000201"), principal=mianyang)
        assert real.outcome is Outcome.ISSUED


def test_a_full_width_business_number_of_another_authority_is_refused(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """Review: "５１０７００-2024-000201" (full-width prefix) pushed by 成都 was issued: the
    ASCII-only prefix check bound it to nobody."""
    with Registry.open(workspace.path) as registry:
        chengdu = registry.authenticate({"operator": "registrar-510100"})
        forged = _entry(timeline, "510100-2024-000101")
        forged["ywh"] = "\uff15\uff11\uff10\uff17\uff10\uff10-2024-000201"
        with pytest.raises(ValidationError) as caught:
            registry.push(forged, principal=chengdu)
        assert [p.field for p in caught.value.problems] == ["ywh"]
        assert "510700" in caught.value.problems[0].message


def test_a_holder_named_by_variation_selectors_is_refused(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """Review: a holder named U+FE0F U+FE0E (two variation selectors) was issued."""
    with Registry.open(workspace.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        entry = _entry(timeline, "510100-2024-000101")
        entry["qlr"][0]["mc"] = "\ufe0f\ufe0e"
        with pytest.raises(ValidationError) as caught:
            registry.push(entry, principal=platform)
        assert [p.field for p in caught.value.problems] == ["qlr[0].mc"]


def test_a_holder_named_by_an_invisible_character_is_refused(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """Review: a holder named U+3164 gave a sealed certificate with a blank 权利人 row."""
    with Registry.open(workspace.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        entry = _entry(timeline, "510100-2024-000101")
        entry["qlr"][0]["mc"] = "\u3164"
        with pytest.raises(ValidationError) as caught:
            registry.push(entry, principal=platform)
        assert [p.field for p in caught.value.problems] == ["qlr[0].mc"]


def test_an_entry_line_with_a_repeated_key_is_rejected_naming_it(
    tmp_path: Any, timeline: list[dict[str, Any]]
) -> None:
    """Review: duplicate JSON keys in an entry were silently last-wins."""
    ws = make_workspace(tmp_path / "ws")
    text = json.dumps(_entry(timeline, "510100-2024-000101"), ensure_ascii=False)
    line = text[:-1] + ', "qlr": [{"mc": "李四", "zjzl": "1", "zjh": "510104198503120176"}]}'
    (tmp_path / "in.jsonl").write_text(line + "\n", encoding="utf-8")
    done = run_cli(ws, "issue", str(tmp_path / "in.jsonl"), "--json")
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(x) for x in done.stdout.splitlines()]
    assert record["outcome"] == "rejected"
    assert [e["field"] for e in record["errors"]] == ["qlr"]
    with Registry.open(ws.path) as registry:
        auditor = registry.authenticate({"operator": "auditor"})
        assert not [e for e in registry.audit_log(principal=auditor) if e.action == "issue"]


def test_an_audit_record_given_a_repeated_key_is_reported(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """Review: audit details with a repeated key were last-wins, so an edit that keeps the
    last value (what bdcert hashes) but shows another first value went unnoticed."""
    with Registry.open(workspace.path) as registry:
        registry.push(
            _entry(timeline, "510100-2024-000101"),
            principal=registry.authenticate({"operator": "platform"}),
        )
    with raw_database(workspace) as conn:
        row = conn.execute(select(audit_events).where(audit_events.c.action == "issue")).first()
        assert row is not None
        details = row.details
        forged = '{"pdf_sha256":"' + "0" * 64 + '",' + details[1:]
        assert json.loads(forged) == json.loads(details)  # what a last-wins reader sees
        conn.execute(update(audit_events).where(audit_events.c.id == row.id).values(details=forged))
    with Registry.open(workspace.path) as registry:
        problems = registry.verify_audit(principal=registry.authenticate({"operator": "auditor"}))
    assert any(str(row.id) in p for p in problems), problems


def test_a_superseded_certificate_set_back_to_valid_outside_bdcert_is_reported(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """Review: ``audit verify`` did not notice a register edited outside the log."""
    with Registry.open(workspace.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        registry.push(_entry(timeline, "510100-2024-000101"), principal=platform)
        registry.push(_entry(timeline, "510100-2024-000110"), principal=platform)
        auditor = registry.authenticate({"operator": "auditor"})
        assert registry.verify_audit(principal=auditor) == []
    with raw_database(workspace) as conn:
        conn.execute(
            update(certificates)
            .where(certificates.c.number == CHENGDU_1)
            .values(status=CertificateStatus.VALID.value)
        )
    with Registry.open(workspace.path) as registry:
        problems = registry.verify_audit(principal=registry.authenticate({"operator": "auditor"}))
    assert any(CHENGDU_1 in p and "superseded" in p for p in problems), problems


def test_another_certificates_file_put_in_a_certificates_row_is_reported(
    workspace: Any, timeline: list[dict[str, Any]]
) -> None:
    """Attack: the sealed file of a certificate no longer in force (here superseded) put into
    the ``pdfs`` row of its valid successor; ``audit verify`` stayed clean, and the successor's
    download gave the other file. Now it names the successor (and whose file it holds)."""
    with Registry.open(workspace.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        registry.push(_entry(timeline, "510100-2024-000101"), principal=platform)
        (successor,) = registry.push(
            _entry(timeline, "510100-2024-000110"), principal=platform
        ).certificates
        old = registry.pdf(CHENGDU_1, principal=platform)
        assert registry.verify_audit(principal=platform) == []
    victim = successor.certificate.number
    with raw_database(workspace) as conn:
        conn.execute(update(pdfs).where(pdfs.c.number == victim).values(pdf=old))
    with Registry.open(workspace.path) as registry:
        problems = registry.verify_audit(principal=registry.authenticate({"operator": "auditor"}))
    assert problems and all(victim in p for p in problems), problems
    assert any(f"file of {CHENGDU_1}" in p for p in problems), problems


def test_the_register_replay_finds_every_kind_of_edit() -> None:
    from datetime import datetime

    from bdcert.model import CHINA_TZ

    at = datetime(2024, 5, 1, tzinfo=CHINA_TZ)
    log = [
        AuditEvent("issue", "p", "A", at, {"pdf_sha256": "a" * 64}),
        AuditEvent("issue", "p", "B", at, {"pdf_sha256": "b" * 64}),
        AuditEvent("issue", "p", "C", at, {"pdf_sha256": "c" * 64}),
        AuditEvent("issue", "p", "D", at, {"pdf_sha256": "d" * 64}),
        AuditEvent("cancel", "p", "A", at, {"reason": "主债权消灭"}),
        AuditEvent("restrict", "p", "B", at, {}),
        AuditEvent("verify", "x", "C", at, {"code": "valid"}),
    ]

    class Cert:
        def __init__(
            self,
            sha: str,
            status: CertificateStatus,
            reason: str | None = None,
            restrictions: int = 0,
        ) -> None:
            self.pdf_sha256 = sha
            self.status = status
            self.cancel_reason = reason
            self.superseded_by: tuple[str, ...] = ()
            self.restrictions = (None,) * restrictions

    honest = {
        "A": Cert("a" * 64, CertificateStatus.CANCELLED, "主债权消灭"),
        "B": Cert("b" * 64, CertificateStatus.VALID, restrictions=1),
        "C": Cert("c" * 64, CertificateStatus.VALID),
        "D": Cert("d" * 64, CertificateStatus.VALID),
    }
    assert register_problems(log, honest.get) == []  # type: ignore[arg-type]
    edited = {
        "A": Cert("a" * 64, CertificateStatus.VALID),  # cancelled, set valid again
        "B": Cert("b" * 64, CertificateStatus.VALID),  # restriction deleted
        "C": Cert("e" * 64, CertificateStatus.VALID),  # file replaced
    }  # D deleted
    problems = register_problems(log, edited.get)  # type: ignore[arg-type]
    assert len(problems) == 4, problems
    assert [p.split()[1].rstrip(":") for p in problems] == ["A", "B", "C", "D"]
