"""Access control (rule articles 11, 16, 17): which principal may do what, for which authority.

Roles: ``platform`` (the provincial platform: every authority; adds and revokes sharing
agreements), ``registrar`` (one authority, ``Principal.authority``), ``auditor`` (read everything,
change nothing), ``sharing_party`` (banks and agencies: certificate data only through an active
sharing agreement, :mod:`bdcert.sharing`, never by plain ``read``; article 16), ``holder`` (verify;
read in full only their own certificates, those listing ``Principal.id_number`` among their
权利人; articles 13, 14).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from bdcert.errors import PermissionDenied
from bdcert.model import Certificate, FaceItem, Party, Principal

__all__ = [
    "ACTIONS",
    "FULL_VIEW_ROLES",
    "ORGANISATION_ID_TYPES",
    "authorize",
    "full_view",
    "holds",
    "is_organisation",
    "mask_id_number",
    "mask_name",
    "mask_text",
    "personal_names",
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
    "unlock_download": frozenset({"platform", "registrar"}),  # a clerk lifts a self-download lock
    "deposit": frozenset({"platform", "registrar"}),  # 归集: a city's own sealed certificates
    "witness_read": frozenset({"platform", "auditor", "registrar"}),  # checkpoints to witness
    "witness": frozenset({"platform", "registrar"}),  # hand in a countersignature
}


#: How a denial names an action whose key is not plain English.
_ACTION_WORDS = {
    "operate": "operate the system (re-deliver notifications, seal audit checkpoints)",
    "share": "receive shared certificate data",
    "manage_agreements": "add or revoke sharing agreements",
    "list_agreements": "list sharing agreements",
    "unlock_download": "unlock holders' self-download",
    "deposit": "deposit certificates sealed by a city, or report their later changes",
    "witness_read": "read the audit checkpoints to witness",
    "witness": "hand in countersignatures of audit checkpoints",
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


#: Roles that see every certificate's personal data in full; a ``registrar`` sees its own
#: authority's certificates in full (:func:`full_view`), a holder their own (:func:`holds`).
FULL_VIEW_ROLES = frozenset({"platform", "registrar", "auditor"})
#: Face items that list parties (权利人, 义务人, 共有情况) as the face prints them.
_PERSONAL_FACE_ITEMS = ("qlr", "ywr", "gyqk")
#: Face items holding codes, dates, numbers or pictures only: never free text about persons.
_STRUCTURED_FACE_ITEMS = frozenset({"zh", "djjg", "fzrq", "qfsj", "bdcdyh", "mj", "syqx", "ft"})

#: 证件种类 codes of organisations, whose names are not personal data: 6 组织机构代码 and 7 营业执照
#: (ZJZL, the registration database's dictionary), 001 统一社会信用代码 and 099 其他法人证件
#: (GB/T 36903 Annex A). ``99``/``999`` (其它) say nothing: the name decides (:func:`is_organisation`).
ORGANISATION_ID_TYPES = frozenset({"6", "7", "001", "099"})
_UNKNOWN_ID_TYPES = frozenset({"", "99", "999"})
_ORGANISATION_WORDS = (
    "公司",
    "银行",
    "中心",
    "合作社",
    "政府",
    "局",
    "委员会",
    "法院",
    "集团",
    "学校",
    "医院",
    "研究所",
    "协会",
    "基金会",
    "事务所",
    "分行",
    "支行",
)


def is_organisation(name: str, id_type: str | None = None) -> bool:
    """True for an organisation's name: by its 证件种类 where that is known
    (:data:`ORGANISATION_ID_TYPES`), else (``None``, ``99``/``999`` 其它) by words organisations'
    names carry (公司, 银行, 法院, …), whatever the name's length."""
    if id_type is not None and id_type.strip() not in _UNKNOWN_ID_TYPES:
        return id_type.strip() in ORGANISATION_ID_TYPES
    return any(w in name for w in _ORGANISATION_WORDS)


def mask_name(name: str, id_type: str | None = None) -> str:
    """A person's name masked for display (rule article 16, information protection), for every
    length and script: the first and (from three characters on) the last character kept, every
    other character ``*``: ``王晓明`` -> ``王*明``, ``李红`` -> ``李*``, ``阿卜杜拉·艾买提`` ->
    ``阿******提``, ``John Smith`` -> ``J********h``; a one-character name is ``*``.
    Organisations (:func:`is_organisation`, by ``id_type`` where known) keep their name.

    :param id_type: the party's 证件种类 (ZJZL) code, when known.
    """
    name = name.strip()
    if not name or is_organisation(name, id_type):
        return name
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(number: str, id_type: str | None = None) -> str:
    """An ID number (证件号) of any 证件种类 masked so that no full number is shown: at least six
    characters and more than half of them are ``*``, the rest split between the start and the
    end: 18-character 身份证 and 统一社会信用代码 keep 4 + 4 (``5101**********0176``), a
    15-character one 3 + 3, a 9-character 护照 or 组织机构代码 1 + 2 (``E******78``), six
    characters or fewer are all ``*``. The length is kept.

    :param id_type: the 证件种类 code (accepted for symmetry with :func:`mask_name`; the rule
        holds for every type, national table and GB/T 36903 alike).
    """
    number = number.strip()
    n = len(number)
    hidden = max(6, math.ceil(n * 0.55))
    if hidden >= n:
        return "*" * n
    shown = n - hidden
    head = shown // 2
    return number[:head] + "*" * hidden + number[n - (shown - head) :]


