"""SM2 seals in PDF certificates: a GB/T 35275 (GM/T 0010) detached SignedData in a standard
signature field.

:func:`seal_pdf_sm2` applies one visible certification signature (DocMDP: no changes allowed)
whose appearance is the authority's seal picture, as :func:`bdcert.sealing.pades.seal_pdf_with_signer`
does for ECDSA/RSA, but the signature is SM2:

- ``/Filter /Adobe.PPKLite``, ``/SubFilter /adbe.pkcs7.detached``: a detached ``SignedData``
  over the ``/ByteRange`` bytes with the GB/T 35275-2017 object identifiers
  (:mod:`bdcert.gm.sm2_cms`): ``ContentInfo.contentType`` signedData ``1.2.156.10197.6.1.4.2.2``,
  ``eContentType`` data ``1.2.156.10197.6.1.4.2.1``; digestAlgorithm SM3
  (``1.2.156.10197.1.401``) and signatureAlgorithm sm2sign-with-sm3 (``1.2.156.10197.1.501``);
  signed attributes contentType (data, as the ``eContentType``), signingTime and messageDigest
  (SM3 of the byte ranges); the SM2 signature (default distinguishing ID, GM/T 0009, DER) over
  DER(SET OF signed attributes); the signer's certificate chain; and, with a time-stamp
  authority, the unsigned attribute id-aa-timeStampToken (RFC 3161 Appendix A): an SM2
  time-stamp token over the signature value (:mod:`bdcert.gm.sm2_tsp`);
- ``/M`` the signing time; the ``/ByteRange`` covers the whole returned file.

Until GB/T 35275 OIDs were written, the PKCS #7 ones (``1.2.840.113549.1.7.2``/``.1``) were:
GmSSL and the national tools cannot parse those, bdcert's verifier reads both.

Why this shape. No standard ``/SubFilter`` exists for GB/T 38540 seal signatures
(``SES_Signature``). Vendors either put a GM/T 0010 SM2 CMS in ``/Contents`` — which every PDF
tool (poppler's ``pdfsig``, pyHanko, Acrobat, qpdf) can locate, parse as CMS and byte-range
check, even when its crypto library cannot verify SM2 — or put an ``SES_Signature`` there, which
no PDF tool can parse at all: it reads as a corrupt signature everywhere and hides even the
intactness of the byte ranges. The CMS form keeps the PDF a normal signed PDF; the SM2
verification is ours (:func:`bdcert.verify.pdf_sm2.check_pdf_sm2`) or any GM/T 0010 verifier's (``openssl cms``).

pyHanko's ``PdfSigner`` cannot produce SM2 signatures, so pyHanko's low-level
:class:`~pyhanko.sign.signers.cms_embedder.PdfCMSEmbedder` writes the field, the appearance and
a signature dictionary with a reserved ``/Contents``, hashes the byte ranges with SM3, and fills
``/Contents`` in place with the CMS built here (asn1crypto).

Checking these seals is :func:`bdcert.verify.pdf_sm2.check_pdf_sm2`.
"""

from __future__ import annotations

import contextlib
import io
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509

from bdcert.errors import BdcertError, SealingError
from bdcert.gm.sm2 import OID_SM2_WITH_SM3, OID_SM3, SM2PrivateKey
from bdcert.gm.sm2_cms import (
    OID_GM_DATA,
    OID_GM_SIGNED_DATA,
    OID_PKCS7_DATA,
    OID_PKCS7_SIGNED_DATA,
)
from bdcert.gm.sm2_tsp import Sm2TimeStamper
from bdcert.gm.x509 import sm2_public_key_of

__all__ = ["CMS_FORMS", "build_sm2_cms", "seal_pdf_sm2"]

_SLACK = 64  # DER bytes reserved beyond the measured CMS size
#: The object identifiers each form of SignedData writes: (signedData, data).
CMS_FORMS = {
    "gbt35275": (OID_GM_SIGNED_DATA, OID_GM_DATA),
    "pkcs7": (OID_PKCS7_SIGNED_DATA, OID_PKCS7_DATA),
}
_PLACEHOLDER_SIGNATURE = b"\x30\x46" + b"\x02\x21" + b"\x00" * 33 + b"\x02\x21" + b"\x00" * 33


