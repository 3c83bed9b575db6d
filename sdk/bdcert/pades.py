"""Moved: PAdES sealing lives in :mod:`bdcert.sealing.pades` now.

This module re-exports its names so that ``from bdcert.pades import …`` keeps working.
"""

from __future__ import annotations

from bdcert.sealing.pades import (
    certificate_pem,
    load_certificates,
    load_pkcs12_signer,
    load_software_signer,
    run_sync,
    seal_pdf_with_signer,
    stamp_style,
)

__all__ = [
    "certificate_pem",
    "load_certificates",
    "load_pkcs12_signer",
    "load_software_signer",
    "run_sync",
    "seal_pdf_with_signer",
    "stamp_style",
]
