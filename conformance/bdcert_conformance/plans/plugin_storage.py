"""The plugins plan's storage checks (P-201..P-207): the storage contract's scenarios
(:mod:`bdcert_conformance.storage`), one check per role protocol of
:class:`~bdcert.protocols.StorageTransaction`, each scenario on a new empty store."""

from __future__ import annotations

import contextlib

from bdcert_conformance.kit.model import Evidence, Verdict, check, failed, passed
from bdcert_conformance.plans.plugin_subjects import (
    PLAN,
    PluginsContext,
    failing_statement,
    first_sentence,
    found_text,
)

_STORAGE_FILE = "bdcert_conformance/storage.py"


def _storage_role(context: PluginsContext, role: str) -> Verdict:
    from bdcert_conformance.storage import SCENARIOS

    subject = context.storage
    if subject is None:
        return context.skip("storage")
    scenarios = SCENARIOS[role]
    findings = []
    for scenario in scenarios:
        directory = context.scratch("storage", f"{role}-{scenario.__name__}")
        store = None
        try:
            store = subject.make(directory)
            scenario(store)
        except Exception as exc:
            where = failing_statement(exc, _STORAGE_FILE)
            expected = first_sentence(scenario.__doc__) or scenario.__name__.replace("_", " ")
            found = found_text(exc)
            statement = where.partition(": ")[2]
            if isinstance(exc, AssertionError) and not str(exc) and statement.startswith("assert "):
                # a bare assertion: what the contract expects is the asserted condition
                expected, found = statement.removeprefix("assert "), "not so on this store"
            findings.append(
                Evidence(
                    field=f"{role}: {scenario.__name__}",
                    expected=expected,
                    found=found,
                    file=_STORAGE_FILE,
                    note=f"{scenario.__name__}: {where}",
                )
            )
        finally:
            if store is not None:
                with contextlib.suppress(Exception):
                    store.close()
    if findings:
        return failed(
            f"{len(findings)} of {len(scenarios)} {role} scenarios failed ({subject.source})",
            findings,
        )
    names = ", ".join(s.__name__ for s in scenarios)
    return passed(
        f"{len(scenarios)} {role} scenarios passed, each on a new empty store ({subject.source}):"
        f" {names}"
    )


@check("P-201", PLAN, "storage: registrations and gap-free numbering (RegistrationRecords)",
       "规则第8条 (certificate numbers: per authority, year and kind, no gaps, no repeats)")  # fmt: skip
def storage_registrations(context: PluginsContext) -> Verdict:
    """The store keeps processed entries (a business number once) and allocates certificate
    sequences per authority, year and kind that a rollback neither skips nor repeats: after
    number 1 is committed and number 2 rolled back, the next is 2 again, never 1."""
    return _storage_role(context, "RegistrationRecords")


@check("P-202", PLAN, "storage: certificates, status, PDFs and OFDs (CertificateRecords)",
       "规则第10条, 第14条 (supersession, cancellation, seizure; the filed documents)")  # fmt: skip
def storage_certificates(context: PluginsContext) -> Verdict:
    """Certificates come back as filed; supersession, cancellation, seizures of certificates and
    units, paper dispositions, the OFD, paging through every number, and renewed PDFs that only
    extend the filed one (every earlier digest still found)."""
    return _storage_role(context, "CertificateRecords")


@check("P-203", PLAN, "storage: the hash-chained audit log and checkpoints (AuditRecords)",
       "规则第17条 (tamper-evident audit log)")  # fmt: skip
def storage_audit(context: PluginsContext) -> Verdict:
    """Audit events come back in order with intact chain verification; every stored hash is
    recomputed by the kit as sha256(previous hash || canonical event) — a store whose own
    verification agrees with its own broken links is still caught; checkpoint numbers roll back
    without a gap."""
    return _storage_role(context, "AuditRecords")


@check("P-204", PLAN, "storage: the outbox of undelivered events (OutboxRecords)",
       "规则第17条; bdcert.protocols.OutboxRecords (at-least-once delivery)")  # fmt: skip
def storage_outbox(context: PluginsContext) -> Verdict:
    """Undelivered events are kept per notifier, oldest first, counted on each failure, removed
    once delivered, and roll back with their transaction (nothing a notifier failed is lost)."""
    return _storage_role(context, "OutboxRecords")


@check("P-205", PLAN, "storage: the force-majeure backlog (BacklogRecords)",
       "规则第15条 (entries wait while sealing is impossible, in push order)")  # fmt: skip
def storage_backlog(context: PluginsContext) -> Verdict:
    """Backlog items keep push order per authority, count failures, finish once as issued or
    rejected, roll back with their transaction and refuse times without a UTC offset."""
    return _storage_role(context, "BacklogRecords")


@check("P-206", PLAN, "storage: holders and self-download guards (HolderRecords)",
       "规则第13条 (holders' own certificates, self-download)")  # fmt: skip
def storage_holders(context: PluginsContext) -> Verdict:
    """A holder's certificates by exact ID number (no prefix or wildcard match), the
    self-download guards (failures, lockouts, holds) surviving their transaction, and second
    factors per registration."""
    return _storage_role(context, "HolderRecords")


@check("P-207", PLAN, "storage: sharing agreements (AgreementRecords)",
       "规则第16条 (sharing under agreements)")  # fmt: skip
def storage_agreements(context: PluginsContext) -> Verdict:
    """Sharing agreements by id and party, ordered by signing date, revoked once."""
    return _storage_role(context, "AgreementRecords")
