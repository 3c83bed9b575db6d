"""Moved: GB/T 38540 seals of OFD certificates are made in :mod:`bdcert.sealing.ofd` and checked
in :mod:`bdcert.verify.ofd`.

This module re-exports their names so that ``from bdcert.gm.ofd_seal import …`` keeps working.
"""

from __future__ import annotations

from bdcert.sealing.ofd import seal_ofd
from bdcert.verify.ofd import verify_ofd

__all__ = ["seal_ofd", "verify_ofd"]
