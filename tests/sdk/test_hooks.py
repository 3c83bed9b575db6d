"""Guard tests (datasette style): every hook is documented with its exact arguments, and every
hook is exercised by a real workflow."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pluggy

from bdcert import hookspecs
from bdcert.codes import NATIONAL_2024
from bdcert.hookspecs import hookimpl
from bdcert.lifecycle import Registry
from bdcert.plugins import DEFAULT_PLUGINS, Hooks
from tests.support import REPO

HOOK_NAMES = sorted(n for n in dir(hookspecs) if n.startswith("bdcert_"))


def test_hookspecs_have_docstrings_naming_every_argument() -> None:
    assert len(HOOK_NAMES) == 6
    for name in HOOK_NAMES:
        fn = getattr(hookspecs, name)
        doc = inspect.getdoc(fn) or ""
        for arg in inspect.signature(fn).parameters:
            assert f":param {arg}:" in doc, (name, arg)


def test_every_hook_is_documented_with_its_exact_arguments() -> None:
    docs = (REPO / "docs" / "hooks.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (bdcert_\w+)\(([^)]*)\)$", docs, flags=re.M)
    documented = {
        name: [a.strip() for a in args.split(",") if a.strip()] for name, args in headings
    }
    assert sorted(documented) == HOOK_NAMES
    for name in HOOK_NAMES:
        args = list(inspect.signature(getattr(hookspecs, name)).parameters)
        assert documented[name] == args, name


def test_builtin_plugins_come_through_the_entry_point_group(pm: pluggy.PluginManager) -> None:
    loaded = {getattr(p, "__name__", "") for p in pm.get_plugins()}
    assert set(DEFAULT_PLUGINS) <= loaded
    dists = {dist.project_name for _, dist in pm.list_plugin_distinfo()}
    assert "bdcert" in dists


class Recorder:
    """A third-party style plugin implementing every hook and recording the calls."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {n: [] for n in HOOK_NAMES}

    @hookimpl
    def bdcert_register_storage(self, register: Any) -> None:
        self.calls["bdcert_register_storage"].append({})

    @hookimpl
    def bdcert_register_seal_providers(self, register: Any) -> None:
        self.calls["bdcert_register_seal_providers"].append({})

    @hookimpl
    def bdcert_register_identity_providers(self, register: Any) -> None:
        self.calls["bdcert_register_identity_providers"].append({})

    @hookimpl
    def bdcert_register_notifiers(self, register: Any) -> None:
        class Memory:
            name = "memory"

            def __init__(self, sink: list[Any]) -> None:
                self.sink = sink

            def notify(self, event: Any) -> None:
                self.sink.append(event)

        self.notified: list[Any] = []
        register("memory", lambda settings, workspace: Memory(self.notified))
        self.calls["bdcert_register_notifiers"].append({})

    @hookimpl
    def bdcert_code_tables(self, edition: str) -> Any:
        self.calls["bdcert_code_tables"].append({"edition": edition})
        if edition == "national-2024":
            return NATIONAL_2024.override("recorded-2024")
        return None

    @hookimpl
    def bdcert_certificate_event(self, event: Any) -> None:
        self.calls["bdcert_certificate_event"].append({"event": event})


def test_every_hook_is_exercised(workspace: Any, timeline: list[dict[str, Any]]) -> None:
    config = workspace.path / "bdcert.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'plugins = ["log"]', 'plugins = ["log", "memory"]'
        ),
        encoding="utf-8",
    )
    hooks = Hooks()
    recorder = Recorder()
    hooks.pm.register(recorder)
    with Registry.open(workspace.path, hooks=hooks) as registry:
        assert registry.codes.edition == "recorded-2024"
        principal = registry.authenticate({"operator": "platform"})
        registry.push(timeline[0], principal=principal)
        registry.push(timeline[13], principal=principal)  # supersedes the first
    for name in HOOK_NAMES:
        assert recorder.calls[name], f"{name} was never called"
    kinds = [c["event"].kind for c in recorder.calls["bdcert_certificate_event"]]
    assert kinds == ["issued", "issued", "superseded"]
    assert [e.kind for e in recorder.notified] == kinds
    assert Path(workspace.path).is_dir()
