"""Certificate loading (primitives layer): PEM or DER, one certificate or a PEM bundle.

Trust roots, seal certificates and chains are configured as files that may be PEM (one or more
``-----BEGIN CERTIFICATE-----`` blocks) or DER (exactly one certificate). Every reader of such a
file goes through :func:`load_certificates` (parsed, RSA/ECDSA/… X.509) or
:func:`certificate_ders` (the DER bytes only, so SM2 certificates that ``cryptography`` cannot use
pass through unchanged), and reports a failure with :data:`NOT_A_CERTIFICATE`.
"""

from __future__ import annotations

from asn1crypto import pem
from cryptography import x509

__all__ = ["NOT_A_CERTIFICATE", "certificate_ders", "is_pem", "load_certificates"]

#: How a reader says that bytes hold no certificate (prefix it with what was read).
NOT_A_CERTIFICATE = "is not a PEM or DER X.509 certificate"


def is_pem(data: bytes) -> bool:
    """True when ``data`` is PEM armoured (a ``-----BEGIN`` line), else it is taken as DER."""
    return b"-----BEGIN" in data


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates in ``data``: every block of a PEM file, or the one DER certificate.

    :raises ValueError: ``data`` is neither (callers turn it into their own error, with
        :data:`NOT_A_CERTIFICATE`).
    """
    if is_pem(data):
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def certificate_ders(data: bytes) -> list[bytes]:
    """The DER encoding of each certificate in ``data`` (PEM blocks, or ``data`` itself as DER),
    without parsing them.

    :raises ValueError: a PEM file whose armour is broken.
    """
    data = bytes(data)
    if is_pem(data):
        return [bytes(der) for _, _, der in pem.unarmor(data, multiple=True)]
    return [data]
