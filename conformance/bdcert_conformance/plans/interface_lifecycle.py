"""The interface plan's checks of the certificates' life: supersession (P-106), cancellation
(P-107), seizure (P-108) and the change feed (P-109)."""

from __future__ import annotations

import itertools
from typing import Any

from bdcert_conformance.kit.model import Evidence, Verdict, check, failed, passed
from bdcert_conformance.plans.interface_common import (
    NAME,
    brief,
    memoized,
    push_op,
    status_evidence,
    verdict_of,
)
from bdcert_conformance.plans.interface_session import (
    InterfaceSession,
)


def _expect_status(
    ctx: InterfaceSession, number: str, expected: dict[str, Any], step: str
) -> list[Evidence]:
    code, body = ctx.status(number, step=step)
    if code != 200:
        return [Evidence(f"GET /certificates/{number}/status", "200", str(code))]
    out = []
    for key, value in expected.items():
        found = body.get(key)
        ok = value(found) if callable(value) else found == value
        if not ok:
            want = getattr(value, "__doc__", None) if callable(value) else value
            out.append(Evidence(f"GET /certificates/{number}/status: {key}", str(want), str(found)))
    return out


@check(
    "P-106",
    NAME,
    "Supersession: the old certificate shows superseded, the new in force",
    "规则第10条",
)
@memoized
def supersession(ctx: InterfaceSession) -> Verdict:
    """A new registration of the same unit (转移登记 naming the old certificate in ``yzh``)
    issues a new certificate (201); the old one's status is then ``superseded`` naming the new
    one, and the new one is ``valid``."""
    s1, s2 = ctx.supersession()
    findings = []
    if s2.status != 201 or not s2.numbers:
        findings.append(status_evidence(push_op(s2), 201, s2.status, s2.body))
        return failed("the new registration was not issued", findings)
    old, new = s1.numbers[0], s2.numbers[0]

    def names_new(found: Any) -> bool:
        return isinstance(found, list) and new in found

    names_new.__doc__ = f"[{new}]"
    findings += _expect_status(
        ctx, old, {"code": "superseded", "status": "superseded", "superseded_by": names_new}, "S2"
    )
    findings += _expect_status(ctx, new, {"code": "valid", "status": "valid"}, "S2")
    if findings:
        return failed("the statuses after a supersession are wrong", findings)
    return passed(f"{old} superseded by {new}; {new} in force")


@check(
    "P-107",
    NAME,
    "Cancellation (注销): the certificate shows cancelled, nothing issued",
    "规则第10条",
)
@memoized
def cancellation(ctx: InterfaceSession) -> Verdict:
    """A 注销登记 (djlx 400) naming the certificate is accepted without issuing anything (200,
    no numbers); the certificate's status is then ``cancelled`` with the reason."""
    c1, c2 = ctx.cancellation()
    findings = []
    if c2.status != 200 or c2.numbers:
        findings.append(
            Evidence(
                push_op(c2), "200, no numbers", f"{c2.status}, {c2.numbers}", note=brief(c2.body)
            )
        )
    findings += _expect_status(
        ctx,
        c1.numbers[0],
        {"code": "cancelled", "status": "cancelled", "cancel_reason": c2.entry["zxyy"]},
        "C2",
    )
    return verdict_of(
        findings,
        "the cancellation did not show as the rules require",
        f"{c1.numbers[0]} cancelled (房屋灭失); the 注销 issued nothing",
    )


@check(
    "P-108",
    NAME,
    "Seizure (查封): the certificate shows restricted, still valid",
    "规则第10条、第14条",
)
@memoized
def seizure(ctx: InterfaceSession) -> Verdict:
    """A 查封登记 (djlx 800) of the unit issues nothing (200, no numbers); the certificate stays
    ``valid`` and shows ``restricted`` (code ``restricted``)."""
    r1, r2 = ctx.seizure()
    findings = []
    if r2.status != 200 or r2.numbers:
        findings.append(
            Evidence(
                push_op(r2), "200, no numbers", f"{r2.status}, {r2.numbers}", note=brief(r2.body)
            )
        )
    findings += _expect_status(
        ctx, r1.numbers[0], {"code": "restricted", "status": "valid", "restricted": True}, "R2"
    )
    return verdict_of(
        findings,
        "the seizure did not show as the rules require",
        f"{r1.numbers[0]} restricted under the seizure, still valid",
    )


def _expected_changes(ctx: InterfaceSession) -> list[list[tuple[str, str]]]:
    """The feed events each push of the run must give, in push order: [(kind, number)]."""
    a, p = ctx.issued("A"), ctx.proof()
    s1, s2 = ctx.supersession()
    c1, _ = ctx.cancellation()
    r1, _ = ctx.seizure()
    return [
        [("issued", n) for n in a.numbers],
        [("issued", n) for n in p.numbers],
        [("issued", n) for n in s1.numbers],
        [("issued", n) for n in s2.numbers] + [("superseded", n) for n in s1.numbers],
        [("issued", n) for n in c1.numbers],
        [("cancelled", n) for n in c1.numbers],
        [("issued", n) for n in r1.numbers],
        [("restricted", n) for n in r1.numbers],
    ]


@check(
    "P-109",
    NAME,
    "The change feed has every change of the run, in order; its cursor works",
    "规则第12条",
)
@memoized
def feed(ctx: InterfaceSession) -> Verdict:
    """Every issue, supersession, cancellation and seizure the run made appears in the change
    feed exactly once, in the order they happened; reading it page by page (3 events a page,
    following ``next``) gives the same events as reading it whole."""
    ctx.everything()
    groups = _expected_changes(ctx)
    position = {change: i for i, group in enumerate(groups) for change in group}
    events = ctx.feed_events()
    ours = [
        (str(e.get("kind")), str(e.get("number")))
        for e in events
        if (str(e.get("kind")), str(e.get("number"))) in position
    ]
    findings = []
    for change in position:
        count = ours.count(change)
        if count != 1:
            findings.append(
                Evidence(f"GET /feed: {change[0]} {change[1]}", "once", f"{count} times")
            )
    for before, after in itertools.pairwise(ours):
        if position[after] < position[before]:
            findings.append(
                Evidence(
                    "GET /feed: order",
                    f"{before[0]} {before[1]} after {after[0]} {after[1]}",
                    f"{after[0]} {after[1]} after {before[0]} {before[1]}",
                )
            )
    paged = ctx.feed_events(limit=3, step="feed-paged")
    whole = [e.get("cursor") for e in events]
    if [e.get("cursor") for e in paged] != whole:
        findings.append(
            Evidence(
                "GET /feed?limit=3 (following next)",
                f"{len(whole)} events as read whole",
                f"{len(paged)} events, other cursors",
            )
        )
    return verdict_of(
        findings,
        "the change feed is incomplete or out of order",
        f"{len(position)} changes of the run in the feed once each, in order; "
        f"{len(events)} events read whole and 3 a page alike",
    )
