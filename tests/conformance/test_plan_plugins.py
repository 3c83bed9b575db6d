"""The plugins plan: bdcert's reference plugins pass every check, each deliberately broken
implementation is caught by the check it names, and a vendor's factories (``--set
storage=module:function`` …) are checked like a workspace's plugins. One reference environment
(a demo workspace) for the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert_conformance.kit.model import KitUsageError, Outcome, RunOptions, RunResult, checks_of
from bdcert_conformance.kit.runner import run_plan
from bdcert_conformance.plans import load_plan

plan = load_plan("plugins")
BROKEN = {b.id: b for b in plan.BROKEN}

#: The reference workspace, for the factories below (set by the ``env`` fixture).
WORKSPACE: list[Path] = []


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    environment = plan.reference_environment(None, tmp_path_factory.mktemp("plugins-env"))
    WORKSPACE[:] = [environment.workspace]
    yield environment
    WORKSPACE.clear()


@pytest.fixture(scope="module")
def reference(env: Any, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    workdir = tmp_path_factory.mktemp("plugins-reference")
    return run_plan(plan.reference_run(env, workdir), workdir=workdir)


def _summaries(run: RunResult) -> str:
    return "\n".join(
        f"{r.check.id} {r.outcome.value}: {r.verdict.summary} {list(r.verdict.evidence)[:3]}"
        for r in run.results
    )


def test_the_reference_plugins_pass_every_check(reference: RunResult) -> None:
    assert [r.check.id for r in reference.results] == [c.id for c in checks_of("plugins")]
    assert len(reference.results) == 21
    bad = [r for r in reference.results if r.outcome is not Outcome.PASSED]
    assert not bad, _summaries(reference)


def test_every_hook_has_checks_in_the_plans_range() -> None:
    checks = checks_of("plugins")
    assert all(201 <= c.number <= 299 and c.reference and c.description for c in checks)
    titles = " ".join(c.title for c in checks)
    for hook in ("storage", "seal", "identity", "notifier"):
        assert hook in titles
    roles = [c for c in checks if c.title.startswith("storage:")]
    assert len(roles) == 7  # one per role protocol of StorageTransaction


def test_the_broken_implementations_name_checks_of_the_plan() -> None:
    ids = {c.id for c in checks_of("plugins")}
    assert len(BROKEN) >= 8
    for b in BROKEN.values():
        assert b.plan == "plugins" and b.id.startswith("B-2") and b.caught_by in ids, b
    # every check is shown able to fail: some broken implementation names it
    assert ids == {b.caught_by for b in BROKEN.values()}


@pytest.mark.parametrize("broken_id", sorted(BROKEN))
def test_each_broken_implementation_is_caught_by_its_check(
    broken_id: str, env: Any, tmp_path: Path
) -> None:
    broken = BROKEN[broken_id]
    options, context = broken.make(env, tmp_path / "made")
    run = run_plan(
        attrs.evolve(options, only=(broken.caught_by,)), context=context, workdir=tmp_path
    )
    result = run.result(broken.caught_by)
    assert result.outcome is Outcome.FAILED, f"{broken.title}: {result.verdict.summary}"
    assert result.verdict.evidence, "a FAILED verdict names its findings"
    assert "could not run" not in result.verdict.summary


def test_a_failed_check_lists_every_finding(env: Any, tmp_path: Path) -> None:
    """The racy seal provider breaks all but one of the concurrent seals, the lossy notifier
    every event it was refused: each is its own piece of evidence."""
    options, context = BROKEN["B-211"].make(env, tmp_path / "made")
    run = run_plan(attrs.evolve(options, only=("P-233",)), context=context, workdir=tmp_path)
    evidence = run.result("P-233").verdict.evidence
    assert len(evidence) == 3
    assert all(e.found and "lost" in e.found for e in evidence)
    assert {e.field.split(" (")[-1] for e in evidence} == {"flaky receiver)", "receiver down)"}


# --------------------------------------------------------------------------- a vendor's factories


def make_store(directory: Path) -> Any:
    from bdcert_plugins.storage_sql import SqlStorage

    return SqlStorage(f"sqlite:///{directory / 'vendor.sqlite3'}")


def make_seal_provider() -> Any:
    from bdcert.config import Workspace
    from bdcert_plugins.seal_software import SoftwareSealProvider

    ws = Workspace.load(WORKSPACE[0])
    settings = ws.seal_plugin_settings()
    settings.pop("plugin")
    return SoftwareSealProvider.from_settings(settings, ws.path)


def make_identity() -> Any:
    from bdcert.config import Workspace
    from bdcert_plugins.identity_tokens import TokenIdentityProvider

    return TokenIdentityProvider.from_settings(
        dict(Workspace.load(WORKSPACE[0]).table("identity")), WORKSPACE[0]
    )


def make_notifier(url: str, secret: bytes) -> Any:
    from bdcert_plugins.notify_webhook import WebhookNotifier

    return WebhookNotifier(url, secret, retries=3, backoff=0.01)


def test_a_vendors_factories_are_checked_without_a_workspace(env: Any, tmp_path: Path) -> None:
    cases = tmp_path / "cases.json"
    cases.write_text(
        json.dumps(
            [
                {
                    "credentials": {"token": env.tokens["city-system-510700"]},
                    "name": "city-system-510700",
                    "roles": ["registrar"],
                    "authority": "510700",
                },
                {"credentials": {"operator": "auditor"}, "name": None, "roles": ["auditor"]},
            ]
        ),
        encoding="utf-8",
    )
    here = __name__
    options = RunOptions(
        plan="plugins",
        trust=(env.workspace / "pki" / "root.cert.pem",),
        settings={
            "storage": f"{here}:make_store",
            "seal_provider": f"{here}:make_seal_provider",
            "authorities": str(env.workspace / "authorities.json"),
            "seal_authorities": "510700",
            "identity": f"{here}:make_identity",
            "identity_cases": str(cases),
            "notifier": f"{here}:make_notifier",
        },
        only=("P-201", "P-214", "P-221", "F-222", "P-223", "P-231"),
    )
    assert plan.problems(options) == []
    run = run_plan(options, workdir=tmp_path / "run")
    assert all(r.outcome is Outcome.PASSED for r in run.results), _summaries(run)
    assert "510700" in run.result("P-214").verdict.summary
    assert "2 credentials" in run.result("P-221").verdict.summary


def test_a_hook_nobody_gives_is_skipped_naming_the_option(env: Any, tmp_path: Path) -> None:
    options = RunOptions(plan="plugins", settings={"storage": f"{__name__}:make_store"})
    run = run_plan(
        attrs.evolve(options, only=("P-201", "P-211", "P-221", "P-231")), workdir=tmp_path
    )
    assert run.result("P-201").outcome is Outcome.PASSED
    for check_id, option in (
        ("P-211", "seal_provider"),
        ("P-221", "identity"),
        ("P-231", "notifier"),
    ):
        verdict = run.result(check_id).verdict
        assert verdict.outcome is Outcome.SKIPPED and option in verdict.summary, verdict


def test_problems_name_every_bad_option(env: Any, tmp_path: Path) -> None:
    assert plan.problems(RunOptions(plan="plugins")) == [
        "the plugins plan needs --workspace DIR and/or --set storage=/seal_provider=/"
        "identity=/notifier=module:function"
    ]
    found = plan.problems(
        RunOptions(
            plan="plugins",
            workspace=env.workspace,
            tokens={"province-platform": env.tokens["province-platform"]},
            settings={"store": "x", "storage": "no_such_module_here:make", "notifier": "nocolon"},
        )
    )
    text = "\n".join(found)
    assert "--set store: not a setting" in text
    assert "cannot import no_such_module_here" in text
    assert "--set notifier=nocolon: not module:function" in text
    assert "--token NAME=TOKEN missing" in text and "city-system-510100" in text
    assert "province-platform," not in text
    with pytest.raises(KitUsageError, match="workspace"):
        run_plan(RunOptions(plan="plugins", workspace=tmp_path), workdir=tmp_path)


def test_an_expected_id_number_is_compared_as_principals_keep_it() -> None:
    from bdcert_conformance.plans.plugin_subjects import IdentityCase

    case = IdentityCase(
        "holder", {"operator": "x"}, None, frozenset({"holder"}), None, " 51010419850312002x"
    )
    assert case.id_number == "51010419850312002X"
    assert "id_number=51010419850312002X" in case.expected()


def test_the_receiver_answers_its_script_and_records_every_request() -> None:
    import httpx

    from bdcert_conformance.plans.receiver import Receiver

    with Receiver() as receiver:
        assert receiver.url.startswith("http://127.0.0.1:")
        receiver.script(503, 429)
        statuses = [
            httpx.post(receiver.url, content=b"{}", headers={"X-Bdcert-Delivery": "d1"}).status_code
            for _ in range(3)
        ]
        receiver.fail_always(500)
        assert httpx.post(receiver.url, content=b"x").status_code == 500
    assert statuses == [503, 429, 200]
    deliveries = receiver.deliveries
    assert [d.status for d in deliveries] == [503, 429, 200, 500]
    assert deliveries[0].header("x-bdcert-delivery") == "d1" and deliveries[3].body == b"x"


def make_no_store(directory: Path) -> Any:
    raise ConnectionError("the vendor's database is not reachable")


def test_a_storage_factory_that_fails_fails_every_scenario_with_its_error(tmp_path: Path) -> None:
    options = RunOptions(
        plan="plugins", settings={"storage": f"{__name__}:make_no_store"}, only=("P-207",)
    )
    result = run_plan(options, workdir=tmp_path).result("P-207")
    assert result.outcome is Outcome.FAILED
    (evidence,) = result.verdict.evidence
    assert evidence.field == "AgreementRecords: agreements"
    assert evidence.found == "ConnectionError: the vendor's database is not reachable"
