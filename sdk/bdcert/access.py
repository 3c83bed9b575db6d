"""Access control (rule articles 11, 16, 17): which principal may do what, for which authority.

Roles: ``platform`` (the provincial platform: every authority; adds and revokes sharing
agreements), ``registrar`` (one authority, ``Principal.authority``), ``auditor`` (read everything,
change nothing), ``sharing_party`` (banks and agencies: certificate data only through an active
sharing agreement, :mod:`bdcert.sharing`, never by plain ``read``; article 16), ``holder`` (verify;
read in full only their own certificates, those listing ``Principal.id_number`` among their
权利人; articles 13, 14).
"""

from __future__ import annotations

import re

import attrs

from bdcert.errors import PermissionDenied
from bdcert.model import Certificate, FaceItem, Party, Principal

__all__ = [
    "ACTIONS",
    "FULL_VIEW_ROLES",
    "authorize",
    "holds",
    "mask_id_number",
    "mask_name",
    "redact",
]

#: action -> roles allowed; ``registrar`` only for its own authority.
ACTIONS: dict[str, frozenset[str]] = {
    "issue": frozenset({"platform", "registrar"}),
    "read": frozenset({"platform", "registrar", "auditor", "holder"}),  # holder: own only
    "audit": frozenset({"platform", "auditor"}),
    "verify": frozenset({"platform", "registrar", "auditor", "sharing_party", "holder"}),
    "operate": frozenset({"platform"}),  # re-deliver notifications, maintenance
    "share": frozenset({"sharing_party"}),  # under an active agreement (bdcert.sharing)
    "manage_agreements": frozenset({"platform"}),  # add and revoke sharing agreements
    "list_agreements": frozenset({"platform", "auditor", "sharing_party"}),  # party: its own
}


#: How a denial names an action whose key is not plain English.
_ACTION_WORDS = {
    "operate": "operate the system (re-deliver notifications, seal audit checkpoints)",
    "share": "receive shared certificate data",
    "manage_agreements": "add or revoke sharing agreements",
    "list_agreements": "list sharing agreements",
}


def holds(principal: Principal | None, certificate: Certificate) -> bool:
    """True when ``principal`` is a ``holder`` whose ``id_number`` is one of the certificate's
    权利人 (compared in canonical form: a lower-case ``x`` is the same person as ``X``)."""
    if principal is None or "holder" not in principal.roles or not principal.id_number:
        return False
    return any(p.id_number.strip().upper() == principal.id_number for p in certificate.holders)


def authorize(
    principal: Principal,
    action: str,
    authority_code: str | None = None,
    *,
    certificate: Certificate | None = None,
) -> None:
    """Allow or refuse ``action`` on ``authority_code``'s records (rule articles 11, 17).

    Any one role of the principal that allows the action suffices: ``platform`` and ``auditor``
    everywhere, ``registrar`` for its own authority only, ``holder`` (for ``read``) only for a
    ``certificate`` it :func:`holds`.

    :param certificate: the certificate acted on, when there is one (a holder's read needs it).
    :raises PermissionDenied: naming the principal, the action and the authority.
    :raises KeyError: for an unknown action (a programming error).
    """
    allowed = ACTIONS[action]
    roles = principal.roles & allowed
    if not roles:
        raise PermissionDenied(
            f"{principal.name} (roles: {', '.join(sorted(principal.roles)) or 'none'}) "
            f"may not {_ACTION_WORDS.get(action, action)}"
        )
    reasons = []
    for role in sorted(roles):
        if role == "registrar":
            if authority_code is None or principal.authority == authority_code:
                return
            reasons.append(
                f"{principal.name} is a registrar of {principal.authority}, not of "
                f"{authority_code}; may not {action} there"
            )
        elif role == "holder" and action == "read":
            if certificate is not None and holds(principal, certificate):
                return
            what = certificate.number if certificate is not None else "this"
            reasons.append(
                f"{principal.name} is not a holder (权利人) of {what} certificate; a holder "
                f"may {action} only their own certificates"
            )
        else:
            return
    raise PermissionDenied("; ".join(reasons))


#: Roles that see a certificate's personal data in full when they look it up by number or token.
FULL_VIEW_ROLES = frozenset({"platform", "registrar", "auditor"})
_PERSONAL_FACE_ITEMS = ("qlr", "ywr", "gyqk")


def mask_name(name: str) -> str:
    """``王晓明`` -> ``王*明``; ``李红`` -> ``李*``; organisations keep their name."""
    if len(name) > 6 or any(w in name for w in ("公司", "银行", "中心", "合作社", "政府", "局")):
        return name
    if len(name) <= 2:
        return name[:1] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(number: str) -> str:
    """Keep the first 4 and last 4 characters: ``5101**********0176``."""
    return number[:4] + "*" * max(len(number) - 8, 0) + number[-4:] if len(number) > 8 else "****"


def _mask_parties(value: str) -> str:
    """Mask every name of a party list as the face prints it: ``王晓明、刘芳`` or, for 共有情况,
    ``按份共有：赵磊占60%，孙丽占40%`` (co-owners who hold no certificate of their own too)."""
    head, sep, rest = value.rpartition("：")
    if not sep and value in ("单独所有", "共同共有", "按份共有", "其它共有"):
        return value  # 共有情况 of a sole owner names nobody
    parts = re.split(r"([，、])", rest)
    masked = []
    for part in parts:
        m = re.fullmatch(r"(.+?)(占.+)?", part) if part not in ("，", "、") else None
        masked.append(mask_name(m[1]) + (m[2] or "") if m else part)
    return head + sep + "".join(masked)


def redact(
    certificate: Certificate, principal: Principal | None, *, face_shown: bool = False
) -> Certificate:
    """The certificate as ``principal`` may see it (rule articles 14, 16): full for the platform,
    registrars, auditors and a holder looking at their own certificate (:func:`holds`);
    otherwise holders' and obligors' names masked and ID numbers cut.

    :param face_shown: the asker holds the sealed file, whose face prints the names: keep the
        face, mask only what the file does not show (the 权利人's full ID numbers).
    """
    if principal is not None and (
        principal.roles & FULL_VIEW_ROLES or holds(principal, certificate)
    ):
        return certificate
    face = tuple(
        FaceItem(i.key, i.label, _mask_parties(i.value))
        if i.key in _PERSONAL_FACE_ITEMS and not face_shown
        else i
        for i in certificate.face
    )
    holders = tuple(
        Party(
            p.name if face_shown else mask_name(p.name),
            p.id_type,
            mask_id_number(p.id_number),
            p.share,
        )
        for p in certificate.holders
    )
    return attrs.evolve(certificate, face=face, holders=holders)
