"""The change feed and the library summary (rule article 12): order, cursor, per-authority
filtering, permissions and privacy, over the sample timeline pushed once into a served demo
workspace."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bdcert.errors import BdcertError
from bdcert.model import Principal
from tests.service.conftest import Served, copy_served
from tests.support import (
    DATABASES,
    EXPECTED,
    TIMELINE,
    database_url,
    require_shared,
    use_database,
)

require_shared(allow_module_level=True)

PLATFORM = Principal("platform", frozenset({"platform"}))


def push_timeline(registry: Any, lines: list[str]) -> None:
    """Push sample entries as the platform (rejections are part of the timeline)."""
    for line in lines:
        with contextlib.suppress(BdcertError):
            registry.push(json.loads(line), principal=PLATFORM)


@pytest.fixture(scope="module")
def province(
    served_template: tuple[Path, dict[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A served workspace holding the whole sample timeline, then read and looked up (private
    accesses the feed must never show)."""
    from litestar.testing import TestClient

    from bdcert.lifecycle import Registry
    from bdcert_adapters.service import ServiceSettings, create_app

    ws, tokens = copy_served(served_template, tmp_path_factory.mktemp("feed") / "ws")
    with Registry.open(ws) as registry:
        push_timeline(registry, TIMELINE.read_text(encoding="utf-8").splitlines())
        number = "川(2024)成都市不动产权第0000002号"
        registry.certificate(number, principal=PLATFORM)
        registry.pdf(number, principal=PLATFORM)
        registry.lookup(number=number, principal=PLATFORM)
    settings = ServiceSettings.from_settings(ws.table("service"))
    app = create_app(lambda: Registry.open(ws), settings)
    with TestClient(app) as client:
        yield Served(ws, tokens, client)


def all_events(served: Served, operator: str, **query: Any) -> list[dict[str, Any]]:
    """Every event of the feed, page by page (``limit`` per page) following ``next``."""
    events: list[dict[str, Any]] = []
    after = ""
    while True:
        r = served.client.get(
            "/api/v1/feed", params={"after": after, **query}, headers=served.auth(operator)
        )
        assert r.status_code == 200, r.text
        page = r.json()
        if not page["events"]:
            assert page["next"] == (after or "0")
            return events
        events.extend(page["events"])
        assert page["next"] == page["events"][-1]["cursor"]
        after = page["next"]


def expected_changes() -> list[tuple[str, str]]:
    """(kind, number) of every change the sample timeline makes, in push order."""
    changes = []
    for record in json.loads(EXPECTED.read_text(encoding="utf-8")):
        if record["outcome"] == "replayed":
            continue
        changes += [("issued", n) for n in record.get("numbers", ())]
        changes += [("superseded", n) for n in record.get("supersedes", ())]
        changes += [("cancelled", n) for n in record.get("cancels", ())]
        changes += [("restricted", n) for n in record.get("restricts", ())]
    return changes


def test_the_province_feed_lists_every_change_in_order_across_pages(province: Served) -> None:
    events = all_events(province, "platform", limit=4)
    cursors = [int(e["cursor"]) for e in events]
    assert cursors == sorted(set(cursors))
    assert [(e["kind"], e["number"]) for e in events] == expected_changes()
    issued = [e for e in events if e["kind"] == "issued"]
    for e in issued:
        assert e["certificate"]["number"] == e["number"]
        assert e["certificate"]["status"] == "valid" and not e["certificate"]["restrictions"]
        assert len(e["pdf_sha256"]) == 64 and e["has_ofd"] is False
    superseded = {e["number"]: e["superseded_by"] for e in events if e["kind"] == "superseded"}
    assert superseded["川(2024)成都市不动产权第0000001号"] == ["川(2024)成都市不动产权第0000007号"]
    restricted = next(e for e in events if e["kind"] == "restricted")
    assert restricted["restriction"]["business_number"] == "510100-2024-000116"
    assert restricted["restriction"]["document_number"]


def test_a_cursor_resumes_exactly_after_its_event(province: Served) -> None:
    events = all_events(province, "auditor")
    middle = events[10]["cursor"]
    r = province.client.get(
        "/api/v1/feed", params={"after": middle, "limit": 3}, headers=province.auth("auditor")
    )
    assert [e["cursor"] for e in r.json()["events"]] == [e["cursor"] for e in events[11:14]]


def test_a_registrar_sees_only_its_own_authority(province: Served) -> None:
    own = all_events(province, "registrar-510700")
    assert own and {e["authority"] for e in own} == {"510700"}
    asked = all_events(province, "registrar-510700", authority="510700")
    assert asked == own
    everyone = all_events(province, "platform")
    assert own == [e for e in everyone if e["authority"] == "510700"]
    r = province.client.get(
        "/api/v1/feed", params={"authority": "510100"}, headers=province.auth("registrar-510700")
    )
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


def test_others_may_not_read_the_feed(province: Served) -> None:
    assert province.client.get("/api/v1/feed").status_code == 401
    for operator in ("holder-wang", "bank-shuchuan"):
        r = province.client.get("/api/v1/feed", headers=province.auth(operator))
        assert r.status_code == 403, operator


def test_bad_queries_name_every_bad_field(province: Served) -> None:
    r = province.client.get(
        "/api/v1/feed",
        params={"after": "abc", "authority": "999999", "limit": 0},
        headers=province.auth("platform"),
    )
    assert r.status_code == 400
    # the cursor is checked first; then every other field together
    assert {e["field"] for e in r.json()["errors"]} == {"query.after"}
    r = province.client.get(
        "/api/v1/feed",
        params={"authority": "999999", "limit": 5000},
        headers=province.auth("platform"),
    )
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["errors"]} == {"query.authority", "query.limit"}


