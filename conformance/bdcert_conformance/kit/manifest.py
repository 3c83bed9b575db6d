"""The run manifest: who was tested, with what, when, and the SHA-256 of every input and
report, sealed with the kit operator's seal so the province can check that a report handed to
it was not edited.

A report directory holds ``report.json``, ``junit.xml``, ``report.html``, ``manifest.json``
(canonical JSON: sorted keys, UTF-8, no spaces) and, when a seal workspace was given,
``manifest.pdf``: a one-page statement with ``manifest.json`` embedded, sealed (PAdES, or SM2
for an SM2 workspace) by the workspace's ``[audit]`` authority — check it with ``pdfsig``
(the operator's root trusted) or :func:`check_report` (``bdcert conformance check-report``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from bdcert_conformance.kit.model import RunResult, data_text
from bdcert_conformance.kit.report import run_header

__all__ = [
    "MANIFEST_FILE",
    "MANIFEST_FORMAT",
    "MANIFEST_PDF",
    "ReportCheck",
    "build_manifest",
    "canonical_json",
    "check_report",
    "seal_manifest",
    "sha256_file",
]

MANIFEST_FORMAT = "bdcert-conformance-manifest"
MANIFEST_FILE = "manifest.json"
MANIFEST_PDF = "manifest.pdf"
#: The reports every kit run writes (:func:`bdcert_conformance.kit.report.write_reports`).
REPORT_FILES = frozenset({"report.json", "junit.xml", "report.html"})


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8: the bytes whose digest is stated."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_manifest(run: RunResult, artefacts: Sequence[Path]) -> dict[str, Any]:
    """The manifest of ``run``: system, vendor, version, kit version, plan, the settings and
    the ``only`` selection (both change what the run proves), times, result, counts, the
    SHA-256 and size of every input file (role, path as given; a setting naming a file, such as
    ``authorities=FILE``, is an input too) and of every artefact (file name within the report
    directory)."""
    o = run.options
    return {
        "format": MANIFEST_FORMAT,
        "version": 1,
        **run_header(run),
        "province": o.province,
        "workspace": str(o.workspace) if o.workspace else None,
        "inputs": [
            {
                "role": role,
                "path": data_text(path),
                "sha256": sha256_file(path),
                "bytes": path.stat().st_size,
            }
            for role, path in o.input_files()
        ],
        "artefacts": [
            {"name": p.name, "sha256": sha256_file(p), "bytes": p.stat().st_size} for p in artefacts
        ],
    }


def sealing_authority(workspace: Path, authority_code: str | None = None) -> Any:
    """The :class:`~bdcert.model.Authority` of ``workspace`` that seals manifests:
    ``authority_code``, else its ``[audit]`` authority.

    :raises bdcert.errors.ConfigurationError: the workspace has no such authority.
    """
    from bdcert.config import Workspace
    from bdcert.errors import ConfigurationError
    from bdcert.lifecycle import Registry

    with Registry.open(Workspace.load(workspace)) as registry:
        authority = (
            registry.checkpointer.authority
            if authority_code is None
            else registry.authorities.get(authority_code)
        )
    if authority is None:
        raise ConfigurationError(
            f"the seal workspace {workspace} has no authority "
            f"{authority_code or '([audit] authority)'} to seal the manifest"
        )
    return authority


def seal_manifest(
    data: bytes, workspace: Path, *, authority_code: str | None = None, operator: str = ""
) -> bytes:
    """The sealed one-page statement of the manifest ``data`` (canonical JSON, embedded as
    ``manifest.json``), sealed by ``workspace``'s ``authority_code`` (default: its ``[audit]``
    authority) through the workspace's seal provider.

    :raises bdcert.errors.ConfigurationError: no such authority in the workspace.
    :raises bdcert.errors.SealingError: the seal provider failed.
    """
    from bdcert.config import Workspace
    from bdcert.errors import ConfigurationError
    from bdcert.lifecycle import Registry
    from bdcert.render.statement import statement_pdf
    from bdcert.sealing.statement import statement_seal_request

    manifest = json.loads(data)
    digest = hashlib.sha256(data).hexdigest()
    with Registry.open(Workspace.load(workspace)) as registry:
        if authority_code is None:
            authority = registry.checkpointer.authority
        else:
            authority = registry.authorities.get(authority_code)
        if authority is None:
            raise ConfigurationError(
                f"the seal workspace {workspace} has no authority "
                f"{authority_code or '([audit] authority)'} to seal the manifest"
            )
        now = registry.clock().replace(microsecond=0)
        summary = manifest["summary"]
        lines = [
            ("被测系统 System", f"{manifest['system']['name']} {manifest['system']['version']}"),
            ("厂商 Vendor", manifest["system"]["vendor"] or "—"),
            (
                "测试计划 Plan",
                manifest["plan"] + (" (certification)" if manifest["certify"] else ""),
            ),
            ("结论 Result", manifest["result"]),
            (
                "检查项 Checks",
                ", ".join(f"{k} {summary[k]}" for k in ("PASSED", "FAILED", "WARNING", "SKIPPED")),
            ),
            (
                "设置 Settings",
                ", ".join(f"{k}={v}" for k, v in manifest.get("settings", {}).items())
                or "— (defaults)",
            ),
            ("时间 Run", f"{manifest['started_at']} — {manifest['finished_at']}"),
            ("工具 Kit", f"bdcert {manifest['kit_version']}"),
            ("测试者 Operator", f"{authority.name} ({authority.code}) {operator}".strip()),
            (f"{MANIFEST_FILE} (SHA-256)", digest),
        ]
        note = (
            "本清单列出本次符合性测试的输入与报告文件及其 SHA-256 摘要，明细见所附 "
            f"{MANIFEST_FILE}。This manifest lists the inputs and reports of one conformance "
            "run with their SHA-256 digests; the list is the attached JSON file."
        )
        pdf = statement_pdf(
            registry.renderer.fonts,
            "不动产登记电子证照符合性测试清单",
            note,
            lines,
            replace_missing=True,
            pdf_title=f"符合性测试清单 {manifest['plan']} {manifest['started_at']}",
            subject=json.dumps({"type": MANIFEST_FORMAT, "sha256": digest}),
            keywords=MANIFEST_FORMAT,
            author=authority.name,
            created=now,
            attachment=(MANIFEST_FILE, data, "application/json", "符合性测试清单 run manifest"),
        )
        sealed: bytes = registry.seal_provider.seal_pdf(
            pdf,
            statement_seal_request(
                authority,
                registry.renderer.seal_picture(authority),
                reason="不动产登记电子证照符合性测试清单",
                field_name="bdcert-conformance-manifest",
                signing_time=now,
            ),
        )
    return sealed


@attrs.frozen
class ReportCheck:
    """What :func:`check_report` found: ``problems`` (empty: the report is what was sealed),
    the manifest read, and who sealed it (the signer's subject) and when."""

    problems: tuple[str, ...]
    manifest: dict[str, Any] | None
    sealed_by: str | None
    sealed_at: datetime | None

    @property
    def ok(self) -> bool:
        return not self.problems


def _embedded_manifest(pdf: bytes) -> bytes:
    from bdcert.verify.offline import embedded_file

    return embedded_file(pdf, MANIFEST_FILE)


def _subject_values(subject: str | None) -> set[str]:
    """The attribute values of a signer's subject (``CN=…,serialNumber=…,O=…``)."""
    values = set()
    for part in re.split(r"(?<!\\),", subject or ""):
        _, sep, value = part.partition("=")
        if sep:
            values.add(value.replace("\\,", ",").strip())
    return values


def check_report(
    directory: Path,
    trust_roots: Sequence[bytes],
    *,
    sealed_by: str | None = None,
    trust_list: Sequence[bytes] | None = None,
) -> ReportCheck:
    """Check a report directory: ``manifest.pdf``'s seal holds and chains to ``trust_roots``
    (PEM/DER), its embedded manifest is ``manifest.json`` byte for byte, every artefact the
    manifest lists has the SHA-256 it states (no report file edited, none missing), the
    manifest lists the three reports, and the directory holds no file the manifest does not
    list (none added beside the sealed ones).

    :param sealed_by: who must have sealed it: the kit operator's name, unified social credit
        code or common name, equal to one of the signer subject's values. The trust roots alone
        do not say it: a province's root also anchors every city authority's seal, and a city
        could seal a report of its own making. None: any signer under the roots.
    :param trust_list: the province's trust list (the root files as they are, PEM or DER):
        every ``trust`` input of the run must be one of them, byte for byte (SHA-256). Whoever
        runs the kit gives ``--trust``: a system sealed under a root of its own passes the
        documents plan's chain check against that root. None: not compared.

    Every problem is listed, not only the first.
    """
    from bdcert.model import VerdictCode
    from bdcert.verify.offline import seal_check

    problems: list[str] = []
    pdf_path, json_path = directory / MANIFEST_PDF, directory / MANIFEST_FILE
    if not pdf_path.is_file():
        return ReportCheck(
            (f"{MANIFEST_PDF} is missing: the manifest was not sealed",), None, None, None
        )
    pdf = pdf_path.read_bytes()
    seal = seal_check(pdf, list(trust_roots))
    sealed_by_subject = getattr(seal, "signer", None)
    sealed_at = getattr(seal, "signed_at", None)
    if seal.code is not VerdictCode.VALID or not seal.trusted:
        problems.append(f"{MANIFEST_PDF}: its seal fails: {seal.code.value}: {seal.detail}")
    elif sealed_by is not None and sealed_by.strip() not in _subject_values(sealed_by_subject):
        problems.append(
            f"{MANIFEST_PDF} was sealed by {sealed_by_subject}, not by the kit operator "
            f"{sealed_by.strip()}"
        )
    try:
        embedded = _embedded_manifest(pdf)
    except Exception as exc:  # pyHanko raises many kinds on a PDF that is no manifest
        problems.append(f"{MANIFEST_PDF} holds no {MANIFEST_FILE}: {exc}")
        return ReportCheck(tuple(problems), None, sealed_by_subject, sealed_at)
    if not json_path.is_file():
        problems.append(f"{MANIFEST_FILE} is missing (the sealed copy is used)")
    elif json_path.read_bytes() != embedded:
        problems.append(f"{MANIFEST_FILE} differs from the copy sealed in {MANIFEST_PDF}")
    try:
        manifest = json.loads(embedded)
        artefacts = manifest["artefacts"]
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"format {manifest.get('format')!r}")
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"the sealed manifest is unreadable: {exc}")
        return ReportCheck(tuple(problems), None, sealed_by_subject, sealed_at)
    listed = {Path(str(a.get("name", ""))).name for a in artefacts if isinstance(a, dict)}
    for name in sorted(REPORT_FILES - listed):
        problems.append(f"the sealed manifest does not list {name}: it is not a kit report")
    for extra in sorted(p.name for p in directory.iterdir()):
        if extra not in listed | {MANIFEST_FILE, MANIFEST_PDF}:
            problems.append(f"{extra} is not in the sealed manifest: it was added after the run")
    if trust_list is not None:
        allowed = {hashlib.sha256(root).hexdigest() for root in trust_list}
        for item in manifest.get("inputs", []):
            if item.get("role") == "trust" and item.get("sha256") not in allowed:
                problems.append(
                    f"the run trusted {item.get('path')} (SHA-256 {item.get('sha256')}), "
                    "which is not on the province's trust list"
                )
    for artefact in artefacts:
        path = directory / Path(str(artefact["name"])).name
        if not path.is_file():
            problems.append(f"{path.name} is missing")
        elif sha256_file(path) != artefact["sha256"]:
            problems.append(
                f"{path.name} was changed: SHA-256 {sha256_file(path)}, the manifest states "
                f"{artefact['sha256']}"
            )
    return ReportCheck(tuple(problems), manifest, sealed_by_subject, sealed_at)
