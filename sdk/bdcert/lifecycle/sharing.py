"""Sharing agreements (rule article 16): banks and agencies get certificate data only under a
signed agreement, only the fields it grants, and every access is logged with the agreement used.

An agreement is data (:class:`SharingAgreement`), added and revoked by the provincial platform
(role ``platform``; :func:`parse_agreement` checks the input). A sharing party (role
``sharing_party``, its principal name is the agreement's ``party``) asks for a certificate by
number (:meth:`bdcert.lifecycle.Registry.share`); it gets a :class:`SharedCertificate` holding the
granted fields only. An agreement is *active* from ``valid_from`` to ``valid_to`` (both inclusive,
aware) unless revoked; it must also *cover* the certificate's authority (``authorities``). An
expired, not yet valid, revoked, foreign (another party's), unknown or not covering agreement is
a :class:`~bdcert.errors.PermissionDenied`, written to the audit log as a ``deny`` record naming
the agreement(s) considered; a granted access is a ``share`` record naming the agreement used.

**Fields an agreement can grant** (``fields``; any mix, in the order the answer lists them):

================  ================================================================================
``number``        the certificate number (证号), a string
``kind``          ``property_certificate`` (不动产权证书) or ``registration_proof`` (不动产登记证明)
``licence_id``    the e-licence identifier (电子证照标识)
``authority``     the issuing authority's code (登记机构 ``djjg``)
``issued_at``     the sealing time, ISO 8601 with +08:00
``status``        ``{"status": "valid" | "superseded" | "cancelled", "restricted": bool (a
                  seizure in force), "superseded_by": [numbers], "cancel_reason": str | None}``
``restrictions``  seizures (查封): ``[{"cfjg", "cfwh", "cflx", "start", "end"}]`` (dates ISO)
``holders``       权利人 with their ID: ``[{"mc", "zjzl", "zjh", "qlbl"}]``
``unit_numbers``  不动产单元号, a list of strings
``file``          not a value: the sealed PDF may be downloaded (文件下载, :func:`shared_file`,
                  each download with its purpose 申请事由 in the audit log)
face item keys    the item as printed on the face, a string: ``zh`` 证号, ``djjg`` 登记机构,
                  ``fzrq`` 登簿日期, ``qfsj`` 签发日期, ``qlr`` 权利人, ``gyqk`` 共有情况,
                  ``zl`` 坐落, ``bdcdyh`` 不动产单元号, ``qllx`` 权利类型, ``qlxz`` 权利性质,
                  ``yt`` 用途, ``mj`` 面积, ``syqx`` 使用期限, ``qlqtzk`` 权利其他状况, ``fj`` 附记,
                  ``ft`` 附图, ``zmsx`` 证明权利或事项, ``ywr`` 义务人, ``qt`` 其他 (an item the
                  certificate's kind does not print is ``null``)
================  ================================================================================

Unless the grant includes the 权利人 (``holders`` or ``qlr``), the names the register knows for
the certificate (:func:`bdcert.access.personal_names`, with those of the other certificates of
its 不动产单元) are masked in the free text shared: the cancellation reason of ``status`` and the
face items ``zl``, ``qlqtzk``, ``fj``, ``zmsx`` and ``qt`` (:func:`bdcert.access.mask_text`), as
lookup masks them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from bdcert.access import mask_text, personal_names
from bdcert.errors import NotFound, PermissionDenied, Problem, ValidationError
from bdcert.lifecycle.services import Services
from bdcert.model import CHINA_TZ, AuditEvent, Certificate, Principal
from bdcert.protocols import StorageTransaction
from bdcert.records import (  # moved to the values layer; re-exported here
    SharedCertificate,
    SharingAgreement,
)

__all__ = [
    "CERTIFICATE_FIELDS",
    "FACE_FIELDS",
    "FIELDS",
    "OPERATION_FIELDS",
    "SharedCertificate",
    "SharingAgreement",
    "active_grant",
    "granted_fields",
    "parse_agreement",
]

#: Named certificate fields an agreement can grant (see the module docstring for their shapes).
CERTIFICATE_FIELDS: tuple[str, ...] = (
    "number",
    "kind",
    "licence_id",
    "authority",
    "issued_at",
    "status",
    "restrictions",
    "holders",
    "unit_numbers",
)
#: Face items (by wire key) an agreement can grant, as printed (rule articles 5, 6).
FACE_FIELDS: tuple[str, ...] = (
    "zh",
    "djjg",
    "fzrq",
    "qfsj",
    "qlr",
    "gyqk",
    "zl",
    "bdcdyh",
    "qllx",
    "qlxz",
    "yt",
    "mj",
    "syqx",
    "qlqtzk",
    "fj",
    "ft",
    "zmsx",
    "ywr",
    "qt",
)
#: Operations (not data) an agreement can grant: ``file``, the sealed PDF itself (文件下载,
#: :func:`shared_file`); never a key of :func:`granted_fields`.
OPERATION_FIELDS: tuple[str, ...] = ("file",)
#: Every field an agreement can grant.
FIELDS: frozenset[str] = frozenset(CERTIFICATE_FIELDS + FACE_FIELDS + OPERATION_FIELDS)

#: Keys of an agreement as input (:func:`parse_agreement`).
INPUT_KEYS = frozenset(
    {"id", "party", "purpose", "authorities", "fields", "valid_from", "valid_to", "signed_on"}
)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}")


def parse_agreement(
    raw: Any,
    *,
    authorities: Mapping[str, Any],
    created_at: datetime,
    created_by: str,
) -> SharingAgreement:
    """Check an agreement given as a mapping (keys :data:`INPUT_KEYS`) and build it.

    ``id`` is optional (a random ``SA-…`` is made); ``valid_from`` and ``valid_to`` are ISO dates
    (``2025-01-01``: China time, from the start of the day / to its end) or aware datetimes (or
    ISO 8601 strings with an offset); ``signed_on`` is a date (ISO string or :class:`date`); all
    three must fall in the years :data:`FIRST_YEAR`-:data:`LAST_YEAR`, China time;
    ``authorities`` and ``fields`` are non-empty lists without repeats.

    :param authorities: the configured authorities by code; an agreement covers only these.
    :raises ValidationError: one error naming every bad field.
    """
    if not isinstance(raw, Mapping):
        raise ValidationError([Problem("", "an agreement must be a mapping")], subject="agreement")
    problems: list[Problem] = []

    def add(field: str, message: str) -> None:
        problems.append(Problem(field, message))

    for extra in sorted(set(raw) - INPUT_KEYS, key=str):
        add(str(extra), "is not a field of an agreement")
    agreement_id = raw.get("id")
    if agreement_id is None or agreement_id == "":
        agreement_id = f"SA-{secrets.token_hex(6)}"
    elif not isinstance(agreement_id, str) or not _ID.fullmatch(agreement_id):
        add("id", f"{agreement_id!r} must be 1-100 letters, digits or . _ : / - (not first)")
    texts = {}
    for key in ("party", "purpose"):
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            add(key, "is required (a non-blank string)")
        texts[key] = value.strip() if isinstance(value, str) else ""
    codes = _list(raw.get("authorities"), "authorities", add)
    for i, code in enumerate(codes):
        if code not in authorities:
            add(f"authorities[{i}]", f"{code!r} is not a configured registration authority")
    fields = _list(raw.get("fields"), "fields", add)
    for i, field in enumerate(fields):
        if field not in FIELDS:
            add(
                f"fields[{i}]",
                f"{field!r} is not a field an agreement can grant (known: "
                f"{', '.join(CERTIFICATE_FIELDS + FACE_FIELDS + OPERATION_FIELDS)})",
            )
    valid_from = _moment(raw.get("valid_from"), "valid_from", add, end_of_day=False)
    valid_to = _moment(raw.get("valid_to"), "valid_to", add, end_of_day=True)
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        add("valid_to", f"{valid_to.isoformat()} is not after valid_from {valid_from.isoformat()}")
    signed_on = _date(raw.get("signed_on"), "signed_on", add)
    if signed_on is not None and valid_to is not None and signed_on > valid_to.date():
        add("signed_on", f"{signed_on} is after the agreement ends ({valid_to.date()})")
    if problems:
        raise ValidationError(problems, subject=f"agreement {raw.get('id') or '(new)'}")
    assert valid_from is not None and valid_to is not None and signed_on is not None
    return SharingAgreement(
        id=str(agreement_id),
        party=texts["party"],
        purpose=texts["purpose"],
        authorities=tuple(codes),
        fields=tuple(fields),
        valid_from=valid_from,
        valid_to=valid_to,
        signed_on=signed_on,
        created_at=created_at,
        created_by=created_by,
    )


def _list(value: Any, key: str, add: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        add(key, "must be a non-empty list of strings")
        return []
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            add(f"{key}[{i}]", "must be a non-blank string")
        elif item.strip() in out:
            add(f"{key}[{i}]", f"{item!r} is listed twice")
        else:
            out.append(item.strip())
    return out


#: The years an agreement's dates may fall in, China time: none before the register's era, and a
#: margin below datetime's year 9999 so that a time stays representable at every UTC offset.
FIRST_YEAR, LAST_YEAR = 1949, 9998
_RANGE = f"must fall in the years {FIRST_YEAR}-{LAST_YEAR} (China time)"


def _date(value: Any, key: str, add: Any) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        day: date | None = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            day = None
    else:
        day = None
    if day is None:
        add(key, f"{value!r} is not a date YYYY-MM-DD")
        return None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        add(key, f"{day.isoformat()} {_RANGE}")
        return None
    return day


def _moment(value: Any, key: str, add: Any, *, end_of_day: bool) -> datetime | None:
    """An aware datetime in China time, in the years :data:`FIRST_YEAR`-:data:`LAST_YEAR`; a
    date is the start (or end) of that day in China time. A time that China time cannot hold
    (``9999-12-31T23:59:59-10:00``) is out of range too, never an :class:`OverflowError`."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            add(key, f"{value!r} is not a date YYYY-MM-DD or a time with an offset")
            return None
    moment: datetime | None = None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            add(key, f"{value.isoformat()} needs an offset, e.g. +08:00 (China time)")
            return None
        try:
            moment = value.astimezone(CHINA_TZ)
        except (OverflowError, ValueError):
            add(key, f"{value.isoformat()} {_RANGE}")
            return None
    elif isinstance(value, date):
        moment = datetime.combine(value, time.max if end_of_day else time.min, CHINA_TZ)
    if moment is None:
        add(key, "is required (a date YYYY-MM-DD or a time with an offset)")
        return None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        add(key, f"{value.isoformat()} {_RANGE}")
        return None
    return moment


