"""The service's frame: health, readiness, the OpenAPI document, problem documents, tokens."""

from __future__ import annotations

import logging

import pytest

from tests.service.conftest import Served


def test_health_and_readiness_answer(served: Served) -> None:
    assert served.client.get("/healthz").json()["status"] == "ok"
    assert served.client.get("/readyz").json()["status"] == "ok"


def test_openapi_document_is_3_1_and_generated(served: Served) -> None:
    doc = served.client.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert "/readyz" in doc["paths"]


def test_unknown_path_is_a_problem_document(served: Served) -> None:
    r = served.client.get("/api/v1/no-such-operation")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 404


def test_json_nested_too_deep_or_not_utf8_is_a_400_without_a_logged_traceback(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """A body Litestar decodes for a ``data`` parameter that recurses too deep (RecursionError)
    or is not UTF-8: a 400 ``malformed-json`` problem, and no "internal error" logged."""
    deep = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with caplog.at_level(logging.ERROR):
        for body in (deep, b'{"zh": "\xff\xfe"}'):
            r = served.client.post(
                "/api/v1/checks/information",
                content=body,
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 400, r.text[:200]
            assert r.headers["content-type"].startswith("application/problem+json")
    assert "internal error" not in caplog.text and "RecursionError" not in caplog.text
    deep_answer = served.client.post(
        "/api/v1/checks/information", content=deep, headers={"content-type": "application/json"}
    ).json()
    assert deep_answer["type"].endswith("/malformed-json")
