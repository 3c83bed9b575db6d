"""The certificate lifecycle (rule articles 2, 5, 6, 10): issue, supersede, cancel, restrict, verify.

:class:`Registry` calls only hooks and protocol objects (storage, seal provider, identity,
notifiers), so every part can be replaced by a plugin. :meth:`Registry.open` builds one from a
workspace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs

from bdcert.access import ACTIONS, authorize, redact
from bdcert.audit import AuditSettings, Checkpointer, CheckpointingStorage
from bdcert.codes import CodeTables
from bdcert.config import Workspace
from bdcert.errors import (
    ConfigurationError,
    IdempotencyConflict,
    IdentityError,
    MissingGlyph,
    NotFound,
    NotificationError,
    PermissionDenied,
    Problem,
    SealingError,
    ValidationError,
)
from bdcert.face import face_items
from bdcert.holders import DownloadPolicy
from bdcert.identifiers import LICENCE_TYPE_CODES, format_certificate_number, licence_identifier
from bdcert.model import (
    CHINA_TZ,
    AuditEvent,
    Authority,
    Certificate,
    CertificateEvent,
    CertificateKind,
    CertificateStatus,
    IssuedCertificate,
    IssueResult,
    Outcome,
    Party,
    Principal,
    RegistrationEntry,
    Restriction,
    Verdict,
    VerdictCode,
    in_force,
)
from bdcert.plugins import Hooks
from bdcert.protocols import (
    AuditCheckpoint,
    BacklogItem,
    IdentityProvider,
    Notifier,
    PaperDisposition,
    SealProvider,
    SealRequest,
    Storage,
    StorageTransaction,
)
from bdcert.render import Renderer
from bdcert.sharing import SharedCertificate, SharingAgreement
from bdcert.signatures import check_pdf_seal
from bdcert.validation import fingerprint, parse_entry

__all__ = ["DrainReport", "Finding", "Registry"]

log = logging.getLogger("bdcert")


@attrs.define(frozen=True)
class DrainReport:
    """What :meth:`Registry.drain_backlog` did.

    :ivar issued: backlog entries issued. :ivar rejected: entries whose references no longer held.
    :ivar waiting: entries still waiting afterwards. :ivar failures: one line per authority whose
        draining stopped at a sealing failure (``510100: ywh: error``).
    """

    issued: int
    rejected: int
    waiting: int
    failures: tuple[str, ...] = ()


@attrs.define(frozen=True)
class Finding:
    """One registry-book entry as :meth:`Registry.reconcile` finds it.

    :ivar finding: ``issued``, ``processed``, ``late``, ``missing`` or ``different``.
    :ivar delay: for issued certificates, sealing time minus 登簿时间.
    """

    business_number: str
    authority_code: str
    finding: str
    detail: str
    delay: timedelta | None = None


class Registry:
    """Issues, seals, files and verifies e-certificates for a set of authorities.

    :param authorities: by code (``djjg``).
    :param verification_base_url: ASCII prefix of the URL in each QR code; a token is appended.
    :param trust_roots: PEM or DER certificates seals must chain to.
    :param clock: returns the current aware time (tests pin it).
    :param backlog_retry: seconds (first, max) before a backlog whose sealing failed is tried
        again, doubling from first to max (rule article 15).
    :param download_policy: how failed self-download attempts are limited (rule article 13;
        ``[self_download]`` in ``bdcert.toml``).
    """

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
    ) -> None:
        self.authorities = dict(authorities)
        self.codes = codes
        self.storage = storage
        self.seal_provider = seal_provider
        self.renderer = renderer
        self.trust_roots = list(trust_roots)
        self.verification_base_url = verification_base_url
        self.identity = identity
        self.notifiers = list(notifiers)
        self.hooks = hooks if hooks is not None else Hooks()
        self.clock = clock or (lambda: datetime.now(CHINA_TZ))
        unknown = sorted(set(formats) - set(FORMATS))
        if unknown or not formats:
            raise ConfigurationError(f"formats must be among {', '.join(FORMATS)}, not {unknown}")
        if "ofd" in formats and not hasattr(seal_provider, "seal_ofd"):
            raise ConfigurationError(
                f"the {seal_provider.name} seal provider cannot seal OFD documents "
                "(GB/T 38540 seals need the sm2 provider: bdcert init --demo --algorithm sm2)"
            )
        #: The document formats issued: the PDF is always filed; ``ofd`` adds a sealed OFD.
        self.formats = tuple(formats)
        #: Seconds before a failed backlog is tried again: the first wait, doubling to the max.
        self.backlog_retry = backlog_retry
        #: Failed self-download attempts that lock an identity, within what window, how long.
        self.download_policy = download_policy or DownloadPolicy()
        #: ``[audit]``: which authority seals the audit log's checkpoints, and how often.
        self.audit_settings = audit or AuditSettings()
        #: Makes and checks the sealed audit checkpoints (rule article 17, :mod:`bdcert.audit`).
        self.checkpointer = Checkpointer(
            storage=storage,
            seal_provider=seal_provider,
            renderer=renderer,
            authorities=self.authorities,
            settings=self.audit_settings,
            check=lambda pdf: _check_document(pdf, self.trust_roots),
            clock=lambda: self.clock(),
        )
        if self.audit_settings.checkpoint_every and self.checkpointer.authority is not None:
            self.storage = CheckpointingStorage(storage, self.checkpointer)

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
        from bdcert.fonts import font_config_from_settings

        ws = workspace if isinstance(workspace, Workspace) else Workspace.load(workspace)
        hooks = hooks if hooks is not None else Hooks()

        def build(registry: Any, table: str, default: str) -> Any:
            settings = dict(ws.table(table))
            name = str(settings.pop("plugin", default))
            return registry.get(name)(settings, ws.path)

        notifier_settings = dict(ws.table("notifiers"))
        notifier_names = notifier_settings.pop("plugins", ["log"])
        stray = sorted(set(notifier_settings) - set(notifier_names))
        if stray:
            raise ConfigurationError(
                f"[notifiers] has settings for {', '.join(stray)}, which [notifiers] plugins "
                f"does not list ({', '.join(notifier_names)})"
            )
        notifier_registry = hooks.notifiers()
        notifiers = [
            notifier_registry.get(n)(notifier_settings.get(n, {}), ws.path) for n in notifier_names
        ]
        return cls(
            authorities=ws.authorities(),
            codes=hooks.code_tables(ws.code_tables_edition),
            storage=build(hooks.storage(), "storage", "sql"),
            seal_provider=build(hooks.seal_providers(), "seal", "software"),
            identity=build(hooks.identity_providers(), "identity", "local"),
            notifiers=notifiers,
            renderer=Renderer(font_config_from_settings(ws.table("fonts"), ws.path)),
            trust_roots=ws.trust_roots(),
            verification_base_url=ws.verification_base_url,
            hooks=hooks,
            clock=clock,
            formats=formats if formats is not None else ws.formats,
            backlog_retry=ws.backlog_retry,
            download_policy=DownloadPolicy.from_settings(ws.table("self_download")),
            audit=AuditSettings.from_table(ws.table("audit")),
        )

    def close(self) -> None:
        """Release the store's connections and the seal provider's session (an HSM login)."""
        self.storage.close()
        close_seal = getattr(self.seal_provider, "close", None)
        if callable(close_seal):
            close_seal()

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
        djjg = raw.get("djjg") if isinstance(raw, Mapping) else None
        # Permission is checked for a configured authority; an unknown one is a validation
        # problem, reported with every other problem of the entry.
        known = isinstance(djjg, str) and djjg in self.authorities
        self._authorize(principal, "issue", djjg if known else None, subject=str(djjg or ""))
        ywh = raw.get("ywh") if isinstance(raw, Mapping) else None
        events: list[CertificateEvent] = []
        accepted: list[RegistrationEntry] = []  # the valid entry, once the checks passed
        try:
            with self.storage.transaction() as tx:
                result = self._accept(tx, raw, principal, events, accepted)
                staged = self._stage(tx, events)
        except SealingError as exc:
            if not accepted:
                raise
            # Force majeure (rule article 15): nothing of the attempt was stored; the entry
            # waits in the backlog instead of being lost, and is issued when sealing works again.
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("sealing failed, entry %s goes to the backlog: %s", ywh, reason)
            with self.storage.transaction() as tx:
                # a re-push (the pusher got no answer) may have come in since the rollback
                entry = accepted[0]
                answer, earlier = self._earlier(
                    tx, entry.business_number, lambda: entry.fingerprint, principal
                )
                if answer is not None:
                    return answer
                if earlier is not None:
                    raise IdempotencyConflict(
                        [Problem("ywh", f"{ywh} was recorded meanwhile with different content")],
                        subject=f"entry {ywh}",
                    ) from exc
                item = self._enqueue(tx, entry, principal, reason, retry_in=self._retry(1))
                tx.record_backlog_failure(item.id, reason, item.next_attempt_at)  # attempt 1
            return self._backlogged(item)
        if result.outcome is Outcome.BACKLOGGED:
            # queued behind earlier entries of its authority: drain now if they are due
            return self._after_drain(result.business_number, principal)
        self._publish(events, staged)
        return result

    def _accept(
        self,
        tx: StorageTransaction,
        raw: Any,
        principal: Principal,
        events: list[CertificateEvent],
        accepted: list[RegistrationEntry],
    ) -> IssueResult:
        """Check an entry and apply it, or queue it behind its authority's backlog."""
        ywh = raw.get("ywh") if isinstance(raw, Mapping) else None
        answer, earlier = self._earlier(tx, ywh, lambda: fingerprint(raw), principal)
        if answer is not None:
            return answer
        problems: list[Problem] = []
        entry: RegistrationEntry | None = None
        try:
            entry = parse_entry(raw, authorities=self.authorities, codes=self.codes)
        except ValidationError as exc:
            problems.extend(exc.problems)
        if earlier is not None:
            problems.insert(
                0,
                Problem(
                    "ywh",
                    f"{ywh} was already recorded on {earlier.isoformat()} "
                    "with different content; a correction needs a new business number",
                ),
            )
        # A 查封 never waits: it needs no seal and binds the unit at once (a certificate of the
        # unit issued later from the backlog starts out restricted); everything else keeps order.
        behind = (
            entry is not None
            and entry.seizure is None
            and entry.authority_code in tx.waiting_authorities()
        )
        if entry is not None and not behind:
            # behind a backlog, references are checked when its turn comes: the certificates
            # it names may be waiting in the backlog too
            problems.extend(self._check_references(tx, entry))
        if problems:
            error_type = IdempotencyConflict if earlier is not None else ValidationError
            raise error_type(problems, subject=f"entry {ywh or '(no ywh)'}")
        assert entry is not None
        accepted.append(entry)
        if behind:
            (first,) = tx.backlog(authority_code=entry.authority_code, state="waiting", limit=1)
            reason = first.reason  # the failure that started the backlog, said once
            if not reason.startswith("queued behind"):
                reason = (
                    f"queued behind {first.business_number}, waiting since "
                    f"{first.accepted_at.isoformat(timespec='seconds')}: {reason}"
                )
            item = self._enqueue(tx, entry, principal, reason, retry_in=timedelta(0))
            return self._backlogged(item)
        return self._apply(tx, entry, principal, events)

    # -- force-majeure backlog (rule article 15) ------------------------------------------
    def _retry(self, attempts: int) -> timedelta:
        """Backoff after ``attempts`` failed attempts: first, doubling, capped."""
        first, most = self.backlog_retry
        return timedelta(seconds=min(most, first * 2 ** max(0, attempts - 1)))

    def _enqueue(
        self,
        tx: StorageTransaction,
        entry: RegistrationEntry,
        principal: Principal,
        reason: str,
        *,
        retry_in: timedelta,
    ) -> BacklogItem:
        now = self.clock()
        item = tx.add_backlog(
            business_number=entry.business_number,
            authority_code=entry.authority_code,
            entry=json.loads(entry.source),
            fingerprint=entry.fingerprint,
            recorded_at=entry.recorded_at,
            accepted_at=now,
            reason=reason,
            next_attempt_at=now + retry_in,
        )
        tx.append_audit(
            AuditEvent(
                "backlog",
                principal.name,
                entry.business_number,
                now,
                {"authority": entry.authority_code, "reason": reason, "backlog_id": item.id},
            )
        )
        return item

    def _earlier(
        self,
        tx: StorageTransaction,
        ywh: Any,
        fingerprint_: Callable[[], str],
        principal: Principal,
    ) -> tuple[IssueResult | None, datetime | None]:
        """An entry with the same ``ywh`` accepted before: ``(answer, None)`` when it is this very
        entry (``replayed``, or still ``backlogged``); ``(None, when)`` when it came with other
        content; ``(None, None)`` when there is none. A rejected backlog item does not count.

        :param fingerprint_: computes this entry's fingerprint, only when an earlier one exists
            (hostile input may not even be canonical JSON; validation reports it then).
        """
        if not isinstance(ywh, str) or not ywh:
            return None, None
        stored = tx.get_registration(ywh)
        if stored is not None and stored.fingerprint == fingerprint_():
            return self._replay(tx, stored.result, principal), None
        queued = tx.get_backlog(ywh)
        if queued is not None and queued.state != "waiting":
            queued = None  # issued (then it is a registration) or rejected: may come again
        if queued is not None and queued.fingerprint == fingerprint_():
            return self._backlogged(queued), None
        if stored is not None:
            return None, stored.recorded_at
        return None, queued.accepted_at if queued is not None else None

    def _after_drain(self, business_number: str, principal: Principal) -> IssueResult:
        """Drain the backlog of the entry's authority (when due), then say what became of it:
        still ``backlogged``, issued (its certificates), or rejected (ValidationError)."""
        with self.storage.transaction() as tx:
            queued = tx.get_backlog(business_number)
        assert queued is not None
        self.drain_backlog(principal=principal, authority=queued.authority_code)
        with self.storage.transaction() as tx:
            queued = tx.get_backlog(business_number)
            assert queued is not None
            if queued.state == "waiting":
                return self._backlogged(queued)
            if queued.state == "rejected":
                raise ValidationError(queued.problems, subject=f"entry {business_number}")
            stored = tx.get_registration(business_number)
            assert stored is not None
            return self._with_documents(tx, stored.result)

    def _backlogged(self, item: BacklogItem) -> IssueResult:
        return IssueResult(
            business_number=item.business_number,
            outcome=Outcome.BACKLOGGED,
            reason=item.reason,
        )

    def backlog(
        self, *, principal: Principal, authority: str | None = None, state: str | None = None
    ) -> list[BacklogItem]:
        """Backlog items in order (rule article 15), optionally of one authority or state
        (``waiting``, ``issued``, ``rejected``).

        :raises PermissionDenied: unless the principal may issue for the authority, or audit.
        """
        if not principal.roles & ACTIONS["audit"]:
            self._authorize(principal, "issue", authority, subject=authority or "")
        with self.storage.transaction() as tx:
            items = tx.backlog(authority_code=authority, state=state)
        if principal.roles & (ACTIONS["audit"] | {"platform"}):
            return items
        return [i for i in items if i.authority_code == principal.authority]

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
        self._authorize(principal, "issue", authority, subject=authority or "")
        issued = rejected = 0
        failures: list[str] = []
        with self.storage.transaction() as tx:
            codes = tx.waiting_authorities()
        for code in codes:
            if authority is not None and code != authority:
                continue
            try:
                authorize(principal, "issue", code)
            except PermissionDenied:
                continue
            while True:
                events: list[CertificateEvent] = []
                item: BacklogItem | None = None
                try:
                    with self.storage.transaction() as tx:
                        item = tx.next_waiting(code)
                        now = self.clock()
                        if item is None or (not force and item.next_attempt_at > now):
                            break
                        if self._issue_backlogged(tx, item, principal, events, now):
                            issued += 1
                        else:
                            rejected += 1
                        staged = self._stage(tx, events)
                except ValidationError as exc:  # never issuable: text no font can draw
                    assert item is not None
                    with self.storage.transaction() as tx:
                        self._reject_backlogged(tx, item, principal, exc.problems, self.clock())
                    rejected += 1
                    continue
                except Exception as exc:  # sealing still impossible, or another failure: keep
                    if item is None:  # the order, try again later, go on to other authorities
                        raise  # the store itself failed
                    error = f"{type(exc).__name__}: {exc}"
                    if not isinstance(exc, SealingError):
                        log.exception("backlog item %s of %s failed", item.id, code)
                    try:
                        with self.storage.transaction() as tx:
                            tx.record_backlog_failure(
                                item.id, error, self.clock() + self._retry(item.attempts + 1)
                            )
                    except Exception:
                        log.exception("could not record the failure of backlog item %s", item.id)
                    failures.append(f"{code}: {item.business_number}: {error}")
                    break
                self._publish(events, staged)
        with self.storage.transaction() as tx:
            waiting = len(tx.backlog(authority_code=authority, state="waiting"))
        return DrainReport(issued, rejected, waiting, tuple(failures))

    def _issue_backlogged(
        self,
        tx: StorageTransaction,
        item: BacklogItem,
        principal: Principal,
        events: list[CertificateEvent],
        now: datetime,
    ) -> bool:
        """Issue (True) or reject (False) one backlog item inside ``tx``."""
        problems: list[Problem] = []
        stored = tx.get_registration(item.business_number)
        if stored is not None:  # a duplicate item (only possible with an older store): harmless
            done = "、".join(stored.result.numbers) or stored.result.outcome.value
            problems.append(Problem("ywh", f"{item.business_number} was already issued: {done}"))
            self._reject_backlogged(tx, item, principal, problems, now)
            return False
        entry = None
        try:
            entry = parse_entry(item.entry, authorities=self.authorities, codes=self.codes)
        except ValidationError as exc:  # the configuration changed since it was accepted
            problems.extend(exc.problems)
        if entry is not None:
            problems.extend(self._check_references(tx, entry))
        if problems or entry is None:
            self._reject_backlogged(tx, item, principal, problems, now)
            return False
        late = {
            "backlog_id": item.id,
            "reason": item.reason,
            "accepted_at": item.accepted_at.isoformat(),
            "delay_seconds": round((now - item.recorded_at).total_seconds()),
        }
        result = self._apply(tx, entry, principal, events, late=late)
        tx.finish_backlog(item.id, state="issued", done_at=now, numbers=result.numbers)
        return True

    def _reject_backlogged(
        self,
        tx: StorageTransaction,
        item: BacklogItem,
        principal: Principal,
        problems: Sequence[Problem],
        now: datetime,
    ) -> None:
        tx.finish_backlog(item.id, state="rejected", done_at=now, problems=problems)
        tx.append_audit(
            AuditEvent(
                "reject",
                principal.name,
                item.business_number,
                now,
                {"backlog_id": item.id, "problems": [str(p) for p in problems]},
            )
        )

    def _with_documents(self, tx: StorageTransaction, stored: IssueResult) -> IssueResult:
        return attrs.evolve(
            stored,
            certificates=tuple(
                IssuedCertificate(tx.get_certificate(n), tx.get_pdf(n), _ofd_or_none(tx, n))
                for n in stored.numbers
            ),
        )

    def _replay(
        self, tx: StorageTransaction, stored: IssueResult, principal: Principal
    ) -> IssueResult:
        tx.append_audit(
            AuditEvent(
                "replay",
                principal.name,
                stored.business_number,
                self.clock(),
                {"numbers": list(stored.numbers)},
            )
        )
        return self._with_documents(
            tx,
            IssueResult(
                business_number=stored.business_number,
                outcome=Outcome.REPLAYED,
                numbers=stored.numbers,
            ),
        )

    def _check_references(self, tx: StorageTransaction, entry: RegistrationEntry) -> list[Problem]:
        """Every e-certificate named in ``yzh`` must exist and still be in force, and a new
        property certificate must name every property certificate in force on its units (rule
        article 10: the old one becomes invalid), so no unit ever has two in force."""
        problems = []
        if entry.produces is CertificateKind.PROPERTY_CERTIFICATE:
            named = {p.number for p in entry.prior_certificates}
            for unit in entry.unit_numbers:
                for cert in tx.certificates_for_unit(
                    unit, kind=CertificateKind.PROPERTY_CERTIFICATE
                ):
                    if cert.number not in named:
                        problems.append(
                            Problem(
                                "yzh",
                                f"unit {unit} already has {cert.number} "
                                "in force; name it in yzh so it is superseded",
                            )
                        )
        for i, prior in enumerate(entry.prior_certificates):
            if not prior.electronic:
                continue
            try:
                cert = tx.get_certificate(prior.number)
            except NotFound:
                problems.append(
                    Problem(f"yzh[{i}].zh", f"no e-certificate {prior.number} is on file")
                )
                continue
            wanted = entry.produces or (
                CertificateKind.REGISTRATION_PROOF
                if entry.proven_matter
                else CertificateKind.PROPERTY_CERTIFICATE
            )
            field = f"yzh[{i}].zh"
            if cert.status is not CertificateStatus.VALID:
                problems.append(Problem(field, f"{prior.number} is already {cert.status.value}"))
            elif not set(cert.unit_numbers) & set(entry.unit_numbers):
                problems.append(
                    Problem(
                        field,
                        f"{prior.number} is for unit "
                        f"{'、'.join(cert.unit_numbers)}, not this entry's",
                    )
                )
            elif cert.kind is not wanted:
                problems.append(
                    Problem(
                        field,
                        f"{prior.number} is a {cert.kind.title}; this "
                        f"entry concerns a {wanted.title}",
                    )
                )
            elif (
                wanted is CertificateKind.REGISTRATION_PROOF
                and entry.proven_matter
                and cert.face_value("zmsx") != entry.proven_matter
            ):
                problems.append(
                    Problem(
                        field,
                        f"{prior.number} proves "
                        f"{cert.face_value('zmsx')}, not {entry.proven_matter}",
                    )
                )
            elif entry.registration_type == "200" and (
                seized := in_force(cert.restrictions, entry.recorded_at)
            ):
                problems.append(
                    Problem(
                        field,
                        f"{prior.number} is under seizure "
                        f"({seized[0].authority} {seized[0].document_number}); "
                        "it cannot be transferred until the seizure is lifted",
                    )
                )
            elif cert.authority_code != entry.authority_code:
                problems.append(
                    Problem(
                        f"yzh[{i}].zh",
                        f"{prior.number} was issued by authority "
                        f"{cert.authority_code}, not {entry.authority_code}",
                    )
                )
        return problems

    def _apply(
        self,
        tx: StorageTransaction,
        entry: RegistrationEntry,
        principal: Principal,
        events: list[CertificateEvent],
        *,
        late: Mapping[str, Any] | None = None,
    ) -> IssueResult:
        """Number, render, seal and file what ``entry`` produces; supersede, cancel, restrict.

        :param late: for an entry issued from the backlog, its delay and the reason, recorded
            with each certificate's ``issue`` audit record and event (rule article 15).
        """
        now = self.clock()
        ywh = entry.business_number
        kind = entry.produces
        issued: list[IssuedCertificate] = []
        supersedes: list[str] = []
        cancels: list[str] = []
        restricts: list[str] = []
        announcements: list[str] = []

        def audit(action: str, subject: str, **details: Any) -> None:
            tx.append_audit(AuditEvent(action, principal.name, subject, now, details))

        def event(kind_: str, number: str, **details: Any) -> None:
            events.append(CertificateEvent(kind_, number, ywh, entry.authority_code, now, details))

        if kind is not None:
            groups: list[tuple[Party, ...]] = (
                [(h,) for h in entry.holders]
                if entry.holding_mode == "分别持证"
                else [entry.holders]
            )
            for holders in groups:
                item = self._issue_one(tx, entry, kind, holders, now)
                issued.append(item)
                extra = {"late": dict(late)} if late else {}
                audit(
                    "issue",
                    item.certificate.number,
                    ywh=ywh,
                    licence_id=item.certificate.licence_id,
                    pdf_sha256=item.certificate.pdf_sha256,
                    **extra,
                )
                event("issued", item.certificate.number, kind=kind.value, **extra)
        numbers = [i.certificate.number for i in issued]
        if kind is CertificateKind.PROPERTY_CERTIFICATE:
            # a seizure binds the unit: one recorded before this certificate restricts it too
            seen: set[str] = set()
            for unit in entry.unit_numbers:
                for r in in_force(tx.unit_restrictions(unit), now):
                    if r.business_number in seen:
                        continue
                    seen.add(r.business_number)
                    for number in numbers:
                        tx.add_restriction(number, r)
                        audit("restrict", number, ywh=r.business_number, carried_from=unit)
        for prior in entry.prior_certificates:
            if prior.electronic and kind is not None:
                # a seizure binds the unit, not the paper: it carries over to the successors
                for r in in_force(tx.get_certificate(prior.number).restrictions, now):
                    if r.business_number in seen:
                        continue  # already carried from the unit
                    seen.add(r.business_number)
                    for number in numbers:
                        tx.add_restriction(number, r)
                        audit("restrict", number, ywh=r.business_number, carried_from=prior.number)
                tx.set_superseded(prior.number, numbers, ywh)
                supersedes.append(prior.number)
                audit("supersede", prior.number, by=numbers, ywh=ywh)
                event("superseded", prior.number, by=numbers)
            elif prior.electronic:  # 注销
                reason = entry.cancellation_reason or ""
                tx.set_cancelled(prior.number, reason, ywh)
                cancels.append(prior.number)
                audit("cancel", prior.number, reason=reason, ywh=ywh)
                event("cancelled", prior.number, reason=reason)
            else:
                assert prior.disposition is not None
                text = ""
                if prior.disposition == "公告作废":
                    text = (
                        f"{self.authorities[entry.authority_code].name}公告：{prior.number}"
                        f"纸质不动产权证书未能收回，自{now.astimezone(CHINA_TZ):%Y年%m月%d日}起作废。"
                    )
                    announcements.append(prior.number)
                tx.add_paper_disposition(
                    PaperDisposition(prior.number, ywh, prior.disposition, now, text)
                )
                audit("announce" if text else "recover", prior.number, ywh=ywh)
        if entry.seizure is not None:
            s = entry.seizure
            seizure = Restriction(
                business_number=ywh,
                authority=s.authority,
                document_number=s.document_number,
                type=s.type,
                start=s.term.start if s.term else None,
                end=s.term.end if s.term else None,
                recorded_at=now,
            )
            for unit in entry.unit_numbers:
                tx.add_unit_restriction(unit, seizure)
                for cert in tx.certificates_for_unit(
                    unit, kind=CertificateKind.PROPERTY_CERTIFICATE
                ):
                    if cert.number in restricts:
                        continue
                    tx.add_restriction(cert.number, seizure)
                    restricts.append(cert.number)
                    audit("restrict", cert.number, ywh=ywh, cfwh=s.document_number)
                    event("restricted", cert.number, cfjg=s.authority, cfwh=s.document_number)
        result = IssueResult(
            business_number=ywh,
            outcome=Outcome.ISSUED if issued else Outcome.NONE,
            kind=kind,
            numbers=tuple(numbers),
            supersedes=tuple(supersedes),
            cancels=tuple(cancels),
            restricts=tuple(restricts),
            announcements=tuple(announcements),
        )
        tx.add_registration(entry, result)
        return attrs.evolve(result, certificates=tuple(issued))

    def _issue_one(
        self,
        tx: StorageTransaction,
        entry: RegistrationEntry,
        kind: CertificateKind,
        holders: tuple[Party, ...],
        now: datetime,
    ) -> IssuedCertificate:
        authority = self.authorities[entry.authority_code]
        year = entry.year
        sequence = tx.next_sequence(authority.code, year, kind)
        number = format_certificate_number(
            authority.province_abbr, year, authority.place_name, kind, sequence
        )
        licence_id = licence_identifier(
            LICENCE_TYPE_CODES[kind], authority.credit_code, f"{year}{sequence:07d}"
        )
        token = secrets.token_urlsafe(24)
        url = self.verification_base_url + token
        face = face_items(
            entry,
            kind=kind,
            number=number,
            holders=holders,
            authority=authority,
            issued_at=now,
            codes=self.codes,
        )
        try:
            rendered = self.renderer.render(
                kind=kind,
                face=face,
                verification_url=url,
                authority=authority,
                licence_id=licence_id,
                attached_plan=entry.attached_plan,
            )
        except MissingGlyph as exc:  # the entry holds text no configured font can draw
            raise ValidationError(
                [Problem(exc.field, str(exc))], subject=f"entry {entry.business_number}"
            ) from exc
        sealed = self.seal_provider.seal_pdf(
            rendered.pdf,
            SealRequest(
                authority=authority,
                page=rendered.seal_page,
                box=rendered.seal_box,
                appearance_png=rendered.seal_png,
                location=authority.place_name,
                signing_time=now,
            ),
        )
        certificate = Certificate(
            number=number,
            kind=kind,
            licence_id=licence_id,
            business_number=entry.business_number,
            authority_code=authority.code,
            year=year,
            sequence=sequence,
            holders=holders,
            unit_numbers=entry.unit_numbers,
            face=face,
            token=token,
            verification_url=url,
            issued_at=now,
            pdf_sha256=hashlib.sha256(sealed).hexdigest(),
        )
        tx.add_certificate(certificate, sealed)
        ofd = None
        if "ofd" in self.formats:
            ofd = self._issue_ofd(entry, kind, face, url, authority, licence_id, now)
            tx.add_ofd(number, ofd)
        return IssuedCertificate(certificate, sealed, ofd)

    def _issue_ofd(
        self,
        entry: RegistrationEntry,
        kind: CertificateKind,
        face: Sequence[Any],
        url: str,
        authority: Authority,
        licence_id: str,
        now: datetime,
    ) -> bytes:
        """The same face as an OFD package (GB/T 33190), sealed per GB/T 38540."""
        from bdcert.gm.ofd import write_ofd

        rendered = write_ofd(
            kind=kind,
            face=face,
            verification_url=url,
            authority=authority,
            licence_id=licence_id,
            attached_plan=entry.attached_plan,
            fonts=self.renderer.fonts,
        )
        sealed: bytes = self.seal_provider.seal_ofd(  # type: ignore[attr-defined]
            rendered.package,
            authority=authority,
            page=rendered.seal_page,
            box_mm=rendered.seal_box_mm,
            time=now,
        )
        return sealed

    def _stage(self, tx: StorageTransaction, events: Sequence[CertificateEvent]) -> list[list[int]]:
        """Inside the transaction that makes the change: every (event, notifier) goes to the
        outbox with 0 attempts, so a crash before :meth:`_publish` delivers nothing late but
        loses nothing either (:meth:`redeliver` sends it). Returns the outbox ids per event."""
        return [
            [tx.add_undelivered(n.name, ev, NOT_YET_DELIVERED, attempts=0) for n in self.notifiers]
            for ev in events
        ]

    def _publish(self, events: Sequence[CertificateEvent], staged: Sequence[list[int]]) -> None:
        """After commit: the event hook on every plugin, then each notifier.

        A plugin's failure never undoes the committed change: the hook's is logged; an event a
        notifier could not deliver stays in the storage outbox for :meth:`redeliver`.
        """
        delivered: list[int] = []
        failed: list[tuple[int, str]] = []
        for ev, ids in zip(events, staged, strict=True):
            try:
                self.hooks.certificate_event(ev)
            except Exception:
                log.exception("bdcert_certificate_event failed for %s", ev.number)
            for notifier, outbox_id in zip(self.notifiers, ids, strict=True):
                try:
                    notifier.notify(ev)
                except Exception as exc:
                    if not isinstance(exc, NotificationError):
                        log.exception("notifier %s failed for %s", notifier.name, ev.number)
                    failed.append((outbox_id, f"{type(exc).__name__}: {exc}"))
                else:
                    delivered.append(outbox_id)
        if not delivered and not failed:
            return
        try:
            with self.storage.transaction() as tx:
                for outbox_id in delivered:
                    tx.mark_delivered(outbox_id)
                for outbox_id, error in failed:
                    tx.record_delivery_failure(outbox_id, error)
        except Exception:  # the store is down: the events stay in the outbox, sent again later
            log.exception("could not update the outbox after notifying")

    def redeliver(self, *, principal: Principal, limit: int = 100) -> tuple[int, int]:
        """Try again to deliver the events in the outbox, oldest first.

        :returns: (delivered, still undelivered) among at most ``limit`` events tried.
        :raises PermissionDenied: unless the principal is the platform.
        """
        self._authorize(principal, "operate")
        by_name = {n.name: n for n in self.notifiers}
        with self.storage.transaction() as tx:
            waiting = tx.undelivered(limit=limit)
        delivered = failed = 0
        for item in waiting:
            notifier = by_name.get(item.notifier)
            try:
                if notifier is None:
                    raise NotificationError(f"notifier {item.notifier!r} is no longer configured")
                notifier.notify(item.event)
            except Exception as exc:
                failed += 1
                with self.storage.transaction() as tx:
                    tx.record_delivery_failure(item.id, f"{type(exc).__name__}: {exc}")
                continue
            delivered += 1
            with self.storage.transaction() as tx:
                tx.mark_delivered(item.id)
        if waiting:  # rule article 17: every use is logged
            details = {"delivered": delivered, "failed": failed}
            with self.storage.transaction() as tx:
                tx.append_audit(AuditEvent("redeliver", principal.name, "", self.clock(), details))
        return delivered, failed

    # -- reading and verifying ------------------------------------------------------------
    def _authorize(
        self,
        principal: Principal,
        action: str,
        authority: str | None = None,
        subject: str = "",
        *,
        certificate: Certificate | None = None,
    ) -> None:
        """:func:`bdcert.access.authorize`, with every denial written to the audit log (rule
        article 17). Call it outside any open storage transaction."""
        try:
            authorize(principal, action, authority, certificate=certificate)
        except PermissionDenied as exc:
            details = {"action": action, "authority": authority, "reason": str(exc)}
            with self.storage.transaction() as tx:
                tx.append_audit(AuditEvent("deny", principal.name, subject, self.clock(), details))
            raise

    def certificate(self, number: str, *, principal: Principal) -> Certificate:
        """A certificate with its current status. :raises NotFound: :raises PermissionDenied:"""
        with self.storage.transaction() as tx:
            cert = tx.get_certificate(number)
        self._authorize(principal, "read", cert.authority_code, subject=number, certificate=cert)
        with self.storage.transaction() as tx:
            tx.append_audit(AuditEvent("read", principal.name, number, self.clock(), {}))
        return cert

    def pdf(self, number: str, *, principal: Principal) -> bytes:
        """The sealed PDF as filed; logged as a ``read`` and a ``download`` (rule article 17).
        :raises NotFound: :raises PermissionDenied:"""
        cert = self.certificate(number, principal=principal)
        with self.storage.transaction() as tx:
            pdf = tx.get_pdf(cert.number)
            details = {"format": "pdf", "sha256": hashlib.sha256(pdf).hexdigest()}
            tx.append_audit(AuditEvent("download", principal.name, number, self.clock(), details))
        return pdf

    def audit_log(
        self,
        *,
        principal: Principal,
        subject: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEvent]:
        """Audit events, oldest first, filtered by subject (certificate or business number),
        actor and time (aware datetimes, inclusive). :raises PermissionDenied: unless an auditor
        or the platform (rule article 17)."""
        self._authorize(principal, "audit", subject=subject or "")
        with self.storage.transaction() as tx:
            events = tx.audit_events()
        return [
            e
            for e in events
            if (subject is None or e.subject == subject)
            and (actor is None or e.actor == actor)
            and (since is None or e.at >= since)
            and (until is None or e.at <= until)
        ]

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
        self._authorize(principal, "audit")
        findings = []
        with self.storage.transaction() as tx:
            for raw in book:
                ywh = raw.get("ywh") if isinstance(raw, Mapping) else None
                djjg = str(raw.get("djjg", "")) if isinstance(raw, Mapping) else ""
                stored = tx.get_registration(ywh) if isinstance(ywh, str) else None
                key = str(ywh)
                if stored is None:
                    findings.append(Finding(key, djjg, "missing", "never issued"))
                elif stored.fingerprint != fingerprint(raw):
                    findings.append(
                        Finding(
                            key, djjg, "different", "issued from other content than the book holds"
                        )
                    )
                elif not stored.result.numbers:
                    findings.append(Finding(key, djjg, "processed", stored.result.outcome.value))
                else:
                    issued = max(tx.get_certificate(n).issued_at for n in stored.result.numbers)
                    delay = issued - stored.recorded_at
                    late = delay > late_after
                    findings.append(
                        Finding(
                            key,
                            djjg,
                            "late" if late else "issued",
                            "、".join(stored.result.numbers),
                            delay,
                        )
                    )
            details = {"entries": len(findings)}
            tx.append_audit(AuditEvent("reconcile", principal.name, "", self.clock(), details))
        return findings

    def verify_audit(
        self, *, principal: Principal, checkpoints: Sequence[tuple[str, bytes]] = ()
    ) -> list[str]:
        """Check the audit log (rule article 17): recompute its hash chain, then check every
        sealed checkpoint (seal against the trust roots, numbering, links, and that the log's
        event at each sealed id still has the sealed hash; see :mod:`bdcert.audit`).

        :param checkpoints: (name, PDF bytes) of checkpoint copies kept outside the database.
        :returns: one message per edited, deleted, inserted or reordered record and per failing
            or missing checkpoint, naming it (empty when intact).
        :raises PermissionDenied: as :meth:`audit_log`.
        """
        self._authorize(principal, "audit")
        with self.storage.transaction() as tx:
            problems = tx.verify_audit_chain()
        return problems + self.checkpointer.verify(checkpoints)

    def checkpoint_audit(self, *, principal: Principal) -> AuditCheckpoint:
        """Seal a checkpoint of the audit log now with the ``[audit] authority``'s seal (rule
        article 17); it is stored and its making logged. See :meth:`bdcert.audit.Checkpointer.make`.

        :raises PermissionDenied: unless the platform. :raises SealingError: nothing is stored.
        :raises StorageError: if the log is empty.
        """
        self._authorize(principal, "operate")
        made = self.checkpointer.make(principal.name)
        assert made is not None  # only automatic checkpoints are skipped
        return made

    def audit_checkpoints(self, *, principal: Principal) -> list[AuditCheckpoint]:
        """The stored audit checkpoints, by number. :raises PermissionDenied: as :meth:`audit_log`."""
        self._authorize(principal, "audit")
        with self.storage.transaction() as tx:
            return tx.audit_checkpoints()

    def lookup(
        self,
        *,
        token: str | None = None,
        number: str | None = None,
        principal: Principal | None = None,
    ) -> Verdict:
        """Check a certificate by the QR code's token or by its number (rule article 14).

        No file is checked (``trusted`` is False): the answer is the register's. Personal data is
        masked unless the principal may see it in full (:func:`bdcert.access.redact`).

        :param token: the token, or the whole verification URL the QR code holds.
        :returns: VALID, RESTRICTED, SUPERSEDED (naming the successor), CANCELLED (with the
            reason) or UNKNOWN_CERTIFICATE.
        :raises ValueError: unless exactly one of ``token`` and ``number`` is given.
        """
        if (token is None) == (number is None):
            raise ValueError("give exactly one of token and number")
        if token is not None:  # the whole URL a QR scanner returns: its last path segment
            token = token.strip().split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        with self.storage.transaction() as tx:
            if token is not None:
                cert = tx.find_certificate_by_token(token)
            else:
                try:
                    cert = tx.get_certificate(str(number))
                except NotFound:
                    cert = None
            subject = cert.number if cert is not None else "(unknown)"
            actor = principal.name if principal is not None else "anonymous"
            tx.append_audit(
                AuditEvent(
                    "lookup",
                    actor,
                    subject,
                    self.clock(),
                    {"by": "token" if token is not None else "number"},
                )
            )
        if cert is None:
            return Verdict(
                code=VerdictCode.UNKNOWN_CERTIFICATE,
                trusted=False,
                detail="no certificate with this token or number is registered",
            )
        code, detail = self._status_verdict(cert)
        return Verdict(
            code=code,
            trusted=False,
            detail=f"register: {detail}",
            certificate=redact(cert, principal),
        )

    def _status_verdict(self, cert: Certificate) -> tuple[VerdictCode, str]:
        """The verdict a registered certificate's status gives."""
        if cert.status is CertificateStatus.SUPERSEDED:
            return VerdictCode.SUPERSEDED, f"superseded by {'、'.join(cert.superseded_by)}"
        if cert.status is CertificateStatus.CANCELLED:
            return VerdictCode.CANCELLED, f"cancelled: {cert.cancel_reason}"
        if seized := in_force(cert.restrictions, self.clock()):
            r = seized[-1]
            return VerdictCode.RESTRICTED, (
                f"valid, but the unit is under seizure ({r.authority} {r.document_number})"
            )
        return VerdictCode.VALID, "in force"

    def verify(self, pdf: bytes, *, principal: Principal | None = None) -> Verdict:
        """Verify a certificate PDF (rule article 14).

        The seal must be intact, cover the whole file and chain to a trust root; the file must be
        the one on file (by SHA-256); then the status comes from storage.

        :returns: a verdict whose code names the single most important finding.
        """
        if not isinstance(pdf, bytes | bytearray | memoryview):
            raise TypeError(f"verify() takes the PDF's bytes, not {type(pdf).__name__}")
        pdf = bytes(pdf)
        check = _check_document(pdf, self.trust_roots)
        actor = principal.name if principal is not None else "anonymous"
        digest = hashlib.sha256(pdf).hexdigest()
        with self.storage.transaction() as tx:
            cert = (
                tx.find_certificate_by_digest(digest) if check.code is VerdictCode.VALID else None
            )
            code = check.code
            detail = check.detail
            if code is VerdictCode.VALID:
                if cert is None:
                    code = VerdictCode.UNKNOWN_CERTIFICATE
                    detail = "the seal is sound but this file is not in the certificate register"
                else:
                    code, detail = self._status_verdict(cert)
                    if code is VerdictCode.VALID:
                        detail = "valid: sealed by the authority, unchanged since sealing, in force"
            tx.append_audit(
                AuditEvent(
                    "verify",
                    actor,
                    cert.number if cert else digest,
                    self.clock(),
                    {"code": code.value},
                )
            )
        return Verdict(
            code=code,
            trusted=check.trusted,
            detail=detail,
            # the face is what the file shows; ID numbers only for those who may see them
            certificate=None if cert is None else redact(cert, principal, face_shown=True),
            signer=check.signer,
            signed_at=check.signed_at,
        )

    # -- holders and sharing parties ---------------------------------------------------------
    def self_download(
        self,
        name: str,
        id_number: str,
        paper_number: str | None = None,
        *,
        evidence: Mapping[str, str] | None = None,
        principal: Principal | None = None,
    ) -> list[IssuedCertificate]:
        """A holder downloads their current e-certificates (rule article 13).

        The proof and the rate limit are those of :mod:`bdcert.holders`: name and 证件号 of a
        权利人 of a current certificate; a certificate whose registration recorded a paper
        original is opened only by one of that registration's paper numbers; the identity
        provider's ``verify_holder`` checks, if it has them. Every attempt is in the audit log (``download``)
        with the ID number masked.

        :param id_number: any case (``x`` and ``X`` are the same resident ID).
        :param evidence: passed to the identity provider's ``verify_holder`` (e.g. a face token).
        :param principal: the channel relaying the request (an app, a portal), for the log only.
        :returns: the holder's certificates in force (valid or restricted, not superseded or
            cancelled) that the proof opens (those needing no paper number, plus those of the
            registrations ``paper_number`` belongs to), oldest first, each with its sealed PDF
            and, when filed, its OFD.
        :raises ValidationError: a blank name or ID number (not counted as an attempt).
        :raises IdentityError: the proof failed (counted; the message never says which part).
        :raises TooManyAttempts: the ID number or the name is locked (too many failures);
            ``locked_until`` says until when.
        """
        from bdcert.holders import self_download

        return self_download(
            self, name, id_number, paper_number, evidence=evidence, principal=principal
        )

    def add_agreement(self, raw: Mapping[str, Any], *, principal: Principal) -> SharingAgreement:
        """Add a signed sharing agreement (rule article 16); logged as ``agreement_add``.

        :param raw: ``id`` (optional), ``party``, ``purpose``, ``authorities``, ``fields``,
            ``valid_from``, ``valid_to``, ``signed_on`` (see :func:`bdcert.sharing.parse_agreement`).
        :raises PermissionDenied: unless the platform (logged).
        :raises ValidationError: naming every bad field (a repeated id too); nothing is stored.
        """
        from bdcert.sharing import add_agreement

        return add_agreement(self, raw, principal=principal)

    def revoke_agreement(
        self, agreement_id: str, *, reason: str, principal: Principal
    ) -> SharingAgreement:
        """Revoke an agreement from now on, with the reason; logged as ``agreement_revoke``.

        :raises PermissionDenied: unless the platform (logged).
        :raises NotFound: for an unknown id. :raises ValidationError: a blank reason, or the
            agreement is already revoked.
        """
        from bdcert.sharing import revoke_agreement

        return revoke_agreement(self, agreement_id, reason=reason, principal=principal)

    def agreements(
        self, *, principal: Principal, party: str | None = None
    ) -> list[SharingAgreement]:
        """Sharing agreements (of one party), revoked ones included, by signed date.

        The platform and auditors see all; a sharing party sees only its own.
        :raises PermissionDenied: for other roles (logged).
        """
        from bdcert.sharing import list_agreements

        return list_agreements(self, principal=principal, party=party)

    def share(
        self, number: str, *, principal: Principal, agreement_id: str | None = None
    ) -> SharedCertificate:
        """A sharing party's query for one certificate (rule article 16).

        Needs an agreement of the party (``principal.name``) that is active now and covers the
        certificate's authority: the one named, or else the most recently signed such one. The
        answer holds only the fields it grants; the access is logged as ``share`` with the
        agreement's id.

        :returns: :class:`bdcert.sharing.SharedCertificate`: ``number``, ``agreement_id``,
            ``fields`` (granted field -> JSON value).
        :raises PermissionDenied: not a sharing party, or no such agreement, or it is expired,
            not yet valid, revoked or does not cover the authority; logged as ``deny`` with the
            agreement id(s). An unknown number is denied too unless an agreement is active.
        :raises NotFound: an active agreement, but no certificate with this number (logged).
        """
        from bdcert.sharing import share

        return share(self, number, principal=principal, agreement_id=agreement_id)


#: ``last_error`` of an event put in the outbox before its first delivery attempt.
NOT_YET_DELIVERED = "not delivered yet"

#: Document formats a registry can issue.
FORMATS = ("pdf", "ofd")
_SM2_WITH_SM3_DER_HEX = b"2a811ccf55018375"  # OID 1.2.156.10197.1.501, as /Contents hex


def _ofd_or_none(tx: StorageTransaction, number: str) -> bytes | None:
    try:
        return tx.get_ofd(number)
    except NotFound:
        return None


def _check_document(data: bytes, trust_roots: Sequence[bytes]) -> Any:
    """The seal check for the file's kind: an OFD package, an SM2-sealed PDF, or PAdES."""
    if data[:4] == b"PK\x03\x04":
        from bdcert.gm.ofd_seal import verify_ofd

        return verify_ofd(data, trust_roots=trust_roots)
    if _SM2_WITH_SM3_DER_HEX in data.lower():
        from bdcert.gm.pdf_sm2 import check_pdf_sm2

        return check_pdf_sm2(data, trust_roots=trust_roots)
    return check_pdf_seal(data, trust_roots)
