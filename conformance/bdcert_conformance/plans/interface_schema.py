"""Responses against an OpenAPI 3.1 document: each response's status documented (or
``default``), its media type documented, its JSON body valid against the schema (JSON Schema
2020-12, the dialect of OpenAPI 3.1, with the document's ``components`` for ``$ref``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator

from bdcert_conformance.kit.model import Evidence

__all__ = ["find_operation", "schema_findings"]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$"
    )


def find_operation(document: dict[str, Any], method: str, path: str) -> tuple[str, Any] | None:
    """The path template and operation object of ``method path`` in ``document``; a template
    without parameters wins over one with them."""
    candidates = []
    for template, item in document.get("paths", {}).items():
        if not isinstance(item, dict) or method.lower() not in item:
            continue
        if _pattern(template).match(path) or _pattern(template).match(unquote(path)):
            candidates.append((template.count("{"), template, item[method.lower()]))
    if not candidates:
        return None
    _, template, operation = min(candidates, key=lambda c: c[0])
    return template, operation


def schema_findings(
    document: dict[str, Any], exchanges: Iterable[Any], prefix: str = ""
) -> list[Evidence]:
    """Every way the responses of ``exchanges`` (:class:`~.interface_session.Exchange`) depart
    from ``document``, one :class:`Evidence` each: ``field`` the operation and status,
    ``expected`` what the document says, ``found`` the schema error (its path in the body)."""
    components = document.get("components", {})
    findings: list[Evidence] = []
    for e in exchanges:
        found = find_operation(document, e.method, e.path)
        label = f"{e.method} {e.path}"
        if found is None:
            findings.append(Evidence(label, "an operation of the OpenAPI document", "none"))
            continue
        template, operation = found
        op = f"{e.method} {template} → {e.status}"
        responses = operation.get("responses", {})
        spec = responses.get(str(e.status)) or responses.get(f"{str(e.status)[0]}XX")
        spec = spec or responses.get("default")
        if spec is None:
            findings.append(
                Evidence(op, "a documented status: " + ", ".join(responses), "none", file=e.path)
            )
            continue
        content = spec.get("content") or {}
        if not content:
            continue
        if e.media_type not in content:
            findings.append(
                Evidence(op, "media type " + " or ".join(content), e.media_type, file=e.path)
            )
            continue
        schema = content[e.media_type].get("schema")
        if schema is None or not e.media_type.endswith("json"):
            continue
        if e.body is None:
            findings.append(Evidence(op, "a JSON body", "not JSON", file=e.path))
            continue
        validator = Draft202012Validator({"components": components, "allOf": [schema]})
        for error in sorted(validator.iter_errors(e.body), key=lambda x: list(x.path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(the body)"
            findings.append(
                Evidence(op, f"{where} as {_name(schema)} says", error.message[:300], file=e.path)
            )
    return findings


def _name(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref", "")
    return ref.rsplit("/", 1)[-1] if ref else "the schema"
