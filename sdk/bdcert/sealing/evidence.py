"""What a PAdES seal carries besides its signature, so it stays verifiable for decades.

A property certificate lives for decades, its seal certificate for a few years. ETSI EN 319
142-1 (PAdES baseline) names four levels, each adding to the one before:

- ``B-B``: the CAdES signature alone (valid only while the seal certificate is);
- ``B-T``: plus an RFC 3161 signature timestamp (an unsigned ``signature-time-stamp``
  attribute, RFC 3161 / ETSI EN 319 122-1 §5.3), proof the seal existed before that time;
- ``B-LT``: plus the validation data of the seal and of the timestamp (certificates, CRLs,
  OCSP responses) in the document security store (DSS, ISO 32000-2 §12.8.4.3);
- ``B-LTA``: plus a document timestamp (``/DocTimeStamp``, ISO 32000-2 §12.8.5) over all of it,
  with its own validation data; the re-timestamping job adds a new one before the newest
  timestamp authority certificate expires.

The workspace chooses (``bdcert.toml``)::

    [seal]
    level = "B-LTA"                        # B-B, B-T, B-LT or B-LTA (the default)

    [timestamp]                            # needed from B-T up: an RFC 3161 service ...
    url = "https://tsa.example.gov.cn/tsr"
    timeout = 10                           # seconds
    # ... or a timestamp authority in-process (the demo PKI's, tests):
    # key = "pki/tsa.key.pem"
    # cert = "pki/tsa.cert.pem"
    # chain = ["pki/root.cert.pem"]

    [revocation]                           # where CRLs and OCSP responses come from
    fetch = true                           # from the certificates' CRL and OCSP URLs
    crls = ["pki/root.crl"]                # CRL files (DER or PEM), read at each seal

With a revocation source, the seal certificate is checked before every seal (a revoked one is
refused, :class:`~bdcert.errors.SealingError`), at any level.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from bdcert import pki
from bdcert.config import check_settings
from bdcert.errors import ConfigurationError, SealingError

__all__ = [
    "DEFAULT_LEVEL",
    "LEVELS",
    "LOCAL_TSA_POLICY",
    "Evidence",
    "TimestampAuthority",
    "local_timestamper",
]

#: The TSA policy of bdcert's in-process timestamp authority (an OID of the ``2.999`` example
#: arc, ITU-T X.660: a demonstration policy, never a production one).
LOCAL_TSA_POLICY = "2.999.3161.1"


def local_timestamper(key: Any, cert: Any, chain: Sequence[Any] = ()) -> Any:
    """An in-process RFC 3161 timestamp authority as a pyHanko ``TimeStamper``: it signs each
    ``TSTInfo`` (policy :data:`LOCAL_TSA_POLICY`, the request's nonce echoed, genTime now) with
    ``key`` (a pyca ECDSA P-256 or RSA private key) as the TSA of ``cert`` (pyca certificate,
    extended key usage id-kp-timeStamping), embedding ``cert`` and ``chain``.

    For the demo PKI and tests; a deployment uses an accredited TSA over HTTP (``[timestamp]
    url``).
    """
    from asn1crypto import algos, cms, core, tsp
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from pyhanko.keys.internal import (
        translate_pyca_cryptography_cert_to_asn1,
        translate_pyca_cryptography_key_to_asn1,
    )
    from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
    from pyhanko.sign.timestamps import DummyTimeStamper
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    class LocalTimeStamper(DummyTimeStamper):
        def _build_tst_info(self, message_imprint: Any, dt: Any, req: Any) -> Any:
            info = super()._build_tst_info(message_imprint, dt, req)
            info["policy"] = tsp.ObjectIdentifier(LOCAL_TSA_POLICY)
            return info

        def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt: Any) -> Any:
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                return super()._sign_tst_info(tst_info_data, md_algorithm, dt)
            # pyHanko's dummy TSA signs RSA only: the same attributes (ESS signing-certificate
            # v2, RFC 5816), signed ECDSA
            algorithm = getattr(hashes, md_algorithm.upper())()
            digest = hashes.Hash(algorithm)
            digest.update(tst_info_data)
            attrs_ = cms.CMSAttributes(
                [
                    simple_cms_attribute("content_type", "tst_info"),  # type: ignore[no-untyped-call]
                    simple_cms_attribute(  # type: ignore[no-untyped-call]
                        "signing_time", cms.Time({"utc_time": core.UTCTime(dt)})
                    ),
                    simple_cms_attribute(  # type: ignore[no-untyped-call]
                        "signing_certificate_v2", as_signing_certificate_v2(self.tsa_cert)
                    ),
                    simple_cms_attribute(  # type: ignore[no-untyped-call]
                        "message_digest", digest.finalize()
                    ),
                ]
            )
            return key.sign(attrs_.dump(), ec.ECDSA(algorithm)), attrs_

        def _build_signed_data(self, *args: Any) -> Any:
            data = super()._build_signed_data(*args)
            if isinstance(key, ec.EllipticCurvePrivateKey):
                md = args[1]
                data["signer_infos"][0]["signature_algorithm"] = algos.SignedDigestAlgorithm(
                    {"algorithm": f"{md}_ecdsa"}
                )
            return data

    return LocalTimeStamper(
        tsa_cert=translate_pyca_cryptography_cert_to_asn1(cert),
        tsa_key=translate_pyca_cryptography_key_to_asn1(key),
        certs_to_embed=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [translate_pyca_cryptography_cert_to_asn1(c) for c in chain]
        ),
    )


#: The PAdES baseline levels, lowest first (ETSI EN 319 142-1 §6).
LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
#: The level of a workspace that names none: the long-term one.
DEFAULT_LEVEL = "B-LTA"

_TIMESTAMP_KEYS = frozenset({"url", "timeout", "key", "cert", "chain"})
_REVOCATION_KEYS = frozenset({"fetch", "crls"})


def _parse_roots(trust_roots: Sequence[bytes]) -> list[Any]:
    from asn1crypto import x509 as asn1_x509

    out = []
    for data in trust_roots:
        try:
            ders = pki.certificate_ders(bytes(data))
        except ValueError:
            raise ConfigurationError(f"a trust root {pki.NOT_A_CERTIFICATE}") from None
        for der in ders:
            cert = asn1_x509.Certificate.load(der)
            try:  # an SM2 root anchors only GB/T 38540 seals
                from cryptography import x509

                x509.load_der_x509_certificate(der).public_key()
            except Exception:
                continue
            out.append(cert)
    return out


@attrs.define(frozen=True, slots=False)
class TimestampAuthority:
    """Where RFC 3161 timestamps come from: an HTTP service (``url``, ``timeout`` seconds) or an
    in-process TSA (``key``, ``cert``, ``chain`` files: the demo PKI's, tests)."""

    url: str | None = None
    timeout: float = 10.0
    key: Path | None = None
    cert: Path | None = None
    chain: tuple[Path, ...] = ()

    @functools.cached_property
    def timestamper(self) -> Any:
        """The pyHanko ``TimeStamper`` (made once). :raises SealingError: unreadable files."""
        if self.url is not None:
            from pyhanko.sign.timestamps import HTTPTimeStamper

            return HTTPTimeStamper(self.url, timeout=self.timeout)
        from cryptography.hazmat.primitives import serialization

        assert self.key is not None and self.cert is not None
        try:
            tsa_key = serialization.load_pem_private_key(self.key.read_bytes(), None)
            tsa_cert = pki.load_certificates(self.cert.read_bytes())[0]
            others = [c for p in self.chain for c in pki.load_certificates(p.read_bytes())]
        except (OSError, ValueError, TypeError) as e:
            raise SealingError(
                f"cannot load the timestamp authority's key or certificates: {e}"
            ) from None
        return local_timestamper(tsa_key, tsa_cert, others)


@attrs.define(frozen=True)
class Evidence:
    """A workspace's long-term validation settings (see the module docstring).

    :ivar level: one of :data:`LEVELS`.
    :ivar tsa: the timestamp authority, None when none is configured.
    :ivar crl_files: CRL files (DER or PEM), read at each seal.
    :ivar fetch: whether revocation data is fetched from the certificates' URLs.
    :ivar trust_roots: the roots the seal and timestamp certificates must chain to (PEM/DER).
    """

    level: str = "B-B"
    tsa: TimestampAuthority | None = None
    crl_files: tuple[Path, ...] = ()
    fetch: bool = False
    trust_roots: tuple[bytes, ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ConfigurationError(
                f"seal.level must be one of {', '.join(LEVELS)}, not {self.level!r}"
            )
        if self.level != "B-B" and self.tsa is None:
            raise ConfigurationError(
                f"seal.level {self.level} needs a timestamp authority: configure [timestamp]"
                ' url (an RFC 3161 service) or key and cert, or set seal.level = "B-B"'
            )
        if self.level in ("B-LT", "B-LTA") and not (self.crl_files or self.fetch):
            raise ConfigurationError(
                f"seal.level {self.level} embeds revocation data: configure [revocation]"
                " crls or fetch = true"
            )

    @property
    def timestamper(self) -> Any:
        """The pyHanko ``TimeStamper`` of the TSA (None without one).

        :raises SealingError: if the in-process TSA's files cannot be read."""
        return None if self.tsa is None else self.tsa.timestamper

    @property
    def timestamped(self) -> bool:
        """Whether seals get a signature timestamp (B-T and up)."""
        return self.level != "B-B"

    @property
    def long_term(self) -> bool:
        """Whether seals embed validation data in the DSS (B-LT and up)."""
        return self.level in ("B-LT", "B-LTA")

    @property
    def archival(self) -> bool:
        """Whether seals end with a document timestamp (B-LTA)."""
        return self.level == "B-LTA"

    @property
    def checks_revocation(self) -> bool:
        """Whether a revocation source is configured (the seal certificate is checked)."""
        return bool(self.crl_files) or self.fetch

    def crls(self) -> list[bytes]:
        """The configured CRLs, DER. :raises SealingError: if a file is unreadable."""
        out = []
        for path in self.crl_files:
            try:
                data = path.read_bytes()
            except OSError as e:
                raise SealingError(f"cannot read the CRL {str(path)!r}: {e.strerror}") from None
            if data.lstrip().startswith(b"-----BEGIN"):
                from asn1crypto import pem

                _, _, data = pem.unarmor(data)
            out.append(data)
        return out

    def validation_context(self, moment: datetime | None = None) -> Any:
        """A pyHanko validation context: the trust roots, the configured CRLs, fetching if
        configured, revocation data required for every certificate (one whose status cannot be
        established is not used), at ``moment`` (default now)."""
        from pyhanko_certvalidator import ValidationContext

        return ValidationContext(
            trust_roots=_parse_roots(self.trust_roots),
            crls=self.crls(),
            allow_fetching=self.fetch,
            # "require": every certificate needs revocation data, also one that names no CRL
            # distribution point or OCSP responder ("hard-fail" would skip those)
            revocation_mode="require",
            moment=moment,
        )

    @classmethod
    def from_settings(
        cls,
        level: Any,
        timestamp: Mapping[str, Any],
        revocation: Mapping[str, Any],
        workspace: Path,
        trust_roots: Sequence[bytes] = (),
    ) -> Evidence:
        """Build from ``[seal] level`` (None: :data:`DEFAULT_LEVEL`), the ``[timestamp]`` and
        ``[revocation]`` tables (see the module docstring); paths relative to ``workspace``.

        :raises ConfigurationError: naming every bad setting; a level that needs a timestamp
            authority (or revocation data) none of which is configured.
        """
        bad = []
        level = DEFAULT_LEVEL if level is None else level
        if level not in LEVELS:
            bad.append(f"seal.level must be one of {', '.join(LEVELS)}, not {level!r}")
        try:
            check_settings("timestamp", timestamp, _TIMESTAMP_KEYS)
        except ConfigurationError as e:
            bad.append(str(e))
        try:
            check_settings("revocation", revocation, _REVOCATION_KEYS)
        except ConfigurationError as e:
            bad.append(str(e))

        def path(table: str, value: Any) -> Path | None:
            if not isinstance(value, str) or not value:
                bad.append(f"{table} must be a path, not {value!r}")
                return None
            p = Path(value)
            return p if p.is_absolute() else workspace / p

        crls_value = revocation.get("crls", [])
        if not isinstance(crls_value, list):
            bad.append(f"revocation.crls must be a list of paths, not {crls_value!r}")
            crls_value = []
        crl_files = [path("revocation.crls", c) for c in crls_value]
        fetch = revocation.get("fetch", not crl_files)
        if not isinstance(fetch, bool):
            bad.append(f"revocation.fetch must be true or false, not {fetch!r}")
        tsa = None
        if timestamp:
            try:
                tsa = _tsa(timestamp, path)
            except ConfigurationError as e:
                bad.append(str(e))
        if bad:
            raise ConfigurationError("; ".join(bad))
        return cls(
            level=str(level),
            tsa=tsa,
            crl_files=tuple(p for p in crl_files if p is not None),
            fetch=bool(fetch),
            trust_roots=tuple(bytes(r) for r in trust_roots),
        )


def _tsa(table: Mapping[str, Any], path: Any) -> TimestampAuthority:
    """The timestamp authority of a ``[timestamp]`` table: an HTTP service or in-process."""
    url, key, cert = table.get("url"), table.get("key"), table.get("cert")
    if url is not None and (key is not None or cert is not None):
        raise ConfigurationError("[timestamp]: give either url, or key and cert, not both")
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"timestamp.url must be an http(s) URL, not {url!r}")
        timeout = table.get("timeout", 10)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ConfigurationError(f"timestamp.timeout must be seconds > 0, not {timeout!r}")
        return TimestampAuthority(url=url, timeout=float(timeout))
    if key is None or cert is None:
        raise ConfigurationError("[timestamp] needs url, or key and cert (an in-process TSA)")
    chain = table.get("chain", [])
    if not isinstance(chain, list):
        raise ConfigurationError(f"timestamp.chain must be a list of paths, not {chain!r}")
    key_path, cert_path = path("timestamp.key", key), path("timestamp.cert", cert)
    chain_paths = [path("timestamp.chain", c) for c in chain]
    if key_path is None or cert_path is None or None in chain_paths:
        raise ConfigurationError("[timestamp]: key, cert and chain must be paths")
    return TimestampAuthority(
        key=key_path, cert=cert_path, chain=tuple(p for p in chain_paths if p is not None)
    )
