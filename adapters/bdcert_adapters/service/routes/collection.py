"""Collection (归集, rule article 7 paragraph 2): a city with its own system deposits the
certificates it sealed, and reports their later status changes.

- ``POST /api/v1/collection``: one deposit, either JSON (``pdf`` and ``ofd`` in base64) or
  ``multipart/form-data`` (files ``pdf`` and ``ofd``, and a field ``metadata`` holding the JSON
  object of the other keys). Keys: ``number`` (证号), ``licence_id`` (电子证照标识), ``kind``
  (``property_certificate`` / ``registration_proof``), ``token`` (the QR code's token),
  ``entry`` (the registration entry, as pushed), ``issued_at`` (ISO 8601 with offset).
  201 deposited, 200 an exact re-deposit (replayed), 400 every reason it was refused,
  409 the number, token or entry is already in the library with other content.
- ``POST /api/v1/collection/{number}/events``: ``{"kind": "superseded" | "cancelled" |
  "restricted" | "restriction_lifted", "successor", "reason", "ywh", "cfjg", "cfwh", "cflx",
  "start", "end"}``; 200 with the certificate's status.

Who: the platform, or a registrar of the certificate's authority (``deposit``,
:mod:`bdcert.access`). See :mod:`bdcert.lifecycle.collection` for every check.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import anyio.to_thread
import attrs
from litestar import Request, Response, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from bdcert.bounds import MAX_PDF_BYTES
from bdcert.errors import IdempotencyConflict
from bdcert.model import Certificate, Principal
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.problems import FieldError, ProblemError, problem

__all__ = ["ROUTES"]


@attrs.define(frozen=True)
class Deposited:
    """A certificate in the provincial library by deposit.

    :ivar outcome: ``deposited`` or ``replayed``. :ivar status: ``valid``, ``superseded``, …
    :ivar pdf_sha256: SHA-256 (hex) of the filed PDF (what ``POST /api/v1/verify`` finds).
    """

    outcome: str
    number: str
    licence_id: str
    kind: str
    authority: str
    token: str
    status: str
    issued_at: datetime
    pdf_sha256: str
    superseded_by: tuple[str, ...] = ()
    cancel_reason: str | None = None


def _conflict(exc: IdempotencyConflict) -> ProblemError:
    return problem(
        409,
        "conflict",
        "already in the library with other content",
        str(exc),
        [FieldError(p.field, p.message) for p in exc.problems],
    )


def _answer(outcome: str, cert: Certificate) -> Deposited:
    return Deposited(
        outcome=outcome,
        number=cert.number,
        licence_id=cert.licence_id,
        kind=cert.kind.value,
        authority=cert.authority_code,
        token=cert.token,
        status=cert.status.value,
        issued_at=cert.issued_at,
        pdf_sha256=cert.pdf_sha256,
        superseded_by=tuple(cert.superseded_by),
        cancel_reason=cert.cancel_reason,
    )


async def _multipart(request: Request[Any, Any, Any]) -> dict[str, Any]:
    limit = request.app.state.settings.max_upload_bytes
    form = await request.form()
    errors: list[FieldError] = []
    raw: dict[str, Any] = {}
    metadata = form.get("metadata")
    if not isinstance(metadata, str):
        errors.append(FieldError("metadata", "is required: the JSON object of the deposit"))
    else:
        try:
            decoded = json.loads(metadata)
        except (ValueError, RecursionError):
            decoded = None
        if not isinstance(decoded, dict):
            errors.append(FieldError("metadata", "must be a JSON object"))
        else:
            raw.update({k: v for k, v in decoded.items() if k not in ("pdf", "ofd")})
    for field in ("pdf", "ofd"):
        upload = form.get(field)
        if upload is None:
            continue
        if not isinstance(upload, UploadFile):
            errors.append(FieldError(field, "must be a file part"))
            continue
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise problem(413, "too-large", "too large", f"{field} exceeds {limit} bytes")
        raw[field] = data
    if errors:
        raise problem(400, "validation", "invalid input", "the deposit is incomplete", errors)
    return raw


@post(
    "/collection",
    summary="Deposit a certificate a city sealed (归集)",
    tags=["collection"],
    request_max_body_size=2 * MAX_PDF_BYTES + 1024 * 1024,
    status_code=201,
    responses={200: ResponseSpec(Deposited, description="replayed: deposited before, the same")},
)
async def deposit(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Response[Deposited]:
    """Check a city's sealed certificate and file it in the provincial library (rule article 7
    paragraph 2): seal chains to the trust list and is the entry's authority's, face values equal
    those computed from the entry, QR token, number and 电子证照标识, uniqueness. 400 lists every
    reason; 409 a conflict; 200 an exact re-deposit."""
    if (request.content_type[0] or "").startswith("multipart/"):
        raw: Any = await _multipart(request)
    else:
        limit = request.app.state.settings.max_upload_bytes
        body = await request.body()
        if len(body) > limit * 4 // 3 + 1024 * 1024:
            raise problem(413, "too-large", "too large", f"the deposit exceeds {limit} bytes")
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise problem(
                400, "validation", "invalid input", "the body must be a JSON object",
                [FieldError("body", f"not JSON: {exc}")],
            ) from exc  # fmt: skip
    registry = registry_of(request)
    try:
        result = await anyio.to_thread.run_sync(lambda: registry.deposit(raw, principal=principal))
    except IdempotencyConflict as exc:  # 409 with every field, not only the first reason
        raise _conflict(exc) from exc
    return Response(
        _answer(result.outcome, result.certificate),
        status_code=201 if result.outcome == "deposited" else 200,
    )


@post(
    "/collection/{number:str}/events",
    summary="A later status change of a deposited certificate",
    tags=["collection"],
    status_code=200,
    sync_to_thread=True,
)
def deposit_event(
    request: Request[Any, Any, Any],
    number: FromPath[str],
    data: JSONBody[dict[str, Any]],
    principal: NamedDependency[Principal],
) -> Deposited:
    """Supersede, cancel, restrict or lift a restriction of a deposited certificate, as its
    authority reports (logged like the province's own transitions)."""
    try:
        cert = registry_of(request).deposit_event(number, data, principal=principal)
    except IdempotencyConflict as exc:
        raise _conflict(exc) from exc
    return _answer("changed", cert)


ROUTES: list[Any] = [deposit, deposit_event]
