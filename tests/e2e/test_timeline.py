"""The whole sample timeline through a fresh store, by the command line, with independent checks.

Every line's result is compared with ``sichuan-2024.expected.json``; every sealed PDF is checked by
tools that share no code with bdcert: poppler's ``pdfsig`` and ``pdftotext``, ``zbarimg`` on the
rendered page, and pyHanko's validator against the demo root.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bdcert.codes import NATIONAL_2024
from bdcert.model import CHINA_TZ
from tests.support import DATABASES, TIMELINE, database_url, make_workspace, skip_or_fail

CHECKED_KEYS = ("outcome", "kind", "numbers", "supersedes", "cancels", "restricts", "announcements")


@pytest.fixture(scope="module", params=DATABASES)
def run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("timeline")
    with database_url(request.param, base) as url:
        yield _issue_timeline(base, url)


def _issue_timeline(base: Path, url: str) -> dict[str, Any]:
    ws = make_workspace(base / "ws", url)
    out = base / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bdcert_adapters.cli",
            "issue",
            str(TIMELINE),
            "--json",
            "--out",
            str(out),
            "--workspace",
            str(ws.path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {"ws": ws, "out": out, "records": records}


def test_every_line_matches_expected(run: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    records = run["records"]
    assert len(records) == len(expected)
    for got, want in zip(records, expected, strict=True):
        assert got["line"] == want["line"] and got["ywh"] == want["ywh"]
        for key in CHECKED_KEYS:
            assert got.get(key) == want.get(key), (want["line"], key, got)
        if want["outcome"] == "rejected":
            fields = [e["field"] for e in got["errors"]]
            assert want["field"] in fields, (want["line"], got["errors"])
            assert all(e["message"] for e in got["errors"])
            assert "files" not in got


def test_rejected_lines_consume_no_number(run: dict[str, Any]) -> None:
    numbers = [n for r in run["records"] if r["outcome"] == "issued" for n in r["numbers"]]
    assert len(numbers) == len(set(numbers))
    by_series: dict[str, list[int]] = {}
    for n in numbers:
        m = re.fullmatch(r"(.+第)(\d{7})号", n)
        assert m
        by_series.setdefault(m[1], []).append(int(m[2]))
    for series, seqs in by_series.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), series


def _pdf_files(run: dict[str, Any]) -> list[tuple[dict[str, Any], str, Path]]:
    raw_lines = [
        json.loads(line) for line in TIMELINE.read_text(encoding="utf-8").splitlines() if line
    ]
    out = []
    for record in run["records"]:
        if record["outcome"] != "issued":
            continue
        raw = raw_lines[record["line"] - 1]
        assert len(record["files"]) == len(record["numbers"])
        for number, file in zip(record["numbers"], record["files"], strict=True):
            out.append((raw, number, Path(file)))
    return out


def _china(d: str) -> str:
    x = date.fromisoformat(d)
    return f"{x.year}年{x.month:02d}月{x.day:02d}日"


def expected_face_values(raw: dict[str, Any], number: str) -> list[str]:
    """Face values computed from the raw entry, independently of bdcert's face module."""
    values = [number, *raw["bdcdyh"], raw["zl"], *(p["mc"] for p in raw["qlr"])]
    values += [line for key in ("fj", "qt", "qlqtzk") for line in raw.get(key, "").splitlines()]
    if "zmsx" in raw:
        values += [raw["zmsx"], *(p["mc"] for p in raw["ywr"])]
    else:
        values += [NATIONAL_2024.qllx[raw["qllx"]], NATIONAL_2024.qlxz[raw["qlxz"]], raw["yt"]]
        values += [f"{raw['mj'][k]:.2f}" for k in ("td", "fw") if k in raw["mj"]]
        if "syqx" in raw:
            values += [_china(raw["syqx"]["qsrq"]), _china(raw["syqx"]["zzrq"])]
        values += [p["qlbl"] for p in raw["qlr"] if "qlbl" in p]
    return [v for v in values if v.strip()]


def _squash(text: str) -> str:
    from bdcert.render import PAGE_FURNITURE_RE

    return re.sub(r"\s+", "", PAGE_FURNITURE_RE.sub("", text))


def test_pdftotext_finds_every_face_value(run: dict[str, Any]) -> None:
    files = _pdf_files(run)
    assert len(files) == 21
    for raw, number, file in files:
        text = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(file), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        flat = _squash(text)
        for value in expected_face_values(raw, number):
            assert _squash(value) in flat, (number, value)


def test_pdfsig_reports_valid_whole_document_signature(run: dict[str, Any]) -> None:
    for _raw, number, file in _pdf_files(run):
        proc = subprocess.run(
            ["pdfsig", "-nocert", str(file)], capture_output=True, text=True, check=False
        )
        report = proc.stdout
        # the seal, then (PAdES B-LTA, the default level) the document timestamp over it all
        seal, *stamps = report.split("Signature #")[1:]
        assert "ETSI.CAdES.detached" in seal and "Signature is Valid" in seal, (number, report)
        assert len(stamps) == 1 and "Total document signed" in stamps[0], (number, report)


