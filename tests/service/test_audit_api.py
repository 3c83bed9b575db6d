"""The audit log over HTTP (rule article 17): events paginated by id, sealed checkpoints (checked
with poppler's pdfsig), verification, for auditors and the platform only."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Served
from tests.service.seeded import Seeded, fields_of, seeded_fixtures
from tests.support import pdfsig_trusting

EVENTS = "/api/v1/audit/events"
CHECKPOINTS = "/api/v1/audit/checkpoints"


seeded, served = seeded_fixtures("audit")


def page(served: Served, **query: Any) -> dict[str, Any]:
    r = served.client.get(EVENTS, params=query, headers=served.auth("auditor"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_only_auditors_and_the_platform_read_the_log(served: Served) -> None:
    for path in (EVENTS, CHECKPOINTS, CHECKPOINTS + "/1/pdf"):
        for who in ("registrar-510100", "bank-shuchuan", "holder-wang"):
            r = served.client.get(path, headers=served.auth(who))
            assert r.status_code == 403, (path, who)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert served.client.get(path).status_code == 401
    for who in ("registrar-510100", "auditor", "bank-shuchuan"):
        assert served.client.post(CHECKPOINTS, headers=served.auth(who)).status_code == 403
        if who != "auditor":
            r = served.client.post("/api/v1/audit/verify", headers=served.auth(who))
            assert r.status_code == 403
    assert served.client.post(CHECKPOINTS).status_code == 401
    # a bad query from whoever may not read the log is refused, not explained
    r = served.client.get(
        EVENTS, params={"since": "2024-01-01T00:00"}, headers=served.auth("registrar-510100")
    )
    assert r.status_code == 403
    assert served.client.get(EVENTS, headers=served.auth("platform")).status_code == 200
    denials = [e for e in page(served, limit=1000)["events"] if e["action"] == "deny"]
    assert {e["actor"] for e in denials} == {
        "registrar-510100",
        "bank-shuchuan",
        "holder-wang",
        "auditor",  # may read, not seal
    }


def test_events_are_paginated_by_id(served: Served, seeded: Seeded) -> None:
    for _ in range(3):  # three more events: denials are logged
        assert served.client.get(EVENTS, headers=served.auth("bank-shuchuan")).status_code == 403
    everything = page(served, limit=1000)
    assert everything["next_after"] is None
    ids = [e["id"] for e in everything["events"]]
    assert ids == list(range(1, 8))
    assert [e["action"] for e in everything["events"]].count("issue") == 4

    seen: list[dict[str, Any]] = []
    after = 0
    while True:
        p = page(served, limit=2, after=after)
        assert len(p["events"]) <= 2
        seen += p["events"]
        if p["next_after"] is None:
            break
        assert p["next_after"] == p["events"][-1]["id"]
        after = p["next_after"]
    assert seen == everything["events"]  # each event once, in order, same content
    assert page(served)["events"] == everything["events"][:100]  # default limit 100

    wang = seeded.numbers["510100-2024-000101"][0]
    about = page(served, subject=wang)["events"]
    assert about and all(e["subject"] == wang for e in about)
    assert page(served, actor="nobody")["events"] == []
    first = everything["events"][0]
    at = first["at"]
    assert page(served, since=at, until=at, limit=1000)["events"][0] == first
    assert page(served, until="2000-01-01T00:00:00Z")["events"] == []


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({"limit": "0"}, {"query.limit"}),
        ({"limit": "1001"}, {"query.limit"}),
        ({"after": "-1"}, {"query.after"}),
        ({"since": "2024-03-05T10:21:00"}, {"query.since"}),
        ({"since": "yesterday", "until": "2024-03-05"}, {"query.since", "query.until"}),
    ],
)
def test_bad_queries_are_problems_naming_each_field(
    served: Served, query: dict[str, str], fields: set[str]
) -> None:
    r = served.client.get(EVENTS, params=query, headers=served.auth("auditor"))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert fields_of(r.json()) == fields


def test_checkpoints_are_sealed_listed_and_verified(served: Served, tmp_path: Path) -> None:
    assert served.client.get(CHECKPOINTS, headers=served.auth("auditor")).json() == []
    head = page(served, limit=1000)["events"][-1]["id"]
    r = served.client.post(CHECKPOINTS, headers=served.auth("platform"))
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["number"] == 1 and made["event_id"] == head and made["made_by"] == "platform"
    listed = served.client.get(CHECKPOINTS, headers=served.auth("auditor")).json()
    assert listed == [made]
    assert made["event_hash"] and len(made["event_hash"]) == 64

    pdf = served.client.get(made["pdf"], headers=served.auth("auditor"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == made["pdf_sha256"]
    report = pdfsig_trusting(served.workspace.path / "pki" / "root.cert.pem", pdf.content, tmp_path)
    assert "Signature is Valid" in report, report
    assert "Certificate is Trusted" in report, report
    assert (
        served.client.get(CHECKPOINTS + "/9/pdf", headers=served.auth("auditor")).status_code == 404
    )

    # the checkpoint's making is itself logged, after the event it seals
    after = page(served, after=head)["events"]
    assert [e["action"] for e in after] == ["checkpoint"]

    verify = "/api/v1/audit/verify"
    r = served.client.post(verify, headers=served.auth("auditor"))
    assert r.status_code == 200, r.text
    assert r.json() == {"intact": True, "findings": [], "checked_copies": []}
    kept = served.client.post(
        verify,
        files={"copy": ("checkpoint-1.pdf", pdf.content, "application/pdf")},
        headers=served.auth("auditor"),
    )
    assert kept.status_code == 200, kept.text
    assert kept.json() == {"intact": True, "findings": [], "checked_copies": ["checkpoint-1.pdf"]}
    forged = pdf.content.replace(b"/Type /Page", b"/Type  /Page", 1)
    assert forged != pdf.content
    bad = served.client.post(
        verify,
        files={"copy": ("forged.pdf", forged, "application/pdf")},
        headers=served.auth("auditor"),
    ).json()
    assert bad["intact"] is False and any("forged.pdf" in f for f in bad["findings"])
    field = served.client.post(
        verify,
        data={"note": "not a file"},
        files={"copy": ("c.pdf", pdf.content)},
        headers=served.auth("auditor"),
    )
    assert field.status_code == 400 and fields_of(field.json()) == {"note"}


def test_verify_finds_a_tampered_log(served: Served) -> None:
    from tests.support import raw_database

    with raw_database(served.workspace) as conn:
        conn.exec_driver_sql("UPDATE audit_events SET actor = 'someone-else' WHERE id = 2")
    r = served.client.post("/api/v1/audit/verify", headers=served.auth("platform"))
    assert r.status_code == 200
    body = r.json()
    assert body["intact"] is False and body["findings"]
