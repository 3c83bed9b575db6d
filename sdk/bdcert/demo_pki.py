"""A throwaway demonstration PKI for ``bdcert init --demo`` and for tests.

One self-signed root CA and, per registration authority, an ECDSA P-256 seal key with a seal
certificate issued by that root, written as PEM files and a PKCS#12 bundle; for long-term
validation (PAdES B-T/B-LT/B-LTA) also a timestamp authority (RFC 3161) and the root's CRL
(RFC 5280), and the root answers OCSP (RFC 6960) through :class:`DemoCa`; or, with
``algorithm="sm2"``, the same in SM2 (GM/T 0015 certificates, sm2sign-with-sm3, no PKCS#12).
The keys are written unencrypted (file mode 0600) and the root says "not for production" in its name: a real
deployment gets its seal certificates from the provincial e-seal platform (rule article 3).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import (
    ExtendedKeyUsageOID,
    NameOID,
    ObjectIdentifier,
)

from bdcert.demo_ca import (
    SIGNING_KEY_USAGE,
    DemoCa,
    issue_tsa_certificate,
    make_crl,
    revocation_pointers,
)
from bdcert.errors import ConfigurationError
from bdcert.model import Authority

__all__ = [
    "DEMO_ROOT_NAME",
    "DEMO_SERVICE_URL",
    "DemoCa",
    "DemoPki",
    "SealKeyFiles",
    "issue_seal_certificate",
    "make_demo_pki",
]

#: Common name of the demo root CA; it says what it is wherever a validator prints it.
DEMO_ROOT_NAME = "bdcert demo root CA — not for production"

#: id-kp-documentSigning (RFC 9336).
_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

#: The SM2 demo PKI's time-stamp authority (GB/T 38540 ``timeStamp``): its key and certificate.
SM2_TSA_KEY = "sm2-tsa.key.pem"
SM2_TSA_CERT = "sm2-tsa.cert.pem"

#: Where the reference services (``bdcert-seal-service --pki``) answer for the demo PKI by
#: default: ``<url>/crl`` (the root's CRL, GET), ``<url>/ocsp`` (OCSP, POST),
#: ``<url>/tsa`` (RFC 3161, POST). Written into the certificates' CRL distribution point and
#: authority information access extensions.
DEMO_SERVICE_URL = "http://127.0.0.1:8731/pki"

# The root outlives the documents' 20-year check: a validator at a validation time 20 years
# ahead still finds the newest document timestamp's TSA certificate and its root in force.
_ROOT_VALIDITY = timedelta(days=30 * 365 + 8)  # 30 years
_SEAL_VALIDITY = timedelta(days=1096)  # 3 years
_BACKDATE = timedelta(days=1)
_SAFE_CODE = re.compile(r"[0-9A-Za-z_-]{1,64}")


@attrs.define(frozen=True)
class SealKeyFiles:
    """The files of one authority's seal: ``key`` (PKCS#8 PEM, 0600), ``cert`` (PEM), ``p12``
    (PKCS#12; None for an SM2 demo PKI, which writes none)."""

    key: Path
    cert: Path
    p12: Path | None


@attrs.define(frozen=True)
class DemoPki:
    """Paths written by :func:`make_demo_pki`; ``seal`` maps authority code to its files;
    ``algorithm`` is ``"ecdsa"`` or ``"sm2"``; ``tsa_cert``/``tsa_key`` the timestamp
    authority's certificate and key, ``crl`` the root's CRL (DER) — None for an SM2 demo PKI."""

    directory: Path
    root_cert: Path
    root_key: Path
    seal: Mapping[str, SealKeyFiles]
    algorithm: str = "ecdsa"
    tsa_cert: Path | None = None
    tsa_key: Path | None = None
    crl: Path | None = None


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data``; private files are created with mode 0600 (and forced to it if they existed)."""
    mode = 0o600 if private else 0o644
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        if private:
            os.fchmod(fd, 0o600)
        os.write(fd, data)
    finally:
        os.close(fd)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_demo_pki(
    directory: Path,
    authorities: Sequence[Authority],
    *,
    now: datetime | None = None,
    p12_passphrase: bytes = b"demo",
    algorithm: str = "ecdsa",
    service_url: str | None = None,
) -> DemoPki:
    """Create a demo root CA and one seal key and certificate per authority in ``directory``.

    Files: ``root.cert.pem``, ``root.key.pem`` and, per authority ``<code>``, ``<code>.key.pem``
    (unencrypted PKCS#8, mode 0600), ``<code>.cert.pem`` and ``<code>.p12`` (PKCS#12 holding the
    key, the seal certificate and the root, encrypted with ``p12_passphrase``). Existing files of
    the same names are overwritten.

    The root (ECDSA P-256, 10 years) is named :data:`DEMO_ROOT_NAME`. A seal certificate (ECDSA
    P-256, 3 years from one day before ``now``) has subject CN = O = the authority's name,
    serialNumber = its unified social credit code (GB 32100), C = CN; key usage
    digitalSignature + nonRepudiation; extended key usage documentSigning (RFC 9336) and
    emailProtection (which NSS, and so poppler's ``pdfsig``, asks of a signing certificate);
    with ``service_url``, the CRL distribution point ``<service_url>/crl`` and the OCSP
    responder ``<service_url>/ocsp`` (RFC 5280 §4.2.1.13, §4.2.2.1), which :class:`DemoCa`
    answers and the reference services serve over HTTP (without it the certificates name none:
    validators that follow them, such as ``pdfsig``'s OCSP check, would ask a service that is
    not running; the CRL is then used from the file).

    For long-term validation (PAdES B-T and up, ETSI EN 319 142-1) it also writes the timestamp
    authority ``tsa.key.pem``/``tsa.cert.pem`` (ECDSA P-256, 25 years, critical extended key
    usage id-kp-timeStamping, RFC 3161 §2.3) and the root's CRL ``root.crl`` (DER, RFC 5280,
    none revoked yet; :meth:`DemoCa.revoke` reissues it). The root is valid 30 years, so a
    document timestamped today still validates 20 years ahead.

    With ``algorithm="sm2"`` the root and the seal keys are SM2 (GB/T 32918) and the
    certificates are signed sm2sign-with-sm3 with the default distinguishing ID (GM/T 0015), with
    the same names, periods and extensions and the same file names, keys as PKCS#8 PEM; no
    ``.p12`` is written (``SealKeyFiles.p12`` is None) and ``p12_passphrase`` is ignored; an SM2
    time-stamp authority is added, :data:`SM2_TSA_KEY` and :data:`SM2_TSA_CERT` (issued by the
    root for its whole validity, extendedKeyUsage id-kp-timeStamping critical, RFC 3161 §2.3).

    :param now: the reference time, aware; defaults to the current time.
    :param algorithm: ``"ecdsa"`` (P-256, the default) or ``"sm2"`` (needs the ``gm`` extra).
    :param service_url: the base URL of the CRL and OCSP services named in the certificates
        (e.g. :data:`DEMO_SERVICE_URL`); None: no pointers.
    :raises ConfigurationError: if an authority code is not a plain name (letters, digits, ``-``),
        or the algorithm is unknown.
    :raises MissingDependency: for ``"sm2"`` without ``tongsuopy``.
    :raises OSError: if the directory cannot be written.
    """
    bad = [a.code for a in authorities if not _SAFE_CODE.fullmatch(a.code)]
    if bad:
        raise ConfigurationError(f"authority codes unusable as file names: {', '.join(bad)}")
    if algorithm not in ("ecdsa", "sm2"):
        raise ConfigurationError(f"unknown demo PKI algorithm {algorithm!r}: use 'ecdsa' or 'sm2'")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    if algorithm == "sm2":
        return _make_sm2_demo_pki(directory, authorities, now)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bdcert demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, DEMO_ROOT_NAME),
        ]
    )
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root_cert = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now - _BACKDATE + _ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(root_ski, critical=False)
        .sign(root_key, hashes.SHA256())
    )
    root_cert_path = directory / "root.cert.pem"
    root_key_path = directory / "root.key.pem"
    _write(root_cert_path, root_cert.public_bytes(serialization.Encoding.PEM))
    _write(root_key_path, _key_pem(root_key), private=True)

    urls = revocation_pointers(service_url) if service_url else []
    tsa_key = ec.generate_private_key(ec.SECP256R1())
    tsa_cert = issue_tsa_certificate(tsa_key, root_cert, root_key, now, urls)
    tsa_cert_path, tsa_key_path = directory / "tsa.cert.pem", directory / "tsa.key.pem"
    _write(tsa_cert_path, tsa_cert.public_bytes(serialization.Encoding.PEM))
    _write(tsa_key_path, _key_pem(tsa_key), private=True)
    crl_path = directory / "root.crl"
    _write(crl_path, make_crl(root_cert, root_key, [], now))
    _write(directory / "revoked.json", b"[]\n")

    seal: dict[str, SealKeyFiles] = {}
    for authority in authorities:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = issue_seal_certificate(
            key.public_key(),
            name=authority.name,
            credit_code=authority.credit_code,
            issuer_cert=root_cert,
            issuer_key=root_key,
            not_before=now - _BACKDATE,
            not_after=now - _BACKDATE + _SEAL_VALIDITY,
            extensions=urls,
        )
        p12_path = directory / f"{authority.code}.p12"
        files = SealKeyFiles(
            key=directory / f"{authority.code}.key.pem",
            cert=directory / f"{authority.code}.cert.pem",
            p12=p12_path,
        )
        _write(files.key, _key_pem(key), private=True)
        _write(files.cert, cert.public_bytes(serialization.Encoding.PEM))
        p12 = pkcs12.serialize_key_and_certificates(
            name=authority.code.encode("ascii"),
            key=key,
            cert=cert,
            cas=[root_cert],
            encryption_algorithm=(
                serialization.BestAvailableEncryption(p12_passphrase)
                if p12_passphrase
                else serialization.NoEncryption()
            ),
        )
        _write(p12_path, p12, private=True)
        seal[authority.code] = files

    return DemoPki(
        directory=directory,
        root_cert=root_cert_path,
        root_key=root_key_path,
        seal=seal,
        tsa_cert=tsa_cert_path,
        tsa_key=tsa_key_path,
        crl=crl_path,
    )


def _make_sm2_demo_pki(directory: Path, authorities: Sequence[Authority], now: datetime) -> DemoPki:
    """The SM2 variant of :func:`make_demo_pki` (same names, periods, extensions and file names)."""
    from bdcert.gm.sm2 import SM2PrivateKey
    from bdcert.gm.x509 import make_sm2_certificate

    root_key = SM2PrivateKey.generate()
    root_subject = {"C": "CN", "O": "bdcert demo", "CN": DEMO_ROOT_NAME}
    root_der = make_sm2_certificate(
        subject=root_subject,
        issuer_cert_der=None,
        issuer_key=root_key,
        public_key=root_key.public_key,
        serial=x509.random_serial_number(),
        not_before=now - _BACKDATE,
        not_after=now - _BACKDATE + _ROOT_VALIDITY,
        ca=True,
        path_length=0,
        key_usage={"key_cert_sign", "crl_sign"},
    )
    root_cert_path = directory / "root.cert.pem"
    root_key_path = directory / "root.key.pem"
    _write(root_cert_path, _cert_pem(root_der))
    _write(root_key_path, root_key.to_pem(), private=True)

    seal: dict[str, SealKeyFiles] = {}
    for authority in authorities:
        key = SM2PrivateKey.generate()
        cert_der = make_sm2_certificate(
            subject={
                "C": "CN",
                "O": authority.name,
                "serialNumber": authority.credit_code,
                "CN": authority.name,
            },
            issuer_cert_der=root_der,
            issuer_key=root_key,
            public_key=key.public_key,
            serial=x509.random_serial_number(),
            not_before=now - _BACKDATE,
            not_after=now - _BACKDATE + _SEAL_VALIDITY,
            ca=False,
            key_usage={"digital_signature", "non_repudiation"},
            extended_key_usage=[_DOCUMENT_SIGNING.dotted_string, "email_protection"],
        )
        files = SealKeyFiles(
            key=directory / f"{authority.code}.key.pem",
            cert=directory / f"{authority.code}.cert.pem",
            p12=None,
        )
        _write(files.key, key.to_pem(), private=True)
        _write(files.cert, _cert_pem(cert_der))
        seal[authority.code] = files

    # an SM2 time-stamp authority (RFC 3161, id-kp-timeStamping critical) for GB/T 38540 seals
    tsa_key = SM2PrivateKey.generate()
    tsa_der = make_sm2_certificate(
        subject={"C": "CN", "O": "bdcert demo", "CN": "bdcert demo SM2 time-stamp authority"},
        issuer_cert_der=root_der,
        issuer_key=root_key,
        public_key=tsa_key.public_key,
        serial=x509.random_serial_number(),
        not_before=now - _BACKDATE,
        not_after=now - _BACKDATE + _ROOT_VALIDITY,
        ca=False,
        key_usage={"digital_signature", "non_repudiation"},
        extended_key_usage=["time_stamping"],
        extended_key_usage_critical=True,
    )
    _write(directory / SM2_TSA_KEY, tsa_key.to_pem(), private=True)
    _write(directory / SM2_TSA_CERT, _cert_pem(tsa_der))

    return DemoPki(
        directory=directory,
        root_cert=root_cert_path,
        root_key=root_key_path,
        seal=seal,
        algorithm="sm2",
    )


def _cert_pem(der: bytes) -> bytes:
    from asn1crypto import pem

    armored: bytes = pem.armor("CERTIFICATE", der)
    return armored


def issue_seal_certificate(
    public_key: ec.EllipticCurvePublicKey,
    *,
    name: str,
    credit_code: str,
    issuer_cert: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    """A seal certificate for an authority's key: subject C=CN, O and CN the authority's name,
    serialNumber its credit code (GB 32100); not a CA; digitalSignature and nonRepudiation;
    documentSigning (RFC 9336) and emailProtection (which NSS, hence pdfsig, requires);
    ``extensions`` added non-critical (the CRL distribution point and OCSP pointers)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, credit_code),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            SIGNING_KEY_USAGE,
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([_DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())
