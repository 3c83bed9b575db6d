"""A run's reports: JSON (with a schema version; ``report.schema.json`` beside this module),
JUnit XML for CI, and one self-contained HTML page a city hands to the province.

``write_reports(run, directory)`` writes ``report.json``, ``junit.xml`` and ``report.html`` and
returns their paths; :mod:`bdcert_conformance.kit.manifest` then lists their SHA-256 in the
run manifest and seals it.

Every value that came from the system under test (a face value, a file name, a response) is
data: the HTML escapes it (Jinja2 autoescape), the JUnit writer escapes it (ElementTree), and
nothing is interpreted as markup anywhere.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bdcert_conformance.kit.model import Outcome, RunResult, data_text

__all__ = [
    "REPORT_FORMAT",
    "REPORT_SCHEMA_VERSION",
    "SCHEMA_PATH",
    "report_document",
    "write_html",
    "write_json",
    "write_junit",
    "write_reports",
]

REPORT_FORMAT = "bdcert-conformance-report"
#: The JSON report's schema version: bumped when a field changes meaning or goes away.
REPORT_SCHEMA_VERSION = 1
#: The JSON Schema (draft 2020-12) of ``report.json``.
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")

#: XML 1.0 forbids most C0 controls even escaped: JUnit readers would reject the file.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _xml_text(value: object) -> str:
    return _XML_ILLEGAL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def _visible(value: Any) -> Any:
    """``value`` (the JSON report) with the control characters in its text shown as ``\\xNN``:
    a NUL or an escape sequence from a system has no business in the HTML page."""
    if isinstance(value, str):
        return _xml_text(value)
    if isinstance(value, dict):
        return {k: _visible(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_visible(v) for v in value]
    return value


def run_header(run: RunResult) -> dict[str, Any]:
    """What the report and the run manifest both say of a run: the kit version, plan, system
    (name, vendor, version), target, certification, settings, the checks asked for (``only``),
    times, result and the count of each outcome."""
    o = run.options
    return {
        "kit_version": run.kit_version,
        "plan": o.plan,
        "system": {"name": o.system, "vendor": o.vendor, "version": o.system_version},
        "target": o.target,
        "certify": o.certify,
        "settings": {data_text(k): data_text(v) for k, v in sorted(o.settings.items())},
        "only": list(o.only),
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "result": "PASSED" if run.ok else "FAILED",
        "summary": {outcome.value: run.count(outcome) for outcome in Outcome},
    }


def report_document(run: RunResult) -> dict[str, Any]:
    """The JSON report of ``run`` as a dict (see :data:`SCHEMA_PATH`)."""
    header = run_header(run)
    return {
        "format": REPORT_FORMAT,
        "schema_version": REPORT_SCHEMA_VERSION,
        **header,
        "summary": header["summary"] | {"checks": len(run.results)},
        "checks": [
            {
                "id": r.check.id,
                "polarity": r.check.polarity.value,
                "plan": r.check.plan,
                "title": r.check.title,
                "reference": r.check.reference,
                "description": r.check.description,
                "result": r.outcome.value,
                "summary": r.verdict.summary,
                "seconds": round(r.seconds, 3),
                "evidence": [e.as_dict() for e in r.verdict.evidence],
            }
            for r in run.results
        ],
    }


def write_json(run: RunResult, path: Path) -> Path:
    """``report.json``: UTF-8, keys in a stable order."""
    path.write_text(
        json.dumps(report_document(run), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return path


def write_junit(run: RunResult, path: Path) -> Path:
    """JUnit XML: one ``testsuite`` (the plan), one ``testcase`` per check (``classname``
    ``bdcert.conformance.PLAN``, ``name`` ``ID title``); FAILED is a ``failure``, SKIPPED a
    ``skipped``, WARNING a pass with the warning in ``system-out``."""
    suite = ET.Element(
        "testsuite",
        name=f"bdcert conformance: {run.options.plan}",
        tests=str(len(run.results)),
        failures=str(run.count(Outcome.FAILED)),
        skipped=str(run.count(Outcome.SKIPPED)),
        errors="0",
        time=f"{(run.finished_at - run.started_at).total_seconds():.3f}",
        timestamp=run.started_at.isoformat(),
    )
    for r in run.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"bdcert.conformance.{r.check.plan}",
            name=_xml_text(f"{r.check.id} {r.check.title}"),
            time=f"{r.seconds:.3f}",
        )
        details = "\n".join(
            _xml_text(
                f"{e.field}: expected {e.expected!r}, found {e.found!r}"
                + (f" ({e.file}" + (f", page {e.page}" if e.page else "") + ")" if e.file else "")
                + (f" — {e.note}" if e.note else "")
            )
            for e in r.verdict.evidence
        )
        if r.outcome is Outcome.FAILED:
            failure = ET.SubElement(case, "failure", message=_xml_text(r.verdict.summary))
            failure.text = details
        elif r.outcome is Outcome.SKIPPED:
            ET.SubElement(case, "skipped", message=_xml_text(r.verdict.summary))
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _xml_text(f"{r.outcome.value}: {r.verdict.summary}\n{details}")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def write_html(run: RunResult, path: Path) -> Path:
    """``report.html``: one self-contained page (inline CSS, no script, no external resource):
    the system and the summary first, then every check with its evidence."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bdcert_conformance.kit", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("report.html").render(report=_visible(report_document(run)))
    path.write_text(html, encoding="utf-8")
    return path


def write_reports(run: RunResult, directory: Path) -> Sequence[Path]:
    """``report.json``, ``junit.xml`` and ``report.html`` of ``run`` in ``directory`` (made)."""
    directory.mkdir(parents=True, exist_ok=True)
    return (
        write_json(run, directory / "report.json"),
        write_junit(run, directory / "junit.xml"),
        write_html(run, directory / "report.html"),
    )
