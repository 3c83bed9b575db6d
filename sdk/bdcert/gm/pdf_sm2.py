"""SM2 seals in PDF certificates: a GM/T 0010-style detached CMS in a standard signature field.

:func:`seal_pdf_sm2` applies one visible certification signature (DocMDP: no changes allowed)
whose appearance is the authority's seal picture, as :func:`bdcert.pades.seal_pdf_with_signer`
does for ECDSA/RSA, but the signature is SM2:

- ``/Filter /Adobe.PPKLite``, ``/SubFilter /adbe.pkcs7.detached``: a detached CMS
  ``SignedData`` (RFC 5652) over the ``/ByteRange`` bytes, with digestAlgorithm SM3
  (``1.2.156.10197.1.401``) and signatureAlgorithm sm2sign-with-sm3 (``1.2.156.10197.1.501``),
  signed attributes contentType (id-data), signingTime and messageDigest (SM3 of the byte
  ranges), the SM2 signature (default distinguishing ID, GM/T 0009) over DER(SET OF signed
  attributes), and the signer's certificate chain;
- ``/M`` the signing time; the ``/ByteRange`` covers the whole returned file.

Why this shape. No standard ``/SubFilter`` exists for GB/T 38540 seal signatures
(``SES_Signature``). Vendors either put a GM/T 0010 SM2 CMS in ``/Contents`` — which every PDF
tool (poppler's ``pdfsig``, pyHanko, Acrobat, qpdf) can locate, parse as CMS and byte-range
check, even when its crypto library cannot verify SM2 — or put an ``SES_Signature`` there, which
no PDF tool can parse at all: it reads as a corrupt signature everywhere and hides even the
intactness of the byte ranges. The CMS form keeps the PDF a normal signed PDF; the SM2
verification is ours (:func:`check_pdf_sm2`) or any GM/T 0010 verifier's (``openssl cms``).

pyHanko's ``PdfSigner`` cannot produce SM2 signatures, so pyHanko's low-level
:class:`~pyhanko.sign.signers.cms_embedder.PdfCMSEmbedder` writes the field, the appearance and
a signature dictionary with a reserved ``/Contents``, hashes the byte ranges with SM3, and fills
``/Contents`` in place with the CMS built here (asn1crypto).

:func:`check_pdf_sm2` returns the codes of :func:`bdcert.signatures.check_pdf_seal`, in the same
order and with the same ``/ByteRange`` and whole-file checks (its helpers are reused); the SM2
signature and the chain to the trust roots (:func:`bdcert.gm.x509.verify_sm2_chain`, at the time
of the check, as PAdES validation without a timestamp does) are checked here.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, cms, pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes

from bdcert.errors import BdcertError, ConfigurationError, SealingError
from bdcert.gm.sm2 import OID_SM2_WITH_SM3, OID_SM3, OID_SM3_ALT, SM2PrivateKey
from bdcert.gm.x509 import sm2_public_key_of, verify_sm2_chain
from bdcert.model import VerdictCode
from bdcert.signatures import (
    _BYTE_RANGE,
    SealCheck,
    _fail,
    _find_signer_cert,
    _message_digest,
    _Range,
    _raw_check,
    _signed_revision_sha256,
    _signer_problem,
    _subject,
    judge_single_seal,
)

__all__ = ["build_sm2_cms", "check_pdf_sm2", "der_certificates", "seal_pdf_sm2"]

#: sm2sign (GM/T 0006), accepted as a signatureAlgorithm when reading (some GM/T 0010 signers).
_OID_SM2_SIGN = "1.2.156.10197.1.301.1"
_SLACK = 64  # DER bytes reserved beyond the measured CMS size


# --------------------------------------------------------------------------- the CMS


def der_certificates(trust_roots: Sequence[bytes]) -> tuple[bytes, ...]:
    """Certificates (trust roots) as DER, each input PEM (one or more certificates) or DER.

    :raises ConfigurationError: an input is not a PEM or DER X.509 certificate.
    """
    out: list[bytes] = []
    for data in trust_roots:
        data = bytes(data)
        try:
            if pem.detect(data):
                ders = [der for _, _, der in pem.unarmor(data, multiple=True)]
            else:
                ders = [data]
            for der in ders:
                asn1_x509.Certificate.load(der, strict=True).native  # noqa: B018 - parse now
                out.append(der)
        except (ValueError, TypeError):
            raise ConfigurationError("a trust root is not a PEM or DER X.509 certificate") from None
    return tuple(out)


def _sm3_ranges(data: bytes, rng: _Range) -> bytes:
    a, b, c, d = rng.values
    h = hashes.Hash(hashes.SM3())
    h.update(memoryview(data)[a : a + b])
    h.update(memoryview(data)[c : c + d])
    return h.finalize()


def _signing_time(time: datetime) -> cms.Time:
    moment = time.astimezone(UTC).replace(microsecond=0)
    if moment.year < 2050:  # RFC 5652 §11.3: UTCTime through 2049
        return cms.Time(name="utc_time", value=moment)
    return cms.Time(name="generalized_time", value=moment)


def build_sm2_cms(
    digest: bytes,
    *,
    signer_key: SM2PrivateKey | None,
    signer_cert_der: bytes,
    chain_der: Sequence[bytes],
    time: datetime,
) -> bytes:
    """A detached CMS ``SignedData`` (GM/T 0010 algorithms, RFC 5652 structure) over a document
    whose SM3 digest is ``digest``.

    :param signer_key: signs DER(SET OF signed attributes) with the default ID; None writes a
        placeholder signature of the largest DER size (72 bytes), to measure the CMS.
    :raises SealingError: a certificate is not DER X.509.
    """
    try:
        cert = asn1_x509.Certificate.load(bytes(signer_cert_der), strict=True)
        others = [asn1_x509.Certificate.load(bytes(c), strict=True) for c in chain_der]
        _ = cert.issuer.native, cert.serial_number
    except (ValueError, TypeError) as exc:
        raise SealingError(f"a seal certificate is not DER X.509: {exc}") from None
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [_signing_time(time)]}),
            cms.CMSAttribute({"type": "message_digest", "values": [digest]}),
        ]
    )
    to_sign = signed_attrs.dump()  # universal SET OF, DER (asn1crypto sorts the members)
    signature = b"\x30\x46" + b"\x02\x21" + b"\x00" * 33 + b"\x02\x21" + b"\x00" * 33
    if signer_key is not None:
        signature = signer_key.sign(to_sign)
    sm3_algorithm = algos.DigestAlgorithm({"algorithm": OID_SM3})
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                name="issuer_and_serial_number",
                value=cms.IssuerAndSerialNumber(
                    {"issuer": cert.issuer, "serial_number": cert.serial_number}
                ),
            ),
            "digest_algorithm": sm3_algorithm,
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": OID_SM2_WITH_SM3}),
            "signature": signature,
        }
    )
    seen = {cert.dump()}
    certificates = [cert]
    for other in others:
        if other.dump() not in seen:
            seen.add(other.dump())
            certificates.append(other)
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [sm3_algorithm],
            "encap_content_info": {"content_type": "data"},
            "certificates": certificates,
            "signer_infos": [signer_info],
        }
    )
    out: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
    return out


# --------------------------------------------------------------------------- sealing


def seal_pdf_sm2(
    pdf: bytes,
    *,
    signer_key: SM2PrivateKey,
    signer_cert_der: bytes,
    chain_der: Sequence[bytes],
    seal_png: bytes,
    page: int,
    box: tuple[float, float, float, float],
    time: datetime,
    field_name: str = "bdcert-seal",
) -> bytes:
    """Seal ``pdf`` with one visible SM2 certification signature; return the sealed PDF.

    :param signer_key: the seal key; must belong to ``signer_cert_der``.
    :param chain_der: intermediate and root certificates (DER) embedded in the CMS.
    :param seal_png: the seal picture, drawn in ``box`` (transparency kept, multiply blending).
    :param page: zero-based page number.
    :param box: ``(x1, y1, x2, y2)`` in PDF points from the page's lower-left corner
        (:attr:`bdcert.render.RenderedCertificate.seal_box`).
    :param time: the signing time, aware: ``/M`` and the signingTime attribute.
    :raises SealingError: the PDF cannot be read, is encrypted or already signed, the page does
        not exist, the box is empty, the picture is unreadable, the key does not match the
        certificate, or ``time`` is naive.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields
    from pyhanko.sign.signers.cms_embedder import (
        PdfCMSEmbedder,
        SigAppearanceSetup,
        SigIOSetup,
        SigMDPSetup,
        SigObjSetup,
    )
    from pyhanko.sign.signers.pdf_byterange import SignatureObject

    from bdcert.sealing.pades import stamp_style

    if time.tzinfo is None or time.utcoffset() is None:
        raise SealingError("the signing time must be timezone-aware")
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        raise SealingError(f"the seal box {box!r} is empty")
    try:
        if signer_key.public_key != sm2_public_key_of(bytes(signer_cert_der)):
            raise SealingError("the seal key does not belong to the seal certificate")
    except ValueError as exc:
        raise SealingError(f"the seal certificate is not an SM2 certificate: {exc}") from None
    style = stamp_style(seal_png)
    # the placeholder's size: the CMS with the largest signature, plus slack, as hex
    reserved = 2 * (
        len(
            build_sm2_cms(
                bytes(32),
                signer_key=None,
                signer_cert_der=signer_cert_der,
                chain_der=chain_der,
                time=time,
            )
        )
        + _SLACK
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        if writer.security_handler is not None:
            raise SealingError("encrypted PDFs cannot be sealed")
        if list(writer.prev.embedded_signatures):
            raise SealingError("the PDF is already signed")
        page_count = int(writer.root["/Pages"]["/Count"])
        if not 0 <= page < page_count:
            raise SealingError(f"page {page} does not exist (the PDF has {page_count})")
        rect: Any = box  # pyHanko annotates ints; /Rect takes reals
        spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=page, box=rect)
        steps = PdfCMSEmbedder(new_field_spec=spec).write_cms(field_name=field_name, writer=writer)
        next(steps)
        steps.send(
            SigObjSetup(
                sig_placeholder=SignatureObject(
                    timestamp=time,
                    subfilter=fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
                    bytes_reserved=reserved,
                ),
                mdp_setup=SigMDPSetup(
                    md_algorithm="sm3", certify=True, docmdp_perms=fields.MDPPerm.NO_CHANGES
                ),
                appearance_setup=SigAppearanceSetup(style=style, timestamp=time, name=None),
            )
        )
        prepared, output = steps.send(SigIOSetup(md_algorithm="sm3", output=io.BytesIO()))
        contents = build_sm2_cms(
            prepared.document_digest,
            signer_key=signer_key,
            signer_cert_der=signer_cert_der,
            chain_der=chain_der,
            time=time,
        )
        steps.send(contents)
        sealed: bytes = output.getvalue()
    except BdcertError:
        raise
    except Exception as e:  # pyHanko and its parsers raise many unrelated types
        raise SealingError(f"sealing failed: {type(e).__name__}: {e}") from e
    return sealed


