"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (the register
answers); ``/api/v1/whoami``: who the service takes the caller for (token or TLS client
certificate)."""

from __future__ import annotations

from typing import Any

import attrs
from litestar import Request, get
from litestar.di import NamedDependency

from bdcert._version import __version__
from bdcert.model import Principal
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.problems import problem

__all__ = ["PUBLIC_ROUTES", "ROUTES"]


@attrs.define(frozen=True)
class Health:
    """:ivar status: ``ok``. :ivar version: bdcert's version."""

    status: str
    version: str


@attrs.define(frozen=True)
class WhoAmI:
    """The authenticated caller (rule article 11).

    :ivar name: the principal's name in the identity plugin's settings.
    :ivar roles: its roles (``registrar``, ``platform``, ``auditor``, ``holder``,
        ``sharing_party``, …), sorted.
    :ivar authority: for a registrar, its 登记机构 code (``510100``); else None.
    """

    name: str
    roles: tuple[str, ...]
    authority: str | None = None


@get("/whoami", summary="The authenticated caller", tags=["health"], sync_to_thread=False)
def whoami(principal: NamedDependency[Principal]) -> WhoAmI:
    """The principal the credentials (``Authorization: Bearer`` or a TLS client certificate)
    authenticate; 401 problem without valid credentials. Lets an integrator check a token or
    certificate before calling anything else."""
    return WhoAmI(principal.name, tuple(sorted(principal.roles)), principal.authority)


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
    """The OpenAPI document Litestar generates from the handlers, errors documented as problem
    documents (:func:`~bdcert_adapters.service.app.openapi_document`)."""
    from bdcert_adapters.service.app import openapi_document

    return openapi_document(request.app)


ROUTES: list[Any] = [openapi, whoami]
PUBLIC_ROUTES: list[Any] = [healthz, readyz]
