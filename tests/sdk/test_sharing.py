"""Sharing agreements (rule article 16): only an active agreement covering the certificate's
authority opens it, only the granted fields come back, and every access, denial, addition and
revocation is in the audit log with the agreement's id."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from bdcert.errors import NotFound, PermissionDenied, ValidationError
from bdcert.lifecycle import Registry
from bdcert.model import CHINA_TZ
from tests.support import run_cli

CHENGDU = "川(2024)成都市不动产权第0000001号"
MIANYANG = "川(2024)绵阳市不动产权第0000001号"
BANK = "bank-shuchuan"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 6, 1, 9, 0, tzinfo=CHINA_TZ)

    def __call__(self) -> datetime:
        return self.now


def agreement(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": "SA-2024-001",
        "party": BANK,
        "purpose": "抵押贷款审查",
        "authorities": ["510100"],
        "fields": ["number", "status", "zl", "qlr"],
        "valid_from": "2024-01-01",
        "valid_to": "2025-12-31",
        "signed_on": "2023-12-20",
    }
    raw.update(changes)
    return raw


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(workspace: Any, timeline: list[dict[str, Any]], clock: Clock) -> Iterator[Registry]:
    with Registry.open(workspace.path, clock=clock) as r:
        platform = r.authenticate({"operator": "platform"})
        r.push(timeline[0], principal=platform)  # 成都 0000001, 王晓明
        r.push(timeline[5], principal=platform)  # 绵阳 0000001, 吴秀英
        r.add_agreement(agreement(), principal=platform)
        yield r


def _log(registry: Registry, action: str | None = None) -> list[Any]:
    auditor = registry.authenticate({"operator": "auditor"})
    return [
        e for e in registry.audit_log(principal=auditor) if action is None or e.action == action
    ]


def test_the_status_says_restricted_without_granting_the_seizure(
    registry: Registry, timeline: list[dict[str, Any]]
) -> None:
    """A bank granted ``status`` but not ``restrictions`` still learns that a seizure binds the
    property (verify and lookup say RESTRICTED), not its court or document."""
    platform = registry.authenticate({"operator": "platform"})
    seized = registry.push(timeline[1], principal=platform).numbers[0]  # 成都 0000002
    registry.push(timeline[19], principal=platform)  # 查封 of that unit
    shared = registry.share(seized, principal=registry.authenticate({"operator": BANK}))
    assert shared.fields["status"]["restricted"] is True
    assert "restrictions" not in shared.fields
    assert "法院" not in json.dumps(shared.to_wire(), ensure_ascii=False)


def test_an_active_agreement_gives_only_the_granted_fields(registry: Registry) -> None:
    bank = registry.authenticate({"operator": BANK})
    shared = registry.share(CHENGDU, principal=bank)
    assert shared.agreement_id == "SA-2024-001" and shared.number == CHENGDU
    assert list(shared.fields) == ["number", "status", "zl", "qlr"]
    assert shared.fields["number"] == CHENGDU
    assert shared.fields["status"] == {
        "status": "valid",
        "restricted": False,
        "superseded_by": [],
        "cancel_reason": None,
    }
    assert shared.fields["qlr"] == "王晓明"
    assert "510104198503120176" not in json.dumps(shared.to_wire(), ensure_ascii=False)
    (event,) = _log(registry, "share")
    assert event.actor == BANK and event.subject == CHENGDU
    assert event.details["agreement"] == "SA-2024-001"
    assert event.details["fields"] == ["number", "status", "zl", "qlr"]


def test_holders_with_their_id_numbers_only_when_granted(registry: Registry) -> None:
    platform = registry.authenticate({"operator": "platform"})
    registry.add_agreement(
        agreement(id="SA-2024-002", fields=["holders", "unit_numbers", "restrictions"]),
        principal=platform,
    )
    bank = registry.authenticate({"operator": BANK})
    shared = registry.share(CHENGDU, principal=bank, agreement_id="SA-2024-002")
    assert shared.fields == {
        "holders": [{"mc": "王晓明", "zjzl": "1", "zjh": "510104198503120176", "qlbl": None}],
        "unit_numbers": ["510104001001GB00001F00010001"],
        "restrictions": [],
    }
    assert [e.details["agreement"] for e in _log(registry, "share")] == ["SA-2024-002"]


def test_names_in_shared_free_text_are_masked_unless_the_holders_are_granted(
    registry: Registry, timeline: list[dict[str, Any]]
) -> None:
    """The review: granted ``status`` but not the holders, a bank read the cancellation reason
    in clear ("应义务人王晓明申请注销") where lookup masks it; so too a granted 附记 listing the
    co-owners. Masked as lookup masks them, unless ``holders`` or ``qlr`` is granted."""
    platform = registry.authenticate({"operator": "platform"})
    (proof,) = registry.push(timeline[8], principal=platform).numbers  # 抵押, 义务人 王晓明
    cancel = copy.deepcopy(timeline[18])
    cancel["zxyy"] = "应义务人王晓明申请注销"
    registry.push(cancel, principal=platform)
    (shared,) = registry.push(timeline[1], principal=platform).numbers  # fj 共有人：陈建国、刘芳
    for grant in (["number", "status", "fj"], ["number", "status", "fj", "qlr"]):
        registry.add_agreement(agreement(id=f"SA-{len(grant)}", fields=grant), principal=platform)
    bank = registry.authenticate({"operator": BANK})
    masked = registry.share(proof, principal=bank, agreement_id="SA-3").fields
    assert masked["status"]["status"] == "cancelled"
    assert masked["status"]["cancel_reason"] == "应义务人王*明申请注销"
    fj = registry.share(shared, principal=bank, agreement_id="SA-3").fields["fj"]
    assert "陈建国" not in fj and "刘芳" not in fj and "陈*国" in fj
    full = registry.share(proof, principal=bank, agreement_id="SA-4").fields
    assert full["status"]["cancel_reason"] == "应义务人王晓明申请注销"
    assert "陈建国" in registry.share(shared, principal=bank, agreement_id="SA-4").fields["fj"]


def test_an_agreement_not_covering_the_authority_denies(registry: Registry) -> None:
    bank = registry.authenticate({"operator": BANK})
    with pytest.raises(PermissionDenied, match="does not cover authority 510700"):
        registry.share(MIANYANG, principal=bank)
    (denial,) = _log(registry, "deny")
    assert denial.actor == BANK and denial.subject == MIANYANG
    assert denial.details["action"] == "share" and denial.details["authority"] == "510700"
    assert denial.details["considered"] == ["SA-2024-001"]
    assert _log(registry, "share") == []


def test_expired_and_not_yet_valid_agreements_deny(registry: Registry, clock: Clock) -> None:
    bank = registry.authenticate({"operator": BANK})
    platform = registry.authenticate({"operator": "platform"})
    registry.add_agreement(
        agreement(id="SA-2026-001", valid_from="2026-01-01", valid_to="2026-12-31"),
        principal=platform,
    )
    with pytest.raises(PermissionDenied, match="SA-2026-001 is not yet valid"):
        registry.share(CHENGDU, principal=bank, agreement_id="SA-2026-001")
    clock.now = datetime(2025, 12, 31, 23, 59, tzinfo=CHINA_TZ)  # the last day still counts
    assert registry.share(CHENGDU, principal=bank).agreement_id == "SA-2024-001"
    clock.now = datetime(2026, 1, 1, 0, 0, tzinfo=CHINA_TZ)  # SA-2024-001 ended, SA-2026 begins
    assert registry.share(CHENGDU, principal=bank).agreement_id == "SA-2026-001"
    with pytest.raises(PermissionDenied, match="SA-2024-001 is expired"):
        registry.share(CHENGDU, principal=bank, agreement_id="SA-2024-001")
    clock.now = datetime(2027, 1, 1, tzinfo=CHINA_TZ)
    with pytest.raises(PermissionDenied, match="expired"):
        registry.share(CHENGDU, principal=bank)
    denials = _log(registry, "deny")
    assert [d.details["agreement"] for d in denials] == ["SA-2026-001", "SA-2024-001", None]
    assert denials[-1].details["considered"] == ["SA-2024-001", "SA-2026-001"]
    assert [e.details["agreement"] for e in _log(registry, "share")] == [
        "SA-2024-001",
        "SA-2026-001",
    ]


def test_a_revoked_agreement_denies_from_the_moment_of_revocation(
    registry: Registry, clock: Clock
) -> None:
    bank = registry.authenticate({"operator": BANK})
    platform = registry.authenticate({"operator": "platform"})
    assert registry.share(CHENGDU, principal=bank)
    clock.now += timedelta(hours=1)
    revoked = registry.revoke_agreement("SA-2024-001", reason="贷款已结清", principal=platform)
    assert revoked.revoked_at == clock.now and revoked.revoke_reason == "贷款已结清"
    assert revoked.revoked_by == "platform"
    with pytest.raises(PermissionDenied, match="SA-2024-001 is revoked"):
        registry.share(CHENGDU, principal=bank)
    with pytest.raises(ValidationError, match="was revoked"):
        registry.revoke_agreement("SA-2024-001", reason="again", principal=platform)
    with pytest.raises(ValidationError) as blank:
        registry.revoke_agreement("SA-2024-001", reason=" ", principal=platform)
    assert blank.value.fields == ("reason",)
    with pytest.raises(NotFound):
        registry.revoke_agreement("SA-none", reason="x", principal=platform)
    (revocation,) = _log(registry, "agreement_revoke")
    assert revocation.subject == "SA-2024-001" and revocation.details["reason"] == "贷款已结清"
    (added,) = _log(registry, "agreement_add")
    assert added.actor == "platform" and added.details["party"] == BANK
    (denial,) = _log(registry, "deny")
    assert denial.details["considered"] == ["SA-2024-001"]


def test_another_partys_agreement_and_unknown_numbers(registry: Registry, workspace: Any) -> None:
    platform = registry.authenticate({"operator": "platform"})
    registry.add_agreement(agreement(id="SA-OTHER", party="other-bank"), principal=platform)
    bank = registry.authenticate({"operator": BANK})
    with pytest.raises(PermissionDenied, match="has no agreement SA-OTHER"):
        registry.share(CHENGDU, principal=bank, agreement_id="SA-OTHER")
    with pytest.raises(NotFound):  # an active agreement: the number is simply unknown
        registry.share("川(2024)成都市不动产权第0999999号", principal=bank)
    registry.revoke_agreement("SA-2024-001", reason="ended", principal=platform)
    with pytest.raises(PermissionDenied):  # no active agreement: nothing is revealed
        registry.share("川(2024)成都市不动产权第0999999号", principal=bank)
    assert [e.details["agreement"] for e in _log(registry, "deny")] == ["SA-OTHER", None]
    (unknown,) = _log(registry, "share")
    assert unknown.details == {"agreement": "SA-2024-001", "found": False}


def test_only_sharing_parties_share_and_they_never_read(registry: Registry) -> None:
    bank = registry.authenticate({"operator": BANK})
    with pytest.raises(PermissionDenied):
        registry.certificate(CHENGDU, principal=bank)
    with pytest.raises(PermissionDenied):
        registry.pdf(CHENGDU, principal=bank)
    clerk = registry.authenticate({"operator": "registrar-510100"})
    with pytest.raises(PermissionDenied):
        registry.share(CHENGDU, principal=clerk)
    with pytest.raises(PermissionDenied):  # only the platform adds agreements
        registry.add_agreement(agreement(id="SA-9"), principal=clerk)
    with pytest.raises(PermissionDenied):
        registry.revoke_agreement("SA-2024-001", reason="x", principal=bank)
    denials = _log(registry, "deny")
    assert [(d.actor, d.details["action"]) for d in denials] == [
        (BANK, "read"),
        (BANK, "read"),
        ("registrar-510100", "share"),
        ("registrar-510100", "manage_agreements"),
        (BANK, "manage_agreements"),
    ]


def test_bad_agreement_input_is_one_error_naming_every_field(registry: Registry) -> None:
    platform = registry.authenticate({"operator": "platform"})
    bad = agreement(
        id="bad id!",
        party=" ",
        purpose=None,
        authorities=["510100", "999999", "510100"],
        fields=["number", "salary"],
        valid_from="2025-01-01T00:00:00",
        valid_to="someday",
        signed_on="2023-02-30",
        colour="red",
    )
    with pytest.raises(ValidationError) as caught:
        registry.add_agreement(bad, principal=platform)
    assert set(caught.value.fields) == {
        "colour",
        "id",
        "party",
        "purpose",
        "authorities[1]",
        "authorities[2]",
        "fields[1]",
        "valid_from",
        "valid_to",
        "signed_on",
    }
    with pytest.raises(ValidationError) as order:
        registry.add_agreement(
            agreement(id="SA-X", valid_from="2025-01-01", valid_to="2024-12-31", fields=[]),
            principal=platform,
        )
    assert set(order.value.fields) == {"fields", "valid_to"}
    with pytest.raises(ValidationError) as again:
        registry.add_agreement(agreement(), principal=platform)
    assert again.value.fields == ("id",)
    assert [a.id for a in registry.agreements(principal=platform)] == ["SA-2024-001"]


def test_times_and_listing(registry: Registry) -> None:
    platform = registry.authenticate({"operator": "platform"})
    made = registry.add_agreement(
        agreement(
            id=None,
            party="other-bank",
            valid_from=datetime(2024, 3, 1, 8, 30, tzinfo=CHINA_TZ),
            valid_to="2024-12-31T18:00:00+00:00",
            signed_on="2024-02-28",
            fields=["kind", "licence_id", "authority", "issued_at", "zmsx"],
        ),
        principal=platform,
    )
    assert made.id.startswith("SA-")
    assert made.valid_to == datetime(2025, 1, 1, 2, 0, tzinfo=CHINA_TZ)
    first = registry.agreements(principal=platform)[0]
    assert first.valid_from == datetime(2024, 1, 1, tzinfo=CHINA_TZ)
    assert first.valid_to.date().isoformat() == "2025-12-31" and first.valid_to.hour == 23
    assert [a.id for a in registry.agreements(principal=platform)] == ["SA-2024-001", made.id]
    bank = registry.authenticate({"operator": BANK})
    assert [a.id for a in registry.agreements(principal=bank)] == ["SA-2024-001"]
    assert [a.id for a in registry.agreements(principal=bank, party="other-bank")] == [
        "SA-2024-001"
    ]
    holder = registry.authenticate({"operator": "holder-wang"})
    with pytest.raises(PermissionDenied):
        registry.agreements(principal=holder)


def test_agreement_and_share_commands(registry: Registry, workspace: Any) -> None:
    added = run_cli(
        workspace,
        "agreements",
        "add",
        "--id",
        "SA-CLI",
        "--party",
        BANK,
        "--purpose",
        "贷后管理",
        "--authority",
        "510700",
        "--field",
        "number",
        "--field",
        "zl",
        "--valid-from",
        "2024-01-01",
        "--valid-to",
        "2999-12-31",
        "--signed-on",
        "2023-12-01",
        "--json",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["authorities"] == ["510700"]
    listed = run_cli(workspace, "agreements", "list", "--json", "--operator", "auditor")
    assert listed.returncode == 0, listed.stderr
    ids = [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    assert ids == ["SA-CLI", "SA-2024-001"]  # by signed date
    shared = run_cli(workspace, "share", MIANYANG, "--operator", BANK, "--json")
    assert shared.returncode == 0, shared.stderr
    answer = json.loads(shared.stdout)
    assert answer["agreement"] == "SA-CLI" and list(answer["fields"]) == ["number", "zl"]
    revoked = run_cli(workspace, "agreements", "revoke", "SA-CLI", "--reason", "协议终止")
    assert revoked.returncode == 0, revoked.stderr
    refused = run_cli(workspace, "share", MIANYANG, "--operator", BANK, "--agreement", "SA-CLI")
    assert refused.returncode == 1 and "revoked" in refused.stderr
    bad = run_cli(
        workspace,
        "agreements",
        "add",
        "--party",
        BANK,
        "--purpose",
        "x",
        "--authority",
        "000000",
        "--field",
        "salary",
        "--valid-from",
        "2024-01-01",
        "--valid-to",
        "2024-12-31",
        "--signed-on",
        "2024-01-01",
    )
    assert bad.returncode == 2 and "authorities[0]" in bad.stderr and "fields[0]" in bad.stderr


# ----------------------------------------------------------------------------- every path (issue 9)


def test_a_sharing_party_sees_exactly_its_grant_through_every_path(registry: Registry) -> None:
    """Granted number, status, zl, qlr: lookup and verify show those face items and no other
    (the review found the 16 face items of a property certificate through lookup); show,
    status and download are refused; without a covering agreement nothing of the face."""
    platform = registry.authenticate({"operator": "platform"})
    bank = registry.authenticate({"operator": BANK})
    cert = registry.certificate(CHENGDU, principal=platform)
    assert len(cert.face) == 16
    pdf = registry.pdf(CHENGDU, principal=platform)
    for verdict in (
        registry.lookup(token=cert.token, principal=bank),
        registry.lookup(number=CHENGDU, name="王晓明", principal=bank),
        registry.verify(pdf, principal=bank),
    ):
        seen = verdict.certificate
        assert seen is not None
        assert verdict.granted_fields == {"number", "status", "zl", "qlr"}
        assert {i.key for i in seen.face} == {"zl", "qlr"}, verdict
        assert seen.holders == () and seen.unit_numbers == () and seen.licence_id == ""
        # never granted: the QR token (a bearer secret), its URL, the 业务号, the file's digest
        assert seen.token == seen.verification_url == seen.business_number == ""
        assert seen.pdf_sha256 == "" and seen.restrictions == ()
        assert seen.number == CHENGDU and seen.status == cert.status  # granted
    with pytest.raises(PermissionDenied):
        registry.certificate(CHENGDU, principal=bank)  # show and status
    with pytest.raises(PermissionDenied):
        registry.pdf(CHENGDU, principal=bank)  # download
    mianyang = registry.certificate(MIANYANG, principal=platform)
    outside = registry.lookup(token=mianyang.token, principal=bank).certificate
    assert outside is not None and outside.face == () and outside.holders == ()
    lookups = [e for e in _log(registry, "lookup") if e.actor == BANK]
    assert [e.details.get("granted_fields") for e in lookups] == [
        ["number", "qlr", "status", "zl"],
        ["number", "qlr", "status", "zl"],
        [],
    ]


def test_a_registrar_of_another_authority_sees_no_more_by_lookup_than_by_show(
    registry: Registry,
) -> None:
    platform = registry.authenticate({"operator": "platform"})
    other = registry.authenticate({"operator": "registrar-510700"})
    own = registry.authenticate({"operator": "registrar-510100"})
    cert = registry.certificate(CHENGDU, principal=platform)
    with pytest.raises(PermissionDenied):
        registry.certificate(CHENGDU, principal=other)
    seen = registry.lookup(token=cert.token, principal=other).certificate
    public = registry.lookup(token=cert.token).certificate
    assert seen == public and seen is not None
    assert seen.face_value("qlr") == "王*明" and seen.holders[0].id_number == "5101**********0176"
    assert registry.lookup(number=CHENGDU, principal=other).code.value == "unknown_certificate"
    verified = registry.verify(registry.pdf(CHENGDU, principal=platform), principal=other)
    assert verified.certificate is not None
    assert verified.certificate.holders[0].id_number == "5101**********0176"
    assert registry.lookup(number=CHENGDU, principal=own).certificate == cert  # its own: in full


def test_a_sharing_partys_json_lookup_has_only_the_granted_keys(
    registry: Registry, workspace: Any
) -> None:
    """The user's report: granted (number, holders, qlr, fj, zl), ``lookup --json`` also gave
    ywh, kind, issued_at, status, restricted, the verification_url carrying the QR token, and
    licence_id as "". Now: the number, the granted face items, nothing else (holders is no
    key of the CLI's certificate)."""
    platform = registry.authenticate({"operator": "platform"})
    registry.add_agreement(
        agreement(
            id="SA-NARROW",
            fields=["number", "holders", "qlr", "fj", "zl"],
            valid_to="2099-12-31",
        ),
        principal=platform,
    )
    registry.revoke_agreement("SA-2024-001", reason="replaced", principal=platform)
    token = registry.certificate(CHENGDU, principal=platform).token
    for how in (("--number", CHENGDU, "--name", "王晓明"), ("--token", token)):
        done = run_cli(workspace, "lookup", *how, "--operator", BANK, "--json")
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert set(answer) == {"verdict", "detail", "certificate"}
        assert answer["verdict"] == "valid"
        shown = answer["certificate"]
        assert set(shown) == {"number", "face"}, shown
        assert shown["number"] == CHENGDU
        assert set(shown["face"]) <= {"qlr", "fj", "zl"} and "zl" in shown["face"]
        assert token not in done.stdout
