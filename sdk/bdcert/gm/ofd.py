"""Certificates as OFD documents (GB/T 33190-2016): moved.

Page rendering (:func:`write_ofd`, :class:`RenderedOfd`) lives in :mod:`bdcert.render.ofd`, laid
out by the same engine as the PDF (:mod:`bdcert.render.layout`); the OFD package container
(:data:`NS`, :func:`read_ofd_text`, :func:`ofd_structure_problems`) in
:mod:`bdcert.gm.ofd_package`. This module re-exports them so existing imports keep working.
"""

from __future__ import annotations

from bdcert.gm.ofd_package import NS, ofd_structure_problems, read_ofd_text
from bdcert.render.ofd import RenderedOfd, write_ofd

__all__ = [
    "NS",
    "RenderedOfd",
    "ofd_structure_problems",
    "read_ofd_text",
    "write_ofd",
]
