"""Attacks on the conformance kit (issue 11): a vendor wanting a PASS its system has not earned,
a hostile system or document crashing or hanging the kit or injecting into its reports, and
someone editing a report after the run. Every test asserts the SECURE behaviour, and every
one passes: the holes found were closed (the documents plan's too).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
import shutil
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

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
    failed,
    passed,
)
from bdcert_conformance.kit.options import make_options
from bdcert_conformance.kit.report import write_reports
from bdcert_conformance.kit.runner import run_plan
from bdcert_conformance.plans import load_plan

# --------------------------------------------------------------------------- reports

#: What a system could put into a face value, a file name or a response.
INJECTION = '"><img src=x onerror=alert(1)><script>alert(2)</script>]]><!--\x00\x1b[2J'


def _run(
    tmp_path: Path, verdicts: list[Any], *, certify: bool = False, only: tuple[str, ...] = ()
) -> RunResult:
    options = RunOptions(plan="documents", system="某市系统", certify=certify, only=only)
    results = tuple(
        CheckResult(Check(f"P-00{i + 1}", "documents", "t", "规则第5条", "d", None), v, 0.01)
        for i, v in enumerate(verdicts)
    )
    now = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    return RunResult(options, now, now, results, "0.test")


def test_reports_carry_hostile_evidence_as_data(tmp_path: Path) -> None:
    """A face value, a file name and a server's answer holding markup, XML-illegal controls and
    a lone UTF-16 surrogate (valid in JSON: ``"\\ud800"``): every report is written, the HTML
    holds no tag of theirs, the JUnit file is well-formed XML and says what was found."""
    hostile = INJECTION + "\ud800"
    run = _run(
        tmp_path,
        [failed(hostile, [Evidence(hostile, hostile, hostile, hostile + ".pdf", 1, hostile)])],
    )
    paths = write_reports(run, tmp_path / "r")  # a lone surrogate once made this raise
    html = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert "<img" not in html and "<script>alert" not in html and "\x00" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    suite = ET.parse(tmp_path / "r" / "junit.xml").getroot()
    failure = suite.find("testsuite/testcase/failure")
    assert failure is not None and "<img src=x" in failure.get("message", "")
    assert "\\ud800" in (failure.text or "")
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert report["checks"][0]["evidence"][0]["found"].endswith("\\ud800")
    data = canonical_json(build_manifest(run, paths))
    assert json.loads(data)["result"] == "FAILED"


def test_a_certification_of_a_selection_is_no_certification(tmp_path: Path) -> None:
    """``--certify --only P-002``: a vendor running only the checks it passes must not get a
    sealed "PASSED (certification)": refused as usage, and such a run is not ok either way."""
    with pytest.raises(KitUsageError, match="--certify with --only"):
        make_options(plan="documents", certify=True, only=["P-002"])
    load_plan("documents")
    selection = _run(tmp_path, [passed("1 document")], certify=True, only=("P-001",))
    assert not selection.ok
    empty = _run(tmp_path, [], certify=True)
    assert not empty.ok
    partial = _run(tmp_path, [passed("1 document")], certify=True)  # P-001 of 16 checks
    assert not partial.ok
    assert _run(tmp_path, [passed("1 document")]).ok  # not a certification: a selection is fine


def test_loosening_settings_and_their_files_are_on_the_record(tmp_path: Path) -> None:
    """``--set seal_distance_mm=1000 --set long_value_chars=99999 --set authorities=FILE``
    loosen what the documents plan accepts (a seal anywhere, no long value compared, the
    vendor's own authorities): the reports and the sealed manifest say so, and the file is an
    input with its SHA-256, so the province sees what the PASS was given."""
    authorities = tmp_path / "authorities.json"
    authorities.write_text("[]", encoding="utf-8")
    settings = {
        "seal_distance_mm": "1000",
        "long_value_chars": "99999",
        "authorities": str(authorities),
    }
    run = attrs.evolve(
        _run(tmp_path, [passed("1 document")]),
        options=RunOptions(plan="documents", settings=settings),
    )
    paths = write_reports(run, tmp_path / "r")
    report = json.loads(paths[0].read_text(encoding="utf-8"))
    assert report["settings"] == settings
    assert "seal_distance_mm=1000" in paths[2].read_text(encoding="utf-8")
    manifest = json.loads(canonical_json(build_manifest(run, paths)))
    assert manifest["settings"] == settings and manifest["only"] == []
    assert [i["role"] for i in manifest["inputs"]] == ["setting authorities"]


def test_a_check_loosened_to_compare_nothing_does_not_pass(docs_env: Any, tmp_path: Path) -> None:
    documents = _documents(docs_env, tmp_path, "510100-property_certificate-0000013.pdf")
    run = _run_documents(docs_env, documents, tmp_path, "P-003", long_value_chars="100000")
    assert run.result("P-003").outcome is not Outcome.PASSED, _outcomes(run)


def test_the_selftest_does_not_count_an_unopenable_broken_implementation_as_caught(
    tmp_path: Path,
) -> None:
    """Since a plan that cannot open its inputs fails every check (above), the self-test must
    not take that FAILED as its named check catching the defect: a broken implementation that
    was not built right would pass for caught."""
    from bdcert_conformance.kit.model import BrokenImplementation
    from bdcert_conformance.kit.selftest import BrokenResult

    load_plan("documents")
    entries = tmp_path / "entries.jsonl"
    entries.write_bytes(b"\xff\xfe not UTF-8\n")
    documents = tmp_path / "documents"
    documents.mkdir()
    trust = tmp_path / "root.pem"
    trust.write_bytes(b"")
    options = RunOptions(
        plan="documents", entries=entries, documents=documents, trust=(trust,), only=("P-004",)
    )
    run = run_plan(options, workdir=tmp_path / "work")  # no traceback: every check FAILED
    result = run.result("P-004")
    assert (
        result.outcome is Outcome.FAILED and "could not read its inputs" in result.verdict.summary
    )
    broken = BrokenImplementation("B-099", "documents", "x", "P-004", lambda env, wd: options)
    assert not BrokenResult(broken, result).caught


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bdcert_adapters.cli import main

    path = tmp_path_factory.mktemp("kit-operator") / "ws"
    assert main(["init", "--demo", "--workspace", str(path)]) == 0
    return path


def _root(workspace: Path) -> bytes:
    return (workspace / "pki" / "root.cert.pem").read_bytes()


def _sealed(tmp: Path, operator: Path, verdicts: list[Any]) -> Path:
    run = _run(tmp, verdicts)
    directory = tmp / "report"
    artefacts = write_reports(run, directory)
    data = canonical_json(build_manifest(run, artefacts))
    (directory / MANIFEST_FILE).write_bytes(data)
    (directory / MANIFEST_PDF).write_bytes(seal_manifest(data, operator))
    return directory


@pytest.fixture(scope="module")
def sealed_failed(operator: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sealed(tmp_path_factory.mktemp("failed"), operator, [failed("1 face item differs")])


@pytest.fixture(scope="module")
def sealed_passed(operator: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _sealed(tmp_path_factory.mktemp("passed"), operator, [passed("30 documents")])


def _copy(directory: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(directory, copy)
    return copy


def test_a_report_sealed_by_another_authority_under_the_root_is_named(
    operator: Path, tmp_path: Path
) -> None:
    """The province's root anchors every city authority's seal: a city sealing a report of
    its own making passes a check by the root alone. ``sealed_by`` (``--sealed-by``) names the
    operator, and a manifest sealed by anyone else is refused."""
    run = _run(tmp_path, [passed("30 documents")])
    directory = tmp_path / "report"
    data = canonical_json(build_manifest(run, write_reports(run, directory)))
    (directory / MANIFEST_FILE).write_bytes(data)
    (directory / MANIFEST_PDF).write_bytes(
        seal_manifest(data, operator, authority_code="510700")  # 绵阳, a city, not the operator
    )
    assert check_report(directory, [_root(operator)]).ok  # any seal under the root
    found = check_report(directory, [_root(operator)], sealed_by="12510100MB1C7A3X2H")
    assert not found.ok and "not by the kit operator" in found.problems[0], found.problems
    assert check_report(directory, [_root(operator)], sealed_by="绵阳市不动产登记中心").ok


def test_a_run_trusting_a_root_of_its_own_is_named(
    operator: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The documents plan checks the seals' chain against the ``--trust`` roots it is given: a
    city giving its own root passes. check-report with the province's trust list names a run
    that trusted anything else (the manifest holds each trust file's SHA-256)."""
    from bdcert_adapters.cli import main

    own = tmp_path_factory.mktemp("own-ca") / "ws"
    assert main(["init", "--demo", "--workspace", str(own)]) == 0
    own_root = own / "pki" / "root.cert.pem"
    entries = tmp_path / "entries.jsonl"
    entries.write_text("{}\n", encoding="utf-8")
    run = attrs.evolve(
        _run(tmp_path, [passed("23 signers chained to the trust list")]),
        options=RunOptions(plan="documents", entries=entries, trust=(own_root,)),
    )
    directory = tmp_path / "report"
    data = canonical_json(build_manifest(run, write_reports(run, directory)))
    (directory / MANIFEST_FILE).write_bytes(data)
    (directory / MANIFEST_PDF).write_bytes(seal_manifest(data, operator))
    province = [_root(operator)]
    assert check_report(directory, province).ok
    found = check_report(directory, province, trust_list=province)
    assert not found.ok and "not on the province's trust list" in found.problems[0]
    assert check_report(directory, province, trust_list=[own_root.read_bytes()]).ok


def test_check_report_cli_takes_the_operator(
    sealed_failed: Path, operator: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bdcert_adapters.cli import main

    root = str(operator / "pki" / "root.cert.pem")
    args = ["conformance", "check-report", str(sealed_failed), "--trust", root]
    assert main([*args, "--sealed-by", "成都市不动产登记中心"]) == 0
    assert "NOT a certification run" in capsys.readouterr().out  # a PASS without --certify
    assert main([*args, "--sealed-by", "绵阳市不动产登记中心"]) == 1
    assert "not by the kit operator" in capsys.readouterr().err
    assert main([*args, "--trust-list", root]) == 0  # the run had no trust input


def test_an_added_report_file_is_named(sealed_failed: Path, operator: Path, tmp_path: Path) -> None:
    """A file laid beside the sealed ones (a doctored ``report-final.html``) is not covered by
    the seal: check-report names it rather than saying the directory is as sealed."""
    copy = _copy(sealed_failed, tmp_path)
    (copy / "report-final.html").write_text("<h1>PASSED</h1>", encoding="utf-8")
    found = check_report(copy, [_root(operator)])
    assert not found.ok
    assert any("report-final.html" in p for p in found.problems), found.problems


def test_a_manifest_from_another_run_does_not_vouch_for_these_reports(
    sealed_failed: Path, sealed_passed: Path, operator: Path, tmp_path: Path
) -> None:
    """The FAILED run's reports with the PASSED run's manifest.json and manifest.pdf: every
    report differs from what that seal states."""
    copy = _copy(sealed_failed, tmp_path)
    for name in (MANIFEST_FILE, MANIFEST_PDF):
        shutil.copy(sealed_passed / name, copy / name)
    found = check_report(copy, [_root(operator)])
    assert not found.ok
    assert {"report.json", "report.html", "junit.xml"} <= {
        p.split(" ")[0] for p in found.problems
    }, found.problems


def test_an_incremental_update_after_sealing_is_refused(
    sealed_failed: Path, sealed_passed: Path, operator: Path, tmp_path: Path
) -> None:
    """manifest.pdf with an incremental update after the seal that swaps the embedded
    manifest.json for the PASSED run's (the seal's byte range still verifies): refused."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader

    copy = _copy(sealed_failed, tmp_path)
    for name in ("report.json", "report.html", "junit.xml", MANIFEST_FILE):
        shutil.copy(sealed_passed / name, copy / name)
    data = (sealed_passed / MANIFEST_FILE).read_bytes()
    writer = IncrementalPdfFileWriter(io.BytesIO((sealed_failed / MANIFEST_PDF).read_bytes()))
    names = writer.root["/Names"]["/EmbeddedFiles"]["/Names"]
    spec = names[1]
    stream = generic.StreamObject(
        {generic.NameObject("/Type"): generic.NameObject("/EmbeddedFile")}, stream_data=data
    )
    spec["/EF"][generic.NameObject("/F")] = writer.add_object(stream)
    writer.update_container(spec["/EF"])
    out = io.BytesIO()
    writer.write(out)
    (copy / MANIFEST_PDF).write_bytes(out.getvalue())
    reader = PdfFileReader(io.BytesIO(out.getvalue()), strict=False)
    swapped = reader.root["/Names"]["/EmbeddedFiles"]["/Names"][1]["/EF"]["/F"].data
    assert json.loads(swapped)["result"] == "PASSED"  # what a reader of the PDF now sees
    found = check_report(copy, [_root(operator)])
    assert not found.ok, "an update after the seal made a FAILED run read PASSED"
    assert any("seal fails" in p for p in found.problems), found.problems


def test_artefact_names_cannot_leave_the_report_directory(
    sealed_failed: Path, operator: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check-report reads only files inside the directory: a name in the manifest is taken as
    a base name (``../x`` is ``x``), so nothing outside is read or compared."""
    from bdcert_conformance.kit import manifest

    copy = _copy(sealed_failed, tmp_path / "in")
    (tmp_path / "in" / "secret.txt").write_text("x", encoding="utf-8")
    embedded = json.loads((copy / MANIFEST_FILE).read_bytes())
    embedded["artefacts"].append({"name": "../secret.txt", "sha256": "0" * 64, "bytes": 1})
    monkeypatch.setattr(manifest, "_embedded_manifest", lambda pdf: canonical_json(embedded))
    found = check_report(copy, [_root(operator)])
    assert "secret.txt is missing" in found.problems, found.problems


# --------------------------------------------------------------------------- interface plan

TARGET = "http://city.example:8000"


def _session(handler: Any, **settings: str) -> Any:
    from bdcert_conformance.plans.interface_session import InterfaceSession

    options = RunOptions(
        plan="interface",
        target=TARGET,
        tokens={"clerk": "clerk-token", "other_clerk": "other-token", "province": "p"},
        settings={"authority": "510100", **settings},
    )
    return InterfaceSession(options, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    "location",
    [
        "http://evil.example/api/v1/certificates/1",
        "//evil.example/api/v1/certificates/1",
        "http://city.example:8001/api/v1/certificates/1",
        "https://city.example:8000/api/v1/certificates/1",
    ],
)
def test_a_location_off_the_target_is_not_followed(location: str) -> None:
    """The intake check follows the ``Location`` a push answers with the clerk's token: a
    target naming another host (or port, or scheme) would receive the token, and could make the
    kit reach any host (SSRF). Not followed; the check cannot pass."""
    from bdcert_conformance.plans.interface_session import ForeignLocation

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"number": "1"})

    session = _session(handler)
    with pytest.raises(ForeignLocation, match="not followed"):
        session.call("clerk", "GET", location, step="location", absolute=True)
    assert not seen, [str(r.url) for r in seen]
    session.call("clerk", "GET", "/api/v1/certificates/1", step="location", absolute=True)
    assert [str(r.url) for r in seen] == [TARGET + "/api/v1/certificates/1"]
    assert seen[0].headers["authorization"] == "Bearer clerk-token"
    session.close()


