"""``bdcert tokens add|list|revoke``: API tokens in the workspace file, hashes only; a ``local``
workspace switched to ``tokens`` keeps its command-line operators; ``bdcert serve`` refuses a
``local`` identity."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from bdcert.config import Workspace
from bdcert.errors import IdentityError
from bdcert.lifecycle import Registry
from tests.support import make_workspace, run_cli


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tokens") / "ws"
    make_workspace(directory)
    return directory


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Workspace:
    """A fresh copy of a demo workspace (``[identity] plugin = "local"``)."""
    target = tmp_path / "ws"
    shutil.copytree(template, target)
    return Workspace.load(target)


def _settings(ws: Workspace) -> dict[str, object]:
    return tomllib.loads((ws.path / "bdcert.toml").read_text(encoding="utf-8"))


def test_add_prints_only_the_token_and_stores_its_hash(ws: Workspace) -> None:
    from bdcert_plugins.identity_tokens import hash_token

    assert _settings(ws)["identity"]["plugin"] == "local"  # type: ignore[index]
    r = run_cli(ws, "tokens", "add", "city-510100", "--role", "registrar", "--authority", "510100")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert r.stdout == token + "\n" and len(token) >= 43
    identity = _settings(ws)["identity"]
    assert identity["plugin"] == "tokens"  # type: ignore[index]
    entry = identity["tokens"]["city-510100"]  # type: ignore[index]
    assert entry == {"sha256": hash_token(token), "roles": ["registrar"], "authority": "510100"}
    assert token not in (ws.path / "bdcert.toml").read_text(encoding="utf-8")
    assert "# a holder" in (ws.path / "bdcert.toml").read_text(encoding="utf-8")  # comments kept
    with Registry.open(Workspace.load(ws.path)) as registry:
        principal = registry.authenticate({"token": token})
        assert (principal.name, principal.roles, principal.authority) == (
            "city-510100",
            frozenset({"registrar"}),
            "510100",
        )
        # the command line's operators keep working in the switched workspace
        assert registry.authenticate({"operator": "platform"}).roles == frozenset({"platform"})
        with pytest.raises(IdentityError):
            registry.authenticate({"token": token + "x"})
    listed = run_cli(ws, "backlog", "list", "--operator", "registrar-510100")
    assert listed.returncode == 0, listed.stderr


def test_two_tokens_differ_and_list_shows_no_hash(ws: Workspace) -> None:
    a = run_cli(ws, "tokens", "add", "bank", "--role", "sharing_party").stdout.strip()
    b = run_cli(ws, "tokens", "add", "audit", "--role", "auditor").stdout.strip()
    assert a and b and a != b
    r = run_cli(ws, "tokens", "list")
    assert r.returncode == 0
    assert r.stdout.splitlines() == ["bank\tsharing_party", "audit\tauditor"]
    identity = _settings(ws)["identity"]
    for spec in identity["tokens"].values():  # type: ignore[index]
        assert spec["sha256"] not in r.stdout


def test_bad_token_settings_change_nothing(ws: Workspace) -> None:
    before = (ws.path / "bdcert.toml").read_bytes()
    r = run_cli(ws, "tokens", "add", "clerk", "--role", "registrar")  # no authority
    assert r.returncode == 2
    assert "registrar needs an authority" in r.stderr
    r = run_cli(ws, "tokens", "add", "x", "--role", "emperor")
    assert r.returncode == 2 and "emperor" in r.stderr
    assert (ws.path / "bdcert.toml").read_bytes() == before
    assert r.stdout == ""


def test_a_name_gets_one_token_and_revoke_removes_it(ws: Workspace) -> None:
    token = run_cli(ws, "tokens", "add", "p", "--role", "platform").stdout.strip()
    again = run_cli(ws, "tokens", "add", "p", "--role", "platform")
    assert again.returncode == 2 and "revoke" in again.stderr
    r = run_cli(ws, "tokens", "revoke", "p")
    assert r.returncode == 0, r.stderr
    with Registry.open(Workspace.load(ws.path)) as registry, pytest.raises(IdentityError):
        registry.authenticate({"token": token})
    assert run_cli(ws, "tokens", "revoke", "p").returncode == 2


def test_serve_refuses_a_local_identity(ws: Workspace) -> None:
    r = run_cli(ws, "serve", "--port", "1")
    assert r.returncode == 2
    assert "bdcert tokens add" in r.stderr
