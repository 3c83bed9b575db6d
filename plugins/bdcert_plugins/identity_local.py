"""Local identity provider: named operators with roles, listed in the workspace file.

Settings (``[identity]`` with ``plugin = "local"``)::

    [identity.operators.clerk01]
    roles = ["registrar"]
    authority = "510100"

    [identity.operators.wang]                  # a holder: sees their own certificates in full
    roles = ["holder"]
    id_number = "510104198503120176"          # 证件号; a lower-case x is read as X

``authenticate({"operator": "clerk01"})`` returns that principal. This is for embedded and demo
use, where the host system has already authenticated its user (rule article 11).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bdcert.access import ACTIONS
from bdcert.config import check_settings, unknown_settings
from bdcert.errors import ConfigurationError, IdentityError
from bdcert.hookspecs import hookimpl
from bdcert.model import Principal

KNOWN_ROLES = frozenset().union(*ACTIONS.values())


class LocalIdentityProvider:
    """Maps operator names to principals. :raises ConfigurationError: for bad settings."""

    name = "local"

    def __init__(self, operators: Mapping[str, Principal]) -> None:
        self.operators = dict(operators)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], workspace: Path) -> LocalIdentityProvider:
        check_settings("identity", settings, ("operators",))
        operators = {}
        problems = []
        for name, spec in dict(settings.get("operators", {})).items():
            if not isinstance(spec, Mapping):
                problems.append(f"operators.{name} must be a table")
                continue
            known = ("roles", "authority", "id_number")
            problems.extend(unknown_settings(f"identity.operators.{name}", spec, known))
            roles = frozenset(spec.get("roles", []))
            bad_roles = sorted(roles - KNOWN_ROLES)
            if bad_roles:
                problems.append(f"operators.{name}.roles: unknown {', '.join(bad_roles)}")
            if "registrar" in roles and not spec.get("authority"):
                problems.append(f"operators.{name}: a registrar needs an authority")
            authority = spec.get("authority")
            id_number = spec.get("id_number")
            if id_number is not None and (not isinstance(id_number, str) or not id_number.strip()):
                problems.append(f"operators.{name}.id_number must be a 证件号 string")
                id_number = None
            operators[name] = Principal(
                name, roles, str(authority) if authority else None, id_number=id_number
            )
        if problems:
            raise ConfigurationError("identity.local: " + "; ".join(problems))
        return cls(operators)

    def authenticate(self, credentials: Mapping[str, str]) -> Principal:
        name = credentials.get("operator")
        if not name or name not in self.operators:
            raise IdentityError(f"unknown operator {name!r}")
        return self.operators[name]

    def __repr__(self) -> str:
        return f"LocalIdentityProvider(operators={sorted(self.operators)})"


@hookimpl
def bdcert_register_identity_providers(register: Any) -> None:
    register("local", LocalIdentityProvider.from_settings)
