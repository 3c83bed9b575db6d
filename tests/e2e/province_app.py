"""The province's application for the mirror tests: ``bdcert serve``'s own
(:func:`bdcert_adapters.service.app_from_environment`), plus stand-ins for
``GET /api/v1/certificates/{number}/pdf`` and ``/ofd`` while the service does not have them yet
(they are another part of issue 10): the mirror fetches documents there. Once the service
serves them, :func:`with_documents` adds nothing and the service's own routes are used.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from bdcert.model import Principal
from bdcert_adapters.service.auth import registry_of

__all__ = ["app", "serves_documents", "with_documents"]

PREFIX = "/api/v1/certificates/"


def serves_documents(application: Litestar) -> bool:
    """The service has its own route for a certificate's PDF."""
    return any(
        route.path.startswith(PREFIX) and route.path.endswith("/pdf")
        for route in application.routes
    )


@get(PREFIX + "{number:str}/pdf", sync_to_thread=True, include_in_schema=False)
def standin_pdf(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal], number: FromPath[str]
) -> Response[bytes]:
    pdf = registry_of(request).pdf(number, principal=principal)
    return Response(pdf, media_type="application/pdf")


@get(PREFIX + "{number:str}/ofd", sync_to_thread=True, include_in_schema=False)
def standin_ofd(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal], number: FromPath[str]
) -> Response[bytes]:
    registry = registry_of(request)
    registry.certificate(number, principal=principal)  # permission, logged as a read
    with registry.storage.transaction() as tx:
        return Response(tx.get_ofd(number), media_type="application/ofd")


def with_documents(application: Litestar) -> Litestar:
    """``application``, with the stand-ins when it does not serve certificate documents."""
    if not serves_documents(application):
        application.register(standin_pdf)
        application.register(standin_ofd)
    return application


def app() -> Litestar:
    """uvicorn's factory: the application of ``$BDCERT_WORKSPACE``."""
    from bdcert_adapters.service import app_from_environment

    return with_documents(app_from_environment())
