"""Who is asking: API tokens and TLS client certificates, through the identity plugin (rule
article 11).

- ``Authorization: Bearer <token>`` → ``registry.authenticate({"token": …})``;
- a TLS client certificate the server verified, as the ASGI TLS extension carries it
  (``scope["extensions"]["tls"]["client_cert_chain"]``, PEM strings, the client's first) →
  ``registry.authenticate({"client_cert_pem": …})``.

A handler asks for ``principal`` (401 problem without valid credentials) or
``optional_principal`` (None for an anonymous caller, 401 for bad credentials). :func:`client_key`
names the caller for rate limits and the lookup limit: the principal's name, else the address.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from litestar import Request
from litestar.di import Provide

from bdcert.errors import IdentityError
from bdcert.model import Principal
from bdcert_adapters.service.problems import problem

__all__ = ["DEPENDENCIES", "client_key", "credentials", "registry_of"]


def registry_of(request: Request[Any, Any, Any]) -> Any:
    """The :class:`~bdcert.lifecycle.Registry` this worker serves."""
    return request.app.state.registry


def credentials(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    """The credentials the request carries, or None for none."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise problem(
                401,
                "unauthenticated",
                "authentication failed",
                "the Authorization header must be 'Bearer <token>'",
            )
        return {"token": token.strip()}
    extensions: dict[str, Any] = dict(request.scope.get("extensions") or {})
    chain = (extensions.get("tls") or {}).get("client_cert_chain") or ()
    if chain:
        return {"client_cert_pem": chain[0]}
    return None


_IDENTITY_LOCK = threading.Lock()
log = logging.getLogger("bdcert.service")


def refresh_identity(app_state: Any, registry: Any) -> None:
    """Rebuild ``registry``'s identity provider when its workspace's ``bdcert.toml`` changed
    (its modification time or size differ from those of the last build), so that ``bdcert
    tokens add`` and ``bdcert tokens revoke`` apply to a running service without a restart.
    Costs one ``stat`` per request; the first call builds it once (the file may have changed
    since the worker opened the registry). A ``bdcert.toml`` that does not load keeps the
    provider built last (logged) and is tried again at the next request.
    """
    path = getattr(registry, "workspace_path", None)
    if path is None:
        return
    from bdcert.config import CONFIG_NAME

    try:
        st = (path / CONFIG_NAME).stat()
    except OSError:
        return
    stamp = (st.st_mtime_ns, st.st_size)
    if getattr(app_state, "identity_stamp", None) == stamp:
        return
    with _IDENTITY_LOCK:
        if getattr(app_state, "identity_stamp", None) == stamp:
            return
        from bdcert.config import Workspace
        from bdcert.errors import BdcertError
        from bdcert.lifecycle.opening import identity_provider

        try:
            registry.identity = identity_provider(Workspace.load(path), registry.hooks)
        except (BdcertError, OSError) as exc:
            log.error("bdcert.toml changed but does not load; identities unchanged: %s", exc)
            return
        app_state.identity_stamp = stamp


def _authenticate(request: Request[Any, Any, Any], required: bool) -> Principal | None:
    state: dict[str, Any] = request.scope.setdefault("state", {})
    principal: Principal | None
    if "bdcert_principal" in state:
        principal = state["bdcert_principal"]
    else:
        creds = credentials(request)
        principal = None
        if creds is not None:
            refresh_identity(request.app.state, registry_of(request))
            try:
                principal = registry_of(request).authenticate(creds)
            except IdentityError as exc:
                raise problem(401, "unauthenticated", "authentication failed", str(exc)) from exc
        state["bdcert_principal"] = principal
    if principal is None and required:
        raise problem(
            401,
            "unauthenticated",
            "authentication required",
            "this operation needs an API token (Authorization: Bearer …) "
            "or a TLS client certificate",
        )
    return principal


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = _authenticate(request, True)
    assert principal is not None
    return principal


def provide_optional_principal(request: Request[Any, Any, Any]) -> Principal | None:
    return _authenticate(request, False)


def client_key(request: Request[Any, Any, Any]) -> str:
    """Who asks, for limits: ``principal:<name>``, else ``address:<remote address>``."""
    principal = _authenticate(request, False)
    if principal is not None:
        return f"principal:{principal.name}"
    client = request.client
    return f"address:{client.host if client else 'unknown'}"


DEPENDENCIES = {
    "principal": Provide(provide_principal, sync_to_thread=True),
    "optional_principal": Provide(provide_optional_principal, sync_to_thread=True),
}
