"""The base class of PAdES seal providers: :class:`DigestSealProvider`.

A vendor whose seal key lives elsewhere (an HSM, a provincial e-seal platform) subclasses it and
implements two methods, in the terms of :class:`~bdcert.protocols.DigestSigner`::

    class MySealProvider(DigestSealProvider):
        name = "my-seals"

        def certificate_chain(self, authority_code: str) -> Sequence[bytes]:
            return [seal_cert_pem, root_pem]          # seal certificate first

        def sign_digest(self, authority_code, digest, digest_algorithm) -> bytes:
            return my_platform.sign(authority_code, digest)   # DER ECDSA or PKCS#1 v1.5

and gets, from :func:`bdcert.sealing.pades.seal_pdf_with_signer`, what a certificate seal must
be: the visible seal picture at ``request.box`` on ``request.page``, a certification signature
with DocMDP permission 1 (no changes allowed), signing time (``/M`` and the CMS signing time) =
``request.signing_time``, ``ETSI.CAdES.detached``, SHA-256, ``/Contents`` sized from a dry run of
the signer, at the PAdES baseline level of the provider's :attr:`DigestSealProvider.evidence`
(B-B unless set; :meth:`Registry.open <bdcert.lifecycle.Registry.open>` sets the workspace's:
the digest signer signs, bdcert adds the timestamp and the validation data). The base also
caches each authority's certificates once, refuses to seal with a seal certificate that is not
valid now (wall-clock time) or that its revocation source says is revoked, and offers
``signer_for`` (:class:`~bdcert.protocols.SignerSource`) and ``close``
(:class:`~bdcert.protocols.Closable`).

A provider that already holds a pyHanko signer (the built-in ``software``, ``pkcs11`` and
``remote`` providers) overrides :meth:`DigestSealProvider.load_signer` instead; the base then
answers ``certificate_chain`` and ``sign_digest`` from that signer.

This module is light: pyHanko is imported on the first seal, not when a plugin is loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bdcert.errors import SealingError
from bdcert.protocols import SealRequest
from bdcert.sealing.evidence import Evidence

if TYPE_CHECKING:
    from pyhanko.sign import signers

__all__ = ["DigestSealProvider", "LoadedSigner"]


@attrs.define(frozen=True)
class LoadedSigner:
    """An authority's pyHanko signer and its seal certificate, as a provider caches them.

    :ivar signer: a ``pyhanko.sign.signers.Signer``.
    :ivar certificate: its seal certificate.
    """

    signer: Any
    certificate: x509.Certificate

    @classmethod
    def of(cls, signer: Any) -> LoadedSigner:
        """Wrap a pyHanko signer. :raises SealingError: if it has no certificate."""
        if signer.signing_cert is None:
            raise SealingError(f"the signer {signer!r} has no seal certificate")
        return cls(signer, x509.load_der_x509_certificate(signer.signing_cert.dump()))

    @property
    def pem(self) -> bytes:
        """The seal certificate, PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def check_valid(self, authority_code: str, at: datetime) -> None:
        """:raises SealingError: if the seal certificate is expired or not yet valid at ``at``."""
        not_before = self.certificate.not_valid_before_utc
        not_after = self.certificate.not_valid_after_utc
        if not not_before <= at <= not_after:
            state = "expired" if at > not_after else "not yet valid"
            raise SealingError(
                f"the seal certificate of authority {authority_code} is {state} at"
                f" {at.isoformat()} (valid {not_before.isoformat()} to {not_after.isoformat()})"
            )


