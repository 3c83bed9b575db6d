"""The interface plan's deliberately broken reference implementations: the reference city (or
province) behind an httpx transport that rewrites one kind of request or response, so that each
has exactly ONE fault, and the check that must catch it.

Each ``make(environment, workdir)`` returns ``(RunOptions, InterfaceSession)``: the session's
client talks to the reference through the faulty transport.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bdcert_conformance.kit.model import BrokenImplementation, RunOptions
from bdcert_conformance.plans.interface_reference import ReferenceEnvironment, reference_run
from bdcert_conformance.plans.interface_session import InterfaceSession

__all__ = ["BROKEN", "Rewriting"]

Forward = Callable[[httpx.Request], httpx.Response]
Rewrite = Callable[[httpx.Request, Forward], httpx.Response]


class Rewriting(httpx.BaseTransport):
    """An httpx transport to the network whose ``rewrite(request, forward)`` may change the
    request, send it (``forward``) any number of times, and change the answer."""

    def __init__(self, rewrite: Rewrite) -> None:
        self.inner = httpx.HTTPTransport()
        self.rewrite = rewrite

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        def forward(req: httpx.Request) -> httpx.Response:
            response = self.inner.handle_request(req)
            response.read()
            return response

        request.read()
        return self.rewrite(request, forward)

    def close(self) -> None:
        self.inner.close()


def _json_response(
    response: httpx.Response, body: Any, status: int | None = None
) -> httpx.Response:
    """``response`` with ``body`` as its JSON (and ``status``)."""
    headers = {
        k: v
        for k, v in response.headers.items()
        if k.lower() not in ("content-length", "content-encoding")
    }
    return httpx.Response(
        status or response.status_code,
        headers=headers,
        content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
    )


def _with_body(request: httpx.Request, body: Any, token: str | None = None) -> httpx.Request:
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    content = request.content if body is None else json.dumps(body, ensure_ascii=False).encode()
    return httpx.Request(request.method, request.url, headers=headers, content=content)


def _is(request: httpx.Request, method: str, suffix: str) -> bool:
    return request.method == method and request.url.path.endswith(suffix)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _on_response(method: str, suffix: str, change: Callable[[Any, httpx.Response], Any]) -> Rewrite:
    """A rewrite of the JSON answers of ``method *suffix``: ``change(body, response)`` returns
    the new body (or None: unchanged)."""

    def rewrite(request: httpx.Request, forward: Forward) -> httpx.Response:
        response = forward(request)
        if not _is(request, method, suffix):
            return response
        body = _json(response)
        new = change(body, response) if body is not None else None
        return response if new is None else _json_response(response, new)

    return rewrite


def _session(
    env: ReferenceEnvironment,
    workdir: Path,
    target: Rewrite | None = None,
    province: Rewrite | None = None,
) -> tuple[RunOptions, InterfaceSession]:
    options = reference_run(env, workdir)
    session = InterfaceSession(
        options,
        transport=Rewriting(target) if target else None,
        province_transport=Rewriting(province) if province else None,
    )
    return options, session


# --- the faults ------------------------------------------------------------------------------


def _superseded_in_force(body: Any, response: httpx.Response) -> Any:
    if body.get("status") != "superseded":
        return None
    return {**body, "code": "valid", "status": "valid", "superseded_by": [], "detail": "valid"}


def _seizure_hidden(body: Any, response: httpx.Response) -> Any:
    if not body.get("restricted"):
        return None
    return {**body, "code": "valid", "restricted": False, "restrictions": [], "detail": "valid"}


def _no_cancellations(body: Any, response: httpx.Response) -> Any:
    events = [e for e in body.get("events", []) if e.get("kind") != "cancelled"]
    return {**body, "events": events}


def _reversed_feed(body: Any, response: httpx.Response) -> Any:
    return {**body, "events": list(reversed(body.get("events", [])))}


def _cancelled_in_force(body: Any, response: httpx.Response) -> Any:
    if body.get("code") != 3 or body.get("verdict") != "cancelled":
        return None
    return {**body, "code": 0, "meaning": "信息正确且有效", "verdict": "valid"}


def _tampered_accepted(body: Any, response: httpx.Response) -> Any:
    if body.get("code") in (0, None):
        return None
    return {**body, "code": 0, "meaning": "文件验证通过", "verdict": "valid"}


def _detail_null(body: Any, response: httpx.Response) -> Any:
    return {**body, "detail": None}


def _proof_as_property(body: Any, response: httpx.Response) -> Any:
    if response.status_code != 201 or body.get("kind") != "registration_proof":
        return None
    certificates = [{**c, "kind": "property_certificate"} for c in body.get("certificates", [])]
    return {**body, "kind": "property_certificate", "certificates": certificates}


def _push_again_as_new(suffix: str, when: Callable[[httpx.Response], bool]) -> Rewrite:
    """On a push answered as ``when`` says, push the entry again under ``ywh + suffix`` (a new
    business, on fresh unit numbers so that it issues) and answer that, with the original
    ``ywh`` in the body."""

    def rewrite(request: httpx.Request, forward: Forward) -> httpx.Response:
        response = forward(request)
        if not _is(request, "POST", "/entries") or not when(response):
            return response
        entry = json.loads(request.content)
        ywh = entry["ywh"]
        units = [u[:-8] + f"{secrets.randbelow(10**8 - 1) + 1:08d}" for u in entry["bdcdyh"]]
        again = forward(_with_body(request, {**entry, "ywh": ywh + suffix, "bdcdyh": units}))
        body = _json(again)
        if not isinstance(body, dict):
            return again
        return _json_response(again, {**body, "ywh": ywh})

    return rewrite


def _replayed(response: httpx.Response) -> bool:
    body = _json(response)
    return (
        response.status_code == 200 and isinstance(body, dict) and body.get("outcome") == "replayed"
    )


def _stores_malformed(request: httpx.Request, forward: Forward) -> httpx.Response:
    """Refuses a malformed unit number, but files the entry with the number repaired."""
    response = forward(request)
    if not _is(request, "POST", "/entries") or response.status_code != 400:
        return response
    try:
        entry = json.loads(request.content)
    except ValueError:
        return response
    if isinstance(entry, dict) and isinstance(entry.get("bdcdyh"), list):
        units = [u + "1" if isinstance(u, str) and len(u) == 27 else u for u in entry["bdcdyh"]]
        forward(_with_body(request, {**entry, "bdcdyh": units}))
    return response


def _other_authority_allowed(platform: str) -> Rewrite:
    """A 403 is retried with the platform's credentials: authority checks not enforced."""

    def rewrite(request: httpx.Request, forward: Forward) -> httpx.Response:
        response = forward(request)
        if response.status_code != 403:
            return response
        return forward(_with_body(request, None, token=platform))

    return rewrite


