"""The register-wide evidence renewal job (issue 9): :meth:`bdcert.lifecycle.Registry.
renew_all_evidence` and ``bdcert evidence renew --all``.

The certificates are sealed at B-LTA with the demo timestamp authority, whose certificate (and
the demo root's CRL) lasts 25 years. The TSA is then given a 30-year certificate and the root
publishes a CRL valid as long (a rotation, as a real TSA's certificate is renewed before it
lapses), so a 26-year margin makes every stored certificate due (no clock is moved: the margin
does it), and a renewal moves its evidence 30 years out, past the margin.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.lifecycle import Registry
from bdcert.model import VerdictCode
from tests.support import make_workspace, run_cli, run_tool, skip_or_fail

DUE = timedelta(days=26 * 365)  # beyond the first TSA certificate, short of the rotated one
TWENTY_YEARS = timedelta(days=20 * 365 + 5)
#: timeline entries: two first registrations (第0000001号, 第0000002号) and a transfer of the
#: first unit, which supersedes 第0000001号 by 第0000003号
ENTRIES = (0, 1, 13)
SUPERSEDED = "川(2024)成都市不动产权第0000001号"


def _use_pki(ws: Path, tsa: str, crl: str) -> None:
    """Point the workspace's ``[timestamp]`` at ``pki/TSA.key.pem``/``pki/TSA.cert.pem`` and
    its ``[revocation] crls`` at ``pki/CRL``."""
    config = ws / "bdcert.toml"
    text = config.read_text(encoding="utf-8")
    text, keys = re.subn(
        r'(?m)^key = "pki/[a-z0-9-]*tsa[0-9]*\.key\.pem"$', f'key = "pki/{tsa}.key.pem"', text
    )
    text, certs = re.subn(
        r'(?m)^cert = "pki/[a-z0-9-]*tsa[0-9]*\.cert\.pem"$', f'cert = "pki/{tsa}.cert.pem"', text
    )
    text, crls = re.subn(r"(?m)^crls = \[.*\]$", f'crls = ["pki/{crl}"]', text)
    assert (keys, certs, crls) == (1, 1, 1), text
    config.write_text(text, encoding="utf-8")


def _rotate(pki: Path) -> None:
    """A 30-year TSA certificate (``tsa30``) and a root CRL valid as long (``root30.crl``)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from bdcert import demo_ca

    root_cert = demo_ca.DemoCa(pki).root_cert
    root_key = serialization.load_pem_private_key((pki / "root.key.pem").read_bytes(), None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    thirty = timedelta(days=30 * 365 + 7)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo_ca, "TSA_VALIDITY", thirty)
        patch.setattr(demo_ca, "CRL_VALIDITY", thirty)
        cert = demo_ca.issue_tsa_certificate(key, root_cert, root_key, now, [])
        crl = demo_ca.make_crl(root_cert, root_key, [], now)
    (pki / "tsa30.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (pki / "tsa30.key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (pki / "root30.crl").write_bytes(crl)


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, timeline: list[dict[str, Any]]
) -> dict[str, Any]:
    """A workspace with three certificates (the PDFs as issued), its TSA and CRL since rotated."""
    path = tmp_path_factory.mktemp("renewal") / "ws"
    make_workspace(path)
    issued: dict[str, bytes] = {}
    with Registry.open(path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        for index in ENTRIES:
            for one in registry.push(timeline[index], principal=platform).certificates:
                issued[one.certificate.number] = one.pdf
    _rotate(path / "pki")
    _use_pki(path, "tsa30", "root30.crl")
    return {"path": path, "issued": issued}


@pytest.fixture
def ws(template: dict[str, Any], tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    shutil.copytree(template["path"], path)
    return path


@pytest.fixture
def registry(ws: Path) -> Iterator[Registry]:
    with Registry.open(ws) as opened:
        yield opened


def _platform(registry: Registry) -> Any:
    return registry.authenticate({"operator": "platform"})


def _stored(registry: Registry) -> dict[str, bytes]:
    with registry.storage.transaction() as tx:
        return {n: tx.get_pdf(n) for n in tx.certificate_numbers(limit=1000)}


def _renewals(registry: Registry) -> list[str]:
    with registry.storage.transaction() as tx:
        return [e.subject for e in tx.audit_events() if e.action == "renew_evidence"]


def _document_timestamps(pdf: bytes) -> int:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    return len(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_timestamp_signatures)


def test_the_fixture_issued_three_certificates_one_superseded(
    template: dict[str, Any], registry: Registry
) -> None:
    issued = template["issued"]
    assert len(issued) == 3 and SUPERSEDED in issued
    assert _stored(registry) == issued
    cert = registry.certificate(SUPERSEDED, principal=_platform(registry))
    assert cert.status.value == "superseded"


def test_renewing_on_each_database(workspace: Any, timeline: list[dict[str, Any]]) -> None:
    """The job on SQLite and PostgreSQL (the ``workspace`` fixture): the stored PDF is replaced
    and both digests are recognised; a second run renews nothing."""
    with Registry.open(workspace.path) as registry:
        platform = _platform(registry)
        (issued,) = registry.push(timeline[0], principal=platform).certificates
    _rotate(workspace.path / "pki")
    _use_pki(workspace.path, "tsa30", "root30.crl")
    with Registry.open(workspace.path) as registry:
        platform = _platform(registry)
        (done,) = registry.renew_all_evidence(principal=platform, margin=DUE)
        assert done.state == "renewed", done.reason
        renewed = registry.pdf(issued.certificate.number, principal=platform)
        assert renewed.startswith(issued.pdf) and renewed != issued.pdf
        for pdf in (issued.pdf, renewed):
            assert registry.verify(pdf).code is VerdictCode.VALID
        (again,) = registry.renew_all_evidence(principal=platform, margin=DUE)
        assert again.state == "fresh"
        assert registry.verify_audit(principal=platform) == []


def test_a_dry_run_lists_what_is_due_and_changes_nothing(
    template: dict[str, Any], registry: Registry
) -> None:
    platform = _platform(registry)
    dry = registry.renew_all_evidence(principal=platform, margin=DUE, dry_run=True)
    assert [o.number for o in dry] == sorted(template["issued"])
    for outcome in dry:
        assert outcome.state == "due", outcome
        assert "TSA certificate lapses" in outcome.reason
        assert outcome.tsa_expires_at is not None
        assert outcome.tsa_expires_at < datetime.now(UTC) + timedelta(days=25 * 365 + 7)
        assert outcome.renewed_until is None
    calm = registry.renew_all_evidence(principal=platform, margin=timedelta(days=1))
    assert {o.state for o in calm} == {"fresh"}
    assert _stored(registry) == template["issued"] and _renewals(registry) == []
    limited = registry.renew_all_evidence(principal=platform, margin=DUE, dry_run=True, limit=2)
    assert [o.state for o in limited] == ["due", "due"]


def test_renewing_all_stores_one_more_document_timestamp_and_keeps_every_copy_known(
    template: dict[str, Any], registry: Registry, ws: Path, tmp_path: Path
) -> None:
    issued: dict[str, bytes] = template["issued"]
    platform = _platform(registry)
    downloaded = {n: registry.pdf(n, principal=platform) for n in issued}  # handed out before
    assert downloaded == issued
    done = registry.renew_all_evidence(principal=platform, margin=DUE)
    assert [(o.number, o.state) for o in done] == [(n, "renewed") for n in sorted(issued)], done
    later = datetime.now(UTC) + TWENTY_YEARS
    stored = _stored(registry)
    for outcome in done:
        number, original = outcome.number, issued[outcome.number]
        renewed = stored[number]
        assert renewed.startswith(original) and renewed != original
        assert _document_timestamps(renewed) == _document_timestamps(original) + 1
        assert outcome.renewed_until is not None and outcome.renewed_until > later
        assert registry.pdf(number, principal=platform) == renewed
        expected = VerdictCode.SUPERSEDED if number == SUPERSEDED else VerdictCode.VALID
        for pdf, at in ((original, None), (renewed, None), (renewed, later)):
            verdict = registry.verify(pdf, at=at)
            assert verdict.code is expected, (number, at, verdict.detail)
            assert verdict.certificate is not None and verdict.certificate.number == number
    assert sorted(_renewals(registry)) == sorted(issued)
    # idempotent: the renewed evidence lapses in 30 years, not within the margin
    again = registry.renew_all_evidence(principal=platform, margin=DUE)
    assert {o.state for o in again} == {"fresh"} and _stored(registry) == stored
    assert sorted(_renewals(registry)) == sorted(issued)
    assert registry.verify_audit(principal=platform) == []
    # pyHanko's own command line, trusting only the demo root, 20 years ahead
    code, out = _adesverify(stored[SUPERSEDED], ws / "pki" / "root.cert.pem", tmp_path, later)
    assert code == 0, out
    summary = next(line for line in out.splitlines() if line.startswith("bdcert-seal:"))
    assert ":INTACT:TRUSTED," in summary and "EXTENDED_WITH_LTA_UPDATES" in summary, out


def _adesverify(pdf: bytes, root: Path, directory: Path, at: datetime) -> tuple[int, str]:
    cli = Path(sys.executable).parent / "pyhanko"
    if not cli.exists():
        skip_or_fail("pyHanko's command line is missing: pip install pyhanko-cli (the test extra)")
    path = directory / "renewed.pdf"
    path.write_bytes(pdf)
    out = run_tool(
        cli, "sign", "adesverify", "--trust", root, "--trust-replace",
        "--validation-time", at.strftime("%Y-%m-%dT%H:%M:%SZ"), path,
    )  # fmt: skip
    return out.returncode, out.stdout


def test_without_a_new_tsa_certificate_nothing_is_stored_and_it_fails(
    template: dict[str, Any], ws: Path
) -> None:
    """Renewing with the TSA certificate that is the one lapsing would not extend the
    evidence: the file is kept as it is (it would grow every run), each is reported failed."""
    _use_pki(ws, "tsa", "root.crl")
    with Registry.open(ws) as registry:
        done = registry.renew_all_evidence(principal=_platform(registry), margin=DUE)
        assert {o.state for o in done} == {"failed"}
        assert all("would not extend it" in o.reason for o in done), done
        assert _stored(registry) == template["issued"] and _renewals(registry) == []


def test_a_dry_run_reports_what_the_real_run_would_refuse(
    template: dict[str, Any], ws: Path
) -> None:
    """Without a new TSA certificate the real run refuses every renewal: the dry run says so
    (it listed them as due, then the real run failed them all)."""
    _use_pki(ws, "tsa", "root.crl")
    with Registry.open(ws) as registry:
        dry = registry.renew_all_evidence(principal=_platform(registry), margin=DUE, dry_run=True)
        assert [o.state for o in dry] == ["failed"] * 3, dry
        assert all("would not extend it" in o.reason for o in dry), dry
        assert _stored(registry) == template["issued"] and _renewals(registry) == []


def test_the_limit_counts_failures_too(template: dict[str, Any], ws: Path) -> None:
    """``limit`` bounds the certificates acted on, renewed or failed: a run that fails every
    renewal stops after the limit, not after walking the whole register."""
    _use_pki(ws, "tsa", "root.crl")
    with Registry.open(ws) as registry:
        platform = _platform(registry)
        for dry_run in (False, True):
            done = registry.renew_all_evidence(
                principal=platform, margin=DUE, dry_run=dry_run, limit=2
            )
            assert [o.state for o in done] == ["failed", "failed"], done
        assert _stored(registry) == template["issued"] and _renewals(registry) == []


def test_a_crash_leaves_each_certificate_renewed_or_untouched(
    template: dict[str, Any], registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash while renewing the second certificate's PDF, then one inside the third's
    transaction (after its PDF was replaced, before its audit record): the first is renewed
    and logged, the others untouched; the next run renews just those."""
    from bdcert.lifecycle import renewal
    from bdcert.sealing import archive

    issued: dict[str, bytes] = template["issued"]
    first, second, third = sorted(issued)
    platform = _platform(registry)
    real = archive.renew_archive_timestamp
    calls: list[bytes] = []

    def crash_on_second(pdf: bytes, evidence: Any) -> bytes:
        calls.append(pdf)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(pdf, evidence)

    monkeypatch.setattr(archive, "renew_archive_timestamp", crash_on_second)
    with pytest.raises(RuntimeError, match="power cut"):
        registry.renew_all_evidence(principal=platform, margin=DUE)
    monkeypatch.undo()
    stored = _stored(registry)
    assert stored[first] != issued[first] and stored[first].startswith(issued[first])
    assert stored[second] == issued[second] and stored[third] == issued[third]
    assert _renewals(registry) == [first]

    def crash_in_transaction(action: str, *args: Any) -> Any:
        raise RuntimeError("killed before commit")

    monkeypatch.setattr(renewal, "AuditEvent", crash_in_transaction)
    with pytest.raises(RuntimeError, match="killed before commit"):
        registry.renew_all_evidence(principal=platform, margin=DUE)
    monkeypatch.undo()
    assert _stored(registry) == stored and _renewals(registry) == [first]
    with registry.storage.transaction() as tx:
        digest = hashlib.sha256(issued[second]).hexdigest()
        assert tx.find_certificate_by_digest(digest) is not None

    resumed = registry.renew_all_evidence(principal=platform, margin=DUE)
    assert [o.state for o in resumed] == ["fresh", "renewed", "renewed"]
    assert sorted(_renewals(registry)) == sorted(issued)
    assert registry.verify_audit(principal=platform) == []


def test_a_certificate_renewed_meanwhile_keeps_the_other_runs_file(
    template: dict[str, Any], registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run stores its renewal of the first certificate while this one renews it:
    this run keeps theirs (skipped, no second audit record) and goes on with the others."""
    from bdcert.sealing import archive

    issued: dict[str, bytes] = template["issued"]
    first = sorted(issued)[0]
    real = archive.renew_archive_timestamp
    theirs: list[bytes] = []

    def racing(pdf: bytes, evidence: Any) -> bytes:
        renewed = real(pdf, evidence)
        if not theirs:
            theirs.append(real(pdf, evidence))
            with registry.storage.transaction() as tx:
                tx.replace_pdf(first, theirs[0], datetime.now(UTC))
        return renewed

    monkeypatch.setattr(archive, "renew_archive_timestamp", racing)
    done = registry.renew_all_evidence(principal=_platform(registry), margin=DUE)
    assert [o.state for o in done] == ["skipped", "renewed", "renewed"]
    assert "renewed meanwhile" in done[0].reason
    assert _stored(registry)[first] == theirs[0]
    assert sorted(_renewals(registry)) == sorted(issued)[1:]


def test_files_below_b_lta_and_sm2_seals_are_skipped_with_the_reason(
    registry: Registry, plain_pdf: bytes
) -> None:
    """A certificate filed as a B-B/B-T file (no document timestamp: here an unsealed PDF
    stands in) and one sealed with SM2 (its /Contents holds the SM2-with-SM3 OID) are not
    renewed, and no error stops the others."""
    platform = _platform(registry)
    with registry.storage.transaction() as tx:
        model = tx.get_certificate("川(2024)成都市不动产权第0000002号")
        for sequence, pdf in ((98, plain_pdf), (99, plain_pdf + b"<2a811ccf55018375>")):
            number = f"川(2024)成都市不动产权第00000{sequence}号"
            cert = attrs.evolve(
                model,
                number=number,
                sequence=sequence,
                licence_id=f"{model.licence_id}.{sequence}",
                token=f"{model.token[:-2]}{sequence}",
                pdf_sha256="",
            )
            tx.add_certificate(cert, pdf)
    done = {o.number: o for o in registry.renew_all_evidence(principal=platform, margin=DUE)}
    below = done["川(2024)成都市不动产权第0000098号"]
    sm2 = done["川(2024)成都市不动产权第0000099号"]
    assert below.state == "skipped" and "below PAdES B-LTA" in below.reason
    assert sm2.state == "skipped" and "SM2 (GB/T 38540)" in sm2.reason
    assert [o.state for o in done.values()].count("renewed") == 3


def test_bad_arguments_are_all_named_and_only_the_platform_renews(registry: Registry) -> None:
    from bdcert.errors import PermissionDenied, ValidationError

    with pytest.raises(ValidationError) as caught:
        registry.renew_all_evidence(
            principal=_platform(registry),
            margin=timedelta(days=-1),
            limit=0,
        )
    assert set(caught.value.fields) == {"margin", "limit"}
    auditor = registry.authenticate({"operator": "auditor"})
    with pytest.raises(PermissionDenied):
        registry.renew_all_evidence(principal=auditor, margin=DUE)


def test_the_cli_renews_all_and_keeps_the_file_usage(
    template: dict[str, Any], ws: Path, tmp_path: Path
) -> None:
    from bdcert.config import Workspace

    workspace = Workspace.load(ws)
    far = ("--margin-days", str(DUE.days))
    dry = run_cli(workspace, "evidence", "renew", "--all", *far, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    rows = [json.loads(line) for line in dry.stdout.splitlines()]
    assert [r["state"] for r in rows] == ["due"] * 3
    assert {r["number"] for r in rows} == set(template["issued"])
    assert all(r["tsa_expires_at"] and r["reason"] for r in rows)
    one = run_cli(workspace, "evidence", "renew", "--all", *far, "--limit", "1")
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith("RENEWED 川(2024)成都市不动产权第0000001号"), one.stdout
    rest = run_cli(workspace, "evidence", "renew", "--all", *far, "--json")
    assert [json.loads(line)["state"] for line in rest.stdout.splitlines()] == [
        "fresh",
        "renewed",
        "renewed",
    ]
    # the per-file usage still works on a copy handed out before
    file = tmp_path / "copy.pdf"
    file.write_bytes(template["issued"][SUPERSEDED])
    calm = run_cli(workspace, "evidence", str(file), "--margin-days", "1", "--json")
    assert calm.returncode == 0 and json.loads(calm.stdout)["state"] == "fresh", calm.stderr
    verb = run_cli(workspace, "evidence", "renew", str(file), "--margin-days", "1", "--json")
    assert verb.returncode == 0 and json.loads(verb.stdout)["state"] == "fresh", verb.stderr
    both = run_cli(workspace, "evidence", "renew", str(file), "--all")
    assert both.returncode == 2 and "--all" in both.stderr
    neither = run_cli(workspace, "evidence", "renew")
    assert neither.returncode == 2 and "FILE" in neither.stderr


def test_another_certificates_file_put_in_the_register_is_reported_and_not_stamped(
    template: dict[str, Any], ws: Path
) -> None:
    """Attack (write access to the database): the file of 第0000001号 put into the ``pdfs`` row
    of 第0000002号. ``audit verify`` was clean and the job stamped the swapped file with the
    trusted TSA; now ``audit verify`` names 0000002 and the job refuses it (failed, untouched),
    renewing the others."""
    from sqlalchemy import create_engine, update

    from bdcert_plugins.storage_sql.schema import pdfs

    issued: dict[str, bytes] = template["issued"]
    victim = "川(2024)成都市不动产权第0000002号"
    engine = create_engine(f"sqlite:///{ws / 'bdcert.sqlite3'}")  # the workspace's own file
    try:
        with engine.begin() as conn:
            swap = update(pdfs).where(pdfs.c.number == victim).values(pdf=issued[SUPERSEDED])
            assert conn.execute(swap).rowcount == 1
    finally:
        engine.dispose()
    with Registry.open(ws) as registry:
        platform = _platform(registry)
        problems = registry.verify_audit(principal=platform)
        assert [p for p in problems if victim in p] and all(victim in p for p in problems), problems
        assert any(SUPERSEDED in p for p in problems), problems  # whose file it is
        done = {o.number: o for o in registry.renew_all_evidence(principal=platform, margin=DUE)}
        assert done[victim].state == "failed", done[victim]
        assert "not one the register recorded" in done[victim].reason
        assert {o.state for n, o in done.items() if n != victim} == {"renewed"}
        assert _stored(registry)[victim] == issued[SUPERSEDED]
        assert victim not in _renewals(registry)


def test_a_stored_file_must_be_the_filed_one_or_a_revision_extending_it() -> None:
    from bdcert.audit import stored_file_problem

    original = b"%PDF-1.7\n...\n%%EOF\n"
    renewed = original + b"1 0 obj\n<<>>\nendobj\n%%EOF\n"
    other = b"%PDF-1.7\nother\n%%EOF\n"
    digest = hashlib.sha256(original).hexdigest()
    owners = {
        hashlib.sha256(renewed).hexdigest(): "A",
        hashlib.sha256(other).hexdigest(): "B",
        hashlib.sha256(other + b"x%%EOF").hexdigest(): "A",  # a revision row forged for A
    }
    assert stored_file_problem("A", original, digest, owners.get) is None
    assert stored_file_problem("A", renewed, digest, owners.get) is None
    assert "file of B" in str(stored_file_problem("A", other, digest, owners.get))
    assert "does not extend" in str(stored_file_problem("A", other + b"x%%EOF", digest, owners.get))
    assert "no digest" in str(stored_file_problem("A", original, "", owners.get))
