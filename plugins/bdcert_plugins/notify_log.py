"""Log notifier: writes each certificate event as one JSON line to the ``bdcert.events`` logger.

Settings (``[notifiers.log]``): ``level`` (``INFO`` by default).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bdcert.config import check_settings
from bdcert.errors import ConfigurationError
from bdcert.hookspecs import hookimpl
from bdcert.model import CertificateEvent

logger = logging.getLogger("bdcert.events")


class LogNotifier:
    name = "log"

    def __init__(self, level: int = logging.INFO) -> None:
        self.level = level

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], workspace: Path) -> LogNotifier:
        check_settings("notifiers.log", settings, ("level",))
        level = logging.getLevelName(str(settings.get("level", "INFO")).upper())
        if not isinstance(level, int):
            raise ConfigurationError(
                f"notifiers.log.level: {settings.get('level')!r} is not a level"
            )
        return cls(level)

    def notify(self, event: CertificateEvent) -> None:
        logger.log(
            self.level,
            json.dumps(
                {
                    "event": event.kind,
                    "number": event.number,
                    "ywh": event.business_number,
                    "djjg": event.authority_code,
                    "at": event.at.isoformat(),
                    **dict(event.details),
                },
                ensure_ascii=False,
                default=str,
            ),
        )


@hookimpl
def bdcert_register_notifiers(register: Any) -> None:
    register("log", LogNotifier.from_settings)
