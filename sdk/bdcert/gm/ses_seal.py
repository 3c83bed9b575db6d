"""Electronic seals (电子印章, ``SESeal``): GB/T 38540-2020 §6 (version 4) and GM/T 0031-2014
(version 1).

The seal maker (制章者) signs a seal that binds a seal picture and properties to the
certificates of the people or systems allowed to use it (签章者). :func:`make_seal` writes
version 4; :func:`parse_seal` reads version 4 and version 1, telling them apart by their shape
(a v4 ``SESeal`` has four elements, a v1 one two); :func:`verify_seal` checks a seal.

What is signed: a v4 seal's ``signedValue`` covers DER(``SES_SealInfo``); a v1 seal's
``signData`` covers DER(``SEQUENCE { SES_SealInfo, cert, signatureAlgorithm }``) (GM/T
0031-2014, ``SES_SignInfo``).

:mod:`bdcert.gm.ses` re-exports these names and describes the encoding rules.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from bdcert.errors import SealingError
from bdcert.gm.ses_asn1 import (
    CertDigestList,
    CertInfoList,
    ESPictureInfo,
    ESPropertyInfoV4,
    SealInfoV1,
    SealInfoV4,
    SealSignRangeV1,
    SESealV1,
    SESealV4,
    SESHeader,
    SesTime,
)
from bdcert.gm.ses_common import (
    V1_HEADER_VERSIONS,
    V4,
    SealFormatError,
    ascii_text,
    aware,
    chain_problem,
    read_bytes,
    read_int,
    read_public_key,
    read_str,
    read_time,
    shape,
)
from bdcert.gm.sm2 import OID_SM2_WITH_SM3, sm3
from bdcert.model import VerdictCode

if TYPE_CHECKING:
    from bdcert.gm.sm2 import SM2PrivateKey

__all__ = [
    "CERT_LIST_CERTS",
    "CERT_LIST_DIGESTS",
    "SEAL_TYPE_ORGANIZATION",
    "SEAL_TYPE_PERSONAL",
    "Seal",
    "SealPicture",
    "make_seal",
    "parse_seal",
    "parse_seal_v1",
    "parse_seal_v4",
    "seal_problem",
    "verify_seal",
]

#: ``certListType`` 1: the seal lists signer certificates (GB/T 38540-2020 §6).
CERT_LIST_CERTS = 1
#: ``certListType`` 2: the seal lists digests of signer certificates.
CERT_LIST_DIGESTS = 2
#: Seal ``type`` 1: an organisation's seal (单位印章).
SEAL_TYPE_ORGANIZATION = 1
#: Seal ``type`` 2: a personal seal (个人印章).
SEAL_TYPE_PERSONAL = 2

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
        if self.version == V4:
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
    start = aware(valid_start, "valid_start")
    end = aware(valid_end, "valid_end")
    made = aware(created if created is not None else datetime.now(UTC), "created")
    if end <= start:
        raise SealingError(f"seal validity ends ({end}) before it starts ({start})")
    ascii_text(es_id, "es_id")
    ascii_text(vid, "vid")
    ascii_text(picture.type, "picture type")
    if not es_id:
        raise SealingError("es_id must not be empty")
    if not isinstance(name, str) or not name:
        raise SealingError("the seal needs a name")
    certs = [bytes(c) for c in signer_certs]
    if not certs:
        raise SealingError("a seal lists at least one signer certificate")
    if picture.width_mm <= 0 or picture.height_mm <= 0:
        raise SealingError("picture width and height are positive millimetres")
    maker_public = read_public_key(maker_cert_der)
    if isinstance(maker_public, str):
        raise SealingError(f"seal maker certificate: {maker_public}")
    if maker_key.public_key != maker_public:
        raise SealingError("the seal maker's key does not match the seal maker's certificate")

    info = SealInfoV4(
        {
            "header": SESHeader({"id": "ES", "version": V4, "vid": vid}),
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
        type=read_str(pic["type"], "picture type"),
        data=read_bytes(pic["data"], "picture data"),
        width_mm=read_int(pic["width"], "picture width"),
        height_mm=read_int(pic["height"], "picture height"),
    )


def _header(info: Any, versions: frozenset[int], layout: str) -> str:
    header = info["header"]
    if read_str(header["id"], "SES_Header.id") != "ES":
        raise SealFormatError(f"SES_Header.id is {header['id'].native!r}, not 'ES'")
    version = read_int(header["version"], "SES_Header.version")
    if version not in versions:
        raise SealFormatError(
            f"SES_Header.version {version} does not fit the {layout} layout "
            f"(expected {', '.join(map(str, sorted(versions)))})"
        )
    return read_str(header["vid"], "SES_Header.vid")


def parse_seal_v4(der: bytes) -> Seal:
    """Read a version 4 ``SESeal`` (GB/T 38540-2020 §6); :func:`parse_seal` wraps its errors."""
    seal = SESealV4.load(der, strict=True)
    seal.native  # noqa: B018 - parse every field now, so malformed input fails here
    info = seal["e_seal_info"]
    vid = _header(info, frozenset({V4}), "GB/T 38540 (v4)")
    prop = info["property"]
    list_type = read_int(prop["cert_list_type"], "certListType")
    digest_types: tuple[str, ...] = ()
    if list_type == CERT_LIST_CERTS:
        certs = tuple(
            read_bytes(c, "certList entry") for c in prop["cert_list"].parse(CertInfoList)
        )
    elif list_type == CERT_LIST_DIGESTS:
        digests = prop["cert_list"].parse(CertDigestList)
        certs = tuple(read_bytes(d["value"], "CertDigestObj.value") for d in digests)
        digest_types = tuple(read_str(d["type"], "CertDigestObj.type") for d in digests)
    else:
        raise SealFormatError(f"unknown certListType {list_type} (1 certificates, 2 digests)")
    return Seal(
        version=V4,
        vid=vid,
        es_id=read_str(info["es_id"], "esID"),
        type=read_int(prop["type"], "seal type"),
        name=read_str(prop["name"], "seal name"),
        cert_list_type=list_type,
        signer_certs=certs,
        created=read_time(prop["create_date"], "createDate"),
        valid_start=read_time(prop["valid_start"], "validStart"),
        valid_end=read_time(prop["valid_end"], "validEnd"),
        picture=_picture(info["picture"]),
        maker_cert=read_bytes(seal["cert"], "cert"),
        sign_alg=seal["sign_alg_id"].dotted,
        signature=read_bytes(seal["signed_value"], "signedValue"),
        seal_info_der=info.dump(),
        der=der,
        cert_digest_types=digest_types,
    )


def parse_seal_v1(der: bytes) -> Seal:
    """Read a version 1 ``SESeal`` (GM/T 0031-2014); :func:`parse_seal` wraps its errors."""
    seal = SESealV1.load(der, strict=True)
    seal.native  # noqa: B018 - parse every field now, so malformed input fails here
    info = seal["eseal_info"]
    vid = _header(info, V1_HEADER_VERSIONS, "GM/T 0031 (v1)")
    prop = info["property"]
    sign_info = seal["sign_info"]
    return Seal(
        version=1,
        vid=vid,
        es_id=read_str(info["es_id"], "esID"),
        type=read_int(prop["type"], "seal type"),
        name=read_str(prop["name"], "seal name"),
        cert_list_type=CERT_LIST_CERTS,
        signer_certs=tuple(read_bytes(c, "certList entry") for c in prop["cert_list"]),
        created=read_time(prop["create_date"], "createDate"),
        valid_start=read_time(prop["valid_start"], "validStart"),
        valid_end=read_time(prop["valid_end"], "validEnd"),
        picture=_picture(info["picture"]),
        maker_cert=read_bytes(sign_info["cert"], "cert"),
        sign_alg=sign_info["signature_algorithm"].dotted,
        signature=read_bytes(sign_info["sign_data"], "signData"),
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
    count = shape(der, "SESeal")
    data = bytes(der)
    try:
        if count == 4:
            return parse_seal_v4(data)
        if count == 2:
            return parse_seal_v1(data)
    except SealFormatError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError, …
        raise SealFormatError(f"malformed SESeal: {exc}") from exc
    raise SealFormatError(
        f"an SESeal has 4 elements (GB/T 38540 v4) or 2 (GM/T 0031 v1), this one has {count}"
    )


def seal_problem(
    seal: Seal, trust_roots: Sequence[bytes], at: datetime
) -> tuple[VerdictCode, str] | None:
    """The checks of :func:`verify_seal` at ``at`` (aware): None, or the verdict code and why."""
    if seal.sign_alg != OID_SM2_WITH_SM3:
        return (
            VerdictCode.SIGNATURE_INVALID,
            f"seal {seal.es_id}: unsupported maker signature algorithm {seal.sign_alg}",
        )
    public = read_public_key(seal.maker_cert)
    if isinstance(public, str):
        return VerdictCode.SIGNATURE_INVALID, f"seal {seal.es_id}: maker certificate is {public}"
    candidates = [seal.signed_der]
    if seal.version != V4:  # some v1 makers signed SES_SealInfo alone
        candidates.append(seal.seal_info_der)
    if not any(public.verify(seal.signature, m) for m in candidates):
        return (
            VerdictCode.SIGNATURE_INVALID,
            f"seal {seal.es_id}: the maker's signature does not verify (forged or altered seal)",
        )
    why = chain_problem(seal.maker_cert, trust_roots, at)
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
    problem = seal_problem(seal, trust_roots, aware(at, "at"))
    return None if problem is None else problem[1]
