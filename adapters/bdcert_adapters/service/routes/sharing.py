"""Sharing with banks and agencies under signed agreements (rule articles 16, 17; the operations
of GB/T 36906's sharing interface):

- ``GET /api/v1/sharing/search?unit=&holder_name=&holder_id=&purpose=`` (检索): the certificates
  in force on a 不动产单元 and/or of a 权利人, each with only the fields the party's agreement
  grants (:meth:`~bdcert.lifecycle.Registry.search_shared`);
- ``GET /api/v1/sharing/certificates/{number}`` (查询): one certificate, the granted fields only
  (:meth:`~bdcert.lifecycle.Registry.share`);
- ``GET /api/v1/sharing/certificates/{number}/pdf?purpose=`` (文件下载): the sealed PDF, when the
  agreement grants ``file``; the purpose (申请事由) is mandatory and logged with the download
  (:meth:`~bdcert.lifecycle.Registry.shared_file`);
- ``GET /api/v1/agreements`` (the platform and auditors: all, or ``?party=``; a sharing party:
  its own), ``POST /api/v1/agreements`` (the platform adds one),
  ``POST /api/v1/agreements/{id}/revoke`` (the platform revokes one, with the reason).

Only a principal with the role ``sharing_party`` and an active agreement (valid now, not
revoked, covering the certificate's authority) gets certificate data; every access and every
denial is in the audit log (``search``, ``share``, ``download``, ``deny``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import attrs
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, Parameter, PathParameter

from bdcert.model import CHINA_TZ, Principal
from bdcert.records import SharedCertificate, SharingAgreement
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.params import AgreementChoice, Purpose, query_fields, query_problem
from bdcert_adapters.service.routes.certificates import Number

__all__ = ["ROUTES", "AgreementView", "SearchAnswer", "SharedView", "query_problem"]


#: A sharing agreement's id in the path (ids holding ``/`` cannot be named here).
AgreementId = Annotated[str, PathParameter(description="the agreement's id", max_length=100)]


@attrs.define(frozen=True)
class SharedView:
    """One certificate as a sharing agreement grants it (rule article 16).

    :ivar number: the certificate number (证号).
    :ivar agreement: the id of the agreement the access was granted under.
    :ivar fields: only the granted fields, field -> JSON value, in the agreement's order (shapes
        in :mod:`bdcert.lifecycle.sharing`: ``status`` an object, ``holders`` a list of
        ``{mc, zjzl, zjh, qlbl}``, face items such as ``zl`` strings); a field not granted is
        absent.
    """

    number: str
    agreement: str
    fields: dict[str, Any]


def _view(shared: SharedCertificate) -> SharedView:
    return SharedView(shared.number, shared.agreement_id, dict(shared.fields))


@attrs.define(frozen=True)
class SearchAnswer:
    """The certificates a search (检索) found that the party's agreements cover, each with its
    granted fields; certificates no active agreement covers are not listed."""

    certificates: list[SharedView]


@attrs.define(frozen=True)
class AgreementView:
    """A sharing agreement (共享协议, rule article 16).

    :ivar id: its identifier. :ivar party: the sharing party's principal name.
    :ivar purpose: what the data is for (用途), as signed.
    :ivar authorities: the authority codes (``djjg``) whose certificates it covers.
    :ivar fields: the fields it grants (``file``: the sealed PDF may be downloaded).
    :ivar valid_from: first moment of validity; :ivar valid_to: last (inclusive); aware.
    :ivar signed_on: the date it was signed.
    :ivar state: now: ``active``, ``revoked``, ``not_yet_valid`` or ``expired``.
    :ivar created_at: when it was added, by ``created_by``.
    :ivar revoked_at: when it was revoked (or None), by ``revoked_by``, why ``revoke_reason``.
    """

    id: str
    party: str
    purpose: str
    authorities: list[str]
    fields: list[str]
    valid_from: datetime
    valid_to: datetime
    signed_on: date
    state: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None


def _agreement(a: SharingAgreement, now: datetime) -> AgreementView:
    return AgreementView(
        id=a.id,
        party=a.party,
        purpose=a.purpose,
        authorities=list(a.authorities),
        fields=list(a.fields),
        valid_from=a.valid_from,
        valid_to=a.valid_to,
        signed_on=a.signed_on,
        state=a.state(now),
        created_at=a.created_at,
        created_by=a.created_by,
        revoked_at=a.revoked_at,
        revoked_by=a.revoked_by,
        revoke_reason=a.revoke_reason,
    )


def _now(registry: Any) -> datetime:
    moment: datetime = registry.clock()
    return moment.astimezone(CHINA_TZ)


@get(
    "/sharing/search",
    summary="Search certificates (检索) under a sharing agreement",
    tags=["sharing"],
    sync_to_thread=True,
)
def search(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    unit: Annotated[
        str | None,
        Parameter(
            description="不动产单元号 (bdcdyh): the certificates in force on it", max_length=200
        ),
    ] = None,
    holder_name: Annotated[
        str | None,
        Parameter(
            description="a 权利人's name: narrows a search by unit or holder_id", max_length=200
        ),
    ] = None,
    holder_id: Annotated[
        str | None,
        Parameter(
            description="a 权利人's 证件号 (any case): the certificates in force of them",
            max_length=200,
        ),
    ] = None,
    purpose: Purpose = None,
) -> SearchAnswer:
    """The certificates in force matching the criteria (``unit`` and/or ``holder_id``,
    narrowed by ``holder_name``), each with only the fields the party's active agreement that
    covers its authority grants. 400 naming the query fields when none is given (a name alone
    is refused: it would walk the register); 403 for a caller that is not a sharing party or has
    no active agreement (expired, revoked: logged as ``deny``). Each search is one ``search``
    audit event."""
    with query_fields():
        found = registry_of(request).search_shared(
            principal=principal,
            unit=unit,
            holder_name=holder_name,
            holder_id=holder_id,
            purpose=purpose,
        )
    return SearchAnswer([_view(s) for s in found])


@get(
    "/sharing/certificates/{number:str}",
    summary="Query one certificate (查询) under a sharing agreement",
    tags=["sharing"],
    sync_to_thread=True,
)
def query(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    number: Number,
    purpose: Purpose = None,
    agreement: AgreementChoice = None,
) -> SharedView:
    """The certificate with only the granted fields (absent ones are not granted). 403 without
    an active agreement covering its authority; 404 for an unknown number under an active one;
    400 naming ``query.purpose`` when blank. Logged as ``share`` (or ``deny``) with the agreement
    and the purpose (申请事由) when given."""
    with query_fields():
        shared = registry_of(request).share(
            number, principal=principal, agreement_id=agreement, purpose=purpose
        )
    return _view(shared)


@get(
    "/sharing/certificates/{number:str}/pdf",
    summary="Download the sealed PDF (文件下载) with the purpose (申请事由)",
    tags=["sharing"],
    sync_to_thread=True,
    media_type="application/pdf",
)
def download(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    number: Number,
    purpose: Annotated[
        str | None,
        Parameter(
            description="申请事由: why the file is downloaded (required; logged)", max_length=1000
        ),
    ] = None,
    agreement: AgreementChoice = None,
) -> Response[bytes]:
    """The certificate's sealed PDF as filed, when the party's active agreement covering its
    authority grants ``file``. ``purpose`` is mandatory: missing or blank → 400 naming
    ``query.purpose``. The download is logged as ``download`` with the agreement and the
    purpose; a refusal as ``deny`` with the purpose."""
    with query_fields():
        pdf = registry_of(request).shared_file(
            number, purpose=purpose, principal=principal, agreement_id=agreement
        )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="certificate.pdf"'},
    )


@get("/agreements", summary="List sharing agreements", tags=["sharing"], sync_to_thread=True)
def list_agreements(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    party: Annotated[
        str | None, Parameter(description="only this party's agreements", max_length=200)
    ] = None,
) -> list[AgreementView]:
    """Agreements, revoked ones included, by signed date: all (or ``party``'s) for the platform
    and auditors, its own for a sharing party; 403 for others."""
    registry = registry_of(request)
    now = _now(registry)
    return [_agreement(a, now) for a in registry.agreements(principal=principal, party=party)]


@post(
    "/agreements",
    summary="Add a signed sharing agreement",
    tags=["sharing"],
    sync_to_thread=True,
    status_code=201,
)
def add_agreement(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    data: JSONBody[dict[str, Any]],
) -> AgreementView:
    """The platform adds an agreement: ``id`` (optional), ``party``, ``purpose``,
    ``authorities``, ``fields`` (``file`` grants the PDF download), ``valid_from``, ``valid_to``,
    ``signed_on`` (see :func:`bdcert.lifecycle.sharing.parse_agreement`). 400 naming every bad
    field (nothing stored); 403 unless the platform. Logged as ``agreement_add``."""
    registry = registry_of(request)
    return _agreement(registry.add_agreement(data, principal=principal), _now(registry))


@post(
    "/agreements/{agreement_id:str}/revoke",
    summary="Revoke a sharing agreement",
    tags=["sharing"],
    sync_to_thread=True,
    status_code=200,
)
def revoke_agreement(
    request: Request[Any, Any, Any],
    principal: NamedDependency[Principal],
    agreement_id: AgreementId,
    data: JSONBody[dict[str, Any]],
) -> AgreementView:
    """The platform revokes an agreement from now on; body ``{"reason": "…"}`` (400 naming
    ``reason`` when blank; 400 naming ``id`` when already revoked; 404 for an unknown id; 403
    unless the platform). Logged as ``agreement_revoke``."""
    registry = registry_of(request)
    reason = data.get("reason")
    revoked = registry.revoke_agreement(
        agreement_id, reason=reason if isinstance(reason, str) else "", principal=principal
    )
    return _agreement(revoked, _now(registry))


ROUTES: list[Any] = [search, query, download, list_agreements, add_agreement, revoke_agreement]
