"""Collection (归集, rule article 7 paragraph 2): a city with its own system (here a separate
bdcert workspace with its own demo PKI) issues certificates, the province checks and files them.

Every refusal reason is tested on its own: untrusted seal, changed byte, face value differing
from the entry, malformed number, duplicate number, wrong authority (seal and operator), token
mismatch. An accepted deposit is then found by token lookup and by :meth:`Registry.verify`.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.errors import ValidationError
from bdcert.lifecycle import Registry
from bdcert.model import Principal, VerdictCode
from tests.service.conftest import Served, copy_served
from tests.service.issued import ISSUED_FIXTURE
from tests.support import require_tool

issued = ISSUED_FIXTURE

EXAMPLES = Path(__file__).resolve().parents[2] / "adapters/bdcert_adapters/examples"
ENTRIES = {
    e["ywh"]: e
    for e in map(json.loads, (EXAMPLES / "sichuan-2024.jsonl").read_text("utf-8").splitlines())
}

pytestmark = pytest.mark.usefixtures("tools")


@pytest.fixture(scope="module")
def tools() -> None:
    for tool in ("pdftotext", "pdftoppm", "zbarimg"):
        require_tool(tool)


@attrs.define
class Issued:
    """One certificate a city issued: the deposit's JSON, its PDF, the entry."""

    deposit: dict[str, Any]
    pdf: bytes
    entry: dict[str, Any]


def _issue(workspace: Path, ywh: str, operator: str) -> list[Issued]:
    authority = operator.rsplit("-", 1)[1]
    with Registry.open(workspace) as city:
        result = city.push(ENTRIES[ywh], principal=Principal(operator, {"registrar"}, authority))
    out = []
    for item in result.certificates:
        c = item.certificate
        deposit = {
            "number": c.number,
            "licence_id": c.licence_id,
            "kind": c.kind.value,
            "token": c.token,
            "entry": ENTRIES[ywh],
            "issued_at": c.issued_at.isoformat(),
            "pdf": base64.b64encode(item.pdf).decode(),
        }
        out.append(Issued(deposit, item.pdf, ENTRIES[ywh]))
    return out


@attrs.define
class Cities:
    root: Path  # the trusted city's root certificate
    mianyang: list[Issued]  # 510700, sealed under the trusted root
    mianyang2: list[Issued]
    separate: list[Issued]  # 510100, 分别持证: two certificates of one entry
    untrusted: list[Issued]  # 510700, sealed under a root the province does not trust
    wrong_seal: list[Issued]  # 510700's certificate sealed with 510100's seal


@pytest.fixture(scope="module")
def cities(tmp_path_factory: pytest.TempPathFactory) -> Cities:
    from tests.support import make_workspace

    base = tmp_path_factory.mktemp("cities")
    make_workspace(base / "city")
    make_workspace(base / "rogue")
    shutil.copytree(base / "city", base / "mixup", ignore=shutil.ignore_patterns("*.sqlite3*"))
    config = base / "mixup" / "bdcert.toml"
    text = config.read_text("utf-8")
    text = text.replace('key = "pki/510700.key.pem"', 'key = "pki/510100.key.pem"')
    text = text.replace('cert = "pki/510700.cert.pem"', 'cert = "pki/510100.cert.pem"')
    config.write_text(text, "utf-8")
    return Cities(
        root=base / "city" / "pki" / "root.cert.pem",
        mianyang=_issue(base / "city", "510700-2024-000201", "registrar-510700"),
        mianyang2=_issue(base / "city", "510700-2024-000202", "registrar-510700"),
        separate=_issue(base / "city", "510100-2024-000103", "registrar-510100"),
        untrusted=_issue(base / "rogue", "510700-2024-000201", "registrar-510700"),
        wrong_seal=_issue(base / "mixup", "510700-2024-000201", "registrar-510700"),
    )


