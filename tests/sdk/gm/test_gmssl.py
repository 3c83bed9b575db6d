"""bdcert's national-cryptography output checked by GmSSL 3 (guanzhi/GmSSL), which shares no code
with bdcert, tongsuopy or asn1crypto. ``scripts/setup`` builds its command line into
``.venv/bin/gmssl``.

What GmSSL can and cannot check, precisely:

- ``gmssl cmsparse`` parses a GB/T 35275 (GM/T 0010) ``SignedData`` end to end; it knows only the
  national content-type OIDs (``1.2.156.10197.6.1.4.2.x``), so it stops at the first byte of a
  PKCS #7 one: the defect of issue 9 (item 3).
- ``gmssl cmsverify`` cannot verify a standard signed message with signed attributes: GmSSL
  3.1.1 (and its master) hashes ContentInfo header ‖ content ‖ attributes into one SM3 value
  without Z and verifies the signature over that (``cms_signer_info_verify_from_der``), which
  neither PKCS #7 §9.3 nor GB/T 35275 §8 describes, and it takes no detached content. So the
  signature is checked with GmSSL's SM2 primitive instead: ``gmssl sm2verify`` (SM3(Z ‖ M),
  default ID 1234567812345678) over DER(SET OF signed attributes) as GmSSL printed them, the
  messageDigest GmSSL printed against ``gmssl sm3`` of the signed byte range, and the signer's
  chain with ``gmssl certverify``.
- GB/T 38540 seals: ``gmssl sm2verify`` checks the signer's signature over ``TBS_Sign``, the
  maker's over ``SES_SealInfo`` and the time-stamp authority's over its signed attributes.

Without GmSSL these tests skip on a laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import core, pem

from tests.support import require_module, skip_or_fail

require_module("tongsuopy", "tongsuopy (the gm extra)")

from bdcert.gm import ses  # noqa: E402
from bdcert.gm.sm2 import sm3  # noqa: E402
from bdcert.render import RenderedCertificate  # noqa: E402
from tests.sdk.gm.test_ofd import Pki, make_pki  # noqa: E402
from tests.sdk.gm.test_pdf_sm2 import (  # noqa: E402
    AnyContentInfo,
    cms_der,
    rendered,  # noqa: F401 - the fixture
    seal,
    signed_parts,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def require_gmssl() -> str:
    """The GmSSL 3 command line: beside the running Python (``.venv/bin/gmssl``, from
    scripts/setup), or on the PATH."""
    venv = Path(sys.executable).parent / "gmssl"
    found = str(venv) if venv.is_file() else shutil.which("gmssl")
    version = (
        subprocess.run([found, "version"], capture_output=True, text=True).stdout if found else ""
    )
    if found is None or not version.startswith("GmSSL 3"):
        skip_or_fail(f"GmSSL 3 is not installed (bash scripts/setup builds it; found {version!r})")
    return found


def gmssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = require_gmssl()
    return subprocess.run(
        [tool, *map(str, args)], capture_output=True, text=True, cwd=cwd, check=False
    )


def write_pem(path: Path, kind: str, der: bytes) -> Path:
    path.write_bytes(pem.armor(kind, der))
    return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def sealed_pdf(rendered: RenderedCertificate, pki: Pki) -> bytes:  # noqa: F811
    """A certificate PDF sealed with SM2 and time-stamped, as bdcert issues it."""
    return seal(rendered, pki, timestamper=pki.tsa())


# --------------------------------------------------------------------------- the PDF SignedData


def _print_value(out: str, label: str) -> str:
    match = re.search(rf"^\s*{label}: ([0-9A-F]+)$", out, re.M)
    assert match is not None, f"GmSSL printed no {label}:\n{out}"
    return match.group(1)


def test_gmssl_parses_the_pdf_signed_data(sealed_pdf: bytes, tmp_path: Path) -> None:
    cms = write_pem(tmp_path / "cms.pem", "CMS", cms_der(sealed_pdf))
    result = gmssl("cmsparse", "-in", cms, cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    # the only OID GmSSL 3.1.1 does not know: documentSigning (RFC 9336, 2022) in the seal
    # certificate's extendedKeyUsage, printed as an error by its certificate printer
    unknown = set(re.findall(r"Unknown OID: \(unknown\) \(([\d.]+)\)", result.stderr))
    assert unknown <= {"1.3.6.1.5.5.7.3.36"}, result.stderr
    assert re.search(r"^    contentType: signedData$", out, re.M), out
    assert re.search(r"digestAlgorithms\n\s+sm3\n\s+contentInfo\n\s+contentType: data", out), out
    assert "digestAlgorithm: sm3" in out
    assert re.search(r"digestEncryptionAlgorithm\n\s+algorithm: sm2sign-with-sm3", out), out
    # parsed through to the end: the signature value is the one in the file
    _, content = signed_parts(sealed_pdf)
    signer = content["content"]["signer_infos"][0]
    assert _print_value(out, "encryptedDigest") == signer["signature"].native.hex().upper()


def test_gmssl_cannot_parse_the_pkcs7_form(sealed_pdf: bytes, tmp_path: Path) -> None:
    """The form bdcert wrote before: GmSSL stops at the PKCS #7 content type (the defect)."""
    info = AnyContentInfo.load(cms_der(sealed_pdf))
    info["content_type"] = core.ObjectIdentifier("1.2.840.113549.1.7.2")
    cms = write_pem(tmp_path / "cms.pem", "CMS", info.dump(force=True))
    result = gmssl("cmsparse", "-in", cms, cwd=tmp_path)
    assert "Unknown OID: (unknown) (1.2.840.113549.1.7.2)" in result.stderr, result.stderr
    assert "signerInfos" not in result.stdout


