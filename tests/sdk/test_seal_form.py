"""bdcert's verifier learns from the conformance kit (issue 11, item 5): a certificate whose
sound seal is invisible, is no certification lock (DocMDP 1), or claims a signing time other
than the issue time is NONCONFORMING, not VALID — in ``Registry.verify``, the verification
report, ``bdcert verify`` (exit 1) and the offline verifier; bdcert's own certificates (normal
and backlog-drained) stay VALID.

The deviant seals are made by a seal provider that signs with the workspace's own authority
keys through pyHanko, as a vendor's provider written from the docs did: registered, trusted,
unchanged — only their form is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.errors import SealingError
from bdcert.lifecycle import Registry
from bdcert.model import CHINA_TZ, Outcome, VerdictCode
from bdcert.protocols import SealRequest
from bdcert.verify.report import report_from_verdict
from bdcert_adapters.cli import main
from bdcert_conformance.broken import pyhanko_seal
from tests.support import AUTHORITIES, TIMELINE, make_workspace, require_shared


@attrs.define
class DeviantSeals:
    """Wraps the workspace's seal provider; ``mode`` picks how its next seals deviate:
    ``None`` (as bdcert seals), ``invisible``, ``unlocked``, ``backdated`` (claims a signing
    time ``shift`` off the issue time), ``down`` (sealing fails: the entry goes to the
    backlog)."""

    inner: Any
    mode: str | None = None
    shift: timedelta = timedelta(days=-1)

    @property
    def name(self) -> str:
        return self.inner.name

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        return self.inner.signer_certificate_pem(authority_code)

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        if self.mode == "down":
            raise SealingError("the seal service is down")
        if self.mode == "invisible":
            signer = self.inner.signer_for(request.authority.code)
            return pyhanko_seal(pdf, request, signer, visible=False, certify=True)
        if self.mode == "unlocked":
            signer = self.inner.signer_for(request.authority.code)
            return pyhanko_seal(pdf, request, signer, visible=True, certify=False)
        if self.mode == "backdated":
            assert request.signing_time is not None
            earlier = attrs.evolve(request, signing_time=request.signing_time + self.shift)
            return self.inner.seal_pdf(pdf, earlier)
        return self.inner.seal_pdf(pdf, request)


@attrs.define
class Issued:
    registry: Any
    path: Path
    files: dict[str, bytes]  # mode (or "normal", "backlog") -> the sealed PDF as registered
    numbers: dict[str, str]


HOUR = timedelta(hours=1)
MODES = ("invisible", "unlocked", "backdated")
REASONS = {
    "invisible": "invisible_seal",
    "unlocked": "no_certification_lock",
    "backdated": "signing_time_mismatch",
}


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issued]:
    require_shared()
    entries = [json.loads(line) for line in TIMELINE.read_text("utf-8").splitlines() if line]
    # first registrations of one holder: one property certificate each
    fresh = [e for e in entries if e["djlx"] == "100" and e.get("qllx") and len(e["qlr"]) == 1]
    fresh = fresh[:5]
    now = [datetime(2026, 12, 8, 10, 0, tzinfo=CHINA_TZ)]
    path = make_workspace(tmp_path_factory.mktemp("form") / "ws").path
    registry = Registry.open(path, clock=lambda: now[0])
    deviant = DeviantSeals(registry.services.seal_provider)
    registry.services.seal_provider = deviant
    platform = registry.authenticate({"operator": "platform"})
    files: dict[str, bytes] = {}
    numbers: dict[str, str] = {}
    for mode, entry in zip(("normal", *MODES, "backlog"), fresh, strict=True):
        deviant.mode = "down" if mode == "backlog" else (None if mode == "normal" else mode)
        result = registry.push(entry, principal=platform)
        if mode == "backlog":
            assert result.outcome is Outcome.BACKLOGGED, result
            deviant.mode = None
            now[0] += timedelta(hours=5)  # sealing works again hours later
            report = registry.drain_backlog(principal=platform, force=True)
            assert report.issued == 1, report
            with registry.services.storage.transaction() as tx:
                stored = tx.get_registration(entry["ywh"])
            assert stored is not None
            (number,) = stored.result.numbers
        else:
            assert result.outcome is Outcome.ISSUED, result
            (number,) = result.numbers
        numbers[mode] = number
        files[mode] = registry.pdf(number, principal=platform)
    yield Issued(registry, path, files, numbers)
    registry.close()


def test_bdcert_own_certificates_stay_valid(issued: Issued) -> None:
    for mode in ("normal", "backlog"):
        verdict = issued.registry.verify(issued.files[mode])
        assert verdict.code is VerdictCode.VALID, (mode, verdict.detail, verdict.form)
        assert verdict.form == ()
        report = report_from_verdict(verdict)
        assert report.check("form").code == "form_conforms" and report.ok


def test_the_backlog_certificate_was_sealed_at_its_issue_time_not_its_recording_time(
    issued: Issued,
) -> None:
    platform = issued.registry.authenticate({"operator": "platform"})
    cert = issued.registry.certificate(issued.numbers["backlog"], principal=platform)
    verdict = issued.registry.verify(issued.files["backlog"])
    assert verdict.signed_at is not None and abs(verdict.signed_at - cert.issued_at) < timedelta(
        seconds=1
    )
    # 登簿日期 (recorded) and 签发日期 (issued) differ: the seal claims the latter
    assert cert.face_value("fzrq") != cert.face_value("qfsj")


@pytest.mark.parametrize("mode", MODES)
def test_a_deviant_seal_is_nonconforming_and_names_the_reason(issued: Issued, mode: str) -> None:
    verdict = issued.registry.verify(issued.files[mode])
    assert verdict.code is VerdictCode.NONCONFORMING, (mode, verdict.code, verdict.detail)
    assert verdict.trusted and not verdict.ok
    assert [f.code for f in verdict.form] == [REASONS[mode]]
    assert REASONS[mode] in verdict.detail and "in force" in verdict.detail
    report = report_from_verdict(verdict)
    form = report.check("form")
    assert (form.code, form.passed) == (REASONS[mode], False)
    assert form.sentence == verdict.form[0].sentence
    assert report.check("register").code == "in_force" and not report.ok


def test_bdcert_verify_exits_1_for_a_nonconforming_certificate(
    issued: Issued, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    normal, backdated = tmp_path / "normal.pdf", tmp_path / "backdated.pdf"
    normal.write_bytes(issued.files["normal"])
    backdated.write_bytes(issued.files["backdated"])
    ws = ["--workspace", str(issued.path)]
    assert main(["verify", *ws, str(normal)]) == 0
    capsys.readouterr()
    assert main(["verify", "--json", *ws, str(backdated)]) == 1
    wire = json.loads(capsys.readouterr().out)
    assert wire["verdict"] == "nonconforming"
    assert [f["code"] for f in wire["form"]] == ["signing_time_mismatch"]


def test_the_offline_verifier_flags_an_invisible_or_unlocked_seal(issued: Issued) -> None:
    from bdcert.verify.offline import verify_offline

    bundle = issued.registry.trust_bundle()
    assert verify_offline(issued.files["normal"], bundle).verdict is VerdictCode.VALID
    for mode in ("invisible", "unlocked"):
        report = verify_offline(issued.files[mode], bundle)
        assert report.verdict is VerdictCode.NONCONFORMING, (mode, report.detail)
        assert report.check("form").code == REASONS[mode]
    # the issue time is the register's: offline the signing time is not compared
    backdated = verify_offline(issued.files["backdated"], bundle)
    assert backdated.verdict is VerdictCode.VALID and "签章时间" in backdated.check("form").sentence


def test_a_backdated_sm2_seal_is_nonconforming(tmp_path: Path) -> None:
    """GB/T 38540 / SM2 PDFs: the signingTime attribute is compared with the issue time."""
    require_shared()
    entry = json.loads(TIMELINE.read_text("utf-8").splitlines()[0])
    args = ["init", "--demo", "--algorithm", "sm2", "--workspace", str(tmp_path / "sm2")]
    assert main([*args, "--authorities", str(AUTHORITIES)]) == 0
    # the demo SM2 seal is valid from its making (just now): the register's clock runs an hour
    # ahead, the seal claims the real time
    with Registry.open(tmp_path / "sm2", clock=lambda: datetime.now(CHINA_TZ) + HOUR) as registry:
        deviant = DeviantSeals(registry.services.seal_provider, mode="backdated", shift=-HOUR)
        registry.services.seal_provider = deviant
        platform = registry.authenticate({"operator": "platform"})
        (cert,) = registry.push(entry, principal=platform).certificates
        verdict = registry.verify(cert.pdf)
    assert verdict.code is VerdictCode.NONCONFORMING, verdict.detail
    assert [f.code for f in verdict.form] == ["signing_time_mismatch"]


def test_an_ofd_stamp_without_area_is_an_invisible_seal() -> None:
    from xml.etree import ElementTree as ET

    from bdcert.verify.ofd import _stamp_form

    assert _stamp_form(ET.Element("StampAnnot", Boundary="10 20 40 40")) == ()
    for stamp in (None, ET.Element("StampAnnot", Boundary="10 20 0 0"),
                  ET.Element("StampAnnot", Boundary="x")):  # fmt: skip
        (finding,) = _stamp_form(stamp)
        assert finding.code == "invisible_seal" and finding.sentence.startswith("印章不可见")
