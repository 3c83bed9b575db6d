"""The reference e-seal service: signs digests for the ``remote`` seal provider (API v1).

A city keeps its authorities' seal keys on one machine and runs::

    export BDCERT_SEAL_SERVICE_TOKENS="chengdu-registry=<long random token>,…"
    bdcert-seal-service --workspace DIR --host 127.0.0.1 --port 8700

The workspace's ``[seal]`` table names the keys exactly as for the ``software`` seal provider
(see :mod:`bdcert_plugins.seal_software`); any other seal provider whose object has
``signer_for(authority_code)`` returning a pyHanko signer serves too. The registry systems
then use ``[seal] plugin = "remote"`` (:mod:`bdcert_plugins.seal_remote`) with the URL and
one of the tokens.

Endpoints (documented in ``seal_service.openapi.yaml`` beside this file)::

    GET  /v1/health                           {"status": "ok", "version": "…"}   no token
    GET  /v1/authorities/{code}/certificate   {"certificate": PEM, "chain": [PEM…], "algorithm"}
    POST /v1/authorities/{code}/sign          {"digest_algorithm": "sha256", "digest": base64}
                                              → {"signature": base64, "algorithm", "digest_algorithm"}

``algorithm`` is ``ecdsa`` (the signature is DER ``ECDSA-Sig-Value``) or ``rsa`` (PKCS#1 v1.5).
Errors are ``{"error": code, "message": text, "field": name?}`` with 400 (``field`` names the
offending body field), 401, 404 (``unknown_authority`` or ``not_found``), 405, 409 (the seal
certificate is not valid now), 413 and 500.

Authentication: a bearer token (``Authorization: Bearer …``), compared in constant time with
each configured token, and/or mutual TLS (``--client-ca``: clients must present a certificate
issued by that CA). Tokens come from ``BDCERT_SEAL_SERVICE_TOKENS``: comma-separated, each
``name=token`` (the name is logged as the client) or a bare token (named ``token-1``, …); each at
least 16 characters.

Every signing is logged to the ``bdcert.seal_service`` logger as the audit trail: authority,
digest algorithm, the first 16 hex digits of the digest, client name and address. Tokens are
never logged.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import logging
import os
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bdcert.config import Workspace
from bdcert.errors import BdcertError, ConfigurationError, MissingDependency, SealingError
from bdcert.protocols import SignerSource
from bdcert.sealing.digest import sign_digest
from bdcert.wire import loads

if TYPE_CHECKING:
    from pyhanko.sign import signers
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse

__all__ = [
    "API_VERSION",
    "MAX_BODY",
    "TOKENS_ENV",
    "ServiceThread",
    "SignerSource",
    "SoftwareSignerSource",
    "describe_signer",
    "main",
    "make_app",
    "parse_tokens",
    "sign_digest",
    "signer_source_from_workspace",
]

log = logging.getLogger("bdcert.seal_service")

API_VERSION = "v1"
#: The environment variable holding the accepted tokens.
TOKENS_ENV = "BDCERT_SEAL_SERVICE_TOKENS"
#: The largest request body accepted, in bytes.
MAX_BODY = 4096
_MIN_TOKEN = 16
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def _starlette() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise MissingDependency(
            f"the seal service needs {e.name}: pip install 'bdcert[remote]'"
        ) from e


# --------------------------------------------------------------------------- where keys come from


class SoftwareSignerSource:
    """Signers from the ``software`` seal provider's ``[seal]`` settings (PEM or PKCS#12 keys).

    Passphrases are read from their environment variables when a key is first used, as the
    software provider does, and never kept or shown.
    """

    def __init__(self, keys: Mapping[str, Any]) -> None:
        self._keys = dict(keys)
        self._signers: dict[str, signers.Signer] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], workspace: Path) -> SoftwareSignerSource:
        """Parse a ``[seal]`` table of the software provider.

        :raises ConfigurationError: as :meth:`SoftwareSealProvider.from_settings` does.
        """
        from bdcert_plugins.seal_software import AuthorityKey, SoftwareSealProvider

        SoftwareSealProvider.from_settings(settings, workspace)  # the same checks and messages
        authorities = settings.get("authorities", {})
        return cls(
            {
                str(code): AuthorityKey.from_settings(str(code), value, Path(workspace))
                for code, value in authorities.items()
            }
        )

    @property
    def authorities(self) -> list[str]:
        return sorted(self._keys)

    def __repr__(self) -> str:
        return f"SoftwareSignerSource(authorities={self.authorities!r})"

    def signer_for(self, authority_code: str) -> signers.Signer:
        """:raises LookupError: unknown authority; :raises SealingError: unusable key."""
        signer = self._signers.get(authority_code)
        if signer is not None:
            return signer
        key = self._keys.get(authority_code)
        if key is None:
            raise LookupError(authority_code)
        with self._lock:
            signer = self._signers.get(authority_code)
            if signer is None:
                signer = key.load()
                self._signers[authority_code] = signer
        return signer


def signer_source_from_workspace(workspace: Workspace) -> SignerSource:
    """The signer source of a workspace's ``[seal]`` table.

    ``plugin = "software"`` (the default) reads the key files itself; another plugin is built
    through the ``bdcert_register_seal_providers`` hook and used if it has ``signer_for``.

    :raises ConfigurationError: for a plugin that cannot hand out signers (e.g. ``remote``).
    """
    settings = workspace.seal_plugin_settings()
    name = str(settings.pop("plugin", "software"))
    if name == "software":
        return SoftwareSignerSource.from_settings(settings, workspace.path)
    from bdcert.plugins import Hooks

    provider = Hooks().seal_providers().get(name)(settings, workspace.path)
    if name == "remote" or not isinstance(provider, SignerSource):
        raise ConfigurationError(
            f"the seal service cannot sign with the {name!r} seal provider: it needs keys held"
            ' here (plugin = "software") or a provider with signer_for(authority_code)'
        )
    return provider


# --------------------------------------------------------------------------- signing a digest


def _pyca_certificate(signer: signers.Signer) -> x509.Certificate:
    if signer.signing_cert is None:
        raise SealingError("the signer has no certificate")
    return x509.load_der_x509_certificate(signer.signing_cert.dump())


def _algorithm(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ecdsa"
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    raise SealingError(f"a {type(key).__name__} seal key cannot sign a precomputed digest")


def describe_signer(signer: signers.Signer) -> dict[str, Any]:
    """The certificate answer for a signer: ``{"certificate", "chain", "algorithm"}``.

    :raises SealingError: for a key that is neither EC nor RSA (it cannot sign a digest).
    """
    cert = _pyca_certificate(signer)
    algorithm = _algorithm(cert)
    own = signer.signing_cert.dump() if signer.signing_cert is not None else b""
    chain = [
        x509.load_der_x509_certificate(c.dump()).public_bytes(serialization.Encoding.PEM).decode()
        for c in signer.cert_registry
        if c.dump() != own
    ]
    return {
        "certificate": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        "chain": chain,
        "algorithm": algorithm,
    }


# --------------------------------------------------------------------------- tokens


def parse_tokens(text: str | None) -> dict[str, str]:
    """Client name → token from ``name=token,…`` (bare tokens are named ``token-1``, …).

    :raises ConfigurationError: for a token shorter than 16 characters or a repeated name.
        The message never contains a token.
    """
    tokens: dict[str, str] = {}
    for i, item in enumerate((text or "").split(","), start=1):
        item = item.strip()
        if not item:
            continue
        name, sep, token = item.partition("=")
        if not sep:
            name, token = f"token-{i}", item
        name, token = name.strip(), token.strip()
        if not _TOKEN68.fullmatch(token):
            raise ConfigurationError(
                f"{TOKENS_ENV}: the token of {name!r} is not a bearer token (RFC 6750: ASCII"
                " letters, digits and -._~+/, then optional =)"
            )
        if len(token) < _MIN_TOKEN:
            raise ConfigurationError(
                f"{TOKENS_ENV}: the token of {name!r} is shorter than {_MIN_TOKEN} characters"
            )
        if name in tokens:
            raise ConfigurationError(f"{TOKENS_ENV}: the client name {name!r} is repeated")
        tokens[name] = token
    return tokens


class _Tokens:
    """Constant-time bearer-token check: every token is compared, by SHA-256, every time."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._digests = [(n, hashlib.sha256(t.encode()).digest()) for n, t in tokens.items()]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def __repr__(self) -> str:
        return f"<{len(self._digests)} tokens>"

    def client(self, header: str | None) -> str | None:
        scheme, _, presented = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        offered = hashlib.sha256(presented.strip().encode()).digest()
        found = None
        for name, digest in self._digests:
            if hmac.compare_digest(offered, digest) and found is None:
                found = name
        return found


