"""Pushing entries over HTTP: ``POST /api/v1/entries`` and ``POST /api/v1/entries/batch``
(rule article 7), checked against the timeline's expected outcomes and against the register."""

from __future__ import annotations

import json
from typing import Any

from bdcert.lifecycle import Registry
from tests.service.conftest import FailingSeal, Served
from tests.service.conftest import timeline_entry as entry
from tests.support import EXPECTED, TIMELINE, require_shared

require_shared(allow_module_level=True)
LINES = TIMELINE.read_text(encoding="utf-8").splitlines()
EXPECTED_RESULTS: list[dict[str, Any]] = json.loads(EXPECTED.read_text(encoding="utf-8"))
NDJSON = {"Content-Type": "application/x-ndjson"}


def push(served: Served, body: Any, operator: str = "registrar-510100") -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return served.client.post(
        "/api/v1/entries",
        content=content,
        headers={**served.auth(operator), "Content-Type": "application/json"},
    )


def stored_numbers(served: Served) -> list[str]:
    with Registry.open(served.workspace) as registry, registry.storage.transaction() as tx:
        return tx.certificate_numbers(limit=1000)


def test_push_issues_then_replays_with_the_same_numbers(served: Served) -> None:
    first = push(served, entry(1))
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["outcome"] == "issued"
    assert body["numbers"] == EXPECTED_RESULTS[0]["numbers"]
    assert body["kind"] == "property_certificate"
    [issued] = body["certificates"]
    assert issued["number"] == body["numbers"][0]
    assert issued["licence_id"].startswith("1.2.156.3005.2.")
    assert first.headers["location"] == issued["certificate"]  # the 201's Location
    meta = served.client.get(first.headers["location"], headers=served.auth("registrar-510100"))
    assert meta.status_code == 200 and meta.json()["number"] == issued["number"]
    pdf = served.client.get(issued["pdf"], headers=served.auth("registrar-510100"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")

    again = push(served, entry(1))
    assert again.status_code == 200
    assert again.json()["outcome"] == "replayed"
    assert again.json()["numbers"] == body["numbers"]
    assert stored_numbers(served) == body["numbers"]


def test_cancellation_answers_200_none(served: Served) -> None:
    for line in (9,):  # the 证明 that line 19 cancels
        assert push(served, entry(line)).status_code == 201
    r = push(served, entry(19))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "none"
    assert r.json()["cancels"] == EXPECTED_RESULTS[18]["cancels"]


def test_rejected_entries_are_400_problems_naming_the_field(served: Served) -> None:
    for line in range(21, 28):  # the timeline's rejected entries, each with its bad field
        r = push(served, entry(line))
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        doc = r.json()
        assert doc["status"] == 400
        assert EXPECTED_RESULTS[line - 1]["field"] in [e["field"] for e in doc["errors"]], line


def test_rejection_stores_nothing_and_consumes_no_number(served: Served) -> None:
    bad = entry(22)  # qlr[0].zjh fails its check digit
    assert push(served, bad).status_code == 400
    assert stored_numbers(served) == []
    assert (
        served.client.get(
            "/api/v1/certificates/" + "川(2024)成都市不动产权第0000001号",
            headers=served.auth("platform"),
        ).status_code
        == 404
    )
    good = push(served, entry(1))
    assert good.json()["numbers"] == ["川(2024)成都市不动产权第0000001号"]


def test_every_bad_field_is_named(served: Served) -> None:
    bad = entry(1)
    bad["qlr"][0]["zjh"] = "510104198503120170"
    bad["dbsj"] = "yesterday"
    bad["bdcdyh"] = ["short"]
    fields = {e["field"] for e in push(served, bad).json()["errors"]}
    assert fields == {"qlr[0].zjh", "dbsj", "bdcdyh"}


def test_malformed_json_and_duplicate_keys_are_400(served: Served) -> None:
    r = push(served, b'{"ywh": "510100-2024-000101",')
    assert r.status_code == 400
    assert r.json()["errors"][0]["field"] == "body"
    dup = LINES[0].replace('{"ywh": "510100-2024-000101",', '{"ywh": "x", "ywh": "y",', 1)
    r = push(served, dup.encode())
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["ywh"]
    r = push(served, b"[1, 2]")
    assert r.status_code == 400
    assert stored_numbers(served) == []


def test_same_ywh_other_content_is_409(served: Served) -> None:
    assert push(served, entry(1)).status_code == 201
    r = push(served, entry(28))  # line 28: 510100-2024-000101 again, another address
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/idempotency-conflict")
    errors = r.json()["errors"]  # the conflict's problems, each field named
    assert errors and all(e["field"] and e["message"] for e in errors), errors
    assert stored_numbers(served) == EXPECTED_RESULTS[0]["numbers"]


def test_permissions(served: Served) -> None:
    r = served.client.post("/api/v1/entries", content=LINES[0].encode())
    assert r.status_code == 401
    r = push(served, entry(1), operator="registrar-510700")
    assert r.status_code == 403
    assert "510700" in r.json()["detail"]
    for operator in ("auditor", "holder-wang", "bank-shuchuan"):
        assert push(served, entry(1), operator=operator).status_code == 403
    assert stored_numbers(served) == []
    assert push(served, entry(6), operator="registrar-510700").status_code == 201
    assert push(served, entry(8), operator="platform").status_code == 201


def test_batch_streams_one_result_per_line_as_bdcert_issue_json(served: Served) -> None:
    body = "\n".join([*LINES[:2], "", *LINES[20:22], "{not json", LINES[27], LINES[0]]) + "\n"
    r = served.client.post(
        "/api/v1/entries/batch",
        content=body.encode(),
        headers={**served.auth("platform"), **NDJSON},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(x) for x in r.text.splitlines()]
    assert [x["line"] for x in records] == [1, 2, 4, 5, 6, 7, 8]  # line 3 is blank
    assert [x["outcome"] for x in records] == [
        "issued", "issued", "rejected", "rejected", "rejected", "rejected", "replayed",
    ]  # fmt: skip
    assert records[0]["numbers"] == EXPECTED_RESULTS[0]["numbers"]
    assert records[6]["numbers"] == records[0]["numbers"]
    assert records[2]["errors"][0]["field"] == EXPECTED_RESULTS[20]["field"]
    assert records[3]["ywh"] == "510100-2024-000118"
    assert "qlr[0].zjh" in [e["field"] for e in records[3]["errors"]]
    assert records[4]["errors"][0]["message"].startswith("not JSON")
    assert records[5]["errors"][0]["field"] == "ywh"  # line 28: the same ywh, other content


def test_batch_result_shape_is_that_of_the_cli(served: Served, tmp_path: Any) -> None:
    """The same lines through ``bdcert issue --json`` (another workspace copy) give the same
    records: one shared function makes both."""
    from bdcert_adapters.entry_lines import issue_line

    with Registry.open(served.workspace) as registry:
        principal = registry.authenticate({"token": served.tokens["platform"]})
        expected = [issue_line(registry, principal, text)[0] for text in (LINES[20], "[")]
    r = served.client.post(
        "/api/v1/entries/batch",
        content=(LINES[20] + "\n[\n").encode(),
        headers={**served.auth("platform"), "Content-Type": "application/jsonl"},
    )
    got = [json.loads(x) for x in r.text.splitlines()]
    assert got == [{"line": 1, **expected[0]}, {"line": 2, **expected[1]}]


def test_batch_permissions_and_media_type(served: Served) -> None:
    body = (LINES[5] + "\n").encode()  # a 510700 entry
    assert (
        served.client.post("/api/v1/entries/batch", content=body, headers=NDJSON).status_code == 401
    )
    r = served.client.post(
        "/api/v1/entries/batch", content=body, headers={**served.auth("registrar-510100"), **NDJSON}
    )
    [record] = [json.loads(x) for x in r.text.splitlines()]
    assert record["outcome"] == "failed" and "PermissionDenied" in record["errors"][0]["message"]
    r = served.client.post(
        "/api/v1/entries/batch",
        content=body,
        headers={**served.auth("platform"), "Content-Type": "application/json"},
    )
    assert r.status_code == 415
    assert stored_numbers(served) == []


def test_batch_beyond_max_batch_bytes_is_413(served: Served) -> None:
    limit = served.client.app.state.settings.max_batch_bytes
    served.client.app.state.settings = type(served.client.app.state.settings)(max_batch_bytes=600)
    try:
        body = ("\n".join(LINES[1:3]) + "\n").encode()  # 527 + 543 bytes
        r = served.client.post(
            "/api/v1/entries/batch", content=body, headers={**served.auth("platform"), **NDJSON}
        )
        assert r.status_code == 413
        assert r.json()["type"].endswith("/too-large")

        def chunks() -> Any:  # no Content-Length: the limit is found while reading
            yield body[:600]
            yield body[600:]

        r = served.client.post(
            "/api/v1/entries/batch", content=chunks(), headers={**served.auth("platform"), **NDJSON}
        )
        records = [json.loads(x) for x in r.text.splitlines()]
        assert [x["outcome"] for x in records][-1] == "failed"
        assert records[-1]["errors"][0]["field"] == "body"
        assert len(stored_numbers(served)) == len([x for x in records if x["outcome"] == "issued"])
    finally:
        served.client.app.state.settings = type(served.client.app.state.settings)(
            max_batch_bytes=limit
        )


def test_openapi_documents_the_intake(served: Served) -> None:
    doc = served.client.get("/api/v1/openapi.json").json()
    post = doc["paths"]["/api/v1/entries"]["post"]
    responses = post["responses"]
    assert {"200", "201", "202", "400", "403", "409"} <= set(responses), sorted(responses)
    assert "Location" in responses["201"]["headers"]
    for status in ("400", "403", "409"):
        assert "application/problem+json" in responses[status]["content"], status
    assert "200" in doc["paths"]["/api/v1/collection"]["post"]["responses"]  # a re-deposit
    assert "application/json" in post["requestBody"]["content"]
    assert "409" in post["description"]  # the handler's docstring documents every status
    schemas = doc["components"]["schemas"]
    assert any("IssueResultView" in name for name in schemas)
    batch = doc["paths"]["/api/v1/entries/batch"]["post"]
    assert "application/x-ndjson" in batch["requestBody"]["content"]


def test_sealing_outage_answers_202_backlogged(served: Served) -> None:
    registry = served.client.app.state.registry
    working = registry.seal_provider
    registry.seal_provider = FailingSeal(working)
    try:
        r = push(served, entry(1))
        assert r.status_code == 202, r.text
        assert r.json()["outcome"] == "backlogged"
        assert "HSM" in r.json()["reason"]
        assert r.json()["numbers"] == [] and r.json()["certificates"] == []
    finally:
        registry.seal_provider = working
    assert stored_numbers(served) == []
    with Registry.open(served.workspace) as other:
        waiting = other.backlog(principal=other.authenticate({"token": served.tokens["platform"]}))
    assert [item.business_number for item in waiting] == ["510100-2024-000101"]


def test_batch_lines_are_the_same_however_the_body_is_chunked() -> None:
    """The body's lines (and their numbers) do not depend on where the network cut it: a line
    split across chunks, a Han character split between its bytes, CRLF, blank lines."""
    import asyncio
    import random

    from bdcert_adapters.service.routes.intake import _request_lines

    body = ("\n".join([LINES[0], "", LINES[1] + "\r", LINES[5]]) + "\n" + LINES[7]).encode()

    class Receiver:
        def __init__(self, chunks: list[bytes]) -> None:
            self.chunks = chunks

        async def receive(self) -> dict[str, Any]:
            chunk = self.chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def lines(chunks: list[bytes]) -> list[tuple[int, bytes]]:
        return [x async for x in _request_lines(Receiver(chunks), len(body))]  # type: ignore[arg-type]

    whole = asyncio.run(lines([body]))
    assert [n for n, _ in whole] == [1, 3, 4, 5]
    assert [json.loads(text)["ywh"] for _, text in whole] == [
        EXPECTED_RESULTS[i]["ywh"] for i in (0, 1, 5, 7)
    ]
    rng = random.Random(7)
    for _ in range(100):
        cuts = sorted(rng.sample(range(1, len(body)), rng.randint(1, 40)))
        chunks = [body[i:j] for i, j in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        assert asyncio.run(lines(chunks)) == whole


def test_batch_lines_longer_than_the_entry_limit_are_dropped_across_chunks() -> None:
    """_request_lines holds at most line_limit bytes of a line, whatever the chunking: a long
    line arriving in pieces is yielded as None, the lines around it whole."""
    import anyio

    from bdcert_adapters.service.routes.intake import _request_lines

    chunks = [b'{"a":1}\n{"b":"', b"x" * 40, b"x" * 40, b'"}\n{"c":', b"3}"]

    class _Request:
        def __init__(self) -> None:
            self.messages = [
                {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks)
            ]

        async def receive(self) -> dict[str, object]:
            return self.messages.pop(0)

    async def collect() -> list[tuple[int, bytes | None]]:
        return [x async for x in _request_lines(_Request(), 10_000, 50)]  # type: ignore[arg-type]

    assert anyio.run(collect) == [(1, b'{"a":1}'), (2, None), (3, b'{"c":3}')]
