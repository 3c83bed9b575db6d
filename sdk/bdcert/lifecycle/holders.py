"""Self-download by holders (rule article 13), with failed attempts limited per identity.

A holder (权利人) proves who they are with their name (``mc``) and ID number (证件号 ``zjh``), plus
the number of their paper certificate where they held one, and receives their current
e-certificates with the sealed PDFs (and OFDs when filed). :meth:`bdcert.lifecycle.Registry.
self_download` calls :func:`self_download`.

**The proof** (checked against the register, never against data the caller supplies):

1. the ID number, in canonical form (stripped, upper-case: ``…002x`` is ``…002X``), and the name
   (stripped, exactly as registered) must be those of one 权利人 of at least one *current*
   certificate: status valid, restricted (查封) included; superseded and cancelled ones never
   count and are never returned;
2. **paper rule**, per registration: a certificate whose registration recorded a paper original
   (原证号 ``yzh`` with ``lx = 纸质``, recovered 收回 or announced void 公告作废; rule article 10)
   is opened only by one of *that registration's* paper numbers (compared without blanks,
   full-width parentheses read as half-width); a certificate whose registration recorded none
   needs no paper number. A paper number given must match one recorded for one of the holder's
   registrations, else the attempt fails (also when none is recorded); and an attempt that opens
   no certificate fails (``paper_number_missing``). So a co-owner who knows the paper number of
   a shared registration opens only that registration's certificates, never the other owner's
   certificates from registrations with other paper originals;
3. **second factor**, per registration: a certificate whose registration has a code the pushing
   authority recorded for this 权利人 (:func:`record_download_code`, handed to the holder by SMS
   or on a slip) is opened only with that code (``code``); one without needs none. A code given
   that matches none of the holder's registrations fails the attempt (``code_mismatch``), and
   an attempt that opens nothing for want of a code fails (``code_missing``). Codes are stored
   only as salted scrypt hashes;
4. the identity provider may add checks (real-name, biometric, SMS): if it has a
   ``verify_holder(name, id_number, evidence)`` method (:class:`bdcert.protocols.HolderVerifier`)
   it is called with the caller's ``evidence`` after 1 to 3 pass, and an
   :class:`~bdcert.errors.IdentityError` it raises is a failed attempt.

The answer is the certificates the proof opens: those needing no paper number, plus those of
the registrations the given paper number belongs to. A failed attempt tells the caller only that
the proof failed, never which part.

**Rate limit** (:class:`DownloadPolicy`, ``[self_download]`` in ``bdcert.toml``), three guards:

* per identity (the canonical ID number, whatever name is given, :func:`identity_key`):
  ``max_failures`` failed attempts within any ``window_minutes`` lock it for ``lockout_minutes``;
* per name (:func:`name_key`: blanks removed, NFKC, case-folded; whatever ID number is given):
  ``max_name_failures`` failed attempts within the same window lock that name for the same time.
  This stops guessing the ID number of a known person (region and birthday known, about 1000
  sequence numbers left). Its default is higher than ``max_failures`` because many people share
  a name and all of them are locked out together;
* per source (:func:`source_key`), when the channel names one (``source``: the remote address
  of a portal's user, an app's account): ``max_source_failures`` failed attempts, whatever the
  name and number, lock the source for the same time.

**Guessing is stopped, not slowed**: a guard locked ``max_lockouts`` times (default 3) without a
success in between is *held*: locked until a clerk unlocks it (:func:`unlock`, ``bdcert
unlock``), with no end by itself. So at most ``max_name_failures`` x ``max_lockouts`` (30 by
default) ID numbers can be tried for one name before a clerk must act, where a lockout that
only expired allowed about 440 a day. The price: a held name also stops honest holders of that
name (they ask a clerk, who checks them at the counter and unlocks).

While any guard of an attempt is locked or held, the attempt is refused with
:class:`~bdcert.errors.TooManyAttempts` without checking the proof; the failure that trips a
guard is answered so already. A successful download clears the ID number's failures and
lockouts, never the name's or the source's (a holder sharing the victim's name must not reset
the count by downloading their own); their failures leave with the window, their lockouts stay
until a clerk unlocks. When a lockout ends its failure count starts afresh. The state lives in
storage (:meth:`bdcert.protocols.StorageTransaction.download_guard`; every kind of key is 64 hex
digits of differently salted SHA-256, so they never collide and no name, number or source is
stored in clear), so the limits hold across processes and restarts. A transaction takes the
guards in one order (ID number, name, source), so concurrent attempts cannot deadlock.

**Audit** (rule article 17): every attempt is one ``download`` event (outcome ``ok``, ``failed``
with the reason, or ``locked`` with the ``guard``: ``id_number``, ``name`` or ``source``); each
lockout adds a ``download_lockout`` event naming its ``guard`` (``held`` when it holds) and is
logged (warning, logger ``bdcert.holders``); a clerk's unlock is a ``download_unlock`` event
naming the clerk, the guards cleared and the reason; a second factor's making a
``download_code`` event (subject the business number). The subject is otherwise the masked ID
number (``5101**********0176``, ``E******78``); the name is masked too (any length and
script, :func:`bdcert.access.mask_name`): neither is written in clear. A ``source`` is written
as given (a client address, for the clerk who unlocks it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import unicodedata
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bdcert.access import mask_id_number, mask_name
from bdcert.config import DownloadPolicy  # moved to the contracts layer; re-exported here
from bdcert.errors import (
    IdentityError,
    PermissionDenied,
    Problem,
    TooManyAttempts,
    ValidationError,
)
from bdcert.identifiers import business_number_authority
from bdcert.lifecycle.services import Services, ofd_or_none
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Certificate,
    CertificateStatus,
    IssuedCertificate,
    Principal,
)
from bdcert.protocols import StorageTransaction
from bdcert.records import DownloadGuard  # moved to the values layer; re-exported here

__all__ = [
    "DownloadGuard",
    "DownloadPolicy",
    "identity_key",
    "name_key",
    "normalize_paper_number",
    "record_download_code",
    "self_download",
    "source_key",
    "unlock",
]

log = logging.getLogger("bdcert.holders")

#: The generic answer to a failed proof: it never says which part was wrong.
NOT_PROVEN = (
    "the name, ID number and (where a paper certificate was held) paper certificate number do "
    "not identify a holder of a current certificate"
)


def identity_key(id_number: str) -> str:
    """The storage key of an identity: SHA-256 (hex) of the canonical ID number, so the guard
    table holds no ID number in clear. (The audit log holds only the masked number.)"""
    canonical = id_number.strip().upper()
    return hashlib.sha256(f"bdcert-self-download:{canonical}".encode()).hexdigest()


def name_key(name: str) -> str:
    """The storage key of a name's guard: SHA-256 (hex) of the name with all blanks removed,
    NFKC-normalised and case-folded, salted apart from :func:`identity_key` so a name's key never
    equals an ID number's. Variants that differ only in blanks or width share one count."""
    folded = "".join(unicodedata.normalize("NFKC", name).split()).casefold()
    return hashlib.sha256(f"bdcert-self-download-name:{folded}".encode()).hexdigest()


