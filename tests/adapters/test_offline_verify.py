"""Offline verification: ``bdcert trust-bundle export``, ``bdcert status-snapshot`` and
``bdcert verify --offline`` (bdcert.verify.offline): genuine, tampered and forged (another demo
CA) files with no workspace; a superseded certificate VALID at seal-only level and SUPERSEDED
with the snapshot; tampered and foreign snapshots refused; the snapshot's seal checked by pdfsig
and its JSON extracted by pdfdetach, the bundle's PEM read by openssl."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.config import Workspace
from bdcert.lifecycle import Registry
from bdcert.verify.offline import (
    SNAPSHOT_FILE,
    SnapshotError,
    TrustBundle,
    TrustBundleError,
    read_status_snapshot,
    verify_offline,
)
from bdcert_adapters.cli import main
from tests.support import (
    AUTHORITIES,
    TIMELINE,
    make_workspace,
    pdfsig_trusting,
    require_shared,
    require_tool,
    run_cli,
    run_tool,
)

SUPERSEDED = "川(2024)成都市不动产权第0000001号"
SUCCESSOR = "川(2024)成都市不动产权第0000003号"
RESTRICTED = "川(2024)成都市不动产权第0000002号"
CANCELLED = "川(2024)成都市不动产证明第0000001号"
REASON = "抵押人王晓明已清偿主债权"


@attrs.define
class Offline:
    ws: Any
    dir: Path
    bundle: Path
    snapshot: Path
    files: dict[str, Path]
    forged: Path
    foreign_snapshot: bytes  # sealed under another demo CA
    sm2_bundle: Path
    ofd: Path


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offline]:
    require_shared()
    timeline = [json.loads(x) for x in TIMELINE.read_text(encoding="utf-8").splitlines() if x]
    base = tmp_path_factory.mktemp("offline")
    ws = make_workspace(base / "ws")
    files: dict[str, Path] = {}
    with Registry.open(ws) as registry:
        platform = registry.authenticate({"operator": "platform"})
        cancel = dict(timeline[18], zxyy=REASON)
        for raw in (timeline[0], timeline[1], timeline[8], timeline[13], cancel, timeline[19]):
            registry.push(raw, principal=platform)
        for n in (SUPERSEDED, SUCCESSOR, RESTRICTED, CANCELLED):
            files[n] = base / f"{n}.pdf"
            files[n].write_bytes(registry.pdf(n, principal=platform))
    bundle, snapshot = base / "bundle.json", base / "snapshot.pdf"
    done = run_cli(ws, "trust-bundle", "export", "--out", str(bundle))
    assert done.returncode == 0 and "sha256" in done.stdout, done.stderr
    done = run_cli(ws, "status-snapshot", "--out", str(snapshot))
    assert done.returncode == 0 and "1 superseded, 1 cancelled, 1 restricted" in done.stdout, (
        done.stdout + done.stderr
    )
    other = make_workspace(base / "other")
    with Registry.open(other) as registry:
        platform = registry.authenticate({"operator": "platform"})
        (forged,) = registry.push(timeline[0], principal=platform).certificates
    (base / "forged.pdf").write_bytes(forged.pdf)
    foreign = base / "foreign.pdf"
    assert run_cli(other, "status-snapshot", "--out", str(foreign)).returncode == 0
    args = ["init", "--demo", "--algorithm", "sm2", "--workspace", str(base / "sm2")]
    assert main([*args, "--authorities", str(AUTHORITIES)]) == 0
    with Registry.open(base / "sm2", formats=("pdf", "ofd")) as sm2:
        (cert,) = sm2.push(
            timeline[5], principal=sm2.authenticate({"operator": "platform"})
        ).certificates
    assert cert.ofd is not None
    (base / "cert.ofd").write_bytes(cert.ofd)
    sm2_bundle = base / "sm2-bundle.json"
    done = run_cli(Workspace.load(base / "sm2"), "trust-bundle", "export", "--out", str(sm2_bundle))
    assert done.returncode == 0, done.stderr
    yield Offline(
        ws,
        base,
        bundle,
        snapshot,
        files,
        base / "forged.pdf",
        foreign.read_bytes(),
        sm2_bundle,
        base / "cert.ofd",
    )


def _offline(o: Offline, *files: Path, snapshot: bool = False) -> tuple[int, list[Any], str]:
    argv = ["verify", "--offline", "--json", "--trust-bundle", str(o.bundle)]
    if snapshot:
        argv += ["--snapshot", str(o.snapshot)]
    # a workspace that does not exist: the offline check must not need one
    code, out, err = _run(*argv, *map(str, files), "--workspace", str(o.dir / "nowhere"))
    return code, [json.loads(line) for line in out.splitlines()], err


def test_a_genuine_file_is_valid_at_seal_only_level(offline: Offline) -> None:
    code, (report,), _ = _offline(offline, offline.files[SUCCESSOR])
    bundle = TrustBundle.load(offline.bundle.read_bytes())
    assert code == 0
    assert report["verdict"] == "valid" and report["level"] == "seal only"
    assert report["trust_bundle"] == bundle.sha256 and report["number"] == SUCCESSOR
    assert [(c["code"], c["passed"]) for c in report["checks"]] == [
        ("intact", True),
        ("seal_valid", True),
        ("issuer_matches", True),
        ("form_conforms", True),
        ("not_checked", None),
        ("as_sealed", True),
    ]
    text_code, text, _ = _run(
        "verify", "--offline", "--trust-bundle", str(offline.bundle), str(offline.files[SUCCESSOR])
    )
    assert text_code == 0 and "[seal only; trust bundle sha256:" + bundle.sha256 in text


def test_tampered_and_forged_files_fail_offline(offline: Offline, tmp_path: Path) -> None:
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(offline.files[SUCCESSOR].read_bytes() + b"\n% changed\n")
    code, reports, _ = _offline(offline, appended, offline.forged)
    assert code == 2
    assert [r["verdict"] for r in reports] == ["modified_after_sealing", "untrusted_signer"]
    assert reports[0]["checks"][0]["code"] == "appended_after_sealing"
    assert reports[1]["checks"][1]["code"] == "untrusted_root"
    assert all(r["level"] == "seal only" for r in reports)


def test_a_superseded_certificate_is_valid_alone_and_superseded_with_the_snapshot(
    offline: Offline,
) -> None:
    pdf = offline.files[SUPERSEDED]
    code, (alone,), _ = _offline(offline, pdf)
    assert (code, alone["verdict"]) == (0, "valid")
    code, (with_snapshot,), _ = _offline(offline, pdf, snapshot=True)
    assert (code, with_snapshot["verdict"]) == (1, "superseded")
    assert with_snapshot["level"].startswith("seal and snapshot as of 20")
    register = with_snapshot["checks"][4]
    assert (register["code"], register["passed"]) == ("superseded", False)
    assert f"该证书已被 {SUCCESSOR} 取代" in register["sentence"]


def test_the_snapshot_gives_cancelled_restricted_and_in_force(offline: Offline) -> None:
    code, reports, _ = _offline(
        offline,
        offline.files[CANCELLED],
        offline.files[RESTRICTED],
        offline.files[SUCCESSOR],
        snapshot=True,
    )
    assert code == 1
    assert [r["verdict"] for r in reports] == ["cancelled", "restricted", "valid"]
    cancelled = reports[0]["checks"][4]["sentence"]
    assert (
        "该证书已注销，原因：" in cancelled and "王*明" in cancelled and "王晓明" not in cancelled
    )
    assert "成都市武侯区人民法院" in reports[1]["checks"][4]["sentence"]
    assert reports[2]["checks"][4]["code"] == "not_listed"


def test_a_tampered_snapshot_is_refused(offline: Offline, tmp_path: Path) -> None:
    bundle = TrustBundle.load(offline.bundle.read_bytes())
    data = bytearray(offline.snapshot.read_bytes())
    at = data.index(b"superseded") if b"superseded" in data else len(data) // 3
    data[at] ^= 0x20
    with pytest.raises(SnapshotError, match="refused: its seal fails"):
        read_status_snapshot(bytes(data), bundle)
    appended = offline.snapshot.read_bytes() + b"\n% more\n"
    with pytest.raises(SnapshotError, match="modified_after_sealing"):
        verify_offline(offline.files[SUCCESSOR].read_bytes(), bundle, appended)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(data))
    code, out, err = _run(
        "verify", "--offline", "--trust-bundle", str(offline.bundle), "--snapshot", str(bad),
        str(offline.files[SUCCESSOR]),
    )  # fmt: skip
    assert code == 2 and out == "" and "status snapshot is refused" in err


def test_a_snapshot_not_sealed_under_a_bundle_root_is_refused(offline: Offline) -> None:
    bundle = TrustBundle.load(offline.bundle.read_bytes())
    with pytest.raises(SnapshotError, match="not sealed under a root of trust bundle"):
        read_status_snapshot(offline.foreign_snapshot, bundle)
    # a certificate PDF is sealed under the root, but it is no snapshot
    with pytest.raises(SnapshotError, match="not a status snapshot"):
        read_status_snapshot(offline.files[SUCCESSOR].read_bytes(), bundle)


def test_a_damaged_or_edited_bundle_is_refused(offline: Offline) -> None:
    body = json.loads(offline.bundle.read_text(encoding="utf-8"))
    body["roots"] = body["chain"][:1]  # a seal certificate claimed as a root
    with pytest.raises(TrustBundleError, match="damaged or was edited"):
        TrustBundle.load(json.dumps(body).encode())
    with pytest.raises(TrustBundleError, match="not a trust bundle"):
        TrustBundle.load(b'{"format": "something else"}')


def test_an_ofd_verifies_offline_against_its_sm2_bundle(offline: Offline) -> None:
    code, out, _ = _run(
        "verify", "--offline", "--json", "--trust-bundle", str(offline.sm2_bundle),
        str(offline.ofd),
    )  # fmt: skip
    report = json.loads(out)
    assert (code, report["verdict"], report["level"]) == (0, "valid", "seal only")
    assert report["number"] and "绵阳" in report["number"]
    code, out, _ = _run(
        "verify", "--offline", "--json", "--trust-bundle", str(offline.bundle), str(offline.ofd)
    )
    foreign = json.loads(out)  # an SM2 seal against ECDSA roots: the seal check fails
    assert (code, foreign["checks"][0]["passed"], foreign["checks"][1]["passed"]) == (
        2,
        True,
        False,
    )


def test_the_snapshot_seal_and_content_check_with_standard_tools(
    offline: Offline, tmp_path: Path
) -> None:
    bundle = TrustBundle.load(offline.bundle.read_bytes())
    root = tmp_path / "root.pem"
    root.write_text(json.loads(offline.bundle.read_text(encoding="utf-8"))["roots"][0])
    # the bundle's PEM is what openssl reads, and it is the workspace's root
    require_tool("openssl")
    parsed = run_tool("openssl", "x509", "-in", root, "-noout", "-fingerprint", "-sha256")
    assert parsed.returncode == 0, parsed.stderr
    own = offline.ws.path / "pki" / "root.cert.pem"
    assert run_tool("openssl", "x509", "-in", own, "-noout", "-fingerprint", "-sha256").stdout == (
        parsed.stdout
    )
    pdf = offline.snapshot.read_bytes()
    report = pdfsig_trusting(root, pdf, tmp_path)
    assert "Signature Field Name: bdcert-status-snapshot" in report
    assert "Signature is Valid." in report and "Certificate is Trusted." in report
    require_tool("pdfdetach")
    out = tmp_path / SNAPSHOT_FILE
    saved = run_tool("pdfdetach", "-save", "1", "-o", out, offline.snapshot)
    assert saved.returncode == 0, saved.stderr
    snapshot = read_status_snapshot(pdf, bundle)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == snapshot.sha256
    listed = {e["number"]: e["status"] for e in json.loads(out.read_bytes())["entries"]}
    assert listed == {SUPERSEDED: "superseded", CANCELLED: "cancelled", RESTRICTED: "restricted"}


def test_online_verify_says_online_register(offline: Offline) -> None:
    done = run_cli(offline.ws, "verify", str(offline.files[SUCCESSOR]))
    assert done.returncode == 0 and "[online register]" in done.stdout
    done = run_cli(offline.ws, "verify", "--json", str(offline.files[SUPERSEDED]))
    record = json.loads(done.stdout)
    assert (done.returncode, record["level"], record["verdict"]) == (1, "online register",
                                                                      "superseded")  # fmt: skip


def test_offline_needs_a_bundle(offline: Offline) -> None:
    code, _, err = _run("verify", "--offline", str(offline.files[SUCCESSOR]))
    assert code == 2 and "--trust-bundle" in err
