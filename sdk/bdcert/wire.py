"""The one cattrs converter and canonical JSON (primitives layer) for every wire format.

Every model value that is stored or sent as JSON text (parties, face items, issue results with
their problems, audit events) goes through :data:`converter`; nothing is turned into a dict by
hand. Moved here from the SQL store's ``codec`` module (issue 8) so that a third-party store uses
the same converter; ``bdcert_plugins.storage_sql.codec`` re-exports it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from bdcert.errors import Problem
from bdcert.model import IssueResult

__all__ = ["DuplicateKeyError", "canonical_json", "converter", "loads"]

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


class DuplicateKeyError(ValueError):
    """JSON text names a key twice in one object (RFC 8259 §4: names SHOULD be unique; readers
    then disagree on which value counts — first, last, or both).

    :ivar keys: the repeated keys, in order of their second occurrence.
    """

    def __init__(self, keys: list[str]) -> None:
        super().__init__(
            "the JSON names " + ", ".join(repr(k) for k in keys) + " more than once in one object"
        )
        self.keys = tuple(keys)


def _no_constant(name: str) -> Any:
    raise ValueError(f"the JSON holds {name}, which is not a JSON number (RFC 8259 §6)")


def loads(text: str | bytes) -> Any:
    """Parse JSON text given to bdcert from outside (entries, request bodies, stored audit
    details): as :func:`json.loads`, but a key repeated in one object is an error, not
    last-wins, and ``NaN``/``Infinity`` are refused (RFC 8259 §4, §6).

    :raises DuplicateKeyError: a key occurs twice in one object (it names every such key).
    :raises ValueError: anything else that is not JSON (:class:`json.JSONDecodeError`).
    """
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                repeated.append(key)
            out[key] = value
        return out

    value = json.loads(text, object_pairs_hook=pairs, parse_constant=_no_constant)
    if repeated:
        raise DuplicateKeyError(repeated)
    return value


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace, UTF-8 characters as themselves."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
