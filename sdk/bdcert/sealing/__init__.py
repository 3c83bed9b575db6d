"""Making seals (pyHanko's ``sign/signers`` split): checking them is :mod:`bdcert.verify`.

- :mod:`bdcert.sealing.provider`: :class:`DigestSealProvider`, the base class of PAdES seal
  providers (a vendor implements "certificate chain" and "sign this digest").
- :mod:`bdcert.sealing.pades`: PAdES B-B certification seals with pyHanko, and the seal's
  appearance (:func:`~bdcert.sealing.pades.stamp_style`).
- :mod:`bdcert.sealing.digest`: a pyHanko signer over a digest signer.

Importing this package is light; the modules that use pyHanko load on the first seal.
"""

from __future__ import annotations

from bdcert.sealing.provider import DigestSealProvider, LoadedSigner

__all__ = ["DigestSealProvider", "LoadedSigner"]
