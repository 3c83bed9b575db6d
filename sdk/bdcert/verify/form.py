"""The seal's form: a seal that verifies can still break the scheme — invisible, not a
certification lock, or signed at another time than the certificate's issue time (the
conformance kit's seal checks, :mod:`bdcert_conformance.seal`; rule articles 3, 7, 15).

A sound seal with a finding is ``NONCONFORMING``, never plainly ``VALID``
(:class:`~bdcert.model.VerdictCode`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bdcert.model import CHINA_TZ, SealFormFinding

__all__ = [
    "SIGNING_TIME_TOLERANCE_SECONDS",
    "nonconforming_detail",
    "seal_form_findings",
    "signing_time_finding",
]

#: ``/F`` annotation flags that hide a widget: Hidden (bit 2), NoView (bit 6); ISO 32000-1
#: §12.5.3.
_HIDING_FLAGS = 2 | 32
#: How far a claimed signing time may be from the issue time: ``/M`` and UTCTime keep whole
#: seconds, the register keeps microseconds.
SIGNING_TIME_TOLERANCE_SECONDS = 1.0


def seal_form_findings(sig: Any) -> tuple[SealFormFinding, ...]:
    """How the one seal of a PDF (pyHanko's ``EmbeddedPdfSignature``) breaks the scheme's form,
    in the conformance kit's terms (:mod:`bdcert_conformance.seal`): ``invisible_seal`` (the
    widget has no area, is Hidden or NoView, or has no normal appearance) and
    ``no_certification_lock`` (its DocMDP permission is not 1, or the catalogue has no ``/Perms
    /DocMDP``). Never raises: an unreadable part is a finding."""
    return tuple(f for f in (_invisible(sig), _unlocked(sig)) if f is not None)


def _invisible(sig: Any) -> SealFormFinding | None:
    why = ""
    try:
        field = sig.sig_field
        rect = [float(x) for x in field.get("/Rect", [0, 0, 0, 0])]
        flags = int(field.get("/F", 0))
        if len(rect) != 4 or abs(rect[2] - rect[0]) < 1 or abs(rect[3] - rect[1]) < 1:
            why = f"the seal's widget has no area (/Rect {rect})"
        elif flags & _HIDING_FLAGS:
            why = f"the seal's widget is hidden (/F {flags}: Hidden or NoView)"
        elif "/AP" not in field or "/N" not in field["/AP"]:
            why = "the seal's widget has no normal appearance (/AP /N)"
        else:
            appearance = field["/AP"]["/N"].get_object()
            if not getattr(appearance, "data", b"").strip():
                why = "the seal's appearance stream is empty"
    except Exception as e:  # a malformed widget shows nothing
        why = f"the seal's widget cannot be read ({type(e).__name__})"
    if not why:
        return None
    return SealFormFinding("invisible_seal", "印章不可见：证书上看不到登记机构的印章", why)


def _unlocked(sig: Any) -> SealFormFinding | None:
    why = ""
    try:
        level = sig.docmdp_level
        level = getattr(level, "value", level)  # pyHanko's MDPPerm, an ordered enum of ints
        perms = sig.reader.root.get("/Perms", {})
        if level != 1:
            shown = "none" if level is None else level
            why = f"the seal's DocMDP permission is {shown}, not 1 (no changes allowed)"
        elif "/DocMDP" not in perms:
            why = "the catalogue has no /Perms /DocMDP: not a certification seal"
    except Exception as e:
        why = f"the seal's DocMDP permission cannot be read ({type(e).__name__})"
    if not why:
        return None
    return SealFormFinding(
        "no_certification_lock",
        "印章未锁定文件（不是禁止修改的认证签章）：盖章后仍允许修改",
        why,
    )


def signing_time_finding(claimed: datetime | None, issued_at: datetime) -> SealFormFinding | None:
    """``signing_time_mismatch`` when the signing time the seal claims is not the certificate's
    issue time (the register's ``issued_at``; bdcert seals every certificate, a backlog one too,
    with the time it issues it: rule article 15), more than
    :data:`SIGNING_TIME_TOLERANCE_SECONDS` apart or missing; else None."""
    if claimed is not None and claimed.tzinfo is not None:
        gap = abs((claimed - issued_at).total_seconds())
        if gap < SIGNING_TIME_TOLERANCE_SECONDS:
            return None
    issued = issued_at.astimezone(CHINA_TZ)
    if claimed is None or claimed.tzinfo is None:
        shown, found = "没有签章时间", "the seal claims no signing time"
    else:
        at = claimed.astimezone(CHINA_TZ)
        shown = f"签章时间为 {at:%Y-%m-%d %H:%M:%S}"
        found = f"the seal claims {at.isoformat()}"
    return SealFormFinding(
        "signing_time_mismatch",
        f"{shown}，与签发时间 {issued:%Y-%m-%d %H:%M:%S} 不一致",
        f"{found}, the certificate was issued at {issued.isoformat()}",
    )


def nonconforming_detail(status: str, form: Sequence[SealFormFinding]) -> str:
    """The detail of a NONCONFORMING verdict: the register's status detail (``in force``, or
    the seizure), then every finding."""
    found = "; ".join(f"{f.code}: {f.detail}" for f in form)
    return f"not plainly valid: the seal does not conform to the scheme ({found}); {status}"
