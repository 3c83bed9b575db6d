"""The ASGI application: :func:`create_app` over one :class:`~bdcert.lifecycle.Registry`.

Litestar, because it takes attrs classes as request and response types and generates their
OpenAPI 3.1 schemas itself (``AttrsSchemaPlugin``), so bdcert's value types are the wire types
and ``/api/v1/openapi.json`` is made from the handlers' signatures: it cannot drift from the
code. (FastAPI would need every type restated as a pydantic model.)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.attrs import AttrsSchemaPlugin

from bdcert._version import __version__
from bdcert.lifecycle import Registry
from bdcert_adapters.service import metrics
from bdcert_adapters.service import routes as routes_package
from bdcert_adapters.service.auth import DEPENDENCIES
from bdcert_adapters.service.limits import RateLimiter, rate_limit_guard
from bdcert_adapters.service.problems import exception_handlers
from bdcert_adapters.service.settings import ServiceSettings

__all__ = ["API_PREFIX", "app_from_environment", "create_app", "openapi_document"]

#: Every operation's path starts with this; the OpenAPI document is ``{API_PREFIX}/openapi.json``.
API_PREFIX = "/api/v1"


#: How callers authenticate (:mod:`~bdcert_adapters.service.auth`), as OpenAPI security schemes.
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": SecurityScheme(
        type="http",
        scheme="bearer",
        description="an API token (bdcert tokens add NAME --role ROLE)",
    ),
    "mutualTLS": SecurityScheme(
        type="mutualTLS",
        description="a TLS client certificate mapped in [identity.client_certificates]",
    ),
}
_AUTHENTICATED = [{"bearer": []}, {"mutualTLS": []}]


def _declare_security(handler: Any) -> None:
    """Document a handler's authentication from its signature: ``principal`` needs a token or
    a client certificate; ``optional_principal`` also allows an anonymous caller."""
    import inspect

    fn = getattr(handler, "fn", None)
    if fn is None or getattr(handler, "security", None):
        return
    parameters = inspect.signature(fn).parameters
    if "principal" in parameters:
        handler.security = list(_AUTHENTICATED)
    elif "optional_principal" in parameters:
        handler.security = [{}, *_AUTHENTICATED]


def create_app(
    open_registry: Callable[[], Registry],
    settings: ServiceSettings | None = None,
    *,
    debug: bool = False,
) -> Litestar:
    """The service.

    :param open_registry: called once when the worker starts (after a fork); the registry is
        closed when it stops.
    :param settings: ``[service]`` limits; default :class:`ServiceSettings()`.
    """
    settings = settings or ServiceSettings()
    api: list[Any] = []
    public: list[Any] = []
    for name in routes_package.MODULES:
        module = importlib.import_module(f"{routes_package.__name__}.{name}")
        api.extend(getattr(module, "ROUTES", ()))
        public.extend(getattr(module, "PUBLIC_ROUTES", ()))

    for handler in api:
        _declare_security(handler)

    def startup(app: Litestar) -> None:
        registry = open_registry()
        metrics.install(registry)
        app.state.registry = registry

    def shutdown(app: Litestar) -> None:
        registry = getattr(app.state, "registry", None)
        if registry is not None:
            registry.close()

    app = Litestar(
        route_handlers=[
            Router(API_PREFIX, route_handlers=api, guards=[rate_limit_guard]),
            *public,
            metrics.metrics_endpoint,
        ],
        middleware=[metrics.prometheus_config().middleware],
        dependencies=DEPENDENCIES,
        exception_handlers=exception_handlers(),
        plugins=[AttrsSchemaPlugin()],
        openapi_config=OpenAPIConfig(
            title="bdcert provincial e-certificate interface",
            version=__version__,
            description=(
                "不动产登记电子证照 provincial interface: push, collect, read, share, verify, "
                "feed (Sichuan implementation rule, articles 7, 12–17; operations named after "
                "GB/T 36906)."
            ),
            path=API_PREFIX + "/schema",  # /api/v1/openapi.json is served by routes.health
            components=Components(security_schemes=SECURITY_SCHEMES),
            render_plugins=[_DocumentedJsonRender()],
        ),
        request_max_body_size=settings.max_request_bytes,
        on_startup=[startup],
        on_shutdown=[shutdown],
        debug=debug,
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(settings.rate_limit, settings.rate_window_seconds)
    return app


#: The JSON Schema of a problem document (:class:`~bdcert_adapters.service.problems.Problem`).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem document (application/problem+json).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "https://bdcert.dev/problems/<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "every bad field (400, 409)",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "retry_after": {"type": "integer", "description": "seconds (429, 503)"},
    },
}


def openapi_document(app: Litestar) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``: Litestar's, generated from the handlers, with every
    error documented as what the service really answers — a problem document.

    Every operation gets a ``default`` response ``application/problem+json`` (any error:
    401, 403, 404, 405, 409, 413, 415, 429, 503, …), and the error responses Litestar adds on
    its own (its ``{"status_code", "detail", "extra"}`` body, e.g. for 400) are replaced by the
    problem schema; an operation taking only path parameters has no 400. Made once per
    app.
    """
    cached: dict[str, Any] | None = getattr(app.state, "openapi_document", None)
    if cached is not None:
        return cached
    document: dict[str, Any] = app.openapi_schema.to_schema()
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem_content = {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "delete", "patch", "head", "options"}:
                continue
            responses = operation.setdefault("responses", {})
            for status, response in list(responses.items()):
                if status.startswith(("4", "5")) and (
                    _litestar_error(response) or not response.get("content")
                ):
                    responses[status] = {
                        "description": response.get("description") or "a problem",
                        "content": problem_content,
                    }
            if _only_path_parameters(operation):  # e.g. a malformed number: a 404
                responses.pop("400", None)
            responses.setdefault(
                "default",
                {"description": "an error: a problem document", "content": problem_content},
            )
    app.state.openapi_document = document
    return document


class _DocumentedJsonRender(JsonRenderPlugin):
    """Litestar's own ``/api/v1/schema/openapi.json`` serves :func:`openapi_document` too."""

    def render(self, request: Any, openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, openapi_document(request.app))


def _only_path_parameters(operation: dict[str, Any]) -> bool:
    """Whether the operation takes nothing but path parameters: a path that does not parse
    (``/certificates/nonsense``, ``/audit/checkpoints/abc/pdf``) matches no route and is a
    404, so the 400 Litestar documents for every handler with parameters is untrue."""
    parameters = operation.get("parameters") or ()
    return (
        "requestBody" not in operation
        and bool(parameters)
        and all(p.get("in") == "path" for p in parameters)
    )


def _litestar_error(response: dict[str, Any]) -> bool:
    """Whether ``response`` is one Litestar documents for its own exceptions."""
    for media in (response.get("content") or {}).values():
        schema = media.get("schema") or {}
        variants = schema.get("oneOf") or [schema]
        if any("status_code" in (v.get("properties") or {}) for v in variants):
            return True
    return False


def app_from_environment() -> Litestar:
    """The application of the workspace ``$BDCERT_WORKSPACE`` (uvicorn's ``--factory`` for
    ``bdcert serve --workers N``: each worker opens its own registry)."""
    from bdcert.config import Workspace

    workspace = Workspace.load(os.environ.get("BDCERT_WORKSPACE"))
    settings = ServiceSettings.from_settings(workspace.table("service"))
    return create_app(lambda: Registry.open(workspace), settings)