def test_gmssl_verifies_the_pdf_seal(sealed_pdf: bytes, pki: Pki, tmp_path: Path) -> None:
    """messageDigest = SM3(byte ranges), the SM2 signature over the signed attributes, and the
    signer's chain, each by GmSSL."""
    signed_bytes, content = signed_parts(sealed_pdf)
    signer = content["content"]["signer_infos"][0]
    cms = write_pem(tmp_path / "cms.pem", "CMS", cms_der(sealed_pdf))
    printed = gmssl("cmsparse", "-in", cms, cwd=tmp_path).stdout
    # the messageDigest attribute as GmSSL read it: OCTET STRING 04 20 ‖ digest
    values = re.findall(
        r"type: \(unknown\) \(1\.2\.840\.113549\.1\.9\.4\)\n\s+values: (\w+)", printed
    )
    assert len(values) == 1 and values[0].startswith("0420"), printed
    (tmp_path / "signed.bin").write_bytes(signed_bytes)
    digest = gmssl("sm3", "-in", "signed.bin", cwd=tmp_path)
    assert digest.returncode == 0, digest.stderr
    assert digest.stdout.strip().upper() == values[0][4:]

    (tmp_path / "attrs.der").write_bytes(b"\x31" + signer["signed_attrs"].dump()[1:])
    (tmp_path / "sig.der").write_bytes(signer["signature"].native)
    write_pem(tmp_path / "signer.pem", "CERTIFICATE", pki.cert)
    verified = gmssl(
        "sm2verify", "-cert", "signer.pem", "-in", "attrs.der", "-sig", "sig.der", cwd=tmp_path
    )
    assert verified.returncode == 0 and "verify : success" in verified.stdout, verified
    (tmp_path / "attrs.der").write_bytes(b"\x31" + signer["signed_attrs"].dump()[1:] + b" ")
    tampered = gmssl(
        "sm2verify", "-cert", "signer.pem", "-in", "attrs.der", "-sig", "sig.der", cwd=tmp_path
    )
    # GmSSL 3.1.1 reports a failed verification as an error ("inner error"), exit code 1
    assert tampered.returncode != 0 and "success" not in tampered.stdout, tampered

    write_pem(tmp_path / "root.pem", "CERTIFICATE", pki.root)
    chain = gmssl("certverify", "-in", "signer.pem", "-cacert", "root.pem", cwd=tmp_path)
    assert chain.returncode == 0 and "Verification success" in chain.stdout, chain


