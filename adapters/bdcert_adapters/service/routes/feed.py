"""The change feed and the library summary (rule article 12: cities pull certificates from the
provincial library; :mod:`bdcert.lifecycle.feed`).

- ``GET /api/v1/feed?after=CURSOR&authority=CODE&limit=N`` → ``{"events": […], "next": CURSOR}``:
  issues, supersessions, cancellations, seizures (查封) and liftings, in order, after the cursor.
  The platform and auditors read the whole province (``authority`` omitted) or one authority; a
  registrar its own authority only (``authority`` defaults to it; another is 403).
- ``GET /api/v1/library/summary?authority=CODE`` → per authority, certificates by status and a
  digest (:func:`bdcert.lifecycle.feed.library_summary`) a mirror compares with its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from bdcert.access import ACTIONS
from bdcert.lifecycle import feed
from bdcert.model import AuditEvent, Principal
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.params import query_fields

__all__ = ["ROUTES", "AuthoritySummary", "FeedPageView", "LibrarySummaryView"]


@attrs.define(frozen=True)
class FeedPageView:
    """A page of the change feed: ``events`` in order; ``next``, the cursor to pass as
    ``after`` for the following page (the same as given when nothing new happened)."""

    events: tuple[feed.FeedEvent, ...]
    next: str


@attrs.define(frozen=True)
class AuthoritySummary:
    """One authority's library: ``counts`` by status (``valid``, ``superseded``,
    ``cancelled``, and ``restricted``: valid under a seizure in force now), ``total``, and
    ``digest``, the hex SHA-256 of its sorted summary lines
    (:func:`bdcert.lifecycle.feed.summary_line`)."""

    authority: str
    counts: dict[str, int]
    total: int
    digest: str


@attrs.define(frozen=True)
class LibrarySummaryView:
    """Per authority, what the province's library holds, as of ``at``."""

    authorities: tuple[AuthoritySummary, ...]
    at: datetime


def _scope(principal: Principal, authority: str | None) -> str | None:
    """The authority asked about: a registrar's own when it names none."""
    if authority is None and not principal.roles & ACTIONS["audit"]:
        return principal.authority
    return authority


@get(
    "/feed",
    summary="The change feed: lifecycle events after a cursor",
    tags=["feed"],
    sync_to_thread=True,
)
def read_feed(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    after: str | None = Parameter(
        default=None, description="resume after this cursor (a page's next); omitted: the start"
    ),
    authority: str | None = Parameter(
        default=None, description="登记机构 code (djjg); omitted: the whole province"
    ),
    limit: int = Parameter(default=100, description=f"events per page, 1 to {feed.MAX_PAGE}"),
) -> FeedPageView:
    """Issues, supersessions, cancellations, seizures (查封) and liftings (解封), in the order
    they happened (rule article 12). Never reads, lookups or downloads: those are private."""
    registry = registry_of(request)
    with query_fields("after", "authority", "limit"):
        page = feed.read_feed(
            registry.services,
            principal=principal,
            after=after,
            authority=_scope(principal, authority),
            limit=limit,
        )
    return FeedPageView(page.events, page.next)


@get(
    "/library/summary",
    summary="Per-authority counts and digests of the library, for reconciliation",
    tags=["feed"],
    sync_to_thread=True,
)
def library_summary(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    authority: str | None = Parameter(
        default=None, description="登记机构 code (djjg); omitted: every authority one may read"
    ),
) -> LibrarySummaryView:
    """A mirror compares these with :func:`bdcert.lifecycle.feed.library_summary` of its own
    store: equal digests, equal libraries."""
    registry = registry_of(request)
    services = registry.services
    scope = _scope(principal, authority)
    with query_fields("authority"):
        feed.check_authority(services, scope)
    feed.authorize_feed(services, principal, scope)
    codes = [scope] if scope is not None else sorted(services.authorities)
    now = services.clock()
    summaries = []
    for code in codes:
        s = feed.library_summary(services.storage, code, at=now)
        summaries.append(AuthoritySummary(code, s.counts, s.total, s.digest))
    with services.storage.transaction() as tx:
        details = {"authorities": codes}
        tx.append_audit(AuditEvent("library_summary", principal.name, scope or "", now, details))
    return LibrarySummaryView(tuple(summaries), now)


ROUTES: list[Any] = [read_feed, library_summary]
