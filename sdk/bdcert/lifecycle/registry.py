"""The certificate lifecycle (rule articles 2, 5, 6, 10): issue, supersede, cancel, restrict, verify.

:class:`Registry` calls only hooks and protocol objects (storage, seal provider, identity,
notifiers), so every part can be replaced by a plugin. :meth:`Registry.open` builds one from a
workspace. It is a facade: each method delegates to the module of its concern
(:mod:`~bdcert.lifecycle.intake`, :mod:`~bdcert.lifecycle.backlog`,
:mod:`~bdcert.lifecycle.issuing`, :mod:`~bdcert.lifecycle.events`,
:mod:`~bdcert.lifecycle.reading`, :mod:`~bdcert.lifecycle.auditing`,
:mod:`~bdcert.lifecycle.holders`, :mod:`~bdcert.lifecycle.sharing`), handing it the registry's
:class:`~bdcert.lifecycle.services.Services`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from bdcert.audit import AuditSettings, Checkpointer, CheckpointingStorage
from bdcert.codes import CodeTables
from bdcert.config import DownloadPolicy, LookupPolicy, Workspace
from bdcert.errors import IdentityError
from bdcert.lifecycle import (
    auditing,
    backlog,
    events,
    intake,
    opening,
    reading,
)
from bdcert.lifecycle.auditing import Finding
from bdcert.lifecycle.backlog import DrainReport
from bdcert.lifecycle.parties import PartyOperations
from bdcert.lifecycle.renewal import EvidenceJobs
from bdcert.lifecycle.services import Services, check_formats
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Authority,
    Certificate,
    IssueResult,
    Principal,
    Verdict,
)
from bdcert.plugins import Hooks
from bdcert.protocols import (
    AuditCheckpoint,
    BacklogItem,
    Closable,
    IdentityProvider,
    Notifier,
    SealProvider,
    Storage,
)

if TYPE_CHECKING:
    from bdcert.render import Renderer
    from bdcert.verify.national import NationalResult
    from bdcert.verify.offline import TrustBundle

__all__ = ["DrainReport", "Finding", "Registry"]

T = TypeVar("T")


class ServiceAttribute(Generic[T]):
    """A :class:`Registry` attribute that is the attribute of the same name of its
    :class:`Services`: reading and assigning it (a test swapping the seal provider) act there."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, registry: None, owner: type) -> ServiceAttribute[T]: ...
    @overload
    def __get__(self, registry: Registry, owner: type) -> T: ...
    def __get__(self, registry: Registry | None, owner: type) -> T | ServiceAttribute[T]:
        if registry is None:
            return self
        value: T = getattr(registry.services, self.name)
        return value

    def __set__(self, registry: Registry, value: T) -> None:
        setattr(registry.services, self.name, value)


