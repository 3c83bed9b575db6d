"""One test per check of the plan chosen with ``--conformance-plan`` (see
:mod:`bdcert_conformance.pytest_plugin`); run with ``pytest --pyargs
bdcert_conformance.test_conformance --conformance-plan …``."""

from __future__ import annotations

from typing import Any

from bdcert_conformance.pytest_plugin import check_outcome


def test_check(conformance_run: Any, conformance_check_id: str) -> None:
    check_outcome(conformance_run, conformance_check_id)