# --------------------------------------------------------------------------- the CMS


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
    timestamper: Sm2TimeStamper | None = None,
    form: str = "gbt35275",
) -> bytes:
    """A detached ``SignedData`` (GB/T 35275-2017 / GM/T 0010-2012: SM3, SM2) over a document
    whose SM3 digest is ``digest``, wrapped in its ``ContentInfo``; DER.

    :param signer_key: signs DER(SET OF signed attributes) with the default ID; None writes a
        placeholder signature of the largest DER size (72 bytes), to measure the CMS.
    :param timestamper: adds the unsigned attribute id-aa-timeStampToken (RFC 3161 Appendix A),
        a token over the signature value; None adds none.
    :param form: ``"gbt35275"`` (the national object identifiers, the default) or ``"pkcs7"``
        (the international ones bdcert wrote before; for compatibility tests).
    :raises SealingError: a certificate is not DER X.509, the form is unknown, or the time-stamp
        authority fails.
    """
    if form not in CMS_FORMS:
        raise SealingError(f"unknown SignedData form {form!r}: use one of {sorted(CMS_FORMS)}")
    signed_data_oid, data_oid = CMS_FORMS[form]
    try:
        cert = asn1_x509.Certificate.load(bytes(signer_cert_der), strict=True)
        others = [asn1_x509.Certificate.load(bytes(c), strict=True) for c in chain_der]
        _ = cert.issuer.native, cert.serial_number
    except (ValueError, TypeError) as exc:
        raise SealingError(f"a seal certificate is not DER X.509: {exc}") from None
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": [data_oid]}),
            cms.CMSAttribute({"type": "signing_time", "values": [_signing_time(time)]}),
            cms.CMSAttribute({"type": "message_digest", "values": [digest]}),
        ]
    )
    to_sign = signed_attrs.dump()  # universal SET OF, DER (asn1crypto sorts the members)
    signature = _PLACEHOLDER_SIGNATURE
    if signer_key is not None:
        signature = signer_key.sign(to_sign)
    unsigned: dict[str, Any] = {}
    if timestamper is not None:
        try:
            token = cms.ContentInfo.load(bytes(timestamper.stamp(signature)))
        except Exception as exc:  # a remote or misconfigured authority fails in many ways
            raise SealingError(f"the time-stamp authority failed: {exc}") from exc
        unsigned["unsigned_attrs"] = cms.CMSAttributes(
            [cms.CMSAttribute({"type": "signature_time_stamp_token", "values": [token]})]
        )
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
            **unsigned,
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
            "encap_content_info": {"content_type": data_oid},
            "certificates": certificates,
            "signer_infos": [signer_info],
        }
    )
    out: bytes = cms.ContentInfo({"content_type": signed_data_oid, "content": signed_data}).dump()
    return out


# --------------------------------------------------------------------------- sealing

_TOKEN_ROOM: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_ATTRIBUTE_OVERHEAD = 32  # [1] SET OF Attribute { OID id-aa-timeStampToken, SET { token } }


def _token_room(timestamper: Sm2TimeStamper) -> int:
    """The bytes a time-stamp token of ``timestamper`` takes in the unsigned attributes: one
    token over a placeholder measured once per authority (tokens of one authority differ only
    in their serial, time and signature, within the slack), as pyHanko measures its dummy
    response, so a remote authority is not asked twice for every seal."""
    try:
        return _TOKEN_ROOM[timestamper]
    except (KeyError, TypeError):
        pass
    try:
        room = len(timestamper.stamp(_PLACEHOLDER_SIGNATURE)) + _ATTRIBUTE_OVERHEAD
    except Exception as exc:  # a remote or misconfigured authority fails in many ways
        raise SealingError(f"the time-stamp authority failed: {exc}") from exc
    with contextlib.suppress(TypeError):  # an authority that cannot be weakly referenced
        _TOKEN_ROOM[timestamper] = room
    return room


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
    timestamper: Sm2TimeStamper | None = None,
) -> bytes:
    """Seal ``pdf`` with one visible SM2 certification signature; return the sealed PDF.

    :param signer_key: the seal key; must belong to ``signer_cert_der``.
    :param chain_der: intermediate and root certificates (DER) embedded in the CMS.
    :param seal_png: the seal picture, drawn in ``box`` (transparency kept, multiply blending).
    :param page: zero-based page number.
    :param box: ``(x1, y1, x2, y2)`` in PDF points from the page's lower-left corner
        (:attr:`bdcert.render.RenderedCertificate.seal_box`).
    :param time: the signing time, aware: ``/M`` and the signingTime attribute.
    :param timestamper: an SM2 time-stamp authority (:class:`bdcert.gm.sm2_tsp.Sm2TimeStamper`):
        its token over the signature value goes in the unsigned attribute id-aa-timeStampToken,
        so the seal stays verifiable after its certificate expires; None adds none.
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
    # the placeholder's size: the CMS with the largest signature, room for the time-stamp
    # token, plus slack, as hex
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
        + (0 if timestamper is None else _token_room(timestamper))
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
            timestamper=timestamper,
        )
        steps.send(contents)
        sealed: bytes = output.getvalue()
    except BdcertError:
        raise
    except Exception as e:  # pyHanko and its parsers raise many unrelated types
        raise SealingError(f"sealing failed: {type(e).__name__}: {e}") from e
    return sealed
