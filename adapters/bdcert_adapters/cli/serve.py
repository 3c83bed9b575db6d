"""``bdcert serve``: the provincial interface over HTTP (:mod:`bdcert_adapters.service`)."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import add_command, load_workspace

__all__ = ["register"]


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers,
        "serve",
        "serve the provincial interface over HTTP (/api/v1, OpenAPI at /api/v1/openapi.json)",
    )
    c.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    c.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    c.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default 2 on PostgreSQL; always 1 on SQLite)",
    )
    c.add_argument("--tls-cert", type=Path, help="the server's certificate (PEM) for HTTPS")
    c.add_argument("--tls-key", type=Path, help="the server's private key (PEM)")
    c.add_argument(
        "--client-ca",
        type=Path,
        help="accept TLS client certificates issued by this CA (PEM): mutual TLS",
    )
    c.epilog = (
        "Also serves the public verification page that a certificate's QR code opens: "
        "GET /v/{token} (the certificate's status, names masked), GET /v/ (an upload form) "
        "and POST /v/check (the uploaded PDF or OFD checked). The QR code's URL is the "
        "workspace's [bdcert] verification_base_url + token, so set verification_base_url to "
        "this service's public URL + /v/ (the demo's https://verify.bdcert.invalid/v/ becomes "
        "http://HOST:PORT/v/ to try it locally). Prometheus metrics at GET /metrics."
    )
    c.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bdcert.errors import ConfigurationError
    from bdcert_adapters.service.settings import ServiceSettings

    ws = load_workspace(args)
    ServiceSettings.from_settings(ws.table("service"))  # bad settings fail before binding
    identity = str(ws.table("identity").get("plugin", "local"))
    if identity == "local":
        raise ConfigurationError(
            'this workspace\'s [identity] plugin = "local" takes a bare operator name, which is '
            "safe on the host's command line but not over a network; give the service's callers "
            "API tokens first: bdcert tokens add NAME --role ROLE (the command-line operators "
            "keep working)"
        )
    url = os.environ.get("BDCERT_DATABASE_URL") or str(ws.table("storage").get("url", "sqlite"))
    sqlite = url.startswith("sqlite")
    workers = args.workers if args.workers is not None else (1 if sqlite else 2)
    if workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    if sqlite and workers > 1:
        raise ConfigurationError("a SQLite workspace is served by one worker (--workers 1)")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ConfigurationError("--tls-cert and --tls-key go together")
    if args.client_ca is not None and args.tls_cert is None:
        raise ConfigurationError("--client-ca needs --tls-cert and --tls-key")
    os.environ["BDCERT_WORKSPACE"] = str(ws.path)
    metrics_dir = None
    if workers > 1:
        # every worker writes its metrics here; /metrics adds them up (prometheus_client's
        # multiprocess mode). Set before the workers start, which import prometheus_client.
        metrics_dir = tempfile.TemporaryDirectory(prefix="bdcert-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir.name
    ssl: dict[str, Any] = {}
    if args.tls_cert is not None:
        from bdcert_adapters.service.tls import HTTP_PROTOCOL

        ssl = {
            "ssl_certfile": str(args.tls_cert),
            "ssl_keyfile": str(args.tls_key),
            "http": HTTP_PROTOCOL,  # hands the verified client certificate to the app
        }
    if args.client_ca is not None:
        import ssl as ssl_module

        ssl |= {"ssl_ca_certs": str(args.client_ca), "ssl_cert_reqs": ssl_module.CERT_OPTIONAL}
    try:
        uvicorn.run(
            "bdcert_adapters.service.app:app_from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=workers,
            log_level="info",
            **ssl,
        )
    finally:
        if metrics_dir is not None:
            metrics_dir.cleanup()
    return 0
