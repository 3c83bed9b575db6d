"""Limits of the service: request-body size (413 problem), uploads read up to a limit
(:func:`read_upload`), and the per-client rate limit (429 problem with Retry-After)."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import copy_served

PROBE = "bdcert_adapters.service.routes._limits_probe"


def _probe_module() -> types.ModuleType:
    """A route module for these tests only: a JSON echo and an upload through read_upload."""
    from litestar import Request, post
    from litestar.params import JSONBody

    from bdcert_adapters.service.limits import read_upload

    @post("/probe/json", sync_to_thread=False)
    def echo(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        return {"keys": len(data)}

    @post("/probe/upload")
    async def upload(request: Request[Any, Any, Any]) -> dict[str, int]:
        body = await read_upload(request, request.app.state.settings.max_upload_bytes)
        return {"bytes": len(body)}

    module = types.ModuleType(PROBE)
    module.ROUTES = [echo, upload]  # type: ignore[attr-defined]
    return module


@pytest.fixture
def limited(
    served_template: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Any, dict[str, str]]]:
    """A client over an app with small limits and the probe routes."""
    from litestar.testing import TestClient

    from bdcert.lifecycle import Registry
    from bdcert_adapters.service import ServiceSettings, create_app
    from bdcert_adapters.service import routes as routes_package

    monkeypatch.setitem(sys.modules, PROBE, _probe_module())
    monkeypatch.setattr(routes_package, "MODULES", (*routes_package.MODULES, "_limits_probe"))
    ws, tokens = copy_served(served_template, tmp_path / "ws")
    settings = ServiceSettings(
        max_request_bytes=200, max_upload_bytes=1000, rate_limit=5, rate_window_seconds=3600
    )
    app = create_app(lambda: Registry.open(ws), settings)
    with TestClient(app) as client:
        yield client, tokens


def _is_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["type"].startswith("https://bdcert.dev/problems/")
    return body


def test_json_body_over_max_request_bytes_is_a_413_problem(limited: Any) -> None:
    client, tokens = limited
    auth = {"Authorization": f"Bearer {tokens['platform']}"}
    small = client.post("/api/v1/probe/json", json={"a": 1}, headers=auth)
    assert small.status_code == 201, small.text
    big = client.post("/api/v1/probe/json", json={"a": "x" * 300}, headers=auth)
    body = _is_problem(big, 413)
    assert body["type"].endswith("/too-large")


def test_upload_is_read_up_to_its_limit(limited: Any) -> None:
    client, tokens = limited
    auth = {"Authorization": f"Bearer {tokens['platform']}"}
    ok = client.post("/api/v1/probe/upload", content=b"%PDF" + b"0" * 500, headers=auth)
    assert ok.status_code == 201, ok.text
    assert ok.json() == {"bytes": 504}
    body = _is_problem(client.post("/api/v1/probe/upload", content=b"0" * 1001, headers=auth), 413)
    assert "1000 bytes" in body["detail"]


def test_streamed_upload_without_length_stops_at_the_limit(limited: Any) -> None:
    client, tokens = limited
    auth = {"Authorization": f"Bearer {tokens['platform']}"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(50):
            yield b"0" * 100

    _is_problem(client.post("/api/v1/probe/upload", content=chunks(), headers=auth), 413)


def test_empty_upload_is_a_400_problem(limited: Any) -> None:
    client, tokens = limited
    auth = {"Authorization": f"Bearer {tokens['platform']}"}
    body = _is_problem(client.post("/api/v1/probe/upload", content=b"", headers=auth), 400)
    assert body["type"].endswith("/empty-body")


def test_rate_limit_is_per_client_with_retry_after(limited: Any) -> None:
    client, tokens = limited
    platform = {"Authorization": f"Bearer {tokens['platform']}"}
    auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
    for _ in range(5):
        assert client.get("/api/v1/whoami", headers=platform).status_code == 200
    refused = client.get("/api/v1/whoami", headers=platform)
    body = _is_problem(refused, 429)
    assert body["type"].endswith("/rate-limited")
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 3600
    assert body["retry_after"] == retry_after
    # another principal has its own count; so has an anonymous caller (by address)
    assert client.get("/api/v1/whoami", headers=auditor).json()["name"] == "auditor"
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_rate_limiter_windows() -> None:
    from bdcert_adapters.service.limits import RateLimiter

    now = [100.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert limiter.hit("a") is None
    assert limiter.hit("a") is None
    assert limiter.hit("a") == 20  # window [60, 120): 20 s left
    assert limiter.hit("b") is None
    now[0] = 120.5  # the next window
    assert limiter.hit("a") is None
    assert RateLimiter(0, 60).hit("a") is None  # 0: no limit


def test_bad_tokens_count_against_the_address(limited: Any) -> None:
    client, _ = limited
    bad = {"Authorization": "Bearer not-a-token"}
    statuses = [client.get("/api/v1/whoami", headers=bad).status_code for _ in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    # the same address without credentials is the same client
    assert client.get("/api/v1/openapi.json").status_code == 429
