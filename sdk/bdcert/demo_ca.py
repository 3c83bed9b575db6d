"""The services of the demo PKI's authorities (:mod:`bdcert.demo_pki`): the root's CRL and OCSP
responses, the timestamp authority's RFC 3161 tokens, and revocation for tests and drills.

Standards: RFC 5280 (certificates, CRLs, CRL distribution point, authority information access),
RFC 6960 (OCSP), RFC 3161 (time-stamp protocol). Not for production: the demo root signs its own
OCSP responses and its CRL is reissued only when a certificate is revoked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from bdcert.errors import ConfigurationError

__all__ = [
    "CRL_VALIDITY",
    "SIGNING_KEY_USAGE",
    "TSA_VALIDITY",
    "DemoCa",
    "issue_tsa_certificate",
    "make_crl",
    "revocation_pointers",
]

#: The key usage of the demo's signing certificates (seal and TSA): digitalSignature and
#: nonRepudiation (contentCommitment), nothing else.
SIGNING_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)
#: The demo TSA certificate's validity: it outlives a 20-year check of today's timestamps.
TSA_VALIDITY = timedelta(days=25 * 365 + 6)
#: A demo CRL's validity (``nextUpdate - thisUpdate``), as long as the TSA certificate's: the
#: demo CA promises no newer CRL until then except at a revocation (:meth:`DemoCa.revoke`
#: reissues it), so a document's embedded CRLs let an offline validator check the newest
#: timestamp 20 years ahead. A production CA's CRLs last days; there a validator fetches the
#: newest TSA certificate's status, or the re-timestamping job refreshes the evidence.
CRL_VALIDITY = TSA_VALIDITY
_BACKDATE = timedelta(days=1)


def revocation_pointers(service_url: str) -> list[x509.ExtensionType]:
    """The CRL distribution point and the OCSP responder (AIA) of certificates the root issues."""
    base = service_url.rstrip("/")
    return [
        x509.CRLDistributionPoints(
            [
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(f"{base}/crl")],
                    relative_name=None,
                    reasons=None,
                    crl_issuer=None,
                )
            ]
        ),
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP,
                    x509.UniformResourceIdentifier(f"{base}/ocsp"),
                )
            ]
        ),
    ]


def issue_tsa_certificate(
    key: ec.EllipticCurvePrivateKey,
    root_cert: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    now: datetime,
    extensions: Sequence[x509.ExtensionType],
) -> x509.Certificate:
    """The timestamp authority's certificate: critical EKU id-kp-timeStamping (RFC 3161 §2.3)."""
    root_ski = root_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bdcert demo"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "bdcert demo TSA — not for production"),
                ]
            )
        )
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now - _BACKDATE + TSA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            SIGNING_KEY_USAGE,
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(root_key, hashes.SHA256())


@attrs.define(frozen=True)
class _Revoked:
    serial: int
    at: datetime
    reason: x509.ReasonFlags


