"""Problem documents name query parameters alike, ``query.<name>``, in our own words: whether a
handler, the SDK or Litestar's parameter parsing found the problem."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.service.conftest import Served

NUMBER = "川(2024)成都市不动产权第0000001号"


def _errors(r: Any) -> list[tuple[str, str]]:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return [(e["field"], e["message"]) for e in r.json()["errors"]]


def test_a_parameter_of_the_wrong_type_is_named_in_our_words(served: Served) -> None:
    r = served.client.get("/api/v1/feed?limit=many", headers=served.auth("platform"))
    assert _errors(r) == [("query.limit", "must be an integer")]


def test_the_feed_names_its_parameters_as_query_parameters(served: Served) -> None:
    r = served.client.get("/api/v1/feed?limit=0", headers=served.auth("platform"))
    assert [f for f, _ in _errors(r)] == ["query.limit"]
    r = served.client.get("/api/v1/feed?after=nonsense", headers=served.auth("platform"))
    assert [f for f, _ in _errors(r)] == ["query.after"]
    r = served.client.get("/api/v1/feed?authority=999999", headers=served.auth("platform"))
    assert [f for f, _ in _errors(r)] == ["query.authority"]
    r = served.client.get(
        "/api/v1/library/summary?authority=999999", headers=served.auth("platform")
    )
    assert [f for f, _ in _errors(r)] == ["query.authority"]


def test_a_lookup_by_number_without_name_names_query_name(served: Served) -> None:
    r = served.client.get(f"/api/v1/lookup?number={quote(NUMBER)}")
    assert [f for f, _ in _errors(r)] == ["query.name"]
    r = served.client.get(f"/api/v1/lookup?number={quote(NUMBER)}&name=%20")
    assert [f for f, _ in _errors(r)] == ["query.name"]


def test_a_malformed_number_is_404_as_the_openapi_document_says(served: Served) -> None:
    r = served.client.get("/api/v1/certificates/nonsense", headers=served.auth("platform"))
    assert r.status_code == 404, r.text
    doc = served.client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/certificates/{number}", "/api/v1/licences/{licence_id}/pdf"):
        assert "400" not in doc["paths"][path]["get"]["responses"], path
    # an integer path parameter that does not parse matches no route either
    assert "400" not in doc["paths"]["/api/v1/audit/checkpoints/{number}/pdf"]["get"]["responses"]
    r = served.client.get("/api/v1/audit/checkpoints/abc/pdf", headers=served.auth("auditor"))
    assert r.status_code == 404, r.text
