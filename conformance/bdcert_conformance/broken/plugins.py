"""The plugins plan's deliberately broken reference implementations: each is bdcert's reference
plugin (SQL storage, software seal provider, tokens identity provider, webhook notifier) with
ONE defect, and names the check that must catch it.

Each ``make(environment, workdir)`` builds the plan's reference context
(:func:`bdcert_conformance.plans.plugins.reference_context`) and replaces one part by the broken
plugin.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from bdcert.model import Principal
from bdcert.protocols import SealRequest
from bdcert_conformance.broken import pyhanko_seal
from bdcert_conformance.kit.model import BrokenImplementation, RunOptions
from bdcert_plugins.identity_tokens import TokenIdentityProvider
from bdcert_plugins.seal_software import SoftwareSealProvider

__all__ = ["BROKEN"]

PLAN = "plugins"


def _reference(env: Any, workdir: Path) -> tuple[RunOptions, Any]:
    from bdcert_conformance.plans.plugins import reference_context

    return reference_context(env, workdir)


# --------------------------------------------------------------------------- storage


class _Delegate:
    """Everything not overridden goes to the wrapped object."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CachedCounterStore(_Delegate):
    """Defect: certificate sequences come from a counter cached in memory, and a rollback
    "restores" it by starting again from 0 — the next number after a rollback is one already
    filed (rule article 8)."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.counters: dict[tuple[str, int, Any], int] = {}

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        store = self

        class Tx(_Delegate):
            def next_sequence(self, authority_code: str, year: int, kind: Any) -> int:
                key = (authority_code, year, kind)
                store.counters[key] = store.counters.get(key, 0) + 1
                return store.counters[key]

        try:
            with self._inner.transaction() as tx:
                yield Tx(tx)
        except BaseException:
            self.counters.clear()  # the defect: back to 0, not to the committed number
            raise


class UnlinkedAuditStore(_Delegate):
    """Defect: every audit event is hashed on its own, chained to the genesis hash instead of the
    previous event's hash (the link is lost), and its own verification agrees with itself."""

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        from bdcert.audit.chain import GENESIS_SHA256, audit_hash, audit_payload

        hashes: dict[int, str] = self.__dict__.setdefault("hashes", {})

        class Tx(_Delegate):
            def append_audit(self, event: Any) -> None:
                self._inner.append_audit(event)
                number = len(self._inner.audit_events())
                stored = self._inner.audit_events()[-1]
                payload = audit_payload(
                    stored.action, stored.actor, stored.subject, stored.at, stored.details
                )
                hashes[number] = audit_hash(GENESIS_SHA256, payload)

            def audit_event_hash(self, event_id: int) -> str | None:
                return hashes.get(event_id) or self._inner.audit_event_hash(event_id)

            def audit_head(self) -> tuple[int, str] | None:
                head = self._inner.audit_head()
                return None if head is None else (head[0], hashes.get(head[0], head[1]))

            def verify_audit_chain(self) -> list[str]:
                return []  # agrees with its own (unlinked) hashes

        with self._inner.transaction() as tx:
            yield Tx(tx)


class _TxWrapping(_Delegate):
    """A store whose transactions are wrapped by its ``Tx`` class (the defect)."""

    Tx: type[_Delegate] = _Delegate

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self._inner.transaction() as tx:
            yield self.Tx(tx)


class SupersessionLostStore(_TxWrapping):
    """Defect: ``set_superseded`` is accepted and not kept: a superseded certificate still
    reads VALID (rule article 10)."""

    class Tx(_Delegate):
        def set_superseded(self, number: str, successors: Any, business_number: str) -> None:
            return None


class OutboxNeverEmptiedStore(_TxWrapping):
    """Defect: ``mark_delivered`` does nothing: every delivered event is sent again."""

    class Tx(_Delegate):
        def mark_delivered(self, event_id: int) -> None:
            return None


class NewestFirstBacklogStore(_TxWrapping):
    """Defect: the backlog comes back newest first: entries would be sealed out of push order
    (rule article 15)."""

    class Tx(_Delegate):
        def backlog(self, **kwargs: Any) -> list[Any]:
            return list(reversed(self._inner.backlog(**kwargs)))