def test_redirects_are_not_followed() -> None:
    """A 307 to another host is an answer to judge, not a hop to make with the token."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(307, headers={"location": "http://evil.example/x"})

    session = _session(handler)
    assert session.call("clerk", "GET", "/whoami", step="whoami").status_code == 307
    assert seen == [TARGET + "/api/v1/whoami"]
    session.close()


def _endless() -> Iterator[bytes]:
    while True:
        yield b"[" * 65536


def _dripping() -> Iterator[bytes]:
    for _ in range(100):
        time.sleep(0.1)
        yield b" "


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (_endless, {"content-type": "application/json"}),
        (
            lambda: [gzip.compress(b"0" * (20 << 20), compresslevel=1)],
            {"content-type": "application/json", "content-encoding": "gzip"},
        ),
        (_dripping, {"content-type": "application/json"}),
    ],
    ids=["endless", "gzip-bomb", "drip"],
)
def test_a_huge_or_dripping_body_is_cut(body: Any, headers: dict[str, str]) -> None:
    """A target answering an endless body, a decompression bomb, or one byte at a time (each
    within the per-read timeout) neither exhausts the kit's memory nor hangs the run."""
    from bdcert_conformance.plans.interface_session import ResponseTooLarge

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=body())

    session = _session(handler, max_response_bytes=str(1 << 20), deadline="1")
    began = time.monotonic()
    with pytest.raises(ResponseTooLarge):
        session.call("clerk", "GET", "/whoami", step="whoami")
    assert time.monotonic() - began < 5
    session.close()


