"""The catalogue of checks across plans, and its Markdown table (docs/conformance.md embeds it
between ``<!-- checks:begin -->`` and ``<!-- checks:end -->``; a test keeps it current)."""

from __future__ import annotations

from bdcert_conformance.kit.model import PLAN_NAMES, Check, checks_of
from bdcert_conformance.plans import load_plan

__all__ = ["catalogue_markdown", "load_catalogue"]


def load_catalogue(plan: str | None = None) -> list[Check]:
    """Every check of ``plan`` (all plans when None), in plan then ID-number order."""
    plans = [plan] if plan else list(PLAN_NAMES)
    out: list[Check] = []
    for name in plans:
        load_plan(name)
        out += checks_of(name)
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def catalogue_markdown(checks: list[Check]) -> str:
    """A Markdown table per plan: ID, check, reference, what it enforces and why."""
    lines: list[str] = []
    for plan in PLAN_NAMES:
        rows = [c for c in checks if c.plan == plan]
        if not rows:
            continue
        lines += [
            f"#### The {plan} plan",
            "",
            "| ID | check | reference | what and why |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {c.id} | {_cell(c.title)} | {_cell(c.reference)} | {_cell(c.description)} |"
            for c in rows
        ]
        lines.append("")
    return "\n".join(lines)
