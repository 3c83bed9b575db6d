"""One registration-book entry given as a line of JSON text, pushed, and its result as one JSON
object: shared by ``bdcert issue --json`` and ``POST /api/v1/entries/batch``, so a line gets
the same answer from both (rule article 7).

The record is :meth:`bdcert.model.IssueResult.to_wire` (``ywh``, ``outcome``, ``kind``,
``numbers``, ``supersedes``, ``cancels``, ``restricts``, ``announcements``, ``errors``,
``reason``); a line that cannot be processed is ``rejected`` (not JSON, a key given twice, a bad
field: every one in ``errors``) or ``failed`` (sealing, storage, permission, a bug: one line must
not stop a batch).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bdcert.lifecycle import Registry
    from bdcert.model import IssueResult, Principal

__all__ = ["issue_line"]

#: At most this many characters of a value from the line are echoed in its result.
_ECHO = 100


def issue_line(
    registry: Registry, principal: Principal, text: str | bytes
) -> tuple[dict[str, Any], IssueResult | None]:
    """Parse ``text`` (refusing a key given twice, :func:`bdcert.wire.loads`) and push it.

    :returns: the result record and, when the entry was processed, the
        :class:`~bdcert.model.IssueResult` (with the sealed documents); never raises for a bad
        line or a failed push.
    """
    from bdcert.errors import BdcertError, ValidationError
    from bdcert.model import IssueResult, Outcome
    from bdcert.wire import DuplicateKeyError, loads

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _rejected(None, [("", f"not UTF-8 text: {exc}")]), None
    try:
        raw = loads(text)
    except DuplicateKeyError as exc:
        problems = [
            (k, "is given more than once (readers disagree which counts)") for k in exc.keys
        ]
        return _rejected(None, problems), None
    except (ValueError, RecursionError) as exc:
        return _rejected(None, [("", f"not JSON: {exc}")]), None
    ywh = raw.get("ywh") if isinstance(raw, dict) and isinstance(raw.get("ywh"), str) else None
    if ywh is not None and len(ywh) > _ECHO:  # never echo a long value back whole
        ywh = ywh[:_ECHO] + "…"
    try:
        result = registry.push(raw, principal=principal)
    except ValidationError as exc:
        record = IssueResult(ywh or "", Outcome.REJECTED, problems=exc.problems).to_wire()
        for error in record.get("errors") or ():
            if isinstance(error.get("message"), str) and len(error["message"]) > 4 * _ECHO:
                error["message"] = error["message"][: 4 * _ECHO] + "…"
        return {**record, "ywh": ywh}, None
    except Exception as exc:  # sealing, storage, permission, a bug: one line must not stop a batch
        if not isinstance(exc, BdcertError):
            logging.getLogger("bdcert").exception("unexpected error on entry %r", ywh)
        return {
            "ywh": ywh,
            "outcome": "failed",
            "errors": [{"field": "", "message": f"{type(exc).__name__}: {exc}"[: 4 * _ECHO]}],
        }, None
    return result.to_wire(), result


def _rejected(ywh: str | None, problems: list[tuple[str, str]]) -> dict[str, Any]:
    from bdcert.model import Outcome

    return {
        "ywh": ywh,
        "outcome": Outcome.REJECTED.value,
        "errors": [{"field": f, "message": m} for f, m in problems],
    }
