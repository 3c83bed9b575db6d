"""The documents plan: the reference passes every check (PDF and OFD), each broken implementation
is caught by the check it names, and the checks' evidence names field, expected, found, file
and page. The reference is built once for the module (about 15 s); each broken implementation
runs only its named check."""

from __future__ import annotations

import contextlib
import json
import random
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.identifiers import iso7064_mod37_36 as bdcert_mod37_36
from bdcert.model import CertificateKind
from bdcert_conformance.kit.model import Outcome, RunOptions, RunResult, checks_of
from bdcert_conformance.kit.runner import run_plan
from bdcert_conformance.plans import documents
from bdcert_conformance.plans.documents_read import expected_kind, read_document
from bdcert_conformance.plans.documents_seal import seal_facts
from tests.support import require_module, require_tool

# the reference's OFD and SM2 PDF documents need the gm extra (skipped on a laptop, fails in CI)
require_module("tongsuopy", "tongsuopy (the gm extra)", install="pip install -e '.[gm,test]'")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    for tool in ("pdftotext", "pdftoppm", "pdffonts", "zbarimg"):
        require_tool(tool)
    with contextlib.ExitStack() as stack:
        yield documents.reference_environment(stack, tmp_path_factory.mktemp("docs-reference"))


@pytest.fixture(scope="module")
def reference(env: Any, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    workdir = tmp_path_factory.mktemp("docs-reference-run")
    return run_plan(documents.reference_run(env, workdir), workdir=workdir / "checks")


def _report(run: RunResult) -> str:
    return "\n".join(
        f"{r.check.id} {r.outcome.value}: {r.verdict.summary}"
        + "".join(f"\n    {e}" for e in r.verdict.evidence[:5])
        for r in run.results
    )


def test_the_reference_passes_every_check(reference: RunResult) -> None:
    assert reference.results, "the plan has no checks"
    not_passed = [r for r in reference.results if r.outcome is not Outcome.PASSED]
    assert not not_passed, _report(reference)


def test_the_reference_covers_both_kinds_both_formats_and_entries_without_certificates(
    env: Any, reference: RunResult
) -> None:
    names = [p.name for p in env.documents.iterdir()]
    assert any(n.endswith(".ofd") for n in names) and any(n.endswith(".pdf") for n in names)
    sealed = [seal_facts(read_document(p, env.documents)) for p in sorted(env.documents.iterdir())]
    assert any(f.sm2 for f in sealed if f.signatures == 1), "no SM2 seal in the reference"
    assert any(not f.sm2 for f in sealed), "no PAdES seal in the reference"
    summary = reference.result("P-001").verdict.summary
    assert "不动产权证书" in summary and "不动产登记证明" in summary and "无证 2" in summary
    assert "early-morning" in reference.result("P-015").verdict.summary
    assert {c.id for c in checks_of("documents")} == {r.check.id for r in reference.results}


def test_at_least_ten_broken_implementations_each_named_check_exists() -> None:
    ids = {c.id for c in checks_of("documents")}
    assert len(documents.BROKEN) >= 10
    assert len({b.id for b in documents.BROKEN}) == len(documents.BROKEN)
    for b in documents.BROKEN:
        assert b.plan == "documents" and b.caught_by in ids, b


_CAUGHT: dict[str, RunResult] = {}


def _broken_run(env: Any, broken_id: str, workdir: Path) -> RunResult:
    if broken_id not in _CAUGHT:
        broken = next(b for b in documents.BROKEN if b.id == broken_id)
        options = broken.make(env, workdir / broken.id)
        options = attrs.evolve(options, only=(broken.caught_by,))
        _CAUGHT[broken_id] = run_plan(options, workdir=workdir / f"{broken.id}-checks")
    return _CAUGHT[broken_id]


@pytest.mark.parametrize("broken", documents.BROKEN, ids=lambda b: b.id)
def test_each_broken_implementation_is_caught_by_its_check(
    env: Any, broken: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run = _broken_run(env, broken.id, tmp_path_factory.mktemp("docs-broken"))
    result = run.result(broken.caught_by)
    assert result.outcome is Outcome.FAILED, f"{broken.id} ({broken.title}) slipped through: " + (
        result.verdict.summary
    )
    assert result.verdict.evidence, "a FAILED verdict without evidence"
    assert not result.verdict.summary.startswith("the check could not run"), result.verdict.summary


# --------------------------------------------------------------------------- evidence


def test_a_wrong_check_character_names_the_field_expected_found_file_and_page(
    env: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run = _broken_run(env, "B-001", tmp_path_factory.mktemp("docs-broken"))
    (evidence,) = run.result("P-006").verdict.evidence
    assert evidence.field == "电子证照标识 (check character)"
    assert evidence.file == "510100-property_certificate-0000002.pdf"
    assert evidence.page == 1
    assert evidence.expected != evidence.found and evidence.found == "0"
    assert evidence.expected == bdcert_mod37_36(
        "11100000MB03271699001" + "12510100MB1C7A3X2H" + "20240000002" + "001"
    )


def test_a_truncated_value_says_how_much_was_printed(
    env: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run = _broken_run(env, "B-006", tmp_path_factory.mktemp("docs-broken"))
    (evidence,) = run.result("P-003").verdict.evidence
    assert evidence.field == "坐落" and evidence.page == 1
    assert evidence.found is not None and evidence.found.endswith("…")
    assert evidence.expected is not None and evidence.expected.startswith(evidence.found[:-1])
    assert evidence.note == f"24 of {len(evidence.expected)} characters printed"


def test_a_misplaced_seal_names_where_the_name_and_the_seal_are(
    env: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run = _broken_run(env, "B-016", tmp_path_factory.mktemp("docs-broken"))
    (evidence,) = run.result("P-009").verdict.evidence
    assert evidence.field == "seal" and evidence.page == 1
    assert evidence.expected is not None and evidence.expected.startswith("over 登记机构 at (")
    assert evidence.found is not None and evidence.found.startswith("seal at (21, 21)")


def test_a_utc_date_is_named_as_such(env: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    run = _broken_run(env, "B-010", tmp_path_factory.mktemp("docs-broken"))
    (evidence,) = run.result("P-015").verdict.evidence
    assert evidence.field == "签发日期" and evidence.page == 1
    assert evidence.note.startswith("the UTC date of ")


def test_every_finding_is_listed_not_only_the_first(env: Any, tmp_path: Path) -> None:
    """Two entries left out of the entries file: every document made from them is reported."""
    lines = env.entries.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if '"510100-2024-000102"' not in line]
    kept = [line for line in kept if '"510100-2024-000103"' not in line]
    entries = tmp_path / "entries.jsonl"
    entries.write_text("\n".join(kept) + "\n", encoding="utf-8")
    options = RunOptions(
        plan="documents", entries=entries, documents=env.documents, trust=env.trust,
        only=("P-001",),
    )  # fmt: skip
    result = run_plan(options, workdir=tmp_path / "checks").result("P-001")
    assert result.outcome is Outcome.FAILED
    unmatched = sorted(
        e.file for e in result.verdict.evidence if e.found == "no entry matches its face"
    )
    # 000102 made one certificate in PDF and OFD; 000103 two (分别持证)
    assert unmatched == [
        "510100-property_certificate-0000002.ofd",
        "510100-property_certificate-0000002.pdf",
        "510100-property_certificate-0000003.pdf",
        "510100-property_certificate-0000004.pdf",
    ]


def test_a_document_for_a_cancellation_is_refused(env: Any, tmp_path: Path) -> None:
    """注销 produces no certificate (rule article 6): a document the index says was made from
    the 注销 entry is reported against it."""
    documents_dir = tmp_path / "documents"
    shutil.copytree(env.documents, documents_dir)
    index = tmp_path / "index.json"
    mapping = {p.name: env.certificates[p.name].business_number for p in documents_dir.iterdir()}
    mapping["510100-property_certificate-0000008.pdf"] = "510100-2024-000115"  # the 注销
    index.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    options = RunOptions(
        plan="documents", entries=env.entries, documents=documents_dir, trust=env.trust,
        settings={"index": str(index)}, only=("P-001",),
    )  # fmt: skip
    result = run_plan(options, workdir=tmp_path / "checks").result("P-001")
    assert result.outcome is Outcome.FAILED
    assert next((e.expected, e.file) for e in result.verdict.evidence if e.field == "kind") == (
        "no certificate (注销 / 查封)",
        "510100-property_certificate-0000008.pdf",
    )


# --------------------------------------------------------------------------- units


def test_the_kit_check_character_agrees_with_bdcert_and_with_facts() -> None:
    for identifier in (
        "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
        "1.2.156.3005.2.11100000000013338W009.11330105002500287C.2025052201.002.0",
        "1.2.156.3005.2.11100000MB03271699022.340100.000000016.001.9",
    ):
        *_, type_code, issuer, serial, version, check = identifier.split(".")
        assert documents.iso7064_mod37_36(type_code + issuer + serial + version) == check
    rng = random.Random(11)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for _ in range(500):
        data = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        assert documents.iso7064_mod37_36(data) == bdcert_mod37_36(data)
    with pytest.raises(ValueError):
        documents.iso7064_mod37_36("1.2")


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"djlx": "100", "qllx": "4"}, CertificateKind.PROPERTY_CERTIFICATE),
        ({"djlx": "200", "qllx": "4"}, CertificateKind.PROPERTY_CERTIFICATE),
        ({"djlx": "100", "zmsx": "抵押权"}, CertificateKind.REGISTRATION_PROOF),
        ({"djlx": "100", "zmsx": "居住权"}, CertificateKind.REGISTRATION_PROOF),
        ({"djlx": "100", "qllx": "19"}, CertificateKind.REGISTRATION_PROOF),
        ({"djlx": "600"}, CertificateKind.REGISTRATION_PROOF),
        ({"djlx": "700"}, CertificateKind.REGISTRATION_PROOF),
        ({"djlx": "400"}, None),
        ({"djlx": "800"}, None),
    ],
)
def test_the_kind_follows_articles_5_and_6(raw: dict[str, str], kind: Any) -> None:
    assert expected_kind(raw) is kind


def test_problems_name_every_missing_option(tmp_path: Path) -> None:
    found = documents.problems(RunOptions(plan="documents"))
    assert any("--entries" in p for p in found)
    assert any("--documents" in p for p in found)
    assert any("--trust" in p for p in found)
    found = documents.problems(
        RunOptions(
            plan="documents",
            entries=tmp_path / "none.jsonl",
            documents=tmp_path,
            trust=(tmp_path / "root.pem",),
            settings={"long_value_chars": "many", "sequence_from": "2"},
        )
    )
    assert len(found) == 4, found


def test_unreadable_files_are_findings_not_crashes_and_invalid_entries_call_for_nothing(
    env: Any, tmp_path: Path
) -> None:
    documents_dir = tmp_path / "documents"
    shutil.copytree(env.documents, documents_dir)
    (documents_dir / "notes.txt").write_text("not a certificate", encoding="utf-8")
    (documents_dir / "broken.ofd").write_bytes(b"PK\x03\x04 not really a package")
    entries = tmp_path / "entries.jsonl"
    text = env.entries.read_text(encoding="utf-8")
    entries.write_text(text + '{"ywh": "510100-2024-999999", "djjg": "510100"}\n', "utf-8")
    options = RunOptions(
        plan="documents", entries=entries, documents=documents_dir, trust=env.trust,
        only=("P-001",),
    )  # fmt: skip
    result = run_plan(options, workdir=tmp_path / "checks").result("P-001")
    assert result.outcome is Outcome.FAILED
    by_file = {e.file: e for e in result.verdict.evidence}
    assert by_file["notes.txt"].found == "neither a PDF nor an OFD package"
    assert by_file["broken.ofd"].found is not None
    assert by_file["broken.ofd"].found.startswith("not a readable OFD package")
    # an invalid entry (which a system must reject) calls for no certificate: counted, not held
    # against the system
    assert not [e for e in result.verdict.evidence if e.file == "entries.jsonl"]
    clean = run_plan(attrs.evolve(options, documents=env.documents), workdir=tmp_path / "c2")
    assert clean.result("P-001").outcome is Outcome.PASSED
    line = len(text.splitlines()) + 1
    assert (
        f"1 invalid entries (lines {line}) call for none" in clean.result("P-001").verdict.summary
    )


def test_an_index_with_issue_times_makes_the_signing_time_exact(env: Any, tmp_path: Path) -> None:
    index = {
        name: {"ywh": cert.business_number, "issued_at": cert.issued_at.isoformat()}
        for name, cert in env.certificates.items()
    }
    path = tmp_path / "index.json"
    path.write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
    options = RunOptions(
        plan="documents", entries=env.entries, documents=env.documents, trust=env.trust,
        settings={"index": str(path)}, only=("P-001", "P-013"),
    )  # fmt: skip
    run = run_plan(options, workdir=tmp_path / "checks")
    assert run.result("P-001").outcome is Outcome.PASSED, _report(run)
    assert run.result("P-013").outcome is Outcome.PASSED, _report(run)
    assert f"{len(index)} of them equal to the register's" in run.result("P-013").verdict.summary
    # the register says one certificate was issued an hour later than its seal claims
    name = "510100-property_certificate-0000005.pdf"
    later = env.certificates[name].issued_at + timedelta(hours=1)
    index[name]["issued_at"] = later.isoformat()
    path.write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
    result = run_plan(options, workdir=tmp_path / "again").result("P-013")
    assert result.outcome is Outcome.FAILED
    (evidence,) = result.verdict.evidence
    assert (evidence.field, evidence.file, evidence.expected) == (
        "signing time",
        name,
        later.isoformat(),
    )
    path.write_text('{"a.pdf": {"issued_at": "2024-01-01"}}', encoding="utf-8")
    assert documents.problems(options) == [
        f"--set index={path}: 'a.pdf': a ywh string or an object with a ywh string"
    ]


def test_a_verification_base_is_every_qr_codes_prefix(env: Any, tmp_path: Path) -> None:
    """``verification_base=URL``: the reference's QR URLs all start with its own base (PASSED),
    not with another province's (FAILED, one finding per URL); a base that is no http(s) URL
    is a usage problem."""
    from urllib.parse import urlsplit

    from bdcert_conformance.plans.documents import problems

    url = next(iter(env.certificates.values())).verification_url
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('/', 1)[0]}/"

    def run(value: str) -> RunResult:
        options = RunOptions(
            plan="documents", entries=env.entries, documents=env.documents, trust=env.trust,
            settings={"verification_base": value}, only=("P-007",),
        )  # fmt: skip
        return run_plan(options, workdir=tmp_path / value.replace("/", "_"))

    assert run(base).result("P-007").outcome is Outcome.PASSED
    other = run("https://verify.elsewhere.example/v/").result("P-007")
    assert other.outcome is Outcome.FAILED
    assert len(other.verdict.evidence) == len(
        {c.verification_url for c in env.certificates.values()}
    )
    assert problems(RunOptions(plan="documents", settings={"verification_base": "中文"}))