class GuardForgottenStore(_TxWrapping):
    """Defect: ``save_download_guard`` keeps nothing: failed self-download attempts are never
    counted, so no lockout ever happens (rule article 13)."""

    class Tx(_Delegate):
        def save_download_guard(self, guard: Any) -> None:
            return None


class PartyBlindAgreementStore(_TxWrapping):
    """Defect: ``agreements(party)`` ignores the party: a sharing party sees everyone's
    agreements (rule article 16)."""

    class Tx(_Delegate):
        def agreements(self, party: str | None = None) -> list[Any]:
            return list(self._inner.agreements())


def _storage(wrapper: Callable[[Any], Any]) -> Callable[[Any, Path], Any]:
    def make(env: Any, workdir: Path) -> tuple[RunOptions, Any]:
        from bdcert_conformance.plans.plugin_subjects import StorageSubject, empty_sqlite_store

        options, context = _reference(env, workdir)
        context.storage = StorageSubject(
            lambda directory: wrapper(empty_sqlite_store(directory)),
            f"broken storage {wrapper.__name__}",
        )
        return options, context

    return make


# --------------------------------------------------------------------------- seal providers


def _seal(cls: type[SoftwareSealProvider]) -> Callable[[Any, Path], Any]:
    def make(env: Any, workdir: Path) -> tuple[RunOptions, Any]:
        from bdcert.config import Workspace
        from bdcert_conformance.plans.plugin_subjects import workspace_seal_provider

        options, context = _reference(env, workdir)
        provider = workspace_seal_provider(Workspace.load(env.workspace), cls)
        context.seal = attrs.evolve(
            context.seal, provider=provider, source=f"broken {cls.__name__}"
        )
        return options, context

    return make


class InvisibleSealProvider(SoftwareSealProvider):
    """Defect: the seal is an invisible signature field (no widget on the face)."""

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        signer = self.signer_for(request.authority.code)
        return pyhanko_seal(pdf, request, signer, visible=False, certify=True)


class UnlockedSealProvider(SoftwareSealProvider):
    """Defect: an approval signature, not a certification one (no DocMDP lock)."""

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        signer = self.signer_for(request.authority.code)
        return pyhanko_seal(pdf, request, signer, visible=True, certify=False)


class UtcNowSealProvider(SoftwareSealProvider):
    """Defect: seals with the current UTC time, not the requested signing time."""

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        now = datetime.now(UTC).replace(microsecond=0)
        return super().seal_pdf(pdf, attrs.evolve(request, signing_time=now))


class RacySealProvider(SoftwareSealProvider):
    """Defect: the request is kept on the provider between taking it and sealing (shared
    state, no lock); concurrent calls seal each other's requests. The pause makes the race
    happen every time several threads seal at once."""

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        self._pending = (pdf, request)
        time.sleep(0.3)
        pdf, request = self._pending
        sealed: bytes = super().seal_pdf(pdf, request)
        return sealed


class KeyErrorSealProvider(SoftwareSealProvider):
    """Defect: an authority without a key raises KeyError, not SealingError (bdcert would
    not put the entry in the backlog)."""

    def load_signer(self, authority_code: str) -> Any:
        if authority_code not in self._keys:
            raise KeyError(authority_code)
        return super().load_signer(authority_code)


class ChainPemSealProvider(SoftwareSealProvider):
    """Defect: ``signer_certificate_pem`` returns the seal certificate followed by the root (a
    chain), not the certificate alone."""

    def signer_certificate_pem(self, authority_code: str) -> bytes:
        own: bytes = super().signer_certificate_pem(authority_code)
        return own + b"".join(path.read_bytes() for path in self._keys[authority_code].chain)


class TwoSignatureSealProvider(SoftwareSealProvider):
    """Defect: an invisible approval signature first, then the seal: two signatures, the first
    not covering the file."""

    def seal_pdf(self, pdf: bytes, request: SealRequest) -> bytes:
        signer = self.signer_for(request.authority.code)
        first = attrs.evolve(request, field_name=f"{request.field_name}-pre")
        once = pyhanko_seal(pdf, first, signer, visible=False, certify=False)
        return pyhanko_seal(once, request, signer, visible=True, certify=False)