def make_crl(
    root_cert: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    revoked: Sequence[_Revoked],
    now: datetime,
) -> bytes:
    """The root's CRL (DER), issued ``now`` (backdated a minute for clock skew), with
    ``revoked`` and a CRL number (RFC 5280 §5.2.3) that grows with time."""
    this_update = now - timedelta(minutes=1)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root_cert.subject)
        .last_update(this_update)
        .next_update(this_update + CRL_VALIDITY)
        .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
    )
    for r in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(r.serial)
            .revocation_date(r.at)
            .add_extension(x509.CRLReason(r.reason), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(root_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


class DemoCa:
    """The demo PKI of a directory (:func:`make_demo_pki`, ECDSA) as the services of a
    certification authority and a timestamp authority, in-process (tests, the demo) and behind
    the reference services' HTTP endpoints:

    - :meth:`crl`: the root's current CRL (DER, RFC 5280);
    - :meth:`ocsp_response`: an OCSP response (DER, RFC 6960) to a DER ``OCSPRequest``, signed
      by the root itself (RFC 6960 §4.2.2.2), good unless revoked;
    - :meth:`timestamp_response`: an RFC 3161 ``TimeStampResp`` to a DER ``TimeStampReq``,
      signed by the TSA certificate;
    - :meth:`revoke`: revoke a certificate the root issued (for tests and drills), reissuing
      the CRL.

    :raises ConfigurationError: (constructor) if the directory holds no ECDSA demo PKI with a
        timestamp authority.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        try:
            self.root_cert = x509.load_pem_x509_certificate(
                (self.directory / "root.cert.pem").read_bytes()
            )
            root_key = serialization.load_pem_private_key(
                (self.directory / "root.key.pem").read_bytes(), None
            )
            self.tsa_cert = x509.load_pem_x509_certificate(
                (self.directory / "tsa.cert.pem").read_bytes()
            )
            tsa_key = serialization.load_pem_private_key(
                (self.directory / "tsa.key.pem").read_bytes(), None
            )
        except (OSError, ValueError) as e:
            raise ConfigurationError(
                f"{self.directory} holds no ECDSA demo PKI with a timestamp authority: {e}"
            ) from None
        if not isinstance(root_key, ec.EllipticCurvePrivateKey) or not isinstance(
            tsa_key, ec.EllipticCurvePrivateKey
        ):
            raise ConfigurationError(f"{self.directory}: the demo PKI keys are not ECDSA")
        self.root_key = root_key
        self.tsa_key = tsa_key

    def _revoked(self) -> list[_Revoked]:
        try:
            items = json.loads((self.directory / "revoked.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        return [
            _Revoked(
                int(i["serial"]), datetime.fromisoformat(i["at"]), x509.ReasonFlags(i["reason"])
            )
            for i in items
        ]

    def crl(self) -> bytes:
        """The root's current CRL, DER."""
        return (self.directory / "root.crl").read_bytes()

    def revoke(
        self,
        certificate: x509.Certificate,
        *,
        at: datetime,
        reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise,
        now: datetime | None = None,
    ) -> None:
        """Revoke ``certificate`` (issued by the root) as of ``at`` (aware) and reissue the CRL
        (issued ``now``, default the current time); OCSP answers ``revoked`` from then on.

        :raises ConfigurationError: if the root did not issue the certificate or ``at`` is naive.
        """
        if certificate.issuer != self.root_cert.subject:
            raise ConfigurationError("the demo root did not issue this certificate")
        if at.tzinfo is None:
            raise ConfigurationError("the revocation time must be timezone-aware")
        revoked = [r for r in self._revoked() if r.serial != certificate.serial_number]
        revoked.append(_Revoked(certificate.serial_number, at.astimezone(UTC), reason))
        listing = [
            {"serial": str(r.serial), "at": r.at.isoformat(), "reason": r.reason.value}
            for r in revoked
        ]
        (self.directory / "revoked.json").write_bytes(json.dumps(listing, indent=1).encode("utf-8"))
        issued = (now or datetime.now(UTC)).astimezone(UTC)
        crl = make_crl(self.root_cert, self.root_key, revoked, issued)
        (self.directory / "root.crl").write_bytes(crl)

    def ocsp_response(self, request: bytes, now: datetime | None = None) -> bytes:
        """The DER OCSP response to the DER OCSP request ``request`` (one certificate): signed
        by the root, ``good`` or ``revoked`` (with time and reason); ``malformedRequest`` for
        bytes that are not an OCSP request, ``unauthorized`` for a certificate of another
        issuer. Valid one day from ``now``."""
        from cryptography.x509 import ocsp

        try:
            req = ocsp.load_der_ocsp_request(request)
            serial, key_hash = req.serial_number, req.issuer_key_hash
            algorithm = req.hash_algorithm
        except (ValueError, TypeError):
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST
            ).public_bytes(serialization.Encoding.DER)
        digest = hashes.Hash(algorithm)
        digest.update(
            self.root_cert.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )
        if digest.finalize() != key_hash:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED
            ).public_bytes(serialization.Encoding.DER)
        when = (now or datetime.now(UTC)).astimezone(UTC) - timedelta(minutes=1)
        found = next((r for r in self._revoked() if r.serial == serial), None)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=req.issuer_name_hash,
            issuer_key_hash=key_hash,
            serial_number=serial,
            algorithm=algorithm,
            cert_status=ocsp.OCSPCertStatus.GOOD if found is None else ocsp.OCSPCertStatus.REVOKED,
            this_update=when,
            next_update=when + timedelta(days=1),
            revocation_time=None if found is None else found.at,
            revocation_reason=None if found is None else found.reason,
        )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.root_cert)
        for extension in req.extensions:  # echo the nonce (RFC 8954)
            if extension.oid == x509.oid.OCSPExtensionOID.NONCE:
                builder = builder.add_extension(extension.value, critical=False)
        return builder.sign(self.root_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def timestamper(self) -> Any:
        """An in-process pyHanko ``TimeStamper`` of the TSA (its certificate and the root
        embedded in each token; :func:`bdcert.sealing.evidence.local_timestamper`)."""
        from bdcert.sealing.evidence import local_timestamper

        return local_timestamper(self.tsa_key, self.tsa_cert, [self.root_cert])

    def timestamp_response(self, request: bytes) -> bytes:
        """The DER RFC 3161 ``TimeStampResp`` to the DER ``TimeStampReq`` ``request``.

        :raises ValueError: if the bytes are not a timestamp request.
        """
        from asn1crypto import tsp

        try:
            req = tsp.TimeStampReq.load(request)
            req.native  # noqa: B018 - parse it all now
        except Exception as e:
            raise ValueError(f"not an RFC 3161 TimeStampReq: {e}") from None
        response: bytes = self.timestamper().request_tsa_response(req).dump()
        return response

    def issue_tls_certificate(
        self,
        name: str,
        *,
        client: bool,
        hosts: Sequence[str] = (),
        now: datetime | None = None,
        validity: timedelta = timedelta(days=365),
    ) -> tuple[bytes, bytes]:
        """A TLS certificate the demo root signs, for ``bdcert serve`` over HTTPS (RFC 5280).

        :param name: the subject's CN (O = ``bdcert demo``, C = CN).
        :param client: True for a client certificate (EKU clientAuth, for mutual TLS: the
            identity plugin maps it to a principal), False for a server certificate (EKU
            serverAuth, subjectAltName ``hosts``: IP addresses or DNS names).
        :param validity: from one day before ``now`` (default the current time).
        :returns: (certificate PEM, unencrypted PKCS#8 private key PEM), ECDSA P-256.
        """
        import ipaddress

        key = ec.generate_private_key(ec.SECP256R1())
        start = (now or datetime.now(UTC)).astimezone(UTC) - _BACKDATE
        root_ski = self.root_cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bdcert demo"),
                        x509.NameAttribute(NameOID.COMMON_NAME, name),
                    ]
                )
            )
            .issuer_name(self.root_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
                critical=False,
            )
        )
        if hosts:
            names: list[x509.GeneralName] = []
            for host in hosts:
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.root_key, hashes.SHA256())
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cert.public_bytes(serialization.Encoding.PEM), key_pem
