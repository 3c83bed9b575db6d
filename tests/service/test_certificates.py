"""Reading certificates over HTTP: metadata, PDF, OFD, status, history, by number (Han characters
and parentheses, percent-encoded) and by e-licence identifier; who may read what.

The timeline is issued once for the module; the tests only read (and one files an OFD)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bdcert.lifecycle import Registry
from tests.service.conftest import Served
from tests.service.issued import ISSUED_FIXTURE
from tests.support import EXPECTED, pdfsig_trusting, require_shared

require_shared(allow_module_level=True)
EXPECTED_RESULTS: list[dict[str, Any]] = json.loads(EXPECTED.read_text(encoding="utf-8"))
FIRST = "川(2024)成都市不动产权第0000001号"  # 王晓明's, superseded by 0000007 (line 14)
SUCCESSOR = "川(2024)成都市不动产权第0000007号"
MIANYANG = "川(2024)绵阳市不动产权第0000001号"
CANCELLED = "川(2024)成都市不动产证明第0000001号"  # cancelled by line 19
issued = ISSUED_FIXTURE


def url(number: str, suffix: str = "") -> str:
    return "/api/v1/certificates/" + quote(number, safe="") + suffix


def test_metadata_by_encoded_number(issued: Served) -> None:
    assert "%28" in url(FIRST) and "%E5%B7%9D" in url(FIRST)  # the path really is encoded
    r = issued.client.get(url(FIRST), headers=issued.auth("registrar-510100"))
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["number"] == FIRST
    assert c["kind"] == "property_certificate"
    assert c["authority"] == "510100"
    assert c["business_number"] == "510100-2024-000101"
    assert c["licence_id"].startswith("1.2.156.3005.2.")
    assert c["holders"] == [
        {"name": "王晓明", "id_type": "1", "id_number": "510104198503120176", "share": None}
    ]
    assert c["status"] == "superseded" and c["superseded_by"] == [SUCCESSOR]
    assert c["unit_numbers"] == ["510104001001GB00001F00010001"]
    assert any(i["value"] == FIRST for i in c["face"])  # the face prints its number
    assert c["links"]["pdf"] == url(FIRST, "/pdf")
    assert c["has_ofd"] is False and c["links"]["ofd"] is None
    assert len(c["pdf_sha256"]) == 64
    assert c["issued_at"].endswith("+08:00")


def test_who_may_read(issued: Served) -> None:
    get = issued.client.get
    assert get(url(FIRST)).status_code == 401
    for operator in ("platform", "auditor", "registrar-510100", "holder-wang"):
        assert get(url(FIRST), headers=issued.auth(operator)).status_code == 200, operator
    for operator in ("registrar-510700", "registrar-513401", "bank-shuchuan"):
        r = get(url(FIRST), headers=issued.auth(operator))
        assert r.status_code == 403, operator
        assert r.headers["content-type"].startswith("application/problem+json")
        assert get(url(FIRST, "/pdf"), headers=issued.auth(operator)).status_code == 403
    assert get(url(MIANYANG), headers=issued.auth("registrar-510700")).status_code == 200
    # holder-wang (510104198503120176) holds 0000001, not 绵阳's first certificate
    assert get(url(MIANYANG), headers=issued.auth("holder-wang")).status_code == 403
    r = get(url("川(2024)成都市不动产权第9999999号"), headers=issued.auth("platform"))
    assert r.status_code == 404 and r.json()["status"] == 404


def test_pdf_is_the_filed_file_and_pdfsig_trusts_it(issued: Served, tmp_path: Path) -> None:
    r = issued.client.get(url(SUCCESSOR, "/pdf"), headers=issued.auth("registrar-510100"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''" in r.headers["content-disposition"]
    with Registry.open(issued.workspace) as registry, registry.storage.transaction() as tx:
        filed = tx.get_pdf(SUCCESSOR)
        cert = tx.get_certificate(SUCCESSOR)
    assert r.content == filed
    assert hashlib.sha256(r.content).hexdigest() == cert.pdf_sha256
    report = pdfsig_trusting(issued.workspace.path / "pki" / "root.cert.pem", r.content, tmp_path)
    assert "Signature is Valid" in report, report
    assert "Certificate is Trusted" in report, report
    assert "Total document signed" in report


def test_downloads_are_audited(issued: Served) -> None:
    issued.client.get(url(MIANYANG, "/pdf"), headers=issued.auth("auditor"))
    with Registry.open(issued.workspace) as registry:
        platform = registry.authenticate({"token": issued.tokens["platform"]})
        events = registry.audit_log(principal=platform, subject=MIANYANG)
    assert any(e.action == "download" and e.actor == "auditor" for e in events)


def test_ofd_404_without_one_then_served_as_filed(issued: Served) -> None:
    number = "川(2024)成都市不动产权第0000002号"
    r = issued.client.get(url(number, "/ofd"), headers=issued.auth("platform"))
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    ofd = b"PK\x03\x04 an OFD package filed by the store (this test's stand-in)"
    with Registry.open(issued.workspace) as registry, registry.storage.transaction() as tx:
        tx.add_ofd(number, ofd)
    r = issued.client.get(url(number, "/ofd"), headers=issued.auth("platform"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/ofd"
    assert r.content == ofd
    meta = issued.client.get(url(number), headers=issued.auth("platform")).json()
    assert meta["has_ofd"] is True and meta["links"]["ofd"] == url(number, "/ofd")
    assert (
        issued.client.get(url(number, "/ofd"), headers=issued.auth("registrar-510700")).status_code
        == 403
    )


def test_status(issued: Served) -> None:
    auth = issued.auth("platform")
    s = issued.client.get(url(FIRST, "/status"), headers=auth).json()
    assert s["code"] == "superseded" and s["superseded_by"] == [SUCCESSOR]
    assert SUCCESSOR in s["detail"]
    s = issued.client.get(url(CANCELLED, "/status"), headers=auth).json()
    assert s["code"] == "cancelled" and s["status"] == "cancelled" and s["cancel_reason"]
    s = issued.client.get(url(SUCCESSOR, "/status"), headers=auth).json()
    assert s["code"] in ("valid", "restricted") and s["superseded_by"] == []
    assert issued.client.get(url(FIRST, "/status")).status_code == 401


def test_history_walks_both_ways(issued: Served) -> None:
    auth = issued.auth("platform")
    for asked in (FIRST, SUCCESSOR):
        h = issued.client.get(url(asked, "/history"), headers=auth).json()
        assert h["number"] == asked
        assert [i["number"] for i in h["chain"]] == [FIRST, SUCCESSOR]
        assert h["current"] == [SUCCESSOR]
        first, successor = h["chain"]
        assert first["status"] == "superseded" and first["superseded_by"] == [SUCCESSOR]
        assert first["superseded_at"] == successor["issued_at"]
        assert successor["supersedes"] == [FIRST] and successor["superseded_at"] is None
    # line 16: 0000003 and 0000004 (one unit, 分别持证) superseded by 0000009 and 0000010
    numbers = [f"川(2024)成都市不动产权第{n:07d}号" for n in (3, 4, 9, 10)]
    h = issued.client.get(url(numbers[0], "/history"), headers=auth).json()
    assert sorted(i["number"] for i in h["chain"]) == numbers
    assert sorted(h["current"]) == numbers[2:]
    r = issued.client.get(url(FIRST, "/history"), headers=issued.auth("registrar-510700"))
    assert r.status_code == 403


def test_by_licence_identifier(issued: Served) -> None:
    auth = issued.auth("registrar-510100")
    meta = issued.client.get(url(SUCCESSOR), headers=auth).json()
    licence = meta["licence_id"]
    r = issued.client.get("/api/v1/licences/" + quote(licence, safe=""), headers=auth)
    assert r.status_code == 200 and r.json()["number"] == SUCCESSOR
    pdf = issued.client.get(f"/api/v1/licences/{licence}/pdf", headers=auth)
    assert pdf.status_code == 200
    assert pdf.content == issued.client.get(url(SUCCESSOR, "/pdf"), headers=auth).content
    assert issued.client.get(f"/api/v1/licences/{licence}/ofd", headers=auth).status_code == 404
    other = "1" if licence[-1] != "1" else "2"
    for bad in (licence[:-1] + other, "1.2.156.3005.2.x", "not-a-licence"):
        r = issued.client.get("/api/v1/licences/" + quote(bad, safe=""), headers=auth)
        assert r.status_code == 404, bad
    r = issued.client.get(f"/api/v1/licences/{licence}", headers=issued.auth("registrar-510700"))
    assert r.status_code == 403
    assert issued.client.get(f"/api/v1/licences/{licence}").status_code == 401


def test_openapi_lists_the_operations(issued: Served) -> None:
    paths = issued.client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/certificates/{number}",
        "/api/v1/certificates/{number}/pdf",
        "/api/v1/certificates/{number}/ofd",
        "/api/v1/certificates/{number}/status",
        "/api/v1/certificates/{number}/history",
        "/api/v1/licences/{licence_id}",
        "/api/v1/licences/{licence_id}/pdf",
        "/api/v1/licences/{licence_id}/ofd",
        "/api/v1/lookup",
    ):
        assert path in paths, path


def test_every_certificate_is_found_by_its_licence_identifier(issued: Served) -> None:
    """Both kinds, three authorities: the identifier leads back to its own number."""
    auth = issued.auth("platform")
    numbers = [n for e in EXPECTED_RESULTS if e["outcome"] == "issued" for n in e["numbers"]]
    assert any("证明" in n for n in numbers) and any("西昌" in n for n in numbers)
    for number in numbers:
        licence = issued.client.get(url(number), headers=auth).json()["licence_id"]
        r = issued.client.get(f"/api/v1/licences/{licence}", headers=auth)
        assert r.status_code == 200 and r.json()["number"] == number, number
