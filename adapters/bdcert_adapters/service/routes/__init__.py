"""The service's operations, one module per concern; each exposes ``ROUTES`` (Litestar route
handlers, paths relative to ``/api/v1``) and may expose ``PUBLIC_ROUTES`` (mounted at the root:
the verification page, health)."""

#: The route modules :func:`bdcert_adapters.service.create_app` mounts, in order.
MODULES = ("health", "intake", "certificates", "lookup", "verification")
