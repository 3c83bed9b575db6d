"""The service's response types (attrs; Litestar makes their OpenAPI 3.1 schemas): a certificate
as a caller may see it, and what pushing one registration-book entry did.

Personal data is shown as :mod:`bdcert.access` allows (rule articles 14, 16):
:func:`certificate_view` passes the certificate through :func:`bdcert.access.redact` for the
asking principal (full for :func:`bdcert.access.full_view`: the platform, auditors, a registrar
of the certificate's authority, a holder of their own; otherwise names masked, ID numbers cut,
and, for a sharing party, only the fields its agreement grants). A certificate that
:meth:`~bdcert.lifecycle.Registry.lookup` already redacted is passed through unchanged.

The types import nothing of Litestar themselves.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import date, datetime
from urllib.parse import quote

import attrs

from bdcert.access import full_view, redact
from bdcert.model import CHINA_TZ, Certificate, IssueResult, Principal

__all__ = [
    "CertificateLinks",
    "CertificateView",
    "FaceItemView",
    "HolderView",
    "IssueResultView",
    "IssuedLinks",
    "ProblemItem",
    "RestrictionView",
    "certificate_path",
    "certificate_view",
    "issue_result_view",
]

#: Every certificate operation's path starts here (under ``/api/v1``).
CERTIFICATES = "/api/v1/certificates/"


def certificate_path(number: str) -> str:
    """``/api/v1/certificates/{number}`` with the number percent-encoded (UTF-8, RFC 3986):
    ``川(2024)成都市不动产权第0000001号`` has parentheses and Han characters."""
    return CERTIFICATES + quote(number, safe="")


@attrs.define(frozen=True)
class HolderView:
    """A 权利人 (``qlr``) as the caller may see them.

    :ivar name: ``mc``; masked (``王*明``) unless the caller has the full view.
    :ivar id_type: ``zjzl``, the 证件种类 code.
    :ivar id_number: ``zjh``; cut (``5101**********0176``) unless the caller has the full view.
    :ivar share: ``qlbl`` as registered (``"60%"``), or None.
    """

    name: str
    id_type: str
    id_number: str
    share: str | None = None


@attrs.define(frozen=True)
class FaceItemView:
    """One item printed on the face (rule articles 5, 6), in print order: ``key`` (the wire key,
    ``qlr``, ``zl``, …), ``label`` (the face's Chinese label), ``value`` (as printed; free text
    masked for callers without the full view)."""

    key: str
    label: str
    value: str


@attrs.define(frozen=True)
class RestrictionView:
    """A seizure (查封) recorded against the certificate's unit.

    :ivar authority: ``cfjg``, the seizing authority. :ivar document_number: ``cfwh``.
    :ivar type: ``cflx``. :ivar business_number: the ``ywh`` of the 查封 entry.
    :ivar start: first day (China date), or None. :ivar end: last day, or None (until lifted).
    :ivar recorded_at: when it was recorded (aware).
    """

    authority: str
    document_number: str
    type: str
    business_number: str
    start: date | None
    end: date | None
    recorded_at: datetime


@attrs.define(frozen=True)
class CertificateLinks:
    """Where the certificate's documents are (percent-encoded paths of this service):
    ``certificate`` the metadata, ``pdf`` the sealed PDF, ``ofd`` the sealed OFD (None when none was
    filed), ``status`` and ``history``."""

    certificate: str
    pdf: str
    ofd: str | None
    status: str
    history: str


@attrs.define(frozen=True)
class CertificateView:
    """A certificate as the register holds it, as the caller may see it (rule articles 5, 6,
    10, 14, 16).

    :ivar number: 证书号, e.g. ``川(2024)成都市不动产权第0000001号``.
    :ivar kind: ``property_certificate`` (不动产权证书) or ``registration_proof`` (不动产登记证明).
    :ivar licence_id: the national e-licence identifier (电子证照标识), ``1.2.156.3005.2.…``;
        empty when a sharing agreement does not grant it.
    :ivar business_number: 业务号 ``ywh`` of the entry that issued it; empty unless full view.
    :ivar authority: 登记机构 code ``djjg`` (6 digits, GB/T 2260).
    :ivar year: the certificate year. :ivar sequence: the number's sequence within authority,
        year and kind (rule article 8).
    :ivar holders: 权利人, masked unless full view.
    :ivar unit_numbers: 不动产单元号 ``bdcdyh`` (28 characters each).
    :ivar face: the face items in print order.
    :ivar status: ``valid``, ``superseded`` or ``cancelled``.
    :ivar restricted: True when valid with a seizure (查封) in force today (China time).
    :ivar superseded_by: the successors' numbers (rule article 10).
    :ivar cancel_reason: 注销原因, or None.
    :ivar restrictions: the seizures recorded against its unit.
    :ivar issued_at: when it was sealed (aware, +08:00).
    :ivar pdf_sha256: hex SHA-256 of the sealed PDF as filed (empty unless full view).
    :ivar verification_url: the URL its QR code holds (a bearer secret: empty unless full view).
    :ivar has_ofd: a sealed OFD (GB/T 33190) is filed beside the PDF.
    :ivar links: this service's paths for it.
    """

    number: str
    kind: str
    licence_id: str
    business_number: str
    authority: str
    year: int
    sequence: int
    holders: tuple[HolderView, ...]
    unit_numbers: tuple[str, ...]
    face: tuple[FaceItemView, ...]
    status: str
    restricted: bool
    superseded_by: tuple[str, ...]
    cancel_reason: str | None
    restrictions: tuple[RestrictionView, ...]
    issued_at: datetime
    pdf_sha256: str
    verification_url: str
    has_ofd: bool
    links: CertificateLinks


def certificate_view(
    certificate: Certificate,
    principal: Principal | None,
    *,
    has_ofd: bool = False,
    grant: Collection[str] | None = None,
    related: Iterable[Certificate] = (),
    redacted: bool = False,
    now: datetime | None = None,
) -> CertificateView:
    """``certificate`` as ``principal`` may see it: through :func:`bdcert.access.redact`
    (``grant`` and ``related`` as there) unless ``redacted`` says the register has done that
    already (a :class:`~bdcert.model.Verdict`'s certificate). Without the full view,
    ``verification_url`` (its QR token is a bearer secret), ``business_number`` and
    ``pdf_sha256`` are empty as well.

    :param has_ofd: a sealed OFD is filed (its link is given).
    :param now: today's time for ``restricted`` (default now).
    """
    c = certificate if redacted else redact(certificate, principal, grant=grant, related=related)
    if not full_view(principal, c if redacted else certificate):
        # the QR token is a bearer secret; the 业务号 and the file's digest are the register's
        c = attrs.evolve(c, verification_url="", business_number="", pdf_sha256="")
    base = certificate_path(c.number)
    return CertificateView(
        number=c.number,
        kind=c.kind.value,
        licence_id=c.licence_id,
        business_number=c.business_number,
        authority=c.authority_code,
        year=c.year,
        sequence=c.sequence,
        holders=tuple(HolderView(p.name, p.id_type, p.id_number, p.share) for p in c.holders),
        unit_numbers=tuple(c.unit_numbers),
        face=tuple(FaceItemView(i.key, i.label, i.value) for i in c.face),
        status=c.status.value,
        restricted=c.restricted_at(now or datetime.now(CHINA_TZ)),
        superseded_by=tuple(c.superseded_by),
        cancel_reason=c.cancel_reason,
        restrictions=tuple(
            RestrictionView(
                r.authority,
                r.document_number,
                r.type,
                r.business_number,
                r.start,
                r.end,
                r.recorded_at,
            )
            for r in c.restrictions
        ),
        issued_at=c.issued_at,
        pdf_sha256=c.pdf_sha256,
        verification_url=c.verification_url,
        has_ofd=has_ofd,
        links=CertificateLinks(
            certificate=base,
            pdf=base + "/pdf",
            ofd=base + "/ofd" if has_ofd else None,
            status=base + "/status",
            history=base + "/history",
        ),
    )


@attrs.define(frozen=True)
class IssuedLinks:
    """A certificate an entry issued (or, replayed, issued before): its number, kind,
    e-licence identifier and where to fetch it (``pdf``; ``ofd`` when an OFD was filed)."""

    number: str
    kind: str
    licence_id: str
    certificate: str
    pdf: str
    ofd: str | None


@attrs.define(frozen=True)
class ProblemItem:
    """One problem of a rejected entry: ``field`` (``qlr[0].zjh``; empty for the entry as a
    whole) and ``message``."""

    field: str
    message: str


@attrs.define(frozen=True)
class IssueResultView:
    """What pushing one registration-book entry did (rule articles 5–7, 10, 15), in the
    vocabulary of ``sichuan-2024.expected.json`` and ``bdcert issue --json``.

    :ivar ywh: the entry's 业务号. :ivar outcome: ``issued``, ``none`` (注销 or 查封: no
        certificate), ``replayed`` (the same entry was pushed before: its certificates again),
        ``backlogged`` (accepted; waits until sealing is possible, rule article 15) or
        ``rejected`` (only inside a batch; a single push answers a 400 problem).
    :ivar kind: the kind of certificate the entry produces, or None.
    :ivar numbers: the certificate numbers issued (replayed: issued before).
    :ivar supersedes: numbers it superseded. :ivar cancels: numbers it cancelled (注销).
    :ivar restricts: numbers it restricted (查封). :ivar announcements: paper certificates it
        announced void (公告作废).
    :ivar errors: for ``rejected``, every bad field. :ivar reason: for ``backlogged``, why.
    :ivar certificates: each issued certificate with its links.
    """

    ywh: str
    outcome: str
    kind: str | None = None
    numbers: tuple[str, ...] = ()
    supersedes: tuple[str, ...] = ()
    cancels: tuple[str, ...] = ()
    restricts: tuple[str, ...] = ()
    announcements: tuple[str, ...] = ()
    errors: tuple[ProblemItem, ...] = ()
    reason: str = ""
    certificates: tuple[IssuedLinks, ...] = ()


def issue_result_view(result: IssueResult) -> IssueResultView:
    """The wire form of :class:`~bdcert.model.IssueResult`, with links to each certificate."""
    certificates = []
    for issued in result.certificates:
        c = issued.certificate
        base = certificate_path(c.number)
        certificates.append(
            IssuedLinks(
                c.number,
                c.kind.value,
                c.licence_id,
                base,
                base + "/pdf",
                base + "/ofd" if issued.ofd is not None else None,
            )
        )
    return IssueResultView(
        ywh=result.business_number,
        outcome=result.outcome.value,
        kind=result.kind.value if result.kind is not None else None,
        numbers=result.numbers,
        supersedes=result.supersedes,
        cancels=result.cancels,
        restricts=result.restricts,
        announcements=result.announcements,
        errors=tuple(ProblemItem(p.field, p.message) for p in result.problems),
        reason=result.reason,
        certificates=tuple(certificates),
    )