def _province_accepts(body: Any, response: httpx.Response) -> Any:
    if response.status_code != 400:
        return None
    return {
        "outcome": "deposited",
        "number": "",
        "licence_id": "",
        "kind": "",
        "authority": "",
        "token": "",
        "status": "valid",
        "issued_at": "2024-01-01T00:00:00+08:00",
        "pdf_sha256": "",
    }


def _accepting_province(request: httpx.Request, forward: Forward) -> httpx.Response:
    response = forward(request)
    if not _is(request, "POST", "/collection") or response.status_code != 400:
        return response
    body = _province_accepts(_json(response), response)
    return _json_response(response, body, status=201)


def _cancellation_hidden(body: Any, response: httpx.Response) -> Any:
    if body.get("status") != "cancelled":
        return None
    return {**body, "code": "valid", "status": "valid", "cancel_reason": None, "detail": "valid"}


def _unknown_found(body: Any, response: httpx.Response) -> Any:
    if body.get("code") != 5:
        return None
    return {**body, "code": 0, "meaning": "信息正确且有效", "verdict": "valid"}


def _cursor_one_back(body: Any, response: httpx.Response) -> Any:
    events = body.get("events", [])
    if len(events) < 2:
        return None
    return {**body, "next": events[-2]["cursor"]}