def test_an_ordinary_response_reads_as_before() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"content-encoding": "gzip", "content-type": "application/json"},
            content=gzip.compress(b'{"authority": "510100"}'),
        )

    session = _session(handler)
    response = session.call("clerk", "GET", "/whoami", step="whoami")
    assert response.json() == {"authority": "510100"}
    assert session.exchanges[-1].body == {"authority": "510100"}
    session.close()


def _permissive_openapi() -> dict[str, Any]:
    """An OpenAPI document that documents every path and allows any answer."""
    anything = {m: {"responses": {"default": {}}} for m in ("get", "post", "put", "delete")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "x", "version": "1"},
        "paths": {"/" + "/".join(f"{{p{i}}}" for i in range(n)): anything for n in range(1, 9)},
    }


def test_the_schema_check_does_not_trust_the_targets_own_openapi() -> None:
    """P-117 judges responses against the provincial interface's OpenAPI document (bdcert's),
    not against whatever ``/api/v1/openapi.json`` the target serves: a target serving a document
    that allows anything, and answering nonsense, fails it."""
    from bdcert_conformance.plans import interface

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/openapi.json"):
            return httpx.Response(200, json=_permissive_openapi())
        return httpx.Response(200, json={"nonsense": True})

    session = _session(handler)
    verdict = interface.schema(session)
    session.close()
    assert verdict.outcome is Outcome.FAILED, verdict.summary


