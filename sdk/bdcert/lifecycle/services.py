"""What every lifecycle module works with: the :class:`Services` of one registry.

:class:`bdcert.lifecycle.Registry` builds one and hands it to the modules for intake, backlog,
issuing, events, reading, auditing, holders and sharing; none of them sees the Registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from bdcert.access import authorize
from bdcert.audit import AuditSettings, Checkpointer
from bdcert.codes import CodeTables
from bdcert.config import DownloadPolicy, LookupPolicy
from bdcert.errors import ConfigurationError, NotFound, PermissionDenied
from bdcert.model import AuditEvent, Authority, Certificate, Principal
from bdcert.plugins import Hooks
from bdcert.protocols import (
    IdentityProvider,
    Notifier,
    OfdSealer,
    SealProvider,
    Storage,
    StorageTransaction,
)

if TYPE_CHECKING:
    from bdcert.render import Renderer

__all__ = ["FORMATS", "Services", "check_formats", "ofd_or_none"]

#: The logger of the lifecycle (``bdcert``).
log = logging.getLogger("bdcert")


class DeferredRenderer:
    """A :class:`~bdcert.render.Renderer` made on first use, then stood in for.

    Importing the renderer (fpdf, fontTools, segno, Pillow) costs about 0.4 s; a registry opened to
    read the register (``bdcert backlog list``, ``status``, ``lookup``) never draws, so
    :meth:`Registry.open <bdcert.lifecycle.Registry.open>` hands the registry one of these. Every
    attribute is the renderer's; assigning one sets it here, in front of the renderer's.

    :param make: builds the renderer (called once, under no lock: a second concurrent first use
        may build a second one, which is discarded).
    """

    def __init__(self, make: Callable[[], Renderer]) -> None:
        self._make = make
        self._renderer: Renderer | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in {"_make", "_renderer"}:
            raise AttributeError(name)
        if self._renderer is None:
            self._renderer = self._make()
        return getattr(self._renderer, name)


#: Document formats a registry can issue.
FORMATS = ("pdf", "ofd")


@attrs.define(eq=False)
class Services:
    """The parts one registry is made of (see :class:`bdcert.lifecycle.Registry` for each).

    Not frozen: a part can be swapped while the registry runs (a seal provider re-created after an
    HSM restart, a test's broken one); the Registry's attributes of the same names read and write
    these.

    :ivar authorities: by code (``djjg``).
    :ivar trust_roots: PEM or DER certificates seals must chain to.
    :ivar verification_base_url: ASCII prefix of the URL in each QR code; a token is appended.
    :ivar clock: returns the current aware time (tests pin it).
    """

    authorities: dict[str, Authority]
    codes: CodeTables
    storage: Storage
    seal_provider: SealProvider
    renderer: Renderer
    trust_roots: list[bytes]
    verification_base_url: str
    identity: IdentityProvider | None
    notifiers: list[Notifier]
    hooks: Hooks
    clock: Callable[[], datetime]
    #: The document formats issued: the PDF is always filed; ``ofd`` adds a sealed OFD.
    formats: tuple[str, ...]
    #: Seconds before a failed backlog is tried again: the first wait, doubling to the max.
    backlog_retry: tuple[float, float]
    #: Failed self-download attempts that lock an identity, within what window, how long.
    download_policy: DownloadPolicy
    #: ``[audit]``: which authority seals the audit log's checkpoints, and how often.
    audit_settings: AuditSettings
    #: Makes and checks the sealed audit checkpoints (rule article 17, :mod:`bdcert.audit`).
    checkpointer: Checkpointer
    #: ``[lookup]``: how many lookups one client may make within what window.
    lookup_policy: LookupPolicy = attrs.field(factory=LookupPolicy)

    def authorize(
        self,
        principal: Principal,
        action: str,
        authority: str | None = None,
        subject: str = "",
        *,
        certificate: Certificate | None = None,
    ) -> None:
        """:func:`bdcert.access.authorize`, with every denial written to the audit log (rule
        article 17). Call it outside any open storage transaction.

        :raises PermissionDenied: the principal may not; the denial is logged (``deny``).
        """
        try:
            authorize(principal, action, authority, certificate=certificate)
        except PermissionDenied as exc:
            details = {"action": action, "authority": authority, "reason": str(exc)}
            with self.storage.transaction() as tx:
                tx.append_audit(AuditEvent("deny", principal.name, subject, self.clock(), details))
            raise


def ofd_or_none(tx: StorageTransaction, number: str) -> bytes | None:
    """The filed OFD of a certificate, or None when only its PDF is filed."""
    try:
        return tx.get_ofd(number)
    except NotFound:
        return None


def check_formats(formats: Sequence[str], seal_provider: SealProvider) -> tuple[str, ...]:
    """The formats a registry issues, checked against :data:`FORMATS` and the seal provider.

    :raises ConfigurationError: an unknown format, none, or OFD with a provider that cannot seal it.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ConfigurationError(f"formats must be among {', '.join(FORMATS)}, not {unknown}")
    if "ofd" in formats and not isinstance(seal_provider, OfdSealer):
        raise ConfigurationError(
            f"the {seal_provider.name} seal provider cannot seal OFD documents "
            "(GB/T 38540 seals need the sm2 provider: bdcert init --demo --algorithm sm2)"
        )
    return tuple(formats)
