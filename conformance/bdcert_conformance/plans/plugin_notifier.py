"""The plugins plan's notifier checks (P-231..P-234), each against its own local HTTP receiver
(:mod:`bdcert_conformance.plans.receiver`) with a fresh secret: signed deliveries, retries,
nothing lost, de-duplication ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs

from bdcert_conformance.kit.model import Evidence, Verdict, check, failed, passed
from bdcert_conformance.plans.plugin_subjects import (
    PLAN,
    PluginsContext,
    found_text,
    new_secret,
)


def _events() -> list[Any]:
    """Certificate events of each kind, with details, in China time."""
    from datetime import datetime

    from bdcert.model import CHINA_TZ, CertificateEvent

    at = datetime(2024, 5, 6, 10, 30, tzinfo=CHINA_TZ)
    first = "川(2024)成都市不动产权第0000001号"
    second = "川(2024)成都市不动产权第0000002号"
    return [
        CertificateEvent("issued", first, "510100-2024-000001", "510100", at, {"kind": "property"}),
        CertificateEvent(
            "superseded", first, "510100-2024-000002", "510100", at, {"successors": [second]}
        ),
        CertificateEvent(
            "restricted", second, "510100-2024-000003", "510100", at,
            {"authority": "成都市锦江区人民法院", "document_number": "（2024）川0104执123号"},
        ),
        CertificateEvent("cancelled", second, "510100-2024-000004", "510100", at, {"reason": "灭失"}),
    ]  # fmt: skip


def _payload(event: Any) -> dict[str, Any]:
    """What the body of ``event`` must say (bdcert's webhook body), as JSON data."""
    from bdcert_plugins.notify_webhook import event_body

    return json.loads(event_body(event))  # type: ignore[no-any-return]


def _matches(delivery: Any, event: Any) -> bool:
    try:
        return bool(json.loads(delivery.body) == _payload(event))
    except ValueError:
        return False


def _each_notifier(
    context: PluginsContext, run: Callable[[Any, Any, bytes], tuple[list[Evidence], str]]
) -> Verdict:
    """``run(receiver, notifier, secret) -> (findings, summary)`` for each notifier under test,
    each with its own receiver and a fresh secret."""
    from bdcert_conformance.plans.receiver import Receiver

    if not context.notifiers:
        return context.skip("notifier")
    findings: list[Evidence] = []
    summaries = []
    for subject in context.notifiers:
        secret = new_secret()
        with Receiver() as receiver:
            notifier = subject.make(receiver.url, secret)
            found, summary = run(receiver, notifier, secret)
        findings += [attrs.evolve(e, field=f"{subject.name}: {e.field}") for e in found]
        summaries.append(f"{subject.name}: {summary} ({subject.source})")
    if findings:
        return failed(f"{len(findings)} findings: {'; '.join(summaries)}", findings)
    return passed("; ".join(summaries))


@check("P-231", PLAN, "notifier: every delivery signed (HMAC-SHA256 of the body)",
       "RFC 2104 (HMAC); bdcert webhook X-Bdcert-Signature")  # fmt: skip
def notifier_signed(context: PluginsContext) -> Verdict:
    """Each event of each kind arrives once, its body the event (kind, number, ywh, djjg, time,
    details), ``X-Bdcert-Event`` its kind, and ``X-Bdcert-Signature`` the HMAC-SHA256 of the
    exact body bytes keyed with the secret: a receiver can tell a forged event."""
    from bdcert_plugins.notify_webhook import SIGNATURE_HEADER, verify_signature

    def run(receiver: Any, notifier: Any, secret: bytes) -> tuple[list[Evidence], str]:
        events = _events()
        findings = []
        for event in events:
            notifier.notify(event)
        deliveries = receiver.deliveries
        for event in events:
            own = [d for d in deliveries if _matches(d, event)]
            field = f"{event.kind} {event.number}"
            if len(own) != 1:
                findings.append(
                    Evidence(
                        field,
                        "delivered once, body = the event",
                        f"{len(own)} deliveries with its body",
                    )
                )
                continue
            d = own[0]
            signature = d.header(SIGNATURE_HEADER)
            if signature is None or not verify_signature(secret, d.body, signature):
                findings.append(
                    Evidence(
                        f"{field}: {SIGNATURE_HEADER}",
                        "sha256=HMAC-SHA256(secret, body)",
                        repr(signature)[:90],
                    )
                )
            if d.header("X-Bdcert-Event") != event.kind:
                findings.append(
                    Evidence(
                        f"{field}: X-Bdcert-Event", event.kind, repr(d.header("X-Bdcert-Event"))
                    )
                )
        strays = [d for d in deliveries if not any(_matches(d, e) for e in events)]
        if strays:
            findings.append(
                Evidence(
                    "deliveries", "each the body of an event", f"{len(strays)} with another body"
                )
            )
        return findings, f"{len(events)} events, {len(deliveries)} deliveries, signatures checked"

    return _each_notifier(context, run)


@check("P-232", PLAN, "notifier: a transient failure is retried",
       "RFC 9110 §15.6.4 (503), RFC 6585 §4 (429): try again")  # fmt: skip
def notifier_retries(context: PluginsContext) -> Verdict:
    """When the receiver answers 503 and then 429, one ``notify`` call tries again until the
    receiver takes the event (three attempts), each attempt the same body and signature."""
    from bdcert_plugins.notify_webhook import SIGNATURE_HEADER

    def run(receiver: Any, notifier: Any, secret: bytes) -> tuple[list[Evidence], str]:
        event = _events()[0]
        receiver.script(503, 429)
        findings = []
        try:
            notifier.notify(event)
        except Exception as exc:
            findings.append(
                Evidence("notify after 503, 429", "delivered on the 3rd attempt", found_text(exc))
            )
        attempts = receiver.deliveries
        if [d.status for d in attempts] != [503, 429, 200]:
            findings.append(
                Evidence(
                    "attempts (statuses answered)",
                    "[503, 429, 200]",
                    str([d.status for d in attempts]),
                )
            )
        if len({(d.body, d.header(SIGNATURE_HEADER)) for d in attempts}) > 1:
            findings.append(
                Evidence("attempts", "the same body and signature each time", "they differ")
            )
        return findings, f"503, 429 then 200: {len(attempts)} attempts"

    return _each_notifier(context, run)


@check("P-233", PLAN, "notifier: nothing lost (delivered, or NotificationError)",
       "bdcert.protocols.Notifier (NotificationError → the outbox); 规则第17条")  # fmt: skip
def notifier_nothing_lost(context: PluginsContext) -> Verdict:
    """Against a flaky receiver (503 on some first attempts) and one that is down (503 always),
    every ``notify`` either returns after the receiver took the event with a 2xx, or raises
    :class:`bdcert.errors.NotificationError` (bdcert then keeps the event in the outbox). A
    notify that returns without a 2xx for its event has lost it."""
    from bdcert.errors import NotificationError

    def run(receiver: Any, notifier: Any, secret: bytes) -> tuple[list[Evidence], str]:
        findings = []
        events = _events()
        outcomes = []
        for i, event in enumerate(events):
            down = i == len(events) - 1
            if down:
                receiver.fail_always(503)
            elif i % 2 == 0:
                receiver.script(503)
            raised: BaseException | None = None
            try:
                notifier.notify(event)
            except Exception as exc:
                raised = exc
            receiver.reset()
            taken = any(_matches(d, event) and 200 <= d.status < 300 for d in receiver.deliveries)
            field = f"{event.kind} {event.number} ({'receiver down' if down else 'flaky receiver'})"
            if raised is None and not taken:
                findings.append(
                    Evidence(
                        field,
                        "delivered (2xx) or NotificationError",
                        "notify returned, the receiver never took the event: lost",
                    )
                )
            elif raised is not None and not isinstance(raised, NotificationError):
                findings.append(Evidence(field, "NotificationError", found_text(raised)))
            elif down and raised is None:
                findings.append(Evidence(field, "NotificationError", "returned normally"))
            outcomes.append(
                "delivered" if taken else "NotificationError" if raised is not None else "lost"
            )
        return findings, f"{len(events)} events: {', '.join(outcomes)}"

    return _each_notifier(context, run)


@check("P-234", PLAN, "notifier: a stable de-duplication id per event",
       "bdcert webhook X-Bdcert-Delivery (at-least-once delivery, receivers drop duplicates)")  # fmt: skip
def notifier_dedup_ids(context: PluginsContext) -> Verdict:
    """``X-Bdcert-Delivery`` is present, the same on every attempt and every re-delivery of one
    event (the outbox sends it again), and different for different events: a receiver drops
    duplicates by it and never drops a new event."""

    def run(receiver: Any, notifier: Any, secret: bytes) -> tuple[list[Evidence], str]:
        first, second = _events()[:2]
        receiver.script(503)
        notifier.notify(first)  # attempt 1 fails, attempt 2 delivers
        notifier.notify(first)  # re-delivered from the outbox
        notifier.notify(second)
        deliveries = receiver.deliveries
        ids_first = [d.header("X-Bdcert-Delivery") for d in deliveries if _matches(d, first)]
        ids_second = [d.header("X-Bdcert-Delivery") for d in deliveries if _matches(d, second)]
        findings = []
        if len(ids_first) != 3 or len(set(ids_first)) != 1 or None in ids_first:
            findings.append(
                Evidence(
                    f"{first.kind} {first.number}: X-Bdcert-Delivery of 3 sends",
                    "one id, 3 times",
                    ", ".join(map(str, ids_first)) or "none",
                )
            )
        if not ids_second or None in ids_second or set(ids_second) & set(ids_first):
            findings.append(
                Evidence(
                    f"{second.kind} {second.number}: X-Bdcert-Delivery",
                    "an id of its own",
                    ", ".join(map(str, ids_second)) or "none",
                )
            )
        return findings, f"{len(deliveries)} deliveries of 2 events, ids compared"

    return _each_notifier(context, run)
