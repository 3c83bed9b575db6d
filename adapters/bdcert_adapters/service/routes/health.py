"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (the register
answers)."""

from __future__ import annotations

from typing import Any

import attrs
from litestar import Request, get

from bdcert._version import __version__
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.problems import problem

__all__ = ["PUBLIC_ROUTES", "ROUTES"]


@attrs.define(frozen=True)
class Health:
    """:ivar status: ``ok``. :ivar version: bdcert's version."""

    status: str
    version: str


@get("/healthz", summary="Liveness", tags=["health"], sync_to_thread=False)
def healthz() -> Health:
    """200 while the process serves requests."""
    return Health("ok", __version__)


@get("/readyz", summary="Readiness", tags=["health"], sync_to_thread=True)
def readyz(request: Request[Any, Any, Any]) -> Health:
    """200 when the register answers a query; 503 problem otherwise."""
    try:
        registry = registry_of(request)
        with registry.storage.transaction() as tx:
            tx.audit_head()
    except Exception as exc:
        raise problem(
            503, "unavailable", "not ready", f"the register does not answer: {exc}"
        ) from exc
    return Health("ok", __version__)


@get(
    "/openapi.json",
    summary="This OpenAPI 3.1 document",
    tags=["health"],
    include_in_schema=False,
    sync_to_thread=False,
    media_type="application/vnd.oai.openapi+json",
)
def openapi(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The OpenAPI document Litestar generates from the handlers."""
    schema: dict[str, Any] = request.app.openapi_schema.to_schema()
    return schema


ROUTES: list[Any] = [openapi]
PUBLIC_ROUTES: list[Any] = [healthz, readyz]
