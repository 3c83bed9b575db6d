"""The reference city system (issue 11, item 4), end to end across separate processes: started by
``conformance/reference-city/start``, a push to the city issues a certificate sealed by the
province's e-seal service (the city holds no seal key), the city deposits it at the province
(归集) whose lookup and verification then see it, ``bdcert city sync`` mirrors a certificate the
province issued, and ``stop`` leaves no process behind. Then issue 11's done-when: the three plans
(interface, documents on the city's exported register, plugins on its workspace) run against it as
certification runs with no FAILED, no SKIPPED and no WARNING, and their sealed reports check.

The plan tests come last (pytest runs a module's tests in file order; under pytest-xdist a worker
running any of them builds its own system, and each plan test prepares what it needs itself): the
documents plan exports the register as it is then, whatever the tests before it pushed."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader

from bdcert_conformance.reference_city import load, run_options
from bdcert_conformance.reference_city_certify import (
    city_environment,
    documents_options,
    early_entry,
    export_register,
    plugins_options,
    push_timeline,
)
from tests.support import REPO, require_tool

EXAMPLES = REPO / "adapters" / "bdcert_adapters" / "examples" / "sichuan-2024.jsonl"
SCRIPTS = REPO / "conformance" / "reference-city"


def _entry(ywh: str) -> dict[str, Any]:
    for line in EXAMPLES.read_text("utf-8").splitlines():
        if line.strip() and json.loads(line)["ywh"] == ywh:
            return dict(json.loads(line))
    raise KeyError(ywh)


def _script(name: str, directory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable}
    return subprocess.run(
        [str(SCRIPTS / name), str(directory)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_tool("pdftotext")  # the province reads a deposit's face with poppler
    require_tool("zbarimg")  # and its QR code with zbar
    directory = tmp_path_factory.mktemp("reference-city")
    started = _script("start", directory)
    assert started.returncode == 0, started.stderr + started.stdout
    state = load(directory)
    pids = dict(state["pids"])
    try:
        yield state
    finally:
        stopped = _script("stop", directory)
        assert stopped.returncode == 0, stopped.stderr
        assert not [pid for pid in pids.values() if _alive(pid)], "processes left behind"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _certificate(base: str, number: str, token: str) -> httpx.Response:
    return httpx.get(f"{base}/api/v1/certificates/{quote(number, safe='')}", headers=_auth(token))


@pytest.fixture(scope="module")
def issued(system: dict[str, Any]) -> dict[str, Any]:
    """A 510100 entry pushed to the city: its number, metadata, sealed PDF and the entry."""
    entry = _entry("510100-2024-000101")
    tokens = system["tokens"]
    r = httpx.post(
        f"{system['target']}/api/v1/entries", json=entry, headers=_auth(tokens["clerk"]), timeout=60
    )
    assert r.status_code in (200, 201), r.text  # 200: a plan test pushed the timeline first
    (number,) = r.json()["numbers"]
    meta = _certificate(system["target"], number, tokens["clerk"])
    assert meta.status_code == 200, meta.text
    pdf = httpx.get(
        f"{system['target']}/api/v1/certificates/{quote(number, safe='')}/pdf",
        headers=_auth(tokens["clerk"]),
    )
    assert pdf.status_code == 200
    return {"number": number, "meta": meta.json(), "pdf": pdf.content, "entry": entry}


def test_the_env_file_carries_what_the_interface_plan_needs(system: dict[str, Any]) -> None:
    assert set(system["tokens"]) >= {"clerk", "other_clerk", "platform", "auditor", "province"}
    args = system["conformance_args"]
    assert args[:2] == ["--plan", "interface"]
    assert args[args.index("--target") + 1] == system["target"]
    assert args[args.index("--province") + 1] == system["province"]
    assert "--set" in args and "authority=510100" in args
    options = run_options(system)
    assert (options.target, options.province) == (system["target"], system["province"])
    assert options.tokens["clerk"] == system["tokens"]["clerk"]
    env = (Path(system["workspaces"]["city"]).parent / "reference-city.env").read_text()
    assert f"BDCERT_CITY_URL={system['target']}" in env and "BDCERT_TOKEN_CLERK=" in env


def test_the_city_seals_through_the_province_seal_service(
    system: dict[str, Any], issued: dict[str, Any]
) -> None:
    from bdcert_conformance.seal import (
        check_chains_to_trust_roots,
        check_docmdp_lock,
        check_one_signature_covering_the_file,
    )

    city = Path(system["workspaces"]["city"])
    assert not list((city / "pki").glob("5*.key.pem")), "the city must hold no seal key"
    assert 'plugin = "remote"' in (city / "bdcert.toml").read_text("utf-8")
    pdf = issued["pdf"]
    root = Path(system["province_root"]).read_bytes()
    check_one_signature_covering_the_file(pdf)
    check_docmdp_lock(pdf)
    check_chains_to_trust_roots(pdf, [root])  # pyHanko, trusting the province's root alone
    # the signer is the province's seal certificate of 510100, the one its service serves
    served = httpx.get(f"{system['seal_service']}/v1/authorities/510100/certificate",
                       headers=_auth(system["env"]["BDCERT_SEAL_SERVICE_TOKEN"]))  # fmt: skip
    assert served.status_code == 200, served.text
    (sig,) = PdfFileReader(io.BytesIO(pdf)).embedded_regular_signatures
    body = served.json() if "json" in served.headers.get("content-type", "") else served.text
    pem = body["certificate"] if isinstance(body, dict) else body
    served_cert = x509.load_pem_x509_certificate(pem.encode())
    assert served_cert.serial_number == sig.signer_cert.serial_number
    # the city's own verification says VALID, form included
    r = httpx.post(f"{system['target']}/api/v1/verify", content=pdf,
                   headers={"Content-Type": "application/pdf"})  # fmt: skip
    assert r.status_code == 200 and r.json()["verdict"] == "valid", r.text


def test_the_city_deposits_at_the_province_which_then_sees_it(
    system: dict[str, Any], issued: dict[str, Any]
) -> None:
    meta, province = issued["meta"], system["province"]
    deposit = {
        "number": issued["number"],
        "licence_id": meta["licence_id"],
        "kind": meta["kind"],
        "token": meta["verification_url"].rsplit("/", 1)[-1],
        "entry": issued["entry"],
        "issued_at": meta["issued_at"],
        "pdf": base64.b64encode(issued["pdf"]).decode(),
    }
    token = system["tokens"]["province"]
    r = httpx.post(f"{province}/api/v1/collection", json=deposit, headers=_auth(token), timeout=60)
    assert r.status_code == 201, r.text
    seen = _certificate(province, issued["number"], token)
    assert seen.status_code == 200, seen.text
    assert seen.json()["pdf_sha256"] == meta["pdf_sha256"]
    r = httpx.post(f"{province}/api/v1/verify", content=issued["pdf"],
                   headers={"Content-Type": "application/pdf"})  # fmt: skip
    assert r.status_code == 200 and r.json()["verdict"] == "valid", r.text
    # a deposit that does not conform is refused, nothing stored
    bad = dict(deposit, number=issued["number"].replace("0000001", "0000009"))
    r = httpx.post(f"{province}/api/v1/collection", json=bad, headers=_auth(token), timeout=60)
    assert r.status_code in (400, 409), r.text


def test_city_sync_mirrors_what_the_province_issued(system: dict[str, Any]) -> None:
    tokens, province = system["tokens"], system["province"]
    entry = _entry("513401-2024-000301")
    r = httpx.post(f"{province}/api/v1/entries", json=entry,
                   headers=_auth(tokens["province_platform"]), timeout=60)  # fmt: skip
    assert r.status_code == 201, r.text
    (number,) = r.json()["numbers"]
    assert _certificate(system["target"], number, tokens["platform"]).status_code == 404
    env = {
        **os.environ,
        **system["env"],
        "BDCERT_PROVINCE_TOKEN": tokens["mirror"],
        "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("sdk", "plugins", "adapters")),
    }
    env.pop("BDCERT_WORKSPACE", None)
    env.pop("BDCERT_DATABASE_URL", None)
    synced = subprocess.run(
        [sys.executable, "-m", "bdcert_adapters.cli", "city", "sync",
         "--workspace", system["workspaces"]["city"], "--from", province,
         "--authority", system["mirrored_authority"], "--once"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert synced.returncode == 0, synced.stderr + synced.stdout
    mirrored = _certificate(system["target"], number, tokens["platform"])
    assert mirrored.status_code == 200, mirrored.text
    assert mirrored.json()["authority"] == system["mirrored_authority"]
    pdf = httpx.get(f"{system['target']}/api/v1/certificates/{quote(number, safe='')}/pdf",
                    headers=_auth(tokens["platform"]))  # fmt: skip
    assert pdf.status_code == 200
    r = httpx.post(f"{system['target']}/api/v1/verify", content=pdf.content,
                   headers={"Content-Type": "application/pdf"})  # fmt: skip
    assert r.status_code == 200 and r.json()["verdict"] == "valid", r.text  # form included


def _certified(run: Any, reports: Path, system: dict[str, Any]) -> None:
    """Every result of ``run`` PASSED (the others listed with their evidence), and its reports,
    written and sealed with the province's workspace as the CLI does, check."""
    from bdcert_adapters.cli.conformance import write_run_reports
    from bdcert_conformance.kit.manifest import check_report
    from bdcert_conformance.kit.model import Outcome

    assert run.results, "the plan ran no check"
    failing = [
        f"{r.check.id} {r.outcome.value}: {r.verdict.summary}"
        + "".join(f"\n    {e}" for e in r.verdict.evidence)
        for r in run.results
        if r.outcome is not Outcome.PASSED
    ]
    assert not failing, "\n".join(failing)
    assert run.ok and run.options.certify
    reports.mkdir()
    write_run_reports(run, reports, Path(system["workspaces"]["province"]), None)
    found = check_report(reports, [Path(system["province_root"]).read_bytes()])
    assert found.ok, found.problems
    assert found.manifest is not None and found.manifest["result"] == "PASSED"


