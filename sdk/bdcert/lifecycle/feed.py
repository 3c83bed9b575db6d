"""The change feed and the library summary (rule article 12: cities pull certificates from the
provincial library).

The feed is a filtered view of the audit log (rule article 17): its lifecycle events only —
issue, supersession, cancellation, seizure (查封) and its lifting (解封) — in the log's order,
which is commit order (appenders take turns on the audit counter), so a follower that resumes
after the last event it applied misses nothing and sees nothing twice. Reads, lookups,
downloads, verifications and every other access are private and never appear.

A cursor is the audit id of an event as a decimal string; callers treat it as opaque and pass
back the page's ``next``.

:func:`library_summary` states what a library holds, per authority, as counts and one digest, so
that a province and a city's mirror compare their libraries by comparing two short values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any, Protocol, cast, runtime_checkable

import attrs

from bdcert.access import ACTIONS
from bdcert.errors import ConfigurationError, Problem, ValidationError
from bdcert.lifecycle.services import Services, ofd_or_none
from bdcert.model import AuditEvent, Certificate, CertificateStatus, Principal, Restriction
from bdcert.protocols import Storage, StorageTransaction
from bdcert.records import LoggedEvent
from bdcert.wire import converter

__all__ = [
    "FEED_KINDS",
    "MAX_PAGE",
    "FeedEvent",
    "FeedPage",
    "FeedRecords",
    "LibrarySummary",
    "as_issued",
    "authorize_feed",
    "check_authority",
    "feed_records",
    "library_summary",
    "parse_cursor",
    "read_feed",
    "restriction_line",
    "summary_line",
    "summary_of",
]

#: Audit action -> feed event kind. A lifting (解封) is logged as ``lift_restriction`` with the
#: seizure's ``ywh`` in ``details["ywh"]``.
FEED_KINDS: Mapping[str, str] = {
    "issue": "issued",
    "supersede": "superseded",
    "cancel": "cancelled",
    "restrict": "restricted",
    "lift_restriction": "restriction_lifted",
}
#: The most events one page holds.
MAX_PAGE = 1000


# --------------------------------------------------------------------------- the storage role
#
# An optional role of a storage transaction, declared here where it is used (like
# bdcert.protocols' seal provider capabilities): read_feed and library_summary ask for it with
# isinstance, so a store without it still works for everything else.


@runtime_checkable
class FeedRecords(Protocol):
    """What the change feed and a city's mirror need of a store (rule article 12)."""

    def logged_events(
        self,
        *,
        after: int,
        actions: Collection[str],
        authority_code: str | None = None,
        limit: int = 100,
    ) -> list[LoggedEvent]:
        """At most ``limit`` (1 or more) audit events with an id above ``after`` whose action
        is one of ``actions``, about a certificate of ``authority_code`` (every authority's when
        None), by id.

        :raises ValueError: if ``limit`` is below 1.
        """
        ...

    def certificates_of_authority(
        self, authority_code: str | None, *, after: str | None = None, limit: int = 100
    ) -> list[Certificate]:
        """A page of the certificates of ``authority_code`` (all when None), whatever their
        status, with numbers greater than ``after``, in ascending number order; an empty page
        is the end.

        :raises ValueError: if ``limit`` is below 1.
        """
        ...

    def lift_restriction(self, number: str, business_number: str, last_day: date) -> int:
        """End the certificate's seizures recorded under ``business_number`` (the 查封 ``ywh``)
        on ``last_day`` (their last day in force, China date): a lifting (解封).

        :returns: how many were in force after ``last_day`` and ended."""
        ...

    def add_mirrored_registration(
        self, business_number: str, authority_code: str, number: str, recorded_at: datetime
    ) -> None:
        """Record that certificate ``number`` of entry ``business_number`` came from the
        province (a mirror holds no registration-book entry): creates the entry's registration
        record, or adds ``number`` to it. ``recorded_at`` is aware."""
        ...

    def mirror_cursor(self, source: str) -> str | None:
        """The cursor of the last feed event applied from ``source`` (a name of the feed: URL
        and authority), or None; locks it until the transaction ends, so that two followers of
        one source take turns."""
        ...

    def set_mirror_cursor(self, source: str, cursor: str, at: datetime) -> None:
        """Store ``cursor`` as the last event applied from ``source`` (in the transaction that
        applies the event: exactly once). ``at`` is aware."""
        ...


