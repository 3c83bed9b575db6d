"""What the GB/T 38540 seal and seal-signature modules share: :class:`SealFormatError`, the
version numbers, and small readers and checks of ASN.1 fields, times and certificates.

:mod:`bdcert.gm.ses_seal` and :mod:`bdcert.gm.ses_signature` use them; :mod:`bdcert.gm.ses`
re-exports :class:`SealFormatError`. A reader raises :class:`SealFormatError` naming the field
when a value has the wrong type; a time without a zone is read as China time (UTC+08:00).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bdcert.errors import MissingDependency, SealingError
from bdcert.gm.ses_asn1 import Elements
from bdcert.model import CHINA_TZ

if TYPE_CHECKING:
    from bdcert.gm.sm2 import SM2PublicKey

__all__ = [
    "V1_HEADER_VERSIONS",
    "V4",
    "SealFormatError",
    "ascii_text",
    "aware",
    "chain_problem",
    "public_key_of",
    "read_bytes",
    "read_int",
    "read_public_key",
    "read_str",
    "read_time",
    "shape",
]

#: The version of GB/T 38540-2020 seals and seal signatures.
V4 = 4
#: The header versions a GM/T 0031-2014 (v1 layout) seal carries in the wild.
V1_HEADER_VERSIONS = frozenset({1, 2, 3})


class SealFormatError(SealingError, ValueError):
    """The bytes are not a well-formed ``SESeal`` or ``SES_Signature`` (GB/T 38540-2020,
    GM/T 0031-2014): truncated, not DER, an unknown version, a field of the wrong type."""


# -- helpers -------------------------------------------------------------------------------


def aware(value: datetime, what: str) -> datetime:
    """``value`` in UTC, whole seconds; refuses naive datetimes."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise SealingError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC).replace(microsecond=0)


def ascii_text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.isascii():
        raise SealingError(f"{what} must be ASCII text (IA5String), got {value!r}")
    return value


def read_time(choice: Any, what: str) -> datetime:
    value = choice.chosen.native
    if not isinstance(value, datetime):
        raise SealFormatError(f"{what} is not a time")
    if value.tzinfo is None:  # GeneralizedTime without a zone: local time, China time here
        value = value.replace(tzinfo=CHINA_TZ)
    return value.astimezone(UTC)


def read_int(value: Any, what: str) -> int:
    native = value.native
    if not isinstance(native, int) or isinstance(native, bool):
        raise SealFormatError(f"{what} is not an INTEGER")
    return native


def read_str(value: Any, what: str) -> str:
    native = value.native
    if not isinstance(native, str):
        raise SealFormatError(f"{what} is not a string")
    return native


def read_bytes(value: Any, what: str) -> bytes:
    native = value.native
    if not isinstance(native, bytes):
        raise SealFormatError(f"{what} is not an OCTET or BIT STRING")
    return native


def shape(der: bytes, what: str) -> int:
    """The number of elements of the outer SEQUENCE of ``der``."""
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise SealFormatError(f"{what} must be bytes, not {type(der).__name__}")
    try:
        return len(Elements.load(bytes(der), strict=True))
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, OverflowError, …
        raise SealFormatError(f"not a DER {what}: {exc}") from exc


def public_key_of(cert_der: bytes) -> SM2PublicKey:
    from bdcert.gm.x509 import sm2_public_key_of

    return sm2_public_key_of(cert_der)


def chain_problem(cert_der: bytes, trust_roots: Sequence[bytes], at: datetime) -> str | None:
    from bdcert.gm.x509 import verify_sm2_chain

    return verify_sm2_chain(cert_der, list(trust_roots), at)


def read_public_key(cert_der: bytes) -> SM2PublicKey | str:
    """The certificate's SM2 key, or why there is none."""
    try:
        return public_key_of(cert_der)
    except MissingDependency:
        raise
    except Exception as exc:  # a hostile certificate may fail in many ways
        return f"not an SM2 certificate ({exc})"
