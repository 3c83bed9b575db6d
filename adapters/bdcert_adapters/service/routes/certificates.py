"""Reading certificates (rule articles 10, 14, 17): metadata, the sealed PDF and OFD, status and
the supersession chain, by certificate number (``/api/v1/certificates/{number}``) or by national
e-licence identifier (``/api/v1/licences/{licence_id}``).

Who may read is :func:`bdcert.access.authorize`'s ``read``: the platform, auditors, a registrar
of the certificate's own authority, a holder (权利人) of their own certificate; everyone else
gets 403 (a sharing party reads through ``/api/v1/sharing``). Every read is in the audit log, every
document served is logged as a ``download``.

A number holds Han characters and parentheses: percent-encode it in the path (UTF-8),
``/api/v1/certificates/%E5%B7%9D%282024%29…``; full-width ``（2024）`` is not the same number.
"""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import Annotated, Any

import attrs
from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import PathParameter

from bdcert.errors import NotFound
from bdcert.lifecycle.reading import status_verdict
from bdcert.model import CHINA_TZ, Certificate, Principal
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.wire import (
    CertificateView,
    RestrictionView,
    certificate_view,
)

__all__ = ["ROUTES", "CertificateHistory", "CertificateStatusView", "HistoryItem"]

#: A certificate number in the path, percent-encoded.
Number = Annotated[
    str,
    PathParameter(
        description="证书号, percent-encoded (UTF-8), e.g. 川(2024)成都市不动产权第0000001号",
        max_length=200,
    ),
]
#: An e-licence identifier in the path.
LicenceId = Annotated[
    str,
    PathParameter(
        description="电子证照标识, e.g. 1.2.156.3005.2.11100000MB03271699001.….001.T",
        max_length=200,
    ),
]

PDF_MEDIA_TYPE = "application/pdf"
#: OFD (GB/T 33190) documents: a ZIP package.
OFD_MEDIA_TYPE = "application/ofd"


@attrs.define(frozen=True)
class CertificateStatusView:
    """A certificate's status as the register holds it now (rule articles 10, 14).

    :ivar number: 证书号.
    :ivar code: the verdict the status gives: ``valid``, ``restricted`` (valid, its unit under a
        seizure 查封 in force), ``superseded`` or ``cancelled`` (注销).
    :ivar detail: a sentence explaining ``code`` (naming the successor, the reason, the seizing
        authority and its document).
    :ivar status: the stored status: ``valid``, ``superseded`` or ``cancelled``.
    :ivar restricted: a seizure is in force today (China time).
    :ivar superseded_by: the successors' numbers. :ivar cancel_reason: 注销原因, or None.
    :ivar restrictions: every seizure recorded against its unit.
    """

    number: str
    code: str
    detail: str
    status: str
    restricted: bool
    superseded_by: tuple[str, ...]
    cancel_reason: str | None
    restrictions: tuple[RestrictionView, ...]


@attrs.define(frozen=True)
class HistoryItem:
    """One certificate of a supersession chain.

    :ivar number: 证书号. :ivar kind: ``property_certificate`` or ``registration_proof``.
    :ivar authority: 登记机构 code. :ivar status: ``valid``, ``superseded`` or ``cancelled``.
    :ivar issued_at: when it was sealed (aware, +08:00).
    :ivar superseded_at: when its first successor was sealed, or None.
    :ivar supersedes: the numbers in this chain it superseded.
    :ivar superseded_by: the numbers that superseded it.
    :ivar business_number: 业务号 of the entry that issued it.
    """

    number: str
    kind: str
    authority: str
    status: str
    issued_at: datetime
    superseded_at: datetime | None
    supersedes: tuple[str, ...]
    superseded_by: tuple[str, ...]
    business_number: str


@attrs.define(frozen=True)
class CertificateHistory:
    """The supersession chain of ``number`` (rule article 10): every certificate it replaced,
    directly or not, itself, and every one that replaced it, oldest first.

    :ivar current: the chain's certificates in force (valid, not superseded or cancelled).
    """

    number: str
    chain: tuple[HistoryItem, ...]
    current: tuple[str, ...]


def _has_ofd(request: Request[Any, Any, Any], number: str) -> bool:
    with registry_of(request).storage.transaction() as tx:
        try:
            tx.get_ofd(number)
        except NotFound:
            return False
    return True


def _view(
    request: Request[Any, Any, Any], cert: Certificate, principal: NamedDependency[Principal]
) -> Any:
    return certificate_view(cert, principal, has_ofd=_has_ofd(request, cert.number))


def _document(data: bytes, media_type: str, number: str, suffix: str) -> Response[bytes]:
    from urllib.parse import quote

    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(number + suffix)}",
            "Cache-Control": "no-store",
        },
    )


_READERS = (
    " Readers: the platform, auditors, a registrar of the certificate's authority, a holder of "
    "their own certificate (403 for others, 401 without credentials, 404 for an unknown one)."
)

_MEDIA_TYPES = {"pdf": PDF_MEDIA_TYPE, "ofd": OFD_MEDIA_TYPE}


def _reading(path: str, summary: str, description: str, media_type: str | None = None) -> Any:
    """The ``@get`` of a certificate-reading route: tag, thread, description with its readers."""
    return get(
        path,
        summary=summary,
        tags=["certificates"],
        sync_to_thread=True,
        media_type=media_type,
        description=description + _READERS,
    )


