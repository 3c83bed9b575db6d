"""Verification over HTTP: /api/v1/verify (raw body and multipart), /verify/batch,
/checks/information (信息验证), /checks/file (文件验证): 200 whenever verification ran, a forged
file included; 400, 413 and 415 problems for input that is not a document or too large."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.lifecycle import Registry
from tests.service.conftest import copy_served
from tests.support import TIMELINE, make_workspace, require_shared

SUPERSEDED = "川(2024)成都市不动产权第0000001号"
SUCCESSOR = "川(2024)成都市不动产权第0000003号"
RESTRICTED = "川(2024)成都市不动产权第0000002号"


@attrs.define
class Setup:
    client: Any  # a TestClient, default limits
    small: Any  # a TestClient with max_upload_bytes=1000, max_batch_bytes=3000
    tokens: dict[str, str]
    files: dict[str, bytes]
    forged: bytes
    holder: str  # the 权利人 of SUCCESSOR


@pytest.fixture(scope="module")
def setup(
    served_template: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    from litestar.testing import TestClient

    from bdcert_adapters.service import ServiceSettings, create_app

    require_shared()
    timeline = [json.loads(x) for x in TIMELINE.read_text(encoding="utf-8").splitlines() if x]
    base = tmp_path_factory.mktemp("verification")
    ws, tokens = copy_served(served_template, base / "ws")
    with Registry.open(ws) as registry:
        platform = registry.authenticate({"token": tokens["platform"]})
        for raw in (timeline[0], timeline[1], timeline[13], timeline[19]):
            registry.push(raw, principal=platform)
        files = {
            n: registry.pdf(n, principal=platform) for n in (SUPERSEDED, SUCCESSOR, RESTRICTED)
        }
        holder = registry.certificate(SUCCESSOR, principal=platform).holders[0].name
    with Registry.open(make_workspace(base / "other").path) as other:
        (forged,) = other.push(
            timeline[0], principal=other.authenticate({"operator": "platform"})
        ).certificates
    small = ServiceSettings(max_upload_bytes=1000, max_batch_bytes=3000)
    with (
        TestClient(create_app(lambda: Registry.open(ws))) as client,
        TestClient(create_app(lambda: Registry.open(ws), small)) as small_client,
    ):
        yield Setup(client, small_client, tokens, files, forged.pdf, holder)


def _problem(r: Any, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["type"].endswith("/" + slug)
    return body


def test_verify_a_genuine_pdf_raw_body(setup: Setup) -> None:
    r = setup.client.post(
        "/api/v1/verify",
        content=setup.files[SUCCESSOR],
        headers={"Content-Type": "application/pdf"},
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["verdict"] == "valid" and report["ok"] is True
    assert report["level"] == "online register" and report["number"] == SUCCESSOR
    assert [(c["check"], c["passed"]) for c in report["checks"]] == [
        ("integrity", True),
        ("seal", True),
        ("issuer", True),
        ("form", True),
        ("register", True),
        ("face", True),
    ]


def test_a_forged_file_is_answered_200_with_its_failing_check(setup: Setup) -> None:
    r = setup.client.post(
        "/api/v1/verify", files={"file": ("forged.pdf", setup.forged, "application/pdf")}
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["verdict"] == "untrusted_signer" and report["name"] == "forged.pdf"
    seal = report["checks"][1]
    assert (seal["code"], seal["passed"]) == ("untrusted_root", False)
    assert seal["sentence"] == "印章不是由受信任的机构签发，文件可能是伪造的"


def test_a_changed_file_is_200_with_integrity_failed(setup: Setup) -> None:
    r = setup.client.post(
        "/api/v1/verify",
        content=setup.files[SUCCESSOR] + b"\n% appended\n",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 200
    assert r.json()["checks"][0]["code"] == "appended_after_sealing"


def test_the_batch_answers_one_report_per_file_in_order(setup: Setup) -> None:
    parts = [
        ("file", ("a.pdf", setup.files[SUPERSEDED], "application/pdf")),
        ("file", ("b.pdf", setup.forged, "application/pdf")),
        ("file", ("c.pdf", setup.files[RESTRICTED], "application/pdf")),
        ("file", ("d.pdf", setup.files[SUCCESSOR], "application/pdf")),
    ]
    r = setup.client.post("/api/v1/verify/batch", files=parts)
    assert r.status_code == 200, r.text
    reports = r.json()["reports"]
    assert [(x["name"], x["verdict"]) for x in reports] == [
        ("a.pdf", "superseded"),
        ("b.pdf", "untrusted_signer"),
        ("c.pdf", "restricted"),
        ("d.pdf", "valid"),
    ]
    assert f"该证书已被 {SUCCESSOR} 取代" in reports[0]["checks"][4]["sentence"]


def test_input_that_is_not_a_document_is_a_400_problem(setup: Setup) -> None:
    r = setup.client.post(
        "/api/v1/verify", content=b"hello", headers={"Content-Type": "application/pdf"}
    )
    assert _problem(r, 400, "not-a-document")["errors"][0]["field"] == "file"
    batch = setup.client.post(
        "/api/v1/verify/batch",
        files=[
            ("file", ("a.pdf", setup.files[SUCCESSOR], "application/pdf")),
            ("file", ("notes.txt", b"just text", "text/plain")),
        ],
    )
    assert _problem(batch, 400, "not-a-document")["errors"][0]["field"] == "file[1]"
    missing = setup.client.post("/api/v1/verify", files={"other": ("x", b"%PDF-1.7", "a/b")})
    assert _problem(missing, 400, "validation")["errors"][0]["field"] == "file"
    empty = setup.client.post(
        "/api/v1/verify", content=b"", headers={"Content-Type": "application/pdf"}
    )
    _problem(empty, 400, "empty-body")
    json_body = setup.client.post("/api/v1/verify", json={"pdf": "…"})
    _problem(json_body, 415, "unsupported-media-type")


def test_over_the_upload_limit_is_a_413_problem(setup: Setup) -> None:
    pdf = setup.files[SUCCESSOR]
    assert len(pdf) > 1000
    raw = setup.small.post(
        "/api/v1/verify", content=pdf, headers={"Content-Type": "application/pdf"}
    )
    _problem(raw, 413, "too-large")
    multipart = setup.small.post("/api/v1/verify", files={"file": ("a.pdf", pdf, "x/y")})
    _problem(multipart, 413, "too-large")
    checks = setup.small.post(
        "/api/v1/checks/file", content=pdf, headers={"Content-Type": "application/pdf"}
    )
    _problem(checks, 413, "too-large")
    # a small one passes the same limit: answered, not refused
    ok = setup.small.post(
        "/api/v1/verify", content=b"%PDF-1.7\n%%EOF\n", headers={"Content-Type": "application/pdf"}
    )
    assert ok.status_code == 200 and ok.json()["verdict"] == "not_pdf"


def test_information_check_codes_over_http(setup: Setup) -> None:
    def check(**fields: str) -> dict[str, Any]:
        r = setup.client.post("/api/v1/checks/information", json=fields)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    assert check(zh=SUCCESSOR, qlr=setup.holder)["code"] == 0
    assert check(zh=SUPERSEDED, qlr="王晓明")["code"] == 3
    incomplete = check(zh=SUCCESSOR)
    assert (incomplete["code"], incomplete["fields"]) == (4, ["qlr"])
    assert check(zh="川(2024)成都市不动产权第0999999号", qlr="王晓明")["code"] == 5
    wrong = check(zh=SUCCESSOR, qlr=setup.holder, zl="别处")
    # anonymous: a mismatch names no field (a right name is not told from a wrong one)
    assert (wrong["code"], wrong["meaning"], wrong["fields"]) == (6, "信息错误参数不一致", [])
    assert "zl" not in wrong["detail"] and "坐落" not in wrong["sentence"]
    platform = {"Authorization": f"Bearer {setup.tokens['platform']}"}
    named = setup.client.post(
        "/api/v1/checks/information",
        json={"zh": SUCCESSOR, "qlr": setup.holder, "zl": "别处"},
        headers=platform,
    ).json()
    assert (named["code"], named["fields"]) == (6, ["zl"])  # the full view is told which
    bad = setup.client.post("/api/v1/checks/information", json={"zh": 1, "colour": "red"})
    assert {e["field"] for e in _problem(bad, 400, "validation")["errors"]} == {"zh", "colour"}


def test_file_check_codes_over_http(setup: Setup) -> None:
    def check(data: bytes) -> dict[str, Any]:
        r = setup.client.post(
            "/api/v1/checks/file", content=data, headers={"Content-Type": "application/pdf"}
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    assert check(setup.files[SUCCESSOR])["code"] == 0
    assert check(setup.forged)["code"] == 1
    assert check(setup.files[SUCCESSOR] + b"\n")["code"] == 2


def test_a_principal_is_passed_on(setup: Setup) -> None:
    auth = {"Authorization": f"Bearer {setup.tokens['platform']}"}
    r = setup.client.post(
        "/api/v1/verify",
        content=setup.files[SUCCESSOR],
        headers={"Content-Type": "application/pdf", **auth},
    )
    assert r.status_code == 200 and r.json()["verdict"] == "valid"
    bad = setup.client.post(
        "/api/v1/verify",
        content=setup.files[SUCCESSOR],
        headers={"Content-Type": "application/pdf", "Authorization": "Bearer nope"},
    )
    _problem(bad, 401, "unauthenticated")


def test_the_operations_are_in_the_openapi_document(setup: Setup) -> None:
    paths = setup.client.get("/api/v1/openapi.json").json()["paths"]
    for path in ("/verify", "/verify/batch", "/checks/information", "/checks/file"):
        assert "/api/v1" + path in paths
    for path in ("/trust-bundle", "/status-snapshot"):
        assert "get" in paths["/api/v1" + path]
    body = paths["/api/v1/verify"]["post"]["requestBody"]["content"]
    assert set(body) >= {"application/pdf", "application/ofd", "multipart/form-data"}
    assert body["application/pdf"]["schema"] == {"type": "string", "format": "binary"}
    batch = paths["/api/v1/verify/batch"]["post"]["requestBody"]["content"]
    assert batch["multipart/form-data"]["schema"]["properties"]["file"]["type"] == "array"
    report = paths["/api/v1/verify"]["post"]["responses"]["200"]["content"]
    assert "application/json" in report


def test_trust_bundle_and_status_snapshot_over_http(setup: Setup) -> None:
    from bdcert.model import VerdictCode
    from bdcert.verify.offline import TrustBundle, read_status_snapshot, verify_offline

    r = setup.client.get("/api/v1/trust-bundle")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    bundle = TrustBundle.load(r.content)
    assert r.headers["etag"] == f'"{bundle.sha256}"' and bundle.roots
    s = setup.client.get("/api/v1/status-snapshot")
    assert s.status_code == 200 and s.headers["content-type"] == "application/pdf"
    snapshot = read_status_snapshot(s.content, bundle)
    assert {n: e.status for n, e in snapshot.entries.items()} == {
        SUPERSEDED: "superseded",
        RESTRICTED: "restricted",
    }
    assert snapshot.entries[SUPERSEDED].superseded_by == (SUCCESSOR,)
    # the same sealed snapshot is answered again within its age: no seal per request
    assert setup.client.get("/api/v1/status-snapshot").content == s.content
    report = verify_offline(setup.files[SUPERSEDED], bundle, s.content)
    assert report.verdict is VerdictCode.SUPERSEDED and report.level.startswith("seal and snap")


def test_batch_limits_per_file_per_body_and_count(setup: Setup) -> None:
    one_big = [("file", ("big.pdf", b"%PDF-1.7\n" + b"x" * 1500, "application/pdf"))]
    _problem(setup.small.post("/api/v1/verify/batch", files=one_big), 413, "too-large")
    many = [("file", (f"{i}.pdf", b"%PDF-1.7\n" + b"y" * 900, "application/pdf")) for i in range(4)]
    _problem(setup.small.post("/api/v1/verify/batch", files=many), 413, "too-large")
    too_many = [("file", (f"{i}.pdf", b"%PDF-1.7\n", "application/pdf")) for i in range(101)]
    _problem(setup.client.post("/api/v1/verify/batch", files=too_many), 413, "too-many-files")
    raw = setup.client.post(
        "/api/v1/verify/batch", content=b"%PDF-1.7", headers={"Content-Type": "application/pdf"}
    )
    _problem(raw, 415, "unsupported-media-type")


def test_verdicts_are_counted_in_the_metrics(setup: Setup) -> None:
    def counted() -> float:
        auth = {"Authorization": f"Bearer {setup.tokens['auditor']}"}
        text = setup.client.get("/metrics", headers=auth).text
        for line in text.splitlines():
            if line.startswith('bdcert_verify_verdicts_total{code="untrusted_signer"}'):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = counted()
    r = setup.client.post(
        "/api/v1/verify", content=setup.forged, headers={"Content-Type": "application/pdf"}
    )
    assert r.status_code == 200
    assert counted() == before + 1