# --------------------------------------------------------------------------- identity


def _identity(cls: type[TokenIdentityProvider]) -> Callable[[Any, Path], Any]:
    def make(env: Any, workdir: Path) -> tuple[RunOptions, Any]:
        from bdcert.config import Workspace

        options, context = _reference(env, workdir)
        settings = dict(Workspace.load(env.workspace).table("identity"))
        provider = cls.from_settings(settings, env.workspace)
        context.identity = attrs.evolve(
            context.identity, provider=provider, source=f"broken {cls.__name__}"
        )
        return options, context

    return make


class WrongAuthorityIdentity(TokenIdentityProvider):
    """Defect: a registrar of 510700 (绵阳) is mapped to 510100 (成都): a clerk acts for
    another authority."""

    def authenticate(self, credentials: Any) -> Principal:
        principal: Principal = super().authenticate(credentials)
        if principal.authority == "510700":
            return attrs.evolve(principal, authority="510100")
        return principal


class AcceptingIdentity(TokenIdentityProvider):
    """Defect: an unknown token is not refused; it falls back to the first configured
    token's principal."""

    def authenticate(self, credentials: Any) -> Principal:
        from bdcert.errors import IdentityError

        try:
            principal: Principal = super().authenticate(credentials)
            return principal
        except IdentityError:
            if credentials.get("token") and self._tokens:
                fallback: Principal = self._tokens[0][0]
                return fallback
            raise


class TellingIdentity(TokenIdentityProvider):
    """Defect: its repr lists the stored token hashes (a log line then hands out what an
    offline guesser needs)."""

    def __repr__(self) -> str:
        hashes = [f"{p.name}:{digest.hex()}" for p, digest in self._tokens]
        return f"TellingIdentity(tokens={hashes})"


# --------------------------------------------------------------------------- notifiers


class _Tampering:
    """An httpx transport in front of the real one, changing requests or answers."""

    def __init__(
        self,
        request: Callable[[Any], None] | None = None,
        response: Callable[[Any], Any] | None = None,
    ) -> None:
        self._inner: Any = None
        self._request = request
        self._response = response

    def handle_request(self, request: Any) -> Any:
        import httpx

        if self._inner is None:  # a notifier's client closes its transport after each event
            self._inner = httpx.HTTPTransport()
        if self._request is not None:
            self._request(request)
        response = self._inner.handle_request(request)
        return self._response(response) if self._response is not None else response

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None

    def __enter__(self) -> _Tampering:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _notifier(
    transport: Callable[[], Any] | None, what: str, **settings: Any
) -> Callable[[Any, Path], Any]:
    """The workspace's webhook notifier with ``settings`` changed and its requests going through
    ``transport()`` (a :class:`_Tampering`), when given."""

    def make(env: Any, workdir: Path) -> tuple[RunOptions, Any]:
        import httpx

        from bdcert.config import Workspace
        from bdcert_conformance.plans.plugin_subjects import NotifierSubject, workspace_notifier
        from bdcert_plugins.notify_webhook import WebhookNotifier

        class Transport(httpx.BaseTransport):
            def __init__(self) -> None:
                assert transport is not None
                self._tampering = transport()

            def handle_request(self, request: httpx.Request) -> httpx.Response:
                return self._tampering.handle_request(request)  # type: ignore[no-any-return]

            def close(self) -> None:
                self._tampering.close()

        options, context = _reference(env, workdir)
        own = {**Workspace.load(env.workspace).table("notifiers")["webhook"], **settings}
        factory: Any = WebhookNotifier.from_settings
        extra = {"transport": Transport()} if transport is not None else {}
        make_notifier = workspace_notifier(factory, own, env.workspace, **extra)
        context.notifiers = (NotifierSubject("webhook", make_notifier, f"broken webhook: {what}"),)
        return options, context

    return make


def _unsigned() -> _Tampering:
    def drop(request: Any) -> None:
        request.headers.pop("X-Bdcert-Signature", None)

    return _Tampering(request=drop)


def _fresh_ids() -> _Tampering:
    def new_id(request: Any) -> None:
        request.headers["X-Bdcert-Delivery"] = str(uuid.uuid4())

    return _Tampering(request=new_id)


