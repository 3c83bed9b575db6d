"""The interface plan against its reference environment (a city and a province, two ``bdcert
serve`` processes on SQLite, started once for the module): every check passes on the
reference, each broken implementation is caught by the check it names, and the checks' evidence
says what differed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert_conformance.kit.model import Outcome, RunOptions, RunResult, checks_of
from bdcert_conformance.kit.runner import run_plan
from bdcert_conformance.kit.selftest import selftest_plan
from bdcert_conformance.plans import load_plan
from bdcert_conformance.plans.interface_schema import schema_findings
from bdcert_conformance.plans.interface_session import Exchange, InterfaceSession
from tests.support import require_tool

plan = load_plan("interface")


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    for tool in ("pdftotext", "zbarimg"):  # the province's deposit checks read the PDF with them
        require_tool(tool)
    with contextlib.ExitStack() as stack:
        yield plan.reference_environment(stack, tmp_path_factory.mktemp("interface-ref"))


@pytest.fixture(scope="module")
def reference(environment: Any, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    workdir = tmp_path_factory.mktemp("interface-run")
    return run_plan(plan.reference_run(environment, workdir), workdir=workdir)


def test_reference_passes_every_check(reference: RunResult) -> None:
    lines = [
        f"{r.check.id} {r.outcome.value}: {r.verdict.summary} {r.verdict.evidence[:3]}"
        for r in reference.results
    ]
    assert [r.check.id for r in reference.results] == [c.id for c in checks_of("interface")]
    assert all(r.outcome is Outcome.PASSED for r in reference.results), "\n".join(lines)
    assert len(reference.results) >= 17


def test_checks_are_in_range_and_documented() -> None:
    for c in checks_of("interface"):
        assert 101 <= c.number <= 199
        assert c.reference and c.description, c.id


def test_rerunnable_against_the_same_system(environment: Any, tmp_path: Path) -> None:
    """A second run against the same long-lived system makes fresh entries and passes again,
    reading the change feed from a cursor given (``feed_after``)."""
    options = plan.reference_run(environment, tmp_path)
    probe = InterfaceSession(options)
    cursor = probe.start()
    probe.close()
    options = attrs.evolve(
        options,
        settings={**options.settings, "feed_after": cursor},
        only=("P-101", "P-102", "F-103", "P-109"),
    )
    result = run_plan(options, workdir=tmp_path)
    assert all(r.outcome is Outcome.PASSED for r in result.results), [
        r.verdict for r in result.results
    ]


def test_problems_name_every_missing_option() -> None:
    found = plan.problems(RunOptions(plan="interface"))
    assert any("--target" in p for p in found) and any("--province" in p for p in found)
    assert {r for r in ("clerk", "other_clerk", "province") if any(r + "=" in p for p in found)}
    assert len(found) == 5


@pytest.mark.parametrize("broken", plan.BROKEN, ids=lambda b: b.id)
def test_broken_implementation_is_caught(broken: Any, environment: Any, tmp_path: Path) -> None:
    """Run directly (make, then its named check only): selftest_plan would run the whole
    reference again for each one, which test_reference_passes_every_check does once."""
    verdict = _run_broken(broken.id, environment, tmp_path)
    assert verdict.outcome is Outcome.FAILED, (broken.id, broken.caught_by, verdict)
    assert verdict.evidence


def test_selftest_plan_reports_a_broken_implementation_caught(
    environment: Any, tmp_path: Path
) -> None:
    """The kit's self-test entry point over this plan (reference run + one broken)."""
    result = selftest_plan("interface", tmp_path, environment=environment, broken_ids=["B-113"])
    assert result.reference_passes, [r.verdict for r in result.reference.results]
    (only,) = result.broken
    assert only.error is None and only.caught, only


def test_at_least_eight_broken_with_distinct_ids() -> None:
    ids = [b.id for b in plan.BROKEN]
    assert len(ids) >= 8 and len(set(ids)) == len(ids)
    known = {c.id for c in checks_of("interface")}
    assert all(b.caught_by in known and b.plan == "interface" for b in plan.BROKEN)


def _run_broken(broken_id: str, environment: Any, tmp_path: Path) -> Any:
    (broken,) = [b for b in plan.BROKEN if b.id == broken_id]
    options, context = broken.make(environment, tmp_path)
    options = attrs.evolve(options, only=(broken.caught_by,))
    return run_plan(options, context=context, workdir=tmp_path).result(broken.caught_by).verdict


def test_stored_malformed_entry_is_evidenced_by_the_later_push(
    environment: Any, tmp_path: Path
) -> None:
    verdict = _run_broken("B-109", environment, tmp_path)
    (finding,) = verdict.evidence
    assert "after the refused malformed entry" in finding.field
    # 409: the stored copy differs from the valid entry; 200: it happens to equal it (replayed)
    assert finding.found in ("409", "200")


def test_cancelled_in_force_names_the_case(environment: Any, tmp_path: Path) -> None:
    verdict = _run_broken("B-104", environment, tmp_path)
    assert [(e.field, e.expected) for e in verdict.evidence] == [
        ("POST /checks/information (cancelled): code", "3")
    ]
    assert verdict.evidence[0].found == "200 0"


