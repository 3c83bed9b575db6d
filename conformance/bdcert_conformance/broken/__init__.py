"""Deliberately broken reference implementations, one module per plan: each has exactly one
defect, and the check its :class:`~bdcert_conformance.kit.BrokenImplementation` names must
report FAILED on it (``bdcert conformance selftest``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["pyhanko_seal"]


def pyhanko_seal(pdf: bytes, request: Any, signer: Any, *, visible: bool, certify: bool) -> bytes:
    """One PAdES signature by ``signer`` (a pyHanko signer) made with pyHanko directly, as
    bdcert's providers never make it when asked to deviate: visible at ``request.box`` (the
    request's seal picture) or invisible, a certification (DocMDP 1) or an approval signature,
    signed at ``request.signing_time``. The broken implementations and bdcert's tests of the
    seal's form make their deviant seals with it."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    from bdcert.sealing.pades import _PdfSigner, run_sync, stamp_style

    meta = signers.PdfSignatureMetadata(
        field_name=request.field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        location=request.location or None,
        certify=certify,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    box: Any = request.box if visible else None
    spec = fields.SigFieldSpec(sig_field_name=request.field_name, on_page=request.page, box=box)
    pdf_signer = _PdfSigner(
        meta,
        signer,
        stamp_style=stamp_style(request.appearance_png) if visible else None,
        new_field_spec=spec,
        signing_time=request.signing_time or datetime.now(UTC),
    )
    out = io.BytesIO()
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    run_sync(pdf_signer.async_sign_pdf(writer, output=out))
    return out.getvalue()
