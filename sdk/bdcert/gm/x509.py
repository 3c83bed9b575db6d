"""SM2 certificates: X.509 v3 signed with sm2sign-with-sm3 (GM/T 0015-2012, RFC 5280).

:func:`make_sm2_certificate` builds a TBSCertificate with asn1crypto and signs its DER with an
:class:`~bdcert.gm.sm2.SM2PrivateKey` under the default distinguishing ID ``1234567812345678``,
as GM/T 0015 implementations (Tongsuo, GmSSL, the national CAs) expect. OpenSSL 3.0 checks SM2
certificate signatures with an *empty* ID unless told otherwise, so verify with
``openssl verify -vfyopt distid:1234567812345678 -CAfile root.cert.pem seal.cert.pem``. :func:`verify_sm2_chain` is a
small path validator for the demo PKI and tests: validity period, CA flag, key usage and the SM2
signature of every link up to a trusted root. It does not check revocation, name constraints or
policies; production chains go through the platform's own validator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from asn1crypto import core, keys, x509

from bdcert.gm.sm2 import (
    OID_SM2_WITH_SM3,
    SM2PrivateKey,
    SM2PublicKey,
)

__all__ = [
    "certificate_not_after",
    "certificate_period_problem",
    "make_sm2_certificate",
    "sm2_public_key_of",
    "subject_key_identifier",
    "verify_sm2_certificate_signature",
    "verify_sm2_chain",
]

#: Short attribute names accepted in a subject mapping, besides asn1crypto's long names.
_SHORT_NAMES = {
    "C": "country_name",
    "ST": "state_or_province_name",
    "L": "locality_name",
    "O": "organization_name",
    "OU": "organizational_unit_name",
    "CN": "common_name",
    "serialNumber": "serial_number",
    "emailAddress": "email_address",
}
_PRINTABLE = {"country_name", "serial_number", "dn_qualifier"}
_MAX_DEPTH = 8


def _name(subject: Mapping[str, str]) -> x509.Name:
    """An X.509 Name with one attribute per RDN, in the mapping's order (UTF8String except C,
    serialNumber: PrintableString)."""
    rdns = []
    for key, value in subject.items():
        attribute = _SHORT_NAMES.get(key, key)
        if attribute == "email_address":
            encoded: core.Asn1Value = x509.EmailAddress(value)
        elif attribute in _PRINTABLE:
            encoded = x509.DirectoryString(name="printable_string", value=value)
        else:
            encoded = x509.DirectoryString(name="utf8_string", value=value)
        rdns.append(
            x509.RelativeDistinguishedName(
                [x509.NameTypeAndValue({"type": attribute, "value": encoded})]
            )
        )
    return x509.Name(name="", value=x509.RDNSequence(rdns))


def _time(moment: datetime) -> x509.Time:
    """UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5), whole seconds."""
    if moment.tzinfo is None:
        raise ValueError("certificate times must be timezone-aware")
    moment = moment.astimezone(UTC).replace(microsecond=0)
    if moment.year < 2050:
        return x509.Time(name="utc_time", value=moment)
    return x509.Time(name="general_time", value=moment)


def subject_key_identifier(public_key: SM2PublicKey) -> bytes:
    """The key identifier of RFC 5280 §4.2.1.2 method (1): SHA-1 of the public key's point.

    SHA-1 here is an identifier, not a signature hash; it matches what OpenSSL computes.
    """
    return hashlib.sha1(public_key.point, usedforsecurity=False).digest()


def _sm2_algorithm() -> x509.SignedDigestAlgorithm:
    # GM/T 0015 §7.2: sm2sign-with-sm3 without parameters (OpenSSL 3 emits it so, too).
    return x509.SignedDigestAlgorithm({"algorithm": OID_SM2_WITH_SM3})


def make_sm2_certificate(
    *,
    subject: Mapping[str, str],
    issuer_cert_der: bytes | None,
    issuer_key: SM2PrivateKey,
    public_key: SM2PublicKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    key_usage: Iterable[str],
    extended_key_usage: Sequence[str] = (),
    extended_key_usage_critical: bool = False,
    path_length: int | None = None,
    ski: bytes | None = None,
    aki: bytes | None = None,
) -> bytes:
    """Build and sign an SM2 X.509 v3 certificate; returns its DER.

    :param subject: attribute → value in RDN order; keys are asn1crypto names
        (``country_name``, ``organization_name``, ``serial_number``, ``common_name``, …), the short
        forms ``C``, ``ST``, ``L``, ``O``, ``OU``, ``CN``, ``serialNumber``, ``emailAddress``, or
        dotted OIDs.
    :param issuer_cert_der: the issuer's certificate, or None for a self-signed root (then
        ``issuer_key`` must match ``public_key``).
    :param issuer_key: the issuer's SM2 key; signs with the default distinguishing ID.
    :param serial: positive, at most 20 bytes (RFC 5280 §4.1.2.2).
    :param not_before: aware datetime; stored in whole seconds, UTC.
    :param not_after: aware datetime, after ``not_before``.
    :param ca: basicConstraints cA (critical); ``path_length`` is its pathLenConstraint.
    :param key_usage: asn1crypto bit names: ``digital_signature``, ``non_repudiation``,
        ``key_cert_sign``, ``crl_sign``, … (critical). Empty: no keyUsage extension.
    :param extended_key_usage: asn1crypto names (``email_protection``) or dotted OIDs
        (``1.3.6.1.5.5.7.3.36``, documentSigning); empty: no extension.
    :param extended_key_usage_critical: mark extendedKeyUsage critical (RFC 3161 §2.3 asks it
        of a time-stamp authority's id-kp-timeStamping).
    :param ski: subjectKeyIdentifier; defaults to :func:`subject_key_identifier`.
    :param aki: authorityKeyIdentifier keyIdentifier; defaults to the issuer certificate's SKI
        (its computed identifier if it has none). A root gets none unless given.
    :raises ValueError: on an invalid serial, validity period, or a self-signed certificate whose
        key does not match.
    """
    if not 0 < serial < 1 << 159:
        raise ValueError("the serial number must be positive and at most 20 bytes")
    if not_after <= not_before:
        raise ValueError("not_after must be after not_before")
    name = _name(subject)
    if issuer_cert_der is None:
        if issuer_key.public_key != public_key:
            raise ValueError("a self-signed certificate must be signed by its own key")
        issuer_name = name
    else:
        issuer = x509.Certificate.load(issuer_cert_der)
        issuer_name = issuer.subject
        if aki is None:
            aki = issuer.key_identifier or subject_key_identifier(
                sm2_public_key_of(issuer_cert_der)
            )

    usage = frozenset(key_usage)
    extensions: list[x509.Extension] = [
        x509.Extension(
            {
                "extn_id": "basic_constraints",
                "critical": True,
                "extn_value": x509.BasicConstraints(
                    {"ca": ca, "path_len_constraint": path_length}
                    if ca and path_length is not None
                    else {"ca": ca}
                ),
            }
        )
    ]
    if usage:
        extensions.append(
            x509.Extension(
                {"extn_id": "key_usage", "critical": True, "extn_value": x509.KeyUsage(set(usage))}
            )
        )
    if extended_key_usage:
        extensions.append(
            x509.Extension(
                {
                    "extn_id": "extended_key_usage",
                    "critical": extended_key_usage_critical,
                    "extn_value": x509.ExtKeyUsageSyntax(list(extended_key_usage)),
                }
            )
        )
    extensions.append(
        x509.Extension(
            {
                "extn_id": "key_identifier",
                "critical": False,
                "extn_value": core.OctetString(ski or subject_key_identifier(public_key)),
            }
        )
    )
    if aki is not None:
        extensions.append(
            x509.Extension(
                {
                    "extn_id": "authority_key_identifier",
                    "critical": False,
                    "extn_value": x509.AuthorityKeyIdentifier({"key_identifier": aki}),
                }
            )
        )

    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": _sm2_algorithm(),
            "issuer": issuer_name,
            "validity": x509.Validity(
                {"not_before": _time(not_before), "not_after": _time(not_after)}
            ),
            "subject": name,
            "subject_public_key_info": keys.PublicKeyInfo.load(public_key.to_der()),
            "extensions": extensions,
        }
    )
    signature = issuer_key.sign(tbs.dump())
    cert = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": _sm2_algorithm(),
            "signature_value": signature,
        }
    )
    der: bytes = cert.dump()
    return der


def sm2_public_key_of(cert_der: bytes) -> SM2PublicKey:
    """The SM2 public key of a DER certificate.

    :raises ValueError: if the certificate is malformed or its key is not SM2.
    """
    try:
        cert = x509.Certificate.load(cert_der, strict=True)
        spki = cert["tbs_certificate"]["subject_public_key_info"].dump()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a DER certificate: {exc}") from exc
    return SM2PublicKey.from_der(spki)


def _signature_ok(cert: x509.Certificate, issuer_key: SM2PublicKey) -> bool:
    outer = cert["signature_algorithm"]["algorithm"].dotted
    inner = cert["tbs_certificate"]["signature"]["algorithm"].dotted
    if outer != OID_SM2_WITH_SM3 or inner != OID_SM2_WITH_SM3:
        return False
    tbs = cert["tbs_certificate"].dump()  # the bytes as parsed, not re-encoded
    return issuer_key.verify(bytes(cert["signature_value"].native), tbs)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key signed ``cert`` (False if that key is not SM2)."""
    try:
        key = SM2PublicKey.from_der(issuer["tbs_certificate"]["subject_public_key_info"].dump())
    except ValueError:
        return False
    return _signature_ok(cert, key)


def verify_sm2_certificate_signature(cert_der: bytes, issuer_cert_der: bytes) -> bool:
    """Whether ``cert_der`` carries a valid sm2sign-with-sm3 signature by the key of
    ``issuer_cert_der`` (default distinguishing ID). Only the signature is checked, not names,
    validity or CA flags. Never raises: malformed input gives False.
    """
    try:
        cert = x509.Certificate.load(cert_der, strict=True)
        return _signature_ok(cert, sm2_public_key_of(issuer_cert_der))
    except (ValueError, TypeError, KeyError):
        return False


def _period_problem(cert: x509.Certificate, at: datetime) -> str | None:
    validity = cert["tbs_certificate"]["validity"]
    not_before: datetime = validity["not_before"].native
    not_after: datetime = validity["not_after"].native
    who = cert.subject.human_friendly
    if at < not_before:
        return f"not yet valid: {who} is valid from {not_before.isoformat()}"
    if at > not_after:
        return f"expired: {who} expired at {not_after.isoformat()}"
    return None


def certificate_period_problem(cert_der: bytes, at: datetime) -> str | None:
    """Why the certificate ``cert_der`` is not within its validity period at ``at`` (starting
    ``expired`` or ``not yet valid``, naming it and the date), or None.

    :param at: aware datetime.
    :raises ValueError: if ``cert_der`` is not a certificate.
    """
    return _period_problem(x509.Certificate.load(bytes(cert_der), strict=True), at)


def certificate_not_after(cert_der: bytes) -> datetime:
    """The ``notAfter`` of the certificate ``cert_der`` (aware, UTC).

    :raises ValueError: if ``cert_der`` is not a certificate.
    """
    cert = x509.Certificate.load(bytes(cert_der), strict=True)
    not_after: datetime = cert["tbs_certificate"]["validity"]["not_after"].native
    return not_after.astimezone(UTC)


def _ca_problem(cert: x509.Certificate, depth: int) -> str | None:
    """Why ``cert`` may not issue a certificate ``depth`` CA certificates below it, or None."""
    who = cert.subject.human_friendly
    if not cert.ca:
        return f"not a CA: {who} has no basicConstraints cA"
    usage = cert.key_usage_value
    if usage is not None and "key_cert_sign" not in usage.native:
        return f"not a CA: {who} lacks keyUsage keyCertSign"
    limit = cert.max_path_length
    if limit is not None and depth > limit:
        return f"not a CA: path length constraint of {who} exceeded"
    return None


def verify_sm2_chain(
    cert_der: bytes,
    trust_roots_der: Sequence[bytes],
    at: datetime,
    *,
    intermediates_der: Sequence[bytes] = (),
) -> str | None:
    """Validate ``cert_der`` up to one of ``trust_roots_der`` at time ``at``; None if valid.

    Every certificate on the path must be within its validity period at ``at``, every issuer
    must be a CA (basicConstraints cA; keyCertSign if it has keyUsage; path length respected),
    and every signature must be sm2sign-with-sm3 by the issuer's key. A trusted root itself is
    accepted. Issuers are found by name among ``intermediates_der`` and the roots.

    :param at: aware datetime.
    :returns: None, or the reason, which starts with one of ``malformed``, ``expired``,
        ``not yet valid``, ``not a CA``, ``bad signature``, ``untrusted``.
    """
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    try:
        current = x509.Certificate.load(cert_der, strict=True)
        _ = current.subject.human_friendly, current.ca  # parse now, not halfway up the chain
        roots = [x509.Certificate.load(der, strict=True) for der in trust_roots_der]
        others = [x509.Certificate.load(der, strict=True) for der in intermediates_der]
    except (ValueError, TypeError) as exc:
        return f"malformed: {exc}"
    root_bytes = {bytes(der) for der in trust_roots_der}

    try:
        for depth in range(_MAX_DEPTH):
            problem = _period_problem(current, at)
            if problem:
                return problem
            if current.dump() in root_bytes:
                return None
            candidates = [c for c in roots if c.subject == current.issuer]
            trusted = bool(candidates)
            if not trusted:
                candidates = [
                    c for c in others if c.subject == current.issuer and c.dump() != current.dump()
                ]
            if not candidates:
                return f"untrusted: no trusted issuer for {current.subject.human_friendly}"
            issuer = next((c for c in candidates if _issued_by(current, c)), None)
            if issuer is None:
                return f"bad signature: {current.subject.human_friendly}"
            problem = _ca_problem(issuer, depth)
            if problem:
                return problem
            if trusted:
                return _period_problem(issuer, at)
            current = issuer
    except (ValueError, TypeError, KeyError) as exc:
        return f"malformed: {exc}"
    return "untrusted: chain too long"
