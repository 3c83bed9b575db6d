"""The provincial interface over HTTP (``bdcert serve``): an ASGI service over one
:class:`~bdcert.lifecycle.Registry`, versioned under ``/api/v1``, with its OpenAPI 3.1 document
at ``/api/v1/openapi.json`` (rule articles 7, 12–17).

Errors are RFC 9457 problem documents (:mod:`~bdcert_adapters.service.problems`); callers are
authenticated by the identity plugin (:mod:`~bdcert_adapters.service.auth`); limits come from
``[service]`` (:mod:`~bdcert_adapters.service.settings`).
"""

from bdcert_adapters.service.app import API_PREFIX, app_from_environment, create_app
from bdcert_adapters.service.settings import ServiceSettings

__all__ = ["API_PREFIX", "ServiceSettings", "app_from_environment", "create_app"]
