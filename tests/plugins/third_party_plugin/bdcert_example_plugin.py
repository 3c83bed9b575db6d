"""A third-party notifier: appends each certificate event as a JSON line to a file.

Workspace settings::

    [notifiers]
    plugins = ["log", "jsonl"]
    [notifiers.jsonl]
    path = "events.jsonl"
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bdcert.errors import ConfigurationError
from bdcert.hookspecs import hookimpl


class JsonlNotifier:
    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path

    def notify(self, event: Any) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"event": event.kind, "number": event.number}, ensure_ascii=False))
            fh.write("\n")


def _factory(settings: Any, workspace: Path) -> JsonlNotifier:
    if set(settings) - {"path"}:
        raise ConfigurationError(
            f"notifiers.jsonl: unknown settings {sorted(set(settings) - {'path'})}"
        )
    return JsonlNotifier(workspace / settings.get("path", "events.jsonl"))


@hookimpl
def bdcert_register_notifiers(register: Any) -> None:
    register("jsonl", _factory)
