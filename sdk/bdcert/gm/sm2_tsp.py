"""SM2 time-stamp tokens (RFC 3161 / GB/T 20520-2006 with SM3 and SM2): make them and check them.

A time-stamp token proves that a value existed at the authority's time (``genTime``): GB/T
38540 seal signatures carry one over their signature value (``SES_Signature.timeStamp``), a PDF
CMS as the unsigned attribute id-aa-timeStampToken (RFC 3161 Appendix A). Verifiers then judge
the signer's certificates at the token's time, so a seal stays verifiable after its certificate
expires (long-term validation).

The token is RFC 3161 §2.4.2's: a ``ContentInfo`` (``signedData``, the PKCS #7 OID that RFC 3161
and time-stamp readers expect; :func:`check_timestamp` also takes the GB/T 35275 one) whose
``SignedData`` encapsulates a DER ``TSTInfo`` (version 1, a policy, ``messageImprint`` = SM3 of
the stamped value, a serial number, ``genTime`` in whole seconds, UTC), signed by the authority
(SM3, sm2sign-with-sm3, default ID) with the signed attributes contentType (id-ct-TSTInfo),
messageDigest and signingCertificateV2 (RFC 5816: SM3 of the authority's certificate), and the
authority's certificate chain.

:class:`Sm2TimeStampAuthority` is an in-process authority (for the demo PKI, tests and offline
deployments with their own TSA key); a production deployment asks its national TSA through the
same :class:`Sm2TimeStamper` protocol.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs
from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509

from bdcert.gm.sm2 import OID_SM2_WITH_SM3, OID_SM3, OID_SM3_ALT, SM2PrivateKey, sm3
from bdcert.gm.sm2_cms import (
    OID_PKCS7_SIGNED_DATA,
    attribute_values,
    load_signed_data,
    signer_info_problem,
)
from bdcert.gm.x509 import sm2_public_key_of, verify_sm2_chain

__all__ = [
    "DEMO_TSA_POLICY",
    "OID_TIME_STAMPING",
    "OID_TST_INFO",
    "Sm2TimeStampAuthority",
    "Sm2TimeStamper",
    "TimeStamp",
    "check_timestamp",
]

#: id-ct-TSTInfo (RFC 3161 §2.4.2).
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
#: id-kp-timeStamping (RFC 3161 §2.3): the authority's certificate must carry it, critical.
OID_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
#: The demo authority's policy: a UUID OID (ITU-T X.667, ``2.25``), registered by nobody else.
DEMO_TSA_POLICY = "2.25.262515185964357432463573437385203413537"
_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"


@runtime_checkable
class Sm2TimeStamper(Protocol):
    """What stamps a value: returns a DER time-stamp token (RFC 3161 ``TimeStampToken``) whose
    ``messageImprint`` is SM3 of ``value``."""

    def stamp(self, value: bytes) -> bytes: ...


@attrs.define(frozen=True)
class TimeStamp:
    """A time-stamp token that :func:`check_timestamp` verified.

    :ivar time: ``genTime``, aware, UTC.
    :ivar serial: the token's serial number.
    :ivar policy: the authority's policy OID.
    :ivar authority: the authority's certificate subject, human-readable.
    :ivar authority_cert: the authority's DER certificate.
    :ivar intermediates: the other DER certificates the token carries (unsigned: for building
        the chain, not part of the stamp's identity).
    """

    time: datetime
    serial: int
    policy: str
    authority: str
    authority_cert: bytes = attrs.field(repr=False)
    intermediates: tuple[bytes, ...] = attrs.field(default=(), repr=False, eq=False)


_SM3_ALGORITHM_DER: bytes = algos.DigestAlgorithm({"algorithm": OID_SM3}).dump()


def _sm3_algorithm() -> algos.DigestAlgorithm:
    """The SM3 AlgorithmIdentifier, loaded from its DER (not re-encoded in every token)."""
    return algos.DigestAlgorithm.load(_SM3_ALGORITHM_DER)


class Sm2TimeStampAuthority:
    """An in-process SM2 time-stamp authority (RFC 3161 tokens, SM3/SM2, no network).

    :param key: the authority's SM2 key; must match ``cert_der``.
    :param cert_der: its certificate, with extendedKeyUsage id-kp-timeStamping (critical).
    :param chain_der: the certificates up to the root, embedded in every token.
    :param policy: the TSA policy OID written in ``TSTInfo.policy``.
    :param clock: returns the current time (aware); the default is the system clock.
    :raises ValueError: the key does not belong to the certificate, or it is not a TSA
        certificate.
    """

    def __init__(
        self,
        key: SM2PrivateKey,
        cert_der: bytes,
        chain_der: Sequence[bytes] = (),
        *,
        policy: str = DEMO_TSA_POLICY,
        clock: Any = None,
    ) -> None:
        if key.public_key != sm2_public_key_of(bytes(cert_der)):
            raise ValueError("the time-stamp key does not belong to the authority's certificate")
        cert = asn1_x509.Certificate.load(bytes(cert_der), strict=True)
        why = _tsa_certificate_problem(cert)
        if why is not None:
            raise ValueError(why)
        self._key = key
        self._cert = cert
        self._chain = tuple(asn1_x509.Certificate.load(bytes(c), strict=True) for c in chain_der)
        self._certificates_der: bytes = cms.CertificateSet(
            [
                cms.CertificateChoices(name="certificate", value=c)
                for c in (cert, *(c for c in self._chain if c.dump() != cert.dump()))
            ]
        ).dump()
        self._sid_der: bytes = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value=cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number}
            ),
        ).dump()
        # signingCertificateV2 (RFC 5816) is the same in every token: encoded once (asn1crypto
        # re-encodes a constructed ESSCertIDv2 hundreds of times while sorting the SET OF)
        self._signing_certificate_der: bytes = cms.CMSAttribute(
            {
                "type": _SIGNING_CERTIFICATE_V2,
                "values": [
                    {"certs": [{"hash_algorithm": _sm3_algorithm(), "cert_hash": sm3(cert.dump())}]}
                ],
            }
        ).dump()
        self._policy = policy
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._last_serial = 0

    def _serial(self) -> int:
        # random 64 bits, made unique within the process (RFC 3161 §2.4.2: unique per TSA)
        with self._lock:
            serial = secrets.randbits(63) | 1 << 63
            while serial == self._last_serial:
                serial = secrets.randbits(63) | 1 << 63
            self._last_serial = serial
            return serial

    def stamp(self, value: bytes) -> bytes:
        """A DER time-stamp token over SM3(``value``), at the authority's current time."""
        return self.stamp_digest(sm3(bytes(value)))

    def stamp_digest(self, digest: bytes) -> bytes:
        """A DER time-stamp token whose ``messageImprint`` is the SM3 digest ``digest``.

        :raises ValueError: ``digest`` is not 32 bytes.
        """
        if len(digest) != 32:
            raise ValueError("an SM3 message imprint is 32 bytes")
        now = self._clock().astimezone(UTC).replace(microsecond=0)
        info = tsp.TSTInfo(
            {
                "version": "v1",
                "policy": self._policy,
                "message_imprint": {"hash_algorithm": _sm3_algorithm(), "hashed_message": digest},
                "serial_number": self._serial(),
                "gen_time": now,
                "accuracy": {"seconds": 1},
            }
        )
        content = info.dump()
        signed_attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": _CONTENT_TYPE, "values": [OID_TST_INFO]}),
                cms.CMSAttribute({"type": _MESSAGE_DIGEST, "values": [sm3(content)]}),
                cms.CMSAttribute.load(self._signing_certificate_der),
            ]
        )
        signature = self._key.sign(signed_attrs.dump())
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier.load(self._sid_der),
                "digest_algorithm": _sm3_algorithm(),
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": OID_SM2_WITH_SM3}),
                "signature": signature,
            }
        )
        # the certificates are the same in every token: their DER, loaded (not re-encoded)
        certificates = cms.CertificateSet.load(self._certificates_der)
        signed_data = cms.SignedData(
            {
                "version": "v3",  # RFC 5652 §5.1: v3 when eContentType is not id-data
                "digest_algorithms": [_sm3_algorithm()],
                "encap_content_info": {
                    "content_type": OID_TST_INFO,
                    "content": cms.ParsableOctetString(content),
                },
                "certificates": certificates,
                "signer_infos": [signer],
            }
        )
        token: bytes = cms.ContentInfo(
            {"content_type": OID_PKCS7_SIGNED_DATA, "content": signed_data}
        ).dump()
        return token