def _stores_oversize(request: httpx.Request, forward: Forward) -> httpx.Response:
    """Refuses an entry over the size limit, but files it with its long 附记 (fj) dropped."""
    response = forward(request)
    if not _is(request, "POST", "/entries") or response.status_code != 413:
        return response
    entry = json.loads(request.content)
    forward(_with_body(request, {**entry, "fj": ""}))
    return response


def _no_location(request: httpx.Request, forward: Forward) -> httpx.Response:
    response = forward(request)
    if not _is(request, "POST", "/entries") or "location" not in response.headers:
        return response
    headers = {
        k: v
        for k, v in response.headers.items()
        if k.lower() not in ("location", "content-length", "content-encoding")
    }
    return httpx.Response(response.status_code, headers=headers, content=response.content)


def _broken(
    id: str, title: str, caught_by: str, *, target: Any = None, province: Any = None
) -> BrokenImplementation:
    def make(env: ReferenceEnvironment, workdir: Path) -> tuple[RunOptions, InterfaceSession]:
        t = target(env) if callable(target) and getattr(target, "needs_env", False) else target
        return _session(env, workdir, t, province)

    return BrokenImplementation(id, "interface", title, caught_by, make)


def _needs_env(func: Callable[[ReferenceEnvironment], Rewrite]) -> Any:
    func.needs_env = True  # type: ignore[attr-defined]
    return func


BROKEN: list[BrokenImplementation] = [
    _broken(
        "B-101",
        "a superseded certificate is still reported in force",
        "P-106",
        target=_on_response("GET", "/status", _superseded_in_force),
    ),
    _broken(
        "B-102",
        "a cancellation is missing from the change feed",
        "P-109",
        target=_on_response("GET", "/feed", _no_cancellations),
    ),
    _broken(
        "B-103",
        "the change feed is out of order",
        "P-109",
        target=_on_response("GET", "/feed", _reversed_feed),
    ),
    _broken(
        "B-104",
        "信息验证 answers 0 for a cancelled certificate",
        "P-110",
        target=_on_response("POST", "/checks/information", _cancelled_in_force),
    ),
    _broken(
        "B-105",
        "文件验证 accepts a tampered file",
        "F-113",
        target=_on_response("POST", "/checks/file", _tampered_accepted),
    ),
    _broken(
        "B-106",
        "a clerk is allowed on another authority's certificates and entries",
        "F-114",
        target=_needs_env(lambda env: _other_authority_allowed(env.platform_token)),
    ),
    _broken(
        "B-107",
        "a replayed entry issues a new number",
        "P-102",
        target=_push_again_as_new("-R", _replayed),
    ),
    _broken(
        "B-108",
        "a conflicting entry (same 业务号, other content) is accepted",
        "F-103",
        target=_push_again_as_new("-C", lambda r: r.status_code == 409),
    ),
    _broken("B-109", "a malformed entry is refused but stored", "F-115", target=_stores_malformed),
    _broken(
        "B-110",
        "a status response does not match the OpenAPI schema (detail null)",
        "P-117",
        target=_on_response("GET", "/status", _detail_null),
    ),
    _broken(
        "B-111",
        "the province accepts a deposit that does not conform",
        "F-105",
        province=_accepting_province,
    ),
    _broken(
        "B-112",
        "a seized certificate is not shown as restricted",
        "P-108",
        target=_on_response("GET", "/status", _seizure_hidden),
    ),
    _broken(
        "B-113",
        "a registration proof is reported as a property certificate",
        "P-101",
        target=_on_response("POST", "/entries", _proof_as_property),
    ),
    _broken(
        "B-114",
        "an oversize entry is refused but stored (its long field dropped)",
        "F-116",
        target=_stores_oversize,
    ),
    _broken(
        "B-115",
        "a cancelled certificate is still reported in force",
        "P-107",
        target=_on_response("GET", "/status", _cancellation_hidden),
    ),
    _broken(
        "B-116",
        "信息验证 answers 0 for a number never issued",
        "F-111",
        target=_on_response("POST", "/checks/information", _unknown_found),
    ),
    _broken(
        "B-117",
        "the feed's next cursor points one event back (events repeated)",
        "P-109",
        target=_on_response("GET", "/feed", _cursor_one_back),
    ),
    _broken("B-118", "an issued entry's 201 has no Location", "P-101", target=_no_location),
]
