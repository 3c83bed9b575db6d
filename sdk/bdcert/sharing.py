"""Moved (issue 8): sharing agreements (rule article 16) live in :mod:`bdcert.lifecycle.sharing`,
the agreement and the shared answer in :mod:`bdcert.records`. This module re-exports them."""

from __future__ import annotations

from bdcert.lifecycle.searching import search_shared, shared_file
from bdcert.lifecycle.sharing import (
    CERTIFICATE_FIELDS,
    FACE_FIELDS,
    FIELDS,
    INPUT_KEYS,
    OPERATION_FIELDS,
    SharedCertificate,
    SharingAgreement,
    add_agreement,
    granted_fields,
    list_agreements,
    parse_agreement,
    revoke_agreement,
    share,
)

__all__ = [
    "CERTIFICATE_FIELDS",
    "FACE_FIELDS",
    "FIELDS",
    "INPUT_KEYS",
    "OPERATION_FIELDS",
    "SharedCertificate",
    "SharingAgreement",
    "add_agreement",
    "granted_fields",
    "list_agreements",
    "parse_agreement",
    "revoke_agreement",
    "search_shared",
    "share",
    "shared_file",
]