@pytest.fixture
def province(
    served_template: tuple[Path, dict[str, str]], cities: Cities, tmp_path: Path
) -> Iterator[Served]:
    """The served province, trusting the city's root besides its own."""
    from litestar.testing import TestClient

    from bdcert_adapters.service import ServiceSettings, create_app

    ws, tokens = copy_served(served_template, tmp_path / "province")
    config = ws.path / "bdcert.toml"
    text = config.read_text("utf-8")
    text, count = re.subn(
        r"(?m)^trust_roots = \[(.*)\]$", lambda m: f'trust_roots = [{m[1]}, "{cities.root}"]', text
    )
    assert count == 1
    config.write_text(text, "utf-8")
    ws = type(ws).load(ws.path)
    settings = ServiceSettings.from_settings(ws.table("service"))
    with TestClient(create_app(lambda: Registry.open(ws), settings)) as client:
        yield Served(ws, tokens, client)


def post(province: Served, body: dict[str, Any], operator: str = "registrar-510700") -> Any:
    return province.client.post("/api/v1/collection", json=body, headers=province.auth(operator))


def library(province: Served) -> list[str]:
    """The certificate numbers the province's store holds."""
    with Registry.open(province.workspace) as registry, registry.storage.transaction() as tx:
        return list(tx.certificate_numbers())


def fields(response: Any) -> dict[str, str]:
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e["message"] for e in response.json().get("errors", [])}


def test_accepted_deposit_is_found_by_lookup_and_verify(province: Served, cities: Cities) -> None:
    issued = cities.mianyang[0]
    r = post(province, issued.deposit)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["outcome"] == "deposited" and body["status"] == "valid"
    assert body["number"] == issued.deposit["number"]
    with Registry.open(province.workspace) as registry:
        platform = Principal("platform", {"platform"})
        found = registry.lookup(token=issued.deposit["token"], principal=platform)
        assert found.code is VerdictCode.VALID
        assert found.certificate is not None
        assert found.certificate.number == issued.deposit["number"]
        verdict = registry.verify(issued.pdf)
        assert verdict.code is VerdictCode.VALID and verdict.trusted
        (issue,) = [e for e in registry.audit_log(principal=platform) if e.action == "issue"]
        assert issue.subject == issued.deposit["number"]
        assert issue.details["deposited"] is True
        assert issue.details["pdf_sha256"] == body["pdf_sha256"]
        assert issue.details["licence_id"] == issued.deposit["licence_id"]
        assert issue.details["ywh"] == issued.entry["ywh"]
    again = post(province, issued.deposit)
    assert again.status_code == 200 and again.json()["outcome"] == "replayed"


def test_multipart_deposit_and_both_certificates_of_separate_holding(
    province: Served, cities: Cities
) -> None:
    for issued in cities.separate:
        metadata = {k: v for k, v in issued.deposit.items() if k != "pdf"}
        r = province.client.post(
            "/api/v1/collection",
            data={"metadata": json.dumps(metadata, ensure_ascii=False)},
            files={"pdf": ("cert.pdf", issued.pdf, "application/pdf")},
            headers=province.auth("registrar-510100"),
        )
        assert r.status_code == 201, r.text
    assert len(cities.separate) == 2


def test_untrusted_seal_is_refused(province: Served, cities: Cities) -> None:
    r = post(province, cities.untrusted[0].deposit)
    assert r.status_code == 400
    assert "seal does not hold" in fields(r)["pdf"]


def test_changed_byte_is_refused(province: Served, cities: Cities) -> None:
    issued = cities.mianyang[0]
    pdf = bytearray(issued.pdf)
    at = pdf.index(b"/Producer") + 2  # inside the signed range
    pdf[at] = ord("Q") if pdf[at] != ord("Q") else ord("R")
    r = post(province, {**issued.deposit, "pdf": base64.b64encode(bytes(pdf)).decode()})
    assert r.status_code == 400
    assert "seal does not hold" in fields(r)["pdf"]


