"""Long-term validation of PAdES seals (issue 9, defect 1): B-T, B-LT, B-LTA, revocation.

Every claim is checked by something that is not bdcert: pyHanko's command line (``pyhanko sign
adesverify`` with a validation time 20 years ahead and the demo root as the only trust anchor),
poppler's ``pdfsig`` with the root trusted in NSS, asn1crypto reading the structures.
"""

from __future__ import annotations

import io
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from cryptography import x509

from bdcert.demo_ca import DemoCa
from bdcert.demo_pki import DemoPki, make_demo_pki
from bdcert.errors import ConfigurationError, SealingError
from bdcert.model import Authority, VerdictCode
from bdcert.protocols import SealRequest
from bdcert.sealing.evidence import LEVELS, Evidence
from bdcert.sealing.pades import load_software_signer, seal_pdf_with_signer
from bdcert.verify.pades import check_pdf_seal
from tests.support import AUTHORITIES, pdfsig_trusting, require_shared, run_tool, skip_or_fail

TWENTY_YEARS = timedelta(days=20 * 365 + 5)


def _authorities() -> list[Authority]:
    require_shared()
    return [Authority.from_wire(a) for a in json.loads(AUTHORITIES.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return make_demo_pki(tmp_path_factory.mktemp("ltv-pki"), _authorities())


def _evidence(pki: DemoPki, level: str, *, crls: bool = True) -> Evidence:
    return Evidence.from_settings(
        level,
        {"key": "tsa.key.pem", "cert": "tsa.cert.pem", "chain": ["root.cert.pem"]},
        {"crls": ["root.crl"], "fetch": False} if crls else {"fetch": False},
        pki.directory,
        [pki.root_cert.read_bytes()],
    )


def _seal(pki: DemoPki, pdf: bytes, png: bytes, evidence: Evidence, code: str = "510100") -> bytes:
    authority = next(a for a in _authorities() if a.code == code)
    files = pki.seal[code]
    signer = load_software_signer(files.key, files.cert, [pki.root_cert])
    request = SealRequest(authority=authority, page=0, box=(400, 60, 520, 180), appearance_png=png)
    return seal_pdf_with_signer(pdf, request, signer, evidence)


@pytest.fixture(scope="module")
def sealed(pki: DemoPki, plain_pdf: bytes, seal_png: bytes) -> dict[str, bytes]:
    """The plain PDF sealed at every level, with the same key."""
    return {level: _seal(pki, plain_pdf, seal_png, _evidence(pki, level)) for level in LEVELS}


def _signatures(pdf: bytes) -> list[Any]:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return list(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures)


def _unsigned_attrs(sig: Any) -> set[str]:
    attrs = sig.signer_info["unsigned_attrs"]
    return {a["type"].native for a in attrs} if attrs.native else set()


# --------------------------------------------------------------------------- structure


def test_each_level_adds_what_etsi_en_319_142_1_says(sealed: dict[str, bytes]) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    for level, pdf in sealed.items():
        sigs = _signatures(pdf)
        seal = sigs[0]
        root = PdfFileReader(io.BytesIO(pdf), strict=False).root
        stamped = "signature_time_stamp_token" in _unsigned_attrs(seal)
        assert stamped is (level != "B-B"), level
        assert ("/DSS" in root) is (level in ("B-LT", "B-LTA")), level
        kinds = [s.sig_object_type for s in sigs]
        assert kinds == (["/Sig", "/DocTimeStamp"] if level == "B-LTA" else ["/Sig"]), level
        if level in ("B-LT", "B-LTA"):
            dss = root["/DSS"]
            assert len(dss["/Certs"]) >= 3 and len(dss["/CRLs"]) >= 1  # seal, TSA, root; CRL
        last = sigs[-1]
        _, _, c, d = (int(x) for x in last.byte_range)
        whole = c + d == len(pdf)
        assert whole is (level != "B-LT"), level  # B-LT: the DSS update follows the seal


def test_the_demo_tsa_certificate_is_for_timestamping_only(pki: DemoPki) -> None:
    assert pki.tsa_cert is not None
    cert = x509.load_pem_x509_certificate(pki.tsa_cert.read_bytes())
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]
    assert cert.not_valid_after_utc > datetime.now(UTC) + TWENTY_YEARS


def test_the_signature_timestamp_is_an_rfc_3161_token_over_the_signature(
    sealed: dict[str, bytes],
) -> None:
    import hashlib

    seal = _signatures(sealed["B-T"])[0]
    attr = next(
        a
        for a in seal.signer_info["unsigned_attrs"]
        if a["type"].native == "signature_time_stamp_token"
    )
    token: cms.ContentInfo = attr["values"][0]
    info = token["content"]["encap_content_info"]["content"].parsed
    imprint = info["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    signature = seal.signer_info["signature"].native
    assert imprint["hashed_message"].native == hashlib.new(algorithm, signature).digest()


# --------------------------------------------------------------------------- independent checks


def _pyhanko_cli() -> Path:
    cli = Path(sys.executable).parent / "pyhanko"
    if not cli.exists():
        skip_or_fail("pyHanko's command line is missing: pip install pyhanko-cli (the test extra)")
    return cli


def _adesverify(pdf: bytes, root: Path, directory: Path, at: datetime) -> tuple[int, str]:
    path = directory / "sealed.pdf"
    path.write_bytes(pdf)
    out = run_tool(
        _pyhanko_cli(), "sign", "adesverify", "--trust", root, "--trust-replace",
        "--validation-time", at.strftime("%Y-%m-%dT%H:%M:%SZ"), path,
    )  # fmt: skip
    return out.returncode, out.stdout


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_pyhanko_cli_finds_the_seal_valid_twenty_years_ahead(
    pki: DemoPki, sealed: dict[str, bytes], tmp_path: Path, level: str
) -> None:
    code, out = _adesverify(
        sealed[level], pki.root_cert, tmp_path, datetime.now(UTC) + TWENTY_YEARS
    )
    assert code == 0, out
    summary = next(line for line in out.splitlines() if line.startswith("bdcert-seal:"))
    assert ":INTACT:TRUSTED," in summary and "TIMESTAMP_TOKEN<INTACT:TRUSTED>" in summary, out
    if level == "B-LTA":
        assert "EXTENDED_WITH_LTA_UPDATES" in summary, out


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_without_validation_data_the_seal_dies_with_its_certificate(
    pki: DemoPki, sealed: dict[str, bytes], tmp_path: Path, level: str
) -> None:
    """The defect (issue 9): what bdcert sealed before — B-B — is untrusted once the seal
    certificate has expired, by pyHanko and by bdcert alike."""
    at = datetime.now(UTC) + TWENTY_YEARS
    code, out = _adesverify(sealed[level], pki.root_cert, tmp_path, at)
    assert code != 0 and "UNTRUSTED" in out, out
    check = check_pdf_seal(sealed[level], [pki.root_cert.read_bytes()], at=at)
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail


def test_pdfsig_validates_the_b_lta_seal_and_its_certificate(
    pki: DemoPki, sealed: dict[str, bytes], tmp_path: Path
) -> None:
    """poppler checks the seal's signature and its certificate chain at the current time (NSS,
    root trusted); it reads the document timestamp but cannot validate that kind
    (ETSI.RFC3161): it reports it as not verified, and says the seal does not cover the whole
    file (the DSS and the timestamp follow it)."""
    report = pdfsig_trusting(pki.root_cert, sealed["B-LTA"], tmp_path)
    first, second = report.split("Signature #2:")
    assert "Signature Validation: Signature is Valid." in first, report
    assert "Certificate Validation: Certificate is Trusted." in first, report
    assert "Signature Type: ETSI.CAdES.detached" in first, report
    assert "Signer Certificate Common Name: bdcert demo TSA" in second, report
    assert "Not total document signed" not in second, report  # the timestamp covers all


# --------------------------------------------------------------------------- bdcert's check


@pytest.mark.parametrize("level", LEVELS)
def test_bdcert_finds_every_level_valid_today(
    pki: DemoPki, sealed: dict[str, bytes], level: str
) -> None:
    check = check_pdf_seal(sealed[level], [pki.root_cert.read_bytes()])
    assert check.code is VerdictCode.VALID, check.detail


@pytest.mark.parametrize("level", ["B-LT", "B-LTA"])
def test_bdcert_finds_the_long_term_seal_valid_twenty_years_ahead(
    pki: DemoPki, sealed: dict[str, bytes], level: str
) -> None:
    at = datetime.now(UTC) + TWENTY_YEARS
    check = check_pdf_seal(sealed[level], [pki.root_cert.read_bytes()], at=at)
    assert check.code is VerdictCode.VALID, check.detail
    assert check.trusted


def test_a_naive_validation_time_is_refused(pki: DemoPki, sealed: dict[str, bytes]) -> None:
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        check_pdf_seal(sealed["B-LTA"], [pki.root_cert.read_bytes()], at=datetime(2046, 1, 1))


def test_an_update_after_the_document_timestamp_is_modified_after_sealing(
    pki: DemoPki, sealed: dict[str, bytes]
) -> None:
    from pyhanko.pdf_utils.generic import NameObject, TextStringObject
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(sealed["B-LTA"]), strict=False)
    writer.root[NameObject("/Lang")] = TextStringObject("en")  # type: ignore[no-untyped-call]
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    check = check_pdf_seal(out.getvalue(), [pki.root_cert.read_bytes()])
    assert check.code is VerdictCode.MODIFIED_AFTER_SEALING, check.detail


def test_a_second_seal_beside_a_document_timestamp_is_still_multiple_signatures(
    pki: DemoPki, sealed: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    # pyHanko refuses to add to a no-changes certification
    monkeypatch.setattr(signers.PdfSigner, "_enforce_certification_constraints", lambda *a: None)

    files = pki.seal["510700"]
    signer = load_software_signer(files.key, files.cert, [pki.root_cert])
    out = io.BytesIO()
    signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(sealed["B-LTA"]), strict=False),
        signers.PdfSignatureMetadata(field_name="Second", md_algorithm="sha256"),
        signer=signer,
        output=out,
    )
    check = check_pdf_seal(out.getvalue(), [pki.root_cert.read_bytes()])
    assert check.code is VerdictCode.MULTIPLE_SIGNATURES, check.detail