def test_reads_lookups_and_downloads_never_appear(province: Served) -> None:
    registry = province.client.app.state.registry
    with registry.storage.transaction() as tx:
        logged = {e.action for e in tx.audit_events()}
    assert {"read", "download", "lookup", "feed"} <= logged  # they happened …
    kinds = {e["kind"] for e in all_events(province, "platform")}
    assert kinds == {"issued", "superseded", "cancelled", "restricted"}  # … and stay private


def test_summary_counts_and_digest(province: Served) -> None:
    from bdcert.lifecycle.feed import library_summary

    r = province.client.get("/api/v1/library/summary", headers=province.auth("platform"))
    assert r.status_code == 200, r.text
    by_code = {s["authority"]: s for s in r.json()["authorities"]}
    assert set(by_code) == {"510100", "510700", "513401"}
    chengdu = by_code["510100"]
    assert chengdu["counts"] == {"valid": 12, "superseded": 4, "cancelled": 1, "restricted": 1}
    assert chengdu["total"] == 17
    registry = province.client.app.state.registry
    assert library_summary(registry.storage, "510100").digest == chengdu["digest"]
    mine = province.client.get(
        "/api/v1/library/summary", headers=province.auth("registrar-510700")
    ).json()["authorities"]
    assert [s["authority"] for s in mine] == ["510700"]
    assert mine[0] == by_code["510700"]
    r = province.client.get(
        "/api/v1/library/summary",
        params={"authority": "510100"},
        headers=province.auth("registrar-510700"),
    )
    assert r.status_code == 403


@pytest.mark.parametrize("kind", DATABASES)
def test_the_feed_records_on_each_database(
    kind: str, served_template: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """The storage role the feed and a mirror use (:class:`bdcert.lifecycle.feed.FeedRecords`), on
    SQLite and PostgreSQL: one code path."""
    import shutil
    from datetime import date

    from bdcert.lifecycle import Registry
    from bdcert.lifecycle.feed import feed_records, read_feed

    lines = TIMELINE.read_text(encoding="utf-8").splitlines()
    seized = "川(2024)成都市不动产权第0000002号"
    target = tmp_path / "ws"
    shutil.copytree(served_template[0], target, ignore=shutil.ignore_patterns("bdcert.sqlite3*"))
    with database_url(kind, tmp_path) as url:
        use_database(target, url)
        with Registry.open(target) as registry:
            push_timeline(registry, [lines[0], lines[1], lines[5], lines[19]])
            page = read_feed(registry.services, principal=PLATFORM, authority="510100")
            assert [e.kind for e in page.events] == ["issued", "issued", "restricted"]
            rest = read_feed(registry.services, principal=PLATFORM, after=page.events[0].cursor)
            assert [e.number for e in rest.events][-1] == seized
            assert {e.authority for e in rest.events} == {"510100", "510700"}
            now = registry.clock()
            with registry.storage.transaction() as tx:
                records = feed_records(tx)
                assert [c.number for c in records.certificates_of_authority("510700")] == [
                    "川(2024)绵阳市不动产权第0000001号"
                ]
                assert len(records.certificates_of_authority(None, limit=1)) == 1
                assert records.lift_restriction(seized, "510100-2024-000116", date(2024, 6, 1))
                assert records.mirror_cursor("p#510100") is None
                records.set_mirror_cursor("p#510100", "3", now)
                records.add_mirrored_registration("m-1", "510100", "A", now)
                records.add_mirrored_registration("m-1", "510100", "B", now)
            with registry.storage.transaction() as tx:
                records = feed_records(tx)
                assert records.mirror_cursor("p#510100") == "3"
                assert tx.get_certificate(seized).restrictions[0].end == date(2024, 6, 1)
                stored = tx.get_registration("m-1")
                assert stored is not None and stored.result.numbers == ("A", "B")
                assert records.lift_restriction(seized, "no-such-ywh", date(2024, 6, 1)) == 0
                assert records.lift_restriction(seized, "510100-2024-000116", date(2024, 7, 1)) == 0


def test_the_operations_are_in_the_openapi_document(province: Served) -> None:
    doc = province.client.get("/api/v1/openapi.json").json()
    feed = doc["paths"]["/api/v1/feed"]["get"]
    assert {p["name"] for p in feed["parameters"]} >= {"after", "authority", "limit"}
    assert "/api/v1/library/summary" in doc["paths"]
    assert "FeedEvent" in json.dumps(doc["components"]["schemas"])


def test_the_async_client_reads_the_same_feed_and_summary(province: Served) -> None:
    """:class:`AsyncProvinceClient` over the app itself (httpx's ASGI transport) reads what
    the test client reads."""
    import asyncio

    import httpx

    from bdcert_adapters.client import AsyncProvinceClient

    async def read() -> tuple[list[Any], dict[str, Any]]:
        transport = httpx.ASGITransport(app=province.client.app)
        token = province.tokens["registrar-510700"]
        async with AsyncProvinceClient(
            "http://province.test", token=token, transport=transport
        ) as client:
            return [e async for e in client.feed()], await client.summary()

    events, summary = asyncio.run(read())
    expected = all_events(province, "registrar-510700")
    assert [(e.cursor, e.kind, e.number) for e in events] == [
        (e["cursor"], e["kind"], e["number"]) for e in expected
    ]
    assert summary["authorities"][0]["authority"] == "510700"
