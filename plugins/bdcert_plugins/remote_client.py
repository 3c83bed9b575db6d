"""The HTTP side of the ``remote`` seal provider (:mod:`bdcert_plugins.seal_remote`): its
settings (:class:`RemoteSettings`) and the client of the e-seal service API v1
(:class:`SealServiceClient`), with timeouts and retries.

The module docstring of :mod:`bdcert_plugins.seal_remote` describes the settings, the transient
and permanent failures and the authentication; those names are re-exported there.
httpx and asn1crypto are imported when first used, not when the plugin loads.
"""

from __future__ import annotations

import base64
import email.utils
import ipaddress
import logging
import math
import os
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from bdcert.config import check_settings
from bdcert.errors import (
    ConfigurationError,
    MissingDependency,
    SealingError,
    SealServiceUnavailable,
)

if TYPE_CHECKING:
    import httpx
    from asn1crypto import x509 as asn1_x509

__all__ = [
    "API_VERSION",
    "DEFAULT_TOKEN_ENV",
    "DIGEST_SIZES",
    "RemoteSettings",
    "SealServiceClient",
    "ServiceCertificate",
]

log = logging.getLogger("bdcert.seal_remote")  # the provider's logger: one audit trail

#: The path prefix of the service API this client speaks.
API_VERSION = "v1"
#: The environment variable holding the bearer token unless ``token_env`` names another.
DEFAULT_TOKEN_ENV = "BDCERT_SEAL_SERVICE_TOKEN"
#: Digest algorithms the API accepts, with their digest sizes in bytes.
DIGEST_SIZES: Mapping[str, int] = {"sha256": 32, "sha384": 48, "sha512": 64}

_SETTINGS_KEYS = frozenset(
    {
        "plugin",
        "url",
        "token_env",
        "timeout",
        "retries",
        "backoff",
        "max_backoff",
        "ca_cert",
        "client_cert",
        "client_key",
    }
)
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_TRANSIENT_STATUS = frozenset({429, 502, 503, 504})


def _httpx() -> Any:
    """Import httpx and tenacity, or say which extra installs them."""
    try:
        import httpx
        import tenacity  # noqa: F401
    except ImportError as e:
        raise MissingDependency(
            f"the remote seal provider needs {e.name}: pip install 'bdcert[remote]'"
        ) from e
    return httpx


