"""The README and docs say what exists: links resolve, the HTTP section names the public
verification page, nothing shipped is announced as still to come."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_the_readme_documents_the_service_and_the_city_side() -> None:
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert text.index("## Two commands for a fresh") < text.index("## Using it")
    for words in (
        "GET /v/{token}", "GET /v/", "POST /v/check", "verification_base_url",
        "bdcert city sync", "bdcert city reconcile", "bdcert witness", "trust_roots",
        "docs/city-mirror.md", "docs/collection.md", "docs/verification.md",
        "pip install -e '.[load]'", "application/x-ndjson", "415",
    ):  # fmt: skip
        assert words in text, words
    for stale in ("to come", "is the next step"):
        assert stale not in text, stale


def test_the_city_mirror_says_what_to_run() -> None:
    text = (REPO / "docs" / "city-mirror.md").read_text(encoding="utf-8")
    assert "bdcert init --demo" in text and "trust-bundle" in text and "trust_roots" in text