def test_zbarimg_decodes_the_verification_url(run: dict[str, Any], tmp_path: Path) -> None:
    from bdcert.lifecycle import Registry

    with Registry.open(run["ws"]) as registry:
        for _raw, number, file in _pdf_files(run):
            prefix = tmp_path / number
            subprocess.run(
                ["pdftoppm", "-r", "150", "-f", "1", "-l", "1", "-png", str(file), str(prefix)],
                check=True,
            )
            page = next(tmp_path.glob(f"{number}*.png"))
            decoded = subprocess.run(
                ["zbarimg", "--raw", "-q", str(page)], capture_output=True, text=True, check=True
            ).stdout.strip()
            assert decoded.isascii()
            assert decoded.startswith(run["ws"].verification_base_url)
            token = decoded.removeprefix(run["ws"].verification_base_url)
            assert len(token) >= 32  # 24 random bytes, URL-safe
            with registry.storage.transaction() as tx:
                found = tx.find_certificate_by_token(token)
            assert found is not None and found.number == number
            for holder in found.holders:  # no personal data in the code
                assert holder.name not in decoded and holder.id_number not in decoded


def test_pyhanko_validates_against_the_demo_root(run: dict[str, Any]) -> None:
    from asn1crypto import pem, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    roots = []
    for data in run["ws"].trust_roots():
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        roots.append(x509.Certificate.load(data))
    for _raw, number, file in _pdf_files(run):
        with file.open("rb") as fh:
            reader = PdfFileReader(fh)
            (sig,) = reader.embedded_regular_signatures
            (stamp,) = reader.embedded_timestamp_signatures
            ctx = ValidationContext(trust_roots=roots, allow_fetching=False)
            status = validate_pdf_signature(sig, ctx)
            assert status.intact and status.valid and status.trusted, (number, status.summary())
            # PAdES B-LTA: the seal's revision, then validation data and a document timestamp
            assert status.coverage.name == "ENTIRE_REVISION", number
            assert status.modification_level.name == "LTA_UPDATES" and status.docmdp_ok, number
            ts = validate_pdf_timestamp(stamp, ctx)
            assert ts.intact and ts.valid and ts.trusted, (number, ts.summary())
            assert ts.coverage.name == "ENTIRE_FILE", number


TWENTY_YEARS_AHEAD = f"{datetime.now(UTC) + timedelta(days=20 * 365 + 5):%Y-%m-%dT%H:%M:%SZ}"


