"""Running a plan: prepare its context once, run each check, time it, catch what escapes.

:func:`run_plan` is what ``bdcert conformance run``, the pytest plugin and the self-test call.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bdcert.model import CHINA_TZ
from bdcert_conformance.kit.model import (
    CheckResult,
    KitUsageError,
    Outcome,
    RunOptions,
    RunResult,
    Verdict,
    checks_of,
)
from bdcert_conformance.plans import load_plan

__all__ = ["COULD_NOT_OPEN", "COULD_NOT_RUN", "kit_version", "run_plan"]

#: How a FAILED verdict begins when the plan could not open its inputs or reach the system.
COULD_NOT_OPEN = "the plan could not read its inputs or reach the system: "
#: How a FAILED verdict begins when an exception escaped the check.
COULD_NOT_RUN = "the check could not run: "


def kit_version() -> str:
    """The kit's version: bdcert's (they are released together)."""
    from bdcert import __version__

    return str(__version__)


def run_plan(options: RunOptions, *, context: Any = None, workdir: Path | None = None) -> RunResult:
    """Run ``options.plan`` (only ``options.only`` when given) and return every check's result.

    :param context: a context already prepared (the self-test's broken implementations bring
        their own); None: the plan's ``open_context(options, workdir)`` prepares it.
    :param workdir: scratch space for the plan (a temporary directory when None).
    :raises KitUsageError: the options are incomplete or wrong (every problem named), or
        ``only`` names a check that is not in the plan, or the plan's ``open_context`` finds
        a credential or a target unusable (the interface plan's ``GET /whoami`` first). An
        input the plan cannot read (``open_context`` raising anything else) is no usage error:
        every check is FAILED saying why.
    """
    plan = load_plan(options.plan)
    checks = checks_of(options.plan)
    if options.only:
        known = {c.id for c in checks}
        unknown = [i for i in options.only if i not in known]
        if unknown:
            raise KitUsageError(f"no check {', '.join(unknown)} in plan {options.plan!r}")
        checks = [c for c in checks if c.id in options.only]
    if context is None:
        problems = option_problems(plan, options) + plan.problems(options)
        if problems:
            raise KitUsageError("; ".join(problems))
    started = datetime.now(CHINA_TZ)  # the reports' times: China time, as on certificates
    results: list[CheckResult] = []
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bdcert-kit-")))
        if context is None:
            try:
                context = stack.enter_context(plan.open_context(options, workdir))
            except KitUsageError:  # a refused token, an unreachable target: the caller's to fix
                raise
            except Exception as exc:  # a hostile input or an unreadable system: every check
                verdict = Verdict(  # fails, the run is reported (never a traceback, never a pass)
                    Outcome.FAILED, f"{COULD_NOT_OPEN}{type(exc).__name__}: {exc}"
                )
                results = [CheckResult(c, verdict, 0.0) for c in checks]
                checks = []
        for c in checks:
            began = time.perf_counter()
            try:
                verdict = c.func(context)
                if not isinstance(verdict, Verdict):
                    verdict = Verdict(
                        Outcome.FAILED,
                        f"the check returned {type(verdict).__name__}, not a verdict (a kit defect)",
                    )
            except Exception as exc:  # an unreachable system or a kit defect: never a pass
                verdict = Verdict(Outcome.FAILED, f"{COULD_NOT_RUN}{type(exc).__name__}: {exc}")
            results.append(CheckResult(c, verdict, time.perf_counter() - began))
    return RunResult(options, started, datetime.now(CHINA_TZ), tuple(results), kit_version())


#: RunOptions field -> the command-line option that sets it.
_FLAGS = {
    "entries": "--entries",
    "documents": "--documents",
    "trust": "--trust",
    "target": "--target",
    "province": "--province",
    "tokens": "--token",
    "workspace": "--workspace",
    "settings": "--set",
}


def option_problems(plan: Any, options: RunOptions) -> list[str]:
    """Options the plan does not read (its ``READS``), settings it does not know (its
    ``SETTINGS``), token roles it does not know (its ``ROLES``): each named, so that a typo is
    not silently ignored."""
    problems: list[str] = []
    reads = getattr(plan, "READS", None)
    if reads is not None:
        for field, flag in _FLAGS.items():
            if field not in reads and getattr(options, field):
                problems.append(f"{flag}: the {options.plan} plan does not read it")
    known = getattr(plan, "SETTINGS", None)
    if known is not None:
        for key in sorted(set(options.settings) - set(known)):
            problems.append(
                f"--set {key}: not a setting of the {options.plan} plan "
                f"(known: {', '.join(sorted(known))})"
            )
    roles = getattr(plan, "ROLES", None)
    if roles is not None and "tokens" in (reads or ()):
        for role in sorted(set(options.tokens) - set(roles)):
            problems.append(
                f"--token {role}: not a role of the {options.plan} plan (roles: {', '.join(roles)})"
            )
    return problems