# --------------------------------------------------------------------------- documents plan

DOCS_TARGET = "510100-property_certificate-0000002.pdf"


@pytest.fixture(scope="module")
def docs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.support import require_tool

    pytest.importorskip("tongsuopy", reason="the reference's OFD documents need the gm extra")
    for tool in ("pdftotext", "pdftoppm", "pdffonts", "zbarimg"):
        require_tool(tool)
    with contextlib.ExitStack() as stack:
        yield load_plan("documents").reference_environment(
            stack, tmp_path_factory.mktemp("attack-docs")
        )


def _documents(env: Any, tmp_path: Path, *names: str) -> Path:
    """A documents directory holding only ``names`` of the reference's (all when none)."""
    directory = tmp_path / "documents"
    directory.mkdir()
    for path in sorted(env.documents.iterdir()):
        if not names or path.name in names:
            shutil.copy(path, directory / path.name)
    return directory


def _run_documents(
    env: Any, documents: Path, tmp_path: Path, *only: str, **settings: str
) -> RunResult:
    options = RunOptions(
        plan="documents",
        entries=env.entries,
        documents=documents,
        trust=env.trust,
        only=only,
        settings=settings,
    )
    return run_plan(options, workdir=tmp_path / "work")


def _run_alone(env: Any, tmp_path: Path, name: str, data: bytes, *only: str) -> RunResult:
    """``only`` run on the reference document ``name`` alone, its bytes replaced by ``data``."""
    documents = _documents(env, tmp_path, name)
    (documents / name).write_bytes(data)
    return _run_documents(env, documents, tmp_path, *only)