def _drops_on_retry() -> _Tampering:
    import httpx

    def swallow(response: Any) -> Any:
        if response.status_code == 429 or response.status_code >= 500:
            response.close()
            return httpx.Response(200)  # the defect: a failed attempt reported as delivered
        return response

    return _Tampering(response=swallow)


BROKEN = [
    BrokenImplementation(
        "B-201", PLAN, "a store that reuses a certificate number after a rollback", "P-201",
        _storage(CachedCounterStore),
    ),
    BrokenImplementation(
        "B-202", PLAN, "a store losing the audit chain link (each event chained to genesis)",
        "P-203", _storage(UnlinkedAuditStore),
    ),
    BrokenImplementation(
        "B-203", PLAN, "a seal provider producing an invisible seal", "P-212", _seal(InvisibleSealProvider)
    ),
    BrokenImplementation(
        "B-204", PLAN, "a seal provider with no certification lock (no DocMDP)", "P-213",
        _seal(UnlockedSealProvider),
    ),
    BrokenImplementation(
        "B-205", PLAN, "a seal provider signing at the current UTC time, not the requested one",
        "P-214", _seal(UtcNowSealProvider),
    ),
    BrokenImplementation(
        "B-206", PLAN, "a seal provider that is not thread safe (concurrent seals mixed up)",
        "P-217", _seal(RacySealProvider),
    ),
    BrokenImplementation(
        "B-207", PLAN, "a seal provider raising KeyError, not SealingError, for an unknown "
        "authority", "F-216", _seal(KeyErrorSealProvider),
    ),
    BrokenImplementation(
        "B-208", PLAN, "an identity provider mapping a clerk of 510700 to authority 510100",
        "P-221", _identity(WrongAuthorityIdentity),
    ),
    BrokenImplementation(
        "B-209", PLAN, "an identity provider accepting an unknown token", "F-222",
        _identity(AcceptingIdentity),
    ),
    BrokenImplementation(
        "B-210", PLAN, "an identity provider whose repr shows the token hashes", "P-223",
        _identity(TellingIdentity),
    ),
    BrokenImplementation(
        "B-211", PLAN, "a notifier that drops an event on retry (a 5xx taken as delivered)",
        "P-233", _notifier(_drops_on_retry, "a 5xx or 429 taken as delivered"),
    ),
    BrokenImplementation(
        "B-212", PLAN, "a notifier sending unsigned deliveries", "P-231",
        _notifier(_unsigned, "no X-Bdcert-Signature"),
    ),
    BrokenImplementation(
        "B-213", PLAN, "a notifier re-sending without a stable de-duplication id", "P-234",
        _notifier(_fresh_ids, "a new X-Bdcert-Delivery on every attempt"),
    ),
    BrokenImplementation(
        "B-214", PLAN, "a notifier that gives up after the first failed attempt (no retries)",
        "P-232", _notifier(None, "retries = 1", retries=1),
    ),
    BrokenImplementation(
        "B-215", PLAN, "a seal provider whose signer_certificate_pem returns a chain, not the "
        "certificate alone", "P-215", _seal(ChainPemSealProvider),
    ),
    BrokenImplementation(
        "B-216", PLAN, "a seal provider applying two signatures", "P-211",
        _seal(TwoSignatureSealProvider),
    ),
    BrokenImplementation(
        "B-217", PLAN, "a store forgetting a supersession (the old certificate still VALID)",
        "P-202", _storage(SupersessionLostStore),
    ),
    BrokenImplementation(
        "B-218", PLAN, "a store whose outbox is never emptied (delivered events sent again)",
        "P-204", _storage(OutboxNeverEmptiedStore),
    ),
    BrokenImplementation(
        "B-219", PLAN, "a store returning the backlog newest first (out of push order)", "P-205",
        _storage(NewestFirstBacklogStore),
    ),
    BrokenImplementation(
        "B-220", PLAN, "a store forgetting self-download failures (no lockout ever)", "P-206",
        _storage(GuardForgottenStore),
    ),
    BrokenImplementation(
        "B-221", PLAN, "a store ignoring the party when listing sharing agreements", "P-207",
        _storage(PartyBlindAgreementStore),
    ),
]  # fmt: skip