def source_key(source: str) -> str:
    """The storage key of a source's guard: SHA-256 (hex) of the source as given (stripped),
    salted apart from :func:`identity_key` and :func:`name_key`."""
    return hashlib.sha256(f"bdcert-self-download-source:{source.strip()}".encode()).hexdigest()


def normalize_paper_number(number: str) -> str:
    """A paper certificate number for comparison: no blanks, full-width parentheses as ASCII."""
    return "".join(number.split()).replace("（", "(").replace("）", ")")


def self_download(
    services: Services,
    name: str,
    id_number: str,
    paper_number: str | None = None,
    *,
    evidence: Mapping[str, str] | None = None,
    principal: Principal | None = None,
    source: str | None = None,
    code: str | None = None,
) -> list[IssuedCertificate]:
    """See :meth:`bdcert.lifecycle.Registry.self_download` and the module docstring."""
    problems = []
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("name", "is required (权利人 name as registered)"))
    if not isinstance(id_number, str) or not id_number.strip():
        problems.append(Problem("id_number", "is required (证件号)"))
    if paper_number is not None and (not isinstance(paper_number, str) or not paper_number.strip()):
        problems.append(Problem("paper_number", "must be a certificate number or omitted"))
    if evidence is not None and not isinstance(evidence, Mapping):
        problems.append(Problem("evidence", "must be a mapping of strings"))
    if code is not None and (not isinstance(code, str) or not code.strip()):
        problems.append(Problem("code", "must be the code the authority gave, or omitted"))
    if source is not None and (not isinstance(source, str) or not source.strip()):
        problems.append(Problem("source", "must be the client's address or account, or omitted"))
    if problems:
        raise ValidationError(problems, subject="self-download")
    name = name.strip()
    canonical = id_number.strip().upper()
    key = identity_key(canonical)
    # (key, kind): the ID number's guard first, then the name's, the source's; always so
    guards = [(key, "id_number"), (name_key(name), "name")]
    if source is not None:
        guards.append((source_key(source), "source"))
    policy = services.download_policy
    limits = {
        "id_number": policy.max_failures,
        "name": policy.max_name_failures,
        "source": policy.max_source_failures,
    }
    actor = principal.name if principal is not None else "holder"
    masked = mask_id_number(canonical)
    base: dict[str, Any] = {"name": mask_name(name), "paper_number_given": paper_number is not None}
    if code is not None:
        base["code_given"] = True
    if source is not None:
        base["source"] = source.strip()

    def audit(tx: StorageTransaction, action: str, at: datetime, **details: Any) -> None:
        tx.append_audit(AuditEvent(action, actor, masked, at, {**base, **details}))

    def load(tx: StorageTransaction) -> list[tuple[str, DownloadGuard]]:
        return [(kind, tx.download_guard(k)) for k, kind in guards]

    def refuse(tx: StorageTransaction, at: datetime, kind: str, guard: DownloadGuard) -> None:
        audit(
            tx,
            "download",
            at,
            outcome="locked",
            guard=kind,
            locked_until=_iso(guard.locked_until),
            held=guard.held,
        )

    # 1. locked? then the proof is not even looked at; 2. check the proof against the register.
    now = services.clock()
    mine: list[Certificate] = []
    reason: str | None = None
    with services.storage.transaction() as tx:
        locked = _first_locked(load(tx), now)
        if locked is None:
            mine, reason = _prove(tx, name, canonical, paper_number, code)
        else:
            refuse(tx, now, *locked)
    if locked is not None:
        raise _too_many(*locked)
    detail = ""
    # 3. the identity provider's own checks, outside any transaction (they may be remote)
    verify_holder = getattr(services.identity, "verify_holder", None)
    if reason is None and callable(verify_holder):
        try:
            verify_holder(name=name, id_number=canonical, evidence=dict(evidence or {}))
        except IdentityError as exc:
            reason, detail = "identity_check", str(exc)
    now = services.clock()
    with services.storage.transaction() as tx:
        current = load(tx)  # again, under the rows' locks: attempts take turns
        locked = _first_locked(current, now)
        if locked is not None:
            refuse(tx, now, *locked)
        elif reason is not None:
            tripped: list[tuple[str, DownloadGuard, int]] = []
            for kind, guard in current:
                recent = [t for t in guard.failures if t > now - policy.window] + [now]
                if len(recent) >= limits[kind]:
                    lockouts = guard.lockouts + 1
                    held = lockouts >= policy.max_lockouts
                    until = None if held else now + policy.lockout
                    saved = DownloadGuard(guard.identity, (), until, lockouts, held)
                    tripped.append((kind, saved, len(recent)))
                else:
                    saved = DownloadGuard(guard.identity, tuple(recent), None, guard.lockouts)
                tx.save_download_guard(saved)
            extra = {"detail": detail} if detail else {}
            audit(tx, "download", now, outcome="failed", reason=reason, **extra)
            for kind, saved, failures in tripped:
                audit(
                    tx,
                    "download_lockout",
                    now,
                    guard=kind,
                    failures=failures,
                    window_minutes=policy.window.total_seconds() / 60,
                    locked_until=_iso(saved.locked_until),
                    lockouts=saved.lockouts,
                    held=saved.held,
                )
                log.warning(
                    "self-download locked by the %s guard after %d failures (ID %s, name %s) "
                    "until %s",
                    kind,
                    failures,
                    masked,
                    base["name"],
                    "a clerk unlocks it" if saved.held else _iso(saved.locked_until),
                )
            if tripped:
                locked = (tripped[0][0], tripped[0][1])
        else:
            tx.save_download_guard(DownloadGuard(key))  # the name's failures stay (see above)
            issued = [
                IssuedCertificate(c, tx.get_pdf(c.number), ofd_or_none(tx, c.number)) for c in mine
            ]
            audit(tx, "download", now, outcome="ok", certificates=[c.number for c in mine])
            return issued
    if locked is not None:
        raise _too_many(*locked)
    raise IdentityError(NOT_PROVEN)


