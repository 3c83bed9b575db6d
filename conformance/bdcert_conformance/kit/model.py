"""Checks, verdicts, evidence, run options and results: the kit's vocabulary.

Every check is a function ``func(context) -> Verdict`` registered with :func:`check` under a
stable ID; a plan module (:mod:`bdcert_conformance.plans`) prepares the ``context`` its checks
read. A check never raises for a non-conforming system: it returns :func:`failed` with the
evidence. An exception out of a check is a kit defect or an unreachable system, and the runner
records it as FAILED ("the check could not run: …"), never as PASSED.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "CATALOGUE",
    "PLAN_NAMES",
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
    "checks_of",
    "data_text",
    "failed",
    "passed",
    "skipped",
    "warning",
]

#: The three plans, in the order a certification runs them.
PLAN_NAMES = ("documents", "interface", "plugins")

#: Each plan's range of check numbers (IDs are unique across plans).
PLAN_RANGES = {"documents": range(1, 100), "interface": range(101, 200), "plugins": range(201, 300)}

_ID = re.compile(r"^(P|F)-(\d{3})$")


class KitUsageError(Exception):
    """A run cannot start: an option is missing or wrong, an input unreadable. The message names
    every bad option (the command line exits 2)."""


class Polarity(enum.Enum):
    """``P``: the system must succeed at it (a conforming input accepted, a face item present);
    ``F``: the system must refuse it (a tampered file, a clerk of another authority)."""

    MUST_SUCCEED = "P"
    MUST_REFUSE = "F"


class Outcome(enum.Enum):
    """A check's result. A certification run (``--certify``) passes only with no FAILED and no
    SKIPPED; a WARNING is reported and does not fail a run."""

    PASSED = "PASSED"
    FAILED = "FAILED"
    WARNING = "WARNING"
    SKIPPED = "SKIPPED"


#: UTF-16 surrogates: a JSON answer may hold one alone (``"\\ud800"``), which no UTF-8 report
#: can be written with.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def data_text(value: object) -> str:
    """``value`` as text that every report can carry: a lone surrogate (from a system's JSON)
    is written as ``\\udXXX`` instead of making the UTF-8 report unwritable."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))


def _text(value: object) -> str | None:
    return None if value is None else data_text(value)


@attrs.frozen
class Evidence:
    """What a check looked at: ``field`` (a face item, an HTTP operation, a hook), the
    ``expected`` and the ``found`` value (as text; None when not applicable), the ``file`` (name
    relative to the documents directory, or a URL) and ``page`` (from 1) it was found on."""

    field: str = attrs.field(converter=data_text)
    expected: str | None = attrs.field(default=None, converter=lambda v: _text(v))
    found: str | None = attrs.field(default=None, converter=lambda v: _text(v))
    file: str | None = attrs.field(default=None, converter=lambda v: _text(v))
    page: int | None = attrs.field(default=None, converter=lambda v: None if v is None else int(v))
    note: str = attrs.field(default="", converter=data_text)

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Verdict:
    """A check's answer: its outcome, one sentence saying why, and the evidence."""

    outcome: Outcome
    summary: str = attrs.field(converter=data_text)
    evidence: tuple[Evidence, ...] = ()


def passed(summary: str, evidence: Iterable[Evidence] = ()) -> Verdict:
    """PASSED, saying what was checked ("30 documents, 214 face items compared")."""
    return Verdict(Outcome.PASSED, summary, tuple(evidence))


def failed(summary: str, evidence: Iterable[Evidence] = ()) -> Verdict:
    """FAILED, with every finding as evidence (not only the first)."""
    return Verdict(Outcome.FAILED, summary, tuple(evidence))


def warning(summary: str, evidence: Iterable[Evidence] = ()) -> Verdict:
    """WARNING: not a failure of the rule, but something a reviewer should look at."""
    return Verdict(Outcome.WARNING, summary, tuple(evidence))


def skipped(reason: str) -> Verdict:
    """SKIPPED: the run lacks what the check needs (an option, a document kind); the reason says
    which. A certification run may skip nothing."""
    return Verdict(Outcome.SKIPPED, reason)


@attrs.frozen
class Check:
    """A registered check: ``id`` (``P-nnn`` / ``F-nnn``), ``plan``, ``title`` (one line),
    ``reference`` (the rule article or standard clause it enforces), ``description`` (what it
    checks and why, from the function's docstring) and ``func(context) -> Verdict``."""

    id: str
    plan: str
    title: str
    reference: str
    description: str
    func: Callable[[Any], Verdict] = attrs.field(repr=False, eq=False)

    @property
    def polarity(self) -> Polarity:
        return Polarity(self.id[0])

    @property
    def number(self) -> int:
        return int(self.id[2:])


#: Every registered check by ID (filled when a plan module is imported:
#: :func:`bdcert_conformance.plans.load_plan`).
CATALOGUE: dict[str, Check] = {}


def check(
    id: str, plan: str, title: str, reference: str
) -> Callable[[Callable[[Any], Verdict]], Callable[[Any], Verdict]]:
    """Register ``func(context) -> Verdict`` as check ``id`` of ``plan``; its docstring is the
    check's description (what it enforces and why).

    :raises ValueError: an ID not ``P-nnn``/``F-nnn``, outside the plan's range, or taken.
    """
    match = _ID.match(id)
    if match is None:
        raise ValueError(f"check ID {id!r} is not P-nnn or F-nnn")
    if plan not in PLAN_RANGES or int(match.group(2)) not in PLAN_RANGES[plan]:
        raise ValueError(f"check ID {id!r} is outside plan {plan!r}'s range")

    def register(func: Callable[[Any], Verdict]) -> Callable[[Any], Verdict]:
        existing = CATALOGUE.get(id)
        if (
            existing is not None
            and existing.func is not func
            and (
                existing.func.__module__,
                existing.func.__qualname__,
            )
            != (func.__module__, func.__qualname__)
        ):
            raise ValueError(f"check ID {id} is taken by {existing.func.__qualname__}")
        doc = _plain_rst(" ".join((func.__doc__ or "").split()))
        CATALOGUE[id] = Check(id, plan, title, reference, doc, func)
        return func

    return register


def _plain_rst(text: str) -> str:
    """A docstring as a report shows it: ````x```` and ``:role:`~a.b.x``` as ``x``."""
    text = re.sub(r":[a-z]+:`~?(?:[\w.]+\.)?([^`]+)`", r"\1", text)
    return text.replace("``", "")


def checks_of(plan: str) -> list[Check]:
    """The registered checks of ``plan`` in ID-number order (import the plan module first)."""
    return sorted((c for c in CATALOGUE.values() if c.plan == plan), key=lambda c: c.number)


@attrs.frozen
class RunOptions:
    """What a run is given (the command line's options; the pytest plugin's ``--conformance-*``).

    :param plan: one of :data:`PLAN_NAMES`.
    :param entries: the registration-book entries (JSON Lines, the push format) — documents.
    :param documents: the directory of the certificates a system made from them (PDF and/or
        OFD) — documents.
    :param trust: PEM/DER files of the province's trust list (roots) — documents, interface.
    :param target: the base URL of the system under test — interface.
    :param province: the provincial service's base URL (deposits) — interface.
    :param tokens: role name -> bearer token (``clerk``, ``other_clerk``, ``platform``,
        ``auditor``, ``province``…) — interface.
    :param workspace: a bdcert workspace whose configured plugins are checked — plugins.
    :param settings: further ``key=value`` settings a plan documents.
    :param system, vendor, system_version: who is being tested (the manifest).
    :param certify: a certification run: SKIPPED fails it.
    :param only: run only these check IDs (the self-test); empty: all of the plan's.
    """

    plan: str
    entries: Path | None = None
    documents: Path | None = None
    trust: tuple[Path, ...] = ()
    target: str | None = None
    province: str | None = None
    tokens: Mapping[str, str] = attrs.field(factory=dict)
    workspace: Path | None = None
    settings: Mapping[str, str] = attrs.field(factory=dict)
    system: str = "unnamed system"
    vendor: str = ""
    system_version: str = ""
    certify: bool = False
    only: tuple[str, ...] = ()

    def input_files(self) -> list[tuple[str, Path]]:
        """(role, path) of every input file, for the manifest's SHA-256 list."""
        files: list[tuple[str, Path]] = []
        if self.entries is not None:
            files.append(("entries", self.entries))
        if self.documents is not None and self.documents.is_dir():
            files += [("document", p) for p in sorted(self.documents.rglob("*")) if p.is_file()]
        files += [("trust", p) for p in self.trust]
        files += [
            (f"setting {key}", Path(value))
            for key, value in sorted(self.settings.items())
            if value and Path(value).is_file()
        ]
        return files


@attrs.frozen
class CheckResult:
    """One check's result in a run."""

    check: Check
    verdict: Verdict
    seconds: float

    @property
    def outcome(self) -> Outcome:
        return self.verdict.outcome


@attrs.frozen
class RunResult:
    """A whole run: the options, when it ran, every check's result in ID order."""

    options: RunOptions
    started_at: datetime
    finished_at: datetime
    results: tuple[CheckResult, ...]
    kit_version: str

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)

    def result(self, check_id: str) -> CheckResult:
        for r in self.results:
            if r.check.id == check_id:
                return r
        raise KeyError(check_id)

    @property
    def ok(self) -> bool:
        """No FAILED; in a certification run, no SKIPPED either, and every check of the plan
        run (a certification of a selection, ``only``, or of no check at all is no
        certification)."""
        if self.count(Outcome.FAILED):
            return False
        if not self.options.certify:
            return True
        if self.count(Outcome.SKIPPED) or self.options.only or not self.results:
            return False
        ran = {r.check.id for r in self.results}
        return all(c.id in ran for c in checks_of(self.options.plan))


@attrs.frozen
class BrokenImplementation:
    """A deliberately broken reference implementation the self-test runs its plan against.

    :param id: ``B-nnn``, stable.
    :param plan: the plan that must catch it.
    :param title: what is broken, in one line ("the e-licence identifier's check character is
        wrong").
    :param caught_by: the check ID that must report FAILED on it.
    :param make: ``make(reference_environment, workdir) -> RunOptions | (RunOptions, context)``:
        builds the broken system from the plan's reference environment (see each plan's
        ``reference_environment``) and returns what to run the plan against.
    """

    id: str
    plan: str
    title: str
    caught_by: str
    make: Callable[[Any, Path], Any] = attrs.field(repr=False, eq=False)
