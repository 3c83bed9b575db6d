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
2. **paper rule**: when a registration that issued one of those certificates recorded a paper
   original (原证号 ``yzh`` with ``lx = 纸质``, recovered 收回 or announced void 公告作废; rule
   article 10), the caller must give that paper certificate's number, and it must equal one of
   the recorded paper numbers (compared without blanks, full-width parentheses read as
   half-width). A paper number given when none is recorded, or one that matches none, fails too;
3. the identity provider may add checks (real-name, biometric, SMS): if it has a
   ``verify_holder(name, id_number, evidence)`` method (:class:`bdcert.protocols.HolderVerifier`)
   it is called with the caller's ``evidence`` after 1 and 2 pass, and an
   :class:`~bdcert.errors.IdentityError` it raises is a failed attempt.

A failed attempt tells the caller only that the proof failed, never which part.

**Rate limit** (:class:`DownloadPolicy`, ``[self_download]`` in ``bdcert.toml``): per identity
(the canonical ID number, whatever name is given), ``max_failures`` failed attempts within any
``window_minutes`` lock the identity for ``lockout_minutes``: until then every attempt is refused
with :class:`~bdcert.errors.TooManyAttempts` without checking the proof. A successful download
clears the failures; when a lockout ends the count starts afresh. The state lives in storage
(:meth:`bdcert.protocols.StorageTransaction.download_guard`), so the limit holds across processes
and restarts.

**Audit** (rule article 17): every attempt is one ``download`` event (outcome ``ok``, ``failed``
with the reason, or ``locked``); a lockout adds a ``download_lockout`` event. The subject is the
masked ID number (``5101**********0176``), the name is masked too: neither is written in clear.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from bdcert.access import mask_id_number, mask_name
from bdcert.errors import (
    ConfigurationError,
    IdentityError,
    NotFound,
    Problem,
    TooManyAttempts,
    ValidationError,
)
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Certificate,
    CertificateStatus,
    IssuedCertificate,
    Principal,
)

if TYPE_CHECKING:
    from bdcert.lifecycle import Registry
    from bdcert.protocols import StorageTransaction

__all__ = [
    "DownloadGuard",
    "DownloadPolicy",
    "identity_key",
    "normalize_paper_number",
    "self_download",
]

#: The generic answer to a failed proof: it never says which part was wrong.
NOT_PROVEN = (
    "the name, ID number and (where a paper certificate was held) paper certificate number do "
    "not identify a holder of a current certificate"
)


@attrs.define(frozen=True)
class DownloadPolicy:
    """How failed self-download attempts are limited (``[self_download]`` in ``bdcert.toml``).

    :ivar max_failures: failed attempts that lock an identity (default 5).
    :ivar window: the span in which they must fall (default 15 minutes).
    :ivar lockout: how long the identity stays locked (default 30 minutes).
    """

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=30)

    @classmethod
    def from_settings(cls, table: Mapping[str, Any]) -> DownloadPolicy:
        """The policy of a ``[self_download]`` table: ``max_failures`` (integer >= 1),
        ``window_minutes`` and ``lockout_minutes`` (numbers > 0).

        :raises ConfigurationError: naming every bad or unknown key.
        """
        bad = [f"self_download.{k} is not a known setting" for k in table if k not in _KEYS]
        values: dict[str, Any] = {}
        for key, default, integer in (
            ("max_failures", 5, True),
            ("window_minutes", 15, False),
            ("lockout_minutes", 30, False),
        ):
            value: Any = table.get(key, default)
            number = isinstance(value, int if integer else int | float)
            if isinstance(value, bool) or not number or not value > 0:
                what = "a whole number >= 1" if integer else "a number of minutes > 0"
                bad.append(f"self_download.{key} must be {what}, not {value!r}")
            values[key] = value
        if bad:
            raise ConfigurationError("; ".join(bad))
        return cls(
            max_failures=int(values["max_failures"]),
            window=timedelta(minutes=float(values["window_minutes"])),
            lockout=timedelta(minutes=float(values["lockout_minutes"])),
        )


_KEYS = frozenset({"max_failures", "window_minutes", "lockout_minutes"})


@attrs.define(frozen=True)
class DownloadGuard:
    """The stored self-download state of one identity.

    :ivar identity: :func:`identity_key` of the canonical ID number (64 hex digits).
    :ivar failures: times of failed attempts since the last success or lockout, oldest first,
        aware.
    :ivar locked_until: the end of a lockout, aware, or None.
    """

    identity: str
    failures: tuple[datetime, ...] = ()
    locked_until: datetime | None = None


def identity_key(id_number: str) -> str:
    """The storage key of an identity: SHA-256 (hex) of the canonical ID number, so the guard
    table holds no ID number in clear. (The audit log holds only the masked number.)"""
    canonical = id_number.strip().upper()
    return hashlib.sha256(f"bdcert-self-download:{canonical}".encode()).hexdigest()


