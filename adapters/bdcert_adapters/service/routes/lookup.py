"""Looking a certificate up in the register (rule article 14): by the QR code's token, or by its
number and a 权利人's name — what a bank clerk or a buyer does with a paper print-out.

``GET /api/v1/lookup?token=…`` or ``?number=…&name=…`` answers the register's verdict, 200 in
every case the register answers, ``unknown_certificate`` included (an unregistered token, or a
number whose 权利人 is not ``name``: the two are answered alike, so numbers cannot be walked).
Anonymous callers are welcome; what they see is masked (:func:`bdcert.access.redact`). Each
client (the authenticated principal, else the remote address) may make ``[lookup]
max_lookups`` lookups per ``window_minutes``: beyond that a 429 problem with ``Retry-After``.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import attrs
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from bdcert.model import Principal
from bdcert_adapters.service.auth import client_key, registry_of
from bdcert_adapters.service.params import query_fields
from bdcert_adapters.service.problems import FieldError, problem
from bdcert_adapters.service.wire import CertificateView, certificate_view

__all__ = ["ROUTES", "LookupVerdict"]


@attrs.define(frozen=True)
class LookupVerdict:
    """The register's answer about a certificate (no file is checked: ``trusted`` is false).

    :ivar code: ``valid``, ``restricted`` (valid, its unit under seizure 查封), ``superseded``
        (``detail`` names the successor), ``cancelled`` (with the reason) or
        ``unknown_certificate`` (no such token, or no such number with that 权利人's name).
    :ivar trusted: always false: a lookup checks no seal.
    :ivar detail: a sentence explaining ``code`` (names masked for the public).
    :ivar certificate: the certificate as the caller may see it (names masked, ID numbers cut
        unless the caller has the full view; a sharing party sees its agreement's grant only);
        ``has_ofd`` is not looked at (false). None for ``unknown_certificate``.
    :ivar granted_fields: for a sharing party, the fields its agreement grants; else None.
    """

    code: str
    trusted: bool
    detail: str
    certificate: CertificateView | None = None
    granted_fields: tuple[str, ...] | None = None


@get(
    "/lookup",
    summary="Look a certificate up by QR token, or by number and holder's name",
    tags=["lookup"],
    sync_to_thread=True,
)
def lookup(
    request: Request[Any, Any, Any],
    optional_principal: NamedDependency[Principal | None],
    token: Annotated[
        str | None,
        Parameter(
            description="the QR code's token, or the whole verification URL it holds",
            max_length=2048,
        ),
    ] = None,
    number: Annotated[
        str | None,
        Parameter(
            description="证书号, e.g. 川(2024)成都市不动产权第0000001号 (full-width forms accepted)",
            max_length=200,
        ),
    ] = None,
    name: Annotated[
        str | None,
        Parameter(
            description="a 权利人's name as registered; required with number unless authenticated",
            max_length=200,
        ),
    ] = None,
) -> LookupVerdict:
    """The register's verdict on a certificate (rule article 14).

    - **200** with the verdict, ``unknown_certificate`` included;
    - **400** problem: neither or both of ``token`` and ``number``, ``name`` with ``token``, an
      anonymous ``number`` without ``name``, a blank value (every bad parameter named);
    - **401** problem for bad credentials (none is fine);
    - **429** problem with ``Retry-After`` (seconds) when the client has had its lookups
      (``[lookup] max_lookups`` per ``window_minutes``; the platform and auditors are not
      limited).
    """
    errors = []
    if (token is None) == (number is None):
        errors.append(FieldError("query.token", "give exactly one of token and number"))
        errors.append(FieldError("query.number", "give exactly one of token and number"))
    if token is not None and not token.strip():
        errors.append(FieldError("query.token", "must not be blank"))
    if number is not None and not number.strip():
        errors.append(FieldError("query.number", "must not be blank"))
    if token is not None and name is not None:
        errors.append(FieldError("query.name", "goes with number, not with token"))
    if errors:
        raise problem(400, "validation", "invalid input", "bad lookup parameters", errors)
    with query_fields("token", "number", "name"):
        verdict = registry_of(request).lookup(
            token=token,
            number=number,
            name=name,
            principal=optional_principal,
            client=client_key(request),
        )
    view = (
        None
        if verdict.certificate is None
        else certificate_view(verdict.certificate, optional_principal, redacted=True)
    )
    granted = None if verdict.granted_fields is None else tuple(sorted(verdict.granted_fields))
    return LookupVerdict(verdict.code.value, verdict.trusted, verdict.detail, view, granted)


ROUTES: list[Any] = [lookup]

for _handler in ROUTES:  # the handlers' docstrings are their OpenAPI descriptions
    if _handler.description is None and _handler.fn.__doc__:
        _handler.description = inspect.cleandoc(_handler.fn.__doc__)
