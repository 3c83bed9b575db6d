"""bdcert.config's one check for unknown settings: one message format naming every bad key."""

from __future__ import annotations

import pytest

from bdcert.audit import AuditSettings
from bdcert.config import Workspace, check_settings, unknown_settings
from bdcert.errors import ConfigurationError
from bdcert.holders import DownloadPolicy


def test_every_unknown_key_is_named_with_its_table_and_the_known_ones() -> None:
    assert unknown_settings(
        "seal.authorities.510100", {"key": 1, "cert": 2, "kee": 3}, {"cert"}
    ) == [
        "seal.authorities.510100.kee is not a known setting (known: cert)",
        "seal.authorities.510100.key is not a known setting (known: cert)",
    ]
    assert unknown_settings("", ["x"], ()) == ["[x] is not a known setting (known: none)"]
    assert unknown_settings("audit", {"authority": "510100"}, ("authority",)) == []


def test_check_settings_raises_them_all() -> None:
    with pytest.raises(ConfigurationError, match=r"^t\.a is not .*; t\.b is not"):
        check_settings("t", {"a": 1, "b": 2}, ())


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (lambda: AuditSettings.from_table({"every": 1}), "audit.every is not a known setting"),
        (
            lambda: DownloadPolicy.from_settings({"max": 1}),
            "self_download.max is not a known setting",
        ),
    ],
)
def test_sdk_tables_use_it(read: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        read()  # type: ignore[operator]


def test_the_workspace_file_names_unknown_tables_and_keys(tmp_path: object) -> None:
    from pathlib import Path

    directory = Path(str(tmp_path))
    (directory / "bdcert.toml").write_text('[bdcert]\nformat = "pdf"\n[stray]\nx = 1\n')
    with pytest.raises(ConfigurationError) as raised:
        Workspace.load(directory)
    message = str(raised.value)
    assert "bdcert.format is not a known setting" in message
    assert "[stray] is not a known setting" in message