# --------------------------------------------------------------------------- settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@attrs.define(frozen=True)
class RemoteSettings:
    """The parsed ``[seal]`` table of the remote provider (see the module docstring).

    :ivar url: the service's base URL, ending in ``/``; requests go to ``url + "v1/…"``.
    :ivar timeout: seconds each attempt may take per phase (connect, read, write, pool).
    :ivar retries: attempts after the first one for transient failures (0: no retry).
    :ivar backoff: seconds; the n-th retry waits a random time up to ``backoff * 2**(n-1)``…
    :ivar max_backoff: …capped at this many seconds; a longer ``Retry-After`` ends the retries.
    """

    url: str
    token_env: str = DEFAULT_TOKEN_ENV
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 10.0
    ca_cert: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], workspace: Path) -> RemoteSettings:
        """Parse and check the ``[seal]`` table.

        :raises ConfigurationError: naming the unknown or malformed setting.
        """
        where = "[seal] (remote seal provider)"
        check_settings("seal", settings, _SETTINGS_KEYS)
        url = settings.get("url")
        if not isinstance(url, str) or not url:
            raise ConfigurationError(f"{where}: url must be the seal service's base URL")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigurationError(f"{where}: url must be an http(s) URL with a host: {url!r}")
        if parts.username is not None or parts.password is not None:
            raise ConfigurationError(
                f"{where}: url must not hold credentials; put the token in the environment"
                " variable named by token_env"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError(f"{where}: url must be a base URL without query or fragment")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ConfigurationError(
                f"{where}: url must use https (plain http only to a loopback address): {url!r}"
            )
        url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        url = url if url.endswith("/") else url + "/"

        def number(name: str, default: float, *, minimum: float, integer: bool = False) -> Any:
            value = settings.get(name, default)
            ok = isinstance(value, int) if integer else isinstance(value, int | float)
            if not ok or isinstance(value, bool) or not math.isfinite(value) or value < minimum:
                kind = "an integer" if integer else "a number"
                raise ConfigurationError(f"{where}: {name} must be {kind} ≥ {minimum}")
            return value if integer else float(value)

        def path(name: str) -> Path | None:
            value = settings.get(name)
            if value is None:
                return None
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{where}: {name} must be a path")
            return Path(workspace) / value

        token_env = settings.get("token_env", DEFAULT_TOKEN_ENV)
        if not isinstance(token_env, str) or not token_env:
            raise ConfigurationError(f"{where}: token_env must name an environment variable")
        client_cert, client_key = path("client_cert"), path("client_key")
        if (client_cert is None) != (client_key is None):
            raise ConfigurationError(f"{where}: mutual TLS needs both client_cert and client_key")
        timeout = number("timeout", 10.0, minimum=0.001)
        backoff = number("backoff", 0.5, minimum=0)
        max_backoff = number("max_backoff", max(10.0, backoff), minimum=0)
        if max_backoff < backoff:
            raise ConfigurationError(f"{where}: max_backoff must be ≥ backoff")
        return cls(
            url=url,
            token_env=token_env,
            timeout=timeout,
            retries=number("retries", 3, minimum=0, integer=True),
            backoff=backoff,
            max_backoff=max_backoff,
            ca_cert=path("ca_cert"),
            client_cert=client_cert,
            client_key=client_key,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context: system trust (or ``ca_cert``) and the client certificate, if any.

        :raises ConfigurationError: if a file cannot be read or the key does not match.
        """
        try:
            context = ssl.create_default_context(
                cafile=str(self.ca_cert) if self.ca_cert is not None else None
            )
            if self.client_cert is not None:
                context.load_cert_chain(str(self.client_cert), str(self.client_key))
        except (OSError, ssl.SSLError) as e:
            raise ConfigurationError(
                f"[seal] (remote seal provider): cannot load the TLS files: {e}"
            ) from None
        return context


# --------------------------------------------------------------------------- the HTTP client


class _Transient(Exception):
    """One failed attempt worth repeating; ``retry_after`` in seconds if the service said."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a connection error (a certificate that does not verify), if any."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@attrs.define(frozen=True)
class ServiceCertificate:
    """An authority's seal certificate as the service reports it.

    :ivar certificate: the seal certificate (asn1crypto, as pyHanko uses it).
    :ivar chain: intermediate and root certificates, to embed in each signature.
    :ivar algorithm: ``"ecdsa"`` or ``"rsa"`` (PKCS#1 v1.5).
    """

    certificate: asn1_x509.Certificate = attrs.field(repr=lambda c: c.subject.human_friendly)
    chain: tuple[asn1_x509.Certificate, ...] = attrs.field(repr=lambda c: f"<{len(c)} certs>")
    algorithm: str

    @property
    def pem(self) -> bytes:
        from asn1crypto import pem  # deferred: see the imports

        armored: bytes = pem.armor("CERTIFICATE", self.certificate.dump())
        return armored


def _load_pem_certificate(text: Any, what: str, fail: Callable[[str], Exception]) -> Any:
    from asn1crypto import pem  # deferred: see the imports
    from asn1crypto import x509 as asn1_x509

    if not isinstance(text, str) or "-----BEGIN CERTIFICATE-----" not in text:
        raise fail(f"{what} is not a PEM certificate")
    try:
        _, _, der = pem.unarmor(text.encode("ascii"))
        cert = asn1_x509.Certificate.load(der)
        cert.native  # noqa: B018  (parse it fully now, not inside pyHanko later)
    except Exception:
        raise fail(f"{what} is not a readable X.509 certificate") from None
    return cert


class SealServiceClient:
    """HTTP client of the e-seal service (API v1), with timeouts and retries (tenacity).

    Thread-safe; one connection pool. ``transport`` replaces the network (tests use
    :class:`httpx.MockTransport`); ``sleep`` replaces :func:`time.sleep` between attempts.
    """

    def __init__(
        self,
        settings: RemoteSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        httpx = _httpx()
        self.settings = settings
        self._sleep = sleep
        self._client = httpx.Client(
            base_url=settings.url + API_VERSION + "/",
            timeout=httpx.Timeout(settings.timeout),
            verify=settings.ssl_context() if settings.url.startswith("https") else True,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "bdcert-seal-remote"},
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment between us and the seal key
        )

    @property
    def url(self) -> str:
        """The service's base URL (never with credentials)."""
        return self.settings.url

    def __repr__(self) -> str:
        return f"SealServiceClient(url={self.url!r})"

    def close(self) -> None:
        self._client.close()

    # -- the API -----------------------------------------------------------------------------
    def health(self) -> Mapping[str, Any]:
        """``GET /v1/health`` (no token). :raises SealServiceUnavailable, SealingError:"""
        return self._call("GET", "health", authority=None, authenticated=False)

    def certificate(self, authority_code: str) -> ServiceCertificate:
        """``GET /v1/authorities/{code}/certificate``: the seal certificate, chain, algorithm.

        :raises SealingError: naming the authority if the service holds no seal for it, or if
            the answer is malformed; :raises SealServiceUnavailable: see the module docstring.
        """
        answer = self._call(
            "GET", f"authorities/{_quote(authority_code)}/certificate", authority=authority_code
        )

        def fail(message: str) -> SealingError:
            return SealingError(
                f"the seal service at {self.url} answered for authority {authority_code}: {message}"
            )

        cert = _load_pem_certificate(answer.get("certificate"), "certificate", fail)
        chain = answer.get("chain", [])
        if not isinstance(chain, list):
            raise fail("chain is not a list of PEM certificates")
        others = tuple(_load_pem_certificate(c, f"chain[{i}]", fail) for i, c in enumerate(chain))
        algorithm = answer.get("algorithm")
        expected = {"ec": "ecdsa", "rsa": "rsa"}.get(cert.public_key.algorithm)
        if expected is None:
            raise fail(f"the key algorithm {cert.public_key.algorithm} is not supported")
        if algorithm != expected:
            raise fail(f"algorithm {algorithm!r} does not match the certificate's key ({expected})")
        return ServiceCertificate(cert, others, expected)

    def sign_digest(self, authority_code: str, digest: bytes, digest_algorithm: str) -> bytes:
        """``POST /v1/authorities/{code}/sign``: the authority's raw signature of ``digest``.

        :param digest: the hash of the data to sign (for PAdES, of the DER signed attributes).
        :param digest_algorithm: ``sha256``, ``sha384`` or ``sha512`` (:data:`DIGEST_SIZES`).
        :returns: a DER ECDSA signature or a PKCS#1 v1.5 RSA signature, unverified.
        :raises SealingError, SealServiceUnavailable: see the module docstring.
        """
        if DIGEST_SIZES.get(digest_algorithm) != len(digest):
            raise SealingError(f"a {digest_algorithm} digest cannot be {len(digest)} bytes long")
        answer = self._call(
            "POST",
            f"authorities/{_quote(authority_code)}/sign",
            authority=authority_code,
            json={
                "digest_algorithm": digest_algorithm,
                "digest": base64.b64encode(digest).decode("ascii"),
            },
        )
        value = answer.get("signature")
        try:
            if not isinstance(value, str):
                raise ValueError
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise SealingError(
                f"the seal service at {self.url} answered without a base64 signature"
            ) from None

    # -- one call, retried ---------------------------------------------------------------------
    def _headers(self, authenticated: bool) -> dict[str, str]:
        if not authenticated:
            return {}
        token = os.environ.get(self.settings.token_env)
        if token:
            if not _TOKEN68.fullmatch(token):
                raise SealingError(
                    f"the token in {self.settings.token_env} is not a bearer token (RFC 6750:"
                    " ASCII letters, digits and -._~+/, then optional =)"
                )
            return {"Authorization": f"Bearer {token}"}
        if self.settings.client_cert is None:
            raise SealingError(
                f"the token for the seal service at {self.url} is expected in the environment"
                f" variable {self.settings.token_env}, which is not set"
            )
        return {}  # mutual TLS alone

    def _call(
        self,
        method: str,
        path: str,
        *,
        authority: str | None,
        authenticated: bool = True,
        json: Any = None,
    ) -> Mapping[str, Any]:
        import tenacity

        settings = self.settings
        attempts = settings.retries + 1
        jitter = tenacity.wait_random_exponential(
            multiplier=settings.backoff, max=settings.max_backoff
        )

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Transient) and exc.retry_after is not None:
                return exc.retry_after
            return float(jitter(state))

        spent = tenacity.stop_after_attempt(attempts)

        def stop(state: tenacity.RetryCallState) -> bool:
            # a Retry-After longer than max_backoff: give up now and let the caller queue
            exc = state.outcome.exception() if state.outcome else None
            return spent(state) or (
                isinstance(exc, _Transient)
                and exc.retry_after is not None
                and exc.retry_after > settings.max_backoff
            )

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            log.warning(
                "seal service %s: %s; retrying in %.2f s (attempt %d of %d)",
                self.url,
                exc,
                delay,
                state.attempt_number + 1,
                attempts,
            )

        retrying = tenacity.Retrying(
            stop=stop,
            wait=wait,
            retry=tenacity.retry_if_exception_type(_Transient),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        headers = self._headers(authenticated)
        started = time.monotonic()
        try:
            result: Mapping[str, Any] = retrying(
                self._attempt, method, path, authority, headers, json
            )
            return result
        except _Transient as e:
            tried = retrying.statistics.get("attempt_number", attempts)
            raise SealServiceUnavailable(
                f"the seal service at {self.url} is unavailable: {e.reason}"
                f" ({tried} attempt{'s' if tried != 1 else ''} in"
                f" {time.monotonic() - started:.1f} s); nothing was sealed, try again later",
                url=self.url,
                retry_after=e.retry_after,
            ) from None

    def _attempt(
        self,
        method: str,
        path: str,
        authority: str | None,
        headers: Mapping[str, str],
        json: Any,
    ) -> Mapping[str, Any]:
        httpx = _httpx()
        try:
            response = self._client.request(method, path, headers=headers, json=json)
        except httpx.TimeoutException as e:
            raise _Transient(
                f"no answer within {self.settings.timeout:g} s ({type(e).__name__})"
            ) from None
        except httpx.TransportError as e:
            tls = _tls_failure(e)
            if tls is not None:
                raise SealingError(
                    f"TLS with the seal service at {self.url} failed: {tls}"
                    " (check ca_cert, client_cert and client_key)"
                ) from None
            if isinstance(e, httpx.UnsupportedProtocol):
                raise SealingError(f"the seal service URL {self.url} is not usable: {e}") from None
            reason = f"cannot reach it ({type(e).__name__}: {e})"
            if (
                isinstance(e, httpx.RemoteProtocolError)
                and self.url.startswith("https")
                and self.settings.client_cert is None
            ):
                reason += "; if the service requires a client certificate, set client_cert"
            raise _Transient(reason) from None
        status = response.status_code
        if status in _TRANSIENT_STATUS:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise _Transient(f"it answered HTTP {status}", retry_after)
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        detail = f": {message}" if isinstance(message, str) and message else ""
        if status in (401, 403):
            raise SealingError(
                f"the seal service at {self.url} rejected the token or client certificate"
                f" (HTTP {status}); check the token in {self.settings.token_env}"
            )
        if status == 404:
            if (
                authority is not None
                and isinstance(body, dict)
                and body.get("error") == "unknown_authority"
            ):
                raise SealingError(
                    f"the seal service at {self.url} holds no seal for authority {authority}"
                )
            raise SealingError(
                f"the seal service at {self.url} has no {path!r} (HTTP 404): is url the"
                f" service's base URL, serving API {API_VERSION}?"
            )
        if status != 200:
            raise SealingError(f"the seal service at {self.url} answered HTTP {status}{detail}")
        if not isinstance(body, dict):
            raise SealingError(f"the seal service at {self.url} answered without a JSON object")
        return body


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
