"""Witnessed audit checkpoints (:mod:`bdcert.audit.witness`): a city's mirror reads the
province's audit checkpoints and hands in its sealed countersignature of each.

- ``GET /api/v1/witness/checkpoints``: every checkpoint (number, last event id, its hash, made
  at, the checkpoint PDF's SHA-256); for the platform, auditors and registrars.
- ``POST /api/v1/witness/countersignatures``: the sealed countersignature PDF, as the body
  (``application/pdf``) or JSON ``{"pdf": "<base64>"}``; the platform or a registrar of the
  witnessing authority. 201 kept, 200 the same one was kept before, 400 every reason otherwise
  (seal not trusted or not the witness's, no such checkpoint, another event or hash).
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

import anyio.to_thread
import attrs
from litestar import Request, Response, get, post
from litestar.di import NamedDependency

from bdcert.bounds import MAX_PDF_BYTES
from bdcert.model import Principal
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.problems import FieldError, problem

__all__ = ["ROUTES"]


@attrs.define(frozen=True)
class WitnessCheckpoint:
    """A checkpoint to witness. :ivar event_hash: the chain hash (hex SHA-256) of ``event_id``.
    :ivar pdf_sha256: SHA-256 (hex) of the sealed checkpoint PDF."""

    number: int
    event_id: int
    event_hash: str
    made_at: datetime
    pdf_sha256: str


@attrs.define(frozen=True)
class KeptCountersignature:
    """A countersignature the province keeps. :ivar new: False when it was kept before."""

    number: int
    witness: str
    event_id: int
    event_hash: str
    checkpoint_sha256: str
    pdf_sha256: str
    received_at: datetime
    new: bool


@get("/witness/checkpoints", summary="Audit checkpoints to witness", tags=["witness"],
     sync_to_thread=True)  # fmt: skip
def checkpoints(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> list[WitnessCheckpoint]:
    """Every sealed audit checkpoint, by number."""
    return [
        WitnessCheckpoint(
            c["number"],
            c["event_id"],
            c["event_hash"],
            datetime.fromisoformat(c["made_at"]),
            c["pdf_sha256"],
        )
        for c in registry_of(request).witness_checkpoints(principal=principal)
    ]


@post(
    "/witness/countersignatures",
    summary="Hand in a witness's countersignature of a checkpoint",
    tags=["witness"],
    request_max_body_size=2 * MAX_PDF_BYTES,
    status_code=201,
)
async def countersignature(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Response[KeptCountersignature]:
    """Check the countersignature (seal chains to the trust list and is the witness's, it names a
    kept checkpoint with the same event and hash) and keep it."""
    body = await request.body()
    limit = request.app.state.settings.max_upload_bytes
    if len(body) > limit * 4 // 3 + 1024:
        raise problem(413, "too-large", "too large", f"a countersignature exceeds {limit} bytes")
    if (request.content_type[0] or "").endswith("json"):
        try:
            pdf = base64.b64decode(json.loads(body)["pdf"], validate=True)
        except (ValueError, KeyError, TypeError, RecursionError, binascii.Error) as exc:
            raise problem(
                400, "validation", "invalid input", "expected {\"pdf\": \"<base64>\"}",
                [FieldError("pdf", "must be the sealed countersignature PDF in base64")],
            ) from exc  # fmt: skip
    else:
        pdf = body
    registry = registry_of(request)
    record, new = await anyio.to_thread.run_sync(
        lambda: registry.add_countersignature(pdf, principal=principal)
    )
    return Response(
        KeptCountersignature(
            record.number,
            record.witness,
            record.event_id,
            record.event_hash,
            record.checkpoint_sha256,
            record.pdf_sha256,
            record.received_at,
            new,
        ),
        status_code=201 if new else 200,
    )


ROUTES: list[Any] = [checkpoints, countersignature]
