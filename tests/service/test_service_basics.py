"""The service's frame: health, readiness, the OpenAPI document, problem documents, tokens."""

from __future__ import annotations

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
