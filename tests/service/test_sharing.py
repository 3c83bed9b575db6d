"""Sharing over HTTP (rule articles 16, 17): agreements, 检索 (search), 查询 (query) and 文件下载
(file download with its purpose), each only under an active agreement and only its grant."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bdcert.model import Principal
from tests.service.conftest import Served
from tests.service.seeded import Seeded, fields_of, seeded_fixtures
from tests.service.seeded import audit_events as audit
from tests.support import pdfsig_trusting

BANK = "bank-shuchuan"
WANG_ID = "510104198503120176"
WANG_UNIT = "510104001001GB00001F00010001"
WU_ID = "510704195408090860"


seeded, served = seeded_fixtures("sharing")


def agreement(agreement_id: str, fields: list[str], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": agreement_id,
        "party": BANK,
        "purpose": "个人住房贷款审核",
        "authorities": ["510100"],
        "fields": fields,
        "valid_from": "2024-01-01",
        "valid_to": "2099-12-31",
        "signed_on": "2024-01-01",
    }
    body.update(changes)
    return body


def add(served: Served, body: dict[str, Any]) -> dict[str, Any]:
    r = served.client.post("/api/v1/agreements", json=body, headers=served.auth("platform"))
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def cert_path(number: str) -> str:
    return "/api/v1/sharing/certificates/" + quote(number, safe="")


def test_agreements_are_managed_by_the_platform_only(served: Served) -> None:
    body = agreement("SA-1", ["number", "status"])
    for who in ("registrar-510100", "auditor", BANK, "holder-wang"):
        r = served.client.post("/api/v1/agreements", json=body, headers=served.auth(who))
        assert r.status_code == 403, who
    assert served.client.post("/api/v1/agreements", json=body).status_code == 401

    bad = served.client.post(
        "/api/v1/agreements",
        json={
            **body,
            "party": " ",
            "fields": ["number", "salary"],
            "valid_to": "2023-01-01",
            "signed_on": "2022-01-01",
        },
        headers=served.auth("platform"),
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert fields_of(bad.json()) == {"party", "fields[1]", "valid_to"}
    assert served.client.get("/api/v1/agreements", headers=served.auth("auditor")).json() == []

    made = add(served, body)
    assert made["id"] == "SA-1" and made["state"] == "active" and made["created_by"] == "platform"
    add(served, agreement("SA-OTHER", ["number"], party="bank-other"))

    listed = served.client.get("/api/v1/agreements", headers=served.auth("auditor")).json()
    assert {a["id"] for a in listed} == {"SA-1", "SA-OTHER"}
    own = served.client.get("/api/v1/agreements", headers=served.auth(BANK)).json()
    assert [a["id"] for a in own] == ["SA-1"]  # a sharing party sees its own only
    r = served.client.get("/api/v1/agreements", headers=served.auth("registrar-510100"))
    assert r.status_code == 403
    assert served.client.get("/api/v1/agreements").status_code == 401

    revoke = "/api/v1/agreements/SA-1/revoke"
    r = served.client.post(revoke, json={"reason": "x"}, headers=served.auth("registrar-510100"))
    assert r.status_code == 403
    r = served.client.post(revoke, json={"reason": "  "}, headers=served.auth("platform"))
    assert r.status_code == 400 and fields_of(r.json()) == {"reason"}
    r = served.client.post(revoke, json={}, headers=served.auth("platform"))
    assert r.status_code == 400 and fields_of(r.json()) == {"reason"}
    r = served.client.post(revoke, json={"reason": "合同终止"}, headers=served.auth("platform"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "revoked" and r.json()["revoke_reason"] == "合同终止"
    again = served.client.post(revoke, json={"reason": "again"}, headers=served.auth("platform"))
    assert again.status_code == 400 and fields_of(again.json()) == {"id"}
    missing = served.client.post(
        "/api/v1/agreements/SA-NONE/revoke", json={"reason": "x"}, headers=served.auth("platform")
    )
    assert missing.status_code == 404
    actions = [e["action"] for e in audit(served, actor="platform")]
    assert actions.count("agreement_add") == 2 and actions.count("agreement_revoke") == 1


def test_query_gives_only_the_granted_fields(served: Served, seeded: Seeded) -> None:
    wang = seeded.numbers["510100-2024-000101"][0]
    wu = seeded.numbers["510700-2024-000201"][0]
    add(served, agreement("SA-Q", ["number", "status", "zl"]))

    r = served.client.get(cert_path(wang), headers=served.auth(BANK))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["number"] == wang and body["agreement"] == "SA-Q"
    assert set(body["fields"]) == {"number", "status", "zl"}
    assert body["fields"]["status"]["status"] == "valid"
    for absent in ("holders", "qlr", "licence_id", "unit_numbers", "token", "verification_url"):
        assert absent not in body["fields"]
    assert "王晓明" not in r.text and WANG_ID not in r.text

    # a certificate of an authority the agreement does not cover
    assert served.client.get(cert_path(wu), headers=served.auth(BANK)).status_code == 403
    # an unknown number under an active agreement
    r = served.client.get(cert_path("川(2024)成都市不动产权第9999999号"), headers=served.auth(BANK))
    assert r.status_code == 404
    for who in ("registrar-510100", "auditor", "platform", "holder-wang"):
        assert served.client.get(cert_path(wang), headers=served.auth(who)).status_code == 403
    assert served.client.get(cert_path(wang)).status_code == 401

    r = served.client.get(
        cert_path(wang), params={"purpose": "抵押审查"}, headers=served.auth(BANK)
    )
    assert r.status_code == 200
    blank = served.client.get(cert_path(wang), params={"purpose": " "}, headers=served.auth(BANK))
    assert blank.status_code == 400 and fields_of(blank.json()) == {"query.purpose"}

    shares = audit(served, subject=wang, actor=BANK)
    assert [(e["action"], e["details"]["agreement"]) for e in shares] == [("share", "SA-Q")] * 2
    assert "purpose" not in shares[0]["details"]
    assert shares[1]["details"]["purpose"] == "抵押审查"


def test_no_expired_or_revoked_agreement_shares_nothing(served: Served, seeded: Seeded) -> None:
    wang = seeded.numbers["510100-2024-000101"][0]
    search = {"unit": WANG_UNIT}
    paths = (cert_path(wang), cert_path(wang) + "?purpose=贷款审核")

    def refused() -> None:
        for path in paths:
            assert served.client.get(path, headers=served.auth(BANK)).status_code == 403, path
        r = served.client.get("/api/v1/sharing/search", params=search, headers=served.auth(BANK))
        assert r.status_code == 403

    refused()  # no agreement at all
    add(
        served,
        agreement(
            "SA-OLD",
            ["number", "file"],
            valid_from="2020-01-01",
            valid_to="2021-12-31",
            signed_on="2019-12-01",
        ),
    )
    refused()  # expired
    add(served, agreement("SA-LATER", ["number", "file"], valid_from="2098-01-01"))
    refused()  # not yet valid
    add(served, agreement("SA-NOW", ["number", "file"]))
    assert served.client.get(cert_path(wang), headers=served.auth(BANK)).status_code == 200
    r = served.client.post(
        "/api/v1/agreements/SA-NOW/revoke", json={"reason": "违约"}, headers=served.auth("platform")
    )
    assert r.status_code == 200
    refused()  # revoked
    denials = [e for e in audit(served, actor=BANK) if e["action"] == "deny"]
    assert len(denials) == 4 * 3
    assert any("SA-NOW is revoked" in e["details"]["reason"] for e in denials)
    assert any("SA-OLD is expired" in e["details"]["reason"] for e in denials)


def test_search_by_unit_and_holder(served: Served, seeded: Seeded) -> None:
    wang = seeded.numbers["510100-2024-000101"][0]
    zhao = seeded.numbers["510100-2024-000103"]
    add(served, agreement("SA-S", ["number", "kind", "unit_numbers", "holders"]))
    url = "/api/v1/sharing/search"

    r = served.client.get(url, params={"unit": WANG_UNIT}, headers=served.auth(BANK))
    assert r.status_code == 200, r.text
    found = r.json()["certificates"]
    assert [c["number"] for c in found] == [wang]
    assert set(found[0]["fields"]) == {"number", "kind", "unit_numbers", "holders"}
    assert found[0]["fields"]["holders"][0]["mc"] == "王晓明"  # granted: in full
    assert "zl" not in found[0]["fields"] and "status" not in found[0]["fields"]

    by_id = served.client.get(
        url,
        params={"holder_id": "510108199007070552", "purpose": "贷前调查"},
        headers=served.auth(BANK),
    ).json()["certificates"]
    # 赵磊 and 孙丽 each hold a certificate of their registration: 赵磊's is his only
    assert [c["number"] for c in by_id] == [zhao[0]]
    assert [h["zjh"] for h in by_id[0]["fields"]["holders"]] == ["510108199007070552"]
    unit = served.client.get(
        url, params={"unit": "510108003002GB00110F00011803"}, headers=served.auth(BANK)
    ).json()["certificates"]
    assert [c["number"] for c in unit] == list(zhao)
    narrowed = served.client.get(
        url,
        params={"holder_id": "510108199007070552", "holder_name": "王晓明"},
        headers=served.auth(BANK),
    ).json()["certificates"]
    assert narrowed == []
    # 吴秀英's certificate is of 510700, which the agreement does not cover: not listed
    r = served.client.get(url, params={"holder_id": WU_ID}, headers=served.auth(BANK))
    assert r.status_code == 200 and r.json()["certificates"] == []

    none = served.client.get(url, headers=served.auth(BANK))
    assert none.status_code == 400
    assert fields_of(none.json()) == {"query.unit", "query.holder_name", "query.holder_id"}
    name_only = served.client.get(url, params={"holder_name": "王晓明"}, headers=served.auth(BANK))
    assert name_only.status_code == 400 and fields_of(name_only.json()) == {"query.holder_name"}
    blank = served.client.get(url, params={"unit": " "}, headers=served.auth(BANK))
    assert blank.status_code == 400 and fields_of(blank.json()) == {"query.unit"}
    for who in ("registrar-510100", "auditor"):
        r = served.client.get(url, params={"unit": WANG_UNIT}, headers=served.auth(who))
        assert r.status_code == 403
    assert served.client.get(url, params={"unit": WANG_UNIT}).status_code == 401

    searches = [e for e in audit(served, actor=BANK) if e["action"] == "search"]
    assert len(searches) == 5  # the refused ones are not searches
    assert searches[0]["subject"] == WANG_UNIT and searches[0]["details"]["certificates"] == [wang]
    assert searches[1]["details"]["purpose"] == "贷前调查"
    assert searches[1]["details"]["holder_id"] == "5101**********0552"
    assert "510108199007070552" not in str(searches)  # criteria logged masked
    # a search that returned a certificate is found under the certificate's number
    assert any(e["action"] == "search" for e in audit(served, subject=wang))


def test_search_masks_names_unless_granted(served: Served, seeded: Seeded) -> None:
    add(served, agreement("SA-M", ["number", "zl", "qlqtzk"]))
    r = served.client.get(
        "/api/v1/sharing/search", params={"holder_id": WANG_ID}, headers=served.auth(BANK)
    )
    assert r.status_code == 200
    (found,) = r.json()["certificates"]
    assert set(found["fields"]) == {"number", "zl", "qlqtzk"}
    assert "王晓明" not in r.text and WANG_ID not in r.text


def test_file_download_needs_the_grant_and_a_purpose(
    served: Served, seeded: Seeded, tmp_path: Path
) -> None:
    wang = seeded.numbers["510100-2024-000101"][0]
    pdf_url = cert_path(wang) + "/pdf"
    add(served, agreement("SA-NOFILE", ["number", "status"]))
    r = served.client.get(pdf_url, params={"purpose": "贷款审核"}, headers=served.auth(BANK))
    assert r.status_code == 403 and "does not grant the file" in r.json()["detail"]

    add(served, agreement("SA-FILE", ["number", "file"], signed_on="2024-02-01"))
    missing = served.client.get(pdf_url, headers=served.auth(BANK))
    assert missing.status_code == 400
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert fields_of(missing.json()) == {"query.purpose"}
    blank = served.client.get(pdf_url, params={"purpose": "  "}, headers=served.auth(BANK))
    assert blank.status_code == 400 and fields_of(blank.json()) == {"query.purpose"}
    for who in ("registrar-510100", "auditor", "platform"):
        r = served.client.get(pdf_url, params={"purpose": "x"}, headers=served.auth(who))
        assert r.status_code == 403, who
    assert served.client.get(pdf_url, params={"purpose": "x"}).status_code == 401

    r = served.client.get(
        pdf_url, params={"purpose": "个人住房贷款审核 #42"}, headers=served.auth(BANK)
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    registry = served.client.app.state.registry
    cert = registry.certificate(wang, principal=Principal("platform", {"platform"}))
    assert r.content.startswith(b"%PDF-")
    assert hashlib.sha256(r.content).hexdigest() == cert.pdf_sha256  # the file as filed
    report = pdfsig_trusting(served.workspace.path / "pki" / "root.cert.pem", r.content, tmp_path)
    assert "Signature is Valid" in report and "Certificate is Trusted" in report, report

    events = audit(served, subject=wang, actor=BANK)
    downloads = [e for e in events if e["action"] == "download"]
    assert len(downloads) == 1
    assert downloads[0]["details"]["purpose"] == "个人住房贷款审核 #42"
    assert downloads[0]["details"]["agreement"] == "SA-FILE"
    denied = [e for e in events if e["action"] == "deny"]
    assert denied and denied[0]["details"]["purpose"] == "贷款审核"


def test_openapi_lists_the_sharing_operations(served: Served) -> None:
    paths = served.client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/sharing/search",
        "/api/v1/sharing/certificates/{number}",
        "/api/v1/sharing/certificates/{number}/pdf",
        "/api/v1/agreements",
        "/api/v1/agreements/{agreement_id}/revoke",
    ):
        assert path in paths, path
    params = paths["/api/v1/sharing/certificates/{number}/pdf"]["get"]["parameters"]
    assert "purpose" in {p["name"] for p in params}