# --------------------------------------------------------------------------- revocation


@pytest.fixture
def revocable(tmp_path: Path) -> DemoPki:
    """A PKI of its own: a test revokes one of its seal certificates."""
    return make_demo_pki(tmp_path / "pki", _authorities())


def _revoke(pki: DemoPki, code: str, at: datetime) -> None:
    cert = x509.load_pem_x509_certificate(pki.seal[code].cert.read_bytes())
    DemoCa(pki.directory).revoke(cert, at=at)


def test_a_revoked_seal_certificate_cannot_seal(
    revocable: DemoPki, plain_pdf: bytes, seal_png: bytes
) -> None:
    _revoke(revocable, "510100", datetime.now(UTC) - timedelta(hours=1))
    for level in LEVELS:
        with pytest.raises(SealingError, match="authority 510100 is revoked"):
            _seal(revocable, plain_pdf, seal_png, _evidence(revocable, level))
    # another authority of the same root still seals
    other = _seal(revocable, plain_pdf, seal_png, _evidence(revocable, "B-LTA"), code="510700")
    assert check_pdf_seal(other, [revocable.root_cert.read_bytes()]).code is VerdictCode.VALID


def test_a_seal_by_a_certificate_revoked_before_signing_is_revoked(
    revocable: DemoPki, plain_pdf: bytes, seal_png: bytes, tmp_path: Path
) -> None:
    """Sealed after the revocation by a sealer that did not look (no revocation source): the
    CRL the verifier has says revoked before the timestamp, now and 20 years ahead."""
    _revoke(revocable, "510100", datetime.now(UTC) - timedelta(days=2))
    pdf = _seal(revocable, plain_pdf, seal_png, _evidence(revocable, "B-T", crls=False))
    crl = DemoCa(revocable.directory).crl()
    roots = [revocable.root_cert.read_bytes()]
    for at in (None, datetime.now(UTC) + TWENTY_YEARS):
        check = check_pdf_seal(pdf, roots, at=at, crls=[crl])
        assert check.code is VerdictCode.REVOKED, (at, check.detail)
        assert not check.trusted


