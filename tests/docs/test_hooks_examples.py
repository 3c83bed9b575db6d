"""Every example of docs/hooks.md, run for real (datasette style): each ```python block is
marked ``<!-- example: NAME -->``; it is loaded as a module, registered with a plugin manager,
and used in a demo workspace."""

from __future__ import annotations

import json
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bdcert
from bdcert.config import Workspace
from bdcert.errors import IdentityError, PermissionDenied
from bdcert.lifecycle import Registry
from bdcert.model import Outcome, VerdictCode
from bdcert.plugins import Hooks
from bdcert_conformance.seal import check_docmdp_lock, check_visible_seal
from tests.support import REPO, make_workspace

HOOKS_MD = REPO / "docs" / "hooks.md"
MARKED = re.compile(r"<!-- example: ([\w-]+) -->\n```python\n(.*?)\n```", re.S)
EXAMPLES = dict(MARKED.findall(HOOKS_MD.read_text(encoding="utf-8")))


def test_every_python_block_is_a_marked_example_and_every_hook_has_one() -> None:
    text = HOOKS_MD.read_text(encoding="utf-8")
    assert text.count("```python") == len(MARKED.findall(text)) == len(EXAMPLES)
    assert sorted(EXAMPLES) == [
        "certificate-event",
        "code-tables",
        "identity-provider",
        "notifier",
        "seal-provider",
        "storage",
    ]


def load(name: str) -> types.ModuleType:
    module = types.ModuleType(f"hooks_md_{name.replace('-', '_')}")
    exec(compile(EXAMPLES[name], f"docs/hooks.md <example: {name}>", "exec"), module.__dict__)
    return module


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")


def configure(ws: Workspace, section: str, text: str) -> None:
    """Replace the body of the workspace file's ``[section]`` table (and its sub-tables)."""
    config = ws.path / "bdcert.toml"
    old = config.read_text(encoding="utf-8")
    new, count = re.subn(
        rf"(?ms)^\[{section}\]\n.*?(?=^\[(?!{section}\.)|\Z)",
        f"[{section}]\n{text.strip()}\n\n",
        old,
    )
    assert count == 1, section
    config.write_text(new, encoding="utf-8")


@pytest.fixture
def open_registry(ws: Workspace) -> Iterator[Any]:
    opened: list[Registry] = []

    def open_(*plugins: object) -> Registry:
        pm = bdcert.make_plugin_manager()
        for plugin in plugins:
            pm.register(plugin)
        registry = Registry.open(ws.path, hooks=Hooks(pm))
        opened.append(registry)
        return registry

    yield open_
    for registry in opened:
        registry.close()


def test_storage_example_wraps_the_sql_store(
    ws: Workspace, open_registry: Any, timeline: list[dict[str, Any]]
) -> None:
    example = load("storage")
    made: list[Any] = []
    factory = example.make_storage
    example.make_storage = lambda settings, workspace: (
        made.append(factory(settings, workspace)) or made[-1]
    )
    configure(ws, "storage", 'plugin = "counting-sql"\nurl = "sqlite:///bdcert.sqlite3"')
    registry = open_registry(example)
    platform = registry.authenticate({"operator": "platform"})
    result = registry.push(timeline[0], principal=platform)
    assert result.outcome is Outcome.ISSUED
    (storage,) = made
    assert isinstance(storage, bdcert.Storage)
    # a push rehearses in a transaction it always rolls back (docs/lifecycle.md), then files
    assert storage.transactions >= 2 and storage.failed == 1
    with storage.transaction() as tx:
        assert tx.get_certificate(result.numbers[0]).number == result.numbers[0]
    assert (ws.path / "bdcert.sqlite3").is_file()


