"""Keeping a sealed PDF's evidence fresh: a new document timestamp before the old one lapses.

A PAdES B-LTA document stays provable as long as its newest document timestamp can be validated:
its timestamp authority's certificate must still be in force and its revocation data fresh
(ETSI EN 319 142-1 §6.6, ETSI EN 319 102-1 §5.6.2.3). Before either lapses, an archive timestamp
renewal appends, as one incremental update, the current validation data of the newest timestamp
(DSS, ISO 32000-2 §12.8.4.3) and a new document timestamp over the whole file. Everything before
is left byte for byte: copies already handed out are prefixes of the renewed file and still
verify as they did.

:func:`evidence_expiry` says when a file's evidence lapses; :func:`renew_archive_timestamp`
renews it with the workspace's :class:`~bdcert.sealing.evidence.Evidence` (its TSA and
revocation source).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import attrs

from bdcert.errors import BdcertError, SealingError
from bdcert.sealing.evidence import Evidence

__all__ = ["EvidenceLapse", "evidence_expiry", "evidence_lapses", "renew_archive_timestamp"]


def _reader(pdf: bytes) -> Any:
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        return PdfFileReader(io.BytesIO(pdf), strict=False)
    except Exception as e:
        raise SealingError(f"the PDF cannot be read: {type(e).__name__}: {e}") from None


@attrs.define(frozen=True)
class EvidenceLapse:
    """When the evidence of a sealed PDF's newest document timestamp lapses (UTC).

    :ivar tsa_certificate: the ``notAfter`` of the timestamp authority's certificate.
    :ivar revocation: the latest ``nextUpdate`` of the DSS CRLs issued by that certificate's
        issuer, or None when the DSS holds none.
    """

    tsa_certificate: datetime
    revocation: datetime | None

    @property
    def at(self) -> datetime:
        """The earlier of the two: when the evidence lapses."""
        return (
            self.tsa_certificate
            if self.revocation is None
            else min(self.tsa_certificate, self.revocation)
        )


def evidence_lapses(pdf: bytes) -> EvidenceLapse | None:
    """When the evidence of a sealed PDF lapses, apart (TSA certificate, revocation data); None
    when the file has no document timestamp (B-B to B-LT). See :func:`evidence_expiry`.

    :raises SealingError: if the PDF cannot be read.
    """
    from cryptography import x509

    reader = _reader(pdf)
    stamps = list(reader.embedded_timestamp_signatures)
    if not stamps:
        return None
    tsa = x509.load_der_x509_certificate(stamps[-1].signer_cert.dump())
    fresh: list[datetime] = []
    try:
        crls = [bytes(s.get_object().data) for s in reader.root["/DSS"].get("/CRLs", ())]
    except (KeyError, TypeError, AttributeError):
        crls = []
    for data in crls:
        try:
            crl = x509.load_der_x509_crl(data)
        except ValueError:
            continue
        if crl.issuer == tsa.issuer and crl.next_update_utc is not None:
            fresh.append(crl.next_update_utc)
    return EvidenceLapse(tsa.not_valid_after_utc, max(fresh) if fresh else None)


def evidence_expiry(pdf: bytes) -> datetime | None:
    """When the evidence of a sealed PDF lapses: the earlier of its newest document timestamp's
    TSA certificate ``notAfter`` and the latest ``nextUpdate`` of the DSS CRLs issued by that
    certificate's issuer (UTC). None when the file has no document timestamp (B-B to B-LT:
    it has nothing to keep fresh until one is added).

    :raises SealingError: if the PDF cannot be read.
    """
    lapse = evidence_lapses(pdf)
    return None if lapse is None else lapse.at


def renew_archive_timestamp(pdf: bytes, evidence: Evidence) -> bytes:
    """Append the current validation data of the newest document timestamp and a new document
    timestamp covering the whole file (PAdES B-LTA); return the renewed PDF.

    The input is a prefix of the output (an incremental update, ISO 32000-1 §7.5.6).

    :param evidence: the TSA and revocation source (its level is not consulted: renewal is
        what B-LTA asks for).
    :raises SealingError: if the PDF holds no document timestamp or cannot be read, the newest
        timestamp does not validate now (too late to renew), or the timestamp authority fails.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper, TimestampDSSContentSettings
    from pyhanko.sign.validation import async_validate_pdf_timestamp
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    from bdcert.sealing.pades import run_sync

    if evidence.tsa is None or not evidence.checks_revocation:
        raise SealingError(
            "renewing the archive timestamp needs [timestamp] and a [revocation] source"
        )
    reader = _reader(pdf)
    stamps = list(reader.embedded_timestamp_signatures)
    if not stamps:
        raise SealingError(
            "the PDF holds no document timestamp (sealed below PAdES B-LTA): there is no"
            " archive timestamp to renew"
        )
    out = io.BytesIO()

    async def renew() -> None:
        context = evidence.validation_context()
        try:
            status = await async_validate_pdf_timestamp(
                stamps[-1], validation_context=context, skip_diff=True
            )
            if not (status.intact and status.valid and status.trusted):
                raise SealingError(
                    "the newest document timestamp does not validate now: it is too late"
                    f" to renew it ({status.summary()})"
                )
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
            DocumentSecurityStore.supply_dss_in_writer(
                writer, None, paths=[status.validation_path], validation_context=context
            )
            await PdfTimeStamper(evidence.timestamper).async_timestamp_pdf(
                writer,
                md_algorithm="sha256",
                validation_context=context,
                output=out,
                dss_settings=TimestampDSSContentSettings(include_vri=False, update_before_ts=True),
            )
        finally:
            await context.aclose()

    try:
        run_sync(renew())
    except BdcertError:
        raise
    except Exception as e:  # pyHanko, the TSA client and the validator raise many types
        raise SealingError(f"renewing the archive timestamp failed: {type(e).__name__}: {e}") from e
    renewed = out.getvalue()
    if not renewed.startswith(pdf):  # the promise to every copy already handed out
        raise SealingError("the renewal did not append to the file (refused)")
    return renewed