# --------------------------------------------------------------------------- configuration


def test_a_level_needing_a_tsa_without_one_is_refused_naming_the_setting(pki: DemoPki) -> None:
    for level in ("B-T", "B-LT", "B-LTA"):
        with pytest.raises(ConfigurationError, match=r"seal.level .* \[timestamp\]"):
            Evidence.from_settings(level, {}, {"crls": ["root.crl"]}, pki.directory)
    assert (
        Evidence.from_settings(None, {"url": "https://tsa.invalid/"}, {}, pki.directory).level
        == "B-LTA"
    )
    assert Evidence.from_settings("B-B", {}, {}, pki.directory).level == "B-B"


def test_bad_evidence_settings_are_all_named(pki: DemoPki) -> None:
    with pytest.raises(ConfigurationError) as info:
        Evidence.from_settings(
            "B-X",
            {"url": "ftp://tsa", "colour": 1},
            {"crls": "root.crl", "fetch": "yes"},
            pki.directory,
        )
    message = str(info.value)
    for bad in (
        "seal.level",
        "timestamp.colour",
        "revocation.crls",
        "revocation.fetch",
        "timestamp.url",
    ):
        assert bad in message, message


def test_a_workspace_at_b_lta_without_a_tsa_fails_at_open(tmp_path: Path) -> None:
    from bdcert.lifecycle import Registry
    from tests.support import make_workspace

    ws = make_workspace(tmp_path / "ws")
    config = ws.path / "bdcert.toml"
    text = config.read_text(encoding="utf-8")
    assert "[timestamp]" in text
    config.write_text(re.sub(r"\[timestamp\]\n(.+\n)+\n", "", text), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"seal.level B-LTA needs a timestamp authority"):
        Registry.open(ws.path)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'plugin = "software"', 'plugin = "software"\nlevel = "B-B"'
        ),
        encoding="utf-8",
    )
    Registry.open(ws.path).close()