def test_feed_evidence_names_the_missing_cancellation(environment: Any, tmp_path: Path) -> None:
    verdict = _run_broken("B-102", environment, tmp_path)
    assert any(
        e.field.startswith("GET /feed: cancelled") and e.found == "0 times"
        for e in verdict.evidence
    )


def _document() -> dict[str, Any]:
    return {
        "paths": {
            "/api/v1/things/{id}": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Thing"}
                                }
                            }
                        },
                        "default": {
                            "content": {
                                "application/problem+json": {
                                    "schema": {"type": "object", "required": ["status"]}
                                }
                            }
                        },
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "Thing": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "size": {"type": "integer"}},
                }
            }
        },
    }


def test_schema_findings_name_operation_status_and_error() -> None:
    def ex(status: int, media: str, body: Any) -> Exchange:
        return Exchange("target", "GET", "/api/v1/things/7", status, media, body, "t")

    good = [
        ex(200, "application/json", {"name": "a"}),
        ex(404, "application/problem+json", {"status": 404}),
    ]
    assert schema_findings(_document(), good) == []
    bad = [
        ex(200, "application/json", {"size": "big"}),
        ex(200, "text/html", None),
        Exchange("target", "POST", "/api/v1/things/7", 200, "application/json", {}, "t"),
    ]
    findings = schema_findings(_document(), bad)
    assert [f.field for f in findings] == [
        "GET /api/v1/things/{id} → 200",
        "GET /api/v1/things/{id} → 200",
        "GET /api/v1/things/{id} → 200",
        "POST /api/v1/things/7",
    ]
    assert "'name' is a required property" in findings[0].found
    assert "size" in findings[1].expected and "not of type 'integer'" in findings[1].found
    assert findings[2].found == "text/html"


def test_session_entries_are_fresh_and_well_formed() -> None:
    from bdcert.identifiers import check_unit_number

    options = RunOptions(
        plan="interface",
        target="http://127.0.0.1:9",
        province=None,
        settings={"authority": "510100"},
    )
    one, two = InterfaceSession(options), InterfaceSession(options)
    assert one.run_id != two.run_id
    units = {one.unit() for _ in range(50)}
    assert len(units) == 50 and all(check_unit_number(u) is None for u in units)
    assert all(u.startswith("510104") for u in units)
    import json
    import re

    from bdcert.identifiers import check_resident_id

    entry = one.property_entry("A")
    assert re.fullmatch(r"510100-\d{4}-\d{9}", entry["ywh"])  # nothing tells the kit's pushes apart
    assert entry["ywh"] == one.ywh("A") != one.ywh("B")
    assert entry["qlr"][0] == one.holder and one.holder["zjh"] != two.holder["zjh"]
    assert check_resident_id(one.holder["zjh"]) is None and one.holder["zjh"].startswith("510104")
    text = json.dumps(entry, ensure_ascii=False)
    assert "KIT" not in text and "测试" not in text
    one.close()
    two.close()


def test_a_refused_token_or_an_unreachable_target_is_bad_usage_not_failures(
    environment: Any, tmp_path: Path
) -> None:
    """A mistyped token would otherwise read as sixteen failures of the system (exit 1)."""
    from bdcert_conformance.kit.model import KitUsageError

    options = plan.reference_run(environment, tmp_path)
    wrong = attrs.evolve(options, tokens={**options.tokens, "clerk": "not-a-token"})
    with pytest.raises(KitUsageError, match=r"--token clerk: --target refuses it \(401"):
        run_plan(wrong, workdir=tmp_path / "a")
    wrong = attrs.evolve(options, tokens={**options.tokens, "province": "not-a-token"})
    with pytest.raises(KitUsageError, match=r"--token province: --province refuses it"):
        run_plan(wrong, workdir=tmp_path / "b")
    same = attrs.evolve(options, tokens={**options.tokens, "other_clerk": options.tokens["clerk"]})
    with pytest.raises(KitUsageError, match="must be a clerk of another authority"):
        run_plan(same, workdir=tmp_path / "c")
    gone = attrs.evolve(options, target="http://127.0.0.1:9")
    with pytest.raises(KitUsageError, match="--target: cannot reach it"):
        run_plan(gone, workdir=tmp_path / "d")


def test_unknown_settings_roles_and_options_are_named(environment: Any, tmp_path: Path) -> None:
    from bdcert_conformance.kit.model import KitUsageError

    options = plan.reference_run(environment, tmp_path)
    typo = attrs.evolve(
        options,
        settings={**options.settings, "authorty": "510100"},
        tokens={**options.tokens, "auditor": "x"},
        entries=tmp_path / "entries.jsonl",
    )
    with pytest.raises(KitUsageError) as caught:
        run_plan(typo, workdir=tmp_path)
    message = str(caught.value)
    assert "--set authorty: not a setting of the interface plan" in message
    assert "--token auditor: not a role of the interface plan" in message
    assert "--entries: the interface plan does not read it" in message