def _mask_parties(value: str, known: Mapping[str, str] | None = None) -> str:
    """Mask every name of a party list as the face prints it: ``王晓明、刘芳`` or, for 共有情况,
    ``按份共有：赵磊占60%，孙丽占40%`` (co-owners who hold no certificate of their own too).

    :param known: masked forms of names whose 证件种类 is known (organisations kept).
    """
    head, sep, rest = value.rpartition("：")
    if not sep and value in ("单独所有", "共同共有", "按份共有", "其它共有"):
        return value  # 共有情况 of a sole owner names nobody
    parts = re.split(r"([，、])", rest)
    masked = []
    for part in parts:
        m = re.fullmatch(r"(.+?)(占.+)?", part) if part not in ("，", "、") else None
        if m:
            name = m[1]
            masked.append((known or {}).get(name.strip(), mask_name(name)) + (m[2] or ""))
        else:
            masked.append(part)
    return head + sep + "".join(masked)


def _party_names(value: str) -> list[str]:
    """The names a party-list face item prints (see :func:`_mask_parties`)."""
    _, _, rest = value.rpartition("：")
    if rest in ("单独所有", "共同共有", "按份共有", "其它共有"):
        return []
    return [re.sub(r"占.+$", "", p).strip() for p in re.split(r"[，、]", rest) if p.strip()]


#: Numbers that identify a person wherever they stand in free text: 18- and 15-digit resident
#: IDs (GB 11643), passports and 港澳台 permits (one or two letters and 7-10 digits), mobile
#: phone numbers.
_ID_PATTERN = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{17}[\dXx]|\d{15}|[A-Za-z]{1,2}\d{7,10}|1[3-9]\d{9})(?![0-9A-Za-z])"
)
#: A labelled list of persons in free text: ``共有人：陈建国、刘芳``, ``原权利人:张三``.
_LABELLED = re.compile(r"(人[：:]\s*)([^；;。\n（(]+)")
#: A person named after a label ending in 人 without a colon (``联系人韩梅梅``, ``代理人 韩梅梅``):
#: 2 to 4 CJK characters standing alone (``申请人主张…`` is a sentence, not a name), unless they
#: start with a word that says what about the person follows (``共有人姓名由…更正为…``).
_UNCOLONED = re.compile(
    r"((?:联系|代理|委托|受托|申请|共有|监护|继承|见证|经办|承租|出租|担保|抵押|被申请)人)"
    r"([ \t\u3000]*)"
    r"(?!姓名|名称|身份|证件|信息|地址|电话|住所|签字|签章|变更|更正|同意|主张|提供|持有|已|未|均|应)"
    r"([\u4e00-\u9fff]{2,4})(?![\u4e00-\u9fff*])"
)


def mask_text(text: str, names: Mapping[str, str]) -> str:
    """Free text (附记, 其他, 权利其他状况, a cancellation reason) with personal data masked:
    every name in ``names`` (name -> its mask, longest first) wherever it stands, also written
    with blanks inside or in full-width and other compatibility forms (``李 雷``, compared after
    NFKC without whitespace), ID and phone numbers of the shapes of :data:`_ID_PATTERN`, every
    item of a list labelled ``…人：`` (``共有人：陈建国、刘芳``), organisations kept
    (:func:`is_organisation`), and a name of 2 to 4 Han characters standing alone after a label
    such as ``联系人`` or ``代理人`` without a colon (``联系人韩梅梅``)."""
    for name in sorted(names, key=len, reverse=True):
        if len(name) >= 2 and names[name] != name:
            text = _replace_name(text, name, names[name])
    text = _ID_PATTERN.sub(lambda m: mask_id_number(m[0]), text)
    text = _UNCOLONED.sub(lambda m: m[1] + m[2] + _mask_item(m[3]), text)

    def labelled(m: re.Match[str]) -> str:
        items = re.split(r"([、，,和及])", m[2])
        return m[1] + "".join(
            item if item in "、，,和及" or "*" in item else _mask_item(item) for item in items
        )

    return _LABELLED.sub(labelled, text)


def _replace_name(text: str, name: str, mask: str) -> str:
    """``text`` with every occurrence of ``name`` replaced by ``mask``, also where it is written
    with blanks inside (``李 雷``) or in full-width or other compatibility forms: compared after
    NFKC without whitespace, the original span replaced."""
    target = "".join(unicodedata.normalize("NFKC", name).split())
    if len(target) < 2:
        return text
    flat: list[str] = []
    owners: list[int] = []  # the index in text of each character of flat
    for i, ch in enumerate(text):
        for n in unicodedata.normalize("NFKC", ch):
            if not n.isspace():
                flat.append(n)
                owners.append(i)
    joined = "".join(flat)
    out, last, pos = [], 0, 0
    while (k := joined.find(target, pos)) >= 0:
        start, end = owners[k], owners[k + len(target) - 1] + 1
        if start >= last:
            out += [text[last:start], mask]
            last = end
        pos = k + len(target)
    return "".join([*out, text[last:]])


