"""``GET /api/v1/lookup``: the register's verdict by QR token or by number and 权利人's name
(rule article 14): anonymous callers see masked data, an unknown certificate is a 200 verdict,
too many lookups a 429 problem with Retry-After."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bdcert.config import LookupPolicy
from bdcert.lifecycle import Registry
from tests.service.conftest import Served
from tests.service.issued import ISSUED_FIXTURE

issued = ISSUED_FIXTURE

FIRST = "川(2024)成都市不动产权第0000001号"  # 王晓明 (510104198503120176), superseded
SUCCESSOR = "川(2024)成都市不动产权第0000007号"
CANCELLED = "川(2024)成都市不动产证明第0000001号"


def token_of(served: Served, number: str) -> tuple[str, str]:
    """The certificate's QR token and verification URL, as the register holds them."""
    with Registry.open(served.workspace) as registry, registry.storage.transaction() as tx:
        c = tx.get_certificate(number)
    return c.token, c.verification_url


def lookup(served: Served, operator: str | None = None, **params: str) -> Any:
    headers = served.auth(operator) if operator else {}
    return served.client.get("/api/v1/lookup", params=params, headers=headers)


def test_anonymous_by_token_is_masked(issued: Served) -> None:
    token, verification_url = token_of(issued, FIRST)
    r = lookup(issued, token=token)
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["code"] == "superseded" and v["trusted"] is False
    assert SUCCESSOR in v["detail"]
    c = v["certificate"]
    assert c["number"] == FIRST
    assert c["holders"][0]["name"] == "王*明"
    assert c["holders"][0]["id_number"] == "5101**********0176"
    assert "王晓明" not in r.text and "510104198503120176" not in r.text
    assert c["superseded_by"] == [SUCCESSOR]
    assert c["verification_url"] == c["business_number"] == c["pdf_sha256"] == ""
    assert token not in r.text
    # the whole URL a QR scanner returns works as well
    assert lookup(issued, token=verification_url).json()["certificate"]["number"] == FIRST


def test_unknown_is_a_200_verdict(issued: Served) -> None:
    r = lookup(issued, token="A" * 32)
    assert r.status_code == 200
    assert r.json()["code"] == "unknown_certificate" and r.json()["certificate"] is None


def test_by_number_needs_the_holders_name(issued: Served) -> None:
    r = lookup(issued, number=FIRST, name="王晓明")  # httpx percent-encodes the query
    assert r.status_code == 200 and r.json()["code"] == "superseded"
    assert r.json()["certificate"]["holders"][0]["name"] == "王*明"
    wrong = lookup(issued, number=FIRST, name="李四")
    assert wrong.status_code == 200 and wrong.json()["code"] == "unknown_certificate"
    r = lookup(issued, number=FIRST)
    assert r.status_code == 400
    assert "query.name" in [e["field"] for e in r.json()["errors"]]
    cancelled = lookup(issued, number="川（2024）成都市不动产证明第0000001号", operator="platform")
    assert cancelled.json()["code"] == "cancelled"  # full-width parentheses folded


def test_full_view_for_those_allowed(issued: Served) -> None:
    r = lookup(issued, number=FIRST, operator="platform")
    assert r.status_code == 200
    holder = r.json()["certificate"]["holders"][0]
    assert holder == {
        "name": "王晓明",
        "id_type": "1",
        "id_number": "510104198503120176",
        "share": None,
    }
    own = lookup(issued, number=FIRST, name="王晓明", operator="holder-wang").json()
    assert own["certificate"]["holders"][0]["name"] == "王晓明"
    assert own["certificate"]["verification_url"] != ""
    other = lookup(issued, number=FIRST, name="王晓明", operator="registrar-510700").json()
    assert other["certificate"]["holders"][0]["name"] == "王*明"
    assert other["certificate"]["verification_url"] == ""


def test_bad_parameters_are_named(issued: Served) -> None:
    r = lookup(issued)
    assert r.status_code == 400
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"query.token", "query.number"}
    r = lookup(issued, token="x", number=FIRST)
    assert r.status_code == 400
    r = lookup(issued, token="x", name="王晓明")
    assert "query.name" in {e["field"] for e in r.json()["errors"]}
    r = issued.client.get(
        "/api/v1/lookup", params={"token": "x"}, headers={"Authorization": "Bearer nonsense"}
    )
    assert r.status_code == 401


def test_too_many_lookups_is_429_with_retry_after(issued: Served) -> None:
    registry = issued.client.app.state.registry
    before = registry.lookup_policy
    registry.lookup_policy = LookupPolicy(max_lookups=2, window=timedelta(minutes=10))
    try:
        token, _ = token_of(issued, SUCCESSOR)
        for _ in range(2):
            assert lookup(issued, "registrar-513401", token=token).status_code == 200
        r = lookup(issued, "registrar-513401", token=token)
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert 0 < int(r.headers["Retry-After"]) <= 601
        assert r.json()["retry_after"] == int(r.headers["Retry-After"])
        # another client is counted on its own; the platform is not limited
        assert lookup(issued, "registrar-510700", token=token).status_code == 200
        for _ in range(3):
            assert lookup(issued, "platform", token=token).status_code == 200
    finally:
        registry.lookup_policy = before