class DigestSealProvider:
    """A :class:`~bdcert.protocols.SealProvider` (PAdES) built on a
    :class:`~bdcert.protocols.DigestSigner`: a subclass implements :meth:`certificate_chain`
    and :meth:`sign_digest` (or :meth:`load_signer`); see the module docstring.

    Thread-safe: each authority's signer is loaded once, under a lock, and shared.
    Subclasses that define ``__init__`` call ``super().__init__()``.
    """

    #: The provider's name (what ``[seal] plugin`` selects); subclasses set their own.
    name: str = "digest"

    #: What seals carry besides the signature: the PAdES baseline level, the timestamp
    #: authority, the revocation source (:mod:`bdcert.sealing.evidence`). B-B until
    #: :meth:`use_evidence` sets the workspace's.
    evidence: Evidence = Evidence()

    def __init__(self) -> None:
        self._signers: dict[str, LoadedSigner] = {}
        self._signers_lock = threading.Lock()
        #: One seal at a time: the cached signers and the evidence hold asn1crypto certificates,
        #: which parse their parts lazily on first use and are not safe to parse from two
        #: threads at once (two pushes sealing concurrently in ``bdcert serve``'s thread pool
        #: failed with "No field numbered 2 is present in this asn1crypto.x509.Extension").
        #: Workers (processes) seal in parallel.
        self._sealing_lock = threading.Lock()

    def use_evidence(self, evidence: Evidence) -> None:
        """Seal at ``evidence``'s level from now on (the workspace's ``[seal] level``,
        ``[timestamp]`` and ``[revocation]``)."""
        self.evidence = evidence

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)

        def own(method: str) -> bool:
            return getattr(cls, method) is not getattr(DigestSealProvider, method)

        if not own("load_signer") and not (own("certificate_chain") and own("sign_digest")):
            raise TypeError(
                f"{cls.__name__} must implement certificate_chain and sign_digest (or load_signer)"
            )

    # -- what a subclass implements -------------------------------------------------------

    def certificate_chain(self, authority_code: str) -> Sequence[bytes]:
        """The authority's seal certificate first, then intermediates and root, each PEM or DER
        (see :class:`~bdcert.protocols.DigestSigner`). Called once per authority.

        The default (for a subclass overriding :meth:`load_signer`) reads the loaded signer.

        :raises SealingError: if the authority has no seal key here.
        """
        loaded = self.loaded_signer(authority_code)
        own = loaded.certificate.public_bytes(serialization.Encoding.DER)
        return [own, *(c.dump() for c in loaded.signer.cert_registry if c.dump() != own)]

    def sign_digest(self, authority_code: str, digest: bytes, digest_algorithm: str) -> bytes:
        """Sign a precomputed digest with the authority's key (see
        :class:`~bdcert.protocols.DigestSigner`): DER ECDSA or PKCS#1 v1.5 RSA.

        The default (for a subclass overriding :meth:`load_signer`) signs with the loaded signer
        (:func:`bdcert.sealing.digest.sign_digest`).

        :raises SealingError: if the key refuses or cannot sign a digest.
        """
        # pyHanko is heavy: imported at the first signature, not when a plugin module loads
        from bdcert.sealing.digest import sign_digest

        return sign_digest(self.signer_for(authority_code), digest, digest_algorithm)

    def load_signer(self, authority_code: str) -> signers.Signer:
        """A new pyHanko signer for the authority; the base calls it once and caches the result.

        The default signs through :meth:`sign_digest` with the certificates of
        :meth:`certificate_chain`.

        :raises SealingError: if the authority has no usable key or certificate.
        """
        # pyHanko is heavy: imported at the first seal, not when a plugin module loads
        from bdcert.sealing.digest import ProviderSigner

        return ProviderSigner(self, authority_code, self.certificate_chain(authority_code))

    # -- what the base gives --------------------------------------------------------------

    def loaded_signer(self, authority_code: str) -> LoadedSigner:
        """The authority's signer and certificate, loaded on first use and cached.

        :raises SealingError: as :meth:`load_signer` does.
        """
        loaded = self._signers.get(authority_code)
        if loaded is not None:
            return loaded
        with self._signers_lock:
            loaded = self._signers.get(authority_code)
            if loaded is None:
                loaded = LoadedSigner.of(self.load_signer(authority_code))
                self._signers[authority_code] = loaded
        return loaded

    def signer_for(self, authority_code: str) -> signers.Signer:
        """The authority's pyHanko signer (cached; :class:`~bdcert.protocols.SignerSource`).

        :raises SealingError: as :meth:`load_signer` does.
        """
        signer: signers.Signer = self.loaded_signer(authority_code).signer
        return signer

    def forget(self, authority_code: str | None = None) -> None:
        """Drop the cached signer of one authority (or all), e.g. after a key rollover."""
        with self._signers_lock:
            if authority_code is None:
                self._signers.clear()
            else:
                self._signers.pop(authority_code, None)

    def close(self) -> None:
        """Drop the cached signers (:class:`~bdcert.protocols.Closable`); subclasses holding
        sessions or connections also release them. Idempotent."""
        self.forget()

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        """Seal with the authority's key (see :func:`bdcert.sealing.pades.seal_pdf_with_signer`).

        The seal certificate must be valid now (wall-clock time): a seal cannot be made today
        with an expired key, whatever ``request.signing_time`` claims (that may be the
        recording time); nor revoked, when :attr:`evidence` has a revocation source. The seal
        is at :attr:`evidence`'s PAdES level (B-B to B-LTA).

        :raises SealingError: for an authority without a usable key, a seal certificate that is
            expired, not yet valid or revoked, a timestamp authority that fails, or a PDF that
            cannot be sealed.
        """
        # pyHanko is heavy: imported at the first seal, not when a plugin module loads
        from bdcert.sealing.pades import seal_pdf_with_signer

        code = request.authority.code
        loaded = self.loaded_signer(code)
        with self._sealing_lock:
            loaded.check_valid(code, datetime.now(UTC))
            return seal_pdf_with_signer(pdf, request, loaded.signer, self.evidence)

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        """The authority's seal certificate: PEM bytes, the certificate alone.

        :raises SealingError: as :meth:`load_signer` does.
        """
        return self.loaded_signer(authority_code).pem