# --------------------------------------------------------------------------- the app


def _error(
    status: int, error: str, message: str, field: str | None = None, **headers: str
) -> JSONResponse:
    from starlette.responses import JSONResponse

    body: dict[str, Any] = {"error": error, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers or None)


class _BadRequest(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _parse_sign_body(raw: bytes) -> tuple[str, bytes]:
    try:
        body = loads(raw)  # a repeated key is an error, not last-wins
    except ValueError:
        raise _BadRequest("", "the body is not JSON (or names a key twice)") from None
    if not isinstance(body, dict):
        raise _BadRequest("", "the body must be a JSON object")
    unknown = sorted(set(body) - {"digest_algorithm", "digest"})
    if unknown:
        raise _BadRequest(unknown[0], f"unknown field {unknown[0]!r}")
    algorithm = body.get("digest_algorithm")
    if algorithm not in _DIGEST_SIZES:
        raise _BadRequest(
            "digest_algorithm", f"digest_algorithm must be one of {', '.join(_DIGEST_SIZES)}"
        )
    encoded = body.get("digest")
    if not isinstance(encoded, str) or not encoded:
        raise _BadRequest("digest", "digest must be a base64 string")
    try:
        digest = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _BadRequest("digest", "digest is not valid base64") from None
    if len(digest) != _DIGEST_SIZES[algorithm]:
        raise _BadRequest(
            "digest",
            f"a {algorithm} digest is {_DIGEST_SIZES[algorithm]} bytes, not {len(digest)}",
        )
    return algorithm, digest


def make_app(
    source: SignerSource,
    tokens: Mapping[str, str],
    *,
    mutual_tls: bool = False,
) -> Starlette:
    """The service as an ASGI app (Starlette), for uvicorn or any ASGI server.

    :param source: hands out each authority's signer (see :class:`SignerSource`).
    :param tokens: client name → bearer token (:func:`parse_tokens`); every request but
        ``/v1/health`` must carry one of them. Empty only with ``mutual_tls``.
    :param mutual_tls: the server in front requires client certificates, so an empty
        ``tokens`` is allowed (the TLS handshake authenticates).
    :raises ConfigurationError: with neither tokens nor mutual TLS (the service would sign for
        anyone); :raises MissingDependency: without the ``remote`` extra.
    """
    _starlette()
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from bdcert import __version__

    check = _Tokens(tokens)
    if not check and not mutual_tls:
        raise ConfigurationError(
            f"the seal service needs tokens ({TOKENS_ENV}) or mutual TLS (--client-ca)"
        )

    def peer(request: Request) -> str:
        return f"{request.client.host}:{request.client.port}" if request.client else "?"

    def authenticate(request: Request) -> str | JSONResponse:
        if not check:
            return "mtls"
        client = check.client(request.headers.get("authorization"))
        if client is None:
            log.warning(
                "refused %s %s from %s: bad or missing token",
                request.method,
                request.url.path,
                peer(request),
            )
            return _error(
                401,
                "unauthorized",
                "a valid bearer token is required",
                **{"WWW-Authenticate": 'Bearer realm="bdcert-seal-service"'},
            )
        return client

    async def signer(code: str) -> signers.Signer | JSONResponse:
        try:
            return await run_in_threadpool(source.signer_for, code)
        except LookupError:
            return _error(404, "unknown_authority", f"no seal for authority {code!r}")
        except SealingError as e:
            log.error("authority %s: the seal key cannot be used: %s", code, e)
            return _error(500, "signer_unavailable", f"the seal of authority {code} is unusable")

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": str(__version__)})

    async def certificate(request: Request) -> JSONResponse:
        client = authenticate(request)
        if isinstance(client, JSONResponse):
            return client
        code = request.path_params["code"]
        found = await signer(code)
        if isinstance(found, JSONResponse):
            return found
        try:
            return JSONResponse(describe_signer(found))
        except SealingError as e:
            return _error(500, "signer_unavailable", str(e))

    async def sign(request: Request) -> JSONResponse:
        client = authenticate(request)
        if isinstance(client, JSONResponse):
            return client
        code = request.path_params["code"]
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return _error(413, "too_large", f"the body exceeds {MAX_BODY} bytes")
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                return _error(413, "too_large", f"the body exceeds {MAX_BODY} bytes")
        try:
            digest_algorithm, digest = _parse_sign_body(raw)
        except _BadRequest as e:
            return _error(400, "invalid_request", e.message, field=e.field)
        found = await signer(code)
        if isinstance(found, JSONResponse):
            return found
        try:
            cert = _pyca_certificate(found)
            now = datetime.now(UTC)
            if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
                return _error(
                    409,
                    "certificate_not_valid",
                    f"the seal certificate of authority {code} is not valid at {now.isoformat()}",
                )
            algorithm = _algorithm(cert)
            signature = await run_in_threadpool(sign_digest, found, digest, digest_algorithm)
        except SealingError as e:
            log.error("authority %s: signing failed: %s", code, e)
            return _error(500, "signing_failed", str(e))
        log.info(
            "signed authority=%s digest_algorithm=%s digest=%s… client=%s peer=%s",
            code,
            digest_algorithm,
            digest.hex()[:16],
            client,
            peer(request),
        )
        return JSONResponse(
            {
                "signature": base64.b64encode(signature).decode("ascii"),
                "algorithm": algorithm,
                "digest_algorithm": digest_algorithm,
            }
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        name = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        return _error(status, name, f"{request.method} {request.url.path}: HTTP {status}")

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal", "internal error")

    prefix = f"/{API_VERSION}"
    return Starlette(
        routes=[
            Route(f"{prefix}/health", health, methods=["GET"]),
            Route(f"{prefix}/authorities/{{code}}/certificate", certificate, methods=["GET"]),
            Route(f"{prefix}/authorities/{{code}}/sign", sign, methods=["POST"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )


# --------------------------------------------------------------------------- serving


class ServiceThread:
    """Serve an ASGI app with uvicorn on a background thread (tests, benchmarks, embedding).

    ``with ServiceThread(app) as url:`` binds ``host`` on a free port (or ``port``), waits
    (at most ``start_timeout`` seconds) until uvicorn is serving, yields the base URL
    (``http://127.0.0.1:PORT/``) and stops the server on exit (in-flight requests get
    ``stop_timeout`` seconds). ``ssl`` takes uvicorn's ``ssl_*`` settings.

    :raises RuntimeError: if the server does not start in time.
    """

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        **ssl: Any,
    ) -> None:
        _starlette()
        import uvicorn

        self.host = host
        self.stop_timeout = stop_timeout
        self.start_timeout = start_timeout
        # proto=IPPROTO_TCP, as uvicorn's own bind has it: asyncio sets TCP_NODELAY on accepted
        # connections only then (without it, Nagle and delayed ACKs add 40 ms to each answer)
        self.socket = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
        )
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=max(1, round(stop_timeout)),
            **ssl,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )
        scheme = "https" if ssl.get("ssl_certfile") else "http"
        shown = f"[{host}]" if ":" in host else host
        self.url = f"{scheme}://{shown}:{self.port}/"

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the service on {self.url} did not start")
            time.sleep(0.01)
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(self.stop_timeout + 1)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(2)
        with contextlib.suppress(OSError):
            self.socket.close()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bdcert-seal-service",
        description=(
            "Serve the e-seal signing API (v1) for bdcert's remote seal provider, signing with"
            f" the seal keys of a workspace. Tokens: {TOKENS_ENV}=name=token,…"
        ),
    )
    p.add_argument("--workspace", metavar="DIR", help="default: $BDCERT_WORKSPACE")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8700, help="default 8700")
    p.add_argument("--tls-cert", metavar="PEM", type=Path, help="serve HTTPS with this certificate")
    p.add_argument("--tls-key", metavar="PEM", type=Path, help="the TLS certificate's key")
    p.add_argument(
        "--client-ca",
        metavar="PEM",
        type=Path,
        help="mutual TLS: require client certificates issued by this CA",
    )
    p.add_argument(
        "--allow-plain-http",
        action="store_true",
        help="listen without TLS on a non-loopback address (behind a TLS-terminating proxy)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def _uvicorn_ssl(args: argparse.Namespace) -> dict[str, Any]:
    if args.tls_cert is None:
        if args.tls_key is not None or args.client_ca is not None:
            raise ConfigurationError("--tls-key and --client-ca need --tls-cert")
        return {}
    if args.tls_key is None:
        raise ConfigurationError("--tls-cert needs --tls-key")
    settings: dict[str, Any] = {
        "ssl_certfile": str(args.tls_cert),
        "ssl_keyfile": str(args.tls_key),
    }
    if args.client_ca is not None:
        settings |= {"ssl_ca_certs": str(args.client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """``bdcert-seal-service``: exit 0 after a clean shutdown, 2 for bad configuration."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        _starlette()
        import uvicorn

        ssl_settings = _uvicorn_ssl(args)
        loopback = args.host in {"localhost", "::1"} or args.host.startswith("127.")
        if not ssl_settings and not loopback and not args.allow_plain_http:
            raise ConfigurationError(
                f"refusing to serve plain HTTP on {args.host}: give --tls-cert/--tls-key,"
                " or --allow-plain-http behind a TLS-terminating proxy"
            )
        workspace = Workspace.load(args.workspace)
        source = signer_source_from_workspace(workspace)
        app = make_app(
            source,
            parse_tokens(os.environ.get(TOKENS_ENV)),
            mutual_tls="ssl_ca_certs" in ssl_settings,
        )
    except BdcertError as e:
        print(f"bdcert-seal-service: error: {e}", file=sys.stderr)
        return 2
    log.info("serving the seal keys of %s on %s:%d", workspace.path, args.host, args.port)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        proxy_headers=False,
        server_header=False,
        **ssl_settings,
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
