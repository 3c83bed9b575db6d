"""Value types (attrs, frozen): registration entries, parties, certificates, verdicts, events.

Wire formats keep the standard's pinyin keys (``ywh``, ``qlr``); code uses English names with the
standard's term in the docstring. Times are timezone-aware; China time is UTC+08:00.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

__all__ = [
    "CHINA_TZ",
    "SEAL_FORM_CODES",
    "Areas",
    "AttachedPlan",
    "AuditEvent",
    "Authority",
    "Certificate",
    "CertificateEvent",
    "CertificateKind",
    "CertificateStatus",
    "FaceItem",
    "IssueResult",
    "IssuedCertificate",
    "Outcome",
    "Party",
    "Principal",
    "PriorCertificate",
    "RegistrationEntry",
    "Restriction",
    "SealFormFinding",
    "Seizure",
    "Term",
    "Verdict",
    "VerdictCode",
    "in_force",
    "parse_share",
]

_SHARE_RE = re.compile(
    r"(?:([0-9]{1,3}(?:\.[0-9]{1,6})?)\s?%|([0-9]{1,6})/([0-9]{1,6})|(0?\.[0-9]{1,6}|1(?:\.0+)?))\Z"
)


def parse_share(text: str) -> Fraction:
    """An exact share from ``"60%"``, ``"12.5%"``, ``"1/3"`` or ``"0.5"``.

    :raises ValueError: if the text is none of those or the share is not in (0, 1].
    """
    m = _SHARE_RE.match(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"share {text!r} is not a percentage (60%) or a fraction (1/3)")
    if m[1] is not None:
        value = Fraction(Decimal(m[1])) / 100
    elif m[2] is not None:
        if int(m[3]) == 0:
            raise ValueError(f"share {text!r} divides by zero")
        value = Fraction(int(m[2]), int(m[3]))
    else:
        value = Fraction(Decimal(m[4]))
    if not 0 < value <= 1:
        raise ValueError(f"share {text!r} must be more than 0 and at most 1")
    return value


#: China Standard Time, UTC+08:00: decides certificate years and printed issue dates.
CHINA_TZ = timezone(timedelta(hours=8), "CST")


class CertificateKind(enum.StrEnum):
    """The two e-certificates of rule article 3."""

    PROPERTY_CERTIFICATE = "property_certificate"  # 不动产权证书 (article 6)
    REGISTRATION_PROOF = "registration_proof"  # 不动产登记证明 (article 5)

    @property
    def title(self) -> str:  # type: ignore[override]  # the face title, not str.title()
        """The title printed on the face."""
        return "不动产权证书" if self is CertificateKind.PROPERTY_CERTIFICATE else "不动产登记证明"


class CertificateStatus(enum.StrEnum):
    """Status of an issued certificate; restriction (查封) is recorded beside it, not instead."""

    VALID = "valid"
    SUPERSEDED = "superseded"  # a new registration issued a successor (article 10)
    CANCELLED = "cancelled"  # 注销登记


class Outcome(enum.StrEnum):
    """What processing a registration entry did (vocabulary of ``*.expected.json``)."""

    ISSUED = "issued"
    NONE = "none"  # 注销 and 查封 produce no certificate
    REJECTED = "rejected"
    REPLAYED = "replayed"  # the exact entry was pushed before; its certificates come back
    BACKLOGGED = "backlogged"  # accepted, waiting for sealing to be possible (rule article 15)


@attrs.define(frozen=True)
class Authority:
    """A registration authority (登记机构), as in ``authorities.json``.

    :ivar code: ``djjg``, 6-digit administrative division code (GB/T 2260).
    :ivar name: ``mc``.
    :ivar province_abbr: ``sfjc``, e.g. 川.
    :ivar place_name: ``szmc``, e.g. 成都市.
    :ivar credit_code: ``tyshxydm`` (GB 32100), the issuer code of e-licence identifiers.
    :ivar division_code: ``xzqdm``.
    """

    code: str
    name: str
    province_abbr: str
    place_name: str
    credit_code: str
    division_code: str

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Authority:
        return cls(
            code=str(d["djjg"]),
            name=str(d["mc"]),
            province_abbr=str(d["sfjc"]),
            place_name=str(d["szmc"]),
            credit_code=str(d["tyshxydm"]),
            division_code=str(d.get("xzqdm", d["djjg"])),
        )

    def to_wire(self) -> dict[str, str]:
        return {
            "djjg": self.code,
            "mc": self.name,
            "sfjc": self.province_abbr,
            "szmc": self.place_name,
            "tyshxydm": self.credit_code,
            "xzqdm": self.division_code,
        }


@attrs.define(frozen=True)
class Party:
    """A holder (权利人 ``qlr``) or obligor (义务人 ``ywr``).

    :ivar name: ``mc``. :ivar id_type: ``zjzl`` code. :ivar id_number: ``zjh``, normalised
    (upper-case check character). :ivar share: ``qlbl`` as written (``"60%"``, ``"1/3"``) or None.
    """

    name: str
    id_type: str
    id_number: str
    share: str | None = None

    @property
    def share_fraction(self) -> Fraction | None:
        """The share as an exact fraction, or None."""
        return None if self.share is None else parse_share(self.share)


@attrs.define(frozen=True)
class Term:
    """A period of dates (使用期限 ``syqx``, 查封期限 ``cfqx``): ``qsrq`` start, ``zzrq`` end."""

    start: date
    end: date


@attrs.define(frozen=True)
class Areas:
    """面积 ``mj`` in square metres: ``td`` land, ``fw`` building."""

    land: Decimal | None = None
    building: Decimal | None = None


@attrs.define(frozen=True)
class PriorCertificate:
    """原证号 ``yzh``: a certificate this entry replaces or cancels.

    :ivar number: ``zh``. :ivar medium: ``lx``, ``电子`` or ``纸质``.
    :ivar disposition: ``cl`` for paper, ``收回`` (recovered) or ``公告作废`` (announced void).
    """

    number: str
    medium: str
    disposition: str | None = None

    @property
    def electronic(self) -> bool:
        return self.medium == "电子"


@attrs.define(frozen=True)
class AttachedPlan:
    """附图 ``ft``: a picture of the parcel or building."""

    mime: str
    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")


@attrs.define(frozen=True)
class Seizure:
    """查封 details: ``cfjg`` authority, ``cfwh`` document number, ``cflx`` type, ``cfqx`` term."""

    authority: str
    document_number: str
    type: str
    term: Term | None


@attrs.define(frozen=True)
class RegistrationEntry:
    """A registration-book entry (登簿记录), validated. Built by :func:`bdcert.validation.parse_entry`.

    :ivar source: the canonical JSON of the entry as pushed (sorted keys, no whitespace); its
        SHA-256 decides whether a re-push of the same ``ywh`` is a replay or a conflict.
    """

    business_number: str  # ywh
    authority_code: str  # djjg
    registration_type: str  # djlx
    recorded_at: datetime  # dbsj, aware
    unit_numbers: tuple[str, ...]  # bdcdyh
    location: str  # zl
    holders: tuple[Party, ...]  # qlr
    obligors: tuple[Party, ...]  # ywr
    right_type: str | None  # qllx
    proven_matter: str | None  # zmsx
    co_ownership: str | None  # gyfs
    holding_mode: str  # czfs: 共同持证 / 分别持证
    right_nature: str | None  # qlxz
    use: str | None  # yt
    areas: Areas | None  # mj
    term: Term | None  # syqx
    other_status: str  # qlqtzk
    notes: str  # fj
    other: str  # qt
    attached_plan: AttachedPlan | None  # ft
    prior_certificates: tuple[PriorCertificate, ...]  # yzh
    cancellation_reason: str | None  # zxyy
    seizure: Seizure | None  # cfjg, cfwh, cflx, cfqx
    source: str = attrs.field(repr=False)
    fingerprint: str = attrs.field(repr=False)

    @property
    def produces(self) -> CertificateKind | None:
        """The certificate kind this entry produces (articles 5, 6); None for 注销 and 查封."""
        if self.registration_type in {"400", "800"}:
            return None
        if self.proven_matter is not None:
            return CertificateKind.REGISTRATION_PROOF
        return CertificateKind.PROPERTY_CERTIFICATE

    @property
    def year(self) -> int:
        """The certificate year: the China-time year of 登簿时间."""
        return self.recorded_at.astimezone(CHINA_TZ).year


@attrs.define(frozen=True)
class FaceItem:
    """One item printed on a certificate's face: ``key`` (wire key), ``label`` (Chinese), ``value``."""

    key: str
    label: str
    value: str


