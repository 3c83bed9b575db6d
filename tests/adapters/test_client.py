"""The city's client of the provincial interface (:mod:`bdcert_adapters.client`): problem
documents become ProvinceError, connection errors and 503 are retried, the blocking and the
asyncio client send the same requests and read the same answers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from bdcert_adapters.client import (
    AsyncProvinceClient,
    ProvinceClient,
    ProvinceError,
    ProvinceUnreachable,
)

NUMBER = "川(2024)成都市不动产权第0000001号"
EVENT = {
    "cursor": "7",
    "kind": "cancelled",
    "number": NUMBER,
    "licence_id": "1.2.156.3005.2.11100000MB0000000X.0001.20240000001.001.0",
    "authority": "510100",
    "at": "2024-05-01T10:00:00+08:00",
    "business_number": "510100-2024-000115",
    "reason": "灭失",
}


class Province:
    """A scripted province: records every request; answers from ``answers`` in order, then
    from ``default``."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if self.answers else self.default(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def default(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/feed":
            after = request.url.params.get("after")
            return httpx.Response(200, json={"events": [] if after else [EVENT], "next": "7"})
        return httpx.Response(200, json={"ok": True})


def problem(status: int, **extra: Any) -> httpx.Response:
    body = {"type": "https://bdcert.dev/problems/x", "title": "t", "status": status, "detail": "d"}
    return httpx.Response(
        status, json=body | extra, headers={"content-type": "application/problem+json"}
    )


def sync_client(province: Province, **options: Any) -> ProvinceClient:
    return ProvinceClient(
        "https://province.test",
        token="secret",
        transport=httpx.MockTransport(province),
        backoff=0.001,
        **options,
    )


def async_client(province: Province, **options: Any) -> AsyncProvinceClient:
    return AsyncProvinceClient(
        "https://province.test",
        token="secret",
        transport=httpx.MockTransport(province),
        backoff=0.001,
        **options,
    )


def test_a_problem_document_is_a_typed_error_with_every_field() -> None:
    errors = [
        {"field": "qlr[0].zjh", "message": "bad check digit"},
        {"field": "zl", "message": "x"},
    ]
    province = Province(problem(400, errors=errors))
    with pytest.raises(ProvinceError) as caught:
        sync_client(province).push({"ywh": "1"})
    e = caught.value
    assert (e.status, e.title, e.detail) == (400, "t", "d")
    assert [(f.field, f.message) for f in e.errors] == [(x["field"], x["message"]) for x in errors]
    assert len(province.requests) == 1  # a 400 is not tried again


def test_503_and_connection_errors_are_retried_then_reported() -> None:
    province = Province(httpx.ConnectError("refused"), problem(503, retry_after=1))
    assert sync_client(province).summary("510100") == {"ok": True}
    assert len(province.requests) == 3
    always = Province(*[problem(503)] * 5)
    with pytest.raises(ProvinceError) as caught:
        sync_client(always, retries=2).certificate(NUMBER)
    assert caught.value.status == 503 and len(always.requests) == 3
    down = Province(*[httpx.ConnectError("refused")] * 3)
    with pytest.raises(ProvinceUnreachable, match="ConnectError"):
        sync_client(down, retries=2).feed_page()
    assert len(down.requests) == 3


def test_requests_carry_the_token_and_an_encoded_number() -> None:
    province = Province(httpx.Response(200, content=b"%PDF-1.7"))
    assert sync_client(province).pdf(NUMBER) == b"%PDF-1.7"
    request = province.requests[0]
    assert request.headers["authorization"] == "Bearer secret"
    assert request.url.raw_path.startswith(b"/api/v1/certificates/%E5%B7%9D%282024%29")
    assert request.url.raw_path.endswith(b"/pdf")


def test_push_batch_sends_json_lines_and_yields_each_result() -> None:
    lines = b'{"ywh": "1", "outcome": "issued"}\n\n{"ywh": "2", "outcome": "rejected"}\n'
    province = Province(httpx.Response(200, content=lines))
    results = list(sync_client(province).push_batch([{"ywh": "1"}, {"ywh": "2"}]))
    assert [r["ywh"] for r in results] == ["1", "2"]
    sent = province.requests[0]
    assert sent.url.path == "/api/v1/entries/batch"
    assert [json.loads(x) for x in sent.content.decode().splitlines()] == [
        {"ywh": "1"},
        {"ywh": "2"},
    ]


def test_the_blocking_and_the_async_client_agree() -> None:
    blocking, asynchronous = Province(), Province()
    events = list(sync_client(blocking).feed(authority="510100"))

    async def run() -> list[Any]:
        async with async_client(asynchronous) as client:
            return [e async for e in client.feed(authority="510100")]

    assert asyncio.run(run()) == events
    assert events[0].kind == "cancelled" and events[0].reason == "灭失"
    assert events[0].at.utcoffset() is not None
    assert [str(r.url) for r in asynchronous.requests] == [str(r.url) for r in blocking.requests]
    assert [r.url.params.get("after") for r in blocking.requests] == [None, "7"]


def test_the_async_client_reports_problems_alike() -> None:
    async def run() -> None:
        async with async_client(Province(problem(403))) as client:
            await client.verify(b"%PDF-1.7")

    with pytest.raises(ProvinceError) as caught:
        asyncio.run(run())
    assert caught.value.status == 403