def test_pyhanko_cli_validates_every_certificate_twenty_years_ahead(run: dict[str, Any]) -> None:
    """Issue 9, defect 1: long after the seal certificates expire (3 years), pyHanko's AdES
    validation (``pyhanko sign adesverify``, the demo root the only trust anchor, no network)
    still proves every seal from the timestamps and validation data it embeds."""
    if "sqlite" not in str(run["ws"].table("storage").get("url", "sqlite")):
        pytest.skip("the sealed PDFs do not depend on the register's database: checked on SQLite")
    cli = Path(sys.executable).parent / "pyhanko"
    if not cli.exists():
        skip_or_fail("pyHanko's command line is missing: pip install pyhanko-cli (test extra)")
    root = run["ws"].path / "pki" / "root.cert.pem"
    files = list(_pdf_files(run))
    assert len(files) >= 20
    for _raw, number, file in files:
        proc = subprocess.run(
            [cli, "sign", "adesverify", "--trust", root, "--trust-replace",
             "--validation-time", TWENTY_YEARS_AHEAD, file],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, (number, proc.stdout, proc.stderr[-2000:])
        assert ":INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>" in proc.stdout, number
        assert "EXTENDED_WITH_LTA_UPDATES" in proc.stdout, number


def test_bdcert_verifies_every_certificate_twenty_years_ahead(run: dict[str, Any]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bdcert_adapters.cli", "verify", "--json",
         "--at", TWENTY_YEARS_AHEAD, "--workspace", str(run["ws"].path),
         *(str(file) for _raw, _number, file in _pdf_files(run))],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    verdicts = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert len(verdicts) == len(list(_pdf_files(run))) >= 20, proc.stderr
    for v in verdicts:  # the seal is proven; the register then says what became of the right
        assert v["trusted"], v
        assert v["verdict"] in {"valid", "restricted", "superseded", "cancelled"}, v


# -- verdicts through the registry, on the certificates the timeline left in each state -------
def _verify(run: dict[str, Any], pdf: bytes) -> Any:
    from bdcert.lifecycle import Registry

    # the clock is pinned inside the seizure's term (2024-04-15 to 2027-04-14)
    with Registry.open(run["ws"], clock=lambda: datetime(2024, 12, 1, tzinfo=CHINA_TZ)) as registry:
        return registry.verify(pdf)


def _file(run: dict[str, Any], number: str) -> Path:
    return run["out"] / f"{number}.pdf"


def test_verdict_valid_untouched(run: dict[str, Any]) -> None:
    number = "川(2024)成都市不动产权第0000007号"
    v = _verify(run, _file(run, number).read_bytes())
    assert v.code.value == "valid" and v.ok and v.trusted
    assert v.certificate.number == number
    assert v.certificate.face_value("qlr") == "李红"
    assert v.signer and "成都市不动产登记中心" in v.signer


def test_verdict_superseded_names_successor(run: dict[str, Any]) -> None:
    v = _verify(run, _file(run, "川(2024)成都市不动产权第0000001号").read_bytes())
    assert v.code.value == "superseded" and not v.ok and v.trusted
    assert v.certificate.superseded_by == ("川(2024)成都市不动产权第0000007号",)
    assert "川(2024)成都市不动产权第0000007号" in v.detail


def test_verdict_cancelled_gives_reason(run: dict[str, Any]) -> None:
    v = _verify(run, _file(run, "川(2024)成都市不动产证明第0000001号").read_bytes())
    assert v.code.value == "cancelled" and not v.ok
    assert v.certificate.cancel_reason == "主债权消灭"
    assert "主债权消灭" in v.detail


def test_verdict_restricted_stays_in_force(run: dict[str, Any]) -> None:
    v = _verify(run, _file(run, "川(2024)成都市不动产权第0000002号").read_bytes())
    assert v.code.value == "restricted" and v.ok
    (r,) = v.certificate.restrictions
    assert r.authority == "成都市武侯区人民法院" and r.document_number == "（2024）川0107执保123号"


def test_verdict_byte_changed_inside_signed_range(run: dict[str, Any]) -> None:
    data = bytearray(_file(run, "川(2024)成都市不动产权第0000007号").read_bytes())
    m = re.search(rb"/Title\s*\((.)", bytes(data)) or re.search(rb"stream\r?\n", bytes(data))
    assert m
    pos = m.end() + 2
    data[pos] ^= 0x01
    v = _verify(run, bytes(data))
    assert v.code.value == "digest_mismatch" and not v.trusted


def test_verdict_incremental_update_after_sealing(run: dict[str, Any]) -> None:
    from io import BytesIO

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    original = _file(run, "川(2024)成都市不动产权第0000007号").read_bytes()
    writer = IncrementalPdfFileWriter(BytesIO(original))
    writer.set_info(
        generic.DictionaryObject(
            {
                generic.NameObject("/Title"): generic.TextStringObject(
                    "川(2024)成都市不动产权第0000099号"
                )
            }
        )
    )
    buf = BytesIO()
    writer.write(buf)
    v = _verify(run, buf.getvalue())
    assert v.code.value == "modified_after_sealing" and not v.ok


def test_verdict_unknown_and_unsealed(run: dict[str, Any], tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    assert _verify(run, bytes(pdf.output())).code.value == "unsealed"
    assert _verify(run, b"not a pdf at all").code.value == "not_pdf"


def test_status_and_show_commands(run: dict[str, Any]) -> None:
    def cli(*args: str) -> dict[str, Any]:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bdcert_adapters.cli",
                *args,
                "--json",
                "--workspace",
                str(run["ws"].path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(proc.stdout)  # type: ignore[no-any-return]

    status = cli("status", "川(2024)成都市不动产权第0000005号")
    assert status["status"] == "superseded"
    assert status["superseded_by"] == ["川(2024)成都市不动产权第0000008号"]
    shown = cli("show", "川(2024)成都市不动产权第0000012号")
    assert shown["face"]["qlr"] == "杨晨"
    assert shown["licence_id"].startswith(
        "1.2.156.3005.2.11100000MB03271699001.12510100MB1C7A3X2H."
    )


def test_paper_dispositions_and_audit_chain(run: dict[str, Any]) -> None:
    from bdcert.lifecycle import Registry

    with Registry.open(run["ws"]) as registry, registry.storage.transaction() as tx:
        recovered = tx.paper_dispositions("510100-2024-000113")
        announced = tx.paper_dispositions("510100-2024-000114")
        assert [(d.number, d.disposition) for d in recovered] == [
            ("川(2019)成都市不动产权第0451234号", "收回")
        ]
        assert [(d.number, d.disposition) for d in announced] == [
            ("川(2018)成都市不动产权第0123987号", "公告作废")
        ]
        assert "作废" in announced[0].text
        actions = [e.action for e in tx.audit_events()]
        assert actions.count("issue") == 21 and "supersede" in actions and "cancel" in actions
        assert tx.verify_audit_chain() == []
