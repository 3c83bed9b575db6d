"""SM2 seals per core, for PDF and OFD, beside the PAdES ECDSA path, in the same run.

Each benchmark seals one already-rendered certificate (rendering is outside the timed part):
``pades_ecdsa`` with the software provider (P-256), ``sm2_pdf`` (detached SM2/SM3 CMS) and
``sm2_ofd`` (GB/T 38540 ``SES_Signature`` in an OFD package) with the sm2 provider. Seals per second
per core = 1 / median (pytest runs one process, one thread).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from bdcert.lifecycle import Registry
from bdcert.model import CHINA_TZ

from .conftest import make_workspace, render_sample

pytest.importorskip("tongsuopy")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from bdcert.render.ofd import write_ofd

    base = tmp_path_factory.mktemp("gm-bench")
    registries = {a: Registry.open(make_workspace(base / a, a)) for a in ("ecdsa", "sm2")}
    now = datetime.now(CHINA_TZ)
    sample = render_sample(registries["sm2"], signing_time=now)
    ofd = write_ofd(**sample.render_args(), fonts=registries["sm2"].renderer.fonts)
    yield {
        "registries": registries,
        "pdf": sample.rendered,
        "ofd": ofd,
        "request": sample.request,
        "now": now,
        "authority": sample.authority,
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
