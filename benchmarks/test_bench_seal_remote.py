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

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from bdcert.config import Workspace
from bdcert.lifecycle import Registry
from bdcert.model import CHINA_TZ
from bdcert.verify.pades import check_pdf_seal

from .conftest import make_workspace, render_sample

TOKEN = "benchmark-token-0123456789abcdef"
TOKEN_ENV = "BDCERT_BENCH_SEAL_SERVICE_TOKEN"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from bdcert_adapters.seal_service import ServiceThread, make_app, signer_source_from_workspace
    from bdcert_plugins.seal_remote import RemoteSealProvider

    workspace = Workspace.load(make_workspace(tmp_path_factory.mktemp("bench-remote") / "ws"))
    registry = Registry.open(workspace)
    sample = render_sample(registry, signing_time=datetime.now(CHINA_TZ))
    rendered, request = sample.rendered, sample.request
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
