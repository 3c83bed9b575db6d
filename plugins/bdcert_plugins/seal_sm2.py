"""SM2 seal provider: GB/T 38540 e-seals with SM2/SM3 keys in files (national cryptography).

Settings (``[seal]`` with ``plugin = "sm2"``)::

    seals = "seals"                       # the workspace's seal files (bdcert seals lists them)
    [seal.authorities."510100"]
    key = "pki/510100.key.pem"            # SM2 private key, PKCS#8 PEM
    cert = "pki/510100.cert.pem"          # the signer's SM2 certificate (in the seal's cert list)
    chain = ["pki/root.cert.pem"]
    passphrase_env = "BDCERT_SM2_PASSPHRASE"   # only for an encrypted key
    [seal.timestamp]                      # optional: an SM2 time-stamp authority's key
    key = "pki/sm2-tsa.key.pem"
    cert = "pki/sm2-tsa.cert.pem"         # extendedKeyUsage id-kp-timeStamping, critical
    chain = ["pki/root.cert.pem"]

PDF: a detached GB/T 35275 SM2/SM3 SignedData in the signature dictionary
(:mod:`bdcert.sealing.pdf_sm2`), with the seal's own picture. OFD: an ``SES_Signature`` over
``Signature.xml`` (:mod:`bdcert.sealing.ofd`). With ``[seal.timestamp]``, every seal carries an
RFC 3161 time-stamp token over its signature value (the PDF's unsigned id-aa-timeStampToken, the
OFD's ``timeStamp``), so it stays verifiable after the seal certificate expires. The authority's
current seal must be valid at the signing time (rule article 9), and so must its signing
certificate and the configured chain, at the signing time and now: a seal made with an expired
certificate could never verify, so it is refused (:class:`~bdcert.errors.SealingError`, and the
issue goes to the backlog) as the PAdES providers do.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from bdcert import pki
from bdcert.config import unknown_settings
from bdcert.errors import ConfigurationError, SealingError
from bdcert.hookspecs import hookimpl
from bdcert.model import CHINA_TZ, Authority
from bdcert.protocols import SealRequest

_AUTHORITY_KEYS = {"key", "cert", "chain", "passphrase_env"}


@attrs.define(frozen=True)
class _KeyFiles:
    key: Path
    cert: Path
    chain: tuple[Path, ...]
    passphrase_env: str | None = attrs.field(default=None, repr=False)


def _pem_to_der(data: bytes) -> bytes:
    """The first (or only) certificate of PEM or DER data, as DER."""
    return pki.certificate_ders(data)[0]


class Sm2SealProvider:
    """Seals PDFs and OFD packages with an authority's SM2 key and GB/T 38540 seal."""

    name = "sm2"

    def __init__(
        self,
        authorities: Mapping[str, _KeyFiles],
        workspace: Path,
        timestamp: _KeyFiles | None = None,
    ) -> None:
        self._files = dict(authorities)
        self._workspace = workspace
        self._timestamp = timestamp
        self._timestamper: Any = None
        self._loaded: dict[str, tuple[Any, bytes, tuple[bytes, ...]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], workspace: Path) -> Sm2SealProvider:
        problems = unknown_settings("seal", settings, {"plugin", "authorities", "timestamp"})
        files: dict[str, _KeyFiles] = {}
        timestamp: _KeyFiles | None = None

        def path(p: Any) -> Path:
            q = Path(str(p))
            return q if q.is_absolute() else workspace / q

        if "timestamp" in settings:
            spec = settings["timestamp"]
            if not isinstance(spec, Mapping):
                problems.append("timestamp must be a table")
            else:
                problems += unknown_settings("seal.timestamp", spec, _AUTHORITY_KEYS)
                if "key" not in spec or "cert" not in spec:
                    problems.append("timestamp needs key and cert")
                else:
                    timestamp = _KeyFiles(
                        key=path(spec["key"]),
                        cert=path(spec["cert"]),
                        chain=tuple(path(c) for c in spec.get("chain", [])),
                        passphrase_env=spec.get("passphrase_env"),
                    )
        for code, spec in dict(settings.get("authorities", {})).items():
            if not isinstance(spec, Mapping):
                problems.append(f"authorities.{code} must be a table")
                continue
            problems += unknown_settings(f"seal.authorities.{code}", spec, _AUTHORITY_KEYS)
            if "key" not in spec or "cert" not in spec:
                problems.append(f"authorities.{code} needs key and cert")
                continue
            files[str(code)] = _KeyFiles(
                key=path(spec["key"]),
                cert=path(spec["cert"]),
                chain=tuple(path(c) for c in spec.get("chain", [])),
                passphrase_env=spec.get("passphrase_env"),
            )
        if problems:
            raise ConfigurationError("seal.sm2: " + "; ".join(problems))
        return cls(files, workspace, timestamp)

    def _signer(self, code: str) -> tuple[Any, bytes, tuple[bytes, ...]]:
        with self._lock:
            if code in self._loaded:
                return self._loaded[code]
            files = self._files.get(code)
            if files is None:
                raise SealingError(f"the sm2 seal provider has no key for authority {code}")
            self._loaded[code] = _load(files, f"authority {code}")
            return self._loaded[code]

    def _tsa(self) -> Any:
        """The configured SM2 time-stamp authority, or None."""
        from bdcert.gm.sm2_tsp import Sm2TimeStampAuthority

        if self._timestamp is None:
            return None
        with self._lock:
            if self._timestamper is None:
                key, cert, chain = _load(self._timestamp, "the time-stamp authority")
                try:
                    self._timestamper = Sm2TimeStampAuthority(key, cert, chain)
                except ValueError as exc:
                    raise SealingError(f"seal.timestamp: {exc}") from None
            return self._timestamper

    def _seal(self, code: str, at: datetime) -> Any:
        from bdcert.gm.seals import current_seal

        return current_seal(self._workspace, code, at)

    def _usable_signer(self, code: str, at: datetime) -> tuple[Any, bytes, tuple[bytes, ...]]:
        """The authority's key, certificate and chain, each certificate valid at ``at`` (the
        signing time) and now (a seal cannot be made today with an expired key).

        :raises SealingError: naming the authority and the certificate's validity problem.
        """
        from bdcert.gm.x509 import certificate_period_problem

        key, cert, chain = self._signer(code)
        for moment in dict.fromkeys((at.astimezone(UTC), datetime.now(UTC))):
            for what, der in (
                ("signing certificate", cert),
                *(("chain certificate", c) for c in chain),
            ):
                try:
                    why = certificate_period_problem(der, moment)
                except ValueError as exc:
                    raise SealingError(
                        f"the {what} of authority {code} cannot be read: {exc}"
                    ) from None
                if why is not None:
                    raise SealingError(
                        f"the SM2 {what} of authority {code} cannot seal at {moment.isoformat()}:"
                        f" {why}; a seal made with it could never verify: give the authority a"
                        " new certificate (and a seal listing it)"
                    )
        return key, cert, chain

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        from bdcert.sealing.pdf_sm2 import seal_pdf_sm2

        at = request.signing_time or datetime.now(CHINA_TZ)
        key, cert, chain = self._usable_signer(request.authority.code, at)
        seal = self._seal(request.authority.code, at)
        return seal_pdf_sm2(
            pdf,
            signer_key=key,
            signer_cert_der=cert,
            chain_der=chain,
            seal_png=seal.picture.data,
            page=request.page,
            box=request.box,
            time=at,
            field_name=request.field_name,
            timestamper=self._tsa(),
        )

    def seal_ofd(
        self,
        package: bytes,
        *,
        authority: Authority,
        page: int,
        box_mm: tuple[float, float, float, float],
        time: datetime,
    ) -> bytes:
        """Seal an OFD package (GB/T 38540 ``SES_Signature`` over ``Signature.xml``)."""
        from bdcert.sealing.ofd import seal_ofd

        key, cert, _ = self._usable_signer(authority.code, time)
        seal = self._seal(authority.code, time)
        return seal_ofd(
            package,
            seal_der=seal.der,
            signer_key=key,
            signer_cert_der=cert,
            page=page,
            box_mm=box_mm,
            time=time,
            timestamper=self._tsa(),
        )

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        files = self._files.get(authority_code)
        if files is None:
            raise SealingError(f"the sm2 seal provider has no key for authority {authority_code}")
        return files.cert.read_bytes()

    def __repr__(self) -> str:
        stamped = ", timestamp" if self._timestamp is not None else ""
        return f"Sm2SealProvider(authorities={sorted(self._files)}{stamped})"


def _load(files: _KeyFiles, who: str) -> tuple[Any, bytes, tuple[bytes, ...]]:
    """The SM2 key, the certificate and the chain (DER) of ``files``."""
    from bdcert.gm.sm2 import SM2PrivateKey

    passphrase = None
    if files.passphrase_env:
        value = os.environ.get(files.passphrase_env)
        if value is None:
            raise SealingError(f"environment variable {files.passphrase_env} is not set")
        passphrase = value.encode()
    try:
        key = SM2PrivateKey.from_pem(files.key.read_bytes(), password=passphrase)
        cert = _pem_to_der(files.cert.read_bytes())
        chain = tuple(_pem_to_der(p.read_bytes()) for p in files.chain)
    except OSError as exc:
        raise SealingError(f"cannot read the SM2 key files of {who}: {exc}") from None
    except ValueError as exc:
        raise SealingError(f"the SM2 key of {who} cannot be loaded: {exc}") from None
    return key, cert, chain


@hookimpl
def bdcert_register_seal_providers(register: Any) -> None:
    register("sm2", Sm2SealProvider.from_settings)
