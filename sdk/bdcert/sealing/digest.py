"""Signing digests: a pyHanko signer over a :class:`~bdcert.protocols.DigestSigner`, and a
digest signed with a pyHanko signer's own key.

pyHanko builds the CMS signed attributes of a PAdES seal and asks its signer for a raw signature
of their DER; :class:`ProviderSigner` hashes them and hands the digest to the provider, whose key
lives elsewhere (an HSM, a remote e-seal service). :func:`sign_digest` goes the other way, for
the reference e-seal service: a precomputed digest signed with a signer's key.

Imports pyHanko: providers import this module on their first seal, not at start-up.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from bdcert.errors import SealingError
from bdcert.protocols import DIGEST_HASHES, DigestSigner
from bdcert.sealing.pades import load_certificates

__all__ = [
    "DIGEST_HASHES",
    "ProviderSigner",
    "max_signature_size",
    "sign_digest",
]


def max_signature_size(public_key: Any) -> int:
    """The longest raw signature, in bytes, a key can make: the modulus size for RSA, the
    longest DER ``ECDSA-Sig-Value`` for EC (two INTEGERs of the order's size plus a sign byte).
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        return (public_key.key_size + 7) // 8
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        content = 2 * (2 + (public_key.curve.key_size + 7) // 8 + 1)
        return content + (2 if content < 128 else 3)
    return 512


class ProviderSigner(signers.Signer):
    """A pyHanko signer whose key is an authority's key in a :class:`DigestSigner`.

    :param provider: signs the digests.
    :param authority_code: whose key.
    :param chain: the seal certificate first, then intermediates and root (PEM or DER each).
    :raises SealingError: if a certificate cannot be read or the chain is empty.

    A dry run (pyHanko sizing ``/Contents``) returns zeros of the longest signature the key can
    make, without asking the provider.
    """

    def __init__(self, provider: DigestSigner, authority_code: str, chain: Sequence[bytes]) -> None:
        certificates = [
            c
            for i, data in enumerate(chain)
            for c in load_certificates(
                bytes(data), f"certificate {i} of authority {authority_code}"
            )
        ]
        if not certificates:
            raise SealingError(f"no seal certificate for authority {authority_code}")
        asn1 = [
            asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in certificates
        ]
        for c in asn1:
            # asn1crypto fills its parsed-name caches lazily and in place; fill them now, so
            # threads sharing this signer never race on them
            _ = c.native
        registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        registry.register_multiple(asn1[1:])
        super().__init__(signing_cert=asn1[0], cert_registry=registry)
        self.provider = provider
        self.authority_code = authority_code
        self._dummy = bytes(max_signature_size(certificates[0].public_key()))

    def __repr__(self) -> str:
        return f"ProviderSigner(authority={self.authority_code!r}, provider={self.provider!r})"

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """Hash ``data`` (the DER signed attributes) and have the provider sign the digest.

        :raises SealingError: for a digest algorithm other than SHA-256/384/512, or what the
            provider raises.
        """
        if dry_run:
            return self._dummy
        digest_algorithm = digest_algorithm.lower()
        if digest_algorithm not in DIGEST_HASHES:
            raise SealingError(f"cannot sign {digest_algorithm} digests")
        digest = hashlib.new(digest_algorithm, data).digest()
        # the provider may block (network, token); off the event loop
        return await asyncio.to_thread(self.sign_digest, digest, digest_algorithm)

    def sign_digest(self, digest: bytes, digest_algorithm: str) -> bytes:
        """Sign a precomputed digest through the provider (see :func:`sign_digest`)."""
        return self.provider.sign_digest(self.authority_code, digest, digest_algorithm)


def sign_digest(signer: signers.Signer, digest: bytes, digest_algorithm: str) -> bytes:
    """Sign a precomputed digest with a signer's key: DER ECDSA or PKCS#1 v1.5 RSA.

    A signer holding its key in memory (pyHanko's ``SimpleSigner``) signs here; any other signer
    must offer ``sign_digest(digest, digest_algorithm) -> bytes`` (e.g. an HSM adapter).

    :raises SealingError: if the signer cannot sign a digest or the key refuses.
    """
    own = getattr(signer, "sign_digest", None)
    if callable(own):
        signature: bytes = own(digest, digest_algorithm)
        return signature
    key_info = getattr(signer, "signing_key", None)
    if key_info is None:
        raise SealingError(
            f"a {type(signer).__name__} cannot sign a precomputed digest (it needs sign_digest)"
        )
    key = serialization.load_der_private_key(key_info.dump(), password=None)
    prehashed = Prehashed(DIGEST_HASHES[digest_algorithm]())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(digest, ec.ECDSA(prehashed))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), prehashed)
    raise SealingError(f"a {type(key).__name__} seal key cannot sign a precomputed digest")