class Registry(EvidenceJobs, PartyOperations):
    """Issues, seals, files and verifies e-certificates for a set of authorities.

    :param authorities: by code (``djjg``).
    :param verification_base_url: ASCII prefix of the URL in each QR code; a token is appended.
    :param trust_roots: PEM or DER certificates seals must chain to.
    :param clock: returns the current aware time (tests pin it).
    :param backlog_retry: seconds (first, max) before a backlog whose sealing failed is tried
        again, doubling from first to max (rule article 15).
    :param download_policy: how failed self-download attempts are limited (rule article 13;
        ``[self_download]`` in ``bdcert.toml``).
    :param lookup_policy: how many lookups one client may make (``[lookup]``).
    """

    authorities: ServiceAttribute[dict[str, Authority]] = ServiceAttribute()
    codes: ServiceAttribute[CodeTables] = ServiceAttribute()
    storage: ServiceAttribute[Storage] = ServiceAttribute()
    seal_provider: ServiceAttribute[SealProvider] = ServiceAttribute()
    renderer: ServiceAttribute[Renderer] = ServiceAttribute()
    trust_roots: ServiceAttribute[list[bytes]] = ServiceAttribute()
    verification_base_url: ServiceAttribute[str] = ServiceAttribute()
    identity: ServiceAttribute[IdentityProvider | None] = ServiceAttribute()
    notifiers: ServiceAttribute[list[Notifier]] = ServiceAttribute()
    hooks: ServiceAttribute[Hooks] = ServiceAttribute()
    clock: ServiceAttribute[Callable[[], datetime]] = ServiceAttribute()
    #: The document formats issued: the PDF is always filed; ``ofd`` adds a sealed OFD.
    formats: ServiceAttribute[tuple[str, ...]] = ServiceAttribute()
    #: Seconds before a failed backlog is tried again: the first wait, doubling to the max.
    backlog_retry: ServiceAttribute[tuple[float, float]] = ServiceAttribute()
    #: Failed self-download attempts that lock an identity, within what window, how long.
    download_policy: ServiceAttribute[DownloadPolicy] = ServiceAttribute()
    #: ``[lookup]``: lookups one client may make within a window.
    lookup_policy: ServiceAttribute[LookupPolicy] = ServiceAttribute()
    #: ``[audit]``: which authority seals the audit log's checkpoints, and how often.
    audit_settings: ServiceAttribute[AuditSettings] = ServiceAttribute()
    #: Makes and checks the sealed audit checkpoints (rule article 17, :mod:`bdcert.audit`).
    checkpointer: ServiceAttribute[Checkpointer] = ServiceAttribute()
    #: The workspace directory :meth:`open` read (None for a registry built otherwise).
    workspace_path: Path | None = None

    def __init__(
        self,
        *,
        authorities: Mapping[str, Authority],
        codes: CodeTables,
        storage: Storage,
        seal_provider: SealProvider,
        renderer: Renderer,
        trust_roots: Sequence[bytes],
        verification_base_url: str,
        identity: IdentityProvider | None = None,
        notifiers: Sequence[Notifier] = (),
        hooks: Hooks | None = None,
        clock: Callable[[], datetime] | None = None,
        formats: Sequence[str] = ("pdf",),
        backlog_retry: tuple[float, float] = (30.0, 3600.0),
        download_policy: DownloadPolicy | None = None,
        audit: AuditSettings | None = None,
        lookup_policy: LookupPolicy | None = None,
    ) -> None:
        authorities = dict(authorities)
        audit_settings = audit or AuditSettings()
        checkpointer = Checkpointer(
            storage=storage,
            seal_provider=seal_provider,
            renderer=renderer,
            authorities=authorities,
            settings=audit_settings,
            check=lambda pdf: reading.check_document(pdf, self.trust_roots),
            clock=lambda: self.clock(),
        )
        if audit_settings.checkpoint_every and checkpointer.authority is not None:
            storage = CheckpointingStorage(storage, checkpointer)
        #: The parts of this registry, handed to the lifecycle modules.
        self.services = Services(
            authorities=authorities,
            codes=codes,
            storage=storage,
            seal_provider=seal_provider,
            renderer=renderer,
            trust_roots=list(trust_roots),
            verification_base_url=verification_base_url,
            identity=identity,
            notifiers=list(notifiers),
            hooks=hooks if hooks is not None else Hooks(),
            clock=clock or (lambda: datetime.now(CHINA_TZ)),
            formats=check_formats(formats, seal_provider),
            backlog_retry=backlog_retry,
            download_policy=download_policy or DownloadPolicy(),
            audit_settings=audit_settings,
            checkpointer=checkpointer,
            lookup_policy=lookup_policy or LookupPolicy(),
        )

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        workspace: Workspace | str | Path | None = None,
        *,
        hooks: Hooks | None = None,
        clock: Callable[[], datetime] | None = None,
        formats: Sequence[str] | None = None,
    ) -> Registry:
        """Build a registry from a workspace's ``bdcert.toml`` and the installed plugins.

        :raises ConfigurationError: for a missing workspace, unknown plugin or bad setting.
        """
        ws = workspace if isinstance(workspace, Workspace) else Workspace.load(workspace)
        registry = cls(**opening.registry_arguments(ws, hooks=hooks, clock=clock, formats=formats))
        registry.workspace_path = ws.path
        return registry

    def close(self) -> None:
        """Release the store's connections and the seal provider's session (an HSM login)."""
        self.storage.close()
        if isinstance(self.seal_provider, Closable):
            self.seal_provider.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def authenticate(self, credentials: Mapping[str, str]) -> Principal:
        """Authenticate through the configured identity provider (rule article 11).

        :raises IdentityError: if nobody is configured or the credentials identify nobody.
        """
        if self.identity is None:
            raise IdentityError("no identity provider is configured")
        if not isinstance(credentials, Mapping):
            raise IdentityError('credentials must be a mapping, e.g. {"operator": "clerk01"}')
        return self.identity.authenticate(credentials)

    # -- issuing --------------------------------------------------------------------------
    def push(self, raw: Any, *, principal: Principal) -> IssueResult:
        """Process one registration-book entry pushed after 登簿 (rule article 7).

        Validates it, then in one storage transaction: numbers, renders, seals and files the
        certificates it produces (articles 5, 6), supersedes the e-certificates it replaces and
        records paper originals as recovered or announced void (article 10), cancels (注销) or
        restricts (查封). An exact re-push returns the earlier result as ``replayed``.

        :param raw: the decoded JSON object of the entry.
        :returns: the outcome, with the sealed PDFs of issued or replayed certificates.
        :raises ValidationError: listing every problem; nothing is stored, no number consumed.
        :raises IdempotencyConflict: the ``ywh`` was pushed before with other content.
        :raises PermissionDenied: the principal may not issue for the entry's authority.
        :raises SealingError, RenderError, StorageError: nothing is stored either.
        """
        return intake.push(self.services, raw, principal=principal)

    # -- force-majeure backlog (rule article 15) ------------------------------------------
    def backlog(
        self, *, principal: Principal, authority: str | None = None, state: str | None = None
    ) -> list[BacklogItem]:
        """Backlog items in order (rule article 15), optionally of one authority or state
        (``waiting``, ``issued``, ``rejected``).

        :raises PermissionDenied: unless the principal may issue for the authority, or audit.
        """
        return backlog.list_backlog(
            self.services, principal=principal, authority=authority, state=state
        )

    def drain_backlog(
        self, *, principal: Principal, authority: str | None = None, force: bool = False
    ) -> DrainReport:
        """Issue waiting backlog entries, oldest first per authority, each in its own
        transaction that also marks it done (so a crash repeats or skips nothing).

        An entry whose references no longer hold is ``rejected`` (kept, with its problems). The
        first sealing failure stops that authority's draining (order is kept) and schedules the
        next attempt with backoff; ``force`` ignores the schedule (``bdcert backlog drain``).

        :param authority: only this authority's backlog; default every authority the principal
            may issue for.
        :raises PermissionDenied: if the principal may not issue for ``authority``.
        :raises StorageError: if the store fails (what was issued before stays issued).
        """
        return backlog.drain_backlog(
            self.services, principal=principal, authority=authority, force=force
        )

    # -- events -----------------------------------------------------------------------------
    def redeliver(self, *, principal: Principal, limit: int = 100) -> tuple[int, int]:
        """Try again to deliver the events in the outbox, oldest first.

        :returns: (delivered, still undelivered) among at most ``limit`` events tried.
        :raises PermissionDenied: unless the principal is the platform.
        """
        return events.redeliver(self.services, principal=principal, limit=limit)

    # -- reading and verifying ------------------------------------------------------------
    def certificate(self, number: str, *, principal: Principal) -> Certificate:
        """A certificate with its current status. :raises NotFound: :raises PermissionDenied:"""
        return reading.certificate(self.services, number, principal=principal)

    def pdf(self, number: str, *, principal: Principal) -> bytes:
        """The sealed PDF as filed; logged as a ``read`` and a ``download`` (rule article 17).
        :raises NotFound: :raises PermissionDenied:"""
        return reading.pdf(self.services, number, principal=principal)

    def ofd(self, number: str, *, principal: Principal) -> bytes:
        """The sealed OFD (GB/T 33190) as filed; logged as a ``read`` and a ``download`` (rule
        article 17). :raises NotFound: no such certificate, or no OFD filed for it.
        :raises PermissionDenied:"""
        return reading.ofd(self.services, number, principal=principal)

    def certificate_by_licence(self, licence_id: str, *, principal: Principal) -> Certificate:
        """The certificate with this national e-licence identifier (电子证照标识,
        ``1.2.156.3005.2.…``), as :meth:`certificate`. :raises NotFound: :raises PermissionDenied:"""
        return reading.certificate_by_licence(self.services, licence_id, principal=principal)

    def history(self, number: str, *, principal: Principal) -> list[Certificate]:
        """The supersession chain of a certificate (rule article 10): the certificates it
        superseded (those its entry's 原证号 named, and theirs, …), itself, and its successors
        (and theirs), oldest first by issue time. The asked certificate's read is logged.
        :raises NotFound: :raises PermissionDenied: as :meth:`certificate`."""
        return reading.history(self.services, number, principal=principal)

    def audit_log(
        self,
        *,
        principal: Principal,
        subject: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """Audit events, oldest first, filtered by subject (certificate or business number;
        a certificate's also gives the events whose ``details.certificates`` name it, as
        self-downloads do), actor and time (aware datetimes, inclusive). :raises PermissionDenied: unless an auditor
        or the platform (rule article 17)."""
        return auditing.audit_log(
            self.services,
            principal=principal,
            subject=subject,
            actor=actor,
            since=since,
            until=until,
        )

    def audit_page(
        self,
        *,
        principal: Principal,
        subject: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[tuple[int, AuditEvent]]:
        """One page of :meth:`audit_log` with each event's id (1, 2, … in log order, the id a
        checkpoint seals): the first ``limit`` matching events whose id is above ``after``
        (rule article 17). The next page starts after the last id returned.

        :param limit: 1 to 1000 (:data:`bdcert.lifecycle.auditing.MAX_AUDIT_PAGE`).
        :raises ValidationError: a negative ``after``, a ``limit`` out of range, a naive
            ``since`` or ``until`` (naming each). :raises PermissionDenied: as :meth:`audit_log`.
        """
        return auditing.audit_page(
            self.services,
            principal=principal,
            subject=subject,
            actor=actor,
            since=since,
            until=until,
            after=after,
            limit=limit,
        )

    def reconcile(
        self,
        book: Iterable[Any],
        *,
        principal: Principal,
        late_after: timedelta = timedelta(hours=24),
    ) -> list[Finding]:
        """Compare the registry book with what was issued (rule article 9: every recording is
        issued, in full and in time).

        :param book: the registry book's entries (decoded JSON objects), as pushed.
        :param late_after: a certificate sealed longer than this after 登簿时间 is late.
        :returns: one finding per entry, in book order: ``issued``, ``processed`` (注销/查封),
            ``late`` (with the delay), ``missing`` (never issued: not pushed, or rejected) or
            ``different`` (issued from other content than the book holds).
        :raises PermissionDenied: unless an auditor or the platform.
        """
        return auditing.reconcile(self.services, book, principal=principal, late_after=late_after)

    def verify_audit(
        self,
        *,
        principal: Principal,
        checkpoints: Sequence[tuple[str, bytes]] = (),
        witnesses: Sequence[tuple[str, bytes]] = (),
    ) -> list[str]:
        """Check the audit log (rule article 17): recompute its hash chain, then check every
        sealed checkpoint (seal against the trust roots, numbering, links, and that the log's
        event at each sealed id still has the sealed hash; see :mod:`bdcert.audit`), and replay
        the log's certificate transitions against the register's current state (a certificate
        edited outside bdcert, e.g. a cancelled one set back to valid: :mod:`bdcert.audit.register`).

        :param checkpoints: (name, PDF bytes) of checkpoint copies kept outside the database.
        :param witnesses: (name, PDF bytes) of witnesses' copies of countersignatures (:mod:`bdcert.audit.witness`).
        :returns: one message per edited, deleted, inserted or reordered record and per failing
            or missing checkpoint, naming it (empty when intact).
        :raises PermissionDenied: as :meth:`audit_log`.
        """
        return auditing.verify_audit(
            self.services, principal=principal, checkpoints=checkpoints, witnesses=witnesses
        )

    def checkpoint_audit(self, *, principal: Principal) -> AuditCheckpoint:
        """Seal a checkpoint of the audit log now with the ``[audit] authority``'s seal (rule
        article 17); it is stored and its making logged. See :meth:`bdcert.audit.Checkpointer.make`.

        :raises PermissionDenied: unless the platform. :raises SealingError: nothing is stored.
        :raises StorageError: if the log is empty.
        """
        return auditing.checkpoint_audit(self.services, principal=principal)

    def audit_checkpoints(self, *, principal: Principal) -> list[AuditCheckpoint]:
        """The stored audit checkpoints, by number. :raises PermissionDenied: as :meth:`audit_log`."""
        return auditing.audit_checkpoints(self.services, principal=principal)

    def lookup(
        self,
        *,
        token: str | None = None,
        number: str | None = None,
        name: str | None = None,
        principal: Principal | None = None,
        client: str | None = None,
    ) -> Verdict:
        """Check a certificate by the QR code's token or by its number (rule article 14).

        No file is checked (``trusted`` is False): the answer is the register's, in full for a
        :func:`bdcert.access.full_view`; for others every name masked, free text (附记 …) and
        the detail included, ID numbers cut; a sharing party sees only its agreement's grant
        (:func:`bdcert.access.redact`, rule article 16). **Not walkable**: the QR token has
        192 random bits; by number, whoever lacks a full view must also give ``name`` (one of
        its 权利人), else UNKNOWN_CERTIFICATE as for an unregistered number; each client
        (``client``, else the principal, else ``anonymous``) may make ``[lookup]
        max_lookups`` lookups per ``window_minutes``, counted in storage (platform and
        auditors are not counted).

        :param token: the token, or the whole verification URL the QR code holds.
        :param name: a 权利人's name as registered (blanks around it and width ignored).
        :param client: who asks, for the limit: an HTTP service passes the remote address.
        :returns: VALID, RESTRICTED, SUPERSEDED (naming the successor), CANCELLED (with the
            reason, masked) or UNKNOWN_CERTIFICATE.
        :raises ValueError: unless exactly one of ``token`` and ``number`` is given.
        :raises ValidationError: an anonymous lookup by number without ``name``, a blank
            ``name`` or ``client`` (naming every bad field; not counted).
        :raises TooManyAttempts: the client has had its lookups for now; ``locked_until`` says
            when the next is allowed (logged as a ``lookup`` with outcome ``limited``).
        """
        return reading.lookup(
            self.services, token=token, number=number, name=name, principal=principal, client=client
        )

    def verify(
        self, pdf: bytes, *, principal: Principal | None = None, at: datetime | None = None
    ) -> Verdict:
        """Verify a certificate PDF (rule article 14).

        The seal must be intact, cover the whole file (or be followed only by PAdES validation
        data and document timestamps) and chain to a trust root; the file must be the one on
        file (by SHA-256); then the status comes from storage.

        :param at: the validation time of the seal (aware; default now): a PAdES B-LT/B-LTA
            seal is judged from its embedded evidence as of then (ETSI EN 319 102-1), e.g. 20
            years ahead, long after its seal certificate expired.
        :returns: a verdict whose code names the single most important finding (``REVOKED``:
            the seal certificate was revoked before the seal's proven time).
        :raises ConfigurationError: for a naive ``at``.
        """
        return reading.verify(self.services, pdf, principal=principal, at=at)

    def information_check(
        self,
        fields: Mapping[str, Any],
        *,
        principal: Principal | None = None,
        client: str | None = None,
    ) -> NationalResult:
        """信息验证 (GB/T 36906): are ``fields`` (``zh``, ``qlr``, face items) the face values
        of a certificate in force? National codes 0–6: :mod:`bdcert.verify.national`. Counted
        against the ``[lookup]`` limit as :meth:`lookup`; logged (action ``verify``).

        :raises ValidationError: not an object of strings, or an unknown field (each named).
        :raises TooManyAttempts: the client has had its share of lookups.
        """
        from bdcert.lifecycle import verifying  # the verify layer's answers: loaded on use

        return verifying.information_check(
            self.services, fields, principal=principal, client=client
        )

    def trust_bundle(self) -> TrustBundle:
        """The trust roots, seal certificates and CRLs a bank pins for offline verification
        (:class:`bdcert.verify.offline.TrustBundle`)."""
        from bdcert.lifecycle import verifying  # the verify layer's answers: loaded on use

        return verifying.trust_bundle(self.services)

    def status_snapshot(self, *, made_by: str = "bdcert") -> bytes:
        """A status snapshot of the register now, sealed by the ``[audit]`` authority (a PDF
        carrying the JSON: :mod:`bdcert.verify.offline`); logged (action ``snapshot``).

        :raises ConfigurationError: no authority to seal. :raises SealingError: sealing failed.
        """
        from bdcert.lifecycle import verifying  # the verify layer's answers: loaded on use

        return verifying.status_snapshot(self.services, made_by=made_by)
