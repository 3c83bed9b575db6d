"""The conformance kit's machinery: checks, plans, runs, reports, the sealed run manifest and
the self-test against deliberately broken reference implementations.

A **check** has a stable ID (``P-nnn``: the system must succeed at it; ``F-nnn``: the system
must refuse it), the plan it belongs to, the rule article or standard it enforces, and returns
a :class:`Verdict` (PASSED, FAILED, WARNING or SKIPPED) with :class:`Evidence` — the field, the
expected and the found value, the file and page.

ID ranges: the documents plan 001–099, the interface plan 101–199, the plugins plan 201–299.
"""

from bdcert_conformance.kit.model import (
    CATALOGUE,
    BrokenImplementation,
    Check,
    CheckResult,
    Evidence,
    KitUsageError,
    Outcome,
    Polarity,
    RunOptions,
    RunResult,
    Verdict,
    check,
    failed,
    passed,
    skipped,
    warning,
)

__all__ = [
    "CATALOGUE",
    "BrokenImplementation",
    "Check",
    "CheckResult",
    "Evidence",
    "KitUsageError",
    "Outcome",
    "Polarity",
    "RunOptions",
    "RunResult",
    "Verdict",
    "check",
    "failed",
    "passed",
    "skipped",
    "warning",
]