def test_face_value_differing_from_the_entry_is_refused(province: Served, cities: Cities) -> None:
    issued = cities.mianyang[0]
    entry = {**issued.entry, "zl": issued.entry["zl"] + "附1号"}
    r = post(province, {**issued.deposit, "entry": entry})
    assert r.status_code == 400
    problems = fields(r)
    assert set(problems) == {"face.zl"}, problems
    assert "附1号" in problems["face.zl"]
    assert library(province) == []


def test_malformed_number_is_refused(province: Served, cities: Cities) -> None:
    issued = cities.mianyang[0]
    number = issued.deposit["number"].replace("第", "")
    r = post(province, {**issued.deposit, "number": number})
    assert r.status_code == 400
    assert "not a certificate number" in fields(r)["number"]


def test_number_of_another_year_and_wrong_licence_id_are_refused(
    province: Served, cities: Cities
) -> None:
    issued = cities.mianyang[0]
    number = issued.deposit["number"].replace("(2024)", "(2023)")
    r = post(province, {**issued.deposit, "number": number})
    assert r.status_code == 400
    problems = fields(r)
    assert "year 2023" in problems["number"] and "licence_id" in problems


def test_duplicate_number_with_other_content_is_a_conflict(
    province: Served, cities: Cities
) -> None:
    first = cities.mianyang[0]
    assert post(province, first.deposit).status_code == 201
    other = cities.mianyang2[0]
    assert other.deposit["number"] != first.deposit["number"]
    r = post(province, {**other.deposit, "number": first.deposit["number"]})
    assert r.status_code == 409
    assert "already in the library" in fields(r)["number"]


def test_seal_of_another_authority_is_refused(province: Served, cities: Cities) -> None:
    r = post(province, cities.wrong_seal[0].deposit)
    assert r.status_code == 400
    # the verifier names the other authority's seal (bdcert.verify), or collection does
    assert "成都市不动产登记中心" in fields(r)["pdf"]


def test_registrar_of_another_authority_may_not_deposit(province: Served, cities: Cities) -> None:
    r = post(province, cities.mianyang[0].deposit, operator="registrar-510100")
    assert r.status_code == 403
    assert post(province, cities.mianyang[0].deposit, operator="auditor").status_code == 403


def test_token_mismatch_is_refused(province: Served, cities: Cities) -> None:
    issued = cities.mianyang[0]
    token = issued.deposit["token"][::-1]
    r = post(province, {**issued.deposit, "token": token})
    assert r.status_code == 400
    assert "QR code holds" in fields(r)["token"]
    assert issued.deposit["token"] in fields(r)["token"]


def test_missing_fields_are_all_named_and_nothing_is_stored(province: Served) -> None:
    r = post(province, {"kind": "deed"})
    assert r.status_code == 400
    assert {"number", "licence_id", "token", "kind", "issued_at", "pdf", "entry"} <= set(fields(r))