@attrs.define(frozen=True)
class FeedEvent:
    """One change of a certificate's life as the feed reports it.

    :ivar cursor: where this event is in the feed (opaque; pass it as ``after`` to resume).
    :ivar kind: ``issued``, ``superseded``, ``cancelled``, ``restricted`` or
        ``restriction_lifted``.
    :ivar number: the certificate number (证书号). :ivar licence_id: its e-licence identifier.
    :ivar authority: its 登记机构 code (``djjg``). :ivar at: when it happened (aware, +08:00).
    :ivar business_number: ``ywh`` of the entry that made the change (for a seizure or a
        lifting, the 查封 entry's).
    :ivar certificate: for ``issued``, the certificate as issued (valid, no successor, no
        seizure: later changes are later events) in bdcert's wire form
        (:data:`bdcert.wire.converter`); else None.
    :ivar pdf_sha256: for ``issued``, hex SHA-256 of the sealed PDF as filed.
    :ivar has_ofd: for ``issued``, a sealed OFD is filed beside the PDF.
    :ivar superseded_by: for ``superseded``, the successors' numbers (rule article 10).
    :ivar reason: for ``cancelled``, the 注销 reason.
    :ivar restriction: for ``restricted`` and ``restriction_lifted``, the seizure in wire form
        (for a lifting, with its last day).
    """

    cursor: str
    kind: str
    number: str
    licence_id: str
    authority: str
    at: datetime
    business_number: str
    certificate: dict[str, Any] | None = None
    pdf_sha256: str = ""
    has_ofd: bool = False
    superseded_by: tuple[str, ...] = ()
    reason: str | None = None
    restriction: dict[str, Any] | None = None


@attrs.define(frozen=True)
class FeedPage:
    """A page of the feed: ``events`` in order, and ``next``, the cursor to resume from (the
    last event's, or the given one when the page is empty)."""

    events: tuple[FeedEvent, ...]
    next: str


@attrs.define(frozen=True)
class LibrarySummary:
    """What a library holds of one authority (or of all, ``authority`` None).

    :ivar counts: certificates by status (``valid``, ``superseded``, ``cancelled``), and
        ``restricted``: valid ones with a seizure in force at ``at``.
    :ivar total: every certificate. :ivar digest: hex SHA-256 of the sorted
        :func:`summary_line` of every certificate, each followed by a line feed.
    :ivar at: when it was computed (aware).
    """

    authority: str | None
    counts: dict[str, int]
    total: int
    digest: str
    at: datetime


def feed_records(tx: StorageTransaction) -> FeedRecords:
    """The transaction as :class:`FeedRecords`.

    :raises ConfigurationError: when the store does not keep a feed.
    """
    if not isinstance(tx, FeedRecords):
        raise ConfigurationError(
            "this store keeps no change feed (bdcert.lifecycle.feed.FeedRecords)"
        )
    return cast(FeedRecords, tx)


def parse_cursor(cursor: str | None, field: str = "after") -> int:
    """The audit id a cursor names (0 for None or empty: the start).

    :raises ValidationError: naming ``field`` for anything but a cursor this feed gave (a
        decimal audit id below 2**63, the storage's 64-bit integer range).
    """
    if cursor is None or cursor == "":
        return 0
    if (
        not isinstance(cursor, str)
        or not cursor.isascii()
        or not cursor.isdigit()
        or len(cursor) > 19
        or int(cursor) >= 2**63
    ):
        raise ValidationError(
            [Problem(field, "must be a cursor this feed returned (its 'next' or an event's)")],
            subject="feed",
        )
    return int(cursor)


def authorize_feed(services: Services, principal: Principal, authority: str | None) -> None:
    """The platform and auditors read the whole province's feed; a registrar its own
    authority's only (a denial is logged, rule article 17).

    :raises PermissionDenied:
    """
    if principal.roles & ACTIONS["audit"]:
        return
    if authority is None:
        services.authorize(principal, "audit", subject="feed")
    else:
        services.authorize(principal, "issue", authority, subject="feed")


def check_authority(services: Services, authority: str | None) -> None:
    """:raises ValidationError: naming ``authority`` when it is not configured here."""
    if authority is not None and authority not in services.authorities:
        raise ValidationError(
            [Problem("authority", f"no authority {authority!r} is configured here")],
            subject="feed",
        )


def _check_query(services: Services, authority: str | None, limit: int) -> None:
    problems = []
    if authority is not None and authority not in services.authorities:
        problems.append(Problem("authority", f"no authority {authority!r} is configured here"))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        problems.append(Problem("limit", f"must be an integer from 1 to {MAX_PAGE}"))
    if problems:
        raise ValidationError(problems, subject="feed")


