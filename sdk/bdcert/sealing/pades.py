"""PAdES sealing of certificate PDFs with pyHanko (ETSI EN 319 142-1, baselines B-B to B-LTA).

:func:`seal_pdf_with_signer` applies one visible certification signature (DocMDP: no changes
allowed) whose appearance is the authority's seal picture, and, as the
:class:`~bdcert.sealing.evidence.Evidence` asks, an RFC 3161 signature timestamp (B-T), the
validation data of the seal and of the timestamp in the DSS (B-LT) and a document timestamp
(B-LTA). Seal providers load a :class:`pyhanko.sign.signers.Signer` once
(:func:`load_software_signer`, :func:`load_pkcs12_signer`) and call it for every certificate.

The network is touched only as the evidence settings say (an HTTP timestamp authority,
revocation fetching). At B-B and B-T a seal is one incremental update whose ``/ByteRange``
covers the whole file; at B-LT and B-LTA the DSS (and the document timestamp) follow it, which
ISO 32000-2 §12.8.2.2 allows even under DocMDP permission 1.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import io
import weakref
import zlib
from collections.abc import Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import attrs
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import PdfContent, ResourceType
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, TimestampDSSContentSettings
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from bdcert import pki
from bdcert.errors import BdcertError, SealingError
from bdcert.model import CHINA_TZ
from bdcert.protocols import SealRequest
from bdcert.sealing.evidence import Evidence

__all__ = [
    "certificate_pem",
    "check_not_revoked",
    "load_certificates",
    "load_pkcs12_signer",
    "load_software_signer",
    "run_sync",
    "seal_pdf_with_signer",
    "stamp_style",
]

# asn1crypto turns CMS attribute names into OIDs through a reverse map it builds once, the first
# time any attribute type is made or parsed. Names registered by modules imported later
# (asn1crypto.tsp and .pdf, pyHanko's CAdES attributes: all loaded with pyHanko) are then missing
# from it. Whatever touched a CMS before pyHanko was imported (an SM2 seal, a verification, an
# embedding application) froze it without ``signing_certificate_v2``, and every PAdES seal of the
# process failed ("invalid literal for int() … 'signing_certificate_v2'"). Every PAdES seal goes
# through this module, imported after pyHanko: complete a reverse map built too early here.
_reverse = cms.CMSAttributeType._reverse_map
if _reverse is not None:
    for _dotted, _name in cms.CMSAttributeType._map.items():
        _reverse.setdefault(_name, _dotted)

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a pyHanko coroutine to completion, also from inside a running event loop.

    pyHanko's own synchronous wrappers call :func:`asyncio.run`, which fails under an async web
    framework; there the coroutine runs on a worker thread with its own loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


# --------------------------------------------------------------------------- signers


def _read(path: Path | str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise SealingError(f"cannot read the {what} {str(path)!r}: {e.strerror}") from None


def load_certificates(data: bytes, what: str) -> list[x509.Certificate]:
    """The X.509 certificates of PEM data (one or more blocks) or of one DER certificate.

    :param what: names the data in the error, e.g. ``"seal certificate"``.
    :raises SealingError: if it is neither.
    """
    try:
        return pki.load_certificates(data)
    except ValueError:
        raise SealingError(f"the {what} {pki.NOT_A_CERTIFICATE}") from None


def _make_signer(
    key: Any, cert: x509.Certificate, others: Sequence[x509.Certificate]
) -> signers.SimpleSigner:
    registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]
    chain = [translate_pyca_cryptography_cert_to_asn1(c) for c in others]
    signing_cert = translate_pyca_cryptography_cert_to_asn1(cert)
    for c in (signing_cert, *chain):
        # asn1crypto fills its parsed-name caches lazily and in place; fill them now, so threads
        # sharing this signer never race on them (seen as KeyError: 'organization_name').
        _ = c.subject.native, c.issuer.native, c.native
    registry.register_multiple(chain)
    return signers.SimpleSigner(
        signing_cert=signing_cert,
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        cert_registry=registry,
    )


def load_software_signer(
    key_pem_path: Path | str,
    cert_pem_path: Path | str,
    chain_paths: Sequence[Path | str] = (),
    passphrase: bytes | None = None,
) -> signers.SimpleSigner:
    """Load a signer from a private key file and certificate files (PEM or DER).

    :param key_pem_path: PKCS#8 or traditional private key, encrypted if ``passphrase`` is given.
    :param cert_pem_path: the seal certificate.
    :param chain_paths: intermediate and root certificates, embedded in each signature.
    :raises SealingError: if a file is unreadable, the key does not decrypt, or the key does not
        belong to the certificate. The message never contains the passphrase.
    """
    key_data = _read(key_pem_path, "seal key")
    try:
        if b"-----BEGIN" in key_data:
            key = serialization.load_pem_private_key(key_data, passphrase)
        else:
            key = serialization.load_der_private_key(key_data, passphrase)
    except (ValueError, TypeError) as e:
        # cryptography's messages name the problem (bad decrypt, wrong format), never the secret
        raise SealingError(f"cannot load the seal key {str(key_pem_path)!r}: {e}") from None
    cert = load_certificates(_read(cert_pem_path, "seal certificate"), "seal certificate")[0]
    chain = [
        c
        for p in chain_paths
        for c in load_certificates(_read(p, "certificate chain file"), f"chain file {str(p)!r}")
    ]
    _check_key_matches(key, cert, str(cert_pem_path))
    return _make_signer(key, cert, chain)


def load_pkcs12_signer(
    p12_path: Path | str,
    passphrase: bytes | None,
    chain_paths: Sequence[Path | str] = (),
) -> signers.SimpleSigner:
    """Load a signer from a PKCS#12 bundle (key, seal certificate, optional chain).

    :raises SealingError: if the file is unreadable, the passphrase is wrong or the bundle holds no
        key or certificate. The message never contains the passphrase.
    """
    data = _read(p12_path, "PKCS#12 bundle")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, passphrase)
    except (ValueError, TypeError):
        raise SealingError(
            f"cannot open the PKCS#12 bundle {str(p12_path)!r} (wrong passphrase or not PKCS#12)"
        ) from None
    if key is None or cert is None:
        raise SealingError(f"the PKCS#12 bundle {str(p12_path)!r} lacks a key or a certificate")
    chain = list(extra) + [
        c
        for p in chain_paths
        for c in load_certificates(_read(p, "certificate chain file"), f"chain file {str(p)!r}")
    ]
    _check_key_matches(key, cert, str(p12_path))
    return _make_signer(key, cert, chain)


def _check_key_matches(key: Any, cert: x509.Certificate, where: str) -> None:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        raise SealingError(f"the seal key does not belong to the certificate of {where!r}")


def certificate_pem(signer: signers.Signer) -> bytes:
    """The PEM of a signer's certificate."""
    cert: asn1_x509.Certificate = signer.signing_cert
    return x509.load_der_x509_certificate(cert.dump()).public_bytes(serialization.Encoding.PEM)


