"""Where and how a one-page statement bdcert prints is sealed: an audit checkpoint, a witness's
countersignature, a status snapshot, a conformance run manifest (the pages of
:mod:`bdcert.render.statement` and the audit log's own)."""

from __future__ import annotations

from datetime import datetime

from bdcert.model import Authority
from bdcert.protocols import SealRequest

__all__ = ["STATEMENT_SEAL_BOX", "statement_seal_request"]

#: Where a statement's seal stands: PDF points from the lower-left corner, a 42 mm square.
STATEMENT_SEAL_BOX = (380.0, 90.0, 499.0, 209.0)


def statement_seal_request(
    authority: Authority,
    seal_picture: bytes,
    *,
    reason: str,
    field_name: str,
    signing_time: datetime,
) -> SealRequest:
    """The :class:`~bdcert.protocols.SealRequest` sealing a one-page statement: page 1, at
    :data:`STATEMENT_SEAL_BOX`, showing ``seal_picture`` (the authority's seal picture), located
    at the authority's place, claiming ``signing_time``."""
    return SealRequest(
        authority=authority,
        page=0,
        box=STATEMENT_SEAL_BOX,
        appearance_png=seal_picture,
        reason=reason,
        location=authority.place_name,
        field_name=field_name,
        signing_time=signing_time,
    )
