"""Per-certificate speed of the main job, each beside a pyHanko baseline measured in the same run.

- ``issue``: validate → number → render → seal → store one property certificate, end to end;
  baseline: pyHanko's default ``sign_pdf`` on the same rendered PDF with the same key.
- ``verify``: bdcert's verdict on one sealed certificate (signature, coverage, trust, register
  lookup, status); baseline: pyHanko's ``validate_pdf_signature`` on the same file.

Run: ``.venv/bin/pytest benchmarks --benchmark-only``. Quote medians and ratios, not absolutes.
"""

from __future__ import annotations

import copy
import itertools
from io import BytesIO
from typing import Any

import pytest

from bdcert.lifecycle import Registry

from .conftest import first_entry, make_workspace, render_sample


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    ws = make_workspace(tmp_path_factory.mktemp("bench") / "ws")
    registry = Registry.open(ws)
    principal = registry.authenticate({"operator": "platform"})
    entry = first_entry()
    first = registry.push(entry, principal=principal)
    yield {
        "ws": ws,
        "registry": registry,
        "principal": principal,
        "entry": entry,
        "sealed": first.certificates[0].pdf,
    }
    registry.close()


def test_issue_end_to_end(benchmark: Any, setup: Any) -> None:
    counter = itertools.count(1)
    registry, principal = setup["registry"], setup["principal"]

    def make_entry() -> Any:
        raw = copy.deepcopy(setup["entry"])
        n = next(counter)
        raw["ywh"] = f"bench-{n:06d}"
        raw["bdcdyh"] = [f"510104001001GB{n:05d}F00010002"]  # a new unit: nothing to supersede
        return (raw,), {}

    def issue(raw: Any) -> Any:
        return registry.push(raw, principal=principal)

    result = benchmark.pedantic(issue, setup=make_entry, rounds=20, warmup_rounds=2)
    assert result.outcome.value == "issued"


def _baseline_signer(setup: Any) -> Any:
    from pyhanko.sign import signers

    ws = setup["ws"]
    return signers.SimpleSigner.load(
        str(ws / "pki" / "510100.key.pem"),
        str(ws / "pki" / "510100.cert.pem"),
        ca_chain_files=(str(ws / "pki" / "root.cert.pem"),),
    )


def test_baseline_pyhanko_sign_pdf(benchmark: Any, setup: Any) -> None:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    rendered = render_sample(setup["registry"]).rendered  # rendered once, outside the timing
    signer = _baseline_signer(setup)

    def sign() -> bytes:
        writer = IncrementalPdfFileWriter(BytesIO(rendered.pdf))
        out = signers.sign_pdf(
            writer, signers.PdfSignatureMetadata(field_name="Sig1"), signer=signer
        )
        return out.getvalue()

    assert benchmark(sign).startswith(b"%PDF")


def test_verify(benchmark: Any, setup: Any) -> None:
    registry, sealed = setup["registry"], setup["sealed"]
    verdict = benchmark(registry.verify, sealed)
    assert verdict.ok


def test_baseline_pyhanko_validate(benchmark: Any, setup: Any) -> None:
    from asn1crypto import pem, x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    data = (setup["ws"] / "pki" / "root.cert.pem").read_bytes()
    _, _, der = pem.unarmor(data)
    root = x509.Certificate.load(der)
    sealed = setup["sealed"]

    def validate() -> Any:
        reader = PdfFileReader(BytesIO(sealed))
        ctx = ValidationContext(trust_roots=[root], allow_fetching=False)
        return validate_pdf_signature(reader.embedded_signatures[0], ctx)

    status = benchmark(validate)
    assert status.intact and status.valid
