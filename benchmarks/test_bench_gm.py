"""SM2 seals per core, for PDF and OFD, beside the PAdES ECDSA path, in the same run.

Each benchmark seals one already-rendered certificate (rendering is outside the timed part):
``pades_ecdsa`` with the software provider (P-256), ``sm2_pdf`` (detached GB/T 35275 SM2/SM3
SignedData) and ``sm2_ofd`` (GB/T 38540 ``SES_Signature`` in an OFD package) with the sm2
provider as ``init --demo`` configures it: every seal time-stamped by the in-process SM2
time-stamp authority. ``sm2_pdf_no_timestamp`` and ``sm2_ofd_no_timestamp`` seal the same without
the time-stamp: the ratio of the medians is the time-stamp's cost. Seals per second per core =
1 / median (pytest runs one process, one thread).
"""

from __future__ import annotations

import tomllib
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
    settings = tomllib.loads((base / "sm2" / "bdcert.toml").read_text(encoding="utf-8"))["seal"]
    assert "timestamp" in settings
    from bdcert_plugins.seal_sm2 import Sm2SealProvider

    unstamped = Sm2SealProvider.from_settings(
        {k: v for k, v in settings.items() if k != "timestamp"}, base / "sm2"
    )
    yield {
        "unstamped": unstamped,
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
    assert b"2a864886f70d010910020e" in sealed.lower()  # id-aa-timeStampToken
    assert setup["registries"]["sm2"].verify(sealed).code.value == "unknown_certificate"


def test_sm2_pdf_no_timestamp(benchmark: Any, setup: Any) -> None:
    sealed = benchmark(setup["unstamped"].seal_pdf, setup["pdf"].pdf, setup["request"])
    assert b"2a864886f70d010910020e" not in sealed.lower()  # no id-aa-timeStampToken
    assert setup["registries"]["sm2"].verify(sealed).code.value == "unknown_certificate"


def _seal_ofd(provider: Any, setup: Any) -> bytes:
    ofd = setup["ofd"]
    return bytes(
        provider.seal_ofd(
            ofd.package,
            authority=setup["authority"],
            page=ofd.seal_page,
            box_mm=ofd.seal_box_mm,
            time=setup["now"],
        )
    )


def test_sm2_ofd_no_timestamp(benchmark: Any, setup: Any) -> None:
    sealed = benchmark(_seal_ofd, setup["unstamped"], setup)
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
