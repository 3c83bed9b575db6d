"""Holders download their own certificates (rule article 13):
``POST /api/v1/self-download`` with ``{"name", "id_number", "paper_number"?, "code"?}``.

The proof and its limits are :meth:`~bdcert.lifecycle.Registry.self_download`'s (name and 证件号
of a 权利人 of a certificate in force; the paper certificate's number where the registration
recorded one; the second factor where the authority recorded one). The caller's remote address
is the ``source`` its failures are counted against; a channel that authenticates (an app, a
portal) is logged as the actor. A failed proof is a 401 problem that never says which part
failed; a locked guard a 429 problem (``Retry-After`` in seconds, or, when a clerk must unlock
it, none and a detail saying so).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import attrs
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from bdcert.errors import IdentityError, TooManyAttempts
from bdcert.lifecycle.holders import NOT_PROVEN
from bdcert.model import IssuedCertificate, Principal
from bdcert_adapters.service.auth import registry_of
from bdcert_adapters.service.problems import problem
from bdcert_adapters.service.wire import CertificateView, certificate_view

__all__ = ["ROUTES", "DownloadedCertificate", "SelfDownload", "SelfDownloadAnswer"]


@attrs.define(frozen=True)
class SelfDownload:
    """A holder's proof (rule article 13).

    :ivar name: the 权利人's name as registered (``mc``).
    :ivar id_number: their 证件号 (``zjh``; any case).
    :ivar paper_number: the number of the paper certificate the registration replaced, where
        there was one. :ivar code: the second factor the authority gave, where it recorded one.
    """

    name: str | None = None
    id_number: str | None = None
    paper_number: str | None = None
    code: str | None = None


@attrs.define(frozen=True)
class DownloadedCertificate:
    """One certificate in force of the holder, in full (it is theirs), with its sealed files.

    :ivar certificate: the metadata. :ivar pdf: the sealed PDF as filed, base64 (RFC 4648).
    :ivar ofd: the sealed OFD, base64, or None when none was filed.
    """

    certificate: CertificateView
    pdf: str
    ofd: str | None


@attrs.define(frozen=True)
class SelfDownloadAnswer:
    """The holder's certificates in force that the proof opens, oldest first."""

    certificates: list[DownloadedCertificate]


def _downloaded(issued: IssuedCertificate, holder: Principal) -> DownloadedCertificate:
    return DownloadedCertificate(
        certificate_view(issued.certificate, holder, has_ofd=issued.ofd is not None),
        base64.b64encode(issued.pdf).decode("ascii"),
        None if issued.ofd is None else base64.b64encode(issued.ofd).decode("ascii"),
    )


@post(
    "/self-download",
    summary="A holder downloads their certificates (rule article 13)",
    tags=["holders"],
    sync_to_thread=True,
    status_code=200,
)
def self_download(
    request: Request[Any, Any, Any],
    optional_principal: NamedDependency[Principal | None],
    data: JSONBody[SelfDownload],
) -> SelfDownloadAnswer:
    """The certificates in force that the proof opens, each with its sealed PDF (and OFD).

    400 naming each blank field (not counted as an attempt); 401 for a failed proof, worded
    alike whatever failed (counted); 429 while the ID number, the name or the caller's address
    is locked (``Retry-After``), or held until a clerk unlocks it. Every attempt is logged
    (``download``) with the ID number and name masked.
    """
    client = request.client
    source = client.host if client is not None and client.host else None
    try:
        issued = registry_of(request).self_download(
            data.name,  # None: the SDK names the missing field
            data.id_number,
            data.paper_number,
            principal=optional_principal,
            source=source,
            code=data.code,
        )
    except TooManyAttempts as exc:
        if exc.locked_until is None:
            raise problem(
                429,
                "too-many-attempts",
                "too many attempts",
                "too many failed attempts: self-download is held until a clerk unlocks it "
                "(ask at a registration counter)",
            ) from exc
        seconds = max(1, int((exc.locked_until - datetime.now(UTC)).total_seconds()) + 1)
        raise problem(
            429,
            "too-many-attempts",
            "too many attempts",
            f"too many failed attempts: try again after {exc.locked_until.isoformat()}",
            retry_after=seconds,
        ) from exc
    except IdentityError as exc:
        raise problem(401, "not-proven", "not proven", NOT_PROVEN) from exc
    # the proof named this ID number: its holder sees their own certificates in full
    holder = Principal("holder (self-download)", frozenset({"holder"}), id_number=data.id_number)
    return SelfDownloadAnswer([_downloaded(i, holder) for i in issued])


ROUTES: list[Any] = [self_download]
