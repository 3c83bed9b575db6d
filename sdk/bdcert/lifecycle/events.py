"""Certificate events after a change: the storage outbox, the event hook, the notifiers."""

from __future__ import annotations

from collections.abc import Sequence

from bdcert.errors import NotificationError
from bdcert.lifecycle.services import Services, log
from bdcert.model import AuditEvent, CertificateEvent, Principal
from bdcert.protocols import StorageTransaction

__all__ = ["NOT_YET_DELIVERED", "publish", "redeliver", "stage"]

#: ``last_error`` of an event put in the outbox before its first delivery attempt.
NOT_YET_DELIVERED = "not delivered yet"


def stage(
    services: Services, tx: StorageTransaction, events: Sequence[CertificateEvent]
) -> list[list[int]]:
    """Inside the transaction that makes the change: every (event, notifier) goes to the
    outbox with 0 attempts, so a crash before :func:`publish` delivers nothing late but
    loses nothing either (:func:`redeliver` sends it). Returns the outbox ids per event."""
    return [
        [tx.add_undelivered(n.name, ev, NOT_YET_DELIVERED, attempts=0) for n in services.notifiers]
        for ev in events
    ]


def publish(
    services: Services, events: Sequence[CertificateEvent], staged: Sequence[list[int]]
) -> None:
    """After commit: the event hook on every plugin, then each notifier.

    A plugin's failure never undoes the committed change: the hook's is logged; an event a
    notifier could not deliver stays in the storage outbox for :func:`redeliver`.
    """
    delivered: list[int] = []
    failed: list[tuple[int, str]] = []
    for ev, ids in zip(events, staged, strict=True):
        try:
            services.hooks.certificate_event(ev)
        except Exception:
            log.exception("bdcert_certificate_event failed for %s", ev.number)
        for notifier, outbox_id in zip(services.notifiers, ids, strict=True):
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
        with services.storage.transaction() as tx:
            for outbox_id in delivered:
                tx.mark_delivered(outbox_id)
            for outbox_id, error in failed:
                tx.record_delivery_failure(outbox_id, error)
    except Exception:  # the store is down: the events stay in the outbox, sent again later
        log.exception("could not update the outbox after notifying")


def redeliver(services: Services, *, principal: Principal, limit: int = 100) -> tuple[int, int]:
    """See :meth:`bdcert.lifecycle.Registry.redeliver`."""
    services.authorize(principal, "operate")
    by_name = {n.name: n for n in services.notifiers}
    with services.storage.transaction() as tx:
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
            with services.storage.transaction() as tx:
                tx.record_delivery_failure(item.id, f"{type(exc).__name__}: {exc}")
            continue
        delivered += 1
        with services.storage.transaction() as tx:
            tx.mark_delivered(item.id)
    if waiting:  # rule article 17: every use is logged
        details = {"delivered": delivered, "failed": failed}
        with services.storage.transaction() as tx:
            tx.append_audit(AuditEvent("redeliver", principal.name, "", services.clock(), details))
    return delivered, failed