def test_the_interface_plan_passes_every_check_against_the_reference_city(
    system: dict[str, Any], tmp_path: Path
) -> None:
    """Issue 11's done-when for the interface plan: a certification run, across processes."""
    from bdcert_conformance.kit.runner import run_plan

    run = run_plan(run_options(system, certify=True), workdir=tmp_path / "work")
    _certified(run, tmp_path / "reports", system)


def test_the_documents_plan_passes_every_check_on_the_city_register(
    system: dict[str, Any], tmp_path: Path
) -> None:
    """The documents plan on the city's own certificates (sealed through the province's e-seal
    service) and the entries they were made from: the whole register exported (whatever the
    tests before pushed, the interface plan's entries included), after the example timeline and
    an entry recorded at 06:40 China time were pushed — so P-015 has a date whose UTC day
    differs and PASSES rather than WARNS."""
    from bdcert_conformance.kit.runner import run_plan

    counts = push_timeline(system)
    assert set(counts) <= {"200", "201", "400", "409"}, counts
    export = export_register(system, tmp_path / "export")
    assert export.certificates >= 20 and export.registrations > export.certificates / 2
    run = run_plan(documents_options(system, export, certify=True), workdir=tmp_path / "work")
    _certified(run, tmp_path / "reports", system)
    numbered = {r.check.id: r.verdict.summary for r in run.results}
    assert f"{export.files} documents" in numbered["P-002"], numbered["P-002"]


