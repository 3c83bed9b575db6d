"""Electronic seal signatures (电子签章, ``SES_Signature``): GB/T 38540-2020 (version 4) and
GM/T 0031-2014 (version 1).

A signer seals a document: it signs ``TBS_Sign`` — the whole seal, the signing time, the
document's hash and a property string. :func:`sign_data` writes version 4; :func:`parse_signature`
reads version 4 and version 1; :func:`verify_signature` checks a signature against the
document's hash. A signature of either version covers DER(``TBS_Sign``).

:mod:`bdcert.gm.ses` re-exports these names and describes the encoding rules.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from bdcert.errors import SealingError
from bdcert.gm.ses_asn1 import SESealV4, SESSignatureV1, SESSignatureV4, SesTime, TBSSignV4
from bdcert.gm.ses_common import (
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
from bdcert.gm.ses_seal import Seal, parse_seal, parse_seal_v1, parse_seal_v4, seal_problem
from bdcert.gm.sm2 import OID_SM2_WITH_SM3
from bdcert.model import CHINA_TZ, VerdictCode

if TYPE_CHECKING:
    from bdcert.gm.sm2 import SM2PrivateKey
    from bdcert.gm.sm2_tsp import Sm2TimeStamper

__all__ = ["TIMESTAMP_SKEW", "SesSignature", "parse_signature", "sign_data", "verify_signature"]

#: How far the claimed signing time (``timeInfo``) may lie after the time-stamp's ``genTime``
#: (the two clocks differ); a later claim is refused.
TIMESTAMP_SKEW = timedelta(minutes=5)


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


# -- signing and reading signatures --------------------------------------------------------


def sign_data(
    *,
    seal_der: bytes,
    signer_key: SM2PrivateKey,
    signer_cert_der: bytes,
    data_hash: bytes,
    property_info: str,
    time: datetime,
    timestamper: Sm2TimeStamper | None = None,
) -> bytes:
    """Seal data (签章): a version 4 ``SES_Signature`` (GB/T 38540-2020) over ``data_hash``.

    Builds ``TBS_Sign`` (version 4, the seal exactly as given, ``time`` as GeneralizedTime in
    UTC to the second, ``data_hash``, ``property_info``) and signs its DER with the signer's key
    (SM2/SM3, default ID). With a ``timestamper``, the ``timeStamp`` field (``[0] EXPLICIT BIT
    STRING``) holds a time-stamp token (RFC 3161, :mod:`bdcert.gm.sm2_tsp`) over the signature
    value: the DER ``SEQUENCE { r, s }`` inside ``signature``.

    :param seal_der: a DER v4 ``SESeal``.
    :param signer_key: the signer's SM2 key; must match ``signer_cert_der``.
    :param signer_cert_der: the signer's DER certificate; must be in the seal's list.
    :param data_hash: the document's hash (for OFD: SM3 of ``Signature.xml``), non-empty.
    :param property_info: ASCII, e.g. ``/Doc_0/Signs/Sign_0/Signature.xml`` or a document URI.
    :param time: the signing time, aware; must lie in the seal's validity window.
    :param timestamper: an SM2 time-stamp authority (:class:`bdcert.gm.sm2_tsp.Sm2TimeStamper`),
        or None for no ``timeStamp`` (the signature then verifies only while its certificates
        are valid).
    :returns: the DER ``SES_Signature``.
    :raises SealFormatError: if ``seal_der`` is not a seal.
    :raises SealingError: if the seal is v1, ``time`` is outside its validity window (rule
        article 9: renew seals in time), the signer certificate is not in its list, the key does
        not match the certificate, or an argument is unusable.
    :raises MissingDependency: without the ``gm`` extra.
    """
    seal = parse_seal(seal_der)
    if seal.version != V4:
        raise SealingError(
            f"seal {seal.es_id} is a GM/T 0031 (v1) seal; GB/T 38540 signatures need a v4 seal"
        )
    at = aware(time, "time")
    if not seal.valid_at(at):
        raise SealingError(
            f"seal {seal.es_id} ({seal.name}) is not valid at {at.isoformat()}: valid from "
            f"{seal.valid_start.isoformat()} to {seal.valid_end.isoformat()}"
        )
    if not seal.lists_signer(signer_cert_der):
        raise SealingError(
            f"the signer certificate is not in the certificate list of seal {seal.es_id}"
        )
    signer_public = read_public_key(signer_cert_der)
    if isinstance(signer_public, str):
        raise SealingError(f"signer certificate: {signer_public}")
    if signer_key.public_key != signer_public:
        raise SealingError("the signer's key does not match the signer's certificate")
    ascii_text(property_info, "property_info")
    if not isinstance(data_hash, bytes) or not data_hash:
        raise SealingError("data_hash must be non-empty bytes")

    tbs = TBSSignV4(
        {
            "version": V4,
            "eseal": SESealV4.load(seal.der),
            "time_info": SesTime(name="general_time", value=at),
            "data_hash": data_hash,
            "property_info": property_info,
        }
    )
    tbs_der: bytes = tbs.dump()
    signature = signer_key.sign(tbs_der)
    fields: dict[str, Any] = {
        "to_sign": TBSSignV4.load(tbs_der),
        "cert": bytes(signer_cert_der),
        "signature_alg_id": OID_SM2_WITH_SM3,
        "signature": signature,
    }
    if timestamper is not None:
        try:
            fields["time_stamp"] = bytes(timestamper.stamp(signature))
        except Exception as exc:  # a remote or misconfigured authority fails in many ways
            raise SealingError(f"the time-stamp authority failed: {exc}") from exc
    out = SESSignatureV4(fields)
    der: bytes = out.dump()
    return der


_V1_TIME_FORMATS = ("%Y%m%d%H%M%SZ", "%y%m%d%H%M%SZ", "%Y%m%d%H%M%S", "%Y-%m-%d %H:%M:%S")


def _v1_time(raw: bytes) -> datetime:
    """A v1 ``timeInfo`` BIT STRING: a DER UTCTime/GeneralizedTime, or the time as ASCII text."""
    if raw[:1] in (b"\x17", b"\x18"):
        try:
            return read_time(SesTime.load(raw, strict=True), "timeInfo")
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
    version = read_int(tbs["version"], "TBS_Sign.version")
    if version != V4:
        raise SealFormatError(f"TBS_Sign.version {version} in a GB/T 38540 (v4) SES_Signature")
    seal = parse_seal_v4(tbs["eseal"].dump())
    stamp = sig["time_stamp"] if sig["time_stamp"].native is not None else None
    if stamp is None and sig["time_stamp_untagged"].native is not None:
        stamp = sig["time_stamp_untagged"]
    return SesSignature(
        version=V4,
        seal=seal,
        time=read_time(tbs["time_info"], "timeInfo"),
        data_hash=read_bytes(tbs["data_hash"], "dataHash"),
        property_info=read_str(tbs["property_info"], "propertyInfo"),
        signer_cert=read_bytes(sig["cert"], "cert"),
        sign_alg=sig["signature_alg_id"].dotted,
        signature=read_bytes(sig["signature"], "signature"),
        tbs_der=tbs.dump(),
        timestamp=None if stamp is None else read_bytes(stamp, "timeStamp"),
        der=der,
    )


def _parse_signature_v1(der: bytes) -> SesSignature:
    sig = SESSignatureV1.load(der, strict=True)
    sig.native  # noqa: B018 - parse every field now, so malformed input fails here
    tbs = sig["to_sign"]
    read_int(tbs["version"], "TBS_Sign.version")
    seal = parse_seal_v1(tbs["eseal"].dump())
    return SesSignature(
        version=1,
        seal=seal,
        time=_v1_time(read_bytes(tbs["time_info"], "timeInfo")),
        data_hash=read_bytes(tbs["data_hash"], "dataHash"),
        property_info=read_str(tbs["property_info"], "propertyInfo"),
        signer_cert=read_bytes(tbs["cert"], "cert"),
        sign_alg=tbs["signature_algorithm"].dotted,
        signature=read_bytes(sig["signature"], "signature"),
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
    count = shape(der, "SES_Signature")
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
    sig: SesSignature,
    *,
    data_hash: bytes,
    trust_roots: Sequence[bytes],
    at: datetime | None = None,
) -> tuple[VerdictCode, str]:
    """Verify a seal signature (GB/T 38540-2020, seal-signature verification) against the document's hash.

    Checks in order; the first failing one decides:

    1. ``DIGEST_MISMATCH`` — ``data_hash`` differs from the signed ``dataHash``: the document
       was changed.
    2. ``SIGNATURE_INVALID`` — the signer's SM2 signature over :attr:`SesSignature.tbs_der` does
       not verify (strict DER only), the algorithm is not SM2/SM3, the signer certificate holds
       no SM2 key, the ``timeStamp`` is present but does not verify over the signature value
       (:func:`bdcert.gm.sm2_tsp.check_timestamp`) or is more than :data:`TIMESTAMP_SKEW`
       earlier than the claimed signing time, or the seal maker's signature on the embedded
       seal does not verify (a forged seal).
    3. ``UNTRUSTED_SIGNER`` — the seal is not valid at the claimed signing time, the signer
       certificate is not in the seal's list, or the maker's or the signer's certificate does not
       chain to ``trust_roots`` at the claimed signing time or at the reference time: the
       time-stamp's ``genTime`` when the signature carries a verified time-stamp, else ``at``
       (so once a certificate has expired, only a time-stamped seal signature stays valid); or
       the time-stamp does not hold at ``at`` (``at`` is before it, or its authority's chain is
       not valid then: :func:`bdcert.gm.sm2_tsp.stamp_problem_at`).
    4. ``VALID``.

    Revocation is not checked.

    :param at: the validation time, aware; None is now.
    :returns: the code and one sentence explaining it.
    :raises SealingError: if ``at`` is naive.
    :raises MissingDependency: without the ``gm`` extra.
    """
    from bdcert.gm.sm2_tsp import check_timestamp, stamp_problem_at

    validation_time = datetime.now(UTC) if at is None else aware(at, "at")
    if not hmac.compare_digest(sig.data_hash, bytes(data_hash)):
        return (
            VerdictCode.DIGEST_MISMATCH,
            "the document's hash differs from the signed dataHash: the document was changed",
        )
    if sig.sign_alg != OID_SM2_WITH_SM3:
        return VerdictCode.SIGNATURE_INVALID, f"unsupported signature algorithm {sig.sign_alg}"
    public = read_public_key(sig.signer_cert)
    if isinstance(public, str):
        return VerdictCode.SIGNATURE_INVALID, f"the signer certificate is {public}"
    if not public.verify(sig.signature, sig.tbs_der):
        return VerdictCode.SIGNATURE_INVALID, "the signer's SM2 signature over TBS_Sign fails"
    stamped: datetime | None = None
    if sig.timestamp is not None:
        stamp = check_timestamp(sig.timestamp, sig.signature, trust_roots=trust_roots)
        if isinstance(stamp, str):
            return VerdictCode.SIGNATURE_INVALID, f"timeStamp: {stamp}"
        if sig.time > stamp.time + TIMESTAMP_SKEW:
            return (
                VerdictCode.SIGNATURE_INVALID,
                f"the claimed signing time {sig.time.isoformat()} is after the time-stamp "
                f"{stamp.time.isoformat()}",
            )
        stale = stamp_problem_at(stamp, trust_roots, validation_time, skew=TIMESTAMP_SKEW)
        if stale is not None:
            return VerdictCode.UNTRUSTED_SIGNER, f"timeStamp: {stale}"
        stamped = stamp.time
    problem = seal_problem(sig.seal, trust_roots, sig.time)
    if problem is not None:
        return problem
    if not sig.seal.lists_signer(sig.signer_cert):
        return (
            VerdictCode.UNTRUSTED_SIGNER,
            f"the signer certificate is not in the certificate list of seal {sig.seal.es_id}",
        )
    why = chain_problem(sig.signer_cert, trust_roots, sig.time)
    if why is not None:
        return VerdictCode.UNTRUSTED_SIGNER, f"signer certificate: {why}"
    reference = stamped or validation_time
    for what, cert in (("seal maker", sig.seal.maker_cert), ("signer", sig.signer_cert)):
        why = chain_problem(cert, trust_roots, reference)
        if why is not None:
            when = "at its time-stamp" if stamped else "at the validation time, without a timeStamp"
            return (
                VerdictCode.UNTRUSTED_SIGNER,
                f"{what} certificate {when} ({reference.isoformat()}): {why}",
            )
    stamp_note = f", time-stamped at {stamped.isoformat()}" if stamped else ""
    return (
        VerdictCode.VALID,
        f"sealed with seal {sig.seal.es_id} ({sig.seal.name}) at {sig.time.isoformat()}"
        f"{stamp_note}",
    )