def _tsa_certificate_problem(cert: Any) -> str | None:
    """Why ``cert`` may not sign time-stamp tokens (RFC 3161 §2.3), or None."""
    who = cert.subject.human_friendly
    usage = cert.extended_key_usage_value
    if usage is None or [u.dotted for u in usage] != [OID_TIME_STAMPING]:
        return f"{who} is not a time-stamp authority (extendedKeyUsage id-kp-timeStamping only)"
    if "extended_key_usage" not in cert.critical_extensions:
        return f"{who}: the id-kp-timeStamping extendedKeyUsage is not critical (RFC 3161 §2.3)"
    return None


def _find_certificate(signed_data: Any, signer_info: Any) -> Any:
    sid = signer_info["sid"]
    if sid.name != "issuer_and_serial_number":
        return None
    wanted = sid.chosen
    for choice in signed_data["certificates"] or ():
        if choice.name != "certificate":
            continue
        cert = choice.chosen
        if cert.issuer == wanted["issuer"] and cert.serial_number == wanted["serial_number"].native:
            return cert
    return None


def check_timestamp(token: bytes, value: bytes, *, trust_roots: Sequence[bytes]) -> TimeStamp | str:
    """Verify an SM2 time-stamp token over ``value``; the stamp, or why it does not verify.

    In order: the token is a DER ``ContentInfo`` with ``signedData`` (PKCS #7 or GB/T 35275 OID)
    holding exactly one ``SignerInfo`` and an encapsulated ``TSTInfo``; ``messageImprint`` is
    SM3 and equals SM3(``value``); the signed contentType is id-ct-TSTInfo and messageDigest is
    SM3 of the ``TSTInfo`` bytes; the authority's SM2 signature over the signed attributes
    verifies (strict DER); signingCertificateV2, when present, names that certificate; the
    certificate is a time-stamp authority's (id-kp-timeStamping, critical) and chains to
    ``trust_roots`` at ``genTime`` (the chain model: the token proves the time at which the
    authority's certificate had to be valid). Revocation is not checked.

    :param token: DER ``TimeStampToken``; any bytes (hostile input never raises).
    :param value: the stamped value (for GB/T 38540, the signature value).
    :param trust_roots: DER root certificates.
    """
    try:
        return _check(bytes(token), bytes(value), trust_roots)
    except Exception as exc:  # asn1crypto raises many unrelated types on hostile input
        return f"the time-stamp token cannot be read: {type(exc).__name__}: {exc}"


