"""An SM2 workspace (``init --demo --algorithm sm2``) issues the whole sample timeline as PDF and
as OFD; every file verifies in bdcert, and every signature verifies independently with the
``openssl`` command line over the extracted bytes (SM2 with SM3, distinguishing ID
1234567812345678)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, core

from tests.support import (
    AUTHORITIES,
    DATABASES,
    TIMELINE,
    database_url,
    require_shared,
    skip_or_fail,
    use_database,
)

try:
    import tongsuopy  # noqa: F401  (the gm extra)
except ImportError:
    skip_or_fail("install bdcert[gm] (tongsuopy) for SM2", allow_module_level=True)

CHECKED = ("outcome", "kind", "numbers", "supersedes", "cancels", "restricts", "announcements")


class _AnyContentInfo(core.Sequence):  # type: ignore[misc]
    """ContentInfo with the SignedData schema whatever its content type's OID."""

    _fields = [  # noqa: RUF012 - asn1crypto's class-level schema
        ("content_type", core.ObjectIdentifier),
        ("content", cms.SignedData, {"explicit": 0}),
    ]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bdcert_adapters.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


@pytest.fixture(scope="module", params=DATABASES)
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_shared()  # skipped without ../shared on a laptop, a failure under CI=true
    base = tmp_path_factory.mktemp("sm2")
    ws = base / "ws"
    with database_url(request.param, base) as url:
        init = _cli(
            "init",
            "--demo",
            "--algorithm",
            "sm2",
            "--workspace",
            str(ws),
            "--authorities",
            str(AUTHORITIES),
        )
        assert init.returncode == 0, init.stderr
        use_database(ws, url)
        out = base / "out"
        proc = _cli(
            "issue",
            str(TIMELINE),
            "--json",
            "--format",
            "both",
            "--out",
            str(out),
            "--workspace",
            str(ws),
        )
        assert proc.returncode == 0, proc.stderr
        yield {"ws": ws, "out": out, "records": [json.loads(x) for x in proc.stdout.splitlines()]}


def test_sm2_timeline_matches_expected(run: Any, expected: list[dict[str, Any]]) -> None:
    for got, want in zip(run["records"], expected, strict=True):
        for key in CHECKED:
            assert got.get(key) == want.get(key), (want["line"], key, got)
    files = {Path(f) for r in run["records"] for f in r.get("files", [])}  # a replay rewrites one
    assert sum(f.suffix == ".pdf" for f in files) == sum(f.suffix == ".ofd" for f in files) == 21


def test_the_evidence_renewal_job_skips_every_sm2_certificate(run: Any) -> None:
    """SM2 seals carry their own GB/T 38540 timestamp: ``bdcert evidence renew --all`` has no
    archive timestamp to renew, says so for each certificate, changes nothing, and succeeds."""
    done = _cli(
        "evidence", "renew", "--all", "--margin-days", "36500", "--json",
        "--workspace", str(run["ws"]),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 21 and {r["state"] for r in rows} == {"skipped"}, rows
    assert all("SM2 (GB/T 38540)" in r["reason"] for r in rows), rows


def test_every_file_verifies_in_bdcert(run: Any) -> None:
    files = sorted(run["out"].iterdir())
    proc = _cli("verify", "--json", *map(str, files), "--workspace", str(run["ws"]))
    verdicts = {Path(v["file"]).name: v for v in map(json.loads, proc.stdout.splitlines())}
    assert len(verdicts) == len(files) == 42
    for name, v in verdicts.items():
        assert v["trusted"], (name, v)
        assert v["verdict"] in {"valid", "restricted", "superseded", "cancelled"}, (name, v)


def _openssl_verify(tmp: Path, cert_der: bytes, data: bytes, signature: bytes) -> None:
    (tmp / "cert.der").write_bytes(cert_der)
    pub = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-in", str(tmp / "cert.der"), "-pubkey", "-noout"],
        capture_output=True,
        check=True,
    ).stdout
    (tmp / "pub.pem").write_bytes(pub)
    (tmp / "data").write_bytes(data)
    (tmp / "sig").write_bytes(signature)
    proc = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(tmp / "pub.pem"),
            "-rawin",
            "-in",
            str(tmp / "data"),
            "-sigfile",
            str(tmp / "sig"),
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Signature Verified Successfully" in proc.stdout, proc.stdout + proc.stderr


def test_ofd_signed_values_verify_with_openssl(run: Any, tmp_path: Path) -> None:
    from asn1crypto import core

    for file in sorted(run["out"].glob("*.ofd")):
        with zipfile.ZipFile(io.BytesIO(file.read_bytes())) as z:
            signed_value = z.read("Doc_0/Signs/Sign_0/SignedValue.dat")
        # SES_Signature ::= SEQUENCE { toSign TBS_Sign, cert OCTET STRING, signatureAlgID OID,
        # signature BIT STRING, ... } (GB/T 38540-2020), read generically, not with bdcert
        parts = core.Sequence.load(signed_value)
        tbs_der = parts[0].dump()
        cert_der = core.OctetString.load(parts[1].dump()).native
        assert core.ObjectIdentifier.load(parts[2].dump()).dotted == "1.2.156.10197.1.501"
        signature = core.OctetBitString.load(parts[3].dump()).native
        _openssl_verify(tmp_path, cert_der, tbs_der, signature)