def _prove(
    tx: StorageTransaction,
    name: str,
    id_number: str,
    paper_number: str | None,
    code: str | None = None,
) -> tuple[list[Certificate], str | None]:
    """The current certificates the proof opens, and None; or ([], the reason it fails).

    The paper rule and the second factor are applied per registration (module docstring, rule
    articles 10 and 13)."""
    mine = [
        c
        for c in tx.certificates_for_holder(id_number)
        if c.status is CertificateStatus.VALID
        and any(p.id_number.strip().upper() == id_number and p.name == name for p in c.holders)
    ]
    if not mine:
        return [], "no_match"
    papers = {
        business_number: {
            normalize_paper_number(d.number) for d in tx.paper_dispositions(business_number)
        }
        for business_number in dict.fromkeys(c.business_number for c in mine)
    }
    given = None if paper_number is None else normalize_paper_number(paper_number)
    if given is not None and not any(given in numbers for numbers in papers.values()):
        return [], "paper_number_mismatch"
    opened = [
        c for c in mine if not papers[c.business_number] or given in papers[c.business_number]
    ]
    if not opened:
        return [], "paper_number_missing"
    codes = tx.download_codes(identity_key(id_number))
    if code is not None:
        matching = {b for b, hashed in codes.items() if _code_matches(code.strip(), hashed)}
        if not matching:
            return [], "code_mismatch"
    else:
        matching = set()
    opened = [c for c in opened if c.business_number not in codes or c.business_number in matching]
    return (opened, None) if opened else ([], "code_missing")