# --------------------------------------------------------------------------- archive renewal


def test_renewing_the_archive_timestamp_appends_and_keeps_old_copies_valid(
    pki: DemoPki, sealed: dict[str, bytes], tmp_path: Path
) -> None:
    from bdcert.sealing.archive import evidence_expiry, renew_archive_timestamp

    old = sealed["B-LTA"]
    evidence = _evidence(pki, "B-LTA")
    before = evidence_expiry(old)
    assert before is not None and before > datetime.now(UTC) + TWENTY_YEARS
    renewed = renew_archive_timestamp(old, evidence)
    assert renewed.startswith(old) and len(renewed) > len(old)
    kinds = [s.sig_object_type for s in _signatures(renewed)]
    assert kinds == ["/Sig", "/DocTimeStamp", "/DocTimeStamp"]
    roots = [pki.root_cert.read_bytes()]
    ahead = datetime.now(UTC) + TWENTY_YEARS
    for pdf in (old, renewed):  # the copy handed out before renewal still verifies
        check = check_pdf_seal(pdf, roots, at=ahead)
        assert check.code is VerdictCode.VALID, check.detail
    code, out = _adesverify(renewed, pki.root_cert, tmp_path, ahead)
    assert code == 0 and "EXTENDED_WITH_LTA_UPDATES" in out, out
    report = pdfsig_trusting(pki.root_cert, renewed, tmp_path)
    *_, last = report.split("Signature #")
    assert "Total document signed" in last, report


