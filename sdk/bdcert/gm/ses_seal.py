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
``SEQUENCE { r, s }`` inside the BIT STRING; raw 64-byte ``r ‖ s`` is accepted when verifying.

Encoding rules: output is DER (a FALSE ``critical`` is omitted, times are whole seconds in UTC
with ``Z``). When reading, implementations in the wild disagree, so both the tagged and untagged
forms of ``extDatas`` and ``timeStamp`` are accepted, and either UTCTime or GeneralizedTime for
every date; a time without a zone is read as China time (UTC+08:00). The bytes that were signed
are always verified exactly as they appear in the input, never re-encoded.

Nothing here needs the ``gm`` extra to *parse*; making, signing and verifying need SM2
(``pip install 'bdcert[gm]'``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from bdcert.errors import MissingDependency, SealingError
from bdcert.gm.ses_asn1 import (
    CertDigestList,
    CertDigestObj,
    CertInfoList,
    Elements,
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
from bdcert.gm.sm2 import OID_SM2_WITH_SM3, sm3
from bdcert.model import CHINA_TZ, VerdictCode

if TYPE_CHECKING:
    from bdcert.gm.sm2 import SM2PrivateKey, SM2PublicKey

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

#: ``certListType`` 1: the seal lists signer certificates (GB/T 38540-2020 §6).
CERT_LIST_CERTS = 1
#: ``certListType`` 2: the seal lists digests of signer certificates.
CERT_LIST_DIGESTS = 2
#: Seal ``type`` 1: an organisation's seal (单位印章).
SEAL_TYPE_ORGANIZATION = 1
#: Seal ``type`` 2: a personal seal (个人印章).
SEAL_TYPE_PERSONAL = 2

_V4 = 4
_V1_HEADER_VERSIONS = frozenset({1, 2, 3})


class SealFormatError(SealingError, ValueError):
    """The bytes are not a well-formed ``SESeal`` or ``SES_Signature`` (GB/T 38540-2020,
    GM/T 0031-2014): truncated, not DER, an unknown version, a field of the wrong type."""


# -- value types ---------------------------------------------------------------------------


@attrs.define(frozen=True)
class SealPicture:
    """The seal's picture (``SES_ESPictrueInfo``, GB/T 38540-2020 §6).

    :ivar type: the picture format as the standard names it: ``"PNG"``, ``"JPG"``, ``"BMP"``,
        ``"SVG"``, ``"OFD"``.
    :ivar data: the picture file's bytes.
    :ivar width_mm: printed width in millimetres. :ivar height_mm: printed height in millimetres.
    """

    type: str = attrs.field(validator=attrs.validators.instance_of(str))
    data: bytes = attrs.field(
        validator=attrs.validators.instance_of(bytes), repr=lambda d: f"<{len(d)} bytes>"
    )
    width_mm: int = attrs.field(validator=attrs.validators.instance_of(int))
    height_mm: int = attrs.field(validator=attrs.validators.instance_of(int))


@attrs.define(frozen=True)
class Seal:
    """An electronic seal (电子印章, ``SESeal``), as read by :func:`parse_seal`.

    :ivar version: 4 (GB/T 38540-2020) or 1 (GM/T 0031-2014, whatever its header says).
    :ivar vid: the maker's vendor id (``SES_Header.vid``).
    :ivar es_id: the seal's identifier (``esID``).
    :ivar type: 1 organisation seal, 2 personal seal (other values are kept as read).
    :ivar name: the seal's name (``name``), e.g. the authority's name.
    :ivar cert_list_type: 1 when ``signer_certs`` are DER certificates, 2 when digests.
    :ivar signer_certs: the certificates (or their digests) allowed to sign with the seal.
    :ivar created: ``createDate``. :ivar valid_start: ``validStart``. :ivar valid_end:
        ``validEnd``. All aware, in UTC.
    :ivar picture: the seal's picture.
    :ivar maker_cert: the seal maker's (制章者) DER certificate.
    :ivar sign_alg: the maker's signature algorithm OID (SM2 with SM3: 1.2.156.10197.1.501).
    :ivar signature: the maker's signature as stored (DER ``SEQUENCE{r,s}``, or raw ``r ‖ s``).
    :ivar seal_info_der: DER ``SES_SealInfo`` exactly as in :attr:`der`; for v4 the bytes the
        maker signed (for v1 see :attr:`signed_der`).
    :ivar der: the whole ``SESeal`` as read.
    :ivar cert_digest_types: for ``cert_list_type`` 2, each digest's ``type`` string.
    """

    version: int
    vid: str
    es_id: str
    type: int
    name: str
    cert_list_type: int
    signer_certs: tuple[bytes, ...] = attrs.field(repr=lambda t: f"<{len(t)} entries>")
    created: datetime
    valid_start: datetime
    valid_end: datetime
    picture: SealPicture
    maker_cert: bytes = attrs.field(repr=False)
    sign_alg: str
    signature: bytes = attrs.field(repr=False)
    seal_info_der: bytes = attrs.field(repr=False)
    der: bytes = attrs.field(repr=False)
    cert_digest_types: tuple[str, ...] = ()

    @property
    def signed_der(self) -> bytes:
        """The bytes the maker's signature covers: DER ``SES_SealInfo`` for v4; for v1, DER
        ``SEQUENCE { SES_SealInfo, cert, signatureAlgorithm }`` (GM/T 0031-2014, SES_SignInfo)."""
        if self.version == _V4:
            return self.seal_info_der
        rng = SealSignRangeV1(
            {
                "eseal_info": SealInfoV1.load(self.seal_info_der),
                "cert": self.maker_cert,
                "signature_algorithm": self.sign_alg,
            }
        )
        out: bytes = rng.dump()
        return out

    def lists_signer(self, cert_der: bytes) -> bool:
        """Whether ``cert_der`` is one of the seal's signer certificates: byte-equal for
        ``cert_list_type`` 1; for 2, its SM3, SHA-256 or SHA-1 digest is listed."""
        if self.cert_list_type == CERT_LIST_DIGESTS:
            digests = {
                sm3(cert_der),
                hashlib.sha256(cert_der).digest(),
                hashlib.sha1(cert_der).digest(),
            }
            return any(d in digests for d in self.signer_certs)
        return any(hmac.compare_digest(c, cert_der) for c in self.signer_certs)

    def valid_at(self, at: datetime) -> bool:
        """Whether ``at`` (aware) lies in ``[valid_start, valid_end]``."""
        return self.valid_start <= at <= self.valid_end


@attrs.define(frozen=True)
class SesSignature:
    """An electronic seal signature (电子签章数据, ``SES_Signature``), read by
    :func:`parse_signature`.

    :ivar version: 4 or 1, as the embedded seal.
    :ivar seal: the seal that was applied (``TBS_Sign.eseal``).
    :ivar time: the signing time the signer claims (``timeInfo``), aware, UTC.
    :ivar data_hash: the document's hash (``dataHash``; for OFD, SM3 of ``Signature.xml``).
    :ivar property_info: ``propertyInfo`` (IA5String, e.g. ``/Doc_0/Signs/Sign_0/Signature.xml``).
    :ivar signer_cert: the signer's DER certificate.
    :ivar sign_alg: the signature algorithm OID.
    :ivar signature: the signature over :attr:`tbs_der`, as stored.
    :ivar tbs_der: DER ``TBS_Sign`` exactly as in :attr:`der`: the bytes that were signed.
    :ivar timestamp: the v4 ``timeStamp`` (a time-stamp token over the signature), or None.
    :ivar der: the whole ``SES_Signature`` as read.
    """

    version: int
    seal: Seal
    time: datetime
    data_hash: bytes
    property_info: str
    signer_cert: bytes = attrs.field(repr=False)
    sign_alg: str
    signature: bytes = attrs.field(repr=False)
    tbs_der: bytes = attrs.field(repr=False)
    timestamp: bytes | None = attrs.field(repr=False)
    der: bytes = attrs.field(repr=False)


# -- helpers -------------------------------------------------------------------------------


def _aware(value: datetime, what: str) -> datetime:
    """``value`` in UTC, whole seconds; refuses naive datetimes."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise SealingError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC).replace(microsecond=0)


def _ascii(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.isascii():
        raise SealingError(f"{what} must be ASCII text (IA5String), got {value!r}")
    return value


def _read_time(choice: Any, what: str) -> datetime:
    value = choice.chosen.native
    if not isinstance(value, datetime):
        raise SealFormatError(f"{what} is not a time")
    if value.tzinfo is None:  # GeneralizedTime without a zone: local time, China time here
        value = value.replace(tzinfo=CHINA_TZ)
    return value.astimezone(UTC)


def _int(value: Any, what: str) -> int:
    native = value.native
    if not isinstance(native, int) or isinstance(native, bool):
        raise SealFormatError(f"{what} is not an INTEGER")
    return native


def _str(value: Any, what: str) -> str:
    native = value.native
    if not isinstance(native, str):
        raise SealFormatError(f"{what} is not a string")
    return native


def _bytes(value: Any, what: str) -> bytes:
    native = value.native
    if not isinstance(native, bytes):
        raise SealFormatError(f"{what} is not an OCTET or BIT STRING")
    return native


def _shape(der: bytes, what: str) -> int:
    """The number of elements of the outer SEQUENCE of ``der``."""
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise SealFormatError(f"{what} must be bytes, not {type(der).__name__}")
    try:
        return len(Elements.load(bytes(der), strict=True))
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, OverflowError, …
        raise SealFormatError(f"not a DER {what}: {exc}") from exc


def _public_key_of(cert_der: bytes) -> SM2PublicKey:
    from bdcert.gm.x509 import sm2_public_key_of

    return sm2_public_key_of(cert_der)


def _chain_problem(cert_der: bytes, trust_roots: Sequence[bytes], at: datetime) -> str | None:
    from bdcert.gm.x509 import verify_sm2_chain

    return verify_sm2_chain(cert_der, list(trust_roots), at)


def _read_public_key(cert_der: bytes) -> SM2PublicKey | str:
    """The certificate's SM2 key, or why there is none."""
    try:
        return _public_key_of(cert_der)
    except MissingDependency:
        raise
    except Exception as exc:  # a hostile certificate may fail in many ways
        return f"not an SM2 certificate ({exc})"


# -- making and reading seals --------------------------------------------------------------


def make_seal(
    *,
    maker_key: SM2PrivateKey,
    maker_cert_der: bytes,
    es_id: str,
    name: str,
    signer_certs: Sequence[bytes],
    picture: SealPicture,
    valid_start: datetime,
    valid_end: datetime,
    created: datetime | None = None,
    seal_type: int = SEAL_TYPE_ORGANIZATION,
    vid: str = "bdcert",
) -> bytes:
    """Make (制章) a version 4 electronic seal, ``SESeal`` (GB/T 38540-2020 §6).

    The seal maker signs DER(``SES_SealInfo``) with SM2/SM3 (default ID); the seal lists the
    signer certificates (``certListType`` 1) allowed to use it. Dates are written as
    GeneralizedTime in UTC, truncated to whole seconds.

    :param maker_key: the seal maker's SM2 key; must match ``maker_cert_der``.
    :param maker_cert_der: the seal maker's DER certificate (stored in the seal).
    :param es_id: the seal's identifier (ASCII). :param name: the seal's name (UTF-8).
    :param signer_certs: one or more DER signer certificates.
    :param picture: the seal picture; width and height are positive millimetres.
    :param valid_start: start of validity, aware. :param valid_end: end of validity, aware,
        after ``valid_start``.
    :param created: the making date (``createDate``), aware; defaults to now.
    :param seal_type: 1 organisation seal, 2 personal seal.
    :param vid: the vendor id written in the header (ASCII).
    :returns: the DER ``SESeal``.
    :raises SealingError: if an argument is unusable (naive datetime, non-ASCII id, empty
        certificate list, validity ending before it starts, key not matching the certificate).
    :raises MissingDependency: without the ``gm`` extra.
    """
    start = _aware(valid_start, "valid_start")
    end = _aware(valid_end, "valid_end")
    made = _aware(created if created is not None else datetime.now(UTC), "created")
    if end <= start:
        raise SealingError(f"seal validity ends ({end}) before it starts ({start})")
    _ascii(es_id, "es_id")
    _ascii(vid, "vid")
    _ascii(picture.type, "picture type")
    if not es_id:
        raise SealingError("es_id must not be empty")
    if not isinstance(name, str) or not name:
        raise SealingError("the seal needs a name")
    certs = [bytes(c) for c in signer_certs]
    if not certs:
        raise SealingError("a seal lists at least one signer certificate")
    if picture.width_mm <= 0 or picture.height_mm <= 0:
        raise SealingError("picture width and height are positive millimetres")
    maker_public = _read_public_key(maker_cert_der)
    if isinstance(maker_public, str):
        raise SealingError(f"seal maker certificate: {maker_public}")
    if maker_key.public_key != maker_public:
        raise SealingError("the seal maker's key does not match the seal maker's certificate")

    info = SealInfoV4(
        {
            "header": SESHeader({"id": "ES", "version": _V4, "vid": vid}),
            "es_id": es_id,
            "property": ESPropertyInfoV4(
                {
                    "type": seal_type,
                    "name": name,
                    "cert_list_type": CERT_LIST_CERTS,
                    "cert_list": CertInfoList(certs),
                    "create_date": SesTime(name="general_time", value=made),
                    "valid_start": SesTime(name="general_time", value=start),
                    "valid_end": SesTime(name="general_time", value=end),
                }
            ),
            "picture": ESPictureInfo(
                {
                    "type": picture.type,
                    "data": picture.data,
                    "width": picture.width_mm,
                    "height": picture.height_mm,
                }
            ),
        }
    )
    info_der: bytes = info.dump()
    signature = maker_key.sign(info_der)
    seal = SESealV4(
        {
            "e_seal_info": SealInfoV4.load(info_der),
            "cert": bytes(maker_cert_der),
            "sign_alg_id": OID_SM2_WITH_SM3,
            "signed_value": signature,
        }
    )
    der: bytes = seal.dump()
    return der


def _picture(pic: Any) -> SealPicture:
    return SealPicture(
        type=_str(pic["type"], "picture type"),
        data=_bytes(pic["data"], "picture data"),
        width_mm=_int(pic["width"], "picture width"),
        height_mm=_int(pic["height"], "picture height"),
    )


def _header(info: Any, versions: frozenset[int], layout: str) -> str:
    header = info["header"]
    if _str(header["id"], "SES_Header.id") != "ES":
        raise SealFormatError(f"SES_Header.id is {header['id'].native!r}, not 'ES'")
    version = _int(header["version"], "SES_Header.version")
    if version not in versions:
        raise SealFormatError(
            f"SES_Header.version {version} does not fit the {layout} layout "
            f"(expected {', '.join(map(str, sorted(versions)))})"
        )
    return _str(header["vid"], "SES_Header.vid")


def _parse_v4(der: bytes) -> Seal:
    seal = SESealV4.load(der, strict=True)
    seal.native  # noqa: B018 - parse every field now, so malformed input fails here
    info = seal["e_seal_info"]
    vid = _header(info, frozenset({_V4}), "GB/T 38540 (v4)")
    prop = info["property"]
    list_type = _int(prop["cert_list_type"], "certListType")
    digest_types: tuple[str, ...] = ()
    if list_type == CERT_LIST_CERTS:
        certs = tuple(_bytes(c, "certList entry") for c in prop["cert_list"].parse(CertInfoList))
    elif list_type == CERT_LIST_DIGESTS:
        digests = prop["cert_list"].parse(CertDigestList)
        certs = tuple(_bytes(d["value"], "CertDigestObj.value") for d in digests)
        digest_types = tuple(_str(d["type"], "CertDigestObj.type") for d in digests)
    else:
        raise SealFormatError(f"unknown certListType {list_type} (1 certificates, 2 digests)")
    return Seal(
        version=_V4,
        vid=vid,
        es_id=_str(info["es_id"], "esID"),
        type=_int(prop["type"], "seal type"),
        name=_str(prop["name"], "seal name"),
        cert_list_type=list_type,
        signer_certs=certs,
        created=_read_time(prop["create_date"], "createDate"),
        valid_start=_read_time(prop["valid_start"], "validStart"),
        valid_end=_read_time(prop["valid_end"], "validEnd"),
        picture=_picture(info["picture"]),
        maker_cert=_bytes(seal["cert"], "cert"),
        sign_alg=seal["sign_alg_id"].dotted,
        signature=_bytes(seal["signed_value"], "signedValue"),
        seal_info_der=info.dump(),
        der=der,
        cert_digest_types=digest_types,
    )


def _parse_v1(der: bytes) -> Seal:
    seal = SESealV1.load(der, strict=True)
    seal.native  # noqa: B018 - parse every field now, so malformed input fails here
    info = seal["eseal_info"]
    vid = _header(info, _V1_HEADER_VERSIONS, "GM/T 0031 (v1)")
    prop = info["property"]
    sign_info = seal["sign_info"]
    return Seal(
        version=1,
        vid=vid,
        es_id=_str(info["es_id"], "esID"),
        type=_int(prop["type"], "seal type"),
        name=_str(prop["name"], "seal name"),
        cert_list_type=CERT_LIST_CERTS,
        signer_certs=tuple(_bytes(c, "certList entry") for c in prop["cert_list"]),
        created=_read_time(prop["create_date"], "createDate"),
        valid_start=_read_time(prop["valid_start"], "validStart"),
        valid_end=_read_time(prop["valid_end"], "validEnd"),
        picture=_picture(info["picture"]),
        maker_cert=_bytes(sign_info["cert"], "cert"),
        sign_alg=sign_info["signature_algorithm"].dotted,
        signature=_bytes(sign_info["sign_data"], "signData"),
        seal_info_der=info.dump(),
        der=der,
    )


def parse_seal(der: bytes) -> Seal:
    """Read an electronic seal, ``SESeal``: version 4 (GB/T 38540-2020 §6) or version 1
    (GM/T 0031-2014), told apart by shape (four elements or two).

    Nothing is verified here (see :func:`verify_seal`); the input must be one DER value with no
    trailing bytes.

    :raises SealFormatError: for anything that is not a well-formed seal of either version
        (truncated, random bytes, a header whose id is not "ES" or whose version does not fit
        the layout, an unknown ``certListType``); the message says what is wrong. Hostile input
        raises nothing else.
    """
    count = _shape(der, "SESeal")
    data = bytes(der)
    try:
        if count == 4:
            return _parse_v4(data)
        if count == 2:
            return _parse_v1(data)
    except SealFormatError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError, …
        raise SealFormatError(f"malformed SESeal: {exc}") from exc
    raise SealFormatError(
        f"an SESeal has 4 elements (GB/T 38540 v4) or 2 (GM/T 0031 v1), this one has {count}"
    )


def _seal_problem(
    seal: Seal, trust_roots: Sequence[bytes], at: datetime
) -> tuple[VerdictCode, str] | None:
    if seal.sign_alg != OID_SM2_WITH_SM3:
        return (
            VerdictCode.SIGNATURE_INVALID,
            f"seal {seal.es_id}: unsupported maker signature algorithm {seal.sign_alg}",
        )
    public = _read_public_key(seal.maker_cert)
    if isinstance(public, str):
        return VerdictCode.SIGNATURE_INVALID, f"seal {seal.es_id}: maker certificate is {public}"
    candidates = [seal.signed_der]
    if seal.version != _V4:  # some v1 makers signed SES_SealInfo alone
        candidates.append(seal.seal_info_der)
    if not any(public.verify(seal.signature, m) for m in candidates):
        return (
            VerdictCode.SIGNATURE_INVALID,
            f"seal {seal.es_id}: the maker's signature does not verify (forged or altered seal)",
        )
    why = _chain_problem(seal.maker_cert, trust_roots, at)
    if why is not None:
        return VerdictCode.UNTRUSTED_SIGNER, f"seal {seal.es_id}: maker certificate: {why}"
    if not seal.valid_at(at):
        return (
            VerdictCode.UNTRUSTED_SIGNER,
            f"seal {seal.es_id} ({seal.name}) is not valid at {at.isoformat()}: valid from "
            f"{seal.valid_start.isoformat()} to {seal.valid_end.isoformat()}",
        )
    return None


def verify_seal(seal: Seal, *, trust_roots: Sequence[bytes], at: datetime) -> str | None:
    """Check a seal (GB/T 38540-2020, seal verification): None when sound, else why not.

    In order: the maker's SM2 signature over :attr:`Seal.signed_der` verifies (for v1, a
    signature over ``SES_SealInfo`` alone is accepted too, as some makers did); the maker's
    certificate chains to one of ``trust_roots`` (DER) and is valid at ``at``; ``at`` lies in
    the seal's validity window. Revocation is not checked (no network).

    :param at: the moment of the check, aware (for a signature: its signing time).
    :raises SealingError: if ``at`` is naive.
    :raises MissingDependency: without the ``gm`` extra.
    """
    problem = _seal_problem(seal, trust_roots, _aware(at, "at"))
    return None if problem is None else problem[1]


# -- signing and reading signatures --------------------------------------------------------


def sign_data(
    *,
    seal_der: bytes,
    signer_key: SM2PrivateKey,
    signer_cert_der: bytes,
    data_hash: bytes,
    property_info: str,
    time: datetime,
) -> bytes:
    """Seal data (签章): a version 4 ``SES_Signature`` (GB/T 38540-2020) over ``data_hash``.

    Builds ``TBS_Sign`` (version 4, the seal exactly as given, ``time`` as GeneralizedTime in
    UTC to the second, ``data_hash``, ``property_info``) and signs its DER with the signer's key
    (SM2/SM3, default ID).

    :param seal_der: a DER v4 ``SESeal``.
    :param signer_key: the signer's SM2 key; must match ``signer_cert_der``.
    :param signer_cert_der: the signer's DER certificate; must be in the seal's list.
    :param data_hash: the document's hash (for OFD: SM3 of ``Signature.xml``), non-empty.
    :param property_info: ASCII, e.g. ``/Doc_0/Signs/Sign_0/Signature.xml`` or a document URI.
    :param time: the signing time, aware; must lie in the seal's validity window.
    :returns: the DER ``SES_Signature``.
    :raises SealFormatError: if ``seal_der`` is not a seal.
    :raises SealingError: if the seal is v1, ``time`` is outside its validity window (rule
        article 9: renew seals in time), the signer certificate is not in its list, the key does
        not match the certificate, or an argument is unusable.
    :raises MissingDependency: without the ``gm`` extra.
    """
    seal = parse_seal(seal_der)
    if seal.version != _V4:
        raise SealingError(
            f"seal {seal.es_id} is a GM/T 0031 (v1) seal; GB/T 38540 signatures need a v4 seal"
        )
    at = _aware(time, "time")
    if not seal.valid_at(at):
        raise SealingError(
            f"seal {seal.es_id} ({seal.name}) is not valid at {at.isoformat()}: valid from "
            f"{seal.valid_start.isoformat()} to {seal.valid_end.isoformat()}"
        )
    if not seal.lists_signer(signer_cert_der):
        raise SealingError(
            f"the signer certificate is not in the certificate list of seal {seal.es_id}"
        )
    signer_public = _read_public_key(signer_cert_der)
    if isinstance(signer_public, str):
        raise SealingError(f"signer certificate: {signer_public}")
    if signer_key.public_key != signer_public:
        raise SealingError("the signer's key does not match the signer's certificate")
    _ascii(property_info, "property_info")
    if not isinstance(data_hash, bytes) or not data_hash:
        raise SealingError("data_hash must be non-empty bytes")

    tbs = TBSSignV4(
        {
            "version": _V4,
            "eseal": SESealV4.load(seal.der),
            "time_info": SesTime(name="general_time", value=at),
            "data_hash": data_hash,
            "property_info": property_info,
        }
    )
    tbs_der: bytes = tbs.dump()
    signature = signer_key.sign(tbs_der)
    out = SESSignatureV4(
        {
            "to_sign": TBSSignV4.load(tbs_der),
            "cert": bytes(signer_cert_der),
            "signature_alg_id": OID_SM2_WITH_SM3,
            "signature": signature,
        }
    )
    der: bytes = out.dump()
    return der


_V1_TIME_FORMATS = ("%Y%m%d%H%M%SZ", "%y%m%d%H%M%SZ", "%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S")


def _v1_time(raw: bytes) -> datetime:
    """A v1 ``timeInfo`` BIT STRING: a DER UTCTime/GeneralizedTime, or the time as ASCII text."""
    if raw[:1] in (b"\x17", b"\x18"):
        try:
            return _read_time(SesTime.load(raw, strict=True), "timeInfo")
        except (ValueError, TypeError):
            pass
    text = raw.decode("ascii", "replace").strip()
    for fmt in _V1_TIME_FORMATS:
        try:
            value = datetime.strptime(text, fmt)
        except ValueError:
            continue
        zone = UTC if fmt.endswith("Z") else CHINA_TZ
        return value.replace(tzinfo=zone).astimezone(UTC)
    raise SealFormatError(f"unreadable v1 timeInfo {text[:40]!r}")


def _parse_signature_v4(der: bytes) -> SesSignature:
    sig = SESSignatureV4.load(der, strict=True)
    sig.native  # noqa: B018 - parse every field now, so malformed input fails here
    tbs = sig["to_sign"]
    version = _int(tbs["version"], "TBS_Sign.version")
    if version != _V4:
        raise SealFormatError(f"TBS_Sign.version {version} in a GB/T 38540 (v4) SES_Signature")
    seal = _parse_v4(tbs["eseal"].dump())
    stamp = sig["time_stamp"] if sig["time_stamp"].native is not None else None
    if stamp is None and sig["time_stamp_untagged"].native is not None:
        stamp = sig["time_stamp_untagged"]
    return SesSignature(
        version=_V4,
        seal=seal,
        time=_read_time(tbs["time_info"], "timeInfo"),
        data_hash=_bytes(tbs["data_hash"], "dataHash"),
        property_info=_str(tbs["property_info"], "propertyInfo"),
        signer_cert=_bytes(sig["cert"], "cert"),
        sign_alg=sig["signature_alg_id"].dotted,
        signature=_bytes(sig["signature"], "signature"),
        tbs_der=tbs.dump(),
        timestamp=None if stamp is None else _bytes(stamp, "timeStamp"),
        der=der,
    )


def _parse_signature_v1(der: bytes) -> SesSignature:
    sig = SESSignatureV1.load(der, strict=True)
    sig.native  # noqa: B018 - parse every field now, so malformed input fails here
    tbs = sig["to_sign"]
    _int(tbs["version"], "TBS_Sign.version")
    seal = _parse_v1(tbs["eseal"].dump())
    return SesSignature(
        version=1,
        seal=seal,
        time=_v1_time(_bytes(tbs["time_info"], "timeInfo")),
        data_hash=_bytes(tbs["data_hash"], "dataHash"),
        property_info=_str(tbs["property_info"], "propertyInfo"),
        signer_cert=_bytes(tbs["cert"], "cert"),
        sign_alg=tbs["signature_algorithm"].dotted,
        signature=_bytes(sig["signature"], "signature"),
        tbs_der=tbs.dump(),
        timestamp=None,
        der=der,
    )


def parse_signature(der: bytes) -> SesSignature:
    """Read an electronic seal signature, ``SES_Signature``: version 4 (GB/T 38540-2020,
    four or five elements) or version 1 (GM/T 0031-2014, two elements).

    Nothing is verified here (see :func:`verify_signature`).

    :raises SealFormatError: for anything that is not a well-formed signature of either version
        (including an embedded seal that is not); hostile input raises nothing else.
    """
    count = _shape(der, "SES_Signature")
    data = bytes(der)
    try:
        if count in (4, 5):
            return _parse_signature_v4(data)
        if count == 2:
            return _parse_signature_v1(data)
    except SealFormatError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError, …
        raise SealFormatError(f"malformed SES_Signature: {exc}") from exc
    raise SealFormatError(
        "an SES_Signature has 4 or 5 elements (GB/T 38540 v4) or 2 (GM/T 0031 v1), "
        f"this one has {count}"
    )


def verify_signature(
    sig: SesSignature, *, data_hash: bytes, trust_roots: Sequence[bytes]
) -> tuple[VerdictCode, str]:
    """Verify a seal signature (GB/T 38540-2020, seal-signature verification) against the document's hash.

    Checks in order; the first failing one decides:

    1. ``DIGEST_MISMATCH`` — ``data_hash`` differs from the signed ``dataHash``: the document
       was changed.
    2. ``SIGNATURE_INVALID`` — the signer's SM2 signature over :attr:`SesSignature.tbs_der` does
       not verify, the algorithm is not SM2/SM3, the signer certificate holds no SM2 key, or the
       seal maker's signature on the embedded seal does not verify (a forged seal).
    3. ``UNTRUSTED_SIGNER`` — the seal maker's certificate does not chain to ``trust_roots`` or
       is not valid at the signing time; the seal is not valid at the signing time; the signer
       certificate is not in the seal's list, does not chain, or is not valid at the signing
       time.
    4. ``VALID``.

    The signing time is :attr:`SesSignature.time`, as the signer claims it (a ``timeStamp``, if
    present, is not evaluated). Revocation is not checked.

    :returns: the code and one sentence explaining it.
    :raises MissingDependency: without the ``gm`` extra.
    """
    if not hmac.compare_digest(sig.data_hash, bytes(data_hash)):
        return (
            VerdictCode.DIGEST_MISMATCH,
            "the document's hash differs from the signed dataHash: the document was changed",
        )
    if sig.sign_alg != OID_SM2_WITH_SM3:
        return VerdictCode.SIGNATURE_INVALID, f"unsupported signature algorithm {sig.sign_alg}"
    public = _read_public_key(sig.signer_cert)
    if isinstance(public, str):
        return VerdictCode.SIGNATURE_INVALID, f"the signer certificate is {public}"
    if not public.verify(sig.signature, sig.tbs_der):
        return VerdictCode.SIGNATURE_INVALID, "the signer's SM2 signature over TBS_Sign fails"
    problem = _seal_problem(sig.seal, trust_roots, sig.time)
    if problem is not None:
        return problem
    if not sig.seal.lists_signer(sig.signer_cert):
        return (
            VerdictCode.UNTRUSTED_SIGNER,
            f"the signer certificate is not in the certificate list of seal {sig.seal.es_id}",
        )
    why = _chain_problem(sig.signer_cert, trust_roots, sig.time)
    if why is not None:
        return VerdictCode.UNTRUSTED_SIGNER, f"signer certificate: {why}"
    return (
        VerdictCode.VALID,
        f"sealed with seal {sig.seal.es_id} ({sig.seal.name}) at {sig.time.isoformat()}",
    )
