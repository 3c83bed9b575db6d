"""Moved (issue 8): self-download by holders lives in :mod:`bdcert.lifecycle.holders`, the stored
guard in :mod:`bdcert.records`, the policy in :mod:`bdcert.config`. This module re-exports them."""

from __future__ import annotations

from bdcert.lifecycle.holders import (
    NOT_PROVEN,
    DownloadGuard,
    DownloadPolicy,
    identity_key,
    name_key,
    normalize_paper_number,
    self_download,
)

__all__ = [
    "NOT_PROVEN",
    "DownloadGuard",
    "DownloadPolicy",
    "identity_key",
    "name_key",
    "normalize_paper_number",
    "self_download",
]
