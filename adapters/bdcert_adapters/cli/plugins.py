"""``bdcert plugins``: installed plugins and the active choice for each hook."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from bdcert_adapters.cli.common import add_command, echo, load_workspace, print_table


def register(subparsers: Any) -> None:
    c = add_command(
        subparsers, "plugins", "list installed plugins and the active choice for each hook"
    )
    c.set_defaults(func=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    from bdcert.errors import BdcertError
    from bdcert.plugins import Hooks

    hooks = Hooks()
    ws = None
    with contextlib.suppress(BdcertError):  # plugins are listed even without a workspace
        ws = load_workspace(args)
    rows = []
    for label, registry, key, default in (
        ("storage", hooks.storage(), "storage", "sql"),
        ("seal", hooks.seal_providers(), "seal", "software"),
        ("identity", hooks.identity_providers(), "identity", "local"),
        ("notifiers", hooks.notifiers(), "notifiers", None),
    ):
        if ws is None:
            active = "(no workspace)"
        elif key == "notifiers":
            active = ", ".join(ws.table(key).get("plugins", ["log"]))
        else:
            active = str(ws.table(key).get("plugin", default))
        rows.append((label, ", ".join(registry.names()), active))
    columns = ("hook", "installed", "active")
    print_table("bdcert plugins", columns, rows, column_options={c: {} for c in columns})
    for name, module in hooks.plugin_names().items():
        echo(f"  {name}: {module}")
    return 0