# --------------------------------------------------------------------------- checking


def check_pdf_sm2(pdf: bytes, *, trust_roots: Sequence[bytes]) -> SealCheck:
    """Check the one SM2 seal of a certificate PDF against ``trust_roots``.

    :param pdf: the file as received; any bytes (hostile input never raises).
    :param trust_roots: SM2 root certificates, each PEM (one or more) or DER.
    :returns: a :class:`~bdcert.signatures.SealCheck` with the codes of
        :func:`bdcert.signatures.check_pdf_seal`; a signature that is not SM2 with SM3 is
        ``SIGNATURE_INVALID``.
    :raises ConfigurationError: only if a trust root cannot be parsed.
    :raises MissingDependency: without the ``gm`` extra (SM2).
    """
    roots = der_certificates(trust_roots)
    data = bytes(pdf)
    return judge_single_seal(
        data,
        lambda sig: _check_one(data, sig, roots),
        lambda why: _raw_check_sm2(data, why),
        reraise=(BdcertError,),
    )


def _check_one(data: bytes, sig: Any, roots: tuple[bytes, ...]) -> SealCheck:
    try:
        values = tuple(int(x) for x in sig.byte_range)
    except (TypeError, ValueError):
        values = ()
    rng = _Range(values)
    signed_data, signer_info = sig.signed_data, sig.signer_info
    cert = _find_signer_cert(signed_data, signer_info)
    facts: dict[str, Any] = {
        "signer": _subject(cert) if cert is not None else None,
        "signed_at": _signing_time_of(signer_info),
        "signed_revision_sha256": _signed_revision_sha256(data, rng),
    }
    if not rng.in_bounds(len(data)):
        return _fail(
            VerdictCode.MODIFIED_AFTER_SEALING,
            "the signature's /ByteRange is not a standard range inside the file",
            **facts,
        )
    if signer_info["digest_algorithm"]["algorithm"].dotted not in (OID_SM3, OID_SM3_ALT):
        return _fail(VerdictCode.SIGNATURE_INVALID, "the seal is not an SM3/SM2 signature", **facts)
    expected = _message_digest(signer_info)
    if expected is None or _sm3_ranges(data, rng) != expected:
        return _fail(
            VerdictCode.DIGEST_MISMATCH,
            "bytes inside the signed range were changed: the SM3 digest does not match the seal",
            **facts,
        )
    problem = rng.problem(data, bytes(sig.pkcs7_content))
    if problem is not None:
        return _fail(VerdictCode.MODIFIED_AFTER_SEALING, problem, **facts)
    why = _signature_problem(signer_info, cert)
    if why is not None:
        return _fail(VerdictCode.SIGNATURE_INVALID, why, **facts)
    intermediates = [
        c.chosen.dump()
        for c in signed_data["certificates"] or ()
        if c.name == "certificate" and c.chosen.dump() != cert.dump()
    ]
    untrusted = verify_sm2_chain(
        cert.dump(), roots, datetime.now(UTC), intermediates_der=intermediates
    )
    if untrusted is not None:
        return _fail(
            VerdictCode.UNTRUSTED_SIGNER,
            f"the signer's certificate does not chain to a configured trust root ({untrusted})",
            **facts,
        )
    unfit = _signer_problem(cert)
    if unfit is not None:
        return _fail(VerdictCode.UNTRUSTED_SIGNER, unfit, **facts)
    return SealCheck(
        code=VerdictCode.VALID,
        trusted=True,
        detail="one intact SM2 seal covering the whole file, signed by a trusted certificate",
        **facts,
    )