def granted_fields(
    certificate: Certificate, fields: Sequence[str], at: datetime | None = None
) -> dict[str, Any]:
    """The values of ``fields`` (:data:`FIELDS`) of a certificate, as JSON data, in that order.

    :param at: the time whose seizures count for ``status.restricted`` (default: now).
    """
    c = certificate
    restricted = c.restricted_at(at or datetime.now(CHINA_TZ))
    named: dict[str, Any] = {
        "number": lambda: c.number,
        "kind": lambda: c.kind.value,
        "licence_id": lambda: c.licence_id,
        "authority": lambda: c.authority_code,
        "issued_at": lambda: c.issued_at.astimezone(CHINA_TZ).isoformat(),
        "status": lambda: {
            "status": c.status.value,
            # a seizure in force, said even when its details (restrictions) are not granted:
            # without it a bank would read "valid" where verify and lookup say RESTRICTED
            "restricted": restricted,
            "superseded_by": list(c.superseded_by),
            "cancel_reason": c.cancel_reason,
        },
        "restrictions": lambda: [
            {
                "cfjg": r.authority,
                "cfwh": r.document_number,
                "cflx": r.type,
                "start": None if r.start is None else r.start.isoformat(),
                "end": None if r.end is None else r.end.isoformat(),
            }
            for r in c.restrictions
        ],
        "holders": lambda: [
            {"mc": p.name, "zjzl": p.id_type, "zjh": p.id_number, "qlbl": p.share}
            for p in c.holders
        ],
        "unit_numbers": lambda: list(c.unit_numbers),
    }
    return {
        f: named[f]() if f in named else c.face_value(f)
        for f in fields
        if f not in OPERATION_FIELDS
    }


