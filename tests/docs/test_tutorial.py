"""docs/tutorial-seal-provider.md shows the files of docs/examples/seal_provider_tutorial
verbatim (tests/conformance/test_seal_contract.py runs the contract on that provider), and the
package installs through its entry point."""

from __future__ import annotations

import re

from tests.support import REPO

TUTORIAL_MD = REPO / "docs" / "tutorial-seal-provider.md"
FILES = REPO / "docs" / "examples" / "seal_provider_tutorial"
SHOWN = re.compile(r"<!-- file: ([\w./]+) -->\n```\w+\n(.*?)\n```", re.S)


def test_the_tutorial_shows_every_file_of_the_package_verbatim() -> None:
    shown = dict(SHOWN.findall(TUTORIAL_MD.read_text(encoding="utf-8")))
    on_disk = {
        str(p.relative_to(FILES)): p.read_text(encoding="utf-8").rstrip("\n")
        for p in FILES.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert sorted(shown) == sorted(on_disk)
    for name, text in on_disk.items():
        assert shown[name] == text, f"{name} differs from the tutorial's copy"


def test_the_package_declares_its_plugin_in_the_bdcert_group() -> None:
    import tomllib

    project = tomllib.loads((FILES / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["bdcert"] == {"acme_seal": "acme_seal"}