def test_the_plugins_plan_passes_every_check_on_the_city_workspace(
    system: dict[str, Any], tmp_path: Path
) -> None:
    """The plugins plan on the city's workspace: sql storage (fresh SQLite per scenario), the
    remote seal provider through the province's e-seal service, the tokens identity provider
    (every [identity.tokens] entry's token given) and the webhook notifier (pointed at the kit's
    receiver); the city's own receiver took every delivery of the tests before, signed."""
    from bdcert_conformance.kit.runner import run_plan

    with city_environment(system):
        run = run_plan(plugins_options(system, certify=True), workdir=tmp_path / "work")
    _certified(run, tmp_path / "reports", system)
    # the city's real receiver: every certificate the city issued was delivered to it, signed
    r = httpx.post(f"{system['target']}/api/v1/entries", json=early_entry(),
                   headers=_auth(system["tokens"]["platform"]), timeout=60)  # fmt: skip
    assert r.status_code in (200, 201), r.text  # 200: issued (and notified) before
    deliveries = Path(system["logs"]) / "deliveries.jsonl"
    lines = [json.loads(line) for line in deliveries.read_text("utf-8").splitlines()]
    assert all(line["signature_ok"] for line in lines), [x for x in lines if not x["signature_ok"]]
    uri = f"file:{Path(system['workspaces']['city']) / 'bdcert.sqlite3'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        issued = {n for (n,) in db.execute("SELECT number FROM certificates WHERE authority <> ?",
                                           (system["mirrored_authority"],))}  # fmt: skip
    delivered = {line["number"] for line in lines if line["event"] == "issued"}
    assert issued and not issued - delivered, sorted(issued - delivered)


def test_certify_refuses_a_report_directory_that_is_not_empty(
    system: dict[str, Any], tmp_path: Path
) -> None:
    """The certify script never writes over a report: it stops before running a plan."""
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "report.json").write_text("{}")
    directory = Path(system["workspaces"]["city"]).parent
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run([str(SCRIPTS / "certify"), str(directory), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not empty" in done.stderr and not (tmp_path / "interface").exists(), done.stderr
