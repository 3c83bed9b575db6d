"""Holders' self-download over HTTP (rule article 13): the proof, problems that never say which
part failed, locks as 429 problems, every attempt in the audit log."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from bdcert.config import DownloadPolicy
from bdcert.model import Principal
from tests.service.conftest import Served
from tests.service.seeded import Seeded, audit_events, fields_of, seeded_fixtures

URL = "/api/v1/self-download"
WANG = {"name": "王晓明", "id_number": "510104198503120176"}
ZHAO = {"name": "赵磊", "id_number": "510108199007070552"}


seeded, served = seeded_fixtures("holders")


def downloads(served: Served) -> list[dict[str, Any]]:
    return [e for e in audit_events(served) if e["action"] in ("download", "download_lockout")]


def test_a_holder_downloads_their_certificates_in_full(served: Served, seeded: Seeded) -> None:
    r = served.client.post(URL, json={**WANG, "id_number": WANG["id_number"].lower()})
    assert r.status_code == 200, r.text
    (got,) = r.json()["certificates"]
    number = seeded.numbers["510100-2024-000101"][0]
    cert = got["certificate"]
    assert cert["number"] == number and cert["status"] == "valid"
    assert [(h["name"], h["id_number"]) for h in cert["holders"]] == [
        ("王晓明", "510104198503120176")  # their own: in full
    ]
    pdf = base64.b64decode(got["pdf"], validate=True)
    stored = served.client.app.state.registry.certificate(
        number, principal=Principal("platform", {"platform"})
    )
    assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() == stored.pdf_sha256
    assert got["ofd"] is None  # this workspace files PDFs only (see the OFD test)

    # co-owners of one registration each get their own certificate only
    zhao = served.client.post(URL, json=ZHAO).json()["certificates"]
    assert [c["certificate"]["number"] for c in zhao] == [seeded.numbers["510100-2024-000103"][0]]

    (event,) = [e for e in downloads(served) if e["details"].get("outcome") == "ok"][:1]
    assert event["subject"] == "5101**********0176" and event["details"]["name"] == "王*明"
    assert event["details"]["certificates"] == [number]
    assert event["details"]["source"]  # the caller's address, the source's guard


def test_a_failed_proof_never_says_which_part_failed(served: Served) -> None:
    wrong_id = served.client.post(URL, json={**WANG, "id_number": "510104198503120177"})
    wrong_name = served.client.post(URL, json={**WANG, "name": "王小明"})
    wrong_paper = served.client.post(
        URL, json={**WANG, "paper_number": "川(2019)成都市不动产权第1号"}
    )
    for r in (wrong_id, wrong_name, wrong_paper):
        assert r.status_code == 401, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert wrong_id.json() == wrong_name.json() == wrong_paper.json()
    assert "errors" not in wrong_id.json()
    failed = [e for e in downloads(served) if e["details"].get("outcome") == "failed"]
    assert len(failed) == 3


def test_blank_fields_are_named_and_not_counted(served: Served) -> None:
    r = served.client.post(URL, json={"name": " ", "paper_number": "", "code": " "})
    assert r.status_code == 400
    assert fields_of(r.json()) == {"name", "id_number", "paper_number", "code"}
    r = served.client.post(URL, json={})
    assert r.status_code == 400 and fields_of(r.json()) == {"name", "id_number"}
    assert downloads(served) == []  # not an attempt


def test_locks_are_429_with_retry_after(served: Served) -> None:
    registry = served.client.app.state.registry
    registry.download_policy = DownloadPolicy(max_failures=2)
    wrong = {**WANG, "id_number": "510104198503120177"}
    assert served.client.post(URL, json=wrong).status_code == 401
    locked = served.client.post(URL, json=wrong)  # the failure that trips the guard
    assert locked.status_code == 429, locked.text
    seconds = int(locked.headers["Retry-After"])
    assert 29 * 60 < seconds <= 30 * 60 + 1  # lockout: 30 minutes by default
    assert locked.json()["retry_after"] == seconds
    # while locked, the ID number is refused without its proof being checked
    again = served.client.post(URL, json=wrong)
    assert again.status_code == 429 and "Retry-After" in again.headers
    outcomes = [e["details"].get("outcome") for e in downloads(served) if e["action"] == "download"]
    assert outcomes == ["failed", "failed", "locked"]


def test_a_held_lock_waits_for_a_clerk(served: Served) -> None:
    registry = served.client.app.state.registry
    registry.download_policy = DownloadPolicy(max_failures=1, max_lockouts=1)
    r = served.client.post(URL, json={**ZHAO, "id_number": "510108199007070553"})
    assert r.status_code == 429
    assert "Retry-After" not in r.headers
    assert "until a clerk unlocks it" in r.json()["detail"]
    again = served.client.post(URL, json={**ZHAO, "id_number": "510108199007070553"})
    assert again.status_code == 429 and "clerk" in again.json()["detail"]
    lockouts = [e for e in downloads(served) if e["action"] == "download_lockout"]
    assert lockouts and all(e["details"]["held"] for e in lockouts)


def test_a_channel_is_logged_as_the_actor(served: Served) -> None:
    r = served.client.post(URL, json=WANG, headers=served.auth("holder-wang"))
    assert r.status_code == 200
    (event,) = downloads(served)
    assert event["actor"] == "holder-wang"
    bad = served.client.post(URL, json=WANG, headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401


def test_openapi_describes_the_self_download(served: Served) -> None:
    doc = served.client.get("/api/v1/openapi.json").json()
    operation = doc["paths"]["/api/v1/self-download"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert {"name", "id_number", "paper_number", "code"} <= set(schema["properties"])
    for path in ("/api/v1/audit/events", "/api/v1/audit/checkpoints", "/api/v1/audit/verify"):
        assert path in doc["paths"], path


def test_an_ofd_filed_beside_the_pdf_is_downloaded_too(served: Served, seeded: Seeded) -> None:
    # the demo's software (RSA) seal cannot seal OFD (SM2 only): file a package as issuing would
    number = seeded.numbers["510100-2024-000101"][0]
    package = b"PK\x03\x04 an OFD package as filed"
    registry = served.client.app.state.registry
    with registry.storage.transaction() as tx:
        tx.add_ofd(number, package)
    r = served.client.post(URL, json=WANG)
    assert r.status_code == 200, r.text
    (got,) = r.json()["certificates"]
    assert got["certificate"]["has_ofd"] is True
    assert base64.b64decode(got["ofd"], validate=True) == package
    assert base64.b64decode(got["pdf"], validate=True).startswith(b"%PDF-")
