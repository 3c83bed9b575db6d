"""``GET /metrics``: Prometheus text, read back with prometheus_client's own parser.

Counters are process-wide, so each test compares values before and after what it does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.conftest import FailingSeal, Served, copy_served, timeline_entry


def sample(client: Any, token: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` with ``labels`` (0 when absent) in ``client``'s /metrics,
    read with the bearer ``token`` (an auditor's: /metrics is not public)."""
    r = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    total = 0.0
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def test_issue_and_backlog_are_counted_whoever_pushes(served: Served) -> None:
    """The counters follow the registry (event hook, push wrapper), not one route: a push made
    on the worker's registry directly is counted like one through HTTP."""
    client = served.client
    registry = client.app.state.registry
    platform = registry.authenticate({"token": served.tokens["platform"]})
    labels = {"authority": "510100", "kind": "property_certificate"}
    issued_before = sample(
        client, served.tokens["auditor"], "bdcert_certificates_issued_total", **labels
    )
    result = registry.push(timeline_entry(1), principal=platform)
    assert result.outcome.value == "issued"
    assert (
        sample(client, served.tokens["auditor"], "bdcert_certificates_issued_total", **labels)
        == issued_before + 1
    )

    backlogged_before = sample(
        client, served.tokens["auditor"], "bdcert_backlogged_total", authority="510100"
    )
    registry.seal_provider = FailingSeal(registry.seal_provider)
    result = registry.push(timeline_entry(2), principal=platform)
    assert result.outcome.value == "backlogged"
    assert (
        sample(client, served.tokens["auditor"], "bdcert_backlogged_total", authority="510100")
        == backlogged_before + 1
    )
    assert (
        sample(client, served.tokens["auditor"], "bdcert_certificates_issued_total", **labels)
        == issued_before + 1
    )


def test_verdicts_are_counted_by_code(served: Served) -> None:
    from bdcert_adapters.service.metrics import record_verdict

    before = sample(
        served.client, served.tokens["auditor"], "bdcert_verify_verdicts_total", code="valid"
    )
    record_verdict("valid")
    record_verdict("valid")
    assert (
        sample(
            served.client, served.tokens["auditor"], "bdcert_verify_verdicts_total", code="valid"
        )
        == before + 2
    )


def test_request_durations_are_labelled_by_route_template(served: Served) -> None:
    name = "bdcert_http_request_duration_seconds_count"
    labels = {"path": "/api/v1/whoami", "method": "GET"}
    ok_before = sample(served.client, served.tokens["auditor"], name, status_code="200", **labels)
    denied_before = sample(
        served.client, served.tokens["auditor"], name, status_code="401", **labels
    )
    served.client.get("/api/v1/whoami", headers=served.auth("auditor"))
    served.client.get("/api/v1/whoami")
    assert (
        sample(served.client, served.tokens["auditor"], name, status_code="200", **labels)
        == ok_before + 1
    )
    assert (
        sample(served.client, served.tokens["auditor"], name, status_code="401", **labels)
        == denied_before + 1
    )
    buckets = sample(
        served.client,
        served.tokens["auditor"],
        "bdcert_http_request_duration_seconds_bucket",
        le="+Inf",
        **labels,
    )
    assert buckets >= 2


@pytest.fixture
def strict(served_template: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[Any]:
    from litestar.testing import TestClient

    from bdcert.lifecycle import Registry
    from bdcert_adapters.service import ServiceSettings, create_app

    ws, tokens = copy_served(served_template, tmp_path / "ws")
    app = create_app(lambda: Registry.open(ws), ServiceSettings(rate_limit=2))
    with TestClient(app) as client:
        yield client, tokens["auditor"]


def test_rate_limited_requests_are_counted(strict: Any) -> None:
    client, token = strict
    before = sample(client, token, "bdcert_rate_limited_total")
    statuses = [client.get("/api/v1/openapi.json").status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert sample(client, token, "bdcert_rate_limited_total") == before + 2


def test_metrics_need_a_platform_or_auditor_token(served: Served) -> None:
    """Per-authority business counters are not public: 401 anonymous, 403 for a registrar or
    a holder, 200 for the platform and an auditor."""
    assert served.client.get("/metrics").status_code == 401
    for operator, status in [
        ("registrar-510100", 403),
        ("holder-wang", 403),
        ("platform", 200),
        ("auditor", 200),
    ]:
        assert served.client.get("/metrics", headers=served.auth(operator)).status_code == status