def test_seal_provider_example_seals_certificates_that_verify(
    ws: Workspace, open_registry: Any, timeline: list[dict[str, Any]]
) -> None:
    authorities = "".join(
        f'\n[seal.authorities."{code}"]\nkey = "pki/{code}.key.pem"\n'
        f'chain = ["pki/{code}.cert.pem", "pki/root.cert.pem"]\n'
        for code in ws.authorities()
    )
    configure(ws, "seal", 'plugin = "digest-files"\n' + authorities)
    registry = open_registry(load("seal-provider"))
    assert registry.seal_provider.name == "digest-files"
    assert isinstance(registry.seal_provider, bdcert.DigestSigner)
    platform = registry.authenticate({"operator": "platform"})
    result = registry.push(timeline[0], principal=platform)
    pdf = result.certificates[0].pdf
    assert registry.verify(pdf).code is VerdictCode.VALID
    check_docmdp_lock(pdf)
    pem = registry.seal_provider.signer_certificate_pem("510100")
    assert pem == (ws.path / "pki" / "510100.cert.pem").read_bytes()
    with pytest.raises(bdcert.SealingError, match="999999"):
        registry.seal_provider.certificate_chain("999999")


def test_seal_provider_example_seal_is_visible(
    seal_png: bytes, plain_pdf: bytes, ws: Workspace
) -> None:
    provider = load("seal-provider").make_provider(
        {
            "authorities": {
                "510100": {"key": "pki/510100.key.pem", "chain": ["pki/510100.cert.pem"]}
            }
        },
        ws.path,
    )
    request = bdcert.SealRequest(
        authority=ws.authorities()["510100"],
        page=0,
        box=(400.0, 60.0, 520.0, 180.0),
        appearance_png=seal_png,
    )
    check_visible_seal(provider.seal_pdf(plain_pdf, request), request)
    with pytest.raises(bdcert.ConfigurationError, match="key and chain"):
        load("seal-provider").make_provider({"authorities": {"510100": {"key": "k"}}}, ws.path)


def test_identity_provider_example_authenticates_the_host_systems_users(
    ws: Workspace, open_registry: Any, timeline: list[dict[str, Any]]
) -> None:
    configure(ws, "identity", 'plugin = "host"\nplatform_users = ["admin"]')
    registry = open_registry(load("identity-provider"))
    admin = registry.authenticate({"user": "admin"})
    assert admin.roles == {"platform"}
    clerk = registry.authenticate({"user": "li", "department": "510100"})
    assert clerk.roles == {"registrar"} and clerk.authority == "510100"
    assert registry.push(timeline[0], principal=clerk).outcome is Outcome.ISSUED
    mianyang = next(e for e in timeline if e["djjg"] != "510100")
    with pytest.raises(PermissionDenied):
        registry.push(mianyang, principal=clerk)
    with pytest.raises(IdentityError):
        registry.authenticate({"operator": "platform"})
    with pytest.raises(IdentityError):
        registry.authenticate({"user": "li"})


def test_notifier_example_spools_each_event(
    ws: Workspace, open_registry: Any, timeline: list[dict[str, Any]]
) -> None:
    configure(
        ws, "notifiers", 'plugins = ["log", "spool"]\n\n[notifiers.spool]\ndirectory = "outgoing"'
    )
    registry = open_registry(load("notifier"))
    platform = registry.authenticate({"operator": "platform"})
    first = registry.push(timeline[0], principal=platform)
    registry.push(timeline[13], principal=platform)  # supersedes the first
    events = [json.loads(p.read_text("utf-8")) for p in sorted((ws.path / "outgoing").iterdir())]
    assert {(e["event"], e["number"]) for e in events} >= {
        ("issued", first.numbers[0]),
        ("superseded", first.numbers[0]),
    }
    assert sorted(e["event"] for e in events) == ["issued", "issued", "superseded"]


def test_code_tables_example_provides_its_edition(ws: Workspace, open_registry: Any) -> None:
    config = ws.path / "bdcert.toml"
    config.write_text(
        config.read_text("utf-8").replace(
            'code_tables = "national-2024"', 'code_tables = "sichuan-2024"'
        ),
        "utf-8",
    )
    registry = open_registry(load("code-tables"))
    assert registry.codes.edition == "sichuan-2024"
    assert registry.codes.djlx["950"] == "川省试点登记"
    assert registry.codes.djlx["100"] == bdcert.NATIONAL_2024.djlx["100"]


def test_certificate_event_example_counts_events(
    open_registry: Any, timeline: list[dict[str, Any]]
) -> None:
    example = load("certificate-event")
    registry = open_registry(example)
    platform = registry.authenticate({"operator": "platform"})
    registry.push(timeline[0], principal=platform)
    registry.push(timeline[13], principal=platform)
    assert example.EVENTS == {("510100", "issued"): 2, ("510100", "superseded"): 1}
