"""The one cattrs converter of the SQL store, canonical JSON and the audit hash.

Every model value that is stored as JSON text (parties, face items, issue results with their
problems) goes through :data:`converter`; nothing is turned into a dict by hand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from bdcert.errors import Problem
from bdcert.model import CHINA_TZ, AuditEvent, IssueResult

__all__ = ["GENESIS_HASH", "audit_hash", "audit_payload", "canonical_json", "converter"]

#: ``prev_hash`` of the first audit event.
GENESIS_HASH = "0" * 64

#: Unstructures attrs values to JSON-ready data and back: enums by value, datetimes and dates as
#: ISO 8601 (offset kept), Decimal as a string, IssueResult without its certificates.
converter = make_converter()
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda value, _: Decimal(str(value)))


def _problems(value: Any, _: Any) -> tuple[Problem, ...]:
    return tuple(converter.structure(p, Problem) for p in value)


converter.register_unstructure_hook(
    IssueResult,
    make_dict_unstructure_fn(IssueResult, converter, certificates=override(omit=True)),
)
converter.register_structure_hook(
    IssueResult,
    make_dict_structure_fn(
        IssueResult,
        converter,
        problems=override(struct_hook=_problems),
        certificates=override(omit=True),
    ),
)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, UTF-8 characters as themselves."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def audit_payload(
    action: str, actor: str, subject: str, at: datetime, details: Mapping[str, Any]
) -> dict[str, Any]:
    """The unstructured form of an audit event as stored: ``at`` in China time (+08:00).

    ``details`` must already be JSON data (as read back from the store), so that the hash
    computed on append is the hash recomputed on verification.
    """
    event = AuditEvent(
        action=action, actor=actor, subject=subject, at=at.astimezone(CHINA_TZ), details=details
    )
    return converter.unstructure(event)  # type: ignore[no-any-return]


def audit_hash(prev_hash: str, payload: Mapping[str, Any]) -> str:
    """``sha256(prev_hash || canonical JSON of the event)``, lower-case hex."""
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()
