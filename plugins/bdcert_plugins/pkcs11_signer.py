"""The pyHanko signer of the ``pkcs11`` seal provider (:mod:`bdcert_plugins.seal_pkcs11`).

Its own module because it subclasses pyHanko's ``Signer``: loading it loads pyHanko, which the
provider defers to the first use of the token.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from bdcert.errors import SealingError
from bdcert_plugins.seal_pkcs11 import SessionLost, describe_error, is_session_lost

__all__ = ["TokenSigner"]


def _asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class TokenSigner(signers.Signer):
    """A pyHanko signer whose private key is a PKCS#11 key object; the token does the signing.

    Every signature takes ``lock`` (the provider's), so one session serves many threads.
    """

    def __init__(
        self,
        key: Any,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate],
        lock: threading.Lock,
        generation: int = 0,
    ) -> None:
        signing_cert, others = _asn1_certificate(cert), [_asn1_certificate(c) for c in chain]
        # asn1crypto fills its cached .native values in place (a Name's dict starts empty), so
        # threads sharing this signer could see them half-built: compute them all now, once
        for c in (signing_cert, *others):
            _ = c.native
        registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
        registry.register_multiple(others)
        super().__init__(signing_cert=signing_cert, cert_registry=registry)
        self._key = key
        self._lock = lock
        #: the provider's session generation the key handle belongs to
        self.generation = generation
        public = cert.public_key()
        # raw ECDSA (host-side digest) is what every token offers; hashed RSA is as common
        self._raw = isinstance(public, ec.EllipticCurvePublicKey)
        if isinstance(public, ec.EllipticCurvePublicKey):
            self._size = 2 * ((public.curve.key_size + 7) // 8) + 9  # DER ECDSA-Sig-Value, max
        elif isinstance(public, rsa.RSAPublicKey):
            self._size = (public.key_size + 7) // 8
        else:
            self._size = 512

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """The raw signature of ``data`` (hashed with ``digest_algorithm``) made by the token.

        A dry run returns zero bytes of the largest signature size, without touching the token.
        :raises SealingError: if the token refuses; ``SessionLost`` if the session is gone.
        """
        if dry_run:
            return bytes(self._size)
        with self._lock:
            return self.sign_locked(data, digest_algorithm)

    def sign_locked(self, data: bytes, digest_algorithm: str) -> bytes:
        """Sign with the provider's lock already held (see :meth:`async_sign_raw`)."""
        from pkcs11.exceptions import PKCS11Error
        from pyhanko.sign.pkcs11 import select_pkcs11_signing_params

        digest_algorithm = digest_algorithm.lower()
        spec = select_pkcs11_signing_params(
            self.get_signature_mechanism_for_digest(digest_algorithm),
            digest_algorithm,
            use_raw_mechanism=self._raw,
            sign_kwargs={},
        )
        if spec.pre_sign_transform is not None:
            data = spec.pre_sign_transform(data)
        try:
            signature: bytes = self._key.sign(data, **spec.sign_kwargs)
        except PKCS11Error as e:
            if is_session_lost(e):
                raise SessionLost(f"the token session was lost: {describe_error(e)}") from e
            raise SealingError(f"the token refused to sign: {describe_error(e)}") from e
        if spec.post_sign_transform is not None:
            signature = spec.post_sign_transform(signature)
        return signature

    def sign_digest(self, digest: bytes, digest_algorithm: str) -> bytes:
        """Sign a precomputed digest on the token (raw ``CKM_ECDSA``, or ``CKM_RSA_PKCS`` over
        the DER ``DigestInfo``): what the e-seal service asks of a signer.

        :returns: a DER ``ECDSA-Sig-Value`` or a PKCS#1 v1.5 signature.
        :raises SealingError: if the token refuses; ``SessionLost`` if the session is gone.
        """
        from asn1crypto import algos
        from pkcs11 import Mechanism
        from pkcs11.exceptions import PKCS11Error
        from pkcs11.util.ec import encode_ecdsa_signature

        digest_algorithm = digest_algorithm.lower()
        if self._raw:
            mechanism, data = Mechanism.ECDSA, digest
        else:
            mechanism = Mechanism.RSA_PKCS
            data = algos.DigestInfo(
                {"digest_algorithm": {"algorithm": digest_algorithm}, "digest": digest}
            ).dump()
        with self._lock:
            try:
                signature: bytes = self._key.sign(data, mechanism=mechanism)
            except PKCS11Error as e:
                if is_session_lost(e):
                    raise SessionLost(f"the token session was lost: {describe_error(e)}") from e
                raise SealingError(f"the token refused to sign: {describe_error(e)}") from e
        if self._raw:
            der: bytes = encode_ecdsa_signature(signature)
            return der
        return signature