@attrs.define(frozen=True)
class Restriction:
    """A seizure (查封) recorded against a certificate's unit; the certificate stays valid."""

    business_number: str
    authority: str
    document_number: str
    type: str
    start: date | None
    end: date | None
    recorded_at: datetime


def in_force(restrictions: Sequence[Restriction], at: datetime) -> list[Restriction]:
    """Restrictions in force on ``at`` (its China date): no end date, or not yet ended."""
    day = at.astimezone(CHINA_TZ).date()
    return [r for r in restrictions if r.end is None or r.end >= day]


@attrs.define(frozen=True)
class Certificate:
    """An issued e-certificate.

    :ivar number: e.g. ``川(2024)成都市不动产权第0000001号``.
    :ivar licence_id: national e-licence identifier (电子证照标识).
    :ivar token: unguessable URL-safe token; the QR code carries ``verification_url``.
    :ivar face: every face item of the kind (articles 5, 6), in print order.
    :ivar issued_at: aware datetime of sealing.
    :ivar pdf_sha256: hex SHA-256 of the sealed PDF as filed.
    """

    number: str
    kind: CertificateKind
    licence_id: str
    business_number: str
    authority_code: str
    year: int
    sequence: int
    holders: tuple[Party, ...]
    unit_numbers: tuple[str, ...]
    face: tuple[FaceItem, ...]
    token: str
    verification_url: str
    issued_at: datetime
    pdf_sha256: str = ""
    status: CertificateStatus = CertificateStatus.VALID
    superseded_by: tuple[str, ...] = ()
    cancel_reason: str | None = None
    restrictions: tuple[Restriction, ...] = ()

    def face_value(self, key: str) -> str | None:
        for item in self.face:
            if item.key == key:
                return item.value
        return None

    def restricted_at(self, at: datetime) -> bool:
        """In force (valid) with a seizure (查封) in force on ``at``: verification says RESTRICTED."""
        return self.status is CertificateStatus.VALID and bool(in_force(self.restrictions, at))


