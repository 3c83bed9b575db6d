"""Moved: checking seals lives in :mod:`bdcert.verify` now — the pipeline, its verdict codes and
their order in :mod:`bdcert.verify.pipeline`, the PAdES check in :mod:`bdcert.verify.pades`.

This module re-exports their names so that ``from bdcert.signatures import …`` keeps working.
"""

from __future__ import annotations

from bdcert.verify.pades import check_pdf_seal
from bdcert.verify.pipeline import SealCheck, judge_single_seal

__all__ = ["SealCheck", "check_pdf_seal", "judge_single_seal"]
