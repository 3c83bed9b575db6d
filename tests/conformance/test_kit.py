"""The kit's machinery: the runner, the reports (JSON against its schema, JUnit, HTML), the
sealed run manifest and its check, and the run options' errors. The plans have their own
modules (test_plan_*.py)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bdcert_conformance.kit import runner
from bdcert_conformance.kit.manifest import (
    MANIFEST_FILE,
    MANIFEST_PDF,
    build_manifest,
    canonical_json,
    check_report,
    seal_manifest,
)
from bdcert_conformance.kit.model import (
    Check,
    CheckResult,
    Evidence,
    KitUsageError,
    Outcome,
    RunOptions,
    RunResult,
    check,
    failed,
    passed,
    skipped,
    warning,
)
from bdcert_conformance.kit.options import make_options
from bdcert_conformance.kit.report import SCHEMA_PATH, report_document, write_reports

HOSTILE = '<script>alert(1)</script>\x1b[31m王晓明"'


def _check(id_: str, title: str, func: Any) -> Check:
    return Check(id_, "documents", title, "规则第5条", f"{title}, because.", func)


def _run(tmp_path: Path, *, certify: bool = False) -> RunResult:
    entries = tmp_path / "entries.jsonl"
    entries.write_text('{"ywh": "1"}\n', encoding="utf-8")
    options = RunOptions(
        plan="documents", entries=entries, system="测试市系统", vendor="V", certify=certify
    )
    verdicts = [
        passed(
            "30 documents compared",
            [Evidence("zh", "川(2024)成都市不动产权第0000001号", "同", "a.pdf", 1)],
        ),
        failed(
            "1 face item differs", [Evidence("qlr", "王晓明", HOSTILE, "b<1>.pdf", 2, note="x&y")]
        ),
        warning("a long value wraps"),
        skipped("no OFD documents: give --documents with OFD files"),
    ]
    results = tuple(
        CheckResult(_check(f"P-00{i + 1}", f"check {i + 1}", None), v, 0.01)
        for i, v in enumerate(verdicts)
    )
    now = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    return RunResult(options, now, now, results, "0.test")


def test_the_json_report_matches_its_schema_and_says_every_result(tmp_path: Path) -> None:
    import jsonschema

    run = _run(tmp_path)
    paths = write_reports(run, tmp_path / "report")
    document = json.loads(paths[0].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(document)
    assert document["result"] == "FAILED"
    assert document["summary"] == {
        "checks": 4,
        "PASSED": 1,
        "FAILED": 1,
        "WARNING": 1,
        "SKIPPED": 1,
    }
    assert [c["result"] for c in document["checks"]] == ["PASSED", "FAILED", "WARNING", "SKIPPED"]
    assert document["checks"][1]["evidence"][0] == {
        "field": "qlr",
        "expected": "王晓明",
        "found": HOSTILE,
        "file": "b<1>.pdf",
        "page": 2,
        "note": "x&y",
    }
    broken = dict(document, schema_version=2)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text())).validate(broken)


def test_junit_counts_failures_and_skips(tmp_path: Path) -> None:
    run = _run(tmp_path)
    junit = write_reports(run, tmp_path / "report")[1]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    failure = suite.findall("testcase")[1].find("failure")
    assert failure is not None and failure.get("message") == "1 face item differs"
    assert "王晓明" in (failure.text or "") and "\\x1b" in (failure.text or "")


def test_the_html_page_is_self_contained_and_escapes_what_the_system_sent(tmp_path: Path) -> None:
    html = write_reports(_run(tmp_path), tmp_path / "report")[2].read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "b&lt;1&gt;.pdf" in html and "x&amp;y" in html
    assert "src=" not in html and "<link" not in html  # nothing fetched: one file to hand over
    for text in ("测试市系统", "P-002", "FAILED", "1 face item differs", "规则第5条"):
        assert text in html


def test_a_certification_run_fails_on_a_skip(tmp_path: Path) -> None:
    run = _run(tmp_path, certify=True)
    ok = RunResult(
        run.options,
        run.started_at,
        run.finished_at,
        tuple(r for r in run.results if r.outcome is not Outcome.FAILED),
        "0.test",
    )
    assert not ok.ok  # the SKIPPED one remains
    relaxed = RunResult(
        RunOptions(plan="documents"), run.started_at, run.finished_at, ok.results, "0"
    )
    assert relaxed.ok


# --------------------------------------------------------------------------- the runner


def test_the_runner_records_an_escaping_exception_as_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(ctx: Any) -> Any:
        raise ConnectionError("refused")

    checks = [
        _check("P-001", "fine", lambda ctx: passed(f"saw {ctx}")),
        _check("P-002", "boom", boom),
        _check("F-003", "not a verdict", lambda ctx: True),
    ]
    opened: list[str] = []

    @contextmanager
    def open_context(options: Any, workdir: Path) -> Any:
        opened.append("open")
        yield "the context"
        opened.append("closed")

    fake = SimpleNamespace(problems=lambda o: [], open_context=open_context)
    monkeypatch.setattr(runner, "load_plan", lambda name: fake)
    monkeypatch.setattr(runner, "checks_of", lambda plan: checks)
    run = runner.run_plan(RunOptions(plan="documents"))
    assert [r.outcome for r in run.results] == [Outcome.PASSED, Outcome.FAILED, Outcome.FAILED]
    assert run.results[0].verdict.summary == "saw the context"
    assert "ConnectionError: refused" in run.results[1].verdict.summary
    assert "not a verdict" in run.results[2].verdict.summary
    assert opened == ["open", "closed"] and not run.ok

    only = runner.run_plan(RunOptions(plan="documents", only=("P-001",)))
    assert [r.check.id for r in only.results] == ["P-001"]
    with pytest.raises(KitUsageError, match="P-404"):
        runner.run_plan(RunOptions(plan="documents", only=("P-404",)))
    monkeypatch.setattr(
        runner,
        "load_plan",
        lambda name: SimpleNamespace(
            problems=lambda o: ["--entries is required", "--trust is required"]
        ),
    )
    with pytest.raises(KitUsageError, match="--entries is required; --trust is required"):
        runner.run_plan(RunOptions(plan="documents"))


def test_check_ids_are_checked() -> None:
    with pytest.raises(ValueError, match="not P-nnn"):
        check("X-001", "documents", "t", "r")
    with pytest.raises(ValueError, match="outside plan"):
        check("P-150", "documents", "t", "r")


def test_make_options_names_every_bad_option(tmp_path: Path) -> None:
    with pytest.raises(KitUsageError) as exc:
        make_options(
            plan="nope",
            entries=tmp_path / "missing.jsonl",
            trust=[tmp_path / "r.pem"],
            target="ftp://x",
            tokens=["clerk"],
            settings=["=v"],
        )
    message = str(exc.value)
    for part in (
        "--plan 'nope'",
        "--entries",
        "--trust",
        "--target 'ftp://x'",
        "--token 'clerk'",
        "--set '=v'",
    ):
        assert part in message
    options = make_options(plan="interface", target="http://127.0.0.1:8000/", tokens=["clerk=a=b"])
    assert options.target == "http://127.0.0.1:8000" and options.tokens == {"clerk": "a=b"}


# --------------------------------------------------------------------------- the sealed manifest


@pytest.fixture(scope="module")
def operator_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bdcert_adapters.cli import main

    path = tmp_path_factory.mktemp("kit-operator") / "ws"
    assert main(["init", "--demo", "--workspace", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def sealed_report(operator_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("kit-report")
    run = _run(tmp)
    directory = tmp / "report"
    artefacts = write_reports(run, directory)
    data = canonical_json(build_manifest(run, artefacts))
    (directory / MANIFEST_FILE).write_bytes(data)
    (directory / MANIFEST_PDF).write_bytes(seal_manifest(data, operator_workspace))
    return directory


def _root(workspace: Path) -> bytes:
    return (workspace / "pki" / "root.cert.pem").read_bytes()


def test_the_manifest_lists_every_input_and_artefact(sealed_report: Path) -> None:
    manifest = json.loads((sealed_report / MANIFEST_FILE).read_bytes())
    assert manifest["format"] == "bdcert-conformance-manifest"
    assert manifest["system"]["name"] == "测试市系统" and manifest["plan"] == "documents"
    assert [i["role"] for i in manifest["inputs"]] == ["entries"]
    assert {a["name"] for a in manifest["artefacts"]} == {"report.json", "junit.xml", "report.html"}
    assert all(len(a["sha256"]) == 64 for a in manifest["artefacts"] + manifest["inputs"])


def test_a_sealed_report_checks_and_pdfsig_accepts_its_seal(
    sealed_report: Path, operator_workspace: Path, tmp_path: Path
) -> None:
    from tests.support import pdfsig_trusting

    found = check_report(sealed_report, [_root(operator_workspace)])
    assert found.ok, found.problems
    assert found.manifest is not None and found.manifest["result"] == "FAILED"
    out = pdfsig_trusting(
        operator_workspace / "pki" / "root.cert.pem",
        (sealed_report / MANIFEST_PDF).read_bytes(),
        tmp_path,
    )
    assert "Signature is Valid" in out and "Certificate is Trusted" in out


@pytest.mark.parametrize("edit", ["report.html", "report.json", "junit.xml", MANIFEST_FILE])
def test_an_edited_report_file_is_named(
    sealed_report: Path, operator_workspace: Path, tmp_path: Path, edit: str
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sealed_report, copy)
    path = copy / edit
    path.write_bytes(path.read_bytes().replace(b"FAILED", b"PASSED", 1) + b"\n")
    found = check_report(copy, [_root(operator_workspace)])
    assert not found.ok
    assert any(edit in p for p in found.problems), found.problems


def test_a_report_sealed_under_another_root_or_unsealed_is_refused(
    sealed_report: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from bdcert_adapters.cli import main

    other = tmp_path_factory.mktemp("other") / "ws"
    assert main(["init", "--demo", "--workspace", str(other)]) == 0
    found = check_report(sealed_report, [_root(other)])
    assert not found.ok and "seal fails" in found.problems[0]
    copy = tmp_path / "unsealed"
    shutil.copytree(sealed_report, copy)
    (copy / MANIFEST_PDF).unlink()
    assert "manifest.pdf is missing" in check_report(copy, [_root(other)]).problems[0]


def test_report_document_has_no_unknown_outcome(tmp_path: Path) -> None:
    assert set(report_document(_run(tmp_path))["summary"]) == {
        "checks",
        *(o.value for o in Outcome),
    }