def _mask_item(item: str) -> str:
    stripped = item.strip()
    if not stripped:
        return item
    return item.replace(stripped, mask_name(stripped))


def personal_names(certificate: Certificate, related: Iterable[Certificate] = ()) -> dict[str, str]:
    """Every name the register knows for a certificate, with its mask: its 权利人 (with their
    证件种类) and everyone its party face items print (义务人, co-owners of 共有情况), and the
    same of ``related`` certificates (those of the same 不动产单元: earlier owners, a name
    before its correction).
    """
    names: dict[str, str] = {}
    for cert in (*related, certificate):
        for item in cert.face:
            if item.key in _PERSONAL_FACE_ITEMS:
                for name in _party_names(item.value):
                    names.setdefault(name, mask_name(name))
        for p in cert.holders:
            names[p.name.strip()] = mask_name(p.name, p.id_type)
    return names


def full_view(principal: Principal | None, certificate: Certificate) -> bool:
    """True when ``principal`` sees ``certificate``'s personal data in full: the platform, an
    auditor, a registrar of the certificate's own authority (one of another authority sees no
    more than the public, as :func:`authorize` refuses it the read), a holder of their own."""
    if principal is None:
        return False
    if principal.roles & {"platform", "auditor"}:
        return True
    if "registrar" in principal.roles and principal.authority == certificate.authority_code:
        return True
    return holds(principal, certificate)


#: Certificate fields no sharing agreement grants (:func:`redact`).
_NEVER_SHARED = frozenset({"token", "verification_url", "business_number", "pdf_sha256"})


def redact(
    certificate: Certificate,
    principal: Principal | None,
    *,
    face_shown: bool = False,
    grant: Collection[str] | None = None,
    related: Iterable[Certificate] = (),
) -> Certificate:
    """The certificate as ``principal`` may see it (rule articles 14, 16): full for
    :func:`full_view`; otherwise every name masked (:func:`mask_name`) in the party items and in
    every free text (:func:`mask_text`: 附记, 其他, 权利其他状况, 证明权利或事项, 坐落, the
    cancellation reason), ID numbers cut (:func:`mask_id_number`).

    :param face_shown: the asker holds the sealed file, whose face prints the names: keep the
        face, mask only what the file does not show (the 权利人's full ID numbers).
    :param grant: the fields a sharing party's agreement grants (:data:`bdcert.sharing.FIELDS`;
        empty without an active one): face items and the fields ``holders``, ``restrictions``,
        ``unit_numbers`` and ``licence_id`` not granted are left out (empty), and so, whatever
        the grant, are the QR ``token`` and ``verification_url`` (a bearer secret that opens the
        anonymous lookup), the 业务号 ``business_number`` and ``pdf_sha256`` (no agreement grants
        them), and ``superseded_by`` and ``cancel_reason`` unless ``status`` is granted: no path
        shows a sharing party more than its grant (rule article 16). ``number``, ``kind``,
        ``status`` and ``issued_at`` cannot be empty: :attr:`bdcert.model.Verdict.granted_fields`
        says which fields count (the CLI prints only those).
    :param related: certificates whose parties' names are masked too where they appear
        (:func:`personal_names`).
    """
    if full_view(principal, certificate):
        return certificate
    names = personal_names(certificate, related)
    face = tuple(
        i
        if face_shown or i.key in _STRUCTURED_FACE_ITEMS
        else FaceItem(
            i.key,
            i.label,
            _mask_parties(i.value, names)
            if i.key in _PERSONAL_FACE_ITEMS
            else mask_text(i.value, names),
        )
        for i in certificate.face
        if grant is None or i.key in grant
    )
    holders = tuple(
        Party(
            p.name if face_shown else mask_name(p.name, p.id_type),
            p.id_type,
            mask_id_number(p.id_number, p.id_type),
            p.share,
        )
        for p in certificate.holders
    )
    changes: dict[str, Any] = {"face": face, "holders": holders}
    if certificate.cancel_reason is not None:
        changes["cancel_reason"] = mask_text(certificate.cancel_reason, names)
    if grant is not None:
        for field, empty in (
            ("holders", ()),
            ("restrictions", ()),
            ("unit_numbers", ()),
            ("licence_id", ""),
            ("token", ""),
            ("verification_url", ""),
            ("business_number", ""),
            ("pdf_sha256", ""),
            ("superseded_by", ()),
            ("cancel_reason", None),
        ):
            if field not in grant or field in _NEVER_SHARED:
                changes[field] = empty
        if "status" in grant:  # the status's details come with it
            changes["superseded_by"] = certificate.superseded_by
            if certificate.cancel_reason is not None:
                changes["cancel_reason"] = mask_text(certificate.cancel_reason, names)
    return attrs.evolve(certificate, **changes)
