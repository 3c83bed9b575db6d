"""Electronic seals (电子印章) and seal signatures (电子签章): GB/T 38540-2020 and GM/T 0031-2014.

The seal maker (制章者) signs a seal, ``SESeal``, that binds a seal picture and properties to
the certificates of the people or systems allowed to use it (签章者). A signer then seals a
document: it signs ``TBS_Sign`` — the whole seal, the signing time, the document's hash and a
property string — producing an ``SES_Signature``. OFD carries both as files
(``Doc_0/Signs/Sign_N/Seal.esl`` and ``SignedValue.dat``, GB/T 33190); some PDF vendors put the
``SES_Signature`` in ``/Contents``.

Two layouts exist. :func:`make_seal` and :func:`sign_data` write version 4 (GB/T 38540-2020:
seals §6, and seal signatures); :func:`parse_seal` and :func:`parse_signature` read version 4
and version 1 (GM/T 0031-2014, whose header carries version 1, 2 or 3 in the wild), telling
them apart by their shape as public implementations do (a v4 ``SESeal`` has four elements, a v1
one two). The ASN.1 structures, with their definitions, are in :mod:`bdcert.gm.ses_asn1`
(re-exported here).

What is signed: a v4 seal's ``signedValue`` covers DER(``SES_SealInfo``); a v1 seal's
``signData`` covers DER(``SEQUENCE { SES_SealInfo, cert, signatureAlgorithm }``) (GM/T
0031-2014, ``SES_SignInfo``); a signature of either version covers DER(``TBS_Sign``).
Signatures are SM2 with SM3 and the default distinguishing ID (GM/T 0009), DER
``SEQUENCE { r, s }`` inside the BIT STRING, and only strict DER verifies (GM/T 0010: a raw
64-byte ``r ‖ s`` or a BER variant is refused).

Encoding rules: output is DER (a FALSE ``critical`` is omitted, times are whole seconds in UTC
with ``Z``). When reading, implementations in the wild disagree, so both the tagged and untagged
forms of ``extDatas`` and ``timeStamp`` are accepted, and either UTCTime or GeneralizedTime for
every date; a time without a zone is read as China time (UTC+08:00). The bytes that were signed
are always verified exactly as they appear in the input, never re-encoded.

Nothing here needs the ``gm`` extra to *parse*; making, signing and verifying need SM2
(``pip install 'bdcert[gm]'``).

The code is in three modules, whose names this one re-exports: :mod:`bdcert.gm.ses_seal`
(seals: :class:`Seal`, :func:`make_seal`, :func:`parse_seal`, :func:`verify_seal`),
:mod:`bdcert.gm.ses_signature` (seal signatures: :class:`SesSignature`, :func:`sign_data`,
:func:`parse_signature`, :func:`verify_signature`) and :mod:`bdcert.gm.ses_common` (what both
share: :class:`SealFormatError` and the field readers).
"""

from __future__ import annotations

from bdcert.gm.ses_asn1 import (
    CertDigestList,
    CertDigestObj,
    CertInfoList,
    ESPictureInfo,
    ESPropertyInfoV1,
    ESPropertyInfoV4,
    ExtData,
    ExtensionDatas,
    SealInfoV1,
    SealInfoV4,
    SealSignRangeV1,
    SESealV1,
    SESealV4,
    SESHeader,
    SESSignatureV1,
    SESSignatureV4,
    SesTime,
    SignInfoV1,
    TBSSignV1,
    TBSSignV4,
)
from bdcert.gm.ses_common import SealFormatError
from bdcert.gm.ses_seal import (
    CERT_LIST_CERTS,
    CERT_LIST_DIGESTS,
    SEAL_TYPE_ORGANIZATION,
    SEAL_TYPE_PERSONAL,
    Seal,
    SealPicture,
    make_seal,
    parse_seal,
    verify_seal,
)
from bdcert.gm.ses_signature import (
    SesSignature,
    parse_signature,
    sign_data,
    verify_signature,
)

__all__ = [
    "CERT_LIST_CERTS",
    "CERT_LIST_DIGESTS",
    "SEAL_TYPE_ORGANIZATION",
    "SEAL_TYPE_PERSONAL",
    "CertDigestList",
    "CertDigestObj",
    "CertInfoList",
    "ESPictureInfo",
    "ESPropertyInfoV1",
    "ESPropertyInfoV4",
    "ExtData",
    "ExtensionDatas",
    "SESHeader",
    "SESSignatureV1",
    "SESSignatureV4",
    "SESealV1",
    "SESealV4",
    "Seal",
    "SealFormatError",
    "SealInfoV1",
    "SealInfoV4",
    "SealPicture",
    "SealSignRangeV1",
    "SesSignature",
    "SesTime",
    "SignInfoV1",
    "TBSSignV1",
    "TBSSignV4",
    "make_seal",
    "parse_seal",
    "parse_signature",
    "sign_data",
    "verify_seal",
    "verify_signature",
]
