"""The cost of each PAdES level: sealing one rendered certificate at B-B, B-T, B-LT and B-LTA.

The ``software`` provider seals the same rendered property certificate with the demo PKI's
in-process timestamp authority and its CRL file (no network), as ``bdcert init --demo``
configures a workspace; B-LTA is the default level. All four are in one pytest-benchmark group,
so the table's ``median`` column shows each one's factor against the fastest; each entry records
its median and its ratio to B-B in ``extra_info`` (``--benchmark-json``), and the B-LTA one the
renewal of its archive timestamp (``renew_ms``) too.

Run: ``.venv/bin/pytest benchmarks/test_bench_seal_levels.py --benchmark-only``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bdcert.lifecycle import Registry
from bdcert.model import VerdictCode
from bdcert.sealing.evidence import LEVELS, Evidence
from bdcert.verify.pades import check_pdf_seal
from bdcert_plugins.seal_software import SoftwareSealProvider

from .conftest import make_workspace, render_sample

ROUNDS = 30

#: Medians (seconds) measured in this run, by level, for the ratios.
MEDIANS: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ws = make_workspace(tmp_path_factory.mktemp("bench-levels") / "ws")
    registry = Registry.open(ws)
    sample = render_sample(registry)
    yield {
        "ws": ws,
        "code": sample.authority.code,
        "pdf": sample.rendered.pdf,
        "request": sample.request,
        "root": (ws / "pki" / "root.cert.pem").read_bytes(),
    }
    registry.close()


def _provider(setup: dict[str, Any], level: str) -> SoftwareSealProvider:
    code, ws = setup["code"], setup["ws"]
    provider = SoftwareSealProvider.from_settings(
        {"authorities": {code: {"key": f"pki/{code}.key.pem", "cert": f"pki/{code}.cert.pem"}}},
        ws,
    )
    provider.use_evidence(
        Evidence.from_settings(
            level,
            {"key": "pki/tsa.key.pem", "cert": "pki/tsa.cert.pem", "chain": ["pki/root.cert.pem"]},
            {"crls": ["pki/root.crl"], "fetch": False},
            ws,
            [setup["root"]],
        )
    )
    return provider


@pytest.mark.benchmark(group="seal-level")
@pytest.mark.parametrize("level", LEVELS)
def test_seal_at_level(benchmark: Any, setup: dict[str, Any], level: str) -> None:
    provider = _provider(setup, level)
    pdf, request = setup["pdf"], setup["request"]
    first = provider.seal_pdf(pdf, request)  # loads the key and the TSA, outside the timing
    assert check_pdf_seal(first, [setup["root"]]).code is VerdictCode.VALID
    sealed = benchmark.pedantic(
        provider.seal_pdf, args=(pdf, request), rounds=ROUNDS, warmup_rounds=2
    )
    assert check_pdf_seal(sealed, [setup["root"]]).code is VerdictCode.VALID
    if benchmark.stats is None:  # --benchmark-disable: run once, nothing measured
        return
    median = float(benchmark.stats.stats.median)
    MEDIANS[level] = median
    benchmark.extra_info["median_ms"] = round(median * 1000, 3)
    benchmark.extra_info["bytes"] = len(sealed)
    if "B-B" in MEDIANS:
        benchmark.extra_info["ratio_to_b_b"] = round(median / MEDIANS["B-B"], 2)


@pytest.mark.benchmark(group="seal-level")
def test_renew_archive_timestamp(benchmark: Any, setup: dict[str, Any]) -> None:
    from bdcert.sealing.archive import renew_archive_timestamp

    provider = _provider(setup, "B-LTA")
    sealed = provider.seal_pdf(setup["pdf"], setup["request"])
    renewed = benchmark.pedantic(
        renew_archive_timestamp, args=(sealed, provider.evidence), rounds=ROUNDS, warmup_rounds=2
    )
    assert renewed.startswith(sealed)
    assert check_pdf_seal(renewed, [setup["root"]]).code is VerdictCode.VALID
    if benchmark.stats is not None:
        benchmark.extra_info["renew_ms"] = round(float(benchmark.stats.stats.median) * 1000, 3)


@pytest.mark.benchmark(group="verify-level")
@pytest.mark.parametrize("level", ["B-B", "B-LTA"])
def test_verify_at_level(benchmark: Any, setup: dict[str, Any], level: str) -> None:
    """bdcert's seal check: pyHanko's plain validation (B-B) against the AdES one (B-LTA)."""
    sealed = _provider(setup, level).seal_pdf(setup["pdf"], setup["request"])
    check = benchmark.pedantic(
        check_pdf_seal, args=(sealed, [setup["root"]]), rounds=ROUNDS, warmup_rounds=2
    )
    assert check.code is VerdictCode.VALID, check.detail
    if benchmark.stats is not None:
        benchmark.extra_info["median_ms"] = round(float(benchmark.stats.stats.median) * 1000, 3)
