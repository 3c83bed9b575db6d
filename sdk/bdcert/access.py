"""Access control (rule articles 11, 16, 17): which principal may do what, for which authority.

Roles: ``platform`` (the provincial platform: every authority), ``registrar`` (one authority,
``Principal.authority``), ``auditor`` (read everything, change nothing), ``sharing_party`` (banks and
agencies under a sharing agreement: read certificates), ``holder`` (verify).
"""

from __future__ import annotations

from bdcert.errors import PermissionDenied
from bdcert.model import Principal

__all__ = ["ACTIONS", "authorize"]

#: action -> roles allowed; ``registrar`` only for its own authority.
ACTIONS: dict[str, frozenset[str]] = {
    "issue": frozenset({"platform", "registrar"}),
    "read": frozenset({"platform", "registrar", "auditor", "sharing_party"}),
    "audit": frozenset({"platform", "auditor"}),
    "verify": frozenset({"platform", "registrar", "auditor", "sharing_party", "holder"}),
    "operate": frozenset({"platform"}),  # re-deliver notifications, maintenance
}


def authorize(principal: Principal, action: str, authority_code: str | None = None) -> None:
    """Allow or refuse ``action`` on ``authority_code``'s records.

    :raises PermissionDenied: naming the principal, the action and the authority.
    :raises KeyError: for an unknown action (a programming error).
    """
    allowed = ACTIONS[action]
    roles = principal.roles & allowed
    if not roles:
        raise PermissionDenied(
            f"{principal.name} (roles: {', '.join(sorted(principal.roles)) or 'none'}) "
            f"may not {action}"
        )
    if (
        roles == {"registrar"}
        and authority_code is not None
        and principal.authority != authority_code
    ):
        raise PermissionDenied(
            f"{principal.name} is a registrar of {principal.authority}, not of {authority_code}; "
            f"may not {action} there"
        )