def _file(
    request: Request[Any, Any, Any],
    number: str,
    principal: NamedDependency[Principal],
    kind: str,
) -> Response[bytes]:
    """The sealed ``kind`` (``pdf`` or ``ofd``) of ``number``, as an attachment."""
    registry = registry_of(request)
    read = registry.pdf if kind == "pdf" else registry.ofd
    return _document(read(number, principal=principal), _MEDIA_TYPES[kind], number, "." + kind)


def _licensed_number(
    request: Request[Any, Any, Any], licence_id: str, principal: NamedDependency[Principal]
) -> str:
    return registry_of(request).certificate_by_licence(licence_id, principal=principal).number


@_reading(
    "/certificates/{number:str}",
    "A certificate's metadata",
    "The certificate as registered: face items, holders, status, links.",
)
def certificate(
    number: Number, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> CertificateView:
    cert = registry_of(request).certificate(number, principal=principal)
    view: CertificateView = _view(request, cert, principal)
    return view


@_reading(
    "/certificates/{number:str}/pdf",
    "A certificate's sealed PDF",
    "The sealed PDF as filed, byte for byte; logged as a download.",
    PDF_MEDIA_TYPE,
)
def certificate_pdf(
    number: Number, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Response[bytes]:
    return _file(request, number, principal, "pdf")


@_reading(
    "/certificates/{number:str}/ofd",
    "A certificate's sealed OFD",
    "The sealed OFD (GB/T 33190) as filed; 404 problem when the certificate was issued "
    "without one; logged as a download.",
    OFD_MEDIA_TYPE,
)
def certificate_ofd(
    number: Number, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Response[bytes]:
    return _file(request, number, principal, "ofd")


@_reading(
    "/certificates/{number:str}/status",
    "A certificate's status",
    "Valid, restricted (查封), superseded (by whom) or cancelled (why).",
)
def certificate_status(
    number: Number, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> CertificateStatusView:
    registry = registry_of(request)
    c = registry.certificate(number, principal=principal)
    code, detail = status_verdict(registry.services, c)
    view = certificate_view(c, principal, now=registry.clock())
    return CertificateStatusView(
        number=c.number,
        code=code.value,
        detail=detail,
        status=view.status,
        restricted=view.restricted,
        superseded_by=view.superseded_by,
        cancel_reason=view.cancel_reason,
        restrictions=view.restrictions,
    )


@_reading(
    "/certificates/{number:str}/history",
    "A certificate's supersession chain",
    "The certificates it superseded (those its entry's 原证号 named, and theirs) and those "
    "that superseded it, oldest first, each with its status and dates (rule article 10).",
)
def certificate_history(
    number: Number, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> CertificateHistory:
    chain = registry_of(request).history(number, principal=principal)
    by_number = {c.number: c for c in chain}
    items = []
    for c in chain:
        successors = [by_number[n].issued_at for n in c.superseded_by if n in by_number]
        items.append(
            HistoryItem(
                number=c.number,
                kind=c.kind.value,
                authority=c.authority_code,
                status=c.status.value,
                issued_at=c.issued_at.astimezone(CHINA_TZ),
                superseded_at=min(successors).astimezone(CHINA_TZ) if successors else None,
                supersedes=tuple(
                    o.number for o in chain if c.number in o.superseded_by and o is not c
                ),
                superseded_by=tuple(c.superseded_by),
                business_number=c.business_number,
            )
        )
    current = tuple(c.number for c in chain if c.status.value == "valid")
    return CertificateHistory(number, tuple(items), current)


@_reading(
    "/licences/{licence_id:str}",
    "A certificate's metadata by e-licence identifier",
    "As /certificates/{number}, by the national e-licence identifier (电子证照标识, "
    "1.2.156.3005.2.…).",
)
def licence(
    licence_id: LicenceId, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> CertificateView:
    cert = registry_of(request).certificate_by_licence(licence_id, principal=principal)
    view: CertificateView = _view(request, cert, principal)
    return view


@_reading(
    "/licences/{licence_id:str}/pdf",
    "A certificate's sealed PDF by e-licence identifier",
    "As /certificates/{number}/pdf.",
    PDF_MEDIA_TYPE,
)
def licence_pdf(
    licence_id: LicenceId, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Response[bytes]:
    number = _licensed_number(request, licence_id, principal)
    return _file(request, number, principal, "pdf")


@_reading(
    "/licences/{licence_id:str}/ofd",
    "A certificate's sealed OFD by e-licence identifier",
    "As /certificates/{number}/ofd.",
    OFD_MEDIA_TYPE,
)
def licence_ofd(
    licence_id: LicenceId, request: Request[Any, Any, Any], principal: NamedDependency[Principal]
) -> Response[bytes]:
    number = _licensed_number(request, licence_id, principal)
    return _file(request, number, principal, "ofd")


ROUTES: list[Any] = [
    certificate,
    certificate_pdf,
    certificate_ofd,
    certificate_status,
    certificate_history,
    licence,
    licence_pdf,
    licence_ofd,
]

for _handler in ROUTES:  # the handlers' docstrings are their OpenAPI descriptions
    if _handler.description is None and _handler.fn.__doc__:
        _handler.description = inspect.cleandoc(_handler.fn.__doc__)
