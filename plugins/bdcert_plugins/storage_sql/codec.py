"""Re-exports for the SQL store: the converter and canonical JSON now live in :mod:`bdcert.wire`,
the audit hash formula in :mod:`bdcert.audit` (issue 8: security-relevant rules live in the SDK,
so a store written by a city computes the same hashes)."""

from __future__ import annotations

from bdcert.audit import GENESIS_SHA256 as GENESIS_HASH
from bdcert.audit import audit_hash, audit_payload
from bdcert.wire import canonical_json, converter

__all__ = ["GENESIS_HASH", "audit_hash", "audit_payload", "canonical_json", "converter"]
