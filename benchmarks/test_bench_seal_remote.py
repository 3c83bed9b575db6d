"""Sealing one certificate PDF through the remote e-seal service, beside the software provider.

Both seal the same rendered property certificate with the same demo key in the same run: the
``software`` provider signs in-process; the ``remote`` provider builds the signature locally and
has the reference service (``bdcert_adapters.seal_service``, uvicorn on 127.0.0.1 in this
process) sign the digest over HTTP. The difference is the cost of one round trip (JSON, base64,
keep-alive connection, the service's audit log line) plus the client's check of the returned
signature.

Run: ``.venv/bin/pytest benchmarks --benchmark-only``. Quote medians and ratios, not absolutes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bdcert.config import Workspace
from bdcert.face import face_items
from bdcert.lifecycle import Registry
from bdcert.model import CertificateKind
from bdcert.protocols import SealRequest
from bdcert.signatures import check_pdf_seal
from bdcert.validation import parse_entry

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "adapters" / "bdcert_adapters" / "examples"
TOKEN = "benchmark-token-0123456789abcdef"
TOKEN_ENV = "BDCERT_BENCH_SEAL_SERVICE_TOKEN"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from bdcert_adapters.cli import main
    from bdcert_adapters.seal_service import ServiceThread, make_app, signer_source_from_workspace
    from bdcert_plugins.seal_remote import RemoteSealProvider

    ws_dir = tmp_path_factory.mktemp("bench-remote") / "ws"
    assert main(["init", "--demo", "--workspace", str(ws_dir)]) == 0
    workspace = Workspace.load(ws_dir)
    registry = Registry.open(workspace)
    entry = json.loads(
        (EXAMPLES / "sichuan-2024.jsonl").read_text(encoding="utf-8").splitlines()[0]
    )
    parsed = parse_entry(entry, authorities=registry.authorities, codes=registry.codes)
    authority = registry.authorities[parsed.authority_code]
    kind = CertificateKind.PROPERTY_CERTIFICATE
    face = face_items(
        parsed,
        kind=kind,
        number="川(2024)成都市不动产权第0000001号",
        holders=parsed.holders,
        authority=authority,
        issued_at=parsed.recorded_at,
        codes=registry.codes,
    )
    rendered = registry.renderer.render(
        kind=kind,
        face=face,
        verification_url="https://verify.bdcert.invalid/v/x",
        authority=authority,
        licence_id="x",
        attached_plan=parsed.attached_plan,
    )
    request = SealRequest(
        authority=authority,
        page=rendered.seal_page,
        box=rendered.seal_box,
        appearance_png=rendered.seal_png,
        location=authority.place_name,
        signing_time=parsed.recorded_at,
    )
    # the service's audit log line stays in the timing; only its output is silenced
    logging.getLogger("bdcert.seal_service").propagate = False
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = make_app(signer_source_from_workspace(workspace), {"bench": TOKEN})
    with pytest.MonkeyPatch.context() as mp, ServiceThread(app) as url:
        mp.setenv(TOKEN_ENV, TOKEN)
        provider = RemoteSealProvider.from_settings(
            {"url": url, "token_env": TOKEN_ENV}, workspace.path
        )
        yield {
            "pdf": rendered.pdf,
            "request": request,
            "software": registry.seal_provider,
            "remote": provider,
            "roots": workspace.trust_roots(),
        }
        provider.close()
    logging.getLogger("bdcert.seal_service").propagate = True
    registry.close()


@pytest.mark.parametrize("provider", ["software", "remote"])
def test_seal_one_certificate(benchmark: Any, setup: dict[str, Any], provider: str) -> None:
    seal = setup[provider].seal_pdf
    pdf, request = setup["pdf"], setup["request"]
    seal(pdf, request)  # load the key / fetch the certificate outside the timing
    sealed = benchmark.pedantic(seal, args=(pdf, request), rounds=30, warmup_rounds=3)
    assert check_pdf_seal(sealed, setup["roots"]).code.value == "valid"
