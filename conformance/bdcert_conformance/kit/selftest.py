"""The kit proves its teeth (``bdcert conformance selftest``): each plan is run against its
correct reference implementation, where every check must pass, and against every deliberately
broken reference implementation, where the check that implementation names must report FAILED.

The headline figure is *caught N of M*: M broken implementations shipped, N caught by the check
their docs name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from bdcert_conformance.kit.model import (
    BrokenImplementation,
    CheckResult,
    Outcome,
    RunOptions,
    RunResult,
)
from bdcert_conformance.kit.runner import COULD_NOT_OPEN, run_plan
from bdcert_conformance.plans import load_plan

__all__ = ["BrokenResult", "PlanSelftest", "selftest_plan"]


@attrs.frozen
class BrokenResult:
    """A broken implementation and the result its named check gave on it; ``caught`` when that
    result is FAILED by the check's own judgement — not because the plan could not open what
    the broken implementation made (that is a broken implementation that was not built)."""

    broken: BrokenImplementation
    result: CheckResult | None
    error: str | None = None

    @property
    def caught(self) -> bool:
        return (
            self.result is not None
            and self.result.outcome is Outcome.FAILED
            and not self.result.verdict.summary.startswith(COULD_NOT_OPEN)
        )


@attrs.frozen
class PlanSelftest:
    """One plan's self-test: the reference run (every check must be PASSED) and each broken
    implementation's result."""

    plan: str
    reference: RunResult
    broken: tuple[BrokenResult, ...]

    @property
    def reference_passes(self) -> bool:
        return all(r.outcome is Outcome.PASSED for r in self.reference.results)

    @property
    def caught(self) -> int:
        return sum(b.caught for b in self.broken)

    @property
    def ok(self) -> bool:
        return self.reference_passes and self.caught == len(self.broken)


def _unpack(made: Any) -> tuple[RunOptions, Any]:
    if isinstance(made, RunOptions):
        return made, None
    options, context = made
    return options, context


def selftest_plan(
    plan_name: str,
    workdir: Path,
    *,
    broken_ids: Sequence[str] = (),
    environment: Any = None,
) -> PlanSelftest:
    """Run ``plan_name``'s self-test in ``workdir``.

    :param broken_ids: only these broken implementations (all when empty).
    :param environment: a reference environment already built (tests share one per session);
        None: built here and closed at the end.
    """
    plan = load_plan(plan_name)
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        env = environment
        if env is None:
            env = plan.reference_environment(stack, workdir / "reference")
        options, context = _unpack(plan.reference_run(env, workdir / "reference-run"))
        reference = run_plan(options, context=context, workdir=workdir / "reference-checks")
        results = []
        for b in plan.BROKEN:
            if broken_ids and b.id not in broken_ids:
                continue
            try:
                options, context = _unpack(b.make(env, workdir / b.id))
                options = attrs.evolve(options, only=(b.caught_by,))
                run = run_plan(options, context=context, workdir=workdir / f"{b.id}-checks")
                results.append(BrokenResult(b, run.result(b.caught_by)))
            except Exception as exc:  # the broken implementation could not be built: not caught
                results.append(BrokenResult(b, None, f"{type(exc).__name__}: {exc}"))
    return PlanSelftest(plan_name, reference, tuple(results))