def read_feed(
    services: Services,
    *,
    principal: Principal,
    after: str | None = None,
    authority: str | None = None,
    limit: int = 100,
) -> FeedPage:
    """The lifecycle events following cursor ``after`` (from the start when None), of one
    authority's certificates or (``authority`` None) of the whole province, at most ``limit``
    (1 to :data:`MAX_PAGE`). A page that returns events is logged (``feed``, rule article 17).

    :raises ValidationError: naming ``after``, ``authority`` or ``limit``.
    :raises PermissionDenied: see :func:`authorize_feed`.
    :raises ConfigurationError: the store keeps no feed.
    """
    start = parse_cursor(after)
    _check_query(services, authority, limit)
    authorize_feed(services, principal, authority)
    with services.storage.transaction() as tx:
        logged = feed_records(tx).logged_events(
            after=start, actions=FEED_KINDS, authority_code=authority, limit=limit
        )
        cache: dict[str, Certificate] = {}
        events = tuple(_feed_event(tx, item, cache) for item in logged)
        if events:
            details = {"after": str(start), "events": len(events), "next": events[-1].cursor}
            tx.append_audit(
                AuditEvent("feed", principal.name, authority or "", services.clock(), details)
            )
    return FeedPage(events, events[-1].cursor if events else str(start))


def as_issued(certificate: Certificate) -> Certificate:
    """The certificate as it was when issued: valid, without successors or seizures (each of
    which came later, as an event of its own)."""
    return attrs.evolve(
        certificate,
        status=CertificateStatus.VALID,
        superseded_by=(),
        cancel_reason=None,
        restrictions=(),
    )


def _feed_event(
    tx: StorageTransaction, item: LoggedEvent, cache: dict[str, Certificate]
) -> FeedEvent:
    event = item.event
    number = event.subject
    cert = cache.get(number)
    if cert is None:
        cert = cache[number] = tx.get_certificate(number)
    kind = FEED_KINDS[event.action]
    details = event.details
    ywh = str(details.get("ywh") or cert.business_number)
    common: dict[str, Any] = {
        "cursor": str(item.id),
        "kind": kind,
        "number": number,
        "licence_id": cert.licence_id,
        "authority": cert.authority_code,
        "at": event.at,
        "business_number": ywh,
    }
    if kind == "issued":
        return FeedEvent(
            **common,
            certificate=converter.unstructure(as_issued(cert), Certificate),
            pdf_sha256=cert.pdf_sha256,
            has_ofd=ofd_or_none(tx, number) is not None,
        )
    if kind == "superseded":
        return FeedEvent(**common, superseded_by=tuple(str(n) for n in details.get("by", ())))
    if kind == "cancelled":
        return FeedEvent(**common, reason=str(details.get("reason") or ""))
    seizure = next((r for r in cert.restrictions if r.business_number == ywh), None)
    wire = None if seizure is None else converter.unstructure(seizure, Restriction)
    return FeedEvent(**common, restriction=wire)


# --------------------------------------------------------------------------- library summary


def restriction_line(restriction: Restriction) -> str:
    """``ywh:cfwh:start:end`` of a seizure (dates ISO, empty when open)."""
    r = restriction
    start = r.start.isoformat() if r.start else ""
    end = r.end.isoformat() if r.end else ""
    return f"{r.business_number}:{r.document_number}:{start}:{end}"


def summary_line(certificate: Certificate) -> str:
    """``number|status|pdf_sha256|successors|seizures``: successors comma-separated, seizures
    (:func:`restriction_line`) sorted and semicolon-separated."""
    c = certificate
    seizures = ";".join(sorted(restriction_line(r) for r in c.restrictions))
    return f"{c.number}|{c.status.value}|{c.pdf_sha256}|{','.join(c.superseded_by)}|{seizures}"


def summary_of(
    certificates: list[Certificate], authority: str | None, at: datetime
) -> LibrarySummary:
    """The summary of ``certificates`` (see :class:`LibrarySummary`)."""
    counts = {status.value: 0 for status in CertificateStatus}
    counts["restricted"] = 0
    lines = []
    for cert in certificates:
        counts[cert.status.value] += 1
        counts["restricted"] += cert.restricted_at(at)
        lines.append(summary_line(cert))
    lines.sort()
    digest = hashlib.sha256("".join(line + "\n" for line in lines).encode("utf-8")).hexdigest()
    return LibrarySummary(authority, counts, len(lines), digest, at)


def library_summary(
    storage: Storage, authority: str | None, *, at: datetime | None = None
) -> LibrarySummary:
    """The summary of one authority's certificates in ``storage`` (every authority's when
    None), computed the same way by the province and by a city's mirror, so that equal
    libraries have equal summaries.

    :param at: when, for the ``restricted`` count (aware; default now).
    :raises ConfigurationError: the store keeps no feed.
    """
    from bdcert.model import CHINA_TZ

    moment = at or datetime.now(CHINA_TZ)
    found: list[Certificate] = []
    after: str | None = None
    with storage.transaction() as tx:
        records = feed_records(tx)
        while page := records.certificates_of_authority(authority, after=after, limit=500):
            found.extend(page)
            after = page[-1].number
    return summary_of(found, authority, moment)