#: Fields that grant the 权利人's names: without one of them, the names in free text are masked.
NAMES_GRANTED = frozenset({"holders", "qlr"})
#: Free-text face items, which may mention persons (附记 ``共有人：…``, 其他, 坐落 …).
_FREE_TEXT_ITEMS = ("zl", "qlqtzk", "fj", "zmsx", "qt")


def masked_fields(fields: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """Shared ``fields`` with the free text masked (:func:`bdcert.access.mask_text`): the
    cancellation reason of ``status`` and the free-text face items granted."""
    out = dict(fields)
    status = out.get("status")
    if isinstance(status, dict) and isinstance(status.get("cancel_reason"), str):
        out["status"] = {**status, "cancel_reason": mask_text(status["cancel_reason"], names)}
    for key in _FREE_TEXT_ITEMS:
        if isinstance(out.get(key), str):
            out[key] = mask_text(out[key], names)
    return out


def unit_certificates(tx: StorageTransaction, cert: Certificate) -> list[Certificate]:
    """The other certificates, of any status, on the certificate's 不动产单元 (earlier owners,
    a name before its correction): their parties' names are masked too."""
    seen = {cert.number}
    out = []
    for unit in cert.unit_numbers:
        for other in tx.certificates_for_unit(unit, valid_only=False):
            if other.number not in seen:
                seen.add(other.number)
                out.append(other)
    return out


def active_grant(
    tx: StorageTransaction, party: str, authority: str, at: datetime
) -> frozenset[str]:
    """The fields a sharing party may see of a certificate of ``authority`` at ``at``: those of
    the agreement :meth:`bdcert.lifecycle.Registry.share` would use (active, covering the
    authority, the most recently signed), or none. Lookups and verifications of a sharing party
    show no more than this (rule article 16)."""
    chosen = choose_agreement(
        [a for a in tx.agreements(party) if a.state(at) == "active"], authority
    )
    return frozenset(chosen.fields) if chosen is not None else frozenset()


def refusal(
    tx: StorageTransaction,
    principal: Principal,
    number: str,
    now: datetime,
    action: str,
    authority: str | None,
    reasons: Sequence[str],
    details: Mapping[str, Any],
) -> PermissionDenied:
    """Log a refused sharing access to certificate ``number`` as a ``deny`` audit event (rule
    article 17) and return the refusal to raise.

    :param action: ``share`` (查询) or ``file`` (文件下载).
    :param authority: the certificate's 登记机构 code, or None when unknown.
    :param reasons: why, each a sentence (joined with "; " in the message).
    :param details: the event's further details (after ``action``, ``authority``, ``reason``).
    """
    what = f"share {number}" if action == "share" else f"download the file of {number}"
    denial = PermissionDenied(f"{principal.name} may not {what}: " + "; ".join(reasons))
    event = {"action": action, "authority": authority, "reason": str(denial), **details}
    tx.append_audit(AuditEvent("deny", principal.name, number, now, event))
    return denial


def choose_agreement(
    active: Sequence[SharingAgreement], authority: str | None
) -> SharingAgreement | None:
    """Of active agreements, the one used for ``authority``: covering it, signed last."""
    covering = [a for a in active if authority is not None and a.covers(authority)]
    return max(covering, key=lambda a: (a.signed_on, a.valid_from, a.id), default=None)


# -- the Registry's operations --------------------------------------------------------------


def add_agreement(services: Services, raw: Any, *, principal: Principal) -> SharingAgreement:
    """See :meth:`bdcert.lifecycle.Registry.add_agreement`."""
    subject = str(raw.get("id") or "(new)") if isinstance(raw, Mapping) else "(new)"
    services.authorize(principal, "manage_agreements", subject=subject)
    now = services.clock()
    agreement = parse_agreement(
        raw, authorities=services.authorities, created_at=now, created_by=principal.name
    )
    with services.storage.transaction() as tx:
        try:
            earlier = tx.get_agreement(agreement.id)
        except NotFound:
            earlier = None
        if earlier is not None:
            raise ValidationError(
                [Problem("id", f"agreement {agreement.id} already exists (party {earlier.party})")],
                subject=f"agreement {agreement.id}",
            )
        tx.add_agreement(agreement)
        tx.append_audit(
            AuditEvent(
                "agreement_add",
                principal.name,
                agreement.id,
                now,
                {
                    "party": agreement.party,
                    "purpose": agreement.purpose,
                    "authorities": list(agreement.authorities),
                    "fields": list(agreement.fields),
                    "valid_from": agreement.valid_from.isoformat(),
                    "valid_to": agreement.valid_to.isoformat(),
                    "signed_on": agreement.signed_on.isoformat(),
                },
            )
        )
    return agreement


def revoke_agreement(
    services: Services, agreement_id: str, *, reason: str, principal: Principal
) -> SharingAgreement:
    """See :meth:`bdcert.lifecycle.Registry.revoke_agreement`."""
    services.authorize(principal, "manage_agreements", subject=str(agreement_id))
    reason = required_text(
        reason, "reason", "why the agreement is revoked", subject=f"agreement {agreement_id}"
    )
    now = services.clock()
    with services.storage.transaction() as tx:
        agreement = tx.get_agreement(agreement_id)  # NotFound
        if agreement.revoked_at is not None:
            raise ValidationError(
                [
                    Problem(
                        "id",
                        f"agreement {agreement_id} was revoked on "
                        f"{agreement.revoked_at.isoformat()}",
                    )
                ],
                subject=f"agreement {agreement_id}",
            )
        revoked = tx.revoke_agreement(agreement_id, at=now, reason=reason, by=principal.name)
        tx.append_audit(
            AuditEvent(
                "agreement_revoke",
                principal.name,
                agreement_id,
                now,
                {"party": agreement.party, "reason": reason},
            )
        )
    return revoked


def list_agreements(
    services: Services, *, principal: Principal, party: str | None = None
) -> list[SharingAgreement]:
    """See :meth:`bdcert.lifecycle.Registry.agreements`."""
    services.authorize(principal, "list_agreements", subject=party or "")
    if not principal.roles & {"platform", "auditor"}:  # a sharing party sees its own only
        party = principal.name
    with services.storage.transaction() as tx:
        return tx.agreements(party)


def share(
    services: Services,
    number: str,
    *,
    principal: Principal,
    agreement_id: str | None = None,
    purpose: str | None = None,
) -> SharedCertificate:
    """See :meth:`bdcert.lifecycle.Registry.share`."""
    services.authorize(principal, "share", subject=number)
    problems: list[Problem] = []
    purpose = optional_text(purpose, "purpose", "must be the 申请事由 or omitted", problems)
    if problems:
        raise ValidationError(problems, subject=f"query {number}")
    extra = {"purpose": purpose} if purpose is not None else {}
    now = services.clock()
    denial: PermissionDenied | None = None
    with services.storage.transaction() as tx:
        own = tx.agreements(principal.name)
        try:
            cert: Certificate | None = tx.get_certificate(number)
        except NotFound:
            cert = None
        authority = cert.authority_code if cert is not None else None
        if agreement_id is not None:
            candidates = [a for a in own if a.id == agreement_id]
            reasons = [] if candidates else [f"{principal.name} has no agreement {agreement_id}"]
        else:
            candidates = own
            reasons = [] if own else [f"{principal.name} has no sharing agreement"]
        reasons += [
            f"agreement {a.id} is {a.state(now).replace('_', ' ')}"
            for a in candidates
            if a.state(now) != "active"
        ]
        active = [a for a in candidates if a.state(now) == "active"]
        if cert is None and active:
            tx.append_audit(
                AuditEvent(
                    "share",
                    principal.name,
                    number,
                    now,
                    {"agreement": active[0].id, "found": False, **extra},
                )
            )
            chosen = None
        else:
            covering = [a for a in active if authority is not None and a.covers(authority)]
            reasons += [
                f"agreement {a.id} does not cover authority {authority}"
                for a in active
                if a not in covering
            ]
            chosen = choose_agreement(active, authority)
            if chosen is None:
                denial = refusal(
                    tx,
                    principal,
                    number,
                    now,
                    "share",
                    authority,
                    reasons,
                    {
                        "agreement": agreement_id,
                        "considered": [a.id for a in candidates],
                        **extra,
                    },
                )
            else:
                assert cert is not None
                fields = granted_fields(cert, chosen.fields, now)
                if not NAMES_GRANTED & set(chosen.fields):
                    fields = masked_fields(
                        fields, personal_names(cert, unit_certificates(tx, cert))
                    )
                shared = SharedCertificate(
                    number=cert.number, agreement_id=chosen.id, fields=fields
                )
                tx.append_audit(
                    AuditEvent(
                        "share",
                        principal.name,
                        cert.number,
                        now,
                        {
                            "agreement": chosen.id,
                            "authority": authority,
                            "fields": list(chosen.fields),
                            **extra,
                        },
                    )
                )
                return shared
    if denial is not None:
        raise denial
    raise NotFound(f"no certificate {number!r}")


def required_text(value: Any, field: str, what: str, *, subject: str) -> str:
    """``value`` stripped; a :class:`ValidationError` about ``subject`` naming ``field`` ("is
    required (``what``)") when it is not a string or is blank."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError([Problem(field, f"is required ({what})")], subject=subject)
    return value.strip()


def optional_text(value: Any, field: str, message: str, problems: list[Problem]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(field, message))
        return None
    return value.strip()