def _signature_problem(signer_info: Any, cert: Any) -> str | None:
    """Why the SM2 signature over the signed attributes does not verify, or None."""
    if cert is None:
        return "the signer's certificate is not in the signature"
    algorithm = signer_info["signature_algorithm"]["algorithm"].dotted
    if algorithm not in (OID_SM2_WITH_SM3, _OID_SM2_SIGN):
        return f"the signature algorithm {algorithm} is not SM2 with SM3"
    attrs = signer_info["signed_attrs"]
    if attrs.native is None:
        return "the signature has no signed attributes"
    kinds = {a["type"].native: a["values"] for a in attrs}
    if "content_type" not in kinds or kinds["content_type"][0].native != "data":
        return "the signed contentType is not id-data"
    try:
        public = sm2_public_key_of(cert.dump())
    except ValueError as exc:
        return f"the signer's certificate holds no SM2 key: {exc}"
    signed = b"\x31" + attrs.dump()[1:]  # [0] IMPLICIT as signed: universal SET OF
    if not public.verify(bytes(signer_info["signature"].native), signed):
        return "the SM2 signature does not verify against the signer's certificate"
    return None


def _signing_time_of(signer_info: Any) -> datetime | None:
    try:
        for attr in signer_info["signed_attrs"]:
            if attr["type"].native == "signing_time":
                value = attr["values"][0].native
                return value if isinstance(value, datetime) else None
    except Exception:
        return None
    return None


