"""Fixtures of the HTTP service tests: a served demo workspace whose operators authenticate
with API tokens (``[identity] plugin = "tokens"``), and a Litestar test client over it.

The demo workspace (PKI, keys) is made once per session and copied for each test.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from bdcert.config import Workspace
from tests.support import TIMELINE, make_workspace, use_database

#: The demo workspace's operators, each given an API token in the served workspace.
OPERATORS: dict[str, dict[str, Any]] = {
    "platform": {"roles": ["platform"]},
    "auditor": {"roles": ["auditor"]},
    "holder-wang": {"roles": ["holder"], "id_number": "510104198503120176"},
    "bank-shuchuan": {"roles": ["sharing_party"]},
    "registrar-510100": {"roles": ["registrar"], "authority": "510100"},
    "registrar-510700": {"roles": ["registrar"], "authority": "510700"},
    "registrar-513401": {"roles": ["registrar"], "authority": "513401"},
}


def use_tokens(directory: Path) -> dict[str, str]:
    """Replace the workspace's ``[identity]`` by API tokens for :data:`OPERATORS`.

    :returns: operator name -> its token (for ``Authorization: Bearer``).
    """
    from bdcert_plugins.identity_tokens import hash_token, new_token

    config = directory / "bdcert.toml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^\[identity\].*?(?=^\[notifiers\])", "", text)
    tokens = {name: new_token() for name in OPERATORS}
    lines = ["[identity]", 'plugin = "tokens"']
    for name, spec in OPERATORS.items():
        lines.append(f'[identity.tokens."{name}"]')
        lines.append(f'sha256 = "{hash_token(tokens[name])}"')
        lines.append("roles = [" + ", ".join(f'"{r}"' for r in spec["roles"]) + "]")
        for key in ("authority", "id_number"):
            if key in spec:
                lines.append(f'{key} = "{spec[key]}"')
    config.write_text(text + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return tokens


@attrs.define
class Served:
    """A served workspace: its directory, the operators' tokens and a test client."""

    workspace: Workspace
    tokens: dict[str, str]
    client: Any

    def auth(self, operator: str) -> dict[str, str]:
        """The ``Authorization`` header of ``operator``."""
        return {"Authorization": f"Bearer {self.tokens[operator]}"}


@pytest.fixture(scope="session")
def served_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One demo workspace with token identities, made once (the PKI is the slow part)."""
    directory = tmp_path_factory.mktemp("served") / "ws"
    make_workspace(directory)
    tokens = use_tokens(directory)
    return directory, tokens


def copy_served(
    template: tuple[Path, dict[str, str]], target: Path
) -> tuple[Workspace, dict[str, str]]:
    """A fresh copy of the template workspace with an empty SQLite store."""
    source, tokens = template
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("bdcert.sqlite3*"))
    use_database(target, f"sqlite:///{target / 'bdcert.sqlite3'}")
    return Workspace.load(target), tokens


@pytest.fixture
def served(served_template: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[Served]:
    """A test client over a fresh copy of the served workspace (SQLite)."""
    from litestar.testing import TestClient

    from bdcert.lifecycle import Registry
    from bdcert_adapters.service import ServiceSettings, create_app

    ws, tokens = copy_served(served_template, tmp_path / "ws")
    settings = ServiceSettings.from_settings(ws.table("service"))
    app = create_app(lambda: Registry.open(ws), settings)
    with TestClient(app) as client:
        yield Served(ws, tokens, client)


def timeline_entry(line: int) -> dict[str, Any]:
    """The timeline's entry on ``line`` (1-based)."""
    with open(TIMELINE, encoding="utf-8") as f:
        return dict(json.loads(f.read().splitlines()[line - 1]))


class FailingSeal:
    """A seal provider whose HSM does not answer (an outage, rule article 15); ``inner`` still
    names the signer certificates."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    def seal_pdf(self, pdf: bytes, request: Any) -> bytes:
        from bdcert.errors import SealingError

        raise SealingError("the HSM does not answer (injected outage)")

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        return self.inner.signer_certificate_pem(authority_code)  # type: ignore[no-any-return]
