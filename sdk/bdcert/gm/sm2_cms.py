"""SM2 signed data: GB/T 35275-2017 (GM/T 0010-2012) ``SignedData`` with SM3 and SM2.

GB/T 35275 keeps the PKCS #7 / RFC 5652 structures and gives them national object identifiers:
``ContentInfo.contentType`` is ``signedData`` :data:`OID_GM_SIGNED_DATA`
(``1.2.156.10197.6.1.4.2.2``) and the content it signs is ``data`` :data:`OID_GM_DATA`
(``1.2.156.10197.6.1.4.2.1``), with digest algorithm SM3 (``1.2.156.10197.1.401``) and signature
algorithm sm2sign-with-sm3 (``1.2.156.10197.1.501``, GM/T 0006). With signed attributes, the
SM2 signature (default distinguishing ID, GM/T 0009) covers DER(``SET OF Attribute``), as in
PKCS #7 §9.3 and RFC 5652 §5.4, and the ``messageDigest`` attribute holds SM3 of the content.

Readers meet both forms: the national OIDs (what GmSSL and the national CAs' tools parse) and the
international ones (``1.2.840.113549.1.7.2``/``.1``, what bdcert wrote before and some vendors
write). :func:`load_signed_data` reads both; :func:`signer_info_problem` checks one
``SignerInfo``. Importing this module registers the national ``signedData`` OID with
asn1crypto's ``ContentInfo`` (an additive entry keyed by the dotted OID, used by every reader
in the process, pyHanko's included), so a GB/T 35275 ``ContentInfo`` parses as ``SignedData``.

Signatures are verified as strict DER only (:meth:`bdcert.gm.sm2.SM2PublicKey.verify`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asn1crypto import cms

from bdcert.gm.sm2 import OID_SM2_WITH_SM3, OID_SM3, OID_SM3_ALT, sm3
from bdcert.gm.x509 import sm2_public_key_of

__all__ = [
    "DATA_TYPES",
    "OID_GM_DATA",
    "OID_GM_SIGNED_DATA",
    "OID_PKCS7_DATA",
    "OID_PKCS7_SIGNED_DATA",
    "OID_SM2_SIGN",
    "SIGNED_DATA_TYPES",
    "attribute_values",
    "load_signed_data",
    "message_digest_of",
    "signer_info_problem",
    "signing_time_of",
    "sm3_matches",
]

#: ``data`` (GB/T 35275-2017 §6, GM/T 0010-2012).
OID_GM_DATA = "1.2.156.10197.6.1.4.2.1"
#: ``signedData`` (GB/T 35275-2017 §8, GM/T 0010-2012).
OID_GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
#: PKCS #7 ``data`` (RFC 5652 §4), read for files bdcert wrote before GB/T 35275 OIDs.
OID_PKCS7_DATA = "1.2.840.113549.1.7.1"
#: PKCS #7 ``signedData`` (RFC 5652 §5).
OID_PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"
#: sm2sign (GM/T 0006), accepted as a signatureAlgorithm when reading (some GM/T 0010 signers).
OID_SM2_SIGN = "1.2.156.10197.1.301.1"

#: The ``data`` content type in both forms, as asn1crypto reads them (name or dotted OID).
DATA_TYPES = frozenset({OID_GM_DATA, "data", OID_PKCS7_DATA})
#: The ``signedData`` content type in both forms, as asn1crypto reads them.
SIGNED_DATA_TYPES = frozenset({OID_GM_SIGNED_DATA, "signed_data", OID_PKCS7_SIGNED_DATA})

# asn1crypto picks the content's class from ContentInfo._oid_specs, keyed by the native content
# type: an unnamed OID is its dotted form. Additive: no name or reverse map changes.
cms.ContentInfo._oid_specs.setdefault(OID_GM_SIGNED_DATA, cms.SignedData)


def load_signed_data(der: bytes) -> Any:
    """The ``SignedData`` of a DER ``ContentInfo`` whose contentType is ``signedData`` in either
    form (GB/T 35275 ``1.2.156.10197.6.1.4.2.2`` or PKCS #7 ``1.2.840.113549.1.7.2``).

    :returns: an asn1crypto :class:`~asn1crypto.cms.SignedData`, parsed through.
    :raises ValueError: the bytes are not DER, not a ``ContentInfo``, or another content type.
    """
    try:
        info = cms.ContentInfo.load(bytes(der), strict=True)
        kind = info["content_type"].native
        if kind not in SIGNED_DATA_TYPES:
            raise ValueError(f"the content type {kind} is not signedData")
        signed = info["content"]
        if not isinstance(signed, cms.SignedData):
            raise ValueError("the content is not a SignedData")
        signed.native  # noqa: B018 - parse every field now, so malformed input fails here
    except (TypeError, KeyError, OverflowError) as exc:
        raise ValueError(f"not a DER SignedData: {exc}") from exc
    return signed


def attribute_values(attributes: Any, name: str, dotted: str) -> list[Any] | None:
    """The values of the attribute ``name`` (asn1crypto's name) or ``dotted`` in a ``SET OF
    Attribute``; None if absent or the set is absent."""
    if attributes is None or attributes.native is None:
        return None
    for attribute in attributes:
        if attribute["type"].native in (name, dotted) or attribute["type"].dotted == dotted:
            return list(attribute["values"])
    return None


def signer_info_problem(signer_info: Any, cert: Any, content_type: str) -> str | None:
    """Why ``signer_info``'s SM2 signature does not verify against ``cert``, or None.

    Checks: the digest algorithm is SM3 and the signature algorithm sm2sign-with-sm3 (or sm2sign);
    signed attributes are present, with a ``contentType`` equal to ``content_type`` (the
    ``eContentType``, RFC 5652 §11.1) and one ``messageDigest``; the SM2 signature (strict DER,
    default ID) over DER(``SET OF`` signed attributes) verifies with ``cert``'s SM2 key.
    The ``messageDigest`` itself is compared with the content by the caller.

    :param cert: the signer's asn1crypto certificate, or None.
    :param content_type: the native ``eContentType`` of the ``SignedData``.
    """
    if cert is None:
        return "the signer's certificate is not in the signature"
    digest = signer_info["digest_algorithm"]["algorithm"].dotted
    if digest not in (OID_SM3, OID_SM3_ALT):
        return f"the digest algorithm {digest} is not SM3"
    algorithm = signer_info["signature_algorithm"]["algorithm"].dotted
    if algorithm not in (OID_SM2_WITH_SM3, OID_SM2_SIGN):
        return f"the signature algorithm {algorithm} is not SM2 with SM3"
    attrs = signer_info["signed_attrs"]
    if attrs.native is None:
        return "the signature has no signed attributes"
    types = attribute_values(attrs, "content_type", "1.2.840.113549.1.9.3")
    if not types or len(types) != 1 or types[0].native != content_type:
        return f"the signed contentType is not the signed content's type ({content_type})"
    digests = attribute_values(attrs, "message_digest", "1.2.840.113549.1.9.4")
    if not digests or len(digests) != 1:
        return "the signature has no single messageDigest attribute"
    try:
        public = sm2_public_key_of(cert.dump())
    except ValueError as exc:
        return f"the signer's certificate holds no SM2 key: {exc}"
    signed = b"\x31" + attrs.dump()[1:]  # [0] IMPLICIT as signed: universal SET OF
    if not public.verify(bytes(signer_info["signature"].native), signed):
        return "the SM2 signature does not verify against the signer's certificate"
    return None


def message_digest_of(signer_info: Any) -> bytes | None:
    """The signed ``messageDigest`` attribute's value, or None."""
    values = attribute_values(signer_info["signed_attrs"], "message_digest", "1.2.840.113549.1.9.4")
    if not values or len(values) != 1:
        return None
    value = values[0].native
    return bytes(value) if isinstance(value, bytes) else None


def signing_time_of(signer_info: Any) -> datetime | None:
    """The signed ``signingTime`` attribute, or None."""
    try:
        values = attribute_values(
            signer_info["signed_attrs"], "signing_time", "1.2.840.113549.1.9.5"
        )
        value = values[0].native if values else None
    except Exception:  # a hostile attribute may fail to parse in many ways
        return None
    return value if isinstance(value, datetime) else None


def sm3_matches(signer_info: Any, content: bytes) -> bool:
    """Whether the signed ``messageDigest`` is SM3 of ``content``."""
    return message_digest_of(signer_info) == sm3(content)
