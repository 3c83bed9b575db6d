"""Seal provider ``remote``: the seal key stays in an e-seal service; only a digest travels.

The provider builds each PAdES signature locally with pyHanko (the seal picture, the PDF
structure, the CMS signed attributes) and asks the service, over HTTP, to sign the SHA-256 digest
of the signed attributes: pyHanko's external signing, with :class:`RemoteSigner` as the
:class:`pyhanko.sign.signers.Signer`. It is a :class:`~bdcert.sealing.DigestSealProvider`: the
service is its ``certificate_chain`` and ``sign_digest``. The authority's seal certificate and chain are fetched from
the service once and cached. The service's API (version 1) is documented in
``adapters/bdcert_adapters/seal_service.openapi.yaml``; ``bdcert-seal-service``
(:mod:`bdcert_adapters.seal_service`) is a reference implementation a city can run.

Workspace settings (the ``[seal]`` table; paths relative to the workspace directory)::

    [seal]
    plugin = "remote"
    url = "https://seal.example.gov.cn/"     # the service's base URL; API paths start with /v1
    token_env = "BDCERT_SEAL_SERVICE_TOKEN"   # env variable holding the bearer token (default)
    timeout = 10                              # seconds per attempt (connect, read, write each)
    retries = 3                               # further attempts after a transient failure
    backoff = 0.5                             # seconds: first retry waits up to this, doubling…
    max_backoff = 10                          # …up to this (random "full jitter" below it)
    ca_cert = "pki/seal-service-ca.pem"       # optional: trust this CA for the service's TLS
    client_cert = "pki/city.cert.pem"         # optional: mutual TLS, with client_key
    client_key = "pki/city.key.pem"

Authentication is the bearer token, mutual TLS, or both. The token is read from the environment
when a request is made; it is never stored on the provider, logged, or shown in a repr or an
error. Plain ``http://`` is accepted only for a loopback address (127.0.0.0/8, ::1,
``localhost``): anywhere else a token or digest would cross the network unencrypted.

Failures (every one a :class:`~bdcert.errors.SealingError`):

- transient — the service cannot be reached, an attempt times out, or it answers 502, 503, 504
  or 429 — is retried with exponential backoff and jitter; a ``Retry-After`` header sets the
  wait instead (if it asks for longer than ``max_backoff``, the provider stops at once). When
  the retries are spent: :class:`~bdcert.errors.SealServiceUnavailable`, carrying ``url`` and
  ``retry_after``: nothing was sealed, and the caller can queue the entry and push it again.
- permanent, never retried: 401/403 (the service rejected the token or client certificate),
  404 for an authority the service holds no seal for (named in the message), a TLS certificate
  that does not verify, 400/500 or a malformed answer, and a returned signature that does not
  verify against the authority's certificate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from bdcert.errors import SealingError
from bdcert.hookspecs import hookimpl
from bdcert.protocols import DIGEST_HASHES, SealProviderFactory, SealRequest
from bdcert.sealing import DigestSealProvider
from bdcert_plugins.remote_client import (
    API_VERSION,
    DEFAULT_TOKEN_ENV,
    DIGEST_SIZES,
    RemoteSettings,
    SealServiceClient,
    ServiceCertificate,
)

if TYPE_CHECKING:
    import httpx

    from bdcert_plugins.remote_signer import RemoteSigner

# pyHanko, asn1crypto and httpx are imported when first used, not here: every command of the
# command line loads this module through the entry points, most of them never seal.

__all__ = [
    "API_VERSION",
    "DEFAULT_TOKEN_ENV",
    "DIGEST_SIZES",
    "RemoteSealProvider",
    "RemoteSettings",
    "RemoteSigner",
    "SealServiceClient",
    "ServiceCertificate",
    "bdcert_register_seal_providers",
]

log = logging.getLogger("bdcert.seal_remote")

# --------------------------------------------------------------------------- the provider


class _WrongSignature(SealingError):
    """The service's signature does not verify against the cached certificate."""


