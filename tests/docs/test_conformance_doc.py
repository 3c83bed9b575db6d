"""docs/conformance.md and the README say what the kit is: the catalogue table equals the kit's
checks, every broken implementation is documented on its plan's page, and the README's headline
figure is the number shipped (every one is caught: tests/conformance/test_plan_*.py fail
otherwise)."""

from __future__ import annotations

import re
from pathlib import Path

from bdcert_conformance.kit.catalogue import catalogue_markdown, load_catalogue
from bdcert_conformance.kit.model import CATALOGUE, PLAN_NAMES
from bdcert_conformance.plans import load_plan

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "conformance.md"


def _all_broken() -> list:
    return [b for plan in PLAN_NAMES for b in load_plan(plan).BROKEN]


def test_the_catalogue_table_is_the_kits() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- checks:begin -->\n", 1)[1].split("<!-- checks:end -->", 1)[0]
    assert block == catalogue_markdown(load_catalogue()), (
        "docs/conformance.md is stale: bdcert conformance checks --markdown"
    )


def test_broken_implementations_are_many_distinct_and_name_real_checks() -> None:
    broken = _all_broken()
    assert len(broken) >= 25
    assert len({b.id for b in broken}) == len(broken)
    load_catalogue()
    for b in broken:
        assert re.fullmatch(r"B-\d{3}", b.id), b.id
        assert b.caught_by in CATALOGUE and CATALOGUE[b.caught_by].plan == b.plan, b
    for plan in PLAN_NAMES:
        assert any(b.plan == plan for b in broken), f"no broken implementation for {plan}"


def test_each_plan_page_documents_its_checks_and_broken_implementations() -> None:
    for plan in PLAN_NAMES:
        page = (REPO / "docs" / "conformance" / f"{plan}.md").read_text(encoding="utf-8")
        for c in load_catalogue(plan):
            assert c.id in page, f"docs/conformance/{plan}.md does not mention {c.id}"
        for b in load_plan(plan).BROKEN:
            assert b.id in page, f"docs/conformance/{plan}.md does not mention {b.id}"


def test_the_readme_headline_is_the_number_shipped() -> None:
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    n = len(_all_broken())
    assert f"caught {n} of {n}" in text
    assert "docs/conformance.md" in text and "bdcert conformance selftest" in text