def test_only_b_lta_evidence_is_renewed(pki: DemoPki, sealed: dict[str, bytes]) -> None:
    from bdcert.sealing.archive import evidence_expiry, renew_archive_timestamp

    assert evidence_expiry(sealed["B-LT"]) is None
    with pytest.raises(SealingError, match="no document timestamp"):
        renew_archive_timestamp(sealed["B-LT"], _evidence(pki, "B-LTA"))


def test_renewal_without_a_tsa_is_refused(pki: DemoPki, sealed: dict[str, bytes]) -> None:
    from bdcert.sealing.archive import renew_archive_timestamp

    with pytest.raises(SealingError, match=r"\[timestamp\]"):
        renew_archive_timestamp(sealed["B-LTA"], Evidence())


def test_pdfsig_checks_the_certificate_at_its_own_clock_only(
    pki: DemoPki, sealed: dict[str, bytes], tmp_path: Path
) -> None:
    """What poppler cannot do (stated in docs/configuration.md): it takes no validation time and
    ignores timestamps and the DSS. Run with its clock 20 years ahead (libfaketime), it still
    finds the signature valid but the seal certificate expired, B-LTA or not; bdcert and
    pyHanko, from the same bytes, prove the B-LTA seal."""
    from tests.support import require_tool

    require_tool("faketime")
    require_tool("pdfsig")
    report = pdfsig_trusting(pki.root_cert, sealed["B-LTA"], tmp_path)  # makes the NSS db
    assert "Certificate is Trusted." in report, report
    later = run_tool(
        "faketime", "-f", "+7305d", "pdfsig", "-nssdir", f"sql:{tmp_path / 'nss'}",
        tmp_path / "sealed.pdf",
    )  # fmt: skip
    seal = later.stdout.split("Signature #2:")[0]
    assert "Signature Validation: Signature is Valid." in seal, later.stdout
    assert "Certificate Validation: Certificate has Expired" in seal, later.stdout


# --------------------------------------------------------------------------- the registry's job


