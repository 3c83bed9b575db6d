"""The tamper-evident audit log (rule article 17): every denial is logged; ``bdcert audit verify``
finds an edited or deleted record and names it; ``bdcert audit show`` filters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bdcert.errors import PermissionDenied
from bdcert.lifecycle import Registry
from tests.support import run_cli


@pytest.fixture
def issued(workspace: Any, timeline: list[dict[str, Any]]) -> Any:
    with Registry.open(workspace.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        registry.push(timeline[0], principal=platform)  # 成都
        registry.push(timeline[5], principal=platform)  # 绵阳
    return workspace


def test_a_denied_read_is_refused_and_logged(issued: Any) -> None:
    with Registry.open(issued.path) as registry:
        chengdu = registry.authenticate({"operator": "registrar-510100"})
        with pytest.raises(PermissionDenied, match="510700"):
            registry.certificate("川(2024)绵阳市不动产权第0000001号", principal=chengdu)
        auditor = registry.authenticate({"operator": "auditor"})
        (denial,) = registry.audit_log(principal=auditor, actor="registrar-510100")
        assert denial.action == "deny" and denial.subject == "川(2024)绵阳市不动产权第0000001号"
        with pytest.raises(PermissionDenied):
            registry.audit_log(principal=chengdu)  # a registrar is no auditor


def test_audit_verify_names_an_edited_or_deleted_record(issued: Any) -> None:
    ok = run_cli(issued, "audit", "verify", "--operator", "auditor")
    assert ok.returncode == 0 and "intact" in ok.stdout
    engine = create_engine(issued.table("storage")["url"])  # the test's own database
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = 1"))
    edited = run_cli(issued, "audit", "verify", "--operator", "auditor")
    assert edited.returncode == 1 and "1" in edited.stdout and "BROKEN" in edited.stdout
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 2"))
    deleted = run_cli(issued, "audit", "verify", "--operator", "auditor")
    assert deleted.returncode == 1 and deleted.stdout.count("BROKEN") >= 2
    engine.dispose()


def test_audit_show_filters(issued: Any) -> None:
    shown = run_cli(
        issued,
        "audit",
        "show",
        "--json",
        "--certificate",
        "川(2024)成都市不动产权第0000001号",
        "--operator",
        "auditor",
    )
    assert shown.returncode == 0, shown.stderr
    events = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [e["action"] for e in events] == ["issue"]
    assert events[0]["actor"] == "platform"
    later = run_cli(
        issued,
        "audit",
        "show",
        "--json",
        "--since",
        "2999-01-01T00:00:00+08:00",
        "--operator",
        "auditor",
    )
    assert later.returncode == 0 and later.stdout.strip() == ""
