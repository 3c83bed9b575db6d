"""Verification of the review's hostile files (issue 9): each must end in TOO_COMPLEX at once.

Timed here, not in the tests (the tests assert only the verdicts). The files are built from a
genuine sealed certificate by ``tests/attacks/hostile.py``: a signature field with 3,000
children in one object stream (24 s before the bounds) and a 136 kB OFD with 10 million XML
elements (5 s and 1 GiB before). Peak memory is reported by ``/usr/bin/time -v`` on a script
that verifies the same files (see the issue-9 change notes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bdcert.lifecycle import Registry
from bdcert.lifecycle.reading import check_document
from bdcert.model import VerdictCode
from tests.attacks.hostile import ofd_with_elements, pdf_with_field_children

from .conftest import first_entry, make_workspace

pytest.importorskip("tongsuopy")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    ws: Path = make_workspace(tmp_path_factory.mktemp("hostile") / "ws", "sm2")
    with Registry.open(ws, formats=("pdf", "ofd")) as registry:
        platform = registry.authenticate({"operator": "platform"})
        (cert,) = registry.push(first_entry(), principal=platform).certificates
        roots = tuple(bytes(r) for r in registry.trust_roots)
    assert cert.ofd is not None
    return {
        "roots": roots,
        "pdf": pdf_with_field_children(cert.pdf, 3000, nested=False),
        "ofd": ofd_with_elements(cert.ofd, 10_000_000, name="OFD.xml"),
    }


@pytest.mark.parametrize("kind", ["pdf", "ofd"])
def test_verify_a_hostile_file(benchmark: Any, hostile: dict[str, Any], kind: str) -> None:
    check = benchmark(check_document, hostile[kind], hostile["roots"])
    assert check.code is VerdictCode.TOO_COMPLEX, check.detail