#: scrypt's cost for a second factor's hash (RFC 7914; n=2^14, r=8, p=1: about 16 MiB, tens
#: of milliseconds), and the length of its salt.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_SALT_BYTES = 16


def _hash_code(code: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(code.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def _code_matches(code: str, hashed: str) -> bool:
    kind, _, rest = hashed.partition("$")
    salt, _, digest = rest.partition("$")
    if kind != "scrypt" or not salt or not digest:
        return False
    got = hashlib.scrypt(code.encode(), salt=bytes.fromhex(salt), **_SCRYPT)
    return hmac.compare_digest(got.hex(), digest)


#: The alphabet and length of a second factor: 8 digits (typed from an SMS or a slip).
CODE_DIGITS = 8
#: The authority an unknown registration whose business number names none is judged by: no
#: registrar's, so only the platform may go on (and hear that it is unknown).
_NO_KNOWN_AUTHORITY = "(unknown registration)"


def record_download_code(
    services: Services, business_number: str, id_number: str, *, principal: Principal
) -> str:
    """See :meth:`bdcert.lifecycle.Registry.record_download_code`.

    The principal is authorised before the ID number is looked at, against the registration's
    authority, so that whoever may not record a code learns nothing from the refusal: not
    whether the ID number is a 权利人 of the registration, nor whether the registration exists.
    An unknown registration is judged by the authority its business number names (``NNNNNN-``):
    only that authority's registrars (and the platform) hear that it has no certificates; one
    that names none, only the platform."""
    problems = []
    for field, value in (("business_number", business_number), ("id_number", id_number)):
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(field, "is required"))
    if problems:
        raise ValidationError(problems, subject="download code")
    ywh = business_number.strip()
    canonical = id_number.strip().upper()
    masked = mask_id_number(canonical)
    with services.storage.transaction() as tx:
        stored = tx.get_registration(ywh)
        numbers = stored.result.numbers if stored is not None else ()
        authority = tx.get_certificate(numbers[0]).authority_code if numbers else None
    target = authority or business_number_authority(ywh) or _NO_KNOWN_AUTHORITY
    try:
        services.authorize(principal, "issue", target, subject=ywh)  # the denial is logged
    except PermissionDenied:
        # one answer whatever the registration and the ID number (the log keeps the detail)
        raise PermissionDenied(
            f"{principal.name} may not record a download code for registration {ywh}: only "
            "the platform and the registrars of the registration's authority may"
        ) from None
    if not numbers:
        raise ValidationError(
            [Problem("business_number", f"no registration {ywh} with certificates is recorded")],
            subject="download code",
        )
    with services.storage.transaction() as tx:
        certs = [c for c in tx.certificates_for_holder(canonical) if c.business_number == ywh]
    if not certs:
        raise ValidationError(
            [Problem("id_number", f"{masked} is no 权利人 of a certificate of registration {ywh}")],
            subject="download code",
        )
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    now = services.clock()
    with services.storage.transaction() as tx:
        tx.save_download_code(ywh, identity_key(canonical), _hash_code(code), now, principal.name)
        tx.append_audit(
            AuditEvent(
                "download_code",
                principal.name,
                ywh,
                now,
                {"id_number": masked, "certificates": [c.number for c in certs]},
            )
        )
    return code


def _first_locked(
    guards: list[tuple[str, DownloadGuard]], now: datetime
) -> tuple[str, DownloadGuard] | None:
    """The first (kind, guard) locked at ``now``, the ID number's before the name's; or None."""
    return next(((kind, g) for kind, g in guards if _locked(g, now)), None)


def _locked(guard: DownloadGuard, now: datetime) -> bool:
    return guard.held or (guard.locked_until is not None and now < guard.locked_until)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(CHINA_TZ).isoformat()


def _too_many(kind: str, guard: DownloadGuard) -> TooManyAttempts:
    what = {"id_number": "this identity", "name": "this name", "source": "this source"}[kind]
    if guard.held:
        return TooManyAttempts(
            f"too many failed attempts for {what}: locked until a registration clerk unlocks it "
            "(apply at a registration counter)",
            locked_until=None,
        )
    assert guard.locked_until is not None
    until = guard.locked_until.astimezone(CHINA_TZ)
    return TooManyAttempts(
        f"too many failed attempts for {what}: locked until {until.isoformat()}",
        locked_until=until,
    )


def _state(guard: DownloadGuard, now: datetime) -> str:
    """What a guard's state is called in an unlock's audit record."""
    if guard.held:
        return "held"
    if _locked(guard, now):
        return "locked"
    return "counting" if guard.failures or guard.lockouts else "clear"


def unlock(
    services: Services,
    *,
    principal: Principal,
    reason: str,
    id_number: str | None = None,
    name: str | None = None,
    source: str | None = None,
) -> dict[str, str]:
    """See :meth:`bdcert.lifecycle.Registry.unlock_download`."""
    problems = []
    given = {"id_number": id_number, "name": name, "source": source}
    for field, value in given.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(Problem(field, "must be a non-blank string or omitted"))
    if all(v is None for v in given.values()):
        problems.append(Problem("id_number", "give at least one of id_number, name and source"))
    if not isinstance(reason, str) or not reason.strip():
        problems.append(Problem("reason", "is required (why the clerk unlocks)"))
    if problems:
        raise ValidationError(problems, subject="unlock")
    subject = mask_id_number(id_number.strip().upper()) if id_number else "(self-download)"
    services.authorize(principal, "unlock_download", subject=subject)
    keys = []  # in the order self_download takes them
    if id_number is not None:
        keys.append(("id_number", identity_key(id_number)))
    if name is not None:
        keys.append(("name", name_key(name.strip())))
    if source is not None:
        keys.append(("source", source_key(source)))
    now = services.clock()
    states = {}
    with services.storage.transaction() as tx:
        for kind, key in keys:
            states[kind] = _state(tx.download_guard(key), now)
            tx.save_download_guard(DownloadGuard(key))
        details: dict[str, Any] = {"guards": states, "reason": reason.strip()}
        if name is not None:
            details["name"] = mask_name(name)
        if source is not None:
            details["source"] = source.strip()
        tx.append_audit(AuditEvent("download_unlock", principal.name, subject, now, details))
    return states