def test_the_registry_renews_a_certificates_evidence_and_still_knows_it(
    tmp_path: Path, timeline: list[dict[str, Any]]
) -> None:
    from bdcert.errors import PermissionDenied
    from bdcert.lifecycle import Registry
    from tests.sdk.test_renewal import _rotate, _use_pki
    from tests.support import make_workspace

    ws = make_workspace(tmp_path / "ws")
    far = timedelta(days=30 * 365)
    with Registry.open(ws.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        (issued,) = registry.push(timeline[0], principal=platform).certificates
        original = issued.pdf
        # with the TSA certificate that is what lapses, renewing would not extend the evidence:
        # reported, nothing returned to keep, nothing logged (a dry run says so too)
        for dry_run in (True, False):
            same = registry.renew_evidence(
                original, principal=platform, margin=far, dry_run=dry_run
            )
            assert same.due and not same.renewed and same.pdf == original
            assert "would not extend" in same.problem, same
        with registry.storage.transaction() as tx:
            assert not [e for e in tx.audit_events() if e.action == "renew_evidence"]
    _rotate(ws.path / "pki")  # the TSA gets a 30-year certificate
    _use_pki(ws.path, "tsa30", "root30.crl")
    with Registry.open(ws.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        auditor = registry.authenticate({"operator": "auditor"})
        # not due within a day: nothing happens (idempotent); a dry run only reports
        calm = registry.renew_evidence(original, principal=platform, margin=timedelta(days=1))
        assert not calm.due and not calm.renewed and calm.pdf == original
        dry = registry.renew_evidence(
            original, principal=platform, margin=timedelta(days=30 * 365), dry_run=True
        )
        assert dry.due and not dry.renewed and dry.pdf == original
        with pytest.raises(PermissionDenied):
            registry.renew_evidence(original, principal=auditor, margin=timedelta(days=30 * 365))
        done = registry.renew_evidence(
            original, principal=platform, margin=timedelta(days=30 * 365)
        )
        assert done.renewed and done.number == issued.certificate.number and not done.problem
        again = registry.renew_evidence(done.pdf, principal=platform, margin=far)
        assert not again.due and not again.renewed and again.pdf == done.pdf
        assert done.pdf.startswith(original) and len(_signatures(done.pdf)) == 3
        for pdf in (original, done.pdf):  # the register knows both
            verdict = registry.verify(pdf, at=datetime.now(UTC) + TWENTY_YEARS)
            assert verdict.code is VerdictCode.VALID, verdict.detail
            assert (
                verdict.certificate is not None
                and verdict.certificate.number == issued.certificate.number
            )
        with registry.storage.transaction() as tx:
            events = tx.audit_events()
        renewals = [e for e in events if e.action == "renew_evidence"]
        assert len(renewals) == 1 and renewals[0].subject == issued.certificate.number
        # what is not a registered certificate is refused, nothing logged
        with pytest.raises(SealingError, match="only a genuine registered certificate"):
            registry.renew_evidence(b"%PDF-1.7 not sealed", principal=platform)


def test_a_document_timestamp_by_an_unknown_tsa_is_untrusted(
    pki: DemoPki, sealed: dict[str, bytes], tmp_path: Path
) -> None:
    """Someone appends a document timestamp of their own TSA (another demo PKI's): the content
    is untouched, but the evidence is not the trusted one."""
    from bdcert.sealing.archive import renew_archive_timestamp

    other = make_demo_pki(tmp_path / "other", _authorities())
    foreign = Evidence.from_settings(
        "B-LTA",
        {"key": "tsa.key.pem", "cert": "tsa.cert.pem", "chain": ["root.cert.pem"]},
        {"crls": ["root.crl", str(pki.crl)], "fetch": False},
        other.directory,
        [other.root_cert.read_bytes(), pki.root_cert.read_bytes()],
    )
    appended = renew_archive_timestamp(sealed["B-LTA"], foreign)
    check = check_pdf_seal(appended, [pki.root_cert.read_bytes()])
    assert check.code is VerdictCode.UNTRUSTED_SIGNER, check.detail
    assert "newest document timestamp" in check.detail


def test_bdcert_evidence_renews_files_in_place(
    tmp_path: Path, timeline: list[dict[str, Any]]
) -> None:
    from bdcert.lifecycle import Registry
    from tests.sdk.test_renewal import _rotate, _use_pki
    from tests.support import make_workspace, run_cli

    ws = make_workspace(tmp_path / "ws")
    with Registry.open(ws.path) as registry:
        platform = registry.authenticate({"operator": "platform"})
        (issued,) = registry.push(timeline[0], principal=platform).certificates
    file = tmp_path / "cert.pdf"
    file.write_bytes(issued.pdf)
    file.chmod(0o644)
    far = "--margin-days", str(30 * 365)
    # the TSA certificate is what lapses: renewing would not extend it, so each run reports it
    # and leaves the file as it is (it grew by a document timestamp every run)
    for _ in range(2):
        same = run_cli(ws, "evidence", str(file), *far)
        assert same.returncode == 2 and same.stdout.startswith("FAILED"), same.stdout
        assert "would not extend" in same.stdout and file.read_bytes() == issued.pdf
    _rotate(ws.path / "pki")  # the TSA gets a 30-year certificate
    _use_pki(ws.path, "tsa30", "root30.crl")
    dry = run_cli(ws, "evidence", str(file), *far, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["state"] == "due" and file.read_bytes() == issued.pdf
    done = run_cli(ws, "evidence", str(file), *far, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "renewed"
    renewed = file.read_bytes()
    assert renewed.startswith(issued.pdf) and len(_signatures(renewed)) == 3
    assert file.stat().st_mode & 0o777 == 0o644  # the rewrite keeps the file's permissions
    rerun = run_cli(ws, "evidence", str(file), *far, "--json")  # harmless: nothing changes
    assert rerun.returncode == 0 and json.loads(rerun.stdout)["state"] == "fresh", rerun.stdout
    assert file.read_bytes() == renewed and file.stat().st_mode & 0o777 == 0o644
    calm = run_cli(ws, "evidence", str(file), "--margin-days", "1", "--json")
    assert json.loads(calm.stdout)["state"] == "fresh" and file.read_bytes() == renewed
    verified = run_cli(ws, "verify", str(file), "--json")
    assert json.loads(verified.stdout)["verdict"] == "valid", verified.stdout
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.7 nothing")
    refused = run_cli(ws, "evidence", str(junk))
    assert refused.returncode == 2 and "only a genuine registered certificate" in refused.stderr


def test_init_names_the_pki_services_when_asked(tmp_path: Path) -> None:
    from bdcert_adapters.cli import main

    require_shared()
    url = "http://127.0.0.1:8731/pki"
    args = [
        "init",
        "--demo",
        "--workspace",
        str(tmp_path / "ws"),
        "--authorities",
        str(AUTHORITIES),
    ]
    assert main([*args, "--pki-url", url]) == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "ws/pki/510100.cert.pem").read_bytes())
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    dp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [a.access_location.value for a in aia] == [f"{url}/ocsp"]
    assert [n.value for n in dp[0].full_name or ()] == [f"{url}/crl"]
    tsa = x509.load_pem_x509_certificate((tmp_path / "ws/pki/tsa.cert.pem").read_bytes())
    assert tsa.extensions.get_extension_for_class(x509.AuthorityInformationAccess)


# --------------------------------------------------------------------------- forged evidence


def _own_tsa(directory: Path) -> Any:
    """A timestamp authority anyone can make: a self-signed timeStamping certificate."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pyhanko.keys import load_cert_from_pemder, load_private_key_from_pemder
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pyHanko's dummy TSA
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Own TSA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2090, 1, 1, tzinfo=UTC))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tsa.cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "tsa.key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return lambda when=None: DummyTimeStamper(
        load_cert_from_pemder(str(directory / "tsa.cert.pem")),
        load_private_key_from_pemder(str(directory / "tsa.key.pem"), None),
        fixed_dt=when,
    )


def _rewrite_info(pdf: bytes) -> bytes:
    """An incremental update pointing the trailer's /Info at a new title and subject."""
    prev = int(list(re.finditer(rb"startxref\s+(\d+)", pdf))[-1].group(1))
    root = re.findall(rb"/Root\s+(\d+\s+\d+\s+R)", pdf)[-1]
    num = max(int(x) for x in re.findall(rb"/Size\s+(\d+)", pdf))

    def text(s: str) -> bytes:
        return b"<FEFF" + s.encode("utf-16-be").hex().upper().encode() + b">"

    off = len(pdf)
    body = (
        b"%d 0 obj\n<< /Title " % num
        + text("已注销 VOID")
        + b" /Subject "
        + text("权利人：李四（伪造）")
        + b" >>\nendobj\n"
    )
    xref = len(pdf) + len(body)
    tail = (
        b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (num, off)
        + b"trailer\n<< /Size %d /Root " % (num + 1)
        + root
        + b" /Info %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (num, prev, xref)
    )
    return pdf + body + tail


def _doc_timestamp(pdf: bytes, timestamper: Any) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    out = io.BytesIO()
    signers.PdfTimeStamper(timestamper).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False),
        md_algorithm="sha256",
        timestamper=timestamper,
        output=out,
    )
    return out.getvalue()