def normalize_paper_number(number: str) -> str:
    """A paper certificate number for comparison: no blanks, full-width parentheses as ASCII."""
    return "".join(number.split()).replace("（", "(").replace("）", ")")


def self_download(
    registry: Registry,
    name: str,
    id_number: str,
    paper_number: str | None = None,
    *,
    evidence: Mapping[str, str] | None = None,
    principal: Principal | None = None,
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
    if problems:
        raise ValidationError(problems, subject="self-download")
    name = name.strip()
    canonical = id_number.strip().upper()
    key = identity_key(canonical)
    policy = registry.download_policy
    actor = principal.name if principal is not None else "holder"
    masked = mask_id_number(canonical)
    base = {"name": mask_name(name), "paper_number_given": paper_number is not None}

    def audit(tx: StorageTransaction, action: str, at: datetime, **details: Any) -> None:
        tx.append_audit(AuditEvent(action, actor, masked, at, {**base, **details}))

    # 1. locked? then the proof is not even looked at; 2. check the proof against the register.
    now = registry.clock()
    mine: list[Certificate] = []
    reason: str | None = None
    with registry.storage.transaction() as tx:
        guard = tx.download_guard(key)
        if not _locked(guard, now):
            mine, reason = _prove(tx, name, canonical, paper_number)
        else:
            audit(tx, "download", now, outcome="locked", locked_until=_iso(guard.locked_until))
    if _locked(guard, now):
        raise _too_many(guard)
    detail = ""
    # 3. the identity provider's own checks, outside any transaction (they may be remote)
    verify_holder = getattr(registry.identity, "verify_holder", None)
    if reason is None and callable(verify_holder):
        try:
            verify_holder(name=name, id_number=canonical, evidence=dict(evidence or {}))
        except IdentityError as exc:
            reason, detail = "identity_check", str(exc)
    now = registry.clock()
    locked_now: DownloadGuard | None = None
    with registry.storage.transaction() as tx:
        guard = tx.download_guard(key)  # again, under the row's lock: attempts take turns
        if _locked(guard, now):
            audit(tx, "download", now, outcome="locked", locked_until=_iso(guard.locked_until))
            locked_now = guard
        elif reason is not None:
            recent = [t for t in guard.failures if t > now - policy.window] + [now]
            if len(recent) >= policy.max_failures:
                locked_now = DownloadGuard(key, (), now + policy.lockout)
                tx.save_download_guard(locked_now)
            else:
                tx.save_download_guard(DownloadGuard(key, tuple(recent), None))
            extra = {"detail": detail} if detail else {}
            audit(tx, "download", now, outcome="failed", reason=reason, **extra)
            if locked_now is not None:
                audit(
                    tx,
                    "download_lockout",
                    now,
                    failures=len(recent),
                    window_minutes=policy.window.total_seconds() / 60,
                    locked_until=_iso(locked_now.locked_until),
                )
        else:
            tx.save_download_guard(DownloadGuard(key))
            issued = [
                IssuedCertificate(c, tx.get_pdf(c.number), _ofd_or_none(tx, c.number)) for c in mine
            ]
            audit(tx, "download", now, outcome="ok", certificates=[c.number for c in mine])
            return issued
    if locked_now is not None:
        raise _too_many(locked_now)
    raise IdentityError(NOT_PROVEN)


def _prove(
    tx: StorageTransaction, name: str, id_number: str, paper_number: str | None
) -> tuple[list[Certificate], str | None]:
    """The current certificates the proof opens, and None; or ([], the reason it fails)."""
    mine = [
        c
        for c in tx.certificates_for_holder(id_number)
        if c.status is CertificateStatus.VALID
        and any(p.id_number.strip().upper() == id_number and p.name == name for p in c.holders)
    ]
    if not mine:
        return [], "no_match"
    papers = {
        normalize_paper_number(d.number)
        for business_number in dict.fromkeys(c.business_number for c in mine)
        for d in tx.paper_dispositions(business_number)
    }
    if paper_number is None:
        return ([], "paper_number_missing") if papers else (mine, None)
    if normalize_paper_number(paper_number) not in papers:
        return [], "paper_number_mismatch"
    return mine, None


def _locked(guard: DownloadGuard, now: datetime) -> bool:
    return guard.locked_until is not None and now < guard.locked_until


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(CHINA_TZ).isoformat()


def _too_many(guard: DownloadGuard) -> TooManyAttempts:
    assert guard.locked_until is not None
    until = guard.locked_until.astimezone(CHINA_TZ)
    return TooManyAttempts(
        f"too many failed attempts for this identity: locked until {until.isoformat()}",
        locked_until=until,
    )


def _ofd_or_none(tx: StorageTransaction, number: str) -> bytes | None:
    try:
        return tx.get_ofd(number)
    except NotFound:
        return None