@attrs.define(frozen=True)
class IssuedCertificate:
    """A certificate together with its sealed PDF and, when issued in OFD too, its sealed OFD."""

    certificate: Certificate
    pdf: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    ofd: bytes | None = attrs.field(
        default=None, repr=lambda d: "None" if d is None else f"<{len(d)} bytes>"
    )


@attrs.define(frozen=True)
class IssueResult:
    """What processing one entry did, in the vocabulary of ``sichuan-2024.expected.json``.

    :ivar numbers: the certificate numbers issued (or, for ``replayed``, issued before).
    :ivar certificates: the same certificates with their sealed PDFs:
        ``result.certificates[0].pdf`` is the bytes of the first, ``.certificate`` its record.
    :ivar problems: for ``rejected``, every :class:`~bdcert.errors.Problem` found.
    :ivar reason: for ``backlogged``, why the entry waits (the failure that stopped sealing).
    """

    business_number: str
    outcome: Outcome
    kind: CertificateKind | None = None
    numbers: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()
    cancels: tuple[str, ...] = ()
    restricts: tuple[str, ...] = ()
    announcements: tuple[str, ...] = ()
    problems: tuple[Any, ...] = ()  # tuple[Problem, ...]
    certificates: tuple[IssuedCertificate, ...] = ()
    reason: str = ""

    def to_wire(self) -> dict[str, Any]:
        """The JSON object the command line prints with ``--json`` (keys as in expected.json)."""
        out: dict[str, Any] = {"ywh": self.business_number, "outcome": self.outcome.value}
        if self.kind is not None:
            out["kind"] = self.kind.value
        for key in ("numbers", "supersedes", "cancels", "restricts", "announcements"):
            value = getattr(self, key)
            if value:
                out[key] = list(value)
        if self.problems:
            out["errors"] = [{"field": p.field, "message": p.message} for p in self.problems]
        if self.reason:
            out["reason"] = self.reason
        return out


class VerdictCode(enum.StrEnum):
    """Every verification result has its own code; none is a generic error."""

    VALID = "valid"  # sealed, trusted, untouched, status valid
    RESTRICTED = "restricted"  # as VALID, but the unit is under seizure (查封)
    SUPERSEDED = "superseded"  # cryptographically sound; a newer certificate replaced it
    CANCELLED = "cancelled"  # cryptographically sound; cancelled by 注销登记
    NOT_PDF = "not_pdf"  # the bytes are not a readable PDF
    UNSEALED = "unsealed"  # no signature at all
    MULTIPLE_SIGNATURES = "multiple_signatures"  # more than the one seal bdcert applies
    DIGEST_MISMATCH = "digest_mismatch"  # bytes inside the signed range were changed
    MODIFIED_AFTER_SEALING = "modified_after_sealing"  # data appended after the signed range
    SIGNATURE_INVALID = "signature_invalid"  # the cryptographic signature does not verify
    UNTRUSTED_SIGNER = "untrusted_signer"  # signer does not chain to a configured trust root
    REVOKED = "revoked"  # the seal certificate was revoked before the seal's proven time
    UNKNOWN_CERTIFICATE = "unknown_certificate"  # sound signature, but not in the register
    TOO_COMPLEX = "too_complex"  # the file exceeds a bound on verification work (bdcert.bounds)
    # sealed, unchanged, registered and in force, but the seal's form breaks the scheme: an
    # invisible seal, no certification lock (DocMDP), or a signing time that is not the issue
    # time (:attr:`Verdict.form` names which; rule articles 3, 7, 15): not plainly valid
    NONCONFORMING = "nonconforming"


