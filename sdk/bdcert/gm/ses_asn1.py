"""ASN.1 structures of electronic seals and seal signatures: GB/T 38540-2020 (v4) and
GM/T 0031-2014 (v1), as asn1crypto classes. :mod:`bdcert.gm.ses` reads, makes and verifies them.

Field names are the standard's in snake case. Where implementations in the wild disagree on
tagging (``extDatas``, ``timeStamp``), a structure has one field per form: the standard's is
written, both are read. Every date is a :class:`SesTime` (UTCTime or GeneralizedTime). ::

    SESeal (v4) ::= SEQUENCE { eSealInfo SES_SealInfo, cert OCTET STRING,
                               signAlgID OBJECT IDENTIFIER, signedValue BIT STRING }
    SES_SealInfo ::= SEQUENCE { header SES_Header, esID IA5String, property SES_ESPropertyInfo,
                                picture SES_ESPictrueInfo, extDatas ExtensionDatas OPTIONAL }
    SES_Header ::= SEQUENCE { id IA5String ("ES"), version INTEGER (4), vid IA5String }
    SES_ESPropertyInfo (v4) ::= SEQUENCE { type INTEGER, name UTF8String, certListType INTEGER,
        certList SES_CertList, createDate, validStart, validEnd GeneralizedTime }
    SES_CertList ::= CHOICE { certs SEQUENCE OF OCTET STRING,               -- certListType 1
                              certDigestList SEQUENCE OF CertDigestObj }     -- certListType 2
    CertDigestObj ::= SEQUENCE { type PrintableString, value OCTET STRING }
    SES_ESPictrueInfo ::= SEQUENCE { type IA5String, data OCTET STRING, width INTEGER,
                                     height INTEGER }                        -- millimetres
    ExtensionDatas ::= SEQUENCE OF ExtData
    ExtData ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE,
                           extnValue OCTET STRING }
    TBS_Sign (v4) ::= SEQUENCE { version INTEGER (4), eseal SESeal, timeInfo GeneralizedTime,
        dataHash BIT STRING, propertyInfo IA5String, extDatas [0] EXPLICIT ExtensionDatas OPTIONAL }
    SES_Signature (v4) ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING,
        signatureAlgID OBJECT IDENTIFIER, signature BIT STRING,
        timeStamp [0] EXPLICIT BIT STRING OPTIONAL }

    SESeal (v1) ::= SEQUENCE { esealInfo SES_SealInfo, signInfo SES_SignInfo }
    SES_ESPropertyInfo (v1) ::= SEQUENCE { type INTEGER, name UTF8String,
        certList SEQUENCE OF OCTET STRING, createDate, validStart, validEnd UTCTime }
    SES_SignInfo ::= SEQUENCE { cert OCTET STRING, signatureAlgorithm OBJECT IDENTIFIER,
                                signData BIT STRING }
    TBS_Sign (v1) ::= SEQUENCE { version INTEGER, eseal SESeal, timeInfo BIT STRING,
        dataHash BIT STRING, propertyInfo IA5String, cert OCTET STRING,
        signatureAlgorithm OBJECT IDENTIFIER }
    SES_Signature (v1) ::= SEQUENCE { toSign TBS_Sign, signature BIT STRING }
"""

from __future__ import annotations

from typing import Any, ClassVar

from asn1crypto import core

__all__ = [
    "CertDigestList",
    "CertDigestObj",
    "CertInfoList",
    "ESPictureInfo",
    "ESPropertyInfoV1",
    "ESPropertyInfoV4",
    "Elements",
    "ExtData",
    "ExtensionDatas",
    "SESHeader",
    "SESSignatureV1",
    "SESSignatureV4",
    "SESealV1",
    "SESealV4",
    "SealInfoV1",
    "SealInfoV4",
    "SealSignRangeV1",
    "SesTime",
    "SignInfoV1",
    "TBSSignV1",
    "TBSSignV4",
]

# -- ASN.1 structures (asn1crypto) ---------------------------------------------------------
# asn1crypto ships no type information: each subclass needs an ignore under mypy --strict.


class SesTime(core.Choice):  # type: ignore[misc]
    """UTCTime or GeneralizedTime: v4 writes GeneralizedTime and v1 UTCTime; both are read."""

    _alternatives: ClassVar[list[tuple[str, Any]]] = [
        ("utc_time", core.UTCTime),
        ("general_time", core.GeneralizedTime),
    ]


class ExtData(core.Sequence):  # type: ignore[misc]
    """``ExtData`` (GB/T 38540-2020 §6): a vendor extension; ``critical`` DEFAULT FALSE."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):  # type: ignore[misc]
    """``ExtensionDatas ::= SEQUENCE OF ExtData``."""

    _child_spec = ExtData


class SESHeader(core.Sequence):  # type: ignore[misc]
    """``SES_Header`` (GB/T 38540-2020 §6): ``id`` "ES", ``version``, ``vid`` (vendor id)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class ESPictureInfo(core.Sequence):  # type: ignore[misc]
    """``SES_ESPictrueInfo`` (sic, GB/T 38540-2020 §6): ``type`` ("PNG", …), ``data``,
    ``width`` and ``height`` in millimetres."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),
        ("height", core.Integer),
    ]


class CertInfoList(core.SequenceOf):  # type: ignore[misc]
    """``CertInfoList ::= SEQUENCE OF OCTET STRING``: DER signer certificates."""

    _child_spec = core.OctetString


class CertDigestObj(core.Sequence):  # type: ignore[misc]
    """``CertDigestObj``: ``type`` (a free PrintableString, e.g. "SM3") and the digest ``value``."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.PrintableString),
        ("value", core.OctetString),
    ]


