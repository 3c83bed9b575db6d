"""The three plans as certification runs against the started reference city system
(:mod:`bdcert_conformance.reference_city`): ``conformance/reference-city/certify DIR REPORTDIR``.

1. :func:`push_timeline`: bdcert's bundled example timeline (``sichuan-2024.jsonl``) — the
   entries of the authorities the city issues for (510100, 510700; 513401's it mirrors) — and one
   entry recorded at 06:40 China time (:func:`early_entry`, so that P-015 has a date whose UTC
   day differs from its China day) are pushed to the city by its platform;
2. the **interface** plan against the city (:func:`~bdcert_conformance.reference_city.run_options`);
3. the **documents** plan on the city's register as it then is (:func:`export_register`): every
   stored registration's pushed entry, every certificate's PDF (and OFD), an index giving each
   file's entry and the register's issue time, the province's root as trust — the whole register
   of the city's own authorities, so each one's numbers run from 1 (P-005);
4. the **plugins** plan on the city's workspace (:func:`plugins_options`), with the token of
   every ``[identity.tokens]`` entry and the environment the city's processes have.

Each run's reports (``write_reports``) and manifest, sealed with the province's workspace (the
kit operator here), go to ``REPORTDIR/<plan>/``; one line per plan is printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "EARLY_ENTRY_YWH",
    "Export",
    "certify",
    "city_environment",
    "documents_options",
    "early_entry",
    "export_register",
    "main",
    "plugins_options",
    "push_timeline",
    "summary_line",
]

#: The ywh of :func:`early_entry`.
EARLY_ENTRY_YWH = "510100-2024-000190"
PLANS = ("interface", "documents", "plugins")


def _example_lines() -> list[str]:
    from importlib import resources

    source = resources.files("bdcert_adapters") / "examples" / "sichuan-2024.jsonl"
    return [line for line in source.read_text("utf-8").splitlines() if line.strip()]


def early_entry() -> dict[str, Any]:
    """The example's 510100-2024-000101 again, as ywh 510100-2024-000190 on unit …0190,
    recorded at 06:40 China time on 2024-04-20 (22:40 UTC on the 19th)."""
    first = json.loads(_example_lines()[0])
    first.update(
        ywh=EARLY_ENTRY_YWH,
        dbsj="2024-04-20T06:40:00+08:00",
        bdcdyh=["510104001001GB00001F00010190"],
        zl="成都市锦江区东大街下东大街段199号1栋2单元1902号",
    )
    return dict(first)


def push_timeline(state: dict[str, Any]) -> dict[str, int]:
    """Push the example timeline's 510100/510700 entries and :func:`early_entry` to the city
    (its platform token), one by one in the timeline's order; ``{status: count}``. Replays
    (200) are fine: the timeline may be pushed again."""
    import httpx

    from bdcert_conformance.reference_city import AUTHORITY, OTHER

    lines = [json.loads(line) for line in _example_lines()]
    entries = [e for e in lines if e.get("djjg") in (AUTHORITY, OTHER)] + [early_entry()]
    counts: dict[int, int] = {}
    headers = {"Authorization": f"Bearer {state['tokens']['platform']}"}
    with httpx.Client(base_url=state["target"], headers=headers, timeout=120) as client:
        for entry in entries:
            status = client.post("/api/v1/entries", json=entry).status_code
            counts[status] = counts.get(status, 0) + 1
    if any(status >= 500 for status in counts):
        raise RuntimeError(f"the city answered pushes with {counts}")
    return {str(k): v for k, v in sorted(counts.items())}


@attrs.frozen
class Export:
    """The documents plan's inputs exported from a city's register (:func:`export_register`):
    ``entries`` (JSON Lines), ``documents`` (directory), ``index`` (JSON: file -> ywh and
    issue time), ``trust`` (the province's root), and what was counted."""

    entries: Path
    documents: Path
    index: Path
    trust: Path
    registrations: int
    certificates: int
    files: int


def export_register(state: dict[str, Any], directory: Path) -> Export:
    """Export the city's register of its own authorities (its SQLite database, read only) as
    the documents plan's inputs in ``directory`` (made; must not hold a previous export): every
    stored registration's pushed entry (``RegistrationEntry.source``) in the order stored, every
    certificate's current PDF and its OFD if any (``documents/NNNN.pdf``), and ``index.json``
    ``{"NNNN.pdf": {"ywh": …, "issued_at": …}}``.

    Certificates of the mirrored authority (513401, issued and sealed by the province and copied
    by ``bdcert city sync``) are the province's, not the city's, and are left out: their register
    rows hold no pushed entry (``bdcert city sync`` stores ``{"source": "mirrored", "ywh": …}``),
    so nothing could say what they were made from.

    :raises FileExistsError: ``directory/documents`` exists already.
    """
    city = Path(state["workspaces"]["city"])
    documents = directory / "documents"
    documents.mkdir(parents=True)
    uri = f"file:{city / 'bdcert.sqlite3'}?mode=ro"
    index: dict[str, dict[str, str]] = {}
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        mirrored = state["mirrored_authority"]
        sources = [
            row[0]
            for row in db.execute(
                "SELECT source FROM registrations WHERE authority <> ? ORDER BY rowid", (mirrored,)
            )
        ]
        certificates = db.execute(
            "SELECT c.number, c.ywh, c.issued_at, p.pdf, o.ofd FROM certificates c "
            "JOIN pdfs p ON p.number = c.number "
            "LEFT JOIN ofd_documents o ON o.number = c.number WHERE c.authority <> ? "
            "ORDER BY c.authority, c.year, c.kind, c.sequence",
            (mirrored,),
        ).fetchall()
    files = 0
    for i, (_number, ywh, issued_at, pdf, ofd) in enumerate(certificates, 1):
        issued = datetime.fromisoformat(issued_at).isoformat()
        for suffix, data in (("pdf", pdf), ("ofd", ofd)):
            if data is None:
                continue
            name = f"{i:04d}.{suffix}"
            (documents / name).write_bytes(data)
            index[name] = {"ywh": ywh, "issued_at": issued}
            files += 1
    entries = directory / "entries.jsonl"
    entries.write_text("".join(s + "\n" for s in sources), "utf-8")
    index_file = directory / "index.json"
    index_file.write_text(json.dumps(index, ensure_ascii=False, indent=1) + "\n", "utf-8")
    return Export(
        entries,
        documents,
        index_file,
        Path(state["province_root"]),
        len(sources),
        len(certificates),
        files,
    )


def documents_options(state: dict[str, Any], export: Export, **more: Any) -> Any:
    """The documents plan's :class:`~bdcert_conformance.kit.model.RunOptions` on ``export``."""
    from bdcert_conformance.kit.model import RunOptions

    return RunOptions(
        plan="documents",
        entries=export.entries,
        documents=export.documents,
        trust=(export.trust,),
        settings={"index": str(export.index)},
        system="bdcert reference city",
        **more,
    )


def plugins_options(state: dict[str, Any], **more: Any) -> Any:
    """The plugins plan's :class:`~bdcert_conformance.kit.model.RunOptions` on the city's
    workspace, with the token of every ``[identity.tokens]`` entry (run it inside
    :func:`city_environment`)."""
    from bdcert_conformance.kit.model import RunOptions

    return RunOptions(
        plan="plugins",
        workspace=Path(state["workspaces"]["city"]),
        tokens=dict(state["token_names"]),
        system="bdcert reference city",
        **more,
    )


@contextlib.contextmanager
def city_environment(state: dict[str, Any]) -> Iterator[None]:
    """``os.environ`` with what the city's processes have (the seal service's token, the
    webhook secret) for the block; restored after."""
    saved = {k: os.environ.get(k) for k in state["env"]}
    os.environ.update(state["env"])
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def summary_line(run: Any) -> str:
    """``interface: PASSED, 35 checks (PASSED 35, FAILED 0, WARNING 0, SKIPPED 0)``."""
    from bdcert_conformance.kit.model import Outcome

    counts = ", ".join(f"{o.value} {run.count(o)}" for o in Outcome)
    return f"{run.options.plan}: {'PASSED' if run.ok else 'FAILED'}, {len(run.results)} checks ({counts})"


def certify(directory: Path, reports: Path, workdir: Path | None = None) -> dict[str, Any]:
    """Run the three plans (``--certify``) against the reference city started in
    ``directory``; reports and sealed manifests in ``reports/<plan>/`` (each new or empty).
    Returns ``{plan: RunResult}``.

    :raises FileExistsError: a report directory is not empty (a sealed report is never
        overwritten).
    """
    import tempfile

    from bdcert_adapters.cli.conformance import write_run_reports
    from bdcert_conformance.kit.runner import run_plan
    from bdcert_conformance.reference_city import load, run_options

    state = load(directory.resolve())
    for plan in PLANS:
        target = reports / plan
        if target.exists() and any(target.iterdir()):
            raise FileExistsError(f"{target}: not empty (give a new report directory)")
    province = Path(state["workspaces"]["province"])
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bdcert-reference-certify-") as tmp:
        work = Path(workdir or tmp)
        push_timeline(state)
        runs["interface"] = run_plan(run_options(state, certify=True), workdir=work / "interface")
        export = export_register(state, work / "export")
        runs["documents"] = run_plan(
            documents_options(state, export, certify=True), workdir=work / "documents"
        )
        with city_environment(state):
            runs["plugins"] = run_plan(
                plugins_options(state, certify=True), workdir=work / "plugins"
            )
        for plan, run in runs.items():  # while the inputs exist: the manifest hashes them
            (reports / plan).mkdir(parents=True, exist_ok=True)
            write_run_reports(run, reports / plan, province, None)
    return runs


def main(directory: Path, reports: Path) -> int:
    """Print one line per plan and where its reports are; exit 0 when all three passed."""
    try:
        runs = certify(directory, reports)
    except (FileExistsError, FileNotFoundError, RuntimeError) as exc:
        print(f"reference-city certify: {exc}", file=sys.stderr)
        return 1
    for plan, run in runs.items():
        print(f"{summary_line(run)} — {reports / plan}/report.html")
        for r in run.results:
            if r.outcome.value != "PASSED":
                print(f"  {r.check.id} {r.outcome.value}: {r.verdict.summary}")
    return 0 if all(run.ok for run in runs.values()) else 1
