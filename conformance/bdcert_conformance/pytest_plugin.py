"""The conformance kit as a pytest plugin: one test per check of a plan, in a city's or a
vendor's own CI, with pytest's JUnit output and the kit's reports beside it.

It is registered under pytest's ``pytest11`` entry point (installing bdcert enables it; it does
nothing unless ``--conformance-plan`` is given)::

    pytest --pyargs bdcert_conformance.test_conformance \\
        --conformance-plan documents --conformance-entries entries.jsonl \\
        --conformance-documents out/ --conformance-trust root.pem \\
        --conformance-report conformance-report/

Options mirror ``bdcert conformance run``: ``--conformance-plan``, ``-entries``,
``-documents``, ``-trust`` (repeatable), ``-target``, ``-province``, ``-token ROLE=TOKEN``
(repeatable), ``-workspace``, ``-set KEY=VALUE`` (repeatable), ``-system``, ``-certify``,
``-report DIR`` (the reports and ``manifest.json``; seal it with ``bdcert conformance run
--seal-workspace``). The plan runs once per session; each check is a test that fails when the check
FAILED, is skipped when it was SKIPPED (fails instead under ``--conformance-certify``), and
warns on a WARNING.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ConformanceWarning"]


class ConformanceWarning(UserWarning):
    """A check's WARNING, shown in pytest's warnings summary."""


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("bdcert-conformance", "bdcert conformance kit")
    g.addoption("--conformance-plan", choices=("documents", "interface", "plugins"))
    g.addoption("--conformance-entries", type=Path)
    g.addoption("--conformance-documents", type=Path)
    g.addoption("--conformance-trust", type=Path, action="append", default=[])
    g.addoption("--conformance-target")
    g.addoption("--conformance-province")
    g.addoption("--conformance-token", action="append", default=[], metavar="ROLE=TOKEN")
    g.addoption("--conformance-workspace", type=Path)
    g.addoption("--conformance-set", action="append", default=[], metavar="KEY=VALUE")
    g.addoption("--conformance-system")
    g.addoption("--conformance-certify", action="store_true")
    g.addoption("--conformance-report", type=Path)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_check_id" not in metafunc.fixturenames:
        return
    plan = metafunc.config.getoption("conformance_plan")
    if not plan:
        metafunc.parametrize(
            "conformance_check_id",
            [pytest.param(None, marks=pytest.mark.skip(reason="no --conformance-plan given"))],
        )
        return
    from bdcert_conformance.kit.catalogue import load_catalogue

    ids = [c.id for c in load_catalogue(plan)]
    metafunc.parametrize("conformance_check_id", ids, ids=ids)


@pytest.fixture(scope="session")
def conformance_run(pytestconfig: pytest.Config) -> Any:
    """The plan's :class:`~bdcert_conformance.kit.model.RunResult`, run once per session
    (reports written to ``--conformance-report`` when given)."""
    from bdcert_conformance.kit.model import KitUsageError
    from bdcert_conformance.kit.options import make_options
    from bdcert_conformance.kit.report import write_reports
    from bdcert_conformance.kit.runner import run_plan

    opt = pytestconfig.getoption
    try:
        options = make_options(
            plan=opt("conformance_plan"),
            entries=opt("conformance_entries"),
            documents=opt("conformance_documents"),
            trust=opt("conformance_trust"),
            target=opt("conformance_target"),
            province=opt("conformance_province"),
            tokens=opt("conformance_token"),
            workspace=opt("conformance_workspace"),
            settings=opt("conformance_set"),
            system=opt("conformance_system"),
            certify=opt("conformance_certify"),
        )
        run = run_plan(options)
    except KitUsageError as exc:
        pytest.fail(f"the conformance run cannot start: {exc}", pytrace=False)
    report = opt("conformance_report")
    if report is not None:
        from bdcert_conformance.kit.manifest import MANIFEST_FILE, build_manifest, canonical_json

        artefacts = write_reports(run, report)
        (report / MANIFEST_FILE).write_bytes(canonical_json(build_manifest(run, artefacts)))
    return run


def check_outcome(run: Any, check_id: str) -> None:
    """Turn one check's result into a test outcome."""
    from bdcert_conformance.kit.model import Outcome

    result = run.result(check_id)
    outcome = result.outcome
    detail = "\n".join(
        f"  {e.field}: expected {e.expected!r}, found {e.found!r}"
        + (f" ({e.file}" + (f", page {e.page}" if e.page else "") + ")" if e.file else "")
        for e in result.verdict.evidence
    )
    title = f"{check_id} {result.check.title} ({result.check.reference})"
    if outcome is Outcome.FAILED:
        pytest.fail(f"{title}: {result.verdict.summary}\n{detail}", pytrace=False)
    if outcome is Outcome.SKIPPED:
        if run.options.certify:
            pytest.fail(
                f"{title}: SKIPPED in a certification run: {result.verdict.summary}", pytrace=False
            )
        pytest.skip(f"{title}: {result.verdict.summary}")
    if outcome is Outcome.WARNING:
        warnings.warn(f"{title}: {result.verdict.summary}", ConformanceWarning, stacklevel=1)
