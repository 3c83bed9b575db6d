"""Certificate faces drawn as documents: PDF (:mod:`bdcert.render.pdf`) and OFD
(:mod:`bdcert.render.ofd`, GB/T 33190), laid out by one engine (:mod:`bdcert.render.layout`).

This module re-exports what ``bdcert.render`` offered when it was a single module (the PDF
renderer); new code may import from the submodules. Importing it loads fpdf2 (the renderer);
``import bdcert`` does not.
"""

from __future__ import annotations

from bdcert.render.pdf import (
    PAGE_FURNITURE_RE,
    QR_SIZE_MM,
    SEAL_DPI,
    SEAL_SIZE_MM,
    RenderedCertificate,
    Renderer,
)

__all__ = [
    "PAGE_FURNITURE_RE",
    "QR_SIZE_MM",
    "SEAL_DPI",
    "SEAL_SIZE_MM",
    "RenderedCertificate",
    "Renderer",
]