def test_pdf_cms_signatures_verify_with_openssl(run: Any, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes

    for file in sorted(run["out"].glob("*.pdf")):
        data = file.read_bytes()
        byte_range = [
            int(x)
            for x in re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", data)[-1]
        ]
        a, b, c, d = byte_range
        assert a == 0 and c + d == len(data)
        contents = bytes.fromhex(data[b + 1 : c - 1].decode())
        # the DER ends where its own length says; the zero padding after it is ignored (a DER
        # value may itself end in zero bytes, so stripping them would cut it). GB/T 35275
        # signedData, read with the test's own schema (not the OIDs bdcert registers)
        info = _AnyContentInfo.load(contents, strict=False)
        assert info["content_type"].dotted == "1.2.156.10197.6.1.4.2.2"
        signed = info["content"]
        signer = signed["signer_infos"][0]
        attrs = signer["signed_attrs"]
        digest = next(a["values"][0].native for a in attrs if a["type"].native == "message_digest")
        sm3 = hashes.Hash(hashes.SM3())  # pyca/cryptography, independent of bdcert's SM3
        sm3.update(data[a : a + b] + data[c : c + d])
        assert digest == sm3.finalize()
        sid = signer["sid"].chosen  # issuer and serial number of the signer's certificate
        (cert,) = (
            c.chosen.dump()
            for c in signed["certificates"]
            if c.chosen.serial_number == sid["serial_number"].native
            and c.chosen.issuer == sid["issuer"]
        )
        signed_attrs_der = b"\x31" + attrs.dump()[1:]  # signed as an explicit SET OF (RFC 5652)
        _openssl_verify(tmp_path, cert, signed_attrs_der, signer["signature"].native)


def test_seals_command_lists_each_authoritys_seal(run: Any) -> None:
    proc = _cli("seals", "--workspace", str(run["ws"]))
    assert proc.returncode == 0, proc.stderr
    for code in ("510100", "510700", "513401"):
        assert code in proc.stdout
    assert "warning" not in proc.stderr  # fresh three-year seals need no attention yet


def test_a_missing_seal_is_reported_and_can_be_made(run: Any) -> None:
    ws = run["ws"]
    for seal in (ws / "seals").glob("513401-*.esl"):
        seal.unlink()
    missing = _cli("seals", "--workspace", str(ws))
    assert "authority 513401 has no valid seal" in " ".join(missing.stderr.split())
    made = _cli(
        "seals",
        "--make",
        "513401",
        "--maker-key",
        str(ws / "pki" / "root.key.pem"),
        "--maker-cert",
        str(ws / "pki" / "root.cert.pem"),
        "--workspace",
        str(ws),
    )
    assert made.returncode == 0, made.stderr
    assert "new seal" in made.stdout and "513401" in made.stdout
    assert "valid only until" not in made.stderr  # the default three years fit the certificate
    assert "no valid seal" not in _cli("seals", "--workspace", str(ws)).stderr
    # a seal cannot outlive its signing certificate (three years): cut there, and said so
    longer = _cli(
        "seals",
        "--make",
        "513401",
        "--days",
        "4000",
        "--maker-key",
        str(ws / "pki" / "root.key.pem"),
        "--maker-cert",
        str(ws / "pki" / "root.cert.pem"),
        "--workspace",
        str(ws),
    )
    assert longer.returncode == 0, longer.stderr
    warned = " ".join(longer.stderr.split())
    assert "valid only until" in warned and "signing certificate expires" in warned, warned


def test_every_file_verifies_20_years_ahead(run: Any) -> None:
    """Long-term validation: every certificate of the timeline carries an SM2 time-stamp, so
    the register-free checks still call it valid when the seal certificates, the root and the
    time-stamp authority have all expired."""
    from datetime import UTC, datetime, timedelta

    from bdcert.verify.ofd import verify_ofd
    from bdcert.verify.pdf_sm2 import check_pdf_sm2

    later = datetime.now(UTC) + timedelta(days=20 * 366)
    roots = [(run["ws"] / "pki" / "root.cert.pem").read_bytes()]
    files = sorted(run["out"].iterdir())
    assert len(files) == 42
    for file in files:
        data = file.read_bytes()
        check = (verify_ofd if file.suffix == ".ofd" else check_pdf_sm2)(
            data, trust_roots=roots, at=later
        )
        assert check.code.value == "valid", (file.name, check.detail)


def test_every_pdf_seal_parses_and_verifies_in_gmssl(run: Any, tmp_path: Path) -> None:
    """GmSSL (no code shared with bdcert) parses every PDF's GB/T 35275 SignedData and verifies
    its SM2 signature over the signed attributes."""
    from asn1crypto import pem

    from tests.sdk.gm.test_gmssl import gmssl

    for file in sorted(run["out"].glob("*.pdf")):
        data = file.read_bytes()
        a, b, c, d = (
            int(x)
            for x in re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", data)[-1]
        )
        info = _AnyContentInfo.load(bytes.fromhex(data[b + 1 : c - 1].decode()), strict=False)
        (tmp_path / "cms.pem").write_bytes(pem.armor("CMS", info.dump()))
        parsed = gmssl("cmsparse", "-in", "cms.pem", cwd=tmp_path)
        assert "contentType: signedData" in parsed.stdout, (file.name, parsed.stderr)
        assert "encryptedDigest" in parsed.stdout, (file.name, parsed.stderr)
        signer = info["content"]["signer_infos"][0]
        sid = signer["sid"].chosen
        (cert,) = (
            x.chosen
            for x in info["content"]["certificates"]
            if x.chosen.serial_number == sid["serial_number"].native
        )
        (tmp_path / "signer.pem").write_bytes(pem.armor("CERTIFICATE", cert.dump()))
        (tmp_path / "attrs.der").write_bytes(b"\x31" + signer["signed_attrs"].dump()[1:])
        (tmp_path / "sig.der").write_bytes(signer["signature"].native)
        verified = gmssl(
            "sm2verify", "-cert", "signer.pem", "-in", "attrs.der", "-sig", "sig.der", cwd=tmp_path
        )
        assert "verify : success" in verified.stdout, (file.name, verified.stderr)
        (tmp_path / "signed.bin").write_bytes(data[a : a + b] + data[c : c + d])
        digest = gmssl("sm3", "-in", "signed.bin", cwd=tmp_path).stdout.strip()
        signed_digest = next(
            x["values"][0].native
            for x in signer["signed_attrs"]
            if x["type"].native == "message_digest"
        )
        assert signed_digest.hex() == digest, file.name


def test_every_ofd_seal_signature_verifies_in_gmssl(run: Any, tmp_path: Path) -> None:
    """GmSSL verifies every OFD's GB/T 38540 signatures: the signer's over TBS_Sign, the seal
    maker's over SES_SealInfo, and the time-stamp authority's over its token's attributes."""
    from asn1crypto import pem

    from tests.sdk.gm.test_gmssl import gmssl

    def verify(cert: bytes, data: bytes, signature: bytes) -> str:
        (tmp_path / "cert.pem").write_bytes(pem.armor("CERTIFICATE", cert))
        (tmp_path / "data").write_bytes(data)
        (tmp_path / "sig").write_bytes(signature)
        args = ("sm2verify", "-cert", "cert.pem", "-in", "data", "-sig", "sig")
        return gmssl(*args, cwd=tmp_path).stdout

    for file in sorted(run["out"].glob("*.ofd")):
        with zipfile.ZipFile(io.BytesIO(file.read_bytes())) as z:
            signed_value = z.read("Doc_0/Signs/Sign_0/SignedValue.dat")
        parts = core.Sequence.load(signed_value)  # SES_Signature, read generically
        tbs = parts[0]
        signer_cert = core.OctetString.load(parts[1].dump()).native
        signature = core.OctetBitString.load(parts[3].dump()).native
        assert "verify : success" in verify(signer_cert, tbs.dump(), signature), file.name
        seal = core.Sequence.load(tbs[1].dump())  # TBS_Sign.eseal: SESeal
        maker_cert = core.OctetString.load(seal[1].dump()).native
        seal_signature = core.OctetBitString.load(seal[3].dump()).native
        assert "verify : success" in verify(maker_cert, seal[0].dump(), seal_signature), file.name
        token_der = core.OctetBitString.load(_last_explicit(signed_value)).native
        token = _AnyContentInfo.load(token_der)
        tsa_signer = token["content"]["signer_infos"][0]
        (tsa_cert,) = (
            c.chosen.dump() for c in token["content"]["certificates"] if c.chosen.ca is False
        )
        attrs_der = b"\x31" + tsa_signer["signed_attrs"].dump()[1:]
        assert "verify : success" in verify(tsa_cert, attrs_der, tsa_signer["signature"].native)


def _last_explicit(sequence_der: bytes) -> bytes:
    """The contents of the last element of a DER SEQUENCE, which must be [0] EXPLICIT."""

    def header(b: bytes) -> tuple[int, int]:
        if b[1] < 0x80:
            return 2, b[1]
        n = b[1] & 0x7F
        return 2 + n, int.from_bytes(b[2 : 2 + n], "big")

    start, _ = header(sequence_der)
    body = sequence_der[start:]
    last = b""
    while body:
        h, n = header(body)
        last, body = body[: h + n], body[h + n :]
    assert last[0] == 0xA0, "the last element is not the [0] EXPLICIT timeStamp"
    return last[header(last)[0] :]
