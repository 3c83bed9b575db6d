"""``bdcert conformance`` end to end on the documents plan's reference: a certification run
writes the reports and a sealed manifest that ``check-report`` accepts and refuses once edited;
a broken implementation's documents fail the run; the pytest plugin runs the same plan as one
test per check; ``selftest`` prints the headline figure."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bdcert_adapters.cli import main
from bdcert_conformance.kit.catalogue import load_catalogue
from bdcert_conformance.plans import load_plan
from tests.support import require_tool

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str | Path) -> tuple[int, str, str]:
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Path]]:
    """The documents plan's reference environment, its run options and a kit operator's
    workspace (whose seal seals the manifest)."""
    require_tool("pdftotext")
    require_tool("zbarimg")
    tmp = tmp_path_factory.mktemp("kit-cli")
    plan = load_plan("documents")
    operator = tmp / "operator"
    assert main(["init", "--demo", "--workspace", str(operator)]) == 0
    with contextlib.ExitStack() as stack:
        env = plan.reference_environment(stack, tmp / "reference")
        yield env, plan.reference_run(env, tmp / "run"), operator


def _args(options: Any) -> list[str | Path]:
    args: list[str | Path] = ["--entries", options.entries, "--documents", options.documents]
    for root in options.trust:
        args += ["--trust", root]
    for key, value in options.settings.items():
        args += ["--set", f"{key}={value}"]
    return args


def test_a_certification_run_reports_and_its_sealed_manifest_checks(
    reference: tuple[Any, Any, Path], tmp_path: Path
) -> None:
    _, options, operator = reference
    report = tmp_path / "report"
    code, out, err = cli(
        "conformance", "run", "--plan", "documents", *_args(options), "--certify",
        "--system", "参考市系统", "--vendor", "bdcert", "--system-version", "1",
        "--report", report, "--seal-workspace", operator,
    )  # fmt: skip
    assert code == 0, out + err
    assert "PASSED" in out and "manifest.pdf sealed" in out
    document = json.loads((report / "report.json").read_text(encoding="utf-8"))
    checks = load_catalogue("documents")
    assert document["result"] == "PASSED" and document["summary"]["PASSED"] == len(checks)
    manifest = json.loads((report / "manifest.json").read_bytes())
    roles = {i["role"] for i in manifest["inputs"]}
    assert roles == {"entries", "document", "trust"}
    assert sum(i["role"] == "document" for i in manifest["inputs"]) == len(
        [p for p in options.documents.rglob("*") if p.is_file()]
    )
    root = operator / "pki" / "root.cert.pem"
    code, out, err = cli("conformance", "check-report", report, "--trust", root)
    assert code == 0 and "as sealed" in out, out + err
    html = report / "report.html"
    html.write_text(html.read_text(encoding="utf-8").replace("FAILED", "PASSED"), encoding="utf-8")
    code, out, err = cli("conformance", "check-report", report, "--trust", root)
    assert code == 1 and "report.html was changed" in err


def test_a_broken_implementation_fails_the_run_naming_its_check(
    reference: tuple[Any, Any, Path], tmp_path: Path
) -> None:
    env, _, _ = reference
    broken = load_plan("documents").BROKEN[0]
    made = broken.make(env, tmp_path / "broken")
    options = made if not isinstance(made, tuple) else made[0]
    code, out, err = cli("conformance", "run", "--plan", "documents", *_args(options), "--json")
    assert code == 1, out + err
    document = json.loads(out)
    results = {c["id"]: c for c in document["checks"]}
    assert results[broken.caught_by]["result"] == "FAILED"
    assert results[broken.caught_by]["evidence"], "a failure carries its evidence"


def test_bad_usage_names_every_bad_option(tmp_path: Path) -> None:
    code, _, err = cli(
        "conformance", "run", "--plan", "documents", "--entries", tmp_path / "none.jsonl",
        "--trust", tmp_path / "none.pem", "--token", "nonsense",
    )  # fmt: skip
    assert code == 2
    assert "--entries" in err and "--trust" in err and "--token 'nonsense'" in err
    not_a_certificate = tmp_path / "entries.jsonl"
    not_a_certificate.write_text("{}\n", encoding="utf-8")
    code, _, err = cli("conformance", "run", "--plan", "documents", "--trust", not_a_certificate)
    assert code == 2 and "not a certificate" in err
    code, _, err = cli(
        "conformance", "check-report", tmp_path / "none", "--trust", not_a_certificate
    )
    assert code == 2 and "no such directory" in err


def test_a_sealed_report_is_never_overwritten_and_the_seal_is_checked_first(
    reference: tuple[Any, Any, Path], tmp_path: Path
) -> None:
    """Both are refused before the plan runs (exit 2): a report directory that holds files,
    a seal authority the seal workspace does not have."""
    _, options, operator = reference
    report = tmp_path / "report"
    report.mkdir()
    (report / "manifest.pdf").write_bytes(b"%PDF sealed earlier")
    code, _, err = cli("conformance", "run", "--plan", "documents", *_args(options),
                       "--report", report, "--seal-workspace", operator, "--seal-authority", "999999")  # fmt: skip
    assert code == 2
    assert "--report" in err and "not empty" in err
    assert "--seal-authority" in err and "999999" in err
    assert sorted(p.name for p in report.iterdir()) == ["manifest.pdf"]


def test_the_pytest_plugin_runs_one_test_per_check(
    reference: tuple[Any, Any, Path], tmp_path: Path
) -> None:
    _, options, _ = reference
    junit = tmp_path / "junit.xml"
    args = [str(a) for a in _args(options)]
    pytest_args = [
        a.replace("--", "--conformance-", 1) if a.startswith("--") and a != "--set" else a
        for a in args
    ]
    pytest_args = ["--conformance-set" if a == "--set" else a for a in pytest_args]
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / d) for d in ("sdk", "plugins", "adapters", "conformance")]
        + [env.get("PYTHONPATH", "")]
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "bdcert_conformance.pytest_plugin",
         "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-q",
         "--pyargs", "bdcert_conformance.test_conformance",
         "--conformance-plan", "documents", *pytest_args, "--conformance-certify",
         "--conformance-report", str(tmp_path / "report"), "--junitxml", str(junit)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", 0)) == len(load_catalogue("documents"))
    assert suite.get("failures") == "0" and suite.get("skipped") == "0"
    assert (tmp_path / "report" / "report.html").is_file()