def test_gmssl_verifies_the_pdf_time_stamp(sealed_pdf: bytes, pki: Pki, tmp_path: Path) -> None:
    """The token's imprint is GmSSL's SM3 of the seal's signature value; the authority's SM2
    signature over the token's signed attributes verifies with GmSSL; its chain too."""
    _, content = signed_parts(sealed_pdf)
    signer = content["content"]["signer_infos"][0]
    (attribute,) = list(signer["unsigned_attrs"])
    token = attribute["values"][0]
    tst = token["content"]
    (tmp_path / "value.der").write_bytes(signer["signature"].native)
    imprint = gmssl("sm3", "-in", "value.der", cwd=tmp_path).stdout.strip()
    info = tst["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native.hex() == imprint
    tsa_signer = tst["signer_infos"][0]
    (tmp_path / "attrs.der").write_bytes(b"\x31" + tsa_signer["signed_attrs"].dump()[1:])
    (tmp_path / "sig.der").write_bytes(tsa_signer["signature"].native)
    write_pem(tmp_path / "tsa.pem", "CERTIFICATE", pki.tsa_cert)
    verified = gmssl(
        "sm2verify", "-cert", "tsa.pem", "-in", "attrs.der", "-sig", "sig.der", cwd=tmp_path
    )
    assert verified.returncode == 0 and "verify : success" in verified.stdout, verified
    (tmp_path / "tst.der").write_bytes(tst["encap_content_info"]["content"].contents)
    tst_digest = gmssl("sm3", "-in", "tst.der", cwd=tmp_path).stdout.strip()
    digests = [a for a in tsa_signer["signed_attrs"] if a["type"].native == "message_digest"]
    assert digests[0]["values"][0].native.hex() == tst_digest
    write_pem(tmp_path / "root.pem", "CERTIFICATE", pki.root)
    chain = gmssl("certverify", "-in", "tsa.pem", "-cacert", "root.pem", cwd=tmp_path)
    assert chain.returncode == 0 and "Verification success" in chain.stdout, chain


# --------------------------------------------------------------------------- GB/T 38540 seals


@pytest.fixture(scope="module")
def signature_der(pki: Pki) -> bytes:
    from tests.sdk.gm.test_ofd import make_seal

    seal_der = make_seal(pki, start=NOW - timedelta(days=1), end=NOW + timedelta(days=30))
    return ses.sign_data(
        seal_der=seal_der,
        signer_key=pki.key,
        signer_cert_der=pki.cert,
        data_hash=sm3(b"<ofd:Signature/>"),
        property_info="/Doc_0/Signs/Sign_0/Signature.xml",
        time=NOW,
        timestamper=pki.tsa(),
    )


def test_gmssl_verifies_a_gbt38540_seal_signature(
    signature_der: bytes, pki: Pki, tmp_path: Path
) -> None:
    outer = ses.SESSignatureV4.load(signature_der)
    write_pem(tmp_path / "signer.pem", "CERTIFICATE", pki.cert)
    write_pem(tmp_path / "maker.pem", "CERTIFICATE", pki.root)
    # the signer's signature over DER(TBS_Sign), exactly as the file holds it
    (tmp_path / "tbs.der").write_bytes(outer["to_sign"].dump())
    (tmp_path / "sig.der").write_bytes(outer["signature"].native)
    signer = gmssl(
        "sm2verify", "-cert", "signer.pem", "-in", "tbs.der", "-sig", "sig.der", cwd=tmp_path
    )
    assert signer.returncode == 0 and "verify : success" in signer.stdout, signer
    # the maker's signature over DER(SES_SealInfo)
    seal = outer["to_sign"]["eseal"]
    (tmp_path / "info.der").write_bytes(seal["e_seal_info"].dump())
    (tmp_path / "seal-sig.der").write_bytes(seal["signed_value"].native)
    maker = gmssl(
        "sm2verify", "-cert", "maker.pem", "-in", "info.der", "-sig", "seal-sig.der", cwd=tmp_path
    )
    assert maker.returncode == 0 and "verify : success" in maker.stdout, maker
    # the timeStamp: imprint = GmSSL's SM3 of the signature value
    token = AnyContentInfo.load(outer["time_stamp"].native)
    info = token["content"]["encap_content_info"]["content"].parsed
    imprint = gmssl("sm3", "-in", "sig.der", cwd=tmp_path).stdout.strip()
    assert info["message_imprint"]["hashed_message"].native.hex() == imprint
