"""``bdcert conformance``: the conformance kit a city system or a vendor's plugins run before
going live (rule article 7 paragraph 2, article 12: compatible with the provincial scheme).

- ``bdcert conformance run --plan documents --entries FILE.jsonl --documents DIR --trust
  ROOT.pem --report DIR``: the certificates a system made from registration-book entries;
- ``bdcert conformance run --plan interface --target URL [--province URL] --token ROLE=TOKEN…
  --report DIR``: a system's implementation of the provincial HTTP interface;
- ``bdcert conformance run --plan plugins --workspace DIR [--set HOOK=module:factory…]``: the
  plugins a workspace configures, hook by hook;
- ``bdcert conformance selftest [--plan P]``: the kit against its correct and its deliberately
  broken reference implementations (caught N of M);
- ``bdcert conformance checks [--plan P] [--markdown | --json]``: the catalogue of checks;
- ``bdcert conformance check-report DIR --trust ROOT.pem [--sealed-by OPERATOR]
  [--trust-list ROOT.pem…]``: a report directory is what the kit operator sealed (nothing
  edited, added or missing; sealed by that operator, not merely by some seal under the root;
  the run trusted only the province's roots).

``run --report DIR`` writes ``report.json``, ``junit.xml``, ``report.html`` and
``manifest.json``; with ``--seal-workspace WS`` also ``manifest.pdf``, sealed by WS's
``[audit]`` authority (or ``--seal-authority``). docs/conformance.md explains every check.

Exit codes: ``run``: 0 no check FAILED (and, with ``--certify``, none SKIPPED); 1 otherwise.
``selftest``: 0 the reference passes every check and every broken implementation is caught;
1 otherwise. ``check-report``: 0 the report is as sealed; 1 it is not. 2: bad usage.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from bdcert_adapters.cli.common import add_command, echo, error, print_json, print_table

__all__ = ["register"]

_STYLE = {"PASSED": "green", "FAILED": "bold red", "WARNING": "yellow", "SKIPPED": "dim"}


def register(subparsers: Any) -> None:
    c = subparsers.add_parser(
        "conformance",
        help="the conformance kit: check a city system or plugins against the provincial scheme",
        description=(__doc__ or "").split("\n\n")[0],
    )
    actions = c.add_subparsers(dest="action", required=True, metavar="ACTION")

    r = add_command(actions, "run", "run one plan of the conformance kit against a system")
    r.add_argument("--plan", required=True, choices=("documents", "interface", "plugins"))
    r.add_argument(
        "--entries", type=Path, metavar="FILE", help="registration-book entries (JSON Lines)"
    )
    r.add_argument(
        "--documents", type=Path, metavar="DIR", help="the certificates made from them (PDF/OFD)"
    )
    r.add_argument(
        "--trust",
        type=Path,
        action="append",
        default=[],
        metavar="ROOT.pem",
        help="a root of the province's trust list (repeatable)",
    )
    r.add_argument("--target", metavar="URL", help="the system's base URL (interface plan)")
    r.add_argument("--province", metavar="URL", help="the provincial service's base URL (deposits)")
    r.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="ROLE=TOKEN",
        help="a bearer token for a role (repeatable; docs/conformance.md names the roles)",
    )
    r.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a plan setting (repeatable; docs/conformance.md)",
    )
    r.add_argument("--system", help="the system's name (report and manifest)")
    r.add_argument("--vendor", default="", help="its vendor")
    r.add_argument("--system-version", default="", help="its version")
    r.add_argument(
        "--certify", action="store_true", help="a certification run: a SKIPPED check fails it"
    )
    r.add_argument("--only", action="append", default=[], metavar="ID", help="run only this check")
    r.add_argument("--report", type=Path, metavar="DIR", help="write the reports here")
    r.add_argument(
        "--seal-workspace",
        type=Path,
        metavar="DIR",
        help="seal the run manifest with this workspace's seal",
    )
    r.add_argument(
        "--seal-authority",
        metavar="CODE",
        help="the authority of --seal-workspace that seals (default: its [audit] one)",
    )
    r.add_argument("--json", action="store_true", help="print the JSON report on stdout")
    r.set_defaults(func=cmd_run)

    s = add_command(
        actions, "selftest", "run the kit against its correct and broken reference implementations"
    )
    s.add_argument(
        "--plan",
        action="append",
        default=[],
        choices=("documents", "interface", "plugins"),
        help="only this plan (repeatable; default all three)",
    )
    s.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write selftest.json and the reference runs' reports here",
    )
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_selftest)

    k = add_command(actions, "checks", "list the kit's checks")
    k.add_argument("--plan", choices=("documents", "interface", "plugins"))
    k.add_argument(
        "--markdown", action="store_true", help="as the Markdown table of docs/conformance.md"
    )
    k.add_argument("--json", action="store_true")
    k.set_defaults(func=cmd_checks)

    v = add_command(actions, "check-report", "check that a report directory is what was sealed")
    v.add_argument("directory", type=Path, metavar="DIR")
    v.add_argument(
        "--trust",
        type=Path,
        action="append",
        required=True,
        metavar="ROOT.pem",
        help="the kit operator's root certificate (repeatable)",
    )
    v.add_argument(
        "--sealed-by",
        metavar="OPERATOR",
        help="the kit operator who must have sealed it (name, credit code or common name of "
        "the signer): a root alone also trusts every other seal it anchors",
    )
    v.add_argument(
        "--trust-list",
        type=Path,
        action="append",
        metavar="ROOT.pem",
        help="a root of the province's trust list (repeatable): every --trust the run was "
        "given must be one of them",
    )
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_check_report)


def _usage(exc: Exception) -> int:
    for problem in str(exc).split("; "):
        error(problem)
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    from bdcert_conformance.kit.model import KitUsageError
    from bdcert_conformance.kit.options import make_options
    from bdcert_conformance.kit.report import report_document
    from bdcert_conformance.kit.runner import run_plan

    try:
        options = make_options(
            plan=args.plan,
            entries=args.entries,
            documents=args.documents,
            trust=args.trust,
            target=args.target,
            province=args.province,
            tokens=args.token,
            workspace=Path(args.workspace) if args.workspace else None,
            settings=args.settings,
            system=args.system,
            vendor=args.vendor,
            system_version=args.system_version,
            certify=args.certify,
            only=args.only,
        )
        check_report_options(args)
        run = run_plan(options)
    except KitUsageError as exc:
        return _usage(exc)
    if args.report is not None:
        write_run_reports(run, args.report, args.seal_workspace, args.seal_authority)
    if args.json:
        print_json(report_document(run))
    else:
        print_table(
            f"bdcert conformance: {run.options.plan} plan — {run.options.system}",
            ("ID", "result", "check", "why"),
            [
                (
                    r.check.id,
                    (r.outcome.value, _STYLE[r.outcome.value]),
                    r.check.title,
                    r.verdict.summary,
                )
                for r in run.results
            ],
        )
        counts = (
            ", ".join(f"{r.value} {run.count(r)}" for r in type(run.results[0].outcome))
            if run.results
            else "no checks"
        )
        echo(
            ("PASSED" if run.ok else "FAILED", "green" if run.ok else "bold red"),
            f": {len(run.results)} checks ({counts})",
        )
        if args.report is not None:
            echo(
                f"reports in {args.report}/ (report.html, report.json, junit.xml, manifest.json"
                + (", manifest.pdf sealed)" if args.seal_workspace else ")")
            )
    return 0 if run.ok else 1


def check_report_options(args: argparse.Namespace) -> None:
    """Before the run: ``--report`` is a new or empty directory (a sealed report is never
    overwritten), and ``--seal-workspace`` has the authority that will seal the manifest.

    :raises KitUsageError: naming every problem.
    """
    from bdcert_conformance.kit.manifest import sealing_authority
    from bdcert_conformance.kit.model import KitUsageError

    problems = []
    if args.report is not None and args.report.exists():
        if not args.report.is_dir():
            problems.append(f"--report {args.report}: not a directory")
        elif any(args.report.iterdir()):
            problems.append(
                f"--report {args.report}: not empty (a report is never written over another; "
                "give a new directory)"
            )
    if args.seal_workspace is not None:
        if args.report is None:
            problems.append("--seal-workspace: give --report DIR to write the sealed manifest to")
        if not (args.seal_workspace / "bdcert.toml").is_file():
            problems.append(f"--seal-workspace {args.seal_workspace}: no bdcert workspace there")
        else:
            try:
                sealing_authority(args.seal_workspace, args.seal_authority)
            except Exception as exc:  # the workspace's own configuration errors, named
                option = "--seal-authority" if args.seal_authority else "--seal-workspace"
                problems.append(f"{option}: {exc}")
    elif args.seal_authority is not None:
        problems.append("--seal-authority: give --seal-workspace too")
    if problems:
        raise KitUsageError("; ".join(problems))


def write_run_reports(
    run: Any, directory: Path, seal_workspace: Path | None, seal_authority: str | None
) -> None:
    """The reports of ``run`` in ``directory``, its manifest, and the sealed manifest when a
    seal workspace is given."""
    from bdcert_conformance.kit.manifest import (
        MANIFEST_FILE,
        MANIFEST_PDF,
        build_manifest,
        canonical_json,
        seal_manifest,
    )
    from bdcert_conformance.kit.report import write_reports

    artefacts = write_reports(run, directory)
    data = canonical_json(build_manifest(run, artefacts))
    (directory / MANIFEST_FILE).write_bytes(data)
    if seal_workspace is not None:
        (directory / MANIFEST_PDF).write_bytes(
            seal_manifest(data, seal_workspace, authority_code=seal_authority)
        )


def cmd_selftest(args: argparse.Namespace) -> int:
    from bdcert_conformance.kit.model import PLAN_NAMES
    from bdcert_conformance.kit.selftest import selftest_plan

    plans = args.plan or list(PLAN_NAMES)
    results = []
    with tempfile.TemporaryDirectory(prefix="bdcert-selftest-") as tmp:
        for plan in plans:
            if not args.json:
                echo(f"self-test of the {plan} plan …", stderr=True)
            results.append(selftest_plan(plan, Path(tmp) / plan))
    document = selftest_document(results)
    if args.report is not None:
        args.report.mkdir(parents=True, exist_ok=True)
        from bdcert_conformance.kit.report import write_reports

        for result in results:
            write_reports(result.reference, args.report / result.plan / "reference")
        (args.report / "selftest.json").write_text(
            json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    if args.json:
        print_json(document)
    else:
        for result in results:
            bad = [r for r in result.reference.results if r.outcome.value != "PASSED"]
            echo(
                f"{result.plan}: reference implementation {len(result.reference.results) - len(bad)}"
                f"/{len(result.reference.results)} checks PASSED"
            )
            for r in bad:
                echo(
                    ("  not passed:", "bold red"),
                    f" {r.check.id} {r.outcome.value}: {r.verdict.summary}",
                )
        print_table(
            "broken reference implementations",
            ("ID", "plan", "broken", "check", "caught"),
            [
                (
                    b["id"],
                    b["plan"],
                    b["title"],
                    b["caught_by"],
                    ("caught", "green")
                    if b["caught"]
                    else (f"NOT CAUGHT: {b['found']}", "bold red"),
                )
                for b in document["broken"]
            ],
        )
        total, caught = document["broken_total"], document["broken_caught"]
        echo(
            ("PASSED" if document["ok"] else "FAILED", "green" if document["ok"] else "bold red"),
            f": caught {caught}/{total} broken implementations; reference "
            + (
                "passes every check"
                if all(r.reference_passes for r in results)
                else "does NOT pass every check"
            ),
        )
    return 0 if document["ok"] else 1


def selftest_document(results: list[Any]) -> dict[str, Any]:
    """The self-test's JSON: per plan the reference run's counts; every broken implementation
    with the check that must catch it and what that check said."""
    broken = []
    for result in results:
        for b in result.broken:
            broken.append(
                {
                    "id": b.broken.id,
                    "plan": b.broken.plan,
                    "title": b.broken.title,
                    "caught_by": b.broken.caught_by,
                    "caught": b.caught,
                    "found": b.result.outcome.value
                    if b.result
                    else f"could not be built: {b.error}",
                    "summary": b.result.verdict.summary if b.result else b.error,
                }
            )
    return {
        "format": "bdcert-conformance-selftest",
        "version": 1,
        "plans": [
            {
                "plan": r.plan,
                "checks": len(r.reference.results),
                "reference_passed": sum(x.outcome.value == "PASSED" for x in r.reference.results),
                "reference_passes": r.reference_passes,
                "broken": len(r.broken),
                "caught": r.caught,
            }
            for r in results
        ],
        "broken_total": len(broken),
        "broken_caught": sum(b["caught"] for b in broken),
        "broken": broken,
        "ok": all(r.ok for r in results),
    }


def cmd_checks(args: argparse.Namespace) -> int:
    from bdcert_conformance.kit.catalogue import catalogue_markdown, load_catalogue

    checks = load_catalogue(args.plan)
    if args.markdown:
        print(catalogue_markdown(checks), end="")
    elif args.json:
        for c in checks:
            print_json(
                {
                    "id": c.id,
                    "plan": c.plan,
                    "polarity": c.polarity.value,
                    "title": c.title,
                    "reference": c.reference,
                    "description": c.description,
                }
            )
    else:
        print_table(
            "conformance checks",
            ("ID", "plan", "check", "reference"),
            [(c.id, c.plan, c.title, c.reference) for c in checks],
        )
    return 0


def cmd_check_report(args: argparse.Namespace) -> int:
    from bdcert_conformance.kit.manifest import check_report

    if not args.directory.is_dir():
        error(f"{args.directory}: no such directory")
        return 2
    roots = [p.read_bytes() for p in args.trust]
    trust_list = [p.read_bytes() for p in args.trust_list] if args.trust_list else None
    found = check_report(args.directory, roots, sealed_by=args.sealed_by, trust_list=trust_list)
    if args.json:
        print_json(
            {
                "ok": found.ok,
                "problems": list(found.problems),
                "sealed_by": found.sealed_by,
                "sealed_at": found.sealed_at.isoformat() if found.sealed_at else None,
                "manifest": found.manifest,
            }
        )
    elif found.ok:
        m = found.manifest or {}
        echo(
            ("as sealed", "green"),
            f": {args.directory} — {m.get('plan')} plan of "
            f"{m.get('system', {}).get('name')}: {m.get('result')}"
            + (
                " (certification run)"
                if m.get("certify")
                else " (NOT a certification run: SKIPPED checks and --only allowed)"
            )
            + f"; sealed by {found.sealed_by} at "
            f"{found.sealed_at.isoformat() if found.sealed_at else '?'}",
        )
    else:
        for p in found.problems:
            error(p, "not as sealed")
    return 0 if found.ok else 1