#: The stable codes of :class:`SealFormFinding`: what the form of a sound seal may break.
SEAL_FORM_CODES = ("invisible_seal", "no_certification_lock", "signing_time_mismatch")


@attrs.define(frozen=True)
class SealFormFinding:
    """One way a cryptographically sound seal breaks the scheme's form (the conformance kit's
    seal checks, :mod:`bdcert_conformance.seal`).

    :ivar code: ``invisible_seal`` (the seal's widget has no area, is hidden or has no
        appearance: ISO 32000-1 §12.5.3, §12.7.4.5), ``no_certification_lock`` (not a
        certification signature with DocMDP ``/P 1`` in the catalogue's ``/Perms``: ISO 32000-1
        §12.8.2.2), ``signing_time_mismatch`` (the signing time the seal claims is not the
        certificate's issue time, rule article 15).
    :ivar sentence: one plain Chinese sentence for a clerk, holder or bank.
    :ivar detail: an English detail with what was found.
    """

    code: str
    sentence: str
    detail: str


@attrs.define(frozen=True)
class Verdict:
    """The result of :func:`bdcert.verify`.

    :ivar code: the single most important finding.
    :ivar trusted: True when the seal is intact, covers the whole file and chains to a trust root.
    :ivar certificate: the certificate as registered (with status, successor, reason,
        restrictions), when it could be found.
    :ivar signer: the signer certificate's subject, when one was read.
    :ivar signed_at: the signing time claimed in the signature.
    :ivar detail: a sentence explaining the code.
    :ivar granted_fields: for a sharing party's answer, the fields its agreement grants
        (:data:`bdcert.sharing.FIELDS`; empty without an active agreement): only these, the
        number, the code and the detail are meaningful in ``certificate``, the rest left empty
        (:func:`bdcert.access.redact`); ``None`` for every other asker.
    :ivar form: how a sound seal breaks the scheme's form (:class:`SealFormFinding`), whatever
        the code: with VALID or RESTRICTED they make the code ``NONCONFORMING``.
    """

    code: VerdictCode
    trusted: bool
    detail: str
    certificate: Certificate | None = None
    signer: str | None = None
    signed_at: datetime | None = None
    granted_fields: frozenset[str] | None = None
    form: tuple[SealFormFinding, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the certificate is genuine and currently in force (valid or restricted)."""
        return self.code in (VerdictCode.VALID, VerdictCode.RESTRICTED)


def _canonical_id_number(value: str | None) -> str | None:
    """证件号 in canonical form: stripped, upper-case (``…002x`` is ``…002X``); blank is None."""
    return None if value is None else str(value).strip().upper() or None


@attrs.define(frozen=True)
class Principal:
    """An authenticated user or system (rule article 11).

    :ivar roles: e.g. ``registrar`` (of ``authority``), ``platform`` (the provincial platform,
        any authority), ``holder``, ``sharing_party``, ``auditor``.
    :ivar authority: the authority code a registrar acts for, or None.
    :ivar id_number: a holder's 证件号 (``zjh``) in canonical form (stripped, upper-case: a
        resident ID's check character ``x`` becomes ``X``), or None; a ``holder`` sees in full
        only the certificates that list this number among their 权利人 (rule articles 13, 14).
    """

    name: str
    roles: frozenset[str] = attrs.field(converter=frozenset)
    authority: str | None = None
    id_number: str | None = attrs.field(default=None, converter=_canonical_id_number)


@attrs.define(frozen=True)
class AuditEvent:
    """One line of the tamper-evident audit log (rule article 17).

    :ivar action: lifecycle: ``issue`` (sealed and filed), ``supersede``, ``cancel``,
        ``restrict``, ``announce``, ``recover``, ``replay``, ``backlog``, ``reject``; access:
        ``read``, ``download``, ``lookup``, ``verify``, ``deny``, ``reconcile``, ``redeliver``,
        ``download_lockout``, ``share``, ``agreement_add``, ``agreement_revoke`` (rule articles
        13, 16); the log itself: ``checkpoint``.
    :ivar subject: the certificate number or business number acted on.
    """

    action: str
    actor: str
    subject: str
    at: datetime
    details: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.define(frozen=True)
class CertificateEvent:
    """A change of a certificate's life, delivered to notifiers and the event hook.

    :ivar kind: ``issued``, ``superseded``, ``cancelled``, ``restricted``.
    """

    kind: str
    number: str
    business_number: str
    authority_code: str
    at: datetime
    details: Mapping[str, Any] = attrs.field(factory=dict)