class RemoteSealProvider(DigestSealProvider):
    """A :class:`~bdcert.protocols.SealProvider` whose keys live in a remote e-seal service.

    Sealing, the per-authority cache (:meth:`forget`) and the validity check are
    :class:`~bdcert.sealing.DigestSealProvider`'s.

    :param settings: see :class:`RemoteSettings` and the module docstring.
    :param transport: replaces the network (tests); :param sleep: replaces :func:`time.sleep`.
    """

    name = "remote"

    def __init__(
        self,
        settings: RemoteSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.client = SealServiceClient(settings, transport=transport, sleep=sleep)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], workspace: Path) -> RemoteSealProvider:
        """Build from the workspace's ``[seal]`` table (see the module docstring).

        :raises ConfigurationError: naming an unknown or malformed setting;
            :raises MissingDependency: without the ``remote`` extra.
        """
        return cls(RemoteSettings.from_settings(settings, Path(workspace)))

    def __repr__(self) -> str:
        return f"RemoteSealProvider(url={self.settings.url!r}, cached={sorted(self._signers)!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def __enter__(self) -> RemoteSealProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load_signer(self, authority_code: str) -> RemoteSigner:
        """Fetch the authority's certificate and chain from the service (once; cached).

        :raises SealingError, SealServiceUnavailable: see the module docstring.
        """
        # pyHanko is heavy: imported at the first seal, not when the plugin loads
        from bdcert_plugins.remote_signer import RemoteSigner

        return RemoteSigner(self, authority_code, self.client.certificate(authority_code))

    def certificate_chain(self, authority_code: str) -> list[bytes]:
        """The authority's seal certificate and chain (DER), from the service (cached)."""
        return list(super().certificate_chain(authority_code))

    def sign_digest(self, authority_code: str, digest: bytes, digest_algorithm: str) -> bytes:
        """Have the service sign ``digest``; the signature is verified against the authority's
        seal certificate before it is returned.

        :raises SealingError: for an unsupported digest algorithm, a refusal, or a signature
            that does not verify; :raises SealServiceUnavailable:
        """
        if digest_algorithm not in DIGEST_SIZES:
            raise SealingError(f"the seal service cannot sign {digest_algorithm} digests")
        signature = self.client.sign_digest(authority_code, digest, digest_algorithm)
        self.check_signature(authority_code, digest, digest_algorithm, signature)
        return signature

    def check_signature(
        self, authority_code: str, digest: bytes, digest_algorithm: str, signature: bytes
    ) -> None:
        """Verify a signature of ``digest`` with the authority's seal certificate.

        :raises SealingError: if it does not verify (a wrong key or a corrupted answer).
        """
        prehashed = Prehashed(DIGEST_HASHES[digest_algorithm]())
        key = self.loaded_signer(authority_code).certificate.public_key()
        try:
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, digest, ec.ECDSA(prehashed))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, digest, padding.PKCS1v15(), prehashed)
            else:  # pragma: no cover - certificate() accepts only EC and RSA keys
                raise InvalidSignature
        except (InvalidSignature, ValueError):
            raise _WrongSignature(
                f"the seal service at {self.client.url} returned a signature that does not"
                f" verify against the seal certificate of authority {authority_code}"
            ) from None

    def signer_for(self, authority_code: str) -> RemoteSigner:
        """The pyHanko signer for an authority (its certificate fetched on first use).

        :raises SealingError, SealServiceUnavailable: see the module docstring.
        """
        signer: RemoteSigner = self.loaded_signer(authority_code).signer
        return signer

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        """Seal through the service (see :func:`bdcert.sealing.pades.seal_pdf_with_signer`).

        The seal certificate must be valid now (wall-clock time), as with the software provider.

        :raises SealServiceUnavailable: if the service is down or slow after the retries;
            nothing was sealed, so the caller can queue the work.
        :raises SealingError: for a refusal (token, unknown authority), an expired seal
            certificate, a signature that does not verify, or a PDF that cannot be sealed.
        """
        try:
            return super().seal_pdf(pdf, request)
        except _WrongSignature:
            # perhaps a key rollover: fetch the certificate again next time
            self.forget(request.authority.code)
            raise


def __getattr__(name: str) -> Any:
    # RemoteSigner subclasses pyHanko's Signer: its module loads pyHanko, so only on demand
    if name == "RemoteSigner":
        from bdcert_plugins.remote_signer import RemoteSigner

        return RemoteSigner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def bdcert_register_seal_providers(register: Callable[[str, SealProviderFactory], None]) -> None:
    """Register the ``remote`` seal provider."""
    register("remote", RemoteSealProvider.from_settings)
