"""Workspace configuration: every misspelt table, key or plugin name is an error naming it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bdcert.errors import ConfigurationError
from bdcert.lifecycle import Registry


def _edit(workspace: Any, old: str, new: str) -> None:
    config = workspace.path / "bdcert.toml"
    text = config.read_text(encoding="utf-8")
    assert old in text
    config.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('plugin = "sql"', 'plugin = "sqll"', "'sqll'"),
        ('plugin = "software"', 'plugin = "hsm9"', "'hsm9'"),
        ('plugin = "local"', 'plugin = "ldap"', "'ldap'"),
        ('plugins = ["log"]', 'plugins = ["lgo"]', "'lgo'"),
        ('url = "', 'ulr = "', "ulr"),
        (
            'default_operator = "platform"',
            'default_operater = "platform"',
            "bdcert.default_operater",
        ),
        ("[identity]", "[identiti]", "[identiti]"),
        ('plugins = ["log"]', 'plugins = ["log"]\n\n[notifiers.webhook]\nurl = "x"', "webhook"),
    ],
)
def test_misspelt_settings_are_named(workspace: Any, old: str, new: str, named: str) -> None:
    _edit(workspace, old, new)
    with pytest.raises(ConfigurationError, match=re.escape(named)):
        Registry.open(workspace.path).close()


def test_missing_workspace_says_how_to_make_one(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError, match="bdcert init --demo"):
        Registry.open(tmp_path / "nowhere")
