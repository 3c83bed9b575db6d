"""Moved: SM2 seals in PDF certificates are made in :mod:`bdcert.sealing.pdf_sm2` and checked in
:mod:`bdcert.verify.pdf_sm2`; trust roots are read by :func:`bdcert.verify.pipeline.der_certificates`.

This module re-exports their names so that ``from bdcert.gm.pdf_sm2 import …`` keeps working.
"""

from __future__ import annotations

from bdcert.sealing.pdf_sm2 import build_sm2_cms, seal_pdf_sm2
from bdcert.verify.pdf_sm2 import check_pdf_sm2
from bdcert.verify.pipeline import der_certificates

__all__ = ["build_sm2_cms", "check_pdf_sm2", "der_certificates", "seal_pdf_sm2"]