def test_a_change_after_the_seal_under_an_own_document_timestamp_is_never_valid(
    pki: DemoPki, sealed: dict[str, bytes], tmp_path: Path
) -> None:
    """A new /Title and /Subject appended after the seal, then a document timestamp of a TSA
    of one's own: not VALID now nor at a chosen validation time; nor under a genuine renewal."""
    from bdcert.sealing.archive import renew_archive_timestamp

    roots = [pki.root_cert.read_bytes()]
    changed = _rewrite_info(sealed["B-LTA"])
    own = _own_tsa(tmp_path / "own")
    for pdf in (
        _doc_timestamp(changed, own()),
        renew_archive_timestamp(changed, _evidence(pki, "B-LTA")),
    ):
        for at in (None, datetime.now(UTC) + timedelta(days=180), datetime.now(UTC) + TWENTY_YEARS):
            check = check_pdf_seal(pdf, roots, at=at)
            assert check.code is VerdictCode.MODIFIED_AFTER_SEALING, (at, check.detail)
            assert not check.trusted
    # nothing changed, but the newest document timestamp is the own TSA's: untrusted at any time
    stamped = _doc_timestamp(sealed["B-LTA"], own())
    for at in (None, datetime.now(UTC) + timedelta(days=180)):
        check = check_pdf_seal(stamped, roots, at=at)
        assert check.code is VerdictCode.UNTRUSTED_SIGNER, (at, check.detail)
        assert "newest document timestamp" in check.detail
    # the genuine renewal is still VALID, now and at a chosen time
    renewed = renew_archive_timestamp(sealed["B-LTA"], _evidence(pki, "B-LTA"))
    for at in (None, datetime.now(UTC) + timedelta(days=180)):
        assert check_pdf_seal(renewed, roots, at=at).code is VerdictCode.VALID