def _check(token: bytes, value: bytes, trust_roots: Sequence[bytes]) -> TimeStamp | str:
    try:
        signed_data = load_signed_data(token)
    except ValueError as exc:
        return f"the time-stamp token is not a SignedData: {exc}"
    encap = signed_data["encap_content_info"]
    if encap["content_type"].dotted != OID_TST_INFO:
        return "the time-stamp token does not hold a TSTInfo"
    if len(signed_data["signer_infos"]) != 1:
        return "a time-stamp token has exactly one SignerInfo"
    content = encap["content"]
    if content.native is None:
        return "the time-stamp token's TSTInfo is missing"
    raw = bytes(content.contents)
    info = tsp.TSTInfo.load(raw, strict=True)
    info.native  # noqa: B018 - parse every field now
    imprint = info["message_imprint"]
    if imprint["hash_algorithm"]["algorithm"].dotted not in (OID_SM3, OID_SM3_ALT):
        return "the time-stamp's message imprint is not SM3"
    if imprint["hashed_message"].native != sm3(value):
        return "the time-stamp token is over another value (its message imprint differs)"
    signer_info = signed_data["signer_infos"][0]
    cert = _find_certificate(signed_data, signer_info)
    why = signer_info_problem(signer_info, cert, encap["content_type"].native)
    if why is not None:
        return f"the time-stamp token's signature: {why}"
    digests = attribute_values(signer_info["signed_attrs"], "message_digest", _MESSAGE_DIGEST)
    if not digests or digests[0].native != sm3(raw):
        return "the time-stamp token's messageDigest is not SM3 of its TSTInfo"
    certificates = attribute_values(
        signer_info["signed_attrs"], "signing_certificate_v2", _SIGNING_CERTIFICATE_V2
    )
    if certificates:
        ids = certificates[0]["certs"]
        first = ids[0] if len(ids) else None
        if first is None or first["cert_hash"].native != _cert_hash(first, cert.dump()):
            return "the time-stamp token's signingCertificateV2 names another certificate"
    why = _tsa_certificate_problem(cert)
    if why is not None:
        return why
    gen_time: datetime = info["gen_time"].native.astimezone(UTC)
    intermediates = [
        c.chosen.dump()
        for c in signed_data["certificates"] or ()
        if c.name == "certificate" and c.chosen.dump() != cert.dump()
    ]
    untrusted = verify_sm2_chain(
        cert.dump(), list(trust_roots), gen_time, intermediates_der=intermediates
    )
    if untrusted is not None:
        return f"the time-stamp authority does not chain to a trust root ({untrusted})"
    return TimeStamp(
        time=gen_time,
        serial=int(info["serial_number"].native),
        policy=info["policy"].dotted,
        authority=cert.subject.human_friendly,
        authority_cert=cert.dump(),
        intermediates=tuple(intermediates),
    )