def test_later_events_of_a_deposited_certificate(province: Served, cities: Cities) -> None:
    first, second = cities.mianyang[0], cities.mianyang2[0]
    for issued in (first, second):
        assert post(province, issued.deposit).status_code == 201
    number = first.deposit["number"]
    url = f"/api/v1/collection/{number}/events"
    seize = {"kind": "restricted", "ywh": "510700-2024-900001", "cfjg": "绵阳市中级人民法院",
             "cfwh": "(2024)川07执1号"}  # fmt: skip
    denied = province.client.post(url, json=seize, headers=province.auth("registrar-510100"))
    assert denied.status_code == 403
    r = province.client.post(url, json=seize, headers=province.auth("registrar-510700"))
    assert r.status_code == 200, r.text
    with Registry.open(province.workspace) as registry:
        assert registry.verify(first.pdf).code is VerdictCode.RESTRICTED
    lift = {"kind": "restriction_lifted", "ywh": "510700-2024-900001"}
    r = province.client.post(url, json=lift, headers=province.auth("platform"))
    assert r.status_code == 200, r.text
    bad = province.client.post(
        url, json={"kind": "cancelled"}, headers=province.auth("registrar-510700")
    )
    assert bad.status_code == 400 and "reason" in fields(bad)
    r = province.client.post(
        url,
        json={"kind": "superseded", "successor": second.deposit["number"]},
        headers=province.auth("registrar-510700"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "superseded"
    assert r.json()["superseded_by"] == [second.deposit["number"]]
    with Registry.open(province.workspace) as registry:
        assert registry.verify(first.pdf).code is VerdictCode.SUPERSEDED
        platform = Principal("platform", {"platform"})
        actions = [
            (e.action, e.details.get("deposited"))
            for e in registry.audit_log(principal=platform, subject=number)
            if e.action in ("restrict", "lift_restriction", "supersede")
        ]
        assert actions == [
            ("restrict", True),
            ("lift_restriction", True),
            ("supersede", True),
        ]
        assert registry.audit_log(principal=platform) and not registry.verify_audit(
            principal=platform
        )


def test_a_city_sealing_with_sm2_deposits_its_pdf_and_ofd(tmp_path: Path) -> None:
    """GB/T 38540 seals: the SM2-sealed PDF and the sealed OFD are both checked and filed; an
    OFD changed after sealing is refused by its own field."""
    from bdcert_adapters.cli import main
    from tests.support import AUTHORITIES, make_workspace, require_shared

    require_shared()
    city, province = tmp_path / "sm2city", tmp_path / "province"
    code = main(["init", "--demo", "--algorithm", "sm2", "--workspace", str(city),
                 "--authorities", str(AUTHORITIES)])  # fmt: skip
    assert code == 0
    make_workspace(province)
    config = province / "bdcert.toml"
    root = city / "pki" / "root.cert.pem"
    config.write_text(
        config.read_text("utf-8").replace(
            'trust_roots = ["pki/root.cert.pem"]', f'trust_roots = ["pki/root.cert.pem", "{root}"]'
        ),
        "utf-8",
    )
    registrar = Principal("registrar-510700", {"registrar"}, "510700")
    entry = ENTRIES["510700-2024-000201"]
    with Registry.open(city, formats=("pdf", "ofd")) as registry:
        (item,) = registry.push(entry, principal=registrar).certificates
    assert item.ofd is not None
    c = item.certificate
    raw = {
        "number": c.number,
        "licence_id": c.licence_id,
        "kind": c.kind.value,
        "token": c.token,
        "entry": entry,
        "issued_at": c.issued_at.isoformat(),
        "pdf": item.pdf,
        "ofd": item.ofd,
    }
    with Registry.open(province) as registry:
        changed = bytearray(item.ofd)
        changed[len(changed) // 2] ^= 0x01
        with pytest.raises(ValidationError) as refused:
            registry.deposit({**raw, "ofd": bytes(changed)}, principal=registrar)
        assert [p.field for p in refused.value.problems] == ["ofd"]
        assert registry.deposit(raw, principal=registrar).outcome == "deposited"
        assert registry.verify(item.pdf).code is VerdictCode.VALID
        with registry.storage.transaction() as tx:
            assert tx.get_ofd(c.number) == item.ofd


def test_an_event_for_another_authoritys_number_is_403_registered_or_not(
    issued: Served,
) -> None:
    """POST /api/v1/collection/{number}/events is authorized from the number's authority
    before the certificate is fetched: a registrar of another authority (or a holder) gets 403
    for a registered and for an unknown number alike, so numbers cannot be walked."""
    from urllib.parse import quote

    registered = "川(2024)绵阳市不动产权第0000001号"
    unknown = "川(2024)绵阳市不动产权第0009999号"
    for operator in ("registrar-510100", "holder-wang"):
        statuses = [
            issued.client.post(
                f"/api/v1/collection/{quote(n)}/events",
                json={"kind": "cancelled", "reason": "x"},
                headers=issued.auth(operator),
            ).status_code
            for n in (registered, unknown)
        ]
        assert statuses == [403, 403], (operator, statuses)