@pytest.mark.parametrize("dss", [False, True], ids=["B-T", "B-LT"])
def test_a_backdated_signature_timestamp_of_an_own_tsa_proves_no_time(
    revocable: DemoPki, plain_pdf: bytes, tmp_path: Path, dss: bool
) -> None:
    """A seal by a key revoked 2 days ago with a signature timestamp of a TSA of one's own
    dated 3 days ago: the token proves nothing, so the seal is not VALID."""
    from asn1crypto import crl as asn1_crl
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    _revoke(revocable, "510100", datetime.now(UTC) - timedelta(days=2))
    crl = DemoCa(revocable.directory).crl()
    files = revocable.seal["510100"]
    signer = load_software_signer(files.key, files.cert, [revocable.root_cert])
    stamper = _own_tsa(tmp_path / "own")(datetime.now(UTC) - timedelta(days=3))
    out = io.BytesIO()
    signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Seal", subfilter=fields.SigSeedSubFilter.PADES),
        signer,
        timestamper=stamper,
    ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(plain_pdf)), output=out)
    pdf = out.getvalue()
    if dss:
        root = asn1_x509.Certificate.load(
            x509.load_pem_x509_certificate(revocable.root_cert.read_bytes()).public_bytes(
                Encoding.DER
            )
        )
        sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
        buf = io.BytesIO(pdf)
        DocumentSecurityStore.add_dss(
            buf,
            sig_contents=sig.pkcs7_content,
            certs=[root],
            crls=[asn1_crl.CertificateList.load(crl)],
        )
        pdf = buf.getvalue()
    roots = [revocable.root_cert.read_bytes()]
    for at in (None, datetime.now(UTC) + TWENTY_YEARS):
        check = check_pdf_seal(pdf, roots, at=at, crls=[crl])
        assert check.code is VerdictCode.UNTRUSTED_SIGNER, (at, check.detail)
        assert "signature timestamp proves no time" in check.detail
        assert not check.trusted


def test_a_validation_time_before_the_seal_is_refused(
    pki: DemoPki, sealed: dict[str, bytes]
) -> None:
    roots = [pki.root_cert.read_bytes()]
    before = datetime.now(UTC) - timedelta(hours=12)
    for level in ("B-B", "B-T", "B-LTA"):
        check = check_pdf_seal(sealed[level], roots, at=before)
        assert check.code is VerdictCode.UNTRUSTED_SIGNER, (level, check.detail)
        assert "the validation time is before the seal was made" in check.detail
    ahead = datetime.now(UTC) + timedelta(days=1)
    assert check_pdf_seal(sealed["B-LTA"], roots, at=ahead).code is VerdictCode.VALID