def stamp_problem_at(
    stamp: TimeStamp, trust_roots: Sequence[bytes], at: datetime, *, skew: timedelta = timedelta(0)
) -> str | None:
    """Why a verified time-stamp does not hold at the validation time ``at``, or None.

    A validation time more than ``skew`` (the two clocks' allowed difference) before the stamp's
    ``genTime`` is refused: the stamped value was not proven to exist yet. The authority's certificate must still chain to ``trust_roots`` at
    ``at``: the evidence has to hold at the time it is relied on (as PAdES validation does for
    its time-stamps), while the stamped signer is judged at ``genTime``.

    :param at: aware datetime.
    """
    if at < stamp.time - skew:
        return (
            f"the validation time {at.isoformat()} is before the seal's time-stamp "
            f"{stamp.time.isoformat()}: the seal did not exist yet"
        )
    untrusted = verify_sm2_chain(
        stamp.authority_cert, list(trust_roots), at, intermediates_der=stamp.intermediates
    )
    if untrusted is not None:
        return (
            f"the time-stamp authority's certificate does not chain to a trust root at the "
            f"validation time {at.isoformat()} ({untrusted})"
        )
    return None


def _cert_hash(cert_id: Any, cert_der: bytes) -> bytes | None:
    """The ESSCertIDv2 hash of ``cert_der`` with the id's algorithm (SM3 or a hashlib one)."""
    algorithm = cert_id["hash_algorithm"]["algorithm"]
    if algorithm.dotted in (OID_SM3, OID_SM3_ALT):
        return sm3(cert_der)
    try:
        return hashlib.new(str(algorithm.native), cert_der).digest()
    except (ValueError, TypeError):
        return None