def _raw_check_sm2(data: bytes, why: str) -> SealCheck:
    """:func:`bdcert.signatures._raw_check`, with the digest of an SM3 signature computed here
    (that function names digests for :mod:`hashlib`, which has no name for the SM3 OID)."""
    result = _raw_check(data, why)
    if result.code is not VerdictCode.DIGEST_MISMATCH:
        return result
    ranges = {m.groups() for m in _BYTE_RANGE.finditer(data)}
    rng = _Range(tuple(int(x) for x in next(iter(ranges))))
    inner = rng.gap(data)
    if inner is None:
        return result
    try:
        content = cms.ContentInfo.load(bytes.fromhex(inner.decode("ascii")), strict=False)
        signer_info = content["content"]["signer_infos"][0]
        sm3_signed = signer_info["digest_algorithm"]["algorithm"].dotted in (OID_SM3, OID_SM3_ALT)
        intact = sm3_signed and _message_digest(signer_info) == _sm3_ranges(data, rng)
    except Exception:
        intact = False
    if not intact:
        return result
    facts: dict[str, Any] = {
        "signer": result.signer,
        "signed_revision_sha256": result.signed_revision_sha256,
    }
    problem = rng.problem(data, None)
    if problem is not None:
        return _fail(VerdictCode.MODIFIED_AFTER_SEALING, problem, **facts)
    if not why:
        return _fail(
            VerdictCode.UNSEALED,
            "the file holds an intact signature value that no signature field refers to",
            **facts,
        )
    return _fail(
        VerdictCode.NOT_PDF,
        f"the signed bytes are intact but the PDF structure cannot be read: {why}",
        **facts,
    )