# --------------------------------------------------------------------------- appearance


@attrs.define(frozen=True)
class _Picture:
    """A seal picture decoded once and flate-encoded for PDF: colour samples and alpha mask."""

    width: int
    height: int
    colour_space: str  # /DeviceRGB or /DeviceGray
    samples: bytes = attrs.field(repr=False)
    alpha: bytes | None = attrs.field(repr=False)


@functools.lru_cache(maxsize=16)
def _picture(png: bytes) -> _Picture:
    """Decode and compress a seal picture; cached because every seal of an authority reuses it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(png)) as img:
            img.load()
            has_alpha = "A" in img.getbands() or "transparency" in img.info
            grey = img.mode in {"1", "L", "LA", "I", "I;16", "F"}
            converted = img.convert(
                ("LA" if grey else "RGBA") if has_alpha else ("L" if grey else "RGB")
            )
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise SealingError(f"the seal picture is not a readable image: {e}") from None
    alpha = None
    if has_alpha:
        alpha = zlib.compress(converted.getchannel("A").tobytes(), 6)
        converted = converted.convert("L" if grey else "RGB")
    return _Picture(
        width=converted.width,
        height=converted.height,
        colour_space="/DeviceGray" if grey else "/DeviceRGB",
        samples=zlib.compress(converted.tobytes(), 6),
        alpha=alpha,
    )


def _number(n: int) -> Any:
    return generic.NumberObject(n)  # type: ignore[no-untyped-call]


class _SealPicture(PdfContent):
    """The seal picture as pyHanko content: an image XObject with a soft mask, no recompression."""

    def __init__(self, picture: _Picture) -> None:
        super().__init__(box=layout.BoxConstraints(picture.width, picture.height))
        self._picture = picture

    def _image(self, samples: bytes, colour_space: str, smask: Any = None) -> Any:
        pic = self._picture
        d = generic.DictionaryObject(  # type: ignore[no-untyped-call]
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): _number(pic.width),
                pdf_name("/Height"): _number(pic.height),
                pdf_name("/ColorSpace"): pdf_name(colour_space),
                pdf_name("/BitsPerComponent"): _number(8),
                pdf_name("/Filter"): pdf_name("/FlateDecode"),
            }
        )
        if smask is not None:
            d[pdf_name("/SMask")] = smask
        return self._ensure_writer.add_object(generic.StreamObject(d, encoded_data=samples))

    def render(self) -> bytes:
        pic = self._picture
        smask = None if pic.alpha is None else self._image(pic.alpha, "/DeviceGray")
        ref = self._image(pic.samples, pic.colour_space, smask)
        self.set_resource(category=ResourceType.XOBJECT, name=pdf_name("/Seal"), value=ref)
        # Ink, not paint: multiply blending keeps the printed authority name and date readable
        # through the red seal, as on a stamped paper certificate.
        ink = generic.DictionaryObject({pdf_name("/BM"): pdf_name("/Multiply")})  # type: ignore[no-untyped-call]
        self.set_resource(category=ResourceType.EXT_G_STATE, name=pdf_name("/Ink"), value=ink)
        return b"q /Ink gs %g 0 0 %g 0 0 cm /Seal Do Q" % (self.box.width, self.box.height)


def stamp_style(png: bytes) -> StaticStampStyle:
    """The appearance of a visible seal: the seal picture ``png`` (PNG bytes, transparency kept)
    fitted into the signature box keeping its proportions, multiply-blended, no border, no text.

    Shared by PAdES seals and SM2 PDF seals (:mod:`bdcert.sealing.pdf_sm2`).

    :raises SealingError: if the picture is not a readable image.
    """
    return StaticStampStyle(
        border_width=0,
        background=_SealPicture(_picture(png)),
        background_opacity=1.0,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MID,
            y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins(),
            inner_content_scaling=layout.InnerScaling.STRETCH_TO_FIT,
        ),
    )


# --------------------------------------------------------------------------- sealing


#: Bytes to reserve for /Contents, per signer and timestamping: pyHanko estimates it with a
#: dry-run signature (a whole CMS build, about as costly as the real one); the size depends only
#: on the signer's certificates, the (fixed) attributes and the timestamp token, so it is
#: estimated once per signer, with and without a timestamp.
_RESERVED: weakref.WeakKeyDictionary[Any, dict[bool, int]] = weakref.WeakKeyDictionary()
_SLACK = 128  # bytes of DER


class _PdfSigner(signers.PdfSigner):
    """pyHanko's PdfSigner with the signing time chosen by the caller (``/M``), remembering
    the signature size estimate of its signer."""

    def __init__(self, *args: Any, signing_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time
        self._stamped = kwargs.get("timestamper") is not None

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session: Any = super().init_signing_session(
            pdf_out, existing_fields_only=existing_fields_only
        )
        session.system_time = self._signing_time
        estimate = session.estimate_signature_container_size
        signer, stamped = self.signer, self._stamped

        async def remembered(validation_info: Any, tight: bool = False) -> int:
            # the exact size of a dry-run container plus room for a longer signature value
            # (DER ECDSA varies by a few bytes), as hex: smaller than pyHanko's +50 % margin
            size = int(await estimate(validation_info, tight=True)) + 2 * _SLACK
            with contextlib.suppress(TypeError):  # a signer class without weakref support
                _RESERVED.setdefault(signer, {})[stamped] = size
            return size

        session.estimate_signature_container_size = remembered
        return session


def _reserved_for(signer: Any, stamped: bool) -> int | None:
    try:
        return _RESERVED.get(signer, {}).get(stamped)
    except TypeError:
        return None


def seal_pdf_with_signer(
    pdf: bytes,
    request: SealRequest,
    signer: signers.Signer,
    evidence: Evidence | None = None,
) -> bytes:
    """Seal ``pdf`` with one visible PAdES certification signature; return the sealed PDF.

    The signature field ``request.field_name`` is created on ``request.page`` at ``request.box``
    (PDF points from the lower-left corner) with ``request.appearance_png`` as its appearance,
    fitted into the box keeping its proportions, transparency kept, no border and no text.
    The signature is ``/SubFilter /ETSI.CAdES.detached``, SHA-256, ``/M`` =
    ``request.signing_time`` (default: now, China time), with the request's reason and location.
    It is a certification signature with DocMDP permission 1 (no changes allowed), so any later
    incremental update other than validation data and document timestamps (ISO 32000-2
    §12.8.2.2.2) is a violation a validator reports.

    ``evidence`` (default: B-B, nothing else) chooses the PAdES baseline level (ETSI EN 319
    142-1): B-T adds the timestamp authority's RFC 3161 signature timestamp; B-LT the DSS with
    the certificates and the CRLs/OCSP responses of the seal and of the timestamp; B-LTA a
    document timestamp over everything, with its own validation data in the DSS. At B-B and B-T
    the seal's ``/ByteRange`` covers the whole returned file; at B-LTA the document timestamp's
    does. With a revocation source configured the seal certificate is checked first (any level).

    :raises SealingError: if the PDF cannot be read or already holds a signature, the page does
        not exist, the picture is unreadable, the signing time is naive, the seal certificate
        is revoked (or its status or chain cannot be established), the timestamp authority
        fails, or the signer fails.
    """
    evidence = evidence or Evidence()
    signing_time = request.signing_time or datetime.now(CHINA_TZ)
    if signing_time.tzinfo is None or signing_time.utcoffset() is None:
        raise SealingError("signing_time must be timezone-aware")
    x1, y1, x2, y2 = request.box
    if not (x2 > x1 and y2 > y1):
        raise SealingError(f"the seal box {request.box!r} is empty")
    style = stamp_style(request.appearance_png)
    context = evidence.validation_context() if evidence.checks_revocation else None
    timestamper = evidence.timestamper if evidence.timestamped else None
    meta = signers.PdfSignatureMetadata(
        field_name=request.field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=request.reason or None,
        location=request.location or None,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        embed_validation_info=evidence.long_term,
        use_pades_lta=evidence.archival,
        timestamp_field_name=f"{request.field_name}-archive" if evidence.archival else None,
        validation_context=context if evidence.long_term else None,
        # the document timestamp's own validation data goes in before it (the same TSA as the
        # signature timestamp's: usually nothing new), so at B-LTA it covers the whole file
        dss_settings=DSSContentSettings(
            include_vri=False,
            next_ts_settings=TimestampDSSContentSettings(include_vri=False, update_before_ts=True),
        ),
    )
    box: Any = request.box  # pyHanko annotates ints; /Rect takes reals
    field_spec = fields.SigFieldSpec(
        sig_field_name=request.field_name, on_page=request.page, box=box
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        if writer.security_handler is not None:
            raise SealingError("encrypted PDFs cannot be sealed")
        page_count = int(writer.root["/Pages"]["/Count"])
        if not 0 <= request.page < page_count:
            raise SealingError(f"page {request.page} does not exist (the PDF has {page_count})")
        pdf_signer = _PdfSigner(
            meta,
            signer,
            stamp_style=style,
            new_field_spec=field_spec,
            signing_time=signing_time,
            timestamper=timestamper,
        )
        out = io.BytesIO()

        async def seal() -> None:
            # one event loop for the revocation check and the signature: the context's
            # fetchers (revocation fetching) live in it and are closed at its end
            try:
                if context is not None:
                    await _check_not_revoked(signer, context, request.authority.code)
                await pdf_signer.async_sign_pdf(
                    writer,
                    output=out,
                    bytes_reserved=_reserved_for(signer, timestamper is not None),
                )
            finally:
                if context is not None:
                    await context.aclose()

        run_sync(seal())
    except BdcertError:
        raise
    except Exception as e:  # pyHanko and its parsers raise many unrelated types
        raise SealingError(f"sealing failed: {type(e).__name__}: {e}") from e
    return out.getvalue()


def check_not_revoked(signer: signers.Signer, context: Any, authority_code: str) -> None:
    """Validate the seal certificate's chain and revocation status with ``context`` (a pyHanko
    validation context: trust roots, CRLs/OCSP, time) before it seals anything.

    :raises SealingError: the certificate is revoked (saying since when), or its chain or
        status cannot be established.
    """
    run_sync(_check_not_revoked(signer, context, authority_code))


async def _check_not_revoked(signer: signers.Signer, context: Any, authority_code: str) -> None:
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator.errors import RevokedError

    cert = signer.signing_cert
    if cert is None:
        raise SealingError(f"the signer of authority {authority_code} has no seal certificate")
    others = list(signer.cert_registry or ())
    validator = CertificateValidator(cert, intermediate_certs=others, validation_context=context)
    try:
        await validator.async_validate_usage(set())  # type: ignore[no-untyped-call]
    except RevokedError as e:
        raise SealingError(
            f"the seal certificate of authority {authority_code} is revoked: {e};"
            " it cannot seal (ask the e-seal platform for a new one)"
        ) from None
    except Exception as e:
        raise SealingError(
            f"the seal certificate of authority {authority_code} cannot be validated"
            f" (chain or revocation status): {type(e).__name__}: {e}"
        ) from None
