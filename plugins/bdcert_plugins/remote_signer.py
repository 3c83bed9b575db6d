"""The pyHanko signer of the ``remote`` seal provider (:mod:`bdcert_plugins.seal_remote`).

Its own module because it subclasses pyHanko's ``Signer``: loading it loads pyHanko, which the
provider defers to the first seal. ``from bdcert_plugins.seal_remote import RemoteSigner`` works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bdcert.sealing.digest import ProviderSigner

if TYPE_CHECKING:
    from bdcert_plugins.seal_remote import RemoteSealProvider, ServiceCertificate

__all__ = ["RemoteSigner"]


class RemoteSigner(ProviderSigner):
    """A pyHanko signer whose private key lives in the e-seal service.

    pyHanko builds the CMS signed attributes and calls :meth:`async_sign_raw` with their DER;
    this hashes them and has the service sign the digest (through
    :meth:`RemoteSealProvider.sign_digest`, which verifies the answer). A dry run (pyHanko sizing
    the signature) returns zeros of the longest signature the key can make, without a request.

    :ivar algorithm: ``"ecdsa"`` or ``"rsa"``, as the service reports it.
    """

    def __init__(
        self,
        provider: RemoteSealProvider,
        authority_code: str,
        certificate: ServiceCertificate,
    ) -> None:
        chain = [certificate.certificate.dump(), *(c.dump() for c in certificate.chain)]
        super().__init__(provider, authority_code, chain)
        self.algorithm = certificate.algorithm
        self.remote = provider

    def __repr__(self) -> str:
        return f"RemoteSigner(authority={self.authority_code!r}, url={self.remote.client.url!r})"

    def check(self, digest: bytes, digest_algorithm: str, signature: bytes) -> None:
        """Verify a signature of ``digest`` with the certificate's key.

        :raises SealingError: if it does not verify (a wrong key or a corrupted answer).
        """
        self.remote.check_signature(self.authority_code, digest, digest_algorithm, signature)
