"""Verification for holders by QR token or certificate number (rule article 14): the register's
answer, with no more personal data than the asker may see."""

from __future__ import annotations

from typing import Any

import pytest

from bdcert.access import _mask_parties, mask_id_number, mask_name
from bdcert.lifecycle import Registry


@pytest.fixture
def registry(workspace: Any, timeline: list[dict[str, Any]]) -> Any:
    with Registry.open(workspace.path) as r:
        platform = r.authenticate({"operator": "platform"})
        for raw in (
            timeline[0],
            timeline[2],
            timeline[13],
        ):  # 0000001, 0000002/3, 0000004 supersedes 1
            r.push(raw, principal=platform)
        yield r


def test_anonymous_lookup_by_token_masks_personal_data(registry: Any) -> None:
    platform = registry.authenticate({"operator": "platform"})
    cert = registry.certificate("川(2024)成都市不动产权第0000002号", principal=platform)
    verdict = registry.lookup(token=cert.token)
    assert verdict.code.value == "valid" and not verdict.trusted
    seen = verdict.certificate
    assert seen.number == cert.number
    assert seen.face_value("qlr") == "赵*"
    assert "赵磊" not in seen.face_value("gyqk") and "孙*" in seen.face_value("gyqk")
    assert seen.holders[0].id_number == "5101**********0552"
    assert seen.face_value("zl") == cert.face_value("zl")


def test_lookup_takes_the_whole_url_a_qr_scanner_returns(registry: Any) -> None:
    platform = registry.authenticate({"operator": "platform"})
    cert = registry.certificate("川(2024)成都市不动产权第0000002号", principal=platform)
    assert cert.verification_url.endswith("/" + cert.token)
    for asked in (cert.verification_url, f" {cert.verification_url}/?src=qr "):
        verdict = registry.lookup(token=asked)
        assert verdict.certificate is not None and verdict.certificate.number == cert.number
    other = cert.verification_url[: -len(cert.token)] + "not-a-token"
    assert registry.lookup(token=other).code.value == "unknown_certificate"


def test_lookup_by_number_names_the_successor_and_full_view_for_registrars(registry: Any) -> None:
    verdict = registry.lookup(number="川(2024)成都市不动产权第0000001号")
    assert verdict.code.value == "superseded"
    assert "川(2024)成都市不动产权第0000004号" in verdict.detail
    clerk = registry.authenticate({"operator": "registrar-510100"})
    full = registry.lookup(number="川(2024)成都市不动产权第0000004号", principal=clerk)
    assert full.certificate.face_value("qlr") == "李红"


def test_unknown_lookups_and_arguments(registry: Any) -> None:
    assert registry.lookup(token="no-such-token").code.value == "unknown_certificate"
    assert registry.lookup(number="川(2024)成都市不动产权第0999999号").code.value == (
        "unknown_certificate"
    )
    with pytest.raises(ValueError):
        registry.lookup()
    auditor = registry.authenticate({"operator": "auditor"})
    lookups = [e for e in registry.audit_log(principal=auditor) if e.action == "lookup"]
    assert [e.subject for e in lookups] == ["(unknown)", "(unknown)"]


def test_masking_rules() -> None:
    assert mask_name("王晓明") == "王*明" and mask_name("李红") == "李*"
    assert mask_name("锦城置业有限公司") == "锦城置业有限公司"
    assert mask_id_number("510104198503120176") == "5101**********0176"
    assert _mask_parties("单独所有") == "单独所有"
    assert _mask_parties("共同共有：陈建国、刘芳") == "共同共有：陈*国、刘*"
    assert _mask_parties("按份共有：赵磊占60%，何静占1/3") == "按份共有：赵*占60%，何*占1/3"


def test_lookup_command(registry: Any, workspace: Any) -> None:
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bdcert_adapters.cli",
            "lookup",
            "--number",
            "川(2024)成都市不动产权第0000004号",
            "--json",
            "--workspace",
            str(workspace.path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout)
    assert answer["verdict"] == "valid" and answer["certificate"]["face"]["qlr"] == "李*"
