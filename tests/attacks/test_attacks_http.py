"""Attacks on the HTTP interface (adapters/bdcert_adapters/service), each asserting the SECURE
behaviour: a test that fails shows a hole that is still open.

Run: PYTHONPATH=sdk:plugins:adapters:conformance python -m pytest tests/attacks/test_attacks_http.py
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Served, copy_served, served, served_template  # noqa: F401
from tests.service.issued import ISSUED_FIXTURE

issued = ISSUED_FIXTURE

FIRST = "川(2024)成都市不动产权第0000001号"  # 王晓明, authority 510100
DEEP = 100_000  # nesting depth of the "deeply nested JSON" bodies


def _deep(key: str | None = None) -> bytes:
    nested = b"[" * DEEP + b"]" * DEEP
    return nested if key is None else b'{"' + key.encode() + b'":' + nested + b"}"


def _no_5xx(r: Any) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    assert "Traceback" not in r.text and "sqlite" not in r.text.lower()


# --- 5xx on crafted input --------------------------------------------------------------------


def test_feed_cursor_beyond_64_bits_is_a_400_not_a_500(issued: Served) -> None:
    """GET /api/v1/feed?after=99999999999999999999999999 (a registrar, its own authority):
    parse_cursor accepts any ASCII digit string, int() makes it > 2**63, SQLite raises
    OverflowError -> 500."""
    r = issued.client.get(
        "/api/v1/feed",
        params={"after": "9" * 26},
        headers=issued.auth("registrar-510700"),
    )
    _no_5xx(r)
    assert r.status_code in (200, 400)


def test_feed_cursor_at_2_pow_63_is_not_a_500(issued: Served) -> None:
    r = issued.client.get(
        "/api/v1/feed", params={"after": str(2**63)}, headers=issued.auth("platform")
    )
    _no_5xx(r)


def test_deeply_nested_json_deposit_is_a_400(issued: Served) -> None:
    """POST /api/v1/collection, application/json, [[[[…]]]] 100 000 deep: json.loads raises
    RecursionError, which the handler does not catch (it catches ValueError) -> 500."""
    r = issued.client.post(
        "/api/v1/collection",
        content=_deep(),
        headers={**issued.auth("registrar-510700"), "content-type": "application/json"},
    )
    _no_5xx(r)
    assert r.status_code == 400


def test_deeply_nested_json_in_multipart_deposit_metadata_is_a_400(issued: Served) -> None:
    """POST /api/v1/collection, multipart, part ``metadata`` = [[[[…]]]]: same RecursionError."""
    r = issued.client.post(
        "/api/v1/collection",
        data={"metadata": _deep().decode()},
        files={"pdf": ("x.pdf", b"%PDF-1.7\n", "application/pdf")},
        headers=issued.auth("registrar-510700"),
    )
    _no_5xx(r)
    assert r.status_code == 400


def test_deeply_nested_json_deposit_event_is_a_400(issued: Served) -> None:
    """POST /api/v1/collection/{number}/events with {"a": [[[[…]]]]}: Litestar's body decoding
    fails with RecursionError -> 500."""
    r = issued.client.post(
        "/api/v1/collection/x/events",
        content=_deep("a"),
        headers={**issued.auth("registrar-510700"), "content-type": "application/json"},
    )
    _no_5xx(r)
    assert r.status_code == 400


def test_deeply_nested_json_countersignature_is_a_400(issued: Served) -> None:
    """POST /api/v1/witness/countersignatures, JSON {"pdf": [[[[…]]]]}: RecursionError -> 500."""
    r = issued.client.post(
        "/api/v1/witness/countersignatures",
        content=_deep("pdf"),
        headers={**issued.auth("registrar-510700"), "content-type": "application/json"},
    )
    _no_5xx(r)
    assert r.status_code == 400