class CertDigestList(core.SequenceOf):  # type: ignore[misc]
    """``CertDigestList ::= SEQUENCE OF CertDigestObj``."""

    _child_spec = CertDigestObj


class ESPropertyInfoV4(core.Sequence):  # type: ignore[misc]
    """``SES_ESPropertyInfo`` v4 (GB/T 38540-2020 §6). ``cert_list`` is a
    :class:`CertInfoList` when ``cert_list_type`` is 1, a :class:`CertDigestList` when 2 (both are
    untagged SEQUENCE OF, so the type field decides; read it with ``.parse(spec)``)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", SesTime),
        ("valid_start", SesTime),
        ("valid_end", SesTime),
    ]


class ESPropertyInfoV1(core.Sequence):  # type: ignore[misc]
    """``SES_ESPropertyInfo`` v1 (GM/T 0031-2014): no ``certListType``; UTCTime dates."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list", CertInfoList),
        ("create_date", SesTime),
        ("valid_start", SesTime),
        ("valid_end", SesTime),
    ]


class SealInfoV4(core.Sequence):  # type: ignore[misc]
    """``SES_SealInfo`` v4 (GB/T 38540-2020 §6); the maker signs its DER.

    ``ext_datas`` is the standard's untagged form (written); ``ext_datas_tagged`` is the
    ``[0] EXPLICIT`` form some implementations write (read only)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", ESPropertyInfoV4),
        ("picture", ESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
        ("ext_datas_tagged", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SealInfoV1(core.Sequence):  # type: ignore[misc]
    """``SES_SealInfo`` v1 (GM/T 0031-2014)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("header", SESHeader),
        ("es_id", core.IA5String),
        ("property", ESPropertyInfoV1),
        ("picture", ESPictureInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),
        ("ext_datas_tagged", ExtensionDatas, {"explicit": 0, "optional": True}),
    ]


class SESealV4(core.Sequence):  # type: ignore[misc]
    """``SESeal`` v4 (GB/T 38540-2020 §6): the seal and its maker's signature."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("e_seal_info", SealInfoV4),
        ("cert", core.OctetString),
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


class SignInfoV1(core.Sequence):  # type: ignore[misc]
    """``SES_SignInfo`` (GM/T 0031-2014): the maker's certificate, algorithm, signature."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
        ("sign_data", core.OctetBitString),
    ]


class SESealV1(core.Sequence):  # type: ignore[misc]
    """``SESeal`` v1 (GM/T 0031-2014)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("eseal_info", SealInfoV1),
        ("sign_info", SignInfoV1),
    ]


class SealSignRangeV1(core.Sequence):  # type: ignore[misc]
    """What a v1 maker signs: ``SEQUENCE { SES_SealInfo, cert, signatureAlgorithm }``
    (GM/T 0031-2014, SES_SignInfo). Not a wire structure of its own."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("eseal_info", SealInfoV1),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class TBSSignV4(core.Sequence):  # type: ignore[misc]
    """``TBS_Sign`` v4 (GB/T 38540-2020, seal signature); the signer signs its DER.

    ``ext_datas`` is the standard's ``[0] EXPLICIT`` form (written); ``ext_datas_untagged`` is
    read too."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("eseal", SESealV4),
        ("time_info", SesTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),
        ("ext_datas_untagged", ExtensionDatas, {"optional": True}),
    ]


class SESSignatureV4(core.Sequence):  # type: ignore[misc]
    """``SES_Signature`` v4 (GB/T 38540-2020, seal signature).

    ``time_stamp`` is the standard's ``[0] EXPLICIT`` form (written); ``time_stamp_untagged`` is
    read too."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("to_sign", TBSSignV4),
        ("cert", core.OctetString),
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),
        ("time_stamp_untagged", core.OctetBitString, {"optional": True}),
    ]


class TBSSignV1(core.Sequence):  # type: ignore[misc]
    """``TBS_Sign`` v1 (GM/T 0031-2014); ``time_info`` is a BIT STRING holding a time."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("version", core.Integer),
        ("eseal", SESealV1),
        ("time_info", core.OctetBitString),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("cert", core.OctetString),
        ("signature_algorithm", core.ObjectIdentifier),
    ]


class SESSignatureV1(core.Sequence):  # type: ignore[misc]
    """``SES_Signature`` v1 (GM/T 0031-2014)."""

    _fields: ClassVar[list[tuple[Any, ...]]] = [
        ("to_sign", TBSSignV1),
        ("signature", core.OctetBitString),
    ]


class Elements(core.SequenceOf):  # type: ignore[misc]
    """Any SEQUENCE, element by element: tells v4 from v1 by shape."""

    _child_spec = core.Any
