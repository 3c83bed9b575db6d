"""SM2 seals per core, for PDF and OFD, beside the PAdES ECDSA path, in the same run.

Each benchmark seals one already-rendered certificate (rendering is outside the timed part):
``pades_ecdsa`` with the software provider (P-256), ``sm2_pdf`` (detached SM2/SM3 CMS) and
``sm2_ofd`` (GB/T 38540 ``SES_Signature`` in an OFD package) with the sm2 provider. Seals per second
per core = 1 / median (pytest runs one process, one thread).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bdcert.lifecycle import Registry
from bdcert.model import CHINA_TZ, CertificateKind
from bdcert.protocols import SealRequest

pytest.importorskip("tongsuopy")

EXAMPLES = Path(__file__).resolve().parents[1] / "adapters" / "bdcert_adapters" / "examples"


def _workspace(base: Path, algorithm: str) -> Path:
    from bdcert_adapters.cli import main

    ws = base / algorithm
    assert main(["init", "--demo", "--algorithm", algorithm, "--workspace", str(ws)]) == 0
    return ws


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from bdcert.face import face_items
    from bdcert.gm.ofd import write_ofd
    from bdcert.validation import parse_entry

    base = tmp_path_factory.mktemp("gm-bench")
    registries = {a: Registry.open(_workspace(base, a)) for a in ("ecdsa", "sm2")}
    registry = registries["sm2"]
    raw = json.loads((EXAMPLES / "sichuan-2024.jsonl").read_text(encoding="utf-8").splitlines()[0])
    entry = parse_entry(raw, authorities=registry.authorities, codes=registry.codes)
    authority = registry.authorities[entry.authority_code]
    kind = CertificateKind.PROPERTY_CERTIFICATE
    now = datetime.now(CHINA_TZ)
    face = face_items(
        entry,
        kind=kind,
        number="川(2024)成都市不动产权第0000001号",
        holders=entry.holders,
        authority=authority,
        issued_at=now,
        codes=registry.codes,
    )
    common = dict(
        kind=kind,
        face=face,
        verification_url="https://verify.bdcert.invalid/v/x",
        authority=authority,
        licence_id="x",
        attached_plan=entry.attached_plan,
    )
    pdf = registry.renderer.render(**common)
    ofd = write_ofd(**common, fonts=registry.renderer.fonts)
    request = SealRequest(
        authority=authority,
        page=pdf.seal_page,
        box=pdf.seal_box,
        appearance_png=pdf.seal_png,
        signing_time=now,
    )
    yield {
        "registries": registries,
        "pdf": pdf,
        "ofd": ofd,
        "request": request,
        "now": now,
        "authority": authority,
    }
    for r in registries.values():
        r.close()


def test_pades_ecdsa(benchmark: Any, setup: Any) -> None:
    provider = setup["registries"]["ecdsa"].seal_provider
    sealed = benchmark(provider.seal_pdf, setup["pdf"].pdf, setup["request"])
    assert sealed.startswith(b"%PDF")


def test_sm2_pdf(benchmark: Any, setup: Any) -> None:
    provider = setup["registries"]["sm2"].seal_provider
    sealed = benchmark(provider.seal_pdf, setup["pdf"].pdf, setup["request"])
    assert setup["registries"]["sm2"].verify(sealed).code.value == "unknown_certificate"


def test_sm2_ofd(benchmark: Any, setup: Any) -> None:
    provider = setup["registries"]["sm2"].seal_provider
    ofd = setup["ofd"]

    def seal() -> bytes:
        return provider.seal_ofd(
            ofd.package,
            authority=setup["authority"],
            page=ofd.seal_page,
            box_mm=ofd.seal_box_mm,
            time=setup["now"],
        )

    sealed = benchmark(seal)
    assert setup["registries"]["sm2"].verify(sealed).code.value == "unknown_certificate"