def _outcomes(run: RunResult) -> dict[str, str]:
    return {r.check.id: f"{r.outcome.value}: {r.verdict.summary}" for r in run.results}


def test_one_certificate_twice_under_two_names_is_caught(docs_env: Any, tmp_path: Path) -> None:
    """A document set with two documents for one entry (the same certificate copied under
    another name) does not pass as a year's documents."""
    documents = _documents(docs_env, tmp_path)
    shutil.copy(documents / DOCS_TARGET, documents / "zz-extra.pdf")
    run = _run_documents(docs_env, documents, tmp_path, "P-001", "P-005")
    assert not run.ok, _outcomes(run)


def _reference_ofd(env: Any) -> Path:
    return next(p for p in sorted(env.documents.iterdir()) if p.suffix == ".ofd")


def _rezip(source: bytes, change: Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as z, zipfile.ZipFile(out, "w") as w:
        for info in z.infolist():
            data = change(info.filename, z.read(info.filename))
            if data is not None:
                w.writestr(info, data)
    return out.getvalue()


def _bad_boundary(env: Any) -> bytes:
    def change(name: str, data: bytes) -> bytes:
        if name.endswith("Content.xml"):
            return re.sub(rb'(<ofd:TextObject[^>]*?Boundary=")[^"]*', rb"\1a b c d", data, count=1)
        return data

    return _rezip(_reference_ofd(env).read_bytes(), change)


def test_a_hostile_ofd_fails_the_run_without_crashing_it(docs_env: Any, tmp_path: Path) -> None:
    """An OFD whose page holds ``Boundary="a b c d"`` once escaped the plan's reader as a
    ValueError and ended the whole run with a traceback: now every check is FAILED saying why
    (a vendor cannot turn a FAILED into "the kit broke")."""
    documents = _documents(docs_env, tmp_path, DOCS_TARGET)
    (documents / "hostile.ofd").write_bytes(_bad_boundary(docs_env))
    run = _run_documents(docs_env, documents, tmp_path, "P-001", "P-002")
    assert not run.ok
    assert run.result("P-001").outcome is Outcome.FAILED, _outcomes(run)


def test_a_hostile_ofd_is_one_unreadable_document(docs_env: Any, tmp_path: Path) -> None:
    from bdcert_conformance.plans.documents_read import read_document

    path = tmp_path / "hostile.ofd"
    path.write_bytes(_bad_boundary(docs_env))
    document = read_document(path, tmp_path)
    assert document.problem is not None


def test_an_ofd_zip_bomb_is_refused_unread(docs_env: Any, tmp_path: Path) -> None:
    from bdcert.gm.ofd_package import MAX_PACKAGE_BYTES
    from bdcert_conformance.plans.documents_read import read_document

    source = _reference_ofd(docs_env).read_bytes()
    out = io.BytesIO(source)
    block = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED) as z,
        z.open("Doc_0/Res/bomb.png", "w", force_zip64=True) as fh,
    ):
        for _ in range(MAX_PACKAGE_BYTES // len(block) + 8):
            fh.write(block)
    path = tmp_path / "bomb.ofd"
    path.write_bytes(out.getvalue())
    assert path.stat().st_size < 1 << 20
    document = read_document(path, tmp_path)
    assert document.problem is not None and "bytes" in document.problem


def _invisible_face_value(env: Any) -> bytes:
    """The target certificate printed with a WRONG 不动产单元号 and the right one written as
    invisible text (render mode 3, as an OCR layer), then sealed with the authority's seal."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from bdcert_conformance.broken.documents import _face, _render, _seal

    cert = env.certificates[DOCS_TARGET]
    right = next(i.value for i in cert.face if i.key == "bdcdyh")
    wrong = right[:-4] + ("0000" if right[-4:] != "0000" else "1111")
    rendered = _render(env, cert, face=_face(cert, bdcdyh=wrong))
    writer = IncrementalPdfFileWriter(io.BytesIO(rendered.pdf))
    font = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {
            generic.NameObject("/Font"): generic.DictionaryObject(
                {generic.NameObject("/KitHidden"): writer.add_object(font)}
            )
        }
    )
    text = f"BT /KitHidden 1 Tf 3 Tr 40 40 Td ({right}) Tj ET".encode()
    stream = writer.add_object(generic.StreamObject(stream_data=text))
    writer.add_stream_to_page(0, stream, resources=resources)
    out = io.BytesIO()
    writer.write(out)
    return _seal(env, cert, attrs.evolve(rendered, pdf=out.getvalue()))


def test_a_face_value_present_only_as_invisible_text_fails(docs_env: Any, tmp_path: Path) -> None:
    run = _run_alone(docs_env, tmp_path, DOCS_TARGET, _invisible_face_value(docs_env), "P-002")
    assert run.result("P-002").outcome is Outcome.FAILED, _outcomes(run)


def test_a_second_certificate_for_one_entry_is_caught(docs_env: Any, tmp_path: Path) -> None:
    """Two certificates, under consecutive numbers (no gap, no duplicate), for one entry that
    is not held separately (分别持证): not what the entries call for."""
    from bdcert_conformance.broken.documents import _renumbered

    documents = _documents(docs_env, tmp_path)
    cert = docs_env.certificates[DOCS_TARGET]
    last = max(
        int(p.stem.rsplit("-", 1)[1])
        for p in documents.iterdir()
        if p.name.startswith("510100-property_certificate-")
    )
    extra = _renumbered(docs_env, cert, last + 1, new_licence=True)
    (documents / f"510100-property_certificate-{last + 1:07d}.pdf").write_bytes(extra)
    run = _run_documents(docs_env, documents, tmp_path, "P-001", "P-005", "P-006")
    assert not run.ok, _outcomes(run)


def _with_qr(env: Any, url: str) -> bytes:
    from bdcert_conformance.broken.documents import _render, _seal

    cert = env.certificates[DOCS_TARGET]
    return bytes(_seal(env, cert, _render(env, cert, verification_url=url)))


def test_a_qr_code_that_verifies_nothing_fails(docs_env: Any, tmp_path: Path) -> None:
    other_name = "510100-property_certificate-0000003.pdf"
    documents = _documents(docs_env, tmp_path, DOCS_TARGET, other_name)
    other = docs_env.certificates[other_name]
    (documents / DOCS_TARGET).write_bytes(_with_qr(docs_env, other.verification_url))
    run = _run_documents(docs_env, documents, tmp_path, "P-007")
    assert run.result("P-007").outcome is Outcome.FAILED, _outcomes(run)


# --------------------------------------------------------------------------- plugins plan


@pytest.mark.parametrize(
    "secret",
    [lambda s: b"not-the-kit-secret-at-all", lambda s: s[:-1], lambda s: s.hex().encode()],
    ids=["own", "truncated", "hex"],
)
def test_a_notifier_signing_with_another_secret_fails(secret: Any) -> None:
    """A notifier that signs every delivery, but not with the secret it was given (its own
    configured one, a truncated one, its hex text): P-231 refuses every signature."""
    from types import SimpleNamespace

    from bdcert_conformance.plans.plugin_notifier import notifier_signed
    from bdcert_conformance.plans.plugin_subjects import NotifierSubject
    from bdcert_plugins.notify_webhook import WebhookNotifier

    def make(url: str, given: bytes) -> Any:
        return WebhookNotifier(url, secret(given), retries=1, sleep=lambda s: None)

    context = SimpleNamespace(notifiers=(NotifierSubject("evil", make, "attack"),))
    verdict = notifier_signed(context)
    assert verdict.outcome is Outcome.FAILED, verdict.summary
    assert all("X-Bdcert-Signature" in e.field for e in verdict.evidence), verdict.evidence


def test_a_seal_at_the_right_box_on_another_page_fails(docs_env: Any, tmp_path: Path) -> None:
    """The long certificate prints 登记机构 on its last page: a seal at the very same box on
    the first page is not "at the authority's name" (P-009 compares pages, not only boxes)."""
    from bdcert_conformance.broken.documents import LONG, _pyhanko_seal, _render, _request

    cert = docs_env.certificates[LONG]
    rendered = _render(docs_env, cert)
    assert rendered.seal_page > 0, "the long certificate has its seal on page 1"
    request = attrs.evolve(_request(docs_env, cert, rendered), page=0)
    pdf = _pyhanko_seal(docs_env, cert, rendered.pdf, request, certify=True, visible=True)
    run = _run_alone(docs_env, tmp_path, LONG, pdf, "P-009")
    assert run.result("P-009").outcome is Outcome.FAILED, _outcomes(run)
    assert "page" in run.result("P-009").verdict.evidence[0].expected


def test_ofd_part_names_cannot_write_outside_the_scratch_directory(
    docs_env: Any, tmp_path: Path
) -> None:
    """The QR reader writes an OFD's pictures to a scratch directory under their part names:
    a part named ``../../x.png`` is written inside it (``/`` replaced), never beside it."""
    from bdcert_conformance.plans.documents import _qr_payloads
    from bdcert_conformance.plans.documents_read import read_document

    escape = f"../../../{tmp_path.name}-escaped.png"
    source = _reference_ofd(docs_env).read_bytes()
    out = io.BytesIO(source)
    with zipfile.ZipFile(out, "a") as z:
        z.writestr(escape, b"\x89PNG\r\n\x1a\n")
    path = tmp_path / "traversal.ofd"
    path.write_bytes(out.getvalue())
    payloads, problem = _qr_payloads(read_document(path, tmp_path))
    assert problem is None and len(payloads) == 1
    assert not list(Path("/tmp").glob(f"*{tmp_path.name}-escaped.png"))
    assert not list(tmp_path.parent.glob(f"*{tmp_path.name}-escaped.png"))
