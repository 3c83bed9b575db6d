"""The audit log over HTTP (rule article 17), for auditors and the platform only (403 for
others, and the refusal is itself logged):

- ``GET /api/v1/audit/events?subject=&actor=&since=&until=&after=&limit=``: the log, oldest
  first, paginated by event id (``after`` the last id seen; ``limit`` at most 1000, default 100);
- ``GET /api/v1/audit/checkpoints``: the sealed checkpoints (number, last event id and its chain
  hash, when, by whom); ``GET /api/v1/audit/checkpoints/{n}/pdf`` the sealed PDF of one;
- ``POST /api/v1/audit/checkpoints``: seal one now (the platform);
- ``POST /api/v1/audit/verify``: recompute the hash chain, check every checkpoint and the
  register against the log (:meth:`~bdcert.lifecycle.Registry.verify_audit`); checkpoint copies
  kept elsewhere may be uploaded as ``multipart/form-data`` files (any field name), each checked
  too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
import attrs
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import Parameter, PathParameter

from bdcert.lifecycle.auditing import MAX_AUDIT_PAGE
from bdcert.model import AuditEvent, Principal
from bdcert.records import AuditCheckpoint
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.params import Instant, moment, query_fields
from bdcert_adapters.service.problems import FieldError, problem

__all__ = ["ROUTES", "CheckpointView", "EventPage", "EventView", "Verification"]


@attrs.define(frozen=True)
class EventView:
    """One audit event (rule article 17).

    :ivar id: its position in the log, 1, 2, … (what a checkpoint's ``event_id`` counts).
    :ivar action: ``issue``, ``read``, ``download``, ``share``, ``search``, ``deny``, … (see
        :class:`bdcert.model.AuditEvent`). :ivar actor: the principal's name (``holder`` for an
        anonymous self-download). :ivar subject: the certificate or business number, or a masked
        ID number. :ivar at: when (aware, +08:00). :ivar details: the action's details (a
        sharing download's ``purpose`` and ``agreement``, …).
    """

    id: int
    action: str
    actor: str
    subject: str
    at: datetime
    details: dict[str, Any]


@attrs.define(frozen=True)
class EventPage:
    """A page of the log: ``events`` oldest first; ``next_after``: pass it as ``after`` for the
    next page (None when this page was not full: nothing more matched)."""

    events: list[EventView]
    next_after: int | None


@attrs.define(frozen=True)
class CheckpointView:
    """A sealed checkpoint of the audit log.

    :ivar number: 1, 2, … without gaps. :ivar event_id: the last event it seals.
    :ivar event_hash: that event's chain hash (hex SHA-256). :ivar made_at: when (aware).
    :ivar made_by: who (``bdcert (automatic)`` when automatic). :ivar authority: whose seal.
    :ivar prev_sha256: SHA-256 of the previous checkpoint's PDF. :ivar pdf_sha256: of its own.
    :ivar pdf: where its sealed PDF is.
    """

    number: int
    event_id: int
    event_hash: str
    made_at: datetime
    made_by: str
    authority: str
    prev_sha256: str
    pdf_sha256: str
    pdf: str


def _checkpoint(c: AuditCheckpoint) -> CheckpointView:
    return CheckpointView(
        number=c.number,
        event_id=c.event_id,
        event_hash=c.event_hash,
        made_at=c.made_at,
        made_by=c.made_by,
        authority=c.authority_code,
        prev_sha256=c.prev_sha256,
        pdf_sha256=c.pdf_sha256,
        pdf=f"/api/v1/audit/checkpoints/{c.number}/pdf",
    )


@attrs.define(frozen=True)
class Verification:
    """What checking the log found: ``intact`` when ``findings`` is empty; each finding names an
    edited, deleted, inserted or reordered record, a failing or missing checkpoint, or a
    certificate whose register state the log does not explain."""

    intact: bool
    findings: list[str]
    checked_copies: list[str]


def _event(event_id: int, e: AuditEvent) -> EventView:
    return EventView(event_id, e.action, e.actor, e.subject, e.at, dict(e.details))


@get("/audit/events", summary="The audit log, paginated", tags=["audit"], sync_to_thread=True)
def events(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    subject: Annotated[
        str | None,
        Parameter(
            description="a certificate or business number (also events naming it)", max_length=200
        ),
    ] = None,
    actor: Annotated[
        str | None, Parameter(description="a principal's name", max_length=200)
    ] = None,
    since: Instant = None,
    until: Instant = None,
    after: Annotated[int, Parameter(description="the last event id already seen")] = 0,
    limit: Annotated[int, Parameter(description=f"events per page, 1-{MAX_AUDIT_PAGE}")] = 100,
) -> EventPage:
    """Audit events matching every filter given, oldest first, with ids above ``after``; at most
    ``limit``. 400 naming each bad query field (a time without an offset, ``limit`` out of
    range); 403 unless an auditor or the platform."""
    errors: list[FieldError] = []
    moments = {
        name: moment(name, value, errors) for name, value in (("since", since), ("until", until))
    }
    registry = registry_of(request)
    if errors:
        # the role first (a refusal is logged): whoever may not read the log learns no more
        registry.services.authorize(principal, "audit")
        raise problem(400, "validation", "invalid input", "bad query parameters", errors)
    with query_fields():
        page = registry.audit_page(
            principal=principal,
            subject=subject,
            actor=actor,
            since=moments["since"],
            until=moments["until"],
            after=after,
            limit=limit,
        )
    full = len(page) == limit
    return EventPage([_event(i, e) for i, e in page], page[-1][0] if page and full else None)


@get(
    "/audit/checkpoints",
    summary="The sealed audit checkpoints",
    tags=["audit"],
    sync_to_thread=True,
)
def checkpoints(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> list[CheckpointView]:
    """Every stored checkpoint, by number. 403 unless an auditor or the platform."""
    return [_checkpoint(c) for c in registry_of(request).audit_checkpoints(principal=principal)]


@get(
    "/audit/checkpoints/{number:int}/pdf",
    summary="A checkpoint's sealed PDF",
    tags=["audit"],
    sync_to_thread=True,
    media_type="application/pdf",
)
def checkpoint_pdf(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    number: Annotated[int, PathParameter(description="the checkpoint number", ge=1)],
) -> Response[bytes]:
    """The sealed one-page PDF of checkpoint ``number`` (keep a copy outside the database; upload
    it to ``POST /api/v1/audit/verify``). 404 for an unknown number."""
    for c in registry_of(request).audit_checkpoints(principal=principal):
        if c.number == number:
            return Response(
                c.pdf,
                media_type="application/pdf",
                headers={
                    "Content-Disposition": f'attachment; filename="audit-checkpoint-{number}.pdf"'
                },
            )
    raise problem(404, "not-found", "not found", f"no audit checkpoint {number}")


@post(
    "/audit/checkpoints",
    summary="Seal an audit checkpoint now",
    tags=["audit"],
    sync_to_thread=True,
    status_code=201,
)
def make_checkpoint(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> CheckpointView:
    """Seal a checkpoint of the log as it is now with the ``[audit] authority``'s seal; stored
    and logged. 403 unless the platform; 503 when sealing is unavailable."""
    return _checkpoint(registry_of(request).checkpoint_audit(principal=principal))


@post("/audit/verify", summary="Check the audit log", tags=["audit"], status_code=200)
async def verify(
    request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Verification:
    """Recompute the log's hash chain, check every stored checkpoint's seal and links and the
    register against the log; each uploaded checkpoint copy (``multipart/form-data`` files) is
    checked too. 403 unless an auditor or the platform."""
    copies: list[tuple[str, bytes]] = []
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        bad = []
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                copies.append((value.filename or key, await value.read()))
            else:
                bad.append(FieldError(key, "must be an uploaded checkpoint PDF"))
        if bad:
            raise problem(400, "validation", "invalid input", "only files are accepted", bad)
    registry = registry_of(request)
    findings = await anyio.to_thread.run_sync(
        lambda: registry.verify_audit(principal=principal, checkpoints=copies)
    )
    return Verification(not findings, list(findings), [name for name, _ in copies])


ROUTES: list[Any] = [events, checkpoints, checkpoint_pdf, make_checkpoint, verify]
